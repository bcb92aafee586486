/**
 * Our request and response model to and from the Anthropic Messages wire format, shared by the
 * JSON path (`generate`) and the stream path (`stream`).
 *
 * - Tools: each declaration is `{ name, description, input_schema }`; `toolChoice` `auto` ->
 *   `{ type: auto }`, `required` -> `{ type: any }`, `none` -> `{ type: none }`, a named tool ->
 *   `{ type: tool, name }`. Structured output (`responseFormat`) is a forced tool: the schema
 *   declared as one more tool (`ResponseFormat.toTool`) and `tool_choice: { type: tool, name }`.
 * - Request: the system prompt and any `system` messages join into `system`; `user` and
 *   `assistant` messages keep their role; content parts become blocks (text -> `text`,
 *   tool-call -> `tool_use`, tool-result -> `tool_result`); `tool` messages become user messages
 *   of `tool_result` blocks (consecutive ones joined in one message, as the API wants the results
 *   of one turn together). `maxTokens` is `max_tokens`, which the API requires: the request's,
 *   else the model's default. `temperature`, `topP` (`top_p`) and `stop` (`stop_sequences`)
 *   are passed on.
 * - Usage: Anthropic reports the cache reads and writes apart from `input_tokens`, so
 *   `inputTokens` = `input_tokens` + `cache_read_input_tokens` + `cache_creation_input_tokens`,
 *   `cachedInputTokens` = the reads, `cacheWriteInputTokens` = the writes; `reasoningTokens` =
 *   `output_tokens_details.thinking_tokens` where sent (a part of `output_tokens`).
 * - Finish reasons: `end_turn`, `stop_sequence` -> `stop`; `max_tokens`,
 *   `model_context_window_exceeded` -> `length`; `tool_use` -> `tool-calls`; `refusal` ->
 *   `content-filter`; anything else (`pause_turn`...) -> `other`; the raw value kept.
 *
 * @since 0.1.0
 * @internal
 */
import type * as AnthropicWire from "@anthropic-ai/sdk/resources/messages"
import type { LlmRequest } from "../../../LlmRequest.ts"
import type { FinishReason, LlmResponse, ResponsePart } from "../../../LlmResponse.ts"
import * as Message from "../../../Message.ts"
import * as ResponseFormat from "../../../ResponseFormat.ts"
import type * as Tool from "../../../Tool.ts"
import * as ToolCall from "../../../ToolCall.ts"
import * as Tokenizer from "../../../Tokenizer.ts"
import * as Usage from "../../../Usage.ts"
import type * as AnthropicSchema from "./AnthropicSchema.ts"

const serialise = (value: unknown): string => {
  if (typeof value === "string") return value
  try {
    return JSON.stringify(value) ?? ""
  } catch {
    return String(value)
  }
}

// Each block is checked against `@anthropic-ai/sdk`'s wire type (a type-only import: nothing at
// run time, nothing in the emitted declarations).
const toBlock = (part: Message.Part): AnthropicSchema.RequestBlock => {
  switch (part.type) {
    case "text":
      return { type: "text", text: part.text } satisfies AnthropicWire.TextBlockParam
    case "tool-call":
      return { type: "tool_use", id: part.id, name: part.name, input: part.params ?? {} } satisfies AnthropicWire.ToolUseBlockParam
    case "tool-result":
      return {
        type: "tool_result",
        tool_use_id: part.id,
        content: serialise(part.result),
        ...(part.isFailure === true ? { is_error: true } : {})
      } satisfies AnthropicWire.ToolResultBlockParam
  }
}

const toBlocks = (content: Message.Content): Array<AnthropicSchema.RequestBlock> =>
  typeof content === "string" ? [{ type: "text", text: content }] : content.map(toBlock)

/**
 * Maps a request to the wire body (`stream` left to the caller).
 *
 * @since 0.1.0
 * @category mapping
 */
