/**
 * The Anthropic-compatible door of `llm-connect serve`: `POST /v1/messages` (JSON, and
 * server-sent events in Anthropic's event format with `stream: true`) and
 * `POST /v1/messages/count_tokens` (our estimate, `Tokenizer.countRequest`), so that Anthropic
 * SDK clients and the Claude Code CLI (`ANTHROPIC_BASE_URL=http://127.0.0.1:9999`) can use
 * llm-connect as their gateway.
 *
 * Read leniently, as Claude Code sends it: `?beta=true` accepted; `system` as a string or text
 * blocks (their `cache_control` ignored); content as a string or blocks (text blocks joined;
 * `thinking`, `image`, `document` blocks carry no text here); `max_tokens`, `temperature`,
 * `top_p`, `stop_sequences`; `thinking`, `metadata` and unknown fields ignored. The `model` goes through the model router. Failures are Anthropic error JSON
 * (`{ type: "error", error: { type, message } }`) with the status of `HttpErrors`; a failure
 * after a stream has started is an `event: error`.
 *
 * Tool calls pass through: `tools` (custom tools: `name`, `description`, `input_schema` as given;
 * Anthropic's server tools such as `web_search_*` are refused, they run only at Anthropic) and
 * `tool_choice` (`auto`, `any` → required, `tool` → that tool, `none`) become the request's
 * `tools`/`toolChoice`; `tool_use` blocks of an assistant message become tool-call parts and
 * `tool_result` blocks of a user message a tool message (the tool's name taken from the
 * `tool_use` it answers; the result's text; `is_error` kept), followed by the message's text if
 * any. Out, the response's tool calls are `tool_use` blocks after its text, with
 * `stop_reason: "tool_use"`; arguments that are not JSON (a cut-off call) arrive as
 * `input: {}`, the only shape Anthropic's `input` allows.
 *
 * The stream: `message_start` (input tokens estimated), `ping`, then content blocks as the parts
 * come — a text block (`text_delta`s) and a `tool_use` block per call (`input_json_delta`s of
 * its arguments' JSON text), each opened with `content_block_start` and closed with
 * `content_block_stop` — then `message_delta` (the stop reason and the provider's usage, input
 * tokens included), `message_stop`. An answer with no content still has one empty text block.
 *
 * @since 0.1.0
 */
import { Effect, identity, Result, Stream } from "effect"
import { HttpServerResponse } from "effect/http"
import type * as BridgeContract from "../bridge/BridgeContract.ts"
import type * as LlmRequest from "../LlmRequest.ts"
import * as LlmResponse from "../LlmResponse.ts"
import type * as Message from "../Message.ts"
import type * as StreamPart from "../StreamPart.ts"
import * as Tool from "../Tool.ts"
import * as ToolCall from "../ToolCall.ts"
import * as Tokenizer from "../Tokenizer.ts"
import * as Failures from "./internal/failures.ts"
import * as SseAnswer from "./internal/sseAnswer.ts"
import * as Wire from "./internal/wire.ts"
import * as HttpErrors from "./HttpErrors.ts"
import * as ModelRouter from "./ModelRouter.ts"
import * as Server from "./Server.ts"

/**
 * A messages request read into the router's model name, the `LlmRequest` and whether to stream.
 *
 * @since 0.1.0
 * @category models
 */
export interface MessagesRequest {
  readonly model: string | undefined
  readonly request: LlmRequest.LlmRequest
  readonly stream: boolean
}

