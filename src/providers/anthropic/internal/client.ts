/**
 * The HTTP side of the Anthropic provider, on Effect's `HttpClient`: one `POST
 * {baseUrl}/v1/messages` per call, answered as JSON ({@link Client.createMessage}) or as a stream
 * of server-sent events ({@link Client.streamMessage}).
 *
 * - Headers: `x-api-key` (omitted without a key, for a gateway that adds its own) and
 *   `anthropic-version: 2023-06-01`.
 * - Base URL: `https://api.anthropic.com` by default; a trailing `/v1` is accepted and removed
 *   (`--base-url http://host:port` and `http://host:port/v1` reach the same endpoint, as with the
 *   SDK's `ANTHROPIC_BASE_URL`); the path is joined before a query (a gateway's `?key=...`).
 * - It never retries (the resilience layer does) and interrupting the fiber aborts the request:
 *   for a stream, ending or interrupting the consumer before the end of the body closes the
 *   connection. `message_stop` ends the message: the finish part goes out at once, in the same
 *   chunk as the parts of the last read (one pull, not two, for every stage above), and the end
 *   of the body is read on the next pull, before the stream ends (it comes with `message_stop` or
 *   right after; nothing after it is parsed, its bytes are counted against `maxResponseBytes`), so
 *   that the connection is kept for the next call and nothing is aborted (`internal/requests.ts`,
 *   ADR 0037, ADR 0056).
 * - The per-attempt `timeout` bounds a JSON call, and the opening of a stream (until the response
 *   headers: a deadline on the shared timer that aborts the request, no fiber of its own,
 *   `Requests.stream`); the gaps between events are the resilience layer's idle timeout.
 * - Streams are parsed with `effect/encoding`'s SSE parser (`Sse.makeParser`, the parser under
 *   `Sse.decode`, fed in the pull loop so that events go straight to the assembler and a
 *   `retry:` directive from a proxy is ignored instead of ending the stream).
 *
 * @since 0.1.0
 * @internal
 */
import { Clock, Duration, Effect, Exit, Redacted, Stream } from "effect"
import { Sse } from "effect/encoding"
import { HttpBody, type HttpClient, HttpClientError, HttpClientRequest, type HttpClientResponse } from "effect/http"
import type * as LlmError from "../../../LlmError.ts"
import type { LlmRequest } from "../../../LlmRequest.ts"
import type { LlmResponse } from "../../../LlmResponse.ts"
import * as Streams from "../../../internal/streams.ts"
import * as Body from "../../internal/body.ts"
import * as SsePull from "../../internal/ssePull.ts"
import * as Requests from "../../internal/requests.ts"
import * as ProviderKit from "../../ProviderKit.ts"
import * as StreamPart from "../../../StreamPart.ts"
import * as AnthropicSchema from "./AnthropicSchema.ts"
import * as Errors from "./errors.ts"
import * as Mapping from "./mapping.ts"
import * as StreamAssembler from "./StreamAssembler.ts"
import * as Deadlines from "../../../internal/deadlines.ts"

/**
 * The API version sent with every request.
 *
 * @since 0.1.0
 * @category constants
 */
export const API_VERSION = "2023-06-01"

/**
 * How to reach the API.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly provider: string
  /** `https://api.anthropic.com`, with or without a trailing `/v1`. */
  readonly baseUrl: string
  readonly apiKey?: Redacted.Redacted<string> | undefined
  /** Bounds a JSON call, and a stream until its response headers. */
  readonly timeout: Duration.Duration
  /** The most bytes of one response read (a JSON body, or a whole event stream). */
  readonly maxResponseBytes: number
}

/**
 * What the client does.
 *
 * @since 0.1.0
 * @category models
 */
export interface Client {
  /** The base URL as messages show it (no query, no credentials). */
  readonly baseUrl: string
  /** One call answered as JSON, mapped to a response. */
  readonly createMessage: (
    request: LlmRequest,
    body: AnthropicSchema.MessagesRequest
  ) => Effect.Effect<LlmResponse, LlmError.LlmError>
  /** One call answered as a stream of parts, the last one `finish`. */
  readonly streamMessage: (
    request: LlmRequest,
    body: AnthropicSchema.MessagesRequest
  ) => Stream.Stream<StreamPart.StreamPart, LlmError.LlmError>
}

