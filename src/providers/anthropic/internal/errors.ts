/**
 * The one place where an Anthropic failure becomes an `LlmError`.
 *
 * A non-2xx response goes through {@link fromStatus}; an `error` event in a stream that had
 * already opened (`{ type: "error", error: { type: "overloaded_error", message } }`) through
 * {@link fromErrorEvent}, which reads the error type as the status Anthropic gives it and uses the
 * same table; a failure before any status (refused or reset connection, invalid URL), or a
 * connection lost while a stream was read, through {@link fromTransport}; a stream that ends
 * before `message_stop` through {@link cutOff}; a body we cannot read through {@link malformed}.
 *
 * Status table (tested row by row in `test/providers/anthropic/internal/errors.test.ts`):
 *
 * | status (error type) | reason | retryable |
 * |---|---|---|
 * | 400 `invalid_request_error`, 413 `request_too_large`, other 4xx | InvalidRequest | no |
 * | 401 `authentication_error` | Authentication | no |
 * | 402 `billing_error`, 403 `permission_error` | PermissionDenied | no |
 * | 404 `not_found_error` | NotFound, naming the model | no |
 * | 408, 504 `timeout_error` | Timeout (attempt) | yes |
 * | 409 | ServerError | yes |
 * | 429 `rate_limit_error` | RateLimited, `retryAfterMs` from `retry-after` (or the latest `anthropic-ratelimit-*-reset`) | yes |
 * | 503, 529 `overloaded_error` (any status whose body says `overloaded_error`) | Unavailable | yes |
 * | 500 `api_error`, other 5xx | ServerError | yes |
 *
 * Messages never include the API key (the provider's text is scrubbed with `ProviderKit.scrub`)
 * nor the prompt. The table is built with `ProviderKit.statusTable`.
 *
 * @since 0.1.0
 * @internal
 */
import type { HttpClientError } from "effect/http"
import * as LlmError from "../../../LlmError.ts"
import * as ProviderKit from "../../ProviderKit.ts"

/**
 * The provider's registered name.
 *
 * @since 0.1.0
 * @category constants
 */
export const PROVIDER = "anthropic"

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
  /** The current time (epoch ms, from `Clock`), to read a date in a retry hint. */
  readonly nowMs: number
}

interface ErrorBody {
  readonly type?: string | undefined
  readonly message?: string | undefined
  readonly requestId?: string | undefined
}

/** Reads `{ type: "error", error: { type, message }, request_id }`; anything else gives the raw text. */
const readErrorBody = (body: string): ErrorBody => {
  let json: unknown
  try {
    json = JSON.parse(body)
  } catch {
    return { message: body.length > 0 ? body : undefined }
  }
  if (typeof json !== "object" || json === null) return {}
  const record = json as Record<string, unknown>
  const error = record.error
  if (typeof error === "string") return { message: error }
  const source = typeof error === "object" && error !== null ? (error as Record<string, unknown>) : record
  return {
    type: typeof source.type === "string" ? source.type : undefined,
    message: typeof source.message === "string" ? source.message : undefined,
    requestId: typeof record.request_id === "string" ? record.request_id : undefined
  }
}

const RESET_HEADERS = [
  "anthropic-ratelimit-requests-reset",
  "anthropic-ratelimit-tokens-reset",
  "anthropic-ratelimit-input-tokens-reset",
  "anthropic-ratelimit-output-tokens-reset"
]

/**
 * The provider's retry hint in milliseconds: `retry-after-ms`, then `retry-after` (seconds or
 * an HTTP date; `ProviderKit.retryAfterMs`), then the latest `anthropic-ratelimit-*-reset`
 * (an RFC 3339 time).
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
  for (const name of RESET_HEADERS) {
    const value = headers[name]
    if (value === undefined) continue
    const at = Date.parse(value)
    if (Number.isNaN(at)) continue
    const wait = Math.max(0, at - nowMs)
    if (best === undefined || wait > best) best = wait
  }
  return best
}

/**
 * The provider's request id (`request-id`), for support tickets.
 *
 * @since 0.1.0
 * @category parsing
 */
export const requestIdOf = (headers: Readonly<Record<string, string | undefined>>): string | undefined =>
  headers["request-id"] ?? headers["x-request-id"]

/** The status Anthropic answers each error type with (the types of an `error` event). */
const ERROR_TYPE_STATUS: Readonly<Record<string, number>> = {
  invalid_request_error: 400,
  authentication_error: 401,
  billing_error: 402,
  permission_error: 403,
  not_found_error: 404,
  request_too_large: 413,
  rate_limit_error: 429,
  api_error: 500,
  timeout_error: 504,
  overloaded_error: 529
}

/** What a row of the status table knows. */
interface StatusContext {
  readonly call: CallInfo
  readonly status: number
  /** `HTTP 429`, or `rate_limit_error in the stream`: what the provider sent. */
  readonly what: string
  /** The retry hint, for 429. */
  readonly retryAfterMs: number | undefined
  /** `: <the provider's message, scrubbed>`, or nothing. */
  readonly said: string
}

const unavailable = ({ said, what }: StatusContext) =>
  new LlmError.Unavailable({ description: `the provider is overloaded or down (${what})${said}` })

