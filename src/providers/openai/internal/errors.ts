/**
 * The one place where an OpenAI-protocol failure becomes an `LlmError`.
 *
 * Used by the `openai`, `openrouter` and `openai-compatible` providers alike. A response with a
 * non-2xx status goes through {@link fromStatus}; a failure before any status (refused or reset
 * connection, invalid URL) through {@link fromTransport}; a body we cannot read through
 * {@link malformed}; a client-side timeout through {@link timeout}. In a stream (SSE), an `error`
 * object sent in a `data:` line goes through {@link fromStreamError} (the same table, the status
 * read from the error's code or type) and a body that ends before the answer is whole through
 * {@link cutOff}.
 *
 * Status table (tested row by row in `test/providers/openai/errors.test.ts`):
 *
 * | status | reason | retryable |
 * |---|---|---|
 * | 400, 413, 422 (other 4xx) | InvalidRequest (ContentFiltered when the body says `content_filter`) | no |
 * | 401 | Authentication | no |
 * | 402 | PermissionDenied (out of credits, OpenRouter) | no |
 * | 403 | PermissionDenied | no |
 * | 404 | NotFound, naming the model | no |
 * | 408 | Timeout (attempt) | yes |
 * | 409 | ServerError (a lock conflict on the provider's side; the `openai` SDK retries it too) | yes |
 * | 429 | RateLimited with `retryAfterMs`; PermissionDenied when `insufficient_quota` | yes / no |
 * | 503, 529 | Unavailable (overloaded or down: a different reason from a bug, same retry policy) | yes |
 * | other 5xx | ServerError | yes |
 *
 * Messages never include the API key (the provider's own text is scrubbed of it) nor the prompt.
 * The table is built with `ProviderKit.statusTable`; retry hints, socket errors and the shared
 * error builders come from the kit too.
 *
 * @since 0.1.0
 */
import type { HttpClientError } from "effect/http"
import * as LlmError from "../../../LlmError.ts"
import * as ProviderKit from "../../ProviderKit.ts"

/**
 * What is known about the call that failed.
 *
 * @since 0.1.0
 * @category models
 */
export type CallInfo = ProviderKit.CallInfo

/**
 * A non-2xx response.
 *
 * @since 0.1.0
 * @category models
 */
export interface StatusFailure {
  readonly status: number
  readonly headers: Readonly<Record<string, string | undefined>>
  readonly body: string
  /** The current time (epoch ms, from `Clock`), to read an HTTP-date `retry-after`. */
  readonly nowMs: number
}

interface ErrorBody {
  readonly message?: string | undefined
  readonly code?: string | undefined
  readonly type?: string | undefined
}

/**
 * Reads `{ error: { message, code, type } }` (OpenAI, OpenRouter, vLLM), `{ error: "text" }`
 * (Ollama) or `{ message }`; anything else gives the raw text.
 */
const readErrorBody = (body: string): ErrorBody => {
  let json: unknown
  try {
    json = JSON.parse(body)
  } catch {
    return { message: body.length > 0 ? body : undefined }
  }
  return readErrorJson(json)
}

const readErrorJson = (json: unknown): ErrorBody => {
  if (typeof json !== "object" || json === null) return {}
  const record = json as Record<string, unknown>
  const error = record.error
  if (typeof error === "string") return { message: error }
  const source = typeof error === "object" && error !== null ? (error as Record<string, unknown>) : record
  return {
    message: typeof source.message === "string" ? source.message : undefined,
    code: typeof source.code === "string" ? source.code : typeof source.code === "number" ? String(source.code) : undefined,
    type: typeof source.type === "string" ? source.type : undefined
  }
}

const GO_DURATION = /^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?!s))?(?:(\d+(?:\.\d+)?)s)?(?:(\d+(?:\.\d+)?)ms)?$/

/**
 * Parses a reset header: `20ms`, `1.5s`, `6m0s`, `1h2m3s` (OpenAI), a plain number of seconds,
 * or epoch milliseconds (OpenRouter's `x-ratelimit-reset`).
 */
const parseReset = (value: string, nowMs: number): number | undefined => {
  const text = value.trim()
  if (text === "") return undefined
  if (/^\d+(\.\d+)?$/.test(text)) {
    const number = Number(text)
    if (number > 1e12) return Math.max(0, number - nowMs) // epoch milliseconds
    if (number > 1e9) return Math.max(0, number * 1000 - nowMs) // epoch seconds
    return number * 1000
  }
  const match = GO_DURATION.exec(text)
  if (match === null || match[0] === "") return undefined
  const [, hours, minutes, seconds, millis] = match
  return (
    Number(hours ?? 0) * 3_600_000 + Number(minutes ?? 0) * 60_000 + Number(seconds ?? 0) * 1000 + Number(millis ?? 0)
  )
}

/**
 * The provider's retry hint in milliseconds: `retry-after-ms`, then `retry-after` (seconds or
 * an HTTP date; `ProviderKit.retryAfterMs`), then the largest `x-ratelimit-reset*` header.
 *
 * @since 0.1.0
 * @category parsing
 */