// `tools`: custom tools only; Anthropic's server tools (a `type` such as web_search_20250305) run
// only at Anthropic, so there is nothing to pass on.
const toolsOf = (raw: unknown): Result.Result<ReadonlyArray<Tool.Definition> | undefined, BridgeContract.BridgeFailure> =>
  Result.gen(function*() {
    if (raw === undefined || raw === null) return undefined
    if (!Array.isArray(raw)) return yield* Result.fail(Wire.invalid("\"tools\" must be an array", "send \"tools\": [{\"name\": ..., \"input_schema\": {...}}]"))
    const out: Array<Tool.Definition> = []
    for (const [index, item] of raw.entries()) {
      const where = `tools[${index}]`
      if (!Wire.isRecord(item)) return yield* Result.fail(Wire.invalid(`${where} must be an object`, "send {\"name\": ..., \"input_schema\": {...}}"))
      if (item.type !== undefined && item.type !== null && item.type !== "custom") {
        return yield* Result.fail(
          Wire.invalid(
            `${where} is Anthropic's server tool ${JSON.stringify(item.type)}, which runs only at Anthropic and cannot pass through`,
            "declare custom tools ({\"name\", \"description\", \"input_schema\"}) only"
          )
        )
      }
      out.push(yield* Wire.toolDefinition(where, item, "input_schema"))
    }
    return out
  })

const toolChoiceOf = (raw: unknown): Result.Result<Tool.ToolChoice | undefined, BridgeContract.BridgeFailure> => {
  if (raw === undefined || raw === null) return Result.succeed(undefined)
  if (Wire.isRecord(raw)) {
    if (raw.type === "auto") return Result.succeed("auto")
    if (raw.type === "none") return Result.succeed("none")
    if (raw.type === "any") return Result.succeed("required")
    if (raw.type === "tool" && typeof raw.name === "string") return Result.succeed({ tool: raw.name })
  }
  return Result.fail(
    Wire.invalid(`"tool_choice" is ${JSON.stringify(raw)}`, "use {\"type\": \"auto\"}, {\"type\": \"any\"}, {\"type\": \"none\"} or {\"type\": \"tool\", \"name\": ...}")
  )
}

// The tool_use blocks of an assistant message.
const toolUseParts = (
  blocks: ReadonlyArray<Wire.Json>,
  where: string
): Result.Result<ReadonlyArray<Message.ToolCallPart>, BridgeContract.BridgeFailure> =>
  Result.gen(function*() {
    const out: Array<Message.ToolCallPart> = []
    for (const block of blocks) {
      if (block.type !== "tool_use") continue
      if (typeof block.id !== "string" || typeof block.name !== "string") {
        return yield* Result.fail(Wire.invalid(`a tool_use block of ${where} has no "id" or "name"`, "send the tool_use block as the model returned it"))
      }
      out.push(ToolCall.toPart(ToolCall.fromValue(block.id, block.name, block.input)))
    }
    return out
  })

// The tool_result blocks of a user message (their content's text; is_error kept).
const toolResultParts = (
  blocks: ReadonlyArray<Wire.Json>,
  where: string,
  callNames: ReadonlyMap<string, string>
): Result.Result<ReadonlyArray<Message.ToolResultPart>, BridgeContract.BridgeFailure> =>
  Result.gen(function*() {
    const out: Array<Message.ToolResultPart> = []
    for (const block of blocks) {
      if (block.type !== "tool_result") continue
      if (typeof block.tool_use_id !== "string" || block.tool_use_id === "") {
        return yield* Result.fail(
          Wire.invalid(`a tool_result block of ${where} has no "tool_use_id"`, "send the id of the tool_use block it answers as \"tool_use_id\"")
        )
      }
      const result = yield* Wire.textOf(block.content, `${where} tool_result content`)
      out.push({
        type: "tool-result",
        id: block.tool_use_id,
        name: callNames.get(block.tool_use_id) ?? "",
        result,
        ...(block.is_error === true ? { isFailure: true } : {})
      })
    }
    return out
  })

