/**
 * The OpenAI-compatible door of `llm-connect serve`: `POST /v1/chat/completions` (JSON, and
 * server-sent events with `stream: true`, the usage chunk last when
 * `stream_options.include_usage`) and `GET /v1/models`, in OpenAI's wire format so that the
 * official `openai` client works against it unchanged.
 *
 * A request is read leniently: `messages` (roles `system`/`developer` become the system prompt;
 * `user`, `assistant`, `tool` are the conversation; content as a string or text parts),
 * `max_completion_tokens` or `max_tokens`, `temperature`, `top_p`, `stop`; other fields are
 * ignored. Its `model` goes through the model router (`ModelRouter`). Failures are OpenAI error
 * JSON (`{ error: { message, type, param, code } }`, `code` our `errorType`) with the status of
 * `HttpErrors`; a failure after a stream has started is sent as one `data: { error }` event.
 *
 * Tool calls pass through: `tools` (`type: "function"`; `parameters` the JSON Schema as given,
 * `{ type: object, properties: {} }` when absent) and `tool_choice` (`auto`, `none`, `required`,
 * `{ type: "function", function: { name } }`) become the request's `tools`/`toolChoice`; an
 * assistant message's `tool_calls` become tool-call parts (arguments parsed from their JSON text,
 * kept as the text when it is not JSON) and each `tool` message a tool result linked by
 * `tool_call_id` (the tool's name taken from the call it answers). Out, the response's tool calls
 * are `message.tool_calls` (arguments as JSON text; `content` null when there is no text) with
 * `finish_reason: "tool_calls"`; streamed, each tool-call delta is a `delta.tool_calls` entry by
 * `index` (`id`, `type` and `function.name` with a call's first fragment). The legacy
 * `functions`/`function_call` fields are ignored.
 *
 * @since 0.1.0
 */
import { Clock, Effect, identity, Random, Result, Stream } from "effect"
import { HttpServerResponse } from "effect/http"
import type * as Bridge from "../bridge/Bridge.ts"
import type * as BridgeContract from "../bridge/BridgeContract.ts"
import type * as LlmRequest from "../LlmRequest.ts"
import * as LlmResponse from "../LlmResponse.ts"
import type * as Message from "../Message.ts"
import type * as StreamPart from "../StreamPart.ts"
import * as Tool from "../Tool.ts"
import * as ToolCall from "../ToolCall.ts"
import * as Failures from "./internal/failures.ts"
import * as SseAnswer from "./internal/sseAnswer.ts"
import * as Wire from "./internal/wire.ts"
import * as HttpErrors from "./HttpErrors.ts"
import * as ModelRouter from "./ModelRouter.ts"
import * as Server from "./Server.ts"

/**
 * A chat-completions request read into the router's model name, the `LlmRequest` and the
 * stream options.
 *
 * @since 0.1.0
 * @category models
 */
export interface ChatRequest {
  readonly model: string | undefined
  readonly request: LlmRequest.LlmRequest
  readonly stream: boolean
  readonly includeUsage: boolean
}

const roleOf = (role: unknown): Message.Role | "system" | undefined =>
  role === "system" || role === "developer" ? "system" : role === "user" || role === "assistant" || role === "tool" ? role : undefined

// `tools`: function declarations only (OpenAI's `custom` tools have no JSON Schema to pass on).
const toolsOf = (raw: unknown): Result.Result<ReadonlyArray<Tool.Definition> | undefined, BridgeContract.BridgeFailure> =>
  Result.gen(function*() {
    if (raw === undefined || raw === null) return undefined
    if (!Array.isArray(raw)) return yield* Result.fail(Wire.invalid("\"tools\" must be an array", "send \"tools\": [{\"type\": \"function\", \"function\": {...}}]"))
    const out: Array<Tool.Definition> = []
    for (const [index, item] of raw.entries()) {
      const where = `tools[${index}]`
      if (!Wire.isRecord(item) || item.type !== "function" || !Wire.isRecord(item.function)) {
        return yield* Result.fail(
          Wire.invalid(`${where} is not a function tool`, "send {\"type\": \"function\", \"function\": {\"name\": ..., \"parameters\": {...}}}")
        )
      }
      out.push(yield* Wire.toolDefinition(`${where}.function`, item.function, "parameters"))
    }
    return out
  })

