/**
 * What a model answered: the content, the usage, why it stopped and who served it.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import { Usage } from "./Usage.ts"

/**
 * Why generation stopped, normalised across providers. The provider's own value is kept in
 * `rawFinishReason`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const FinishReason = Schema.Literals(["stop", "length", "content_filter", "tool_calls", "error", "other"])
  .annotate({ identifier: "FinishReason" })

/**
 * @since 0.1.0
 * @category models
 */
export type FinishReason = typeof FinishReason.Type

/**
 * The cost of a call in USD, and where the figure came from: the provider's own report, or our
 * price table.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Cost = Schema.Struct({
  usd: Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0)),
  source: Schema.Literals(["provider", "table"])
}).annotate({ identifier: "Cost" })

/**
 * @since 0.1.0
 * @category models
 */
export type Cost = typeof Cost.Type

/**
 * A model's response.
 *
 * @since 0.1.0
 * @category schemas
 */
export const LlmResponse = Schema.Struct({
  content: Schema.String,
  model: Schema.String,
  provider: Schema.String,
  usage: Usage,
  finishReason: FinishReason,
  rawFinishReason: Schema.optionalKey(Schema.String),
  latencyMs: Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0)),
  requestId: Schema.optionalKey(Schema.String),
  cost: Schema.optionalKey(Cost),
  warnings: Schema.optionalKey(Schema.Array(Schema.String)).annotate({
    description: "Things the provider could not honour (e.g. a parameter it ignores)."
  }),
  metadata: Schema.optionalKey(Schema.Record(Schema.String, Schema.Unknown)).annotate({
    description: "Provider- and layer-specific facts (e.g. which fallback candidate served the call)."
  })
}).annotate({ identifier: "LlmResponse" })

/**
 * @since 0.1.0
 * @category models
 */
export type LlmResponse = typeof LlmResponse.Type
