/**
 * Lenient Schemas for what `claude -p --output-format json` prints: one JSON object, the
 * "result" message of the run (the last line of `--output-format stream-json` is the same object).
 *
 * The CLI adds fields from release to release (`modelUsage`, `terminal_reason`,
 * `api_error_status`...), and some are `null` or missing depending on how the run ended. The
 * Schemas require nothing but an object, accept `null` or absence everywhere, and keep every
 * field they do not know (`ProviderKit.lenientStruct`), so nothing the CLI reports is lost.
 * The field names follow Claude Code 2.1 (`SDKResultMessage` in `@anthropic-ai/claude-code`'s
 * `sdk-tools.d.ts`). Internal: the wire format is not part of the public API.
 *
 * @since 0.1.0
 * @internal
 */
import { Result, Schema } from "effect"
import * as Usage from "../../../Usage.ts"
import { lenientStruct, optionalNullable } from "../../ProviderKit.ts"

/**
 * `usage.output_tokens_details`: the thinking part of the output.
 *
 * @since 0.1.0
 * @category schemas
 */
export const OutputTokensDetails = lenientStruct({ thinking_tokens: optionalNullable(Schema.Number) })

/**
 * Token usage as the Anthropic API reports it: `input_tokens` excludes the cache reads and
 * cache writes, which are reported apart.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ClaudeCodeUsage = lenientStruct({
  input_tokens: optionalNullable(Schema.Number),
  output_tokens: optionalNullable(Schema.Number),
  cache_read_input_tokens: optionalNullable(Schema.Number),
  cache_creation_input_tokens: optionalNullable(Schema.Number),
  output_tokens_details: optionalNullable(OutputTokensDetails)
})

/**
 * @since 0.1.0
 * @category models
 */
export type ClaudeCodeUsage = typeof ClaudeCodeUsage.Type

/**
 * The result message of a run.
 *
 * - `subtype`: `success`, or why the run stopped (`error_max_budget_usd`, `error_max_turns`,
 *   `error_during_execution`). An API error comes back as `success` with `is_error: true`.
 * - `api_error_status`: the HTTP status of the failed API call, when there was one.
 * - `modelUsage`: usage per model actually called (keys are the full model names).
 *
 * @since 0.1.0
 * @category schemas
 */
export const ClaudeCodeResult = lenientStruct({
  type: optionalNullable(Schema.String),
  subtype: optionalNullable(Schema.String),
  is_error: optionalNullable(Schema.Boolean),
  result: optionalNullable(Schema.String),
  errors: optionalNullable(Schema.Array(Schema.String)),
  session_id: optionalNullable(Schema.String),
  total_cost_usd: optionalNullable(Schema.Number),
  usage: optionalNullable(ClaudeCodeUsage),
  stop_reason: optionalNullable(Schema.String),
  terminal_reason: optionalNullable(Schema.String),
  api_error_status: optionalNullable(Schema.Number),
  num_turns: optionalNullable(Schema.Number),
  duration_ms: optionalNullable(Schema.Number),
  duration_api_ms: optionalNullable(Schema.Number),
  modelUsage: optionalNullable(Schema.Record(Schema.String, Schema.Unknown))
})

/**
 * @since 0.1.0
 * @category models
 */
export type ClaudeCodeResult = typeof ClaudeCodeResult.Type

const decodeResult = Schema.decodeUnknownResult(ClaudeCodeResult)

const parseJson = (text: string): Result.Result<unknown, string> => {
  try {
    return Result.succeed(JSON.parse(text))
  } catch (error) {
    return Result.fail(error instanceof Error ? error.message : String(error))
  }
}

/** With `--verbose` the CLI prints every message as a JSON array; the result is the last one. */
const pickResult = (value: unknown): unknown => {
  if (!Array.isArray(value)) return value
  for (let index = value.length - 1; index >= 0; index--) {
    const item: unknown = value[index]
    if (typeof item === "object" && item !== null && (item as { type?: unknown }).type === "result") return item
  }
  return value.at(-1)
}

/**
 * Reads the standard output of `claude -p --output-format json`: the whole output as JSON, else
 * its last non-empty line (a warning printed before the JSON does not spoil it). Fails with a
 * short description (never the output itself, which holds the model's answer).
 *
 * @since 0.1.0
 * @category decoding
 * @example
 * ClaudeCodeSchema.parseOutput('{"type":"result","result":"hi","is_error":false}')
 */
export const parseOutput = (stdout: string): Result.Result<ClaudeCodeResult, string> => {
  const trimmed = stdout.trim()
  if (trimmed === "") return Result.fail("the claude CLI printed nothing on stdout")
  let parsed = parseJson(trimmed)
  if (Result.isFailure(parsed)) {
    const lastLine = trimmed.split("\n").map((line) => line.trim()).filter((line) => line !== "").at(-1) ?? ""
    const fromLastLine = parseJson(lastLine)
    if (Result.isFailure(fromLastLine)) {
      return Result.fail(`the claude CLI printed something that is not JSON (${trimmed.length} characters)`)
    }
    parsed = fromLastLine
  }
  return readResult(pickResult(parsed.success))
}

/**
 * Reads a parsed result event (the object `--output-format json` prints, or the `result` line of
 * `stream-json`). Fails with a short description.
 *
 * @since 0.1.0
 * @category decoding
 */
export const readResult = (candidate: unknown): Result.Result<ClaudeCodeResult, string> => {
  if (typeof candidate !== "object" || candidate === null || Array.isArray(candidate)) {
    return Result.fail("the claude CLI printed JSON that is not a result object")
  }
  const decoded = decodeResult(candidate)
  if (Result.isFailure(decoded)) {
    return Result.fail(`the claude CLI's result has an unexpected shape: ${decoded.failure.message.split("\n")[0]}`)
  }
  return Result.succeed(decoded.success)
}

/**
 * The usage a result reports, normalised: `inputTokens` includes cache reads and writes
 * (Anthropic reports them apart), `cachedInputTokens` is the cache reads. `undefined` when the
 * result reports none.
 *
 * @since 0.1.0
 * @category mapping
 */
export const usageOf = (result: ClaudeCodeResult): Usage.Usage | undefined => {
  const reported = result.usage ?? undefined
  if (reported === undefined || typeof reported.input_tokens !== "number") return undefined
  const cacheReads = reported.cache_read_input_tokens ?? 0
  return Usage.make({
    inputTokens: reported.input_tokens + cacheReads + (reported.cache_creation_input_tokens ?? 0),
    outputTokens: reported.output_tokens ?? 0,
    cachedInputTokens: cacheReads,
    ...(reported.output_tokens_details?.thinking_tokens
      ? { reasoningTokens: reported.output_tokens_details.thinking_tokens }
      : {})
  })
}