export const toWireRequest = (request: LlmRequest, model: string, defaultMaxTokens: number): AnthropicSchema.MessagesRequest => {
  let system = request.system
  const messages: Array<AnthropicSchema.RequestMessage> = []
  // The blocks of the user message that carries tool results, while tool messages follow each other.
  let toolResults: Array<AnthropicSchema.RequestBlock> | undefined
  for (const message of request.messages) {
    switch (message.role) {
      case "system": {
        const text = Message.text(message)
        system = system === undefined || system === "" ? text : `${system}\n\n${text}`
        break
      }
      case "tool": {
        const blocks = toBlocks(message.content)
        if (toolResults !== undefined) toolResults.push(...blocks)
        else {
          toolResults = blocks
          messages.push({ role: "user", content: toolResults } satisfies AnthropicWire.MessageParam)
        }
        break
      }
      default: {
        toolResults = undefined
        const content = typeof message.content === "string" ? message.content : message.content.map(toBlock)
        messages.push({ role: message.role, content } satisfies AnthropicWire.MessageParam)
      }
    }
  }
  return {
    model,
    max_tokens: request.maxTokens ?? defaultMaxTokens,
    messages,
    ...(system !== undefined && system !== "" ? { system } : {}),
    ...(request.temperature !== undefined ? { temperature: request.temperature } : {}),
    ...(request.topP !== undefined ? { top_p: request.topP } : {}),
    ...(request.stop !== undefined && request.stop.length > 0 ? { stop_sequences: [...request.stop] } : {}),
    ...toolsOf(request)
  }
}

// The declared tools and the choice; structured output adds its forced tool (and forces it).
const toolsOf = (request: LlmRequest): Pick<AnthropicSchema.MessagesRequest, "tools" | "tool_choice"> => {
  const declared = request.tools ?? []
  const format = request.responseFormat
  if (format !== undefined) {
    const forced = ResponseFormat.toTool(format)
    return {
      tools: [...declared, forced].map(toWireTool),
      tool_choice: { type: "tool", name: forced.name } satisfies AnthropicWire.ToolChoiceTool
    }
  }
  return {
    ...(declared.length > 0 ? { tools: declared.map(toWireTool) } : {}),
    ...(request.toolChoice !== undefined ? { tool_choice: toWireToolChoice(request.toolChoice) } : {})
  }
}

const toWireTool = (tool: Tool.Definition): AnthropicSchema.RequestTool =>
  ({
    name: tool.name,
    ...(tool.description !== undefined ? { description: tool.description } : {}),
    input_schema: { ...tool.parameters, type: "object" }
  }) satisfies AnthropicWire.Tool

const toWireToolChoice = (choice: Tool.ToolChoice): AnthropicSchema.RequestToolChoice => {
  if (typeof choice !== "string") return { type: "tool", name: choice.tool } satisfies AnthropicWire.ToolChoiceTool
  switch (choice) {
    case "auto":
      return { type: "auto" } satisfies AnthropicWire.ToolChoiceAuto
    case "required":
      return { type: "any" } satisfies AnthropicWire.ToolChoiceAny
    case "none":
      return { type: "none" } satisfies AnthropicWire.ToolChoiceNone
  }
}

/**
 * Normalises a wire stop reason.
 *
 * @since 0.1.0
 * @category mapping
 */
export const toFinishReason = (raw: string | null | undefined): FinishReason => {
  switch (raw) {
    case "end_turn":
    case "stop_sequence":
      return "stop"
    case "max_tokens":
    case "model_context_window_exceeded":
      return "length"
    case "tool_use":
      return "tool-calls"
    case "refusal":
      return "content-filter"
    default:
      return "other"
  }
}

/**
 * A token count the provider sent, or `undefined`.
 *
 * @since 0.1.0
 * @category mapping
 */
export const count = (value: number | null | undefined): number | undefined =>
  typeof value === "number" && Number.isFinite(value) && value >= 0 ? Math.round(value) : undefined

/**
 * The usage fields {@link toUsage} reads (the decoded Schema type, or the SDK's).
 *
 * @since 0.1.0
 * @category models
 */
export interface UsageFields {
  readonly input_tokens?: number | null | undefined
  readonly output_tokens?: number | null | undefined
  readonly cache_creation_input_tokens?: number | null | undefined
  readonly cache_read_input_tokens?: number | null | undefined
  readonly output_tokens_details?: { readonly thinking_tokens?: number | null | undefined } | null | undefined
}

/**
 * Normalises the wire usage; `undefined` when the provider reported no input or no output count.
 *
 * @since 0.1.0
 * @category mapping
 */
