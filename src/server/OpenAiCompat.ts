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
 * Tool calls: `tools`, `tool_choice` and `tool_calls` pass through here once the tools work
 * lands in `LlmRequest`/`LlmResponse` (see {@link toLlmRequest} and {@link choiceMessage}).
 *
 * @since 0.1.0
 */
import { Clock, Effect, Option, Sink, Stream } from "effect"
import { HttpServerResponse } from "effect/http"
import type * as BridgeContract from "../bridge/BridgeContract.ts"
import type * as LlmRequest from "../LlmRequest.ts"
import type * as LlmResponse from "../LlmResponse.ts"
import type * as Message from "../Message.ts"
import type * as StreamPart from "../StreamPart.ts"
import * as Failures from "./internal/failures.ts"
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

/**
 * Reads a chat-completions body.
 *
 * @since 0.1.0
 * @category decoding
 */
export const toLlmRequest = (body: unknown): Effect.Effect<ChatRequest, BridgeContract.BridgeFailure> =>
  Effect.gen(function*() {
    if (!Wire.isRecord(body)) return yield* Effect.fail(Wire.invalid("the body must be a JSON object", "send {\"model\": ..., \"messages\": [...]}"))
    const raw = body.messages
    if (!Array.isArray(raw) || raw.length === 0) {
      return yield* Effect.fail(Wire.invalid("\"messages\" must be a non-empty array", "send \"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}]"))
    }
    const system: Array<string> = []
    const messages: Array<Message.Message> = []
    for (const [index, item] of raw.entries()) {
      if (!Wire.isRecord(item)) return yield* Effect.fail(Wire.invalid(`messages[${index}] must be an object`, "send {\"role\": ..., \"content\": ...}"))
      const role = roleOf(item.role)
      if (role === undefined) {
        return yield* Effect.fail(
          Wire.invalid(`messages[${index}].role is ${JSON.stringify(item.role)}`, "use system, developer, user, assistant or tool")
        )
      }
      const text = yield* Wire.textOf(item.content, `messages[${index}].content`)
      if (role === "system") system.push(text)
      else messages.push(Wire.message(role, text))
    }
    if (messages.length === 0) {
      return yield* Effect.fail(Wire.invalid("\"messages\" has no user message", "add {\"role\": \"user\", \"content\": \"...\"}"))
    }
    const maxTokens = (yield* Wire.optionalNumber(body, "max_completion_tokens")) ?? (yield* Wire.optionalNumber(body, "max_tokens"))
    const temperature = yield* Wire.optionalNumber(body, "temperature")
    const topP = yield* Wire.optionalNumber(body, "top_p")
    const stop = typeof body.stop === "string" ? [body.stop] : Array.isArray(body.stop) ? body.stop.filter((item): item is string => typeof item === "string") : undefined
    const model = yield* Wire.optionalString(body, "model")
    const streamOptions = Wire.isRecord(body.stream_options) ? body.stream_options : {}
    const request: LlmRequest.LlmRequest = {
      messages,
      ...(system.length > 0 ? { system: system.join("\n\n") } : {}),
      ...(maxTokens !== undefined ? { maxTokens } : {}),
      ...(temperature !== undefined ? { temperature } : {}),
      ...(topP !== undefined ? { topP } : {}),
      ...(stop !== undefined && stop.length > 0 ? { stop } : {})
    }
    return { model, request, stream: body.stream === true, includeUsage: streamOptions.include_usage === true }
  })

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
 * The assistant message of a response (tool calls join it here once tools land).
 *
 * @since 0.1.0
 * @category encoding
 */
export const choiceMessage = (response: LlmResponse.LlmResponse) => ({ role: "assistant", content: response.content, refusal: null })

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

/**
 * The SSE body of a stream of parts: a role chunk, a chunk per text delta, the finish chunk,
 * the usage chunk when asked, then `[DONE]`; a failure mid-stream is one `data: { error }`.
 *
 * @since 0.1.0
 * @category encoding
 */
export const sseBody = (
  parts: Stream.Stream<StreamPart.StreamPart, BridgeContract.BridgeFailure>,
  options: { readonly id: string; readonly created: number; readonly model: string; readonly includeUsage: boolean }
): Stream.Stream<Uint8Array> => {
  const { id, created, includeUsage } = options
  const head = Stream.succeed(Wire.sse(chunk(id, created, options.model, { role: "assistant", content: "" }, null)))
  const body = parts.pipe(
    Stream.flatMap((part) => {
      if (part.type === "text-delta") {
        return part.text === "" ? Stream.empty : Stream.succeed(Wire.sse(chunk(id, created, options.model, { content: part.text }, null)))
      }
      if (part.type === "finish") {
        const response = part.response
        const finish = Wire.sse(chunk(id, created, response.model, {}, finishReason(response.finishReason)))
        const usage = includeUsage
          ? [Wire.sse({ id, object: "chat.completion.chunk", created, model: response.model, choices: [], usage: usageOf(response) })]
          : []
        return Stream.fromIterable([finish, ...usage])
      }
      // tool-call deltas: passed through once the tools work lands.
      return Stream.empty
    }),
    Stream.catch((failure) => Stream.succeed(Wire.sse(render(failure))))
  )
  return Stream.concat(Stream.concat(head, body), Stream.succeed(Wire.sse("[DONE]")))
}

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
    handler: Effect.gen(function*() {
      const chat = yield* Effect.flatMap(Server.bodyJson, toLlmRequest)
      const model = yield* router.bridge.modelFor(ModelRouter.targetOf(router, chat.model)).pipe(Effect.mapError(Failures.ofLlmError))
      const id = yield* Wire.randomId("chatcmpl-")
      const created = Math.floor((yield* Clock.currentTimeMillis) / 1000)
      if (!chat.stream) {
        const response = yield* model.generate(chat.request).pipe(Effect.mapError(Failures.ofLlmError))
        yield* Failures.note(response)
        return Server.json(completion(id, created, response))
      }
      // The first part decides the status: a call refused before any output is an HTTP error.
      const parts = model.stream(chat.request).pipe(
        Stream.tap((part) => (part.type === "finish" ? Failures.note(part.response) : Effect.void)),
        Stream.mapError(Failures.ofLlmError)
      )
      const [first, rest] = yield* Stream.peel(parts, Sink.head())
      const all = Option.isSome(first) ? Stream.concat(Stream.succeed(first.value), rest) : rest
      return HttpServerResponse.stream(
        sseBody(all, { id, created, model: chat.model ?? model.defaultModel, includeUsage: chat.includeUsage }),
        { contentType: "text/event-stream", headers: { "cache-control": "no-cache", "x-accel-buffering": "no" } }
      )
    }).pipe(Effect.catch((failure) => Effect.succeed(Server.failureResponse(failure, render))))
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