const toolChoiceOf = (raw: unknown): Result.Result<Tool.ToolChoice | undefined, BridgeContract.BridgeFailure> => {
  if (raw === undefined || raw === null) return Result.succeed(undefined)
  if (raw === "auto" || raw === "none" || raw === "required") return Result.succeed(raw)
  if (Wire.isRecord(raw) && raw.type === "function" && Wire.isRecord(raw.function) && typeof raw.function.name === "string") {
    return Result.succeed({ tool: raw.function.name })
  }
  return Result.fail(
    Wire.invalid(`"tool_choice" is ${JSON.stringify(raw)}`, "use \"auto\", \"none\", \"required\" or {\"type\": \"function\", \"function\": {\"name\": ...}}")
  )
}

// An assistant's `tool_calls`: arguments parsed from their JSON text (kept as text when not JSON).
const toolCallParts = (
  raw: ReadonlyArray<unknown>,
  where: string
): Result.Result<ReadonlyArray<Message.ToolCallPart>, BridgeContract.BridgeFailure> =>
  Result.gen(function*() {
    const out: Array<Message.ToolCallPart> = []
    for (const [index, item] of raw.entries()) {
      if (!Wire.isRecord(item) || typeof item.id !== "string" || !Wire.isRecord(item.function) || typeof item.function.name !== "string") {
        return yield* Result.fail(
          Wire.invalid(`${where}[${index}] must be {"id", "type": "function", "function": {"name", "arguments"}}`, "send the tool call as the model returned it")
        )
      }
      const args = item.function.arguments
      const text = typeof args === "string" ? args : JSON.stringify(args ?? {}) ?? "{}"
      out.push(ToolCall.toPart(ToolCall.fromJsonText(item.id, item.function.name, text)))
    }
    return out
  })

// The body read synchronously: plain code over `Result`s (no effect step, no generator per field).
const readRequest = (body: unknown): Result.Result<ChatRequest, BridgeContract.BridgeFailure> => {
  if (!Wire.isRecord(body)) return Result.fail(Wire.invalid("the body must be a JSON object", "send {\"model\": ..., \"messages\": [...]}"))
  const raw = body.messages
  if (!Array.isArray(raw) || raw.length === 0) {
    return Result.fail(Wire.invalid("\"messages\" must be a non-empty array", "send \"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}]"))
  }
  const system: Array<string> = []
  const messages: Array<Message.Message> = []
  // The names of the tool calls seen so far, by id: a `tool` message names only the call's id.
  const callNames = new Map<string, string>()
  for (let index = 0; index < raw.length; index++) {
    const item: unknown = raw[index]
    if (!Wire.isRecord(item)) return Result.fail(Wire.invalid(`messages[${index}] must be an object`, "send {\"role\": ..., \"content\": ...}"))
    const role = roleOf(item.role)
    if (role === undefined) {
      return Result.fail(Wire.invalid(`messages[${index}].role is ${JSON.stringify(item.role)}`, "use system, developer, user, assistant or tool"))
    }
    const content = Wire.textOf(item.content, `messages[${index}].content`)
    if (Result.isFailure(content)) return Result.fail(content.failure)
    const text = content.success
    if (role === "system") system.push(text)
    else if (role === "assistant" && Array.isArray(item.tool_calls) && item.tool_calls.length > 0) {
      const parts = toolCallParts(item.tool_calls, `messages[${index}].tool_calls`)
      if (Result.isFailure(parts)) return Result.fail(parts.failure)
      const calls = parts.success
      for (const call of calls) callNames.set(call.id, call.name)
      messages.push({ role: "assistant", content: [...(text === "" ? [] : [{ type: "text" as const, text }]), ...calls] })
    } else if (role === "tool") {
      const id = item.tool_call_id
      if (typeof id !== "string" || id === "") {
        return Result.fail(
          Wire.invalid(`messages[${index}].tool_call_id is missing`, "send the id of the assistant's tool call this message answers as \"tool_call_id\"")
        )
      }
      const result: Message.ToolResultPart = { type: "tool-result", id, name: callNames.get(id) ?? "", result: text }
      const last = messages.at(-1)
      // Consecutive tool messages answer one assistant turn: one message of results.
      if (last !== undefined && last.role === "tool" && typeof last.content !== "string") {
        messages[messages.length - 1] = { role: "tool", content: [...last.content, result] }
      } else messages.push({ role: "tool", content: [result] })
    } else messages.push(Wire.message(role, text))
  }
  if (messages.length === 0) {
    return Result.fail(Wire.invalid("\"messages\" has no user message", "add {\"role\": \"user\", \"content\": \"...\"}"))
  }
  const maxCompletionTokens = Wire.optionalNumber(body, "max_completion_tokens")
  if (Result.isFailure(maxCompletionTokens)) return Result.fail(maxCompletionTokens.failure)
  const maxTokensField = maxCompletionTokens.success === undefined ? Wire.optionalNumber(body, "max_tokens") : maxCompletionTokens
  if (Result.isFailure(maxTokensField)) return Result.fail(maxTokensField.failure)
  const temperature = Wire.optionalNumber(body, "temperature")
  if (Result.isFailure(temperature)) return Result.fail(temperature.failure)
  const topP = Wire.optionalNumber(body, "top_p")
  if (Result.isFailure(topP)) return Result.fail(topP.failure)
  const stop = typeof body.stop === "string" ? [body.stop] : Array.isArray(body.stop) ? body.stop.filter((item): item is string => typeof item === "string") : undefined
  const model = Wire.optionalString(body, "model")
  if (Result.isFailure(model)) return Result.fail(model.failure)
  const streamOptions = Wire.isRecord(body.stream_options) ? body.stream_options : {}
  const declared = Wire.declaredTools(body.tools === undefined || body.tools === null ? Result.succeed(undefined) : toolsOf(body.tools), toolChoiceOf(body.tool_choice))
  if (Result.isFailure(declared)) return Result.fail(declared.failure)
  const { toolChoice, tools } = declared.success
  // Built field by field (no object spread per optional field).
  const request: { -readonly [K in keyof LlmRequest.LlmRequest]: LlmRequest.LlmRequest[K] } = { messages }
  if (system.length > 0) request.system = system.join("\n\n")
  if (maxTokensField.success !== undefined) request.maxTokens = maxTokensField.success
  if (temperature.success !== undefined) request.temperature = temperature.success
  if (topP.success !== undefined) request.topP = topP.success
  if (stop !== undefined && stop.length > 0) request.stop = stop
  if (tools !== undefined && tools.length > 0) request.tools = tools
  if (toolChoice !== undefined) request.toolChoice = toolChoice
  return Result.succeed({ model: model.success, request, stream: body.stream === true, includeUsage: streamOptions.include_usage === true })
}