export const retryAfterMs = (
  headers: Readonly<Record<string, string | undefined>>,
  nowMs: number
): number | undefined => {
  const standard = ProviderKit.retryAfterMs(headers, nowMs)
  if (standard !== undefined) return standard
  let best: number | undefined
  for (const name of ["x-ratelimit-reset-requests", "x-ratelimit-reset-tokens", "x-ratelimit-reset"]) {
    const value = headers[name]
    if (value === undefined) continue
    const parsed = parseReset(value, nowMs)
    if (parsed !== undefined && (best === undefined || parsed > best)) best = Math.round(parsed)
  }
  return best
}

/**
 * The provider's request id, for support tickets.
 *
 * @since 0.1.0
 * @category parsing
 */
export const requestIdOf = (headers: Readonly<Record<string, string | undefined>>): string | undefined =>
  headers["x-request-id"] ?? headers["x-openrouter-request-id"] ?? headers["request-id"]

const isContentFilter = (body: ErrorBody): boolean =>
  body.code === "content_filter" || body.code === "content_policy_violation" ||
  body.type === "content_filter" || body.code === "moderation_blocked"

/** What a row of the status table knows. */
interface StatusContext {
  readonly call: CallInfo
  readonly failure: StatusFailure
  readonly parsed: ErrorBody
  /** What failed, in parentheses in messages: `HTTP 429`, or `rate_limit_exceeded in the stream`. */
  readonly what: string
  /** `: <the provider's message, scrubbed>`, or nothing. */
  readonly said: string
}

const reasonOf = ProviderKit.statusTable<StatusContext>({
  401: ({ call, said, what }) =>
    new LlmError.Authentication({
      description: `the API key was refused (${what})${said}; check the key for ${call.provider}`
    }),
  402: ({ call, said, what }) =>
    new LlmError.PermissionDenied({
      description: `payment required (${what})${said}; add credits to the ${call.provider} account`
    }),
  403: ({ said, what }) => new LlmError.PermissionDenied({ description: `the key may not do this (${what})${said}` }),
  404: ({ call, said, what }) =>
    new LlmError.NotFound({
      description: `model "${call.model}" was not found at ${call.baseUrl} (${what})${said}; check the model name`,
      model: call.model
    }),
  408: ({ said, what }) => ProviderKit.timeoutReason(`the provider timed out the request (${what})${said}`),
  409: ({ said, what }) => new LlmError.ServerError({ description: `conflict on the provider's side (${what})${said}`, status: 409 }),
  429: ({ failure, parsed, said, what }) => {
    if (parsed.code === "insufficient_quota" || parsed.type === "insufficient_quota") {
      return new LlmError.PermissionDenied({
        description: `quota exhausted (${what.includes("insufficient_quota") ? what : `${what}: insufficient_quota`})${said}; ` +
          "check the plan and billing of the account"
      })
    }
    const after = retryAfterMs(failure.headers, failure.nowMs)
    return new LlmError.RateLimited({
      description: `rate limited (${what})${said}`,
      ...(after !== undefined ? { retryAfterMs: after } : {})
    })
  },
  503: ({ said, what }) => new LlmError.Unavailable({ description: `the provider is overloaded or down (${what})${said}` }),
  529: ({ said, what }) => new LlmError.Unavailable({ description: `the provider is overloaded or down (${what})${said}` }),
  "5xx": ({ failure, said, what }) =>
    new LlmError.ServerError({ description: `the provider failed (${what})${said}`, status: failure.status }),
  "4xx": ({ parsed, said, what }) =>
    new LlmError.InvalidRequest({
      description: `the provider rejected the request (${what})${said}`,
      ...(parsed.code !== undefined && /param|unsupported/.test(parsed.code) ? { parameter: parsed.code } : {})
    }),
  orElse: ({ failure, said }) => new LlmError.ResponseMalformed({ description: `unexpected HTTP status ${failure.status}${said}` })
})

/**
 * Maps a non-2xx response.
 *
 * @since 0.1.0
 * @category mapping
 */
export const fromStatus = (call: CallInfo, failure: StatusFailure): LlmError.LlmError => {
  const { status } = failure
  const parsed = readErrorBody(failure.body)
  const said = parsed.message !== undefined ? `: ${ProviderKit.scrub(parsed.message, call.apiKey)}` : ""
  const reason = isContentFilter(parsed)
    ? new LlmError.ContentFiltered({ description: `the provider filtered the content (HTTP ${status})${said}` })
    : reasonOf(status, { call, failure, parsed, what: `HTTP ${status}`, said })
  return LlmError.make(call.provider, reason, { model: call.model, status, requestId: requestIdOf(failure.headers) })
}

