/**
 * Turns the events of one Anthropic stream into stream parts and, at the end, the whole response.
 *
 * The events arrive parsed by `effect/encoding`'s SSE parser; each event's JSON data is decoded
 * with the Schema of its type (`AnthropicSchema.streamEventDecoders`; unknown types are ignored).
 * Then:
 *
 * - `message_start` gives the message id, the model and the input usage (with the cache reads
 *   and writes);
 * - `content_block_start` opens a block: a `tool_use` block emits the first `tool-call-delta`
 *   of its call (its id and name; calls are numbered 0, 1... in the order they open);
 * - `content_block_delta` emits a `text-delta` (`text_delta`) or a `tool-call-delta`
 *   (`input_json_delta`, a fragment of the call's input JSON); other deltas (thinking) are read
 *   and dropped;
 * - `message_delta` gives the stop reason and the output usage (a running total);
 * - `message_stop` ends the message; `ping` is ignored;
 * - `error` fails the stream with the `LlmError` of its error type (`Errors.fromErrorEvent`).
 *
 * The assembler is a small mutable state machine, made fresh for each call and used by one
 * fiber only (the stream's pull loop in `AnthropicLanguageModel`): no effect step per event.
 *
 * @since 0.1.0
 * @internal
 */
import { Exit } from "effect"
import type { Sse } from "effect/encoding"
import type * as LlmError from "../../../LlmError.ts"
import type { LlmRequest } from "../../../LlmRequest.ts"
import type { LlmResponse, ResponsePart } from "../../../LlmResponse.ts"
import * as StreamPart from "../../../StreamPart.ts"
import * as ToolCall from "../../../ToolCall.ts"
import * as Usage from "../../../Usage.ts"
import * as AnthropicSchema from "./AnthropicSchema.ts"
import * as Errors from "./errors.ts"
import * as Mapping from "./mapping.ts"

type Block =
  | { readonly kind: "text"; text: string }
  | {
    readonly kind: "tool"
    readonly ordinal: number
    readonly id: string
    readonly name: string
    readonly input: unknown
    json: string
  }
  | { readonly kind: "other" }

/**
 * What the assembler needs to know about the call.
 *
 * @since 0.1.0
 * @category models
 */
export interface Context {
  readonly call: Errors.CallInfo
  readonly request: LlmRequest
  readonly requestId: string | undefined
  readonly startedMs: number
}

/**
 * The state of one stream.
 *
 * @since 0.1.0
 * @category models
 */
export interface Assembler {
  /** The SSE parser's callback: reads one event (a `retry:` directive is ignored). */
  readonly onEvent: (event: Sse.AnyEvent) => void
  /** The parts produced since the last call (the array is handed over). */
  readonly take: () => Array<StreamPart.StreamPart>
  /** The failure the stream must end with (an `error` event, an unreadable event), if any. */
  readonly failure: () => LlmError.LlmError | undefined
  /** Whether `message_stop` arrived. */
  readonly stopped: () => boolean
  /** Whether a stop reason arrived (`message_delta`): the message is whole even without `message_stop`. */
  readonly hasStopReason: () => boolean
  /** The whole response at the end of the stream, or the error it ends with (a refusal with no text). */
  readonly finish: (nowMs: number) => LlmResponse | LlmError.LlmError
}

