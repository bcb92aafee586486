/**
 * A fake Anthropic Messages API for running the real `claude` binary offline.
 *
 * The CLI calls `POST /v1/messages?beta=true` with `stream: true`; the fake answers with a
 * standard SSE stream (message_start, content_block_start, content_block_delta,
 * content_block_stop, message_delta with usage, message_stop), one event per write, at once or
 * paced (a pause between the deltas, then an end, a dropped connection or a hang). A request
 * with `stream: false` (the CLI's fallback after a stream broke) gets the message as JSON. Any
 * other request (token counting, or an endpoint a later CLI version adds) is recorded and
 * answered with a harmless empty JSON object, so the binary never needs the internet. Faults: an
 * HTTP status with an Anthropic error body, a reply that never comes, a dropped connection, or
 * a body that is not JSON. Built on the scriptable server of the Anthropic provider's tests.
 */
import { Effect, type Scope } from "effect"
import * as FakeServer from "../anthropic/FakeAnthropicServer.ts"

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
  | {
    /** The answer's text in these deltas, `pauseMs` apart; then the end, a dropped connection or a hang. */
    readonly _tag: "Paced"
    readonly texts: ReadonlyArray<string>
    readonly pauseMs: number
    readonly then?: "end" | "destroy" | "hang"
    /** The answer to a request without streaming (the CLI's fallback after a dropped stream). */
    readonly fallbackText?: string
    /** Write nothing after the first delta (nor end, drop or hang) until this resolves. */
    readonly holdAfterFirstDelta?: Promise<void>
  }
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

/** The SSE events of a streamed message, one per delta text. */
export const events = (model: string, answer: Answer, texts: ReadonlyArray<string> = [answer.text]): Array<string> => [
  FakeServer.event("message_start", {
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
  FakeServer.event("content_block_start", { index: 0, content_block: { type: "text", text: "" } }),
  ...texts.map((text) => FakeServer.event("content_block_delta", { index: 0, delta: { type: "text_delta", text } })),
  FakeServer.event("content_block_stop", { index: 0 }),
  FakeServer.event("message_delta", {
    delta: { stop_reason: answer.stopReason, stop_sequence: null },
    usage: { output_tokens: answer.outputTokens }
  }),
  FakeServer.event("message_stop")
]

/** The SSE body of a streamed message. */
export const sse = (model: string, answer: Answer): string => events(model, answer).join("")

/** The message as JSON (a request without streaming). */
const message = (model: string, answer: Answer) => ({
  id: "msg_fake_2",
  type: "message",
  role: "assistant",
  model,
  content: [{ type: "text", text: answer.text }],
  stop_reason: answer.stopReason,
  stop_sequence: null,
  usage: { input_tokens: answer.inputTokens, output_tokens: answer.outputTokens }
})

export interface FakeAnthropicApi {
  readonly origin: string
  readonly server: FakeServer.FakeServer
  /** The message requests received (the bodies of `POST /v1/messages`). */
  readonly messageRequests: () => ReadonlyArray<Record<string, unknown>>
  /** Every other request, as `METHOD path`. */
  readonly otherRequests: () => ReadonlyArray<string>
  readonly setMode: (mode: Mode) => void
}

const isMessages = (request: FakeServer.Recorded) => request.method === "POST" && /^\/v1\/messages(\?|$)/.test(request.url)

export const start = (initial: Mode = { _tag: "Answer", answer: defaultAnswer }): Effect.Effect<
  FakeAnthropicApi,
  never,
  Scope.Scope
> =>
  Effect.gen(function*() {
    let mode = initial
    const handler: FakeServer.Handler = (request) => {
      if (!isMessages(request)) {
        // Another endpoint (token counting, or one a later CLI version adds): say so, answer harmlessly.
        console.log(`fake Anthropic API: answered ${request.method} ${request.url} with {}`)
        return { _tag: "Json", body: {} }
      }
      const body = (typeof request.body === "object" && request.body !== null ? request.body : {}) as Record<string, unknown>
      const model = typeof body.model === "string" ? body.model : "claude-fake"
      switch (mode._tag) {
        case "Hang":
          return { _tag: "Hang" }
        case "Destroy":
          return { _tag: "Destroy" }
        case "Malformed":
          return { _tag: "Json", body: "this is not JSON {" }
        case "Status":
          return {
            _tag: "Json",
            status: mode.status,
            headers: {
              "request-id": "req_fake_error",
              ...(mode.retryAfterSeconds !== undefined ? { "retry-after": String(mode.retryAfterSeconds) } : {})
            },
            body: { type: "error", error: { type: ERROR_TYPES[mode.status] ?? "api_error", message: mode.message } }
          }
        case "Answer": {
          const answer = typeof mode.answer === "function" ? mode.answer(body) : mode.answer
          if (body.stream === false) return { _tag: "Json", body: message(model, answer) }
          return { _tag: "Sse", headers: { "request-id": "req_fake_1" }, chunks: events(model, answer) }
        }
        case "Paced": {
          const answer = { ...defaultAnswer, text: mode.texts.join("") }
          if (body.stream === false) return { _tag: "Json", body: message(model, { ...answer, text: mode.fallbackText ?? answer.text }) }
          const all = events(model, answer, mode.texts)
          // A stream cut short ends after the deltas: no stop events.
          const chunks = mode.then === undefined || mode.then === "end" ? all : all.slice(0, 2 + mode.texts.length)
          return {
            _tag: "Sse",
            headers: { "request-id": "req_fake_1" },
            chunks,
            pauseMs: mode.pauseMs,
            then: mode.then ?? "end",
            // message_start and content_block_start come before the first delta
            ...(mode.holdAfterFirstDelta !== undefined ? { hold: { afterChunks: 3, until: mode.holdAfterFirstDelta } } : {})
          }
        }
      }
    }
    const server = yield* FakeServer.start(handler)
    return {
      origin: server.origin,
      server,
      messageRequests: () => server.requests.filter(isMessages).map((request) => request.body as Record<string, unknown>),
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
