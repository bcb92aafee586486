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
 * The transport is whatever `HttpClient` is provided: `NodeHttpClient.layerUndici` in
 * production (the least client CPU per call measured; see docs/performance.md), a fake in tests.
 *
 * @since 0.1.0
 */
import { Context, Duration, Effect, Exit, Layer, Redacted } from "effect"
import { HttpBody, HttpClient, HttpClientRequest } from "effect/http"
import * as BaseUrl from "../../BaseUrl.ts"
import type * as LlmError from "../../LlmError.ts"
import * as ProviderKit from "../ProviderKit.ts"
import * as Errors from "./internal/errors.ts"
import * as OpenAiSchema from "./internal/OpenAiSchema.ts"

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
  const timeout = Duration.fromInputUnsafe(options.timeout ?? DEFAULT_TIMEOUT)
  const timeoutMs = Duration.toMillis(timeout)
  const maxResponseBytes = options.maxResponseBytes ?? ProviderKit.DEFAULT_MAX_RESPONSE_BYTES

  const createChatCompletion = (body: OpenAiSchema.ChatCompletionRequest) => {
    const call: Errors.CallInfo = { provider: options.provider, model: body.model, baseUrl, apiKey }
    const post = HttpClientRequest.post(target.url, {
      headers,
      body: HttpBody.text(JSON.stringify(body), "application/json")
    })
    const request = urlParams === undefined ? post : HttpClientRequest.setUrlParams(post, urlParams)
    return http.execute(request).pipe(
      Effect.flatMap((response) =>
        Effect.flatMap(ProviderKit.readText(response, call, maxResponseBytes), (text): Effect.Effect<ChatCompletionResult, LlmError.LlmError> => {
          const status = response.status
          if (status < 200 || status >= 300) {
            return Effect.flatMap(
              Effect.clockWith((clock) => clock.currentTimeMillis),
              (nowMs) => Effect.fail(Errors.fromStatus(call, { status, headers: response.headers, body: text, nowMs }))
            )
          }
          let json: unknown
          try {
            json = JSON.parse(text)
          } catch {
            return Effect.fail(Errors.malformed(call, `the body is not JSON (${describeText(text)})`, response.headers))
          }
          const decoded = OpenAiSchema.decodeChatCompletion(json)
          if (Exit.isFailure(decoded)) {
            return Effect.fail(Errors.malformed(call, "the body is not a chat completion (no choices array)", response.headers))
          }
          return Effect.succeed({ completion: decoded.value, requestId: Errors.requestIdOf(response.headers) })
        })
      ),
      Effect.catchTag("HttpClientError", (error) => Effect.fail(Errors.fromTransport(call, error))),
      Effect.timeoutOrElse({ duration: timeout, orElse: () => Effect.fail(Errors.timeout(call, timeoutMs)) })
    )
  }

  return { provider: options.provider, baseUrl, createChatCompletion }
}

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