// The body read synchronously: plain code over `Result`s (no effect step, no generator per field).
const readRequest = (body: unknown): Result.Result<MessagesRequest, BridgeContract.BridgeFailure> => {
  if (!Wire.isRecord(body)) {
    return Result.fail(Wire.invalid("the body must be a JSON object", "send {\"model\": ..., \"max_tokens\": ..., \"messages\": [...]}"))
  }
  const raw = body.messages
  if (!Array.isArray(raw) || raw.length === 0) {
    return Result.fail(Wire.invalid("\"messages\" must be a non-empty array", "send \"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}]"))
  }
  const messages: Array<Message.Message> = []
  // Claude Code also sends "system" messages among the others: they join the system prompt.
  const systemTexts: Array<string> = []
  if (body.system !== undefined && body.system !== null) {
    const systemText = Wire.textOf(body.system, "system")
    if (Result.isFailure(systemText)) return Result.fail(systemText.failure)
    systemTexts.push(systemText.success)
  }
  // The names of the tool_use blocks seen so far, by id: a tool_result names only the id.
  const callNames = new Map<string, string>()
  for (let index = 0; index < raw.length; index++) {
    const item: unknown = raw[index]
    if (!Wire.isRecord(item) || (item.role !== "user" && item.role !== "assistant" && item.role !== "system")) {
      return Result.fail(Wire.invalid(`messages[${index}] must have role "user" or "assistant"`, "send {\"role\": \"user\", \"content\": ...}"))
    }
    const where = `messages[${index}].content`
    const content = Wire.textOf(item.content, where)
    if (Result.isFailure(content)) return Result.fail(content.failure)
    const text = content.success
    const blocks = Array.isArray(item.content) ? item.content.filter(Wire.isRecord) : []
    if (item.role === "system") systemTexts.push(text)
    else if (item.role === "assistant" && blocks.some((block) => block.type === "tool_use")) {
      const parts = toolUseParts(blocks, where)
      if (Result.isFailure(parts)) return Result.fail(parts.failure)
      for (const call of parts.success) callNames.set(call.id, call.name)
      messages.push({ role: "assistant", content: [...(text === "" ? [] : [{ type: "text" as const, text }]), ...parts.success] })
    } else if (item.role === "user" && blocks.some((block) => block.type === "tool_result")) {
      const results = toolResultParts(blocks, where, callNames)
      if (Result.isFailure(results)) return Result.fail(results.failure)
      messages.push({ role: "tool", content: results.success })
      if (text !== "") messages.push(Wire.message("user", text))
    } else messages.push(Wire.message(item.role, text))
  }
  if (messages.length === 0) {
    return Result.fail(Wire.invalid("\"messages\" has no user message", "add {\"role\": \"user\", \"content\": \"...\"}"))
  }
  const joined = systemTexts.filter((text) => text !== "").join("\n\n")
  const system = joined === "" ? undefined : joined
  const maxTokens = Wire.optionalNumber(body, "max_tokens")
  if (Result.isFailure(maxTokens)) return Result.fail(maxTokens.failure)
  const temperature = Wire.optionalNumber(body, "temperature")
  if (Result.isFailure(temperature)) return Result.fail(temperature.failure)
  const topP = Wire.optionalNumber(body, "top_p")
  if (Result.isFailure(topP)) return Result.fail(topP.failure)
  const stop = Array.isArray(body.stop_sequences)
    ? body.stop_sequences.filter((item): item is string => typeof item === "string")
    : undefined
  const model = Wire.optionalString(body, "model")
  if (Result.isFailure(model)) return Result.fail(model.failure)
  const declared = Wire.declaredTools(body.tools === undefined || body.tools === null ? Result.succeed(undefined) : toolsOf(body.tools), toolChoiceOf(body.tool_choice))
  if (Result.isFailure(declared)) return Result.fail(declared.failure)
  const { toolChoice, tools } = declared.success
  // Built field by field (no object spread per optional field).
  const request: { -readonly [K in keyof LlmRequest.LlmRequest]: LlmRequest.LlmRequest[K] } = { messages }
  if (system !== undefined && system !== "") request.system = system
  if (maxTokens.success !== undefined && maxTokens.success > 0) request.maxTokens = Math.floor(maxTokens.success)
  if (temperature.success !== undefined) request.temperature = Math.min(temperature.success, 1)
  if (topP.success !== undefined) request.topP = topP.success
  if (stop !== undefined && stop.length > 0) request.stop = stop
  if (tools !== undefined && tools.length > 0) request.tools = tools
  // tool_choice none with no tools: nothing to say upstream.
  if (toolChoice !== undefined && (tools?.length ?? 0) > 0) request.toolChoice = toolChoice
  return Result.succeed({ model: model.success, request, stream: body.stream === true })
}

