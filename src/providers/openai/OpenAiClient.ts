/**
 * A small HTTP client for the OpenAI chat-completions protocol, on Effect's `HttpClient`.
 *
 * It sends one `POST {baseUrl}/chat/completions` (the path joined before the base URL's query, so
 * a gateway's `?key=...` stays a query parameter; see `BaseUrl.endpoint`), reads the body, decodes it with the lenient
 * {@link OpenAiSchema.ChatCompletion} Schema and maps every failure to an `LlmError` (through
 * `internal/errors.ts`, the one mapping). It never retries: retries belong to the resilience
 * layer, so nothing retries twice. Interrupting the fiber aborts the request (the socket is
 * closed); a per-attempt `timeout` fails with `LlmError` reason `Timeout`. At most
 * `maxResponseBytes` of a body are read (default 32 MiB): past it the connection is closed and
 * the call fails with `ResponseMalformed` naming the cap.
 *
 * {@link Service.streamChatCompletion} sends the same request with `stream: true` and
 * `stream_options: { include_usage: true }` and reads the server-sent events as they arrive
 * (`internal/eventStream.ts`: `effect/encoding`'s SSE parser, fed in the pull loop, so that a
 * `retry:` directive from a proxy is ignored instead of ending the stream), each `data:` line one
 * chunk ({@link OpenAiSchema.ChatCompletionChunk}) handed to a {@link ChunkReader} in the same
 * pull, and `data: [DONE]` the end of the answer (the reader's last element goes out with the
 * last read's elements; the end of the body is read on the next pull, so that the connection is
 * kept for the next call). The timeout bounds the opening (until the response headers: a
 * deadline on the shared timer that aborts the request, no fiber of its own); `maxResponseBytes`
 * bounds the whole stream. A `data:` line that is not JSON or not a
 * chunk is `ResponseMalformed`, an `error` object in a `data:` line is mapped to its reason
 * (`Errors.fromStreamError`), a body that ends before the answer is whole (no `finish_reason`, no
 * `[DONE]`) or a connection dropped mid-stream is `Network`. A server that ignores `stream: true`
 * and answers with one JSON completion is read as one chunk.
 *
 * The transport is whatever `HttpClient` is provided: `NodeHttpClient.layerUndici` in
 * production (the least client CPU per call measured; see docs/performance.md), a fake in tests.
 *
 * @since 0.1.0
 */
import { Clock, Context, Duration, Effect, Layer, Redacted, Stream } from "effect"
import { HttpBody, HttpClient, type HttpClientError, HttpClientRequest, type HttpClientResponse } from "effect/http"
import * as BaseUrl from "../../BaseUrl.ts"
import * as Streams from "../../internal/streams.ts"
import type * as LlmError from "../../LlmError.ts"
import * as Requests from "../internal/requests.ts"
import * as ProviderKit from "../ProviderKit.ts"
import * as Errors from "./internal/errors.ts"
import * as EventStream from "./internal/eventStream.ts"
import * as OpenAiSchema from "./internal/OpenAiSchema.ts"
import * as Deadlines from "../../internal/deadlines.ts"

/**
 * How to reach the server.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The provider name errors carry (`openai`, `openrouter`, `openai-compatible`). */
  readonly provider: string
  /** E.g. `https://api.openai.com/v1`; `/chat/completions` is appended to its path (before any query). */
  readonly baseUrl: string
  /** Sent as `Authorization: Bearer <key>`; omitted when absent (local servers). */
  readonly apiKey?: Redacted.Redacted<string> | undefined
  /** Extra headers sent with every request (e.g. OpenRouter's `HTTP-Referer`, `X-Title`). */
  readonly headers?: Readonly<Record<string, string>> | undefined
  /** How long one request may take before it fails with `Timeout`; default 10 minutes. */
  readonly timeout?: Duration.Input | undefined
  /** The most bytes of one response read (default `ProviderKit.DEFAULT_MAX_RESPONSE_BYTES`, 32 MiB). */
  readonly maxResponseBytes?: number | undefined
}

/**
 * A decoded completion and the facts of the HTTP exchange.
 *
 * @since 0.1.0
 * @category models
 */
export interface ChatCompletionResult {
  readonly completion: OpenAiSchema.ChatCompletion
  readonly requestId?: string | undefined
}

/**
 * What is known once a stream has opened: the request id from the response headers, and when
 * the request was sent.
 *
 * @since 0.1.0
 * @category models
 */
export type StreamOpened = EventStream.Opened

/**
 * Reads the chunks of one stream as they arrive (`onChunk`), hands over what it made of them
 * (`take`, after each read) and gives the last element once the answer is whole (`end`: `[DONE]`,
 * or the end of a body that sent a `finish_reason`), or the `LlmError` the stream ends with.
 * `OpenAiLanguageModel` reads them into stream parts; {@link chunks} passes them through.
 *
 * @since 0.1.0
 * @category models
 */
