/**
 * The OpenAI chat-completions response, mapped to ours: shared by the JSON path (`generate`) and
 * the stream path (`stream`), so that both give the same `LlmResponse` for the same answer.
 *
 * - Usage: `inputTokens` = `prompt_tokens` (it already includes cached tokens),
 *   `cachedInputTokens` = `prompt_tokens_details.cached_tokens`, `reasoningTokens` =
 *   `completion_tokens_details.reasoning_tokens` (a part of `outputTokens`); with no usage,
 *   tokens are counted locally and marked `estimated`.
 * - Finish reasons: `stop` -> `stop`, `length` -> `length`, `content_filter` ->
 *   `content-filter`, `tool_calls` / `function_call` -> `tool-calls`, `error` -> `error`,
 *   anything else -> `other`; the raw value is kept.
 * - Cost: OpenRouter's `usage.cost` (USD), kept as `{ usd, source: "provider" }` when the
 *   flavour asks for it.
 *
 * @since 0.1.0
 * @internal
 */
import type { LlmRequest } from "../../../LlmRequest.ts"
import * as LlmResponse from "../../../LlmResponse.ts"
import * as ToolCall from "../../../ToolCall.ts"
import * as Tokenizer from "../../../Tokenizer.ts"
import * as Usage from "../../../Usage.ts"
import * as ProviderKit from "../../ProviderKit.ts"

/**
 * Normalises a wire finish reason.
 *
 * @since 0.1.0
 * @category mapping
 */
export const toFinishReason = (raw: string | null | undefined): LlmResponse.FinishReason => {
  switch (raw) {
    case "stop":
    case "end_turn":
    case "stop_sequence":
      return "stop"
    case "length":
    case "max_tokens":
      return "length"
    case "content_filter":
      return "content-filter"
    case "tool_calls":
    case "function_call":
      return "tool-calls"
    case "error":
      return "error"
    default:
      return "other"
  }
}

const count = (value: number | null | undefined): number | undefined =>
  typeof value === "number" && Number.isFinite(value) && value >= 0 ? Math.round(value) : undefined

/**
 * The usage fields {@link toUsage} reads (the decoded Schema type, or the `openai` SDK's).
 *
 * @since 0.1.0
 * @category models
 */
export interface UsageFields {
  readonly prompt_tokens?: number | null | undefined
  readonly completion_tokens?: number | null | undefined
  readonly prompt_tokens_details?: { readonly cached_tokens?: number | null | undefined } | null | undefined
  readonly completion_tokens_details?: { readonly reasoning_tokens?: number | null | undefined } | null | undefined
}

/**
 * Normalises the wire usage; `undefined` when the provider reported none.
 *
 * @since 0.1.0
 * @category mapping
 */
export const toUsage = (usage: UsageFields | null | undefined): Usage.Usage | undefined => {
  if (usage === null || usage === undefined) return undefined
  const inputTokens = count(usage.prompt_tokens)
  const outputTokens = count(usage.completion_tokens)
  if (inputTokens === undefined || outputTokens === undefined) return undefined
  return Usage.make({
    inputTokens,
    outputTokens,
    cachedInputTokens: count(usage.prompt_tokens_details?.cached_tokens),
    reasoningTokens: count(usage.completion_tokens_details?.reasoning_tokens)
  })
}

/**
 * The usage of an answer the provider reported none for: counted locally, marked `estimated`.
 *
 * @since 0.1.0
 * @category mapping
 */
export const estimateUsage = (request: LlmRequest, output: string): Usage.Usage =>
  Usage.make({ inputTokens: Tokenizer.countRequest(request), outputTokens: Tokenizer.countText(output), estimated: true })

/**
 * The cost the provider reported (`usage.cost`, OpenRouter), when the flavour keeps it.
 *
 * @since 0.1.0
 * @category mapping
 */