/**
 * Reads a messages body (`max_tokens` optional here: count_tokens has none).
 *
 * @since 0.1.0
 * @category decoding
 */
export const toLlmRequest = (body: unknown): Effect.Effect<MessagesRequest, BridgeContract.BridgeFailure> =>
  Effect.fromResult(readRequest(body))

/**
 * Anthropic's `stop_reason` of ours.
 *
 * @since 0.1.0
 * @category encoding
 */
export const stopReason = (reason: LlmResponse.FinishReason): string =>
  reason === "length" ? "max_tokens" : reason === "tool-calls" ? "tool_use" : reason === "content-filter" ? "refusal" : "end_turn"

const usageOf = (response: LlmResponse.LlmResponse) => ({
  input_tokens: response.usage.inputTokens,
  output_tokens: response.usage.outputTokens,
  cache_creation_input_tokens: 0,
  cache_read_input_tokens: 0
})

// A tool call's `input`: its arguments, `{}` when they are not JSON (Anthropic wants an object).
const inputOf = (call: ToolCall.ToolCall): unknown => ToolCall.isUnparsed(call) ? {} : call.arguments

/**
 * A `message` document: a text block (left out when a tool call comes with no text), then a
 * `tool_use` block per tool call.
 *
 * @since 0.1.0
 * @category encoding
 */
export const message = (id: string, response: LlmResponse.LlmResponse) => ({
  id,
  type: "message",
  role: "assistant",
  model: response.model,
  content: contentOf(response),
  stop_reason: stopReason(response.finishReason),
  stop_sequence: null,
  usage: usageOf(response)
})

const contentOf = (response: LlmResponse.LlmResponse): ReadonlyArray<object> => {
  const calls = LlmResponse.toolCallsOf(response)
  const uses = calls.map((call) => ({ type: "tool_use", id: call.id, name: call.name, input: inputOf(call) }))
  return response.content === "" && uses.length > 0 ? uses : [{ type: "text", text: response.content }, ...uses]
}

const render = (failure: BridgeContract.BridgeFailure) => HttpErrors.anthropicBody(failure)

// The events of a stream's parts, in Anthropic's format (ADR 0066: the events of one pull joined
// into one write). Content blocks open as parts come: the open block (text, or tool call `index`),
// the next block's index, and each tool call's block (a late fragment of an earlier call still
// reaches it); one encoder per answer.
const encoderOf = <E>(
  options: { readonly id: string; readonly model: string; readonly estimatedInputTokens: number },
  failure: (error: E) => BridgeContract.BridgeFailure
): SseAnswer.Encoder<StreamPart.StreamPart, E> => {
  const event = (type: string, data: object) => Wire.sseText({ type, ...data }, type)
  let open: "text" | number | undefined = undefined
  let next = 0
  const toolBlocks = new Map<number, number>()
  const close = () => {
    const text = open === undefined ? "" : event("content_block_stop", { index: open === "text" ? next - 1 : toolBlocks.get(open)! })
    open = undefined
    return text
  }
  return {
    head: event("message_start", {
      message: {
        id: options.id,
        type: "message",
        role: "assistant",
        model: options.model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: { input_tokens: options.estimatedInputTokens, output_tokens: 0 }
      }
    }) + event("ping", {}),
    parts: (parts) => {
      let out = ""
      for (const part of parts) {
        if (part.type === "text-delta") {
          if (part.text === "") continue
          if (open !== "text") {
            out += close()
            out += event("content_block_start", { index: next++, content_block: { type: "text", text: "" } })
            open = "text"
          }
          out += event("content_block_delta", { index: next - 1, delta: { type: "text_delta", text: part.text } })
        } else if (part.type === "tool-call-delta") {
          let block = toolBlocks.get(part.index)
          if (block === undefined) {
            out += close()
            block = next++
            toolBlocks.set(part.index, block)
            out += event("content_block_start", {
              index: block,
              content_block: { type: "tool_use", id: part.id ?? `call_${part.index}`, name: part.name ?? "", input: {} }
            })
            open = part.index
          }
          if (part.argumentsDelta !== "") {
            out += event("content_block_delta", { index: block, delta: { type: "input_json_delta", partial_json: part.argumentsDelta } })
          }
        } else {
          const response = part.response
          if (next === 0) {
            out += event("content_block_start", { index: 0, content_block: { type: "text", text: "" } })
            out += event("content_block_stop", { index: 0 })
          } else out += close()
          out += event("message_delta", {
            delta: { stop_reason: stopReason(response.finishReason), stop_sequence: null },
            usage: usageOf(response)
          })
          out += event("message_stop", {})
        }
      }
      return out
    },
    failure: (error) => Wire.sseText(render(failure(error)), "error"),
    tail: ""
  }
}