/**
 * Where requests go: `{base}/v1/messages` (a trailing `/v1` of the base removed, the query kept),
 * and the base as messages show it.
 *
 * @since 0.1.0
 * @category constructors
 */
export const endpoint = (baseUrl: string): { readonly url: string; readonly shown: string } => {
  const hash = baseUrl.indexOf("#")
  const withoutHash = hash === -1 ? baseUrl : baseUrl.slice(0, hash)
  const question = withoutHash.indexOf("?")
  let base = question === -1 ? withoutHash : withoutHash.slice(0, question)
  const query = question === -1 ? "" : withoutHash.slice(question)
  while (base.endsWith("/")) base = base.slice(0, -1)
  if (base.endsWith("/v1")) base = base.slice(0, -3)
  // Credentials in the URL (`https://user:password@host`) stay out of messages.
  const shown = base.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, "$1")
  return { url: `${base}/v1/messages${query}`, shown }
}

const describeText = (text: string): string =>
  text.length === 0 ? "empty" : `${text.length} characters starting ${JSON.stringify(text.slice(0, 40))}`

/**
 * Builds the client on an `HttpClient`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (http: HttpClient.HttpClient, options: Options): Client => {
  const target = endpoint(options.baseUrl)
  const baseUrl = target.shown
  const apiKey = options.apiKey !== undefined ? Redacted.value(options.apiKey) : undefined
  const common: Record<string, string> = {
    "anthropic-version": API_VERSION,
    ...(apiKey !== undefined && apiKey !== "" ? { "x-api-key": apiKey } : {})
  }
  const jsonHeaders = { ...common, accept: "application/json" }
  const streamHeaders = { ...common, accept: "text/event-stream" }
  const timeout = options.timeout
  const timeoutMs = Duration.toMillis(timeout)
  const scopedHttp = Requests.client(http)

  const callOf = (model: string): Errors.CallInfo => ({ provider: options.provider, model, baseUrl, apiKey })

  const post = (body: AnthropicSchema.MessagesRequest, headers: Record<string, string>) =>
    HttpClientRequest.post(target.url, { headers, body: HttpBody.text(JSON.stringify(body), "application/json") })

  const statusFailure = (call: Errors.CallInfo, response: HttpClientResponse.HttpClientResponse, text: string) =>
    Effect.flatMap(Clock.currentTimeMillis, (nowMs) =>
      Effect.fail(Errors.fromStatus(call, { status: response.status, headers: response.headers, body: text, nowMs })))

  const createMessage = (request: LlmRequest, body: AnthropicSchema.MessagesRequest) => {
    const call = callOf(body.model)
    return Effect.flatMap(Clock.currentTimeMillis, (started) =>
      http.execute(post(body, jsonHeaders)).pipe(
        Effect.flatMap((response) =>
          Effect.flatMap(ProviderKit.readText(response, call, options.maxResponseBytes), (text): Effect.Effect<LlmResponse, LlmError.LlmError> => {
            if (response.status < 200 || response.status >= 300) return statusFailure(call, response, text)
            let json: unknown
            try {
              json = JSON.parse(text)
            } catch {
              return Effect.fail(Errors.malformed(call, `the body is not JSON (${describeText(text)})`, response.headers))
            }
            const decoded = AnthropicSchema.decodeMessage(json)
            if (Exit.isFailure(decoded)) {
              return Effect.fail(Errors.malformed(call, "the body is not a message (no content array)", response.headers))
            }
            const message = decoded.value
            const requestId = Errors.requestIdOf(response.headers) ?? message.id ?? undefined
            const { content, parts, toolCalls } = Mapping.fromBlocks(message.content)
            const stopReason = message.stop_reason ?? undefined
            if (content === "" && parts === undefined && stopReason === "refusal") {
              return Effect.fail(Errors.contentFiltered(call, "the model refused to answer (stop_reason refusal)", requestId))
            }
            return Effect.map(Clock.currentTimeMillis, (finished) =>
              Mapping.toResponse({
                provider: options.provider,
                model: message.model ?? body.model,
                content,
                parts,
                toolCalls,
                usage: Mapping.toUsage(message.usage) ?? Mapping.estimateUsage(request, Mapping.outputText(content, toolCalls)),
                stopReason,
                latencyMs: finished - started,
                requestId
              }))
          })
        ),
        Effect.catchTag("HttpClientError", (error) => Effect.fail(Errors.fromTransport(call, error))),
        (self) => Deadlines.bounded(self, timeoutMs, () => Errors.timeout(call, timeoutMs))
      ))
  }

  /**
   * Sends the request and waits for a 2xx event stream (the opening, bounded by the timeout), then
   * gives the stream of its parts (`partsOf`, made in the same step); the request is aborted when
   * the stream's scope closes unless the body was read to its end.
   */
  const open = (
    call: Errors.CallInfo,
    sent: Requests.Sent,
    request: LlmRequest,
    startedMs: number,
    clock: Clock.Clock
  ) =>
    Effect.flatMap(sent.response, (response): Effect.Effect<
      Stream.Stream<StreamPart.StreamPart, LlmError.LlmError>,
      LlmError.LlmError | HttpClientError.HttpClientError
    > => {
      if (response.status < 200 || response.status >= 300) {
        return Effect.flatMap(ProviderKit.readText(response, call, options.maxResponseBytes), (text) => {
          sent.bodyEnded()
          return statusFailure(call, response, text)
        })
      }
      // (`headers` may be made anew on each read: undici's response does)
      const headers = response.headers
      const type = (headers["content-type"] ?? "").toLowerCase()
      if (!type.includes("text/event-stream")) {
        return Effect.fail(Errors.malformed(
          call,
          `expected an event stream (text/event-stream), got ${type === "" ? "no content type" : type}`,
          headers
        ))
      }
      const requestId = Errors.requestIdOf(headers)
      return Effect.succeed(partsOf(
        response,
        StreamAssembler.make({ call, request, requestId, startedMs }),
        call,
        requestId,
        clock,
        options.maxResponseBytes,
        sent.bodyEnded
      ))
    }).pipe(
      Effect.catchTag("HttpClientError", (error) => Effect.fail(Errors.fromTransport(call, error))),
      // Bounded by the timeout without a fiber of its own: the request is aborted when it runs out.
      (self) => sent.opening(self, () => Errors.timeout(call, timeoutMs))
    )

  const streamMessage = (request: LlmRequest, body: AnthropicSchema.MessagesRequest) => {
    const call = callOf(body.model)
    // Opened as the stream starts, in its scope (`Streams.fromScope`: no extra step per pull); the
    // fiber's clock read in this step, here and at the stream's end.
    return Streams.fromScope((scope, fiber) => {
      const clock = fiber.getRef(Clock.Clock)
      const startedMs = clock.currentTimeMillisUnsafe()
      const sent = Requests.stream(scopedHttp, post({ ...body, stream: true }, streamHeaders), scope, { clock, context: fiber.context, timeoutMs })
      return open(call, sent, request, startedMs, clock)
    })
  }

  return { baseUrl, createMessage, streamMessage }
}

