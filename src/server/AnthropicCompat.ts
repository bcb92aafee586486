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
 * `top_p`, `stop_sequences`; `thinking`, `metadata`, `tools` until tools land, and unknown
 * fields ignored. The `model` goes through the model router. Failures are Anthropic error JSON
 * (`{ type: "error", error: { type, message } }`) with the status of `HttpErrors`; a failure
 * after a stream has started is an `event: error`.
 *
 * The stream: `message_start` (input tokens estimated), `content_block_start`, `ping`, a
 * `content_block_delta` per text delta, `content_block_stop`, `message_delta` (the stop reason
 * and the provider's usage, input tokens included), `message_stop`.
 *
 * @since 0.1.0
 */
import { Effect, Option, Sink, Stream } from "effect"
import { HttpServerResponse } from "effect/http"
import type * as BridgeContract from "../bridge/BridgeContract.ts"
import type * as LlmRequest from "../LlmRequest.ts"
import type * as LlmResponse from "../LlmResponse.ts"
import type * as Message from "../Message.ts"
import type * as StreamPart from "../StreamPart.ts"
import * as Tokenizer from "../Tokenizer.ts"
import * as Failures from "./internal/failures.ts"
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

/**
 * Reads a messages body (`max_tokens` optional here: count_tokens has none).
 *
 * @since 0.1.0
 * @category decoding
 */
export const toLlmRequest = (body: unknown): Effect.Effect<MessagesRequest, BridgeContract.BridgeFailure> =>
  Effect.gen(function*() {
    if (!Wire.isRecord(body)) {
      return yield* Effect.fail(Wire.invalid("the body must be a JSON object", "send {\"model\": ..., \"max_tokens\": ..., \"messages\": [...]}"))
    }
    const raw = body.messages
    if (!Array.isArray(raw) || raw.length === 0) {
      return yield* Effect.fail(Wire.invalid("\"messages\" must be a non-empty array", "send \"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}]"))
    }
    const messages: Array<Message.Message> = []
    // Claude Code also sends "system" messages among the others: they join the system prompt.
    const systemTexts: Array<string> = []
    if (body.system !== undefined && body.system !== null) systemTexts.push(yield* Wire.textOf(body.system, "system"))
    for (const [index, item] of raw.entries()) {
      if (!Wire.isRecord(item) || (item.role !== "user" && item.role !== "assistant" && item.role !== "system")) {
        return yield* Effect.fail(
          Wire.invalid(`messages[${index}] must have role "user" or "assistant"`, "send {\"role\": \"user\", \"content\": ...}")
        )
      }
      const text = yield* Wire.textOf(item.content, `messages[${index}].content`)
      if (item.role === "system") systemTexts.push(text)
      else messages.push(Wire.message(item.role, text))
    }
    if (messages.length === 0) {
      return yield* Effect.fail(Wire.invalid("\"messages\" has no user message", "add {\"role\": \"user\", \"content\": \"...\"}"))
    }
    const joined = systemTexts.filter((text) => text !== "").join("\n\n")
    const system = joined === "" ? undefined : joined
    const maxTokens = yield* Wire.optionalNumber(body, "max_tokens")
    const temperature = yield* Wire.optionalNumber(body, "temperature")
    const topP = yield* Wire.optionalNumber(body, "top_p")
    const stop = Array.isArray(body.stop_sequences)
      ? body.stop_sequences.filter((item): item is string => typeof item === "string")
      : undefined
    const model = yield* Wire.optionalString(body, "model")
    const request: LlmRequest.LlmRequest = {
      messages,
      ...(system !== undefined && system !== "" ? { system } : {}),
      ...(maxTokens !== undefined && maxTokens > 0 ? { maxTokens: Math.floor(maxTokens) } : {}),
      ...(temperature !== undefined ? { temperature: Math.min(temperature, 1) } : {}),
      ...(topP !== undefined ? { topP } : {}),
      ...(stop !== undefined && stop.length > 0 ? { stop } : {})
    }
    return { model, request, stream: body.stream === true }
  })

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

/**
 * A `message` document (tool_use blocks join its content once tools land).
 *
 * @since 0.1.0
 * @category encoding
 */
export const message = (id: string, response: LlmResponse.LlmResponse) => ({
  id,
  type: "message",
  role: "assistant",
  model: response.model,
  content: [{ type: "text", text: response.content }],
  stop_reason: stopReason(response.finishReason),
  stop_sequence: null,
  usage: usageOf(response)
})

const render = (failure: BridgeContract.BridgeFailure) => HttpErrors.anthropicBody(failure)

/**
 * The SSE body of a stream of parts, in Anthropic's event format.
 *
 * @since 0.1.0
 * @category encoding
 */
export const sseBody = (
  parts: Stream.Stream<StreamPart.StreamPart, BridgeContract.BridgeFailure>,
  options: { readonly id: string; readonly model: string; readonly estimatedInputTokens: number }
): Stream.Stream<Uint8Array> => {
  const event = (type: string, data: object) => Wire.sse({ type, ...data }, type)
  const head = Stream.fromIterable([
    event("message_start", {
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
    }),
    event("content_block_start", { index: 0, content_block: { type: "text", text: "" } }),
    event("ping", {})
  ])
  const body = parts.pipe(
    Stream.flatMap((part) => {
      if (part.type === "text-delta") {
        return part.text === ""
          ? Stream.empty
          : Stream.succeed(event("content_block_delta", { index: 0, delta: { type: "text_delta", text: part.text } }))
      }
      if (part.type === "finish") {
        const response = part.response
        return Stream.fromIterable([
          event("content_block_stop", { index: 0 }),
          event("message_delta", {
            delta: { stop_reason: stopReason(response.finishReason), stop_sequence: null },
            usage: usageOf(response)
          }),
          event("message_stop", {})
        ])
      }
      // tool-call deltas: tool_use blocks once the tools work lands.
      return Stream.empty
    }),
    Stream.catch((failure) => Stream.succeed(Wire.sse(render(failure), "error")))
  )
  return Stream.concat(head, body)
}

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
      const parts = model.stream(messages.request).pipe(
        Stream.tap((part) => (part.type === "finish" ? Failures.note(part.response) : Effect.void)),
        Stream.mapError(Failures.ofLlmError)
      )
      // The first part decides the status: a call refused before any output is an HTTP error.
      const [first, rest] = yield* Stream.peel(parts, Sink.head())
      const all = Option.isSome(first) ? Stream.concat(Stream.succeed(first.value), rest) : rest
      return HttpServerResponse.stream(
        sseBody(all, {
          id,
          model: messages.model ?? model.defaultModel,
          estimatedInputTokens: Tokenizer.countRequest(messages.request)
        }),
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