/**
 * Reads a chat-completions body.
 *
 * @since 0.1.0
 * @category decoding
 */
export const toLlmRequest = (body: unknown): Effect.Effect<ChatRequest, BridgeContract.BridgeFailure> =>
  Effect.fromResult(readRequest(body))

/**
 * OpenAI's `finish_reason` of ours.
 *
 * @since 0.1.0
 * @category encoding
 */
export const finishReason = (reason: LlmResponse.FinishReason): string =>
  reason === "length" ? "length" : reason === "content-filter" ? "content_filter" : reason === "tool-calls" ? "tool_calls" : "stop"

const usageOf = (response: LlmResponse.LlmResponse) => ({
  prompt_tokens: response.usage.inputTokens,
  completion_tokens: response.usage.outputTokens,
  total_tokens: response.usage.inputTokens + response.usage.outputTokens
})

/**
 * The assistant message of a response: its text, and its tool calls as `tool_calls` (arguments
 * as JSON text; `content` null when a call comes with no text, as OpenAI sends it).
 *
 * @since 0.1.0
 * @category encoding
 */
export const choiceMessage = (response: LlmResponse.LlmResponse) => {
  const calls = LlmResponse.toolCallsOf(response)
  if (calls.length === 0) return { role: "assistant", content: response.content, refusal: null }
  return {
    role: "assistant",
    content: response.content === "" ? null : response.content,
    refusal: null,
    tool_calls: calls.map((call) => ({ id: call.id, type: "function", function: { name: call.name, arguments: ToolCall.argumentsText(call) } }))
  }
}

/**
 * A `chat.completion` document.
 *
 * @since 0.1.0
 * @category encoding
 */
export const completion = (id: string, created: number, response: LlmResponse.LlmResponse) => ({
  id,
  object: "chat.completion",
  created,
  model: response.model,
  choices: [{ index: 0, message: choiceMessage(response), logprobs: null, finish_reason: finishReason(response.finishReason) }],
  usage: usageOf(response)
})

const chunk = (id: string, created: number, model: string, delta: object, finish: string | null) => ({
  id,
  object: "chat.completion.chunk",
  created,
  model,
  choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }]
})

const render = (failure: BridgeContract.BridgeFailure) => HttpErrors.openAiBody(failure)