const preview = (text: string): string => JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}...` : text)

const parseJson = (text: string): { readonly ok: true; readonly value: unknown } | { readonly ok: false } => {
  try {
    return { ok: true, value: JSON.parse(text) }
  } catch {
    return { ok: false }
  }
}

const emptyObject = (value: unknown): boolean =>
  value === undefined || value === null || (typeof value === "object" && Object.keys(value).length === 0)

/**
 * Makes the assembler of one stream.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (context: Context): Assembler => {
  const { call } = context
  let pending: Array<StreamPart.StreamPart> = []
  let failure: LlmError.LlmError | undefined
  let stopped = false
  let model: string | undefined
  let messageId: string | undefined
  let startUsage: AnthropicSchema.Usage | undefined
  let deltaUsage: AnthropicSchema.Usage | undefined
  let stopReason: string | undefined
  let content = ""
  let toolCalls = 0
  const blocks: Array<Block | undefined> = []

  const fail = (error: LlmError.LlmError) => {
    if (failure === undefined) failure = error
  }

  const textBlock = (index: number): Block => {
    const existing = blocks[index]
    if (existing !== undefined) return existing
    const block: Block = { kind: "text", text: "" }
    blocks[index] = block
    return block
  }

  const addText = (block: Block, text: string) => {
    if (text === "" || block.kind !== "text") return
    block.text += text
    content += text
    pending.push(StreamPart.textDelta(text))
  }

  const handle = (event: AnthropicSchema.StreamEvent) => {
    switch (event.type) {
      case "message_start": {
        const message = event.message
        messageId = message.id ?? undefined
        model = message.model ?? undefined
        startUsage = message.usage ?? undefined
        return
      }
      case "content_block_start": {
        const start = event.content_block
        if (start.type === "text") {
          const block: Block = { kind: "text", text: "" }
          blocks[event.index] = block
          addText(block, start.text ?? "")
        } else if (start.type === "tool_use") {
          const block: Block = {
            kind: "tool",
            ordinal: toolCalls++,
            id: start.id ?? "",
            name: start.name ?? "",
            input: start.input,
            json: ""
          }
          blocks[event.index] = block
          pending.push({ type: "tool-call-delta", index: block.ordinal, id: block.id, name: block.name, argumentsDelta: "" })
        } else {
          blocks[event.index] = { kind: "other" }
        }
        return
      }
      case "content_block_delta": {
        const delta = event.delta
        if (delta.type === "text_delta") addText(textBlock(event.index), delta.text ?? "")
        else if (delta.type === "input_json_delta") {
          const block = blocks[event.index]
          const fragment = delta.partial_json ?? ""
          if (block?.kind !== "tool" || fragment === "") return
          block.json += fragment
          pending.push({ type: "tool-call-delta", index: block.ordinal, argumentsDelta: fragment })
        }
        return
      }
      case "content_block_stop": {
        // A tool call whose input came whole in content_block_start (no input_json_delta).
        const block = blocks[event.index]
        if (block?.kind === "tool" && block.json === "" && !emptyObject(block.input)) {
          block.json = JSON.stringify(block.input)
          pending.push({ type: "tool-call-delta", index: block.ordinal, argumentsDelta: block.json })
        }
        return
      }
      case "message_delta": {
        stopReason = event.delta?.stop_reason ?? stopReason
        if (event.usage !== undefined && event.usage !== null) deltaUsage = event.usage
        return
      }
      case "message_stop":
        stopped = true
        return
      case "ping":
        return
      case "error":
        fail(Errors.fromErrorEvent(call, event.error, context.requestId))
        return
    }
  }

  const onEvent = (event: Sse.AnyEvent) => {
    if (event._tag !== "Event" || failure !== undefined || stopped) return
    const json = parseJson(event.data)
    if (!json.ok) {
      fail(Errors.malformed(call, `the data of a "${event.event}" event is not JSON (${preview(event.data)})`))
      return
    }
    const data = json.value
    const declared = typeof data === "object" && data !== null ? (data as { readonly type?: unknown }).type : undefined
    const type = typeof declared === "string" ? declared : event.event
    const decode = AnthropicSchema.streamEventDecoders[type]
    if (decode === undefined) return // an event type added after this adapter: ignored, as the API asks
    const decoded = decode(data)
    if (Exit.isFailure(decoded)) {
      fail(Errors.malformed(call, `a "${type}" event has an unexpected shape`))
      return
    }
    handle(decoded.value)
  }

  const usage = (output: string): Usage.Usage => {
    // Input (and cache) counts: message_delta's when it sends them (a running total), else message_start's.
    const input = Mapping.count(deltaUsage?.input_tokens) ?? Mapping.count(startUsage?.input_tokens)
    // The output count of message_start is a placeholder (1): only message_delta's counts.
    const outputTokens = Mapping.count(deltaUsage?.output_tokens)
    const reads = Mapping.count(deltaUsage?.cache_read_input_tokens) ?? Mapping.count(startUsage?.cache_read_input_tokens)
    const writes = Mapping.count(deltaUsage?.cache_creation_input_tokens) ??
      Mapping.count(startUsage?.cache_creation_input_tokens)
    const estimate = input === undefined || outputTokens === undefined ? Mapping.estimateUsage(context.request, output) : undefined
    return Usage.make({
      inputTokens: input === undefined ? estimate!.inputTokens : input + (reads ?? 0) + (writes ?? 0),
      outputTokens: outputTokens ?? estimate!.outputTokens,
      cachedInputTokens: input === undefined ? undefined : reads,
      cacheWriteInputTokens: input === undefined ? undefined : writes,
      reasoningTokens: Mapping.count(deltaUsage?.output_tokens_details?.thinking_tokens),
      estimated: estimate !== undefined
    })
  }

  const finish = (nowMs: number): LlmResponse | LlmError.LlmError => {
    const requestId = context.requestId ?? messageId
    let parts: Array<ResponsePart> | undefined
    const calls: Array<ToolCall.ToolCall> = []
    if (toolCalls > 0) {
      parts = []
      for (const block of blocks) {
        if (block === undefined || block.kind === "other") continue
        if (block.kind === "text") {
          parts.push({ type: "text", text: block.text })
          continue
        }
        const call = block.json === ""
          ? ToolCall.fromValue(block.id, block.name, block.input)
          : ToolCall.fromJsonText(block.id, block.name, block.json)
        calls.push(call)
        parts.push(ToolCall.toPart(call))
      }
    }
    if (content === "" && toolCalls === 0 && stopReason === "refusal") {
      return Errors.contentFiltered(call, "the model refused to answer (stop_reason refusal)", requestId)
    }
    return Mapping.toResponse({
      provider: call.provider,
      model: model ?? call.model,
      content,
      parts,
      toolCalls: calls,
      usage: usage(Mapping.outputText(content, calls)),
      stopReason,
      latencyMs: nowMs - context.startedMs,
      requestId
    })
  }

  return {
    onEvent,
    take: () => {
      const out = pending
      if (out.length > 0) pending = []
      return out
    },
    failure: () => failure,
    stopped: () => stopped,
    hasStopReason: () => stopReason !== undefined,
    finish
  }
}
