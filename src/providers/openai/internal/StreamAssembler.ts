/**
 * Turns the chunks of one streamed chat completion into stream parts and, at the end, the whole
 * response.
 *
 * The chunks arrive decoded by `OpenAiClient` (`OpenAiSchema.ChatCompletionChunk`); only the
 * first choice (index 0) is read, as `generate` reads `choices[0]`. Then:
 *
 * - `delta.content` is emitted as a `text-delta` part and added to the content;
 * - `delta.tool_calls[i]` fragments are emitted as `tool-call-delta` parts: calls are numbered
 *   0, 1... in the order they first appear (keyed by the fragment's `index`; a server that sends
 *   no index starts a new call with each new `id`); a call's first fragment names its `id` and
 *   `function.name`, and every fragment adds its `function.arguments` to the call's JSON;
 * - `delta.refusal` is kept (a refusal with no content fails as `generate` does);
 * - `finish_reason`, `model`, `id` and `usage` are kept as they come (the usage chunk, sent last
 *   with `stream_options.include_usage`, has no choices).
 *
 * At the end, {@link Assembler.end} builds the response with the same mapping as `generate`
 * (`internal/mapping.ts`): tool calls become the response's `toolCalls` (and `tool-call` parts)
 * with their arguments parsed (kept in `rawArguments`, with `argumentsError` and a warning, when
 * they are not whole JSON), and usage the stream did not report is
 * counted locally and marked `estimated`.
 *
 * The assembler is a `ChunkReader` (`internal/eventStream.ts`): a small mutable state machine,
 * made fresh for each call and fed by the stream's pull loop, one fiber only: no effect step per
 * chunk.
 *
 * @since 0.1.0
 * @internal
 */
import type * as LlmError from "../../../LlmError.ts"
import type * as EventStream from "./eventStream.ts"
import type { LlmRequest } from "../../../LlmRequest.ts"
import type { LlmResponse } from "../../../LlmResponse.ts"
import * as ToolCall from "../../../ToolCall.ts"
import * as StreamPart from "../../../StreamPart.ts"
import * as Errors from "./errors.ts"
import * as Mapping from "./mapping.ts"
import type * as OpenAiSchema from "./OpenAiSchema.ts"

/**
 * What the assembler needs to know about the call.
 *
 * @since 0.1.0
 * @category models
 */
export interface Context extends EventStream.Opened {
  readonly call: Errors.CallInfo
  readonly request: LlmRequest
  /** Keep the cost the provider reports in `usage.cost` (OpenRouter). */
  readonly providerCost: boolean | undefined
}

/**
 * The state of one stream.
 *
 * @since 0.1.0
 * @category models
 */
export interface Assembler extends EventStream.ChunkReader<StreamPart.StreamPart> {
  /** Reads one chunk; its parts are kept for {@link take}. */
  readonly onChunk: (chunk: OpenAiSchema.ChatCompletionChunk) => void
  /** The parts produced since the last call (the array is handed over). */
  readonly take: () => Array<StreamPart.StreamPart>
  /** The finish part with the whole response, or the error the stream ends with (a refusal with no content). */
  readonly end: (nowMs: number) => StreamPart.Finish | LlmError.LlmError
  /** The whole response at the end of the stream, or the error it ends with. */
  readonly finish: (nowMs: number) => LlmResponse | LlmError.LlmError
}

interface ToolCall {
  readonly ordinal: number
  id: string
  name: string
  arguments: string
}


/**
 * Makes the assembler of one stream.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (context: Context): Assembler => {
  let pending: Array<StreamPart.StreamPart> = []
  let content = ""
  let refusal = ""
  let model: string | undefined
  let chunkId: string | undefined
  let rawFinish: string | undefined
  let usage: OpenAiSchema.CompletionUsage | undefined
  const calls: Array<ToolCall> = []
  const byIndex = new Map<number, ToolCall>()

  const onToolFragment = (fragment: OpenAiSchema.ChatCompletionChunkToolCall) => {
    const index = typeof fragment.index === "number" ? fragment.index : undefined
    const id = fragment.id ?? undefined
    const name = fragment.function?.name ?? undefined
    const argumentsDelta = fragment.function?.arguments ?? ""
    let call = index !== undefined
      ? byIndex.get(index)
      : id !== undefined && id !== "" && !calls.some((known) => known.id === id)
      ? undefined
      : calls.at(-1)
    const first = call === undefined
    if (call === undefined) {
      call = { ordinal: calls.length, id: "", name: "", arguments: "" }
      calls.push(call)
      if (index !== undefined) byIndex.set(index, call)
    }
    // A call's id and name go out with its first fragment, or with the first that brings them.
    const newId = id !== undefined && id !== "" && call.id === "" ? id : undefined
    const newName = name !== undefined && name !== "" && call.name === "" ? name : undefined
    if (newId !== undefined) call.id = newId
    if (newName !== undefined) call.name = newName
    call.arguments += argumentsDelta
    if (!first && newId === undefined && newName === undefined && argumentsDelta === "") return
    pending.push({
      type: "tool-call-delta",
      index: call.ordinal,
      ...(newId !== undefined ? { id: newId } : {}),
      ...(newName !== undefined ? { name: newName } : {}),
      argumentsDelta
    })
  }

  const onChunk = (chunk: OpenAiSchema.ChatCompletionChunk) => {
    if (model === undefined && typeof chunk.model === "string" && chunk.model !== "") model = chunk.model
    if (chunkId === undefined && typeof chunk.id === "string" && chunk.id !== "") chunkId = chunk.id
    if (chunk.usage !== undefined && chunk.usage !== null) usage = chunk.usage
    const choices = chunk.choices
    if (choices === undefined || choices === null) return
    for (const choice of choices) {
      if (typeof choice.index === "number" && choice.index !== 0) continue
      const delta = choice.delta
      if (delta !== undefined && delta !== null) {
        const text = delta.content
        if (typeof text === "string" && text !== "") {
          content += text
          pending.push(StreamPart.textDelta(text))
        }
        if (typeof delta.refusal === "string") refusal += delta.refusal
        const fragments = delta.tool_calls
        if (fragments !== undefined && fragments !== null) for (const fragment of fragments) onToolFragment(fragment)
      }
      if (typeof choice.finish_reason === "string" && choice.finish_reason !== "") rawFinish = choice.finish_reason
    }
  }

  const finish = (nowMs: number): LlmResponse | LlmError.LlmError => {
    const { call } = context
    const requestId = context.requestId ?? chunkId
    const filtered = calls.length === 0 ? Mapping.filteredReason(content, Mapping.toFinishReason(rawFinish), refusal) : undefined
    if (filtered !== undefined) return Errors.contentFiltered(call, filtered, requestId)
    const toolCalls = calls.map((tool) => ToolCall.fromJsonText(tool.id === "" ? `call_${tool.ordinal}` : tool.id, tool.name, tool.arguments))
    return Mapping.toResponse({
      provider: call.provider,
      model: model ?? call.model,
      content,
      toolCalls,
      usage: Mapping.toUsage(usage) ?? Mapping.estimateUsage(context.request, Mapping.outputText(content, toolCalls)),
      rawFinishReason: rawFinish,
      latencyMs: nowMs - context.startedMs,
      requestId,
      cost: Mapping.providerCost(usage, context.providerCost)
    })
  }

  return {
    onChunk,
    take: () => {
      const out = pending
      if (out.length > 0) pending = []
      return out
    },
    end: (nowMs) => {
      const response = finish(nowMs)
      return "content" in response ? StreamPart.finish(response) : response
    },
    finish
  }
}