export type ChunkReader<A> = EventStream.ChunkReader<A>

/**
 * A reader that passes the chunks through as they are.
 *
 * @since 0.1.0
 * @category readers
 * @example
 * client.streamChatCompletion(body, OpenAiClient.chunks) // Stream<ChatCompletionChunk, LlmError>
 */
export const chunks = (_opened: StreamOpened): ChunkReader<OpenAiSchema.ChatCompletionChunk> => {
  let pending: Array<OpenAiSchema.ChatCompletionChunk> = []
  return {
    onChunk: (chunk) => void pending.push(chunk),
    take: () => {
      const out = pending
      if (out.length > 0) pending = []
      return out
    },
    end: () => undefined
  }
}

/**
 * What the client does.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  readonly provider: string
  /** The base URL as messages show it: credentials redacted (`Redaction.redactUrl`). */
  readonly baseUrl: string
  /** Sends one chat-completions request. */
  readonly createChatCompletion: (
    body: OpenAiSchema.ChatCompletionRequest
  ) => Effect.Effect<ChatCompletionResult, LlmError.LlmError>
  /**
   * Sends one streamed chat-completions request (`stream: true`, `stream_options: {
   * include_usage: true }`) and, once the response headers say it is a 2xx stream, reads its
   * chunks with a reader made for it: the stream of what the reader produces. Ending or
   * interrupting the stream closes the connection.
   */
  readonly streamChatCompletion: <A>(
    body: OpenAiSchema.ChatCompletionRequest,
    reader: (opened: StreamOpened) => ChunkReader<A>
  ) => Stream.Stream<A, LlmError.LlmError>
}

/**
 * The `OpenAiClient` service.
 *
 * @since 0.1.0
 * @category services
 */
export class OpenAiClient extends Context.Service<OpenAiClient, Service>()("llm-connect/OpenAiClient") {}