// The status an error type or code sent in a stream stands for (OpenAI's types and codes,
// OpenRouter's, vLLM's and LiteLLM's class names); anything else is a failure of the provider (500).
const STREAM_ERROR_STATUS: Readonly<Record<string, number>> = {
  invalid_request_error: 400,
  badrequesterror: 400,
  bad_request: 400,
  context_length_exceeded: 400,
  invalid_api_key: 401,
  authentication_error: 401,
  authenticationerror: 401,
  unauthorized: 401,
  insufficient_credits: 402,
  permission_error: 403,
  permission_denied: 403,
  permissiondeniederror: 403,
  not_found_error: 404,
  model_not_found: 404,
  notfounderror: 404,
  timeout: 408,
  timeout_error: 408,
  request_timeout: 408,
  rate_limit_exceeded: 429,
  rate_limit_error: 429,
  ratelimiterror: 429,
  too_many_requests: 429,
  insufficient_quota: 429,
  overloaded: 503,
  overloaded_error: 503,
  server_overloaded: 503,
  service_unavailable: 503,
  serviceunavailableerror: 503,
  server_error: 500,
  api_error: 500,
  internal_error: 500,
  internalservererror: 500
}

const streamStatus = (parsed: ErrorBody): number => {
  for (const value of [parsed.code, parsed.type]) {
    if (value === undefined) continue
    if (/^[45]\d\d$/.test(value)) return Number(value)
    const known = STREAM_ERROR_STATUS[value.toLowerCase()]
    if (known !== undefined) return known
  }
  return 500
}

/**
 * Maps an `error` sent in a stream's `data:` line, after the response had opened with 200:
 * `{ error: { message, type, code } }` (OpenAI, vLLM, LiteLLM), OpenRouter's chunk with an
 * `error: { code, message }` (a numeric code is the HTTP status it stands for), or
 * `{ error: "text" }`. The reason is the status table's for the status the code or type stands
 * for (a rate limit -> `RateLimited`, an overload -> `Unavailable`, an unknown type ->
 * `ServerError`); the error carries no `status`, the response had none but 200.
 *
 * @since 0.1.0
 * @category mapping
 */
export const fromStreamError = (call: CallInfo, data: unknown, requestId: string | undefined): LlmError.LlmError => {
  const parsed = readErrorJson(data)
  const status = streamStatus(parsed)
  const said = parsed.message !== undefined ? `: ${ProviderKit.scrub(parsed.message, call.apiKey)}` : ""
  const what = `${parsed.type ?? parsed.code ?? "an error"} in the stream`
  const reason = isContentFilter(parsed)
    ? new LlmError.ContentFiltered({ description: `the provider filtered the content (${what})${said}` })
    : reasonOf(status, { call, failure: { status, headers: {}, body: "", nowMs: 0 }, parsed, what, said })
  return LlmError.make(call.provider, reason, { model: call.model, requestId })
}

/**
 * A stream whose body ended before the answer was whole (no `finish_reason`, no `[DONE]`): the
 * connection was closed mid-answer. `Network`, retryable (the retry layer retries only before
 * the first part).
 *
 * @since 0.1.0
 * @category mapping
 */
export const cutOff = (call: CallInfo, requestId: string | undefined): LlmError.LlmError =>
  LlmError.make(
    call.provider,
    new LlmError.Network({
      description: `the stream from ${call.baseUrl} ended before the answer was complete (no finish_reason and no [DONE])`
    }),
    { model: call.model, requestId }
  )

/**
 * Maps a failure where no usable status arrived: the connection failed, the URL is invalid, or
 * the body could not be read.
 *
 * @since 0.1.0
 * @category mapping
 */
export const fromTransport = (call: CallInfo, error: HttpClientError.HttpClientError): LlmError.LlmError => {
  const reason = error.reason
  switch (reason._tag) {
    case "InvalidUrlError":
      return LlmError.make(call.provider, new LlmError.Configuration({
        description: `the base URL "${call.baseUrl}" is not a valid URL`,
        setting: "baseUrl",
        fix: "give a full URL such as http://localhost:11434/v1 (config baseUrl or --base-url)"
      }), { model: call.model })
    case "EncodeError":
      return LlmError.make(call.provider, new LlmError.InvalidRequest({
        description: "the request could not be encoded as JSON"
      }), { model: call.model })
    default:
      break
  }
  const code = ProviderKit.errorCode(reason.cause)
  if ((reason._tag === "DecodeError" || reason._tag === "EmptyBodyError") && !ProviderKit.isConnectionCode(code)) {
    return malformed(call, `the response body could not be read (${reason._tag})`, reason.response?.headers)
  }
  return ProviderKit.connectionFailure(call, code)
}

/**
 * A 2xx response whose body is not JSON or not a chat completion.
 *
 * @since 0.1.0
 * @category mapping
 */
export const malformed = (
  call: CallInfo,
  detail: string,
  headers?: Readonly<Record<string, string | undefined>>
): LlmError.LlmError => ProviderKit.malformed(call, detail, headers !== undefined ? requestIdOf(headers) : undefined)

/**
 * Our own per-attempt timeout ran out before the provider answered.
 *
 * @since 0.1.0
 * @category mapping
 */
export const timeout: (call: CallInfo, elapsedMs: number) => LlmError.LlmError = ProviderKit.attemptTimeout

/**
 * The model answered, but the content was filtered and nothing usable came back.
 *
 * @since 0.1.0
 * @category mapping
 */
export const contentFiltered: (call: CallInfo, detail: string, requestId: string | undefined) => LlmError.LlmError =
  ProviderKit.contentFiltered