/**
 * The parts of a response body: bytes -> text -> SSE events -> the assembler; emits what each
 * read produced and, once `message_stop` arrived (or at the end of a body after a stop reason),
 * the finish part with them, in the same chunk; after `message_stop` the next pull reads the end
 * of the body (counted, not parsed) before the stream ends. A body that ends earlier fails with
 * `Network`. `onBodyEnd` is called when the end of the body has been read.
 */
const partsOf = (
  response: HttpClientResponse.HttpClientResponse,
  assembler: StreamAssembler.Assembler,
  call: Errors.CallInfo,
  requestId: string | undefined,
  clock: Clock.Clock,
  maxBytes: number,
  onBodyEnd: () => void
): Stream.Stream<StreamPart.StreamPart, LlmError.LlmError> =>
  // The body read as `Body` reads it (ADR 0064): a read that finds bytes costs no effect step.
  Body.stream(response, (body) =>
    SsePull.pull(body, {
      parser: Sse.makeParser(assembler.onEvent),
      take: () => assembler.take(),
      failure: () => assembler.failure(),
      // Whole at `message_stop`, or at the end of a body after a stop reason.
      whole: (bodyEnded) => assembler.stopped() || (bodyEnded && assembler.hasStopReason()),
      end: (nowMs) => {
        const response = assembler.finish(nowMs)
        return "content" in response ? StreamPart.finish(response) : response
      }
    }, {
      fromTransport: (error) => Errors.fromTransport(call, error),
      cutOff: () => Errors.cutOff(call, requestId),
      tooLarge: () => ProviderKit.responseTooLarge(call, maxBytes),
      malformed: (message) => Errors.malformed(call, message)
    }, clock, maxBytes, onBodyEnd))