/**
 * The default per-request timeout (the `openai` SDK's default too).
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_TIMEOUT: Duration.Duration = Duration.minutes(10)

/**
 * Builds a client from options and an `HttpClient`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromHttpClient = (http: HttpClient.HttpClient, options: Options): Service => {
  const target = BaseUrl.endpoint(options.baseUrl, "/chat/completions")
  const baseUrl = target.shown
  const urlParams = target.urlParams.params.length > 0 ? target.urlParams : undefined
  const apiKey = options.apiKey !== undefined ? Redacted.value(options.apiKey) : undefined
  const headers: Record<string, string> = {
    accept: "application/json",
    ...(apiKey !== undefined && apiKey !== "" ? { authorization: `Bearer ${apiKey}` } : {}),
    ...options.headers
  }
  const streamHeaders: Record<string, string> = { ...headers, accept: "text/event-stream" }
  const timeout = Duration.fromInputUnsafe(options.timeout ?? DEFAULT_TIMEOUT)
  const timeoutMs = Duration.toMillis(timeout)
  const maxResponseBytes = options.maxResponseBytes ?? ProviderKit.DEFAULT_MAX_RESPONSE_BYTES
  const scopedHttp = Requests.client(http)

  const post = (body: OpenAiSchema.ChatCompletionRequest, requestHeaders: Record<string, string>) => {
    const request = HttpClientRequest.post(target.url, {
      headers: requestHeaders,
      body: HttpBody.text(JSON.stringify(body), "application/json")
    })
    return urlParams === undefined ? request : HttpClientRequest.setUrlParams(request, urlParams)
  }

  const statusFailure = (call: Errors.CallInfo, response: HttpClientResponse.HttpClientResponse, text: string) =>
    Effect.flatMap(
      Effect.clockWith((clock) => clock.currentTimeMillis),
      (nowMs) => Effect.fail(Errors.fromStatus(call, { status: response.status, headers: response.headers, body: text, nowMs }))
    )

  /** A whole JSON body: a completion, or `ResponseMalformed` saying what it is instead. */
  const completionOf = (
    call: Errors.CallInfo,
    response: HttpClientResponse.HttpClientResponse,
    text: string
  ): Effect.Effect<ChatCompletionResult, LlmError.LlmError> => {
    let json: unknown
    try {
      json = JSON.parse(text)
    } catch {
      return Effect.fail(Errors.malformed(call, `the body is not JSON (${describeText(text)})`, response.headers))
    }
    const completion = OpenAiSchema.readChatCompletion(json)
    if (completion === undefined) {
      return Effect.fail(Errors.malformed(call, "the body is not a chat completion (no choices array)", response.headers))
    }
    return Effect.succeed({ completion, requestId: Errors.requestIdOf(response.headers) })
  }

  const bounded = <A>(call: Errors.CallInfo, effect: Effect.Effect<A, LlmError.LlmError | HttpClientError.HttpClientError>) =>
    effect.pipe(
      Effect.catchTag("HttpClientError", (error) => Effect.fail(Errors.fromTransport(call, error))),
      (self) => Deadlines.bounded(self, timeoutMs, () => Errors.timeout(call, timeoutMs))
    )

  const createChatCompletion = (body: OpenAiSchema.ChatCompletionRequest) => {
    const call: Errors.CallInfo = { provider: options.provider, model: body.model, baseUrl, apiKey }
    return bounded(
      call,
      Effect.flatMap(http.execute(post(body, headers)), (response) =>
        Effect.flatMap(ProviderKit.readText(response, call, maxResponseBytes), (text) => {
          const status = response.status
          return status < 200 || status >= 300 ? statusFailure(call, response, text) : completionOf(call, response, text)
        }))
    )
  }

  const streamChatCompletion = <A>(
    body: OpenAiSchema.ChatCompletionRequest,
    reader: (opened: StreamOpened) => ChunkReader<A>
  ): Stream.Stream<A, LlmError.LlmError> => {
    const call: Errors.CallInfo = { provider: options.provider, model: body.model, baseUrl, apiKey }
    const request = post({ ...body, stream: true, stream_options: { include_usage: true } }, streamHeaders)
    // Opened as the stream starts, in its scope: the request is aborted when the stream's scope
    // closes unless its body was read to the end (`internal/requests.ts`, ADR 0037).
    return Streams.fromScope((scope, fiber) => {
      // The fiber's clock, read in this step (no effect step for it), here and at the stream's end.
      const clock = fiber.getRef(Clock.Clock)
      const startedMs = clock.currentTimeMillisUnsafe()
      const { response: sent, bodyEnded, opening } = Requests.stream(scopedHttp, request, scope, { clock, context: fiber.context, timeoutMs })
      // Bounded by the timeout without a fiber of its own: the request is aborted when it runs out.
      return opening(
        Effect.flatMap(sent, (response): Effect.Effect<
          Stream.Stream<A, LlmError.LlmError>,
          LlmError.LlmError | HttpClientError.HttpClientError
        > => {
          const status = response.status
          if (status < 200 || status >= 300) {
            return Effect.flatMap(ProviderKit.readText(response, call, maxResponseBytes), (text) => {
              bodyEnded()
              return statusFailure(call, response, text)
            })
          }
          // (`headers` may be made anew on each read: undici's response does)
          const headers = response.headers
          const opened: StreamOpened = { requestId: Errors.requestIdOf(headers), startedMs }
          const type = headers["content-type"] ?? ""
          if (EVENT_STREAM.test(type)) {
            return Effect.succeed(EventStream.read(response, call, opened, clock, maxResponseBytes, reader(opened), bodyEnded))
          }
          // A server that ignores `stream: true` and answers with one JSON completion: one chunk.
          return Effect.flatMap(ProviderKit.readText(response, call, maxResponseBytes), (text) => {
            bodyEnded()
            return Effect.map(completionOf(call, response, text), (result) =>
              EventStream.fromChunks([chunkOfCompletion(result.completion)], reader(opened)))
          })
        }).pipe(Effect.catchTag("HttpClientError", (error) => Effect.fail(Errors.fromTransport(call, error)))),
        () => Errors.timeout(call, timeoutMs)
      )
    })
  }

  return { provider: options.provider, baseUrl, createChatCompletion, streamChatCompletion }
}

const EVENT_STREAM = /text\/event-stream/i

/** A whole completion as the one chunk of a stream (a server that answered JSON to a stream request). */
const chunkOfCompletion = (completion: OpenAiSchema.ChatCompletion): OpenAiSchema.ChatCompletionChunk => ({
  ...(completion.id !== undefined ? { id: completion.id } : {}),
  ...(completion.model !== undefined ? { model: completion.model } : {}),
  choices: completion.choices.map((choice) => ({
    index: choice.index ?? 0,
    delta: {
      content: choice.message?.content ?? null,
      refusal: choice.message?.refusal ?? null
    },
    finish_reason: choice.finish_reason ?? null
  })),
  ...(completion.usage !== undefined ? { usage: completion.usage } : {})
})

const describeText = (text: string): string =>
  text.length === 0 ? "empty" : `${text.length} characters starting ${JSON.stringify(text.slice(0, 40))}`

/**
 * Builds a client with the `HttpClient` in context.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<Service, never, HttpClient.HttpClient> =>
  Effect.map(Effect.service(HttpClient.HttpClient), (http) => fromHttpClient(http, options))

/**
 * The client as a Layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<OpenAiClient, never, HttpClient.HttpClient> =>
  Layer.effect(OpenAiClient, make(options))
