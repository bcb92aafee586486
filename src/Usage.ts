/**
 * Token usage of one call, normalised the same way for every provider.
 *
 * `inputTokens` always includes cached input tokens, read from the provider's prompt cache
 * (`cachedInputTokens`) or written to it (`cacheWriteInputTokens`, which Anthropic bills apart);
 * those two and `reasoningTokens` are parts of the input and output counts, not additions. When a
 * provider reports no usage, it is counted locally and `estimated` is `true`.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

const Count = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))

/**
 * @since 0.1.0
 * @category schemas
 */
export const Usage = Schema.Struct({
  inputTokens: Count,
  outputTokens: Count,
  totalTokens: Count,
  cachedInputTokens: Schema.optionalKey(Count).annotate({
    description: "Input tokens read from the provider's prompt cache (a part of inputTokens)."
  }),
  cacheWriteInputTokens: Schema.optionalKey(Count).annotate({
    description: "Input tokens written to the provider's prompt cache (a part of inputTokens; Anthropic's cache_creation_input_tokens)."
  }),
  reasoningTokens: Schema.optionalKey(Count),
  estimated: Schema.optionalKey(Schema.Literal(true))
}).annotate({ identifier: "Usage" })

/**
 * @since 0.1.0
 * @category models
 */
export type Usage = typeof Usage.Type

/**
 * Builds a usage record; `totalTokens` is the sum of input and output.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: {
  readonly inputTokens: number
  readonly outputTokens: number
  readonly cachedInputTokens?: number | undefined
  readonly cacheWriteInputTokens?: number | undefined
  readonly reasoningTokens?: number | undefined
  readonly estimated?: boolean | undefined
}): Usage => ({
  inputTokens: options.inputTokens,
  outputTokens: options.outputTokens,
  totalTokens: options.inputTokens + options.outputTokens,
  ...(options.cachedInputTokens !== undefined ? { cachedInputTokens: options.cachedInputTokens } : {}),
  ...(options.cacheWriteInputTokens !== undefined ? { cacheWriteInputTokens: options.cacheWriteInputTokens } : {}),
  ...(options.reasoningTokens !== undefined ? { reasoningTokens: options.reasoningTokens } : {}),
  ...(options.estimated === true ? { estimated: true as const } : {})
})

/**
 * No tokens.
 *
 * @since 0.1.0
 * @category constructors
 */
export const empty: Usage = { inputTokens: 0, outputTokens: 0, totalTokens: 0 }

/**
 * Adds two usage records (a sum is estimated when either part is).
 *
 * @since 0.1.0
 * @category combinators
 */
export const add = (self: Usage, that: Usage): Usage =>
  make({
    inputTokens: self.inputTokens + that.inputTokens,
    outputTokens: self.outputTokens + that.outputTokens,
    cachedInputTokens: sumOptional(self.cachedInputTokens, that.cachedInputTokens),
    cacheWriteInputTokens: sumOptional(self.cacheWriteInputTokens, that.cacheWriteInputTokens),
    reasoningTokens: sumOptional(self.reasoningTokens, that.reasoningTokens),
    estimated: self.estimated === true || that.estimated === true
  })

const sumOptional = (a: number | undefined, b: number | undefined): number | undefined =>
  a === undefined && b === undefined ? undefined : (a ?? 0) + (b ?? 0)