export const providerCost = (
  usage: { readonly cost?: number | null | undefined } | null | undefined,
  keep: boolean | undefined
): LlmResponse.Cost | undefined => {
  const usd = keep === true ? usage?.cost : undefined
  return typeof usd === "number" && Number.isFinite(usd) && usd >= 0 ? { usd, source: "provider" } : undefined
}

/**
 * Why an answer with no content is a failure (`ContentFiltered`): the model's refusal, or the
 * provider's filter; `undefined` when it is not one.
 *
 * @since 0.1.0
 * @category mapping
 */
export const filteredReason = (
  content: string,
  finishReason: LlmResponse.FinishReason,
  refusal: string | null | undefined
): string | undefined => {
  if (content !== "") return undefined
  if (typeof refusal === "string" && refusal !== "") return `the model refused: ${ProviderKit.scrub(refusal)}`
  return finishReason === "content-filter"
    ? "the provider filtered the output and returned no content (finish_reason content_filter)"
    : undefined
}

/**
 * The tool calls of a completion's message (`message.tool_calls`), their arguments parsed; a
 * call with no id gets `call_<position>`.
 *
 * @since 0.1.0
 * @category mapping
 */
export const toolCallsOf = (
  wire: ReadonlyArray<{
    readonly id?: string | null | undefined
    readonly function?: { readonly name?: string | null | undefined; readonly arguments?: string | null | undefined } | null | undefined
  }> | null | undefined
): ReadonlyArray<ToolCall.ToolCall> => {
  if (wire === null || wire === undefined || wire.length === 0) return []
  return wire.map((call, position) =>
    ToolCall.fromJsonText(
      typeof call.id === "string" && call.id !== "" ? call.id : `call_${position}`,
      call.function?.name ?? "",
      call.function?.arguments ?? ""
    )
  )
}

/**
 * The output a local count covers: the text, and each call's name and arguments.
 *
 * @since 0.1.0
 * @category mapping
 */
export const outputText = (content: string, toolCalls: ReadonlyArray<ToolCall.ToolCall>): string => {
  let output = content
  for (const call of toolCalls) output += call.name + ToolCall.argumentsText(call)
  return output
}

/**
 * What {@link toResponse} assembles.
 *
 * @since 0.1.0
 * @category models
 */
export interface ResponseFields {
  readonly provider: string
  readonly model: string
  readonly content: string
  readonly toolCalls?: ReadonlyArray<ToolCall.ToolCall> | undefined
  readonly usage: Usage.Usage
  readonly rawFinishReason: string | null | undefined
  readonly latencyMs: number
  readonly requestId: string | null | undefined
  readonly cost: LlmResponse.Cost | undefined
  readonly warnings?: ReadonlyArray<string> | undefined
}

/**
 * The response, the same for both paths: tool calls become `toolCalls` and `parts` (a finish
 * reason `stop` with calls, as OpenAI sends for a forced call, is `tool-calls`); a call whose
 * arguments are not JSON adds a warning.
 *
 * @since 0.1.0
 * @category mapping
 */
export const toResponse = (fields: ResponseFields): LlmResponse.LlmResponse => {
  const calls = fields.toolCalls ?? []
  const warnings = [...(fields.warnings ?? [])]
  for (const call of calls) {
    if (ToolCall.isUnparsed(call)) warnings.push(ToolCall.unparsedWarning(call, fields.rawFinishReason ?? undefined))
  }
  return {
    ...LlmResponse.withToolCalls(fields.content, calls, toFinishReason(fields.rawFinishReason)),
    model: fields.model,
    provider: fields.provider,
    usage: fields.usage,
    ...(fields.rawFinishReason !== undefined && fields.rawFinishReason !== null ? { rawFinishReason: fields.rawFinishReason } : {}),
    latencyMs: Math.max(0, fields.latencyMs),
    ...(fields.requestId !== undefined && fields.requestId !== null ? { requestId: fields.requestId } : {}),
    ...(fields.cost !== undefined ? { cost: fields.cost } : {}),
    ...(warnings.length > 0 ? { warnings } : {})
  }
}