// The events of one pull's parts (ADR 0066: joined into one write): a chunk per text delta and per
// tool-call delta (`delta.tool_calls`), the finish chunk, the usage chunk when asked.
const encoderOf = <E>(
  options: { readonly id: string; readonly created: number; readonly model: string; readonly includeUsage: boolean },
  failure: (error: E) => BridgeContract.BridgeFailure
): SseAnswer.Encoder<StreamPart.StreamPart, E> => {
  const { id, created, includeUsage } = options
  return {
    head: Wire.sseText(chunk(id, created, options.model, { role: "assistant", content: "" }, null)),
    parts: (parts) => {
      let text = ""
      for (const part of parts) {
        if (part.type === "text-delta") {
          if (part.text !== "") text += Wire.sseText(chunk(id, created, options.model, { content: part.text }, null))
        } else if (part.type === "finish") {
          const response = part.response
          text += Wire.sseText(chunk(id, created, response.model, {}, finishReason(response.finishReason)))
          if (includeUsage) {
            text += Wire.sseText({ id, object: "chat.completion.chunk", created, model: response.model, choices: [], usage: usageOf(response) })
          }
        } else {
          // A tool-call delta: one `delta.tool_calls` entry by index, id/type/name with its first fragment.
          const entry = {
            index: part.index,
            ...(part.id !== undefined ? { id: part.id, type: "function" } : {}),
            function: { ...(part.name !== undefined ? { name: part.name } : {}), arguments: part.argumentsDelta }
          }
          text += Wire.sseText(chunk(id, created, options.model, { tool_calls: [entry] }, null))
        }
      }
      return text
    },
    failure: (error) => Wire.sseText(render(failure(error))),
    tail: Wire.sseText("[DONE]")
  }
}

/**
 * The SSE body of a stream of parts: a role chunk, a chunk per text delta and per tool-call
 * delta (`delta.tool_calls`), the finish chunk,
 * the usage chunk when asked, then `[DONE]`; a failure mid-stream is one `data: { error }`.
 * The events of the parts of one pull of `parts` come as one Uint8Array (ADR 0066).
 *
 * @since 0.1.0
 * @category encoding
 */
export const sseBody = (
  parts: Stream.Stream<StreamPart.StreamPart, BridgeContract.BridgeFailure>,
  options: { readonly id: string; readonly created: number; readonly model: string; readonly includeUsage: boolean }
): Stream.Stream<Uint8Array> =>
  SseAnswer.ofStream(parts, encoderOf(options, identity))

const sseHeaders = { contentType: "text/event-stream", headers: { "cache-control": "no-cache", "x-accel-buffering": "no" } }

// The streamed answer: the first pull decides the status (a call refused before any output is an
// HTTP error), then server-sent events, the parts pulled in the request's scope (closed once the
// body is sent or cut: the provider's request with it).
const streamed = (chat: ChatRequest, model: Bridge.BoundModel, id: string, created: number) =>
  Effect.flatMap(Stream.toPull(model.stream(chat.request)), (pull) =>
    Effect.flatMap(SseAnswer.first(pull, Failures.noteFinish), (start) =>
      start._tag === "Failure"
        ? Effect.fail(Failures.ofLlmError(start.error))
        : Effect.succeed(HttpServerResponse.stream(
          SseAnswer.body(
            pull,
            start,
            encoderOf({ id, created, model: chat.model ?? model.defaultModel, includeUsage: chat.includeUsage }, Failures.ofLlmError),
            Failures.noteFinish
          ),
          sseHeaders
        ))))

/**
 * The routes: `POST /v1/chat/completions`, `GET /v1/models`.
 *
 * @since 0.1.0
 * @category routes
 */
export const routes = (router: ModelRouter.ModelRouter): ReadonlyArray<Server.Route> => [
  {
    method: "POST",
    path: "/v1/chat/completions",
    render,
    // A chain of steps rather than a generator (stop 27): the body read, the model looked up, the id
    // and time taken from the fiber's Random and Clock in one step, the call.
    handler: Effect.catch(
      Effect.flatMap(Server.bodyJson, (body) => {
        const read = readRequest(body)
        if (Result.isFailure(read)) return Effect.fail(read.failure)
        const chat = read.success
        return Effect.flatMap(
          Effect.mapError(router.bridge.modelFor(ModelRouter.targetOf(router, chat.model)), Failures.ofLlmError),
          (model) =>
            Effect.withFiber((fiber) => {
              const id = Wire.idWith(fiber.getRef(Random.Random), "chatcmpl-")
              const created = Math.floor(fiber.getRef(Clock.Clock).currentTimeMillisUnsafe() / 1000)
              if (chat.stream) return streamed(chat, model, id, created)
              return Effect.flatMap(Effect.mapError(model.generate(chat.request), Failures.ofLlmError), (response) =>
                Effect.as(Failures.note(response), Server.json(completion(id, created, response))))
            })
        )
      }),
      (failure) => Effect.succeed(Server.failureResponse(failure, render))
    )
  },
  {
    method: "GET",
    path: "/v1/models",
    render,
    handler: Effect.succeed(
      Server.json({
        object: "list",
        data: ModelRouter.listed(router).map((model) => ({ id: model.id, object: "model", created: 0, owned_by: model.ownedBy }))
      })
    )
  }
]
