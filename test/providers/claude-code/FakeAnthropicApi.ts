/**
 * A fake Anthropic Messages API for running the real `claude` binary offline.
 *
 * The CLI calls `POST /v1/messages?beta=true` with `stream: true`; the fake answers with a
 * standard SSE stream (message_start, content_block_start, content_block_delta,
 * content_block_stop, message_delta with usage, message_stop). Any other request (token
 * counting, or an endpoint a later CLI version adds) is recorded and answered with a harmless
 * empty JSON object, so the binary never needs the internet. Faults: an HTTP status with an
 * Anthropic error body, a reply that never comes, a dropped connection, or a body that is not
 * JSON.
 */
import { Effect, type Scope } from "effect"
import * as FakeHttpServer from "../FakeHttpServer.ts"

export interface Answer {
  readonly text: string
  readonly inputTokens: number
  readonly outputTokens: number
  readonly cacheReadTokens: number
  readonly cacheCreationTokens: number
  readonly stopReason: string
}

export const defaultAnswer: Answer = {
  text: "Hello from the fake Anthropic API",
  inputTokens: 12,
  outputTokens: 7,
  cacheReadTokens: 3,
  cacheCreationTokens: 2,
  stopReason: "end_turn"
}

export type Mode =
  | { readonly _tag: "Answer"; readonly answer: Answer | ((body: Record<string, unknown>) => Answer) }
  | { readonly _tag: "Status"; readonly status: number; readonly message: string; readonly retryAfterSeconds?: number }
  | { readonly _tag: "Hang" }
  | { readonly _tag: "Destroy" }
  | { readonly _tag: "Malformed" }

const ERROR_TYPES: Readonly<Record<number, string>> = {
  400: "invalid_request_error",
  401: "authentication_error",
  403: "permission_error",
  404: "not_found_error",
  429: "rate_limit_error",
  500: "api_error",
  529: "overloaded_error"
}

/** The SSE body of a streamed message. */
export const sse = (model: string, answer: Answer): string => {
  const event = (type: string, data: Record<string, unknown>) =>
    `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`
  return [
    event("message_start", {
      message: {
        id: "msg_fake_1",
        type: "message",
        role: "assistant",
        model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: {
          input_tokens: answer.inputTokens,
          output_tokens: 1,
          cache_read_input_tokens: answer.cacheReadTokens,
          cache_creation_input_tokens: answer.cacheCreationTokens
        }
      }
    }),
    event("content_block_start", { index: 0, content_block: { type: "text", text: "" } }),
    event("content_block_delta", { index: 0, delta: { type: "text_delta", text: answer.text } }),
    event("content_block_stop", { index: 0 }),
    event("message_delta", {
      delta: { stop_reason: answer.stopReason, stop_sequence: null },
      usage: { output_tokens: answer.outputTokens }
    }),
    event("message_stop", {})
  ].join("")
}

export interface FakeAnthropicApi {
  readonly origin: string
  readonly server: FakeHttpServer.FakeServer
  /** The message requests received (the bodies of `POST /v1/messages`). */
  readonly messageRequests: () => ReadonlyArray<Record<string, unknown>>
  /** Every other request, as `METHOD path`. */
  readonly otherRequests: () => ReadonlyArray<string>
  readonly setMode: (mode: Mode) => void
}

const isMessages = (request: FakeHttpServer.Recorded) =>
  request.method === "POST" && /^\/v1\/messages(\?|$)/.test(request.url)

export const start = (initial: Mode = { _tag: "Answer", answer: defaultAnswer }): Effect.Effect<
  FakeAnthropicApi,
  never,
  Scope.Scope
> =>
  Effect.gen(function*() {
    let mode = initial
    const handler: FakeHttpServer.Handler = (request) => {
      if (!isMessages(request)) {
        // Another endpoint (token counting, or one a later CLI version adds): say so, answer harmlessly.
        console.log(`fake Anthropic API: answered ${request.method} ${request.url} with {}`)
        return { status: 200, body: {} }
      }
      switch (mode._tag) {
        case "Hang":
          return { hang: true }
        case "Destroy":
          return { destroy: true }
        case "Malformed":
          return { status: 200, headers: { "content-type": "application/json" }, body: "this is not JSON {" }
        case "Status":
          return {
            status: mode.status,
            headers: {
              "request-id": "req_fake_error",
              ...(mode.retryAfterSeconds !== undefined ? { "retry-after": String(mode.retryAfterSeconds) } : {})
            },
            body: { type: "error", error: { type: ERROR_TYPES[mode.status] ?? "api_error", message: mode.message } }
          }
        case "Answer": {
          const body = (typeof request.body === "object" && request.body !== null ? request.body : {}) as Record<string, unknown>
          const model = typeof body.model === "string" ? body.model : "claude-fake"
          const answer = typeof mode.answer === "function" ? mode.answer(body) : mode.answer
          return {
            status: 200,
            headers: { "content-type": "text/event-stream", "request-id": "req_fake_1" },
            body: sse(model, answer)
          }
        }
      }
    }
    const server = yield* FakeHttpServer.start(handler)
    return {
      origin: server.origin,
      server,
      messageRequests: () =>
        server.requests.filter(isMessages).map((request) => request.body as Record<string, unknown>),
      otherRequests: () => server.requests.filter((request) => !isMessages(request)).map((r) => `${r.method} ${r.url}`),
      setMode: (next) => {
        mode = next
      }
    }
  })

/**
 * An answer whose usage depends on the request, like a real API's: input tokens from the length
 * of the system prompt and messages (about 4 characters a token), output tokens from the text.
 */
export const proportionalAnswer = (text: string) => (body: Record<string, unknown>): Answer => ({
  ...defaultAnswer,
  text,
  inputTokens: Math.max(1, Math.ceil((systemTexts(body).join("").length + userTexts(body).join("").length) / 4)),
  outputTokens: Math.max(1, Math.ceil(text.length / 4)),
  cacheReadTokens: 0,
  cacheCreationTokens: 0
})

/** The texts of a message request's system blocks. */
export const systemTexts = (body: Record<string, unknown>): ReadonlyArray<string> => {
  const system = body.system
  if (typeof system === "string") return [system]
  if (!Array.isArray(system)) return []
  return system.flatMap((block: unknown) =>
    typeof block === "object" && block !== null && typeof (block as { text?: unknown }).text === "string"
      ? [(block as { text: string }).text]
      : []
  )
}

/** The texts of a message request's user messages. */
export const userTexts = (body: Record<string, unknown>): ReadonlyArray<string> => {
  const messages = Array.isArray(body.messages) ? body.messages : []
  return messages.flatMap((message: unknown) => {
    if (typeof message !== "object" || message === null) return []
    const { content, role } = message as { role?: unknown; content?: unknown }
    if (role !== "user") return []
    if (typeof content === "string") return [content]
    if (!Array.isArray(content)) return []
    return content.flatMap((block: unknown) =>
      typeof block === "object" && block !== null && typeof (block as { text?: unknown }).text === "string"
        ? [(block as { text: string }).text]
        : []
    )
  })
}