export const toUsage = (usage: UsageFields | null | undefined): Usage.Usage | undefined => {
  if (usage === null || usage === undefined) return undefined
  const input = count(usage.input_tokens)
  const outputTokens = count(usage.output_tokens)
  if (input === undefined || outputTokens === undefined) return undefined
  const reads = count(usage.cache_read_input_tokens)
  const writes = count(usage.cache_creation_input_tokens)
  return Usage.make({
    inputTokens: input + (reads ?? 0) + (writes ?? 0),
    outputTokens,
    cachedInputTokens: reads,
    cacheWriteInputTokens: writes,
    reasoningTokens: count(usage.output_tokens_details?.thinking_tokens)
  })
}

/**
 * Usage counted locally (marked `estimated`): the request's input, the output's text.
 *
 * @since 0.1.0
 * @category mapping
 */
export const estimateUsage = (request: LlmRequest, output: string): Usage.Usage =>
  Usage.make({ inputTokens: Tokenizer.countRequest(request), outputTokens: Tokenizer.countText(output), estimated: true })

/**
 * The content, parts and tool calls of a message's blocks: the text of its text blocks, and
 * parts when it holds tool calls (text and tool calls in order). Other blocks (thinking...) are
 * left out.
 *
 * @since 0.1.0
 * @category mapping
 */
export const fromBlocks = (
  blocks: ReadonlyArray<AnthropicSchema.ContentBlock>
): {
  readonly content: string
  readonly parts: ReadonlyArray<ResponsePart> | undefined
  readonly toolCalls: ReadonlyArray<ToolCall.ToolCall>
} => {
  let content = ""
  let calls = false
  for (const block of blocks) {
    if (block.type === "text") content += block.text ?? ""
    else if (block.type === "tool_use") calls = true
  }
  if (!calls) return { content, parts: undefined, toolCalls: [] }
  const parts: Array<ResponsePart> = []
  const toolCalls: Array<ToolCall.ToolCall> = []
  for (const block of blocks) {
    if (block.type === "text") parts.push({ type: "text", text: block.text ?? "" })
    else if (block.type === "tool_use") {
      const call = ToolCall.fromValue(block.id ?? "", block.name ?? "", block.input)
      toolCalls.push(call)
      parts.push(ToolCall.toPart(call))
    }
  }
  return { content, parts, toolCalls }
}

/**
 * The facts of one answer, from either path.
 *
 * @since 0.1.0
 * @category models
 */
export interface Answer {
  readonly provider: string
  readonly model: string
  readonly content: string
  readonly parts: ReadonlyArray<ResponsePart> | undefined
  readonly toolCalls?: ReadonlyArray<ToolCall.ToolCall> | undefined
  readonly usage: Usage.Usage
  readonly stopReason: string | undefined
  readonly latencyMs: number
  readonly requestId: string | undefined
  readonly warnings?: ReadonlyArray<string> | undefined
}

/**
 * Builds the response of an answer: its tool calls in `toolCalls` (a call whose input is not
 * JSON adds a warning).
 *
 * @since 0.1.0
 * @category mapping
 */
export const toResponse = (answer: Answer): LlmResponse => {
  const calls = answer.toolCalls ?? []
  const warnings = [...(answer.warnings ?? [])]
  for (const call of calls) if (ToolCall.isUnparsed(call)) warnings.push(ToolCall.unparsedWarning(call, answer.stopReason))
  const finishReason = toFinishReason(answer.stopReason)
  return {
    content: answer.content,
    ...(answer.parts !== undefined ? { parts: answer.parts } : {}),
    ...(calls.length > 0 ? { toolCalls: calls } : {}),
    model: answer.model,
    provider: answer.provider,
    usage: answer.usage,
    finishReason: calls.length > 0 && finishReason === "stop" ? "tool-calls" : finishReason,
    ...(answer.stopReason !== undefined ? { rawFinishReason: answer.stopReason } : {}),
    latencyMs: Math.max(0, answer.latencyMs),
    ...(answer.requestId !== undefined ? { requestId: answer.requestId } : {}),
    ...(warnings.length > 0 ? { warnings } : {})
  }
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
