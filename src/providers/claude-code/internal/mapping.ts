/**
 * How a run's result becomes an `LlmResponse`, for both paths (`generate` reads the result from
 * `--output-format json`, `stream` from the last line of `stream-json`): the text, the finish
 * reason, the usage (normalised once here), the cost the CLI reports, and the model that did the
 * work; and which results are failures.
 *
 * @since 0.1.0
 * @internal
 */
import type { LlmRequest } from "../../../LlmRequest.ts"
import type { FinishReason, LlmResponse } from "../../../LlmResponse.ts"
import * as Tokenizer from "../../../Tokenizer.ts"
import * as Usage from "../../../Usage.ts"
import * as ClaudeCodeSchema from "./ClaudeCodeSchema.ts"
import { PROVIDER } from "./errors.ts"

const FINISH_REASONS: Readonly<Record<string, FinishReason>> = {
  end_turn: "stop",
  stop_sequence: "stop",
  max_tokens: "length",
  model_context_window_exceeded: "length",
  refusal: "content-filter",
  tool_use: "tool-calls",
  pause_turn: "other"
}

/** The model that did the work: the one with the most output in `modelUsage`. */
const servedModel = (result: ClaudeCodeSchema.ClaudeCodeResult): string | undefined => {
  let best: { readonly name: string; readonly output: number } | undefined
  for (const [name, entry] of Object.entries(result.modelUsage ?? {})) {
    const output = typeof entry === "object" && entry !== null &&
        typeof (entry as { outputTokens?: unknown }).outputTokens === "number"
      ? (entry as { outputTokens: number }).outputTokens
      : 0
    if (best === undefined || output > best.output) best = { name, output }
  }
  return best?.name
}

/**
 * Turns a successful result into an `LlmResponse`. Usage is normalised once here:
 * `inputTokens` = `input_tokens` + cache reads + cache writes, `cachedInputTokens` = cache reads;
 * a result without usage is counted with the tokenizer and marked `estimated`.
 *
 * @since 0.1.0
 * @category mapping
 */
export const toResponse = (options: {
  readonly request: LlmRequest
  readonly model: string
  readonly result: ClaudeCodeSchema.ClaudeCodeResult
  readonly latencyMs: number
  readonly warnings: ReadonlyArray<string>
}): LlmResponse => {
  const { result } = options
  const content = result.result ?? ""
  const usage = ClaudeCodeSchema.usageOf(result) ??
    Usage.make({
      inputTokens: Tokenizer.countRequest(options.request),
      outputTokens: Tokenizer.countText(content),
      estimated: true
    })
  const rawFinishReason = result.stop_reason ?? undefined
  const metadata: Record<string, unknown> = {
    ...(result.session_id != null ? { sessionId: result.session_id } : {}),
    ...(result.num_turns != null ? { numTurns: result.num_turns } : {}),
    ...(result.duration_api_ms != null ? { durationApiMs: result.duration_api_ms } : {})
  }
  return {
    content,
    model: servedModel(result) ?? options.model,
    provider: PROVIDER,
    usage,
    finishReason: rawFinishReason !== undefined ? FINISH_REASONS[rawFinishReason] ?? "other" : "stop",
    ...(rawFinishReason !== undefined ? { rawFinishReason } : {}),
    latencyMs: options.latencyMs,
    ...(result.session_id != null ? { requestId: result.session_id } : {}),
    ...(result.total_cost_usd != null ? { cost: { usd: result.total_cost_usd, source: "provider" as const } } : {}),
    ...(options.warnings.length > 0 ? { warnings: options.warnings } : {}),
    ...(Object.keys(metadata).length > 0 ? { metadata } : {})
  }
}

/**
 * Whether a result is a failure: an error flag, a subtype other than `success`, or a run that
 * exited with another code than 0.
 *
 * @since 0.1.0
 * @category mapping
 */
export const failed = (result: ClaudeCodeSchema.ClaudeCodeResult, exitCode: number | undefined): boolean =>
  result.is_error === true || (result.subtype != null && result.subtype !== "success") || exitCode !== 0