const reasonOf = ProviderKit.statusTable<StatusContext>({
  401: ({ said, what }) =>
    new LlmError.Authentication({
      description: `the API key was refused (${what})${said}; check ANTHROPIC_API_KEY or providers.anthropic.apiKey`
    }),
  402: ({ said, what }) =>
    new LlmError.PermissionDenied({
      description: `billing problem (${what})${said}; check the plan and credits of the Anthropic account`
    }),
  403: ({ said, what }) => new LlmError.PermissionDenied({ description: `the key may not do this (${what})${said}` }),
  404: ({ call, said, what }) =>
    new LlmError.NotFound({
      description: `model "${call.model}" was not found at ${call.baseUrl} (${what})${said}; check the model name`,
      model: call.model
    }),
  408: ({ said, what }) => ProviderKit.timeoutReason(`the provider timed out the request (${what})${said}`),
  409: ({ said, what, status }) => new LlmError.ServerError({ description: `conflict on the provider's side (${what})${said}`, status }),
  413: ({ said, what }) =>
    new LlmError.InvalidRequest({ description: `the request is too large (${what})${said}; shorten the prompt` }),
  429: ({ said, what, retryAfterMs }) =>
    new LlmError.RateLimited({
      description: `rate limited (${what})${said}`,
      ...(retryAfterMs !== undefined ? { retryAfterMs } : {})
    }),
  503: unavailable,
  504: ({ said, what }) => ProviderKit.timeoutReason(`the provider timed out the request (${what})${said}`),
  529: unavailable,
  "5xx": ({ said, what, status }) => new LlmError.ServerError({ description: `the provider failed (${what})${said}`, status }),
  "4xx": ({ said, what }) => new LlmError.InvalidRequest({ description: `the provider rejected the request (${what})${said}` }),
  orElse: ({ said, what }) => new LlmError.ResponseMalformed({ description: `unexpected answer (${what})${said}` })
})

const saidOf = (call: CallInfo, message: string | null | undefined): string =>
  message !== undefined && message !== null && message !== "" ? `: ${ProviderKit.scrub(message, call.apiKey)}` : ""

/**
 * Maps a non-2xx response. A body whose error type is `overloaded_error` is `Unavailable`
 * whatever the status.
 *
 * @since 0.1.0
 * @category mapping
 */
export const fromStatus = (call: CallInfo, failure: StatusFailure): LlmError.LlmError => {
  const { status } = failure
  const parsed = readErrorBody(failure.body)
  const context: StatusContext = {
    call,
    status,
    what: parsed.type === undefined ? `HTTP ${status}` : `HTTP ${status} ${parsed.type}`,
    retryAfterMs: status === 429 ? retryAfterMs(failure.headers, failure.nowMs) : undefined,
    said: saidOf(call, parsed.message)
  }
  const reason = parsed.type === "overloaded_error" ? unavailable(context) : reasonOf(status, context)
  return LlmError.make(call.provider, reason, {
    model: call.model,
    status,
    requestId: requestIdOf(failure.headers) ?? parsed.requestId
  })
}

/**
 * Maps an `error` event received after the stream opened (the HTTP status was 200): the error
 * type is read as the status Anthropic answers it with (`overloaded_error` -> 529
 * `Unavailable`, `api_error` -> 500 `ServerError`...); an unknown type is a `ServerError`.
 *
 * @since 0.1.0
 * @category mapping
 */
export const fromErrorEvent = (
  call: CallInfo,
  error: { readonly type?: string | null | undefined; readonly message?: string | null | undefined } | null | undefined,
  requestId: string | undefined
): LlmError.LlmError => {
  const type = error?.type ?? undefined
  const status = (type !== undefined ? ERROR_TYPE_STATUS[type] : undefined) ?? 500
  const reason = reasonOf(status, {
    call,
    status,
    what: `${type ?? "an error"} in the stream`,
    retryAfterMs: undefined,
    said: saidOf(call, error?.message)
  })
  return LlmError.make(call.provider, reason, { model: call.model, requestId })
}

/**
 * Maps a failure where no usable status arrived: the connection failed, the URL is invalid, or
 * the body could not be read (a connection lost while a stream was read is `Network`).
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
        setting: "providers.anthropic.baseUrl",
        fix: "give a full URL such as https://api.anthropic.com (config baseUrl or --base-url; a trailing /v1 is accepted)"
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
 * A stream that ended before `message_stop` (and without a stop reason): the connection was
 * closed mid-answer. `Network`, retryable (the retry layer retries only before the first part).
 *
 * @since 0.1.0
 * @category mapping
 */
export const cutOff = (call: CallInfo, requestId: string | undefined): LlmError.LlmError =>
  LlmError.make(
    call.provider,
    new LlmError.Network({ description: `the stream from ${call.baseUrl} ended before the message was complete (no message_stop)` }),
    { model: call.model, requestId }
  )

/**
 * A 2xx response whose body is not JSON or not a message, or a stream event we cannot read.
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
 * The model refused (`stop_reason: "refusal"`) and nothing usable came back.
 *
 * @since 0.1.0
 * @category mapping
 */
export const contentFiltered: (call: CallInfo, detail: string, requestId: string | undefined) => LlmError.LlmError =
  ProviderKit.contentFiltered
