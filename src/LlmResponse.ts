/**
 * What a model answered: the content, the usage, why it stopped, who served it and what it cost.
 *
 * `cost` is the call's cost in USD (the provider's report, or the price table's, computed once
 * from whole nano-USD); a call whose model has no price carries no `cost` and `priced: false`,
 * never a cost of 0. When the server names another model than the one asked for, `model` is
 * the one it named and `requestedModel` the one asked for (the cost is priced at the dearer of
 * the two). `warnings` says what could not be honoured, including an output cap the budget
 * lowered.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import * as Message from "./Message.ts"
import * as ToolCall from "./ToolCall.ts"
import { Usage } from "./Usage.ts"

/**
 * Why generation stopped, normalised across providers (spelled as `effect/ai` and the Vercel AI
 * SDK spell it). The provider's own value is kept in `rawFinishReason`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const FinishReason = Schema.Literals(["stop", "length", "content-filter", "tool-calls", "error", "other"])
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
 * A part of a response's content: text, or a tool call (the same shapes as `Message` parts).
 *
 * @since 0.1.0
 * @category schemas
 */
export const ResponsePart = Schema.Union([Message.TextPart, Message.ToolCallPart]).annotate({ identifier: "ResponsePart" })

/**
 * @since 0.1.0
 * @category models
 */
export type ResponsePart = typeof ResponsePart.Type

/**
 * A model's response.
 *
 * @since 0.1.0
 * @category schemas
 */
export const LlmResponse = Schema.Struct({
  content: Schema.String.annotate({ description: "The text of the answer (its text parts joined)." }),
  parts: Schema.optionalKey(Schema.Array(ResponsePart)).annotate({
    description: "The answer as parts, present when it holds more than text (e.g. tool calls); see LlmResponse.partsOf."
  }),
  toolCalls: Schema.optionalKey(Schema.Array(ToolCall.ToolCall)).annotate({
    description: "The tools the model asked to call, in order (present when it asked for any); see LlmResponse.toolCallsOf."
  }),
  model: Schema.String.annotate({ description: "The model that answered, as the provider named it." }),
  requestedModel: Schema.optionalKey(Schema.String).annotate({
    description: "The model asked for, when the provider named another in its answer."
  }),
  provider: Schema.String,
  usage: Usage,
  finishReason: FinishReason,
  rawFinishReason: Schema.optionalKey(Schema.String),
  latencyMs: Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0)),
  requestId: Schema.optionalKey(Schema.String),
  cost: Schema.optionalKey(Cost),
  priced: Schema.optionalKey(Schema.Literal(false)).annotate({
    description: "false when no price is known for the model (and the provider reported none): the cost is unknown, not 0."
  }),
  warnings: Schema.optionalKey(Schema.Array(Schema.String)).annotate({
    description: "Things that could not be honoured (e.g. a parameter the provider ignores, an output cap the budget lowered)."
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

/**
 * The parts of a response: its `parts` when present, else its content as one text part (none
 * when empty).
 *
 * @since 0.1.0
 * @category accessors
 */
export const partsOf = (response: Pick<LlmResponse, "content" | "parts">): ReadonlyArray<ResponsePart> =>
  response.parts ?? (response.content === "" ? [] : [{ type: "text", text: response.content }])

/**
 * The tool calls of a response (none when it made no call).
 *
 * @since 0.1.0
 * @category accessors
 */
export const toolCallsOf = (response: Pick<LlmResponse, "toolCalls">): ReadonlyArray<ToolCall.ToolCall> =>
  response.toolCalls ?? []

/**
 * The response fields for an answer's text and tool calls: `content`, and when it made calls,
 * `parts` (the text before the calls, then the calls) and `toolCalls`. A finish reason `stop`
 * with calls is `tool-calls` (OpenAI and Gemini say `stop` when a call was forced).
 *
 * @since 0.1.0
 * @category constructors
 */
export const withToolCalls = (
  content: string,
  calls: ReadonlyArray<ToolCall.ToolCall>,
  finishReason: FinishReason
): Pick<LlmResponse, "content" | "parts" | "toolCalls" | "finishReason"> => {
  if (calls.length === 0) return { content, finishReason }
  const parts: Array<ResponsePart> = content === "" ? [] : [{ type: "text", text: content }]
  for (const call of calls) parts.push(ToolCall.toPart(call))
  return { content, parts, toolCalls: calls, finishReason: finishReason === "stop" ? "tool-calls" : finishReason }
}