/**
 * The SSE body of a stream of parts, in Anthropic's event format. The events of the parts of one
 * pull of `parts` come as one Uint8Array (ADR 0066).
 *
 * @since 0.1.0
 * @category encoding
 */
export const sseBody = (
  parts: Stream.Stream<StreamPart.StreamPart, BridgeContract.BridgeFailure>,
  options: { readonly id: string; readonly model: string; readonly estimatedInputTokens: number }
): Stream.Stream<Uint8Array> =>
  SseAnswer.ofStream(parts, encoderOf(options, identity))

/**
 * The routes: `POST /v1/messages`, `POST /v1/messages/count_tokens`.
 *
 * @since 0.1.0
 * @category routes
 */
export const routes = (router: ModelRouter.ModelRouter): ReadonlyArray<Server.Route> => [
  {
    method: "POST",
    path: "/v1/messages",
    render,
    handler: Effect.gen(function*() {
      const messages = yield* Effect.flatMap(Server.bodyJson, toLlmRequest)
      const model = yield* router.bridge.modelFor(ModelRouter.targetOf(router, messages.model)).pipe(Effect.mapError(Failures.ofLlmError))
      const id = yield* Wire.randomId("msg_")
      if (!messages.stream) {
        const response = yield* model.generate(messages.request).pipe(Effect.mapError(Failures.ofLlmError))
        yield* Failures.note(response)
        return Server.json(message(id, response))
      }
      // The first pull decides the status: a call refused before any output is an HTTP error. The
      // parts are pulled in the request's scope (closed once the body is sent or cut).
      const pull = yield* Stream.toPull(model.stream(messages.request))
      const start = yield* SseAnswer.first(pull, Failures.noteFinish)
      if (start._tag === "Failure") return yield* Effect.fail(Failures.ofLlmError(start.error))
      return HttpServerResponse.stream(
        SseAnswer.body(
          pull,
          start,
          encoderOf({
            id,
            model: messages.model ?? model.defaultModel,
            estimatedInputTokens: Tokenizer.countRequest(messages.request)
          }, Failures.ofLlmError),
          Failures.noteFinish
        ),
        { contentType: "text/event-stream", headers: { "cache-control": "no-cache", "x-accel-buffering": "no" } }
      )
    }).pipe(Effect.catch((failure) => Effect.succeed(Server.failureResponse(failure, render))))
  },
  {
    method: "POST",
    path: "/v1/messages/count_tokens",
    render,
    handler: Effect.gen(function*() {
      const messages = yield* Effect.flatMap(Server.bodyJson, toLlmRequest)
      return Server.json({ input_tokens: Tokenizer.countRequest(messages.request) })
    }).pipe(Effect.catch((failure) => Effect.succeed(Server.failureResponse(failure, render))))
  }
]
