/**
 * The one place where an OpenAI-protocol failure becomes an `LlmError`.
 *
 * Used by the `openai`, `openrouter` and `openai-compatible` providers alike. A response with a
 * non-2xx status goes through {@link fromStatus}; a failure before any status (refused or reset
 * connection, invalid URL) through {@link fromTransport}; a body we cannot read through
 * {@link malformed}; a client-side timeout through {@link timeout}.
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
 *
 * @since 0.1.0
 */
import type { HttpClientError } from "effect/http"
import * as LlmError from "../../../LlmError.ts"

/**
 * What is known about the call that failed.
 *
 * @since 0.1.0
 * @category models
 */
export interface CallInfo {
  readonly provider: string
  readonly model: string
  readonly baseUrl: string
  /** The key, only to scrub it out of provider messages. */
  readonly apiKey?: string | undefined
}

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

const MAX_PROVIDER_TEXT = 300

/**
 * Removes secrets from a provider's text: the key itself, and anything shaped like a bearer
 * token or an `sk-` key (a compatible server may echo the header back).
 *
 * @since 0.1.0
 * @category redaction
 */
export const scrub = (text: string, apiKey?: string): string => {
  let out = text
  if (apiKey !== undefined && apiKey.length >= 4) out = out.split(apiKey).join("[redacted]")
  out = out.replace(/\bsk-[A-Za-z0-9_\-*]{6,}/g, "sk-[redacted]").replace(/Bearer\s+\S+/gi, "Bearer [redacted]")
  out = out.replace(/\s+/g, " ").trim()
  return out.length > MAX_PROVIDER_TEXT ? `${out.slice(0, MAX_PROVIDER_TEXT)}...` : out
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
 * an HTTP date), then the largest `x-ratelimit-reset*` header.
 *
 * @since 0.1.0
 * @category parsing
 */
export const retryAfterMs = (
  headers: Readonly<Record<string, string | undefined>>,
  nowMs: number
): number | undefined => {
  const ms = headers["retry-after-ms"]
  if (ms !== undefined && ms.trim() !== "" && Number.isFinite(Number(ms)) && Number(ms) >= 0) {
    return Math.round(Number(ms))
  }
  const after = headers["retry-after"]
  if (after !== undefined && after.trim() !== "") {
    const seconds = Number(after)
    if (Number.isFinite(seconds) && seconds >= 0) return Math.round(seconds * 1000)
    const date = Date.parse(after)
    if (!Number.isNaN(date)) return Math.max(0, date - nowMs)
  }
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

/**
 * Maps a non-2xx response.
 *
 * @since 0.1.0
 * @category mapping
 */
export const fromStatus = (call: CallInfo, failure: StatusFailure): LlmError.LlmError => {
  const { status } = failure
  const parsed = readErrorBody(failure.body)
  const said = parsed.message !== undefined ? `: ${scrub(parsed.message, call.apiKey)}` : ""
  const extra = { model: call.model, status, requestId: requestIdOf(failure.headers) }
  const make = (reason: LlmError.LlmErrorReason) => LlmError.make(call.provider, reason, extra)

  if (isContentFilter(parsed)) {
    return make(new LlmError.ContentFiltered({ description: `the provider filtered the content (HTTP ${status})${said}` }))
  }
  switch (status) {
    case 401:
      return make(new LlmError.Authentication({
        description: `the API key was refused (HTTP 401)${said}; check the key for ${call.provider}`
      }))
    case 402:
      return make(new LlmError.PermissionDenied({
        description: `payment required (HTTP 402)${said}; add credits to the ${call.provider} account`
      }))
    case 403:
      return make(new LlmError.PermissionDenied({
        description: `the key may not do this (HTTP 403)${said}`
      }))
    case 404:
      return make(new LlmError.NotFound({
        description: `model "${call.model}" was not found at ${call.baseUrl} (HTTP 404)${said}; check the model name`,
        model: call.model
      }))
    case 408:
      return make(new LlmError.Timeout({
        description: `the provider timed out the request (HTTP 408)${said}`,
        scope: "attempt",
        attempts: 1,
        elapsedMs: 0
      }))
    case 409:
      return make(new LlmError.ServerError({ description: `conflict on the provider's side (HTTP 409)${said}`, status }))
    case 429: {
      if (parsed.code === "insufficient_quota" || parsed.type === "insufficient_quota") {
        return make(new LlmError.PermissionDenied({
          description: `quota exhausted (HTTP 429 insufficient_quota)${said}; check the plan and billing of the account`
        }))
      }
      const after = retryAfterMs(failure.headers, failure.nowMs)
      return make(new LlmError.RateLimited({
        description: `rate limited (HTTP 429)${said}`,
        ...(after !== undefined ? { retryAfterMs: after } : {})
      }))
    }
    case 503:
    case 529:
      return make(new LlmError.Unavailable({ description: `the provider is overloaded or down (HTTP ${status})${said}` }))
  }
  if (status >= 500) {
    return make(new LlmError.ServerError({ description: `the provider failed (HTTP ${status})${said}`, status }))
  }
  if (status >= 400) {
    return make(new LlmError.InvalidRequest({
      description: `the provider rejected the request (HTTP ${status})${said}`,
      ...(parsed.code !== undefined && /param|unsupported/.test(parsed.code) ? { parameter: parsed.code } : {})
    }))
  }
  return make(new LlmError.ResponseMalformed({ description: `unexpected HTTP status ${status}${said}` }))
}

const NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "UND_ERR_SOCKET",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_CLOSED"
])

const TIMEOUT_CODES = new Set(["UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT"])

/**
 * The first error code (`ECONNREFUSED`, `UND_ERR_SOCKET`...) found on an error or its causes.
 *
 * @since 0.1.0
 * @category parsing
 */
export const errorCode = (error: unknown): string | undefined => {
  let current: unknown = error
  for (let depth = 0; depth < 6 && typeof current === "object" && current !== null; depth++) {
    const code = (current as { code?: unknown }).code
    if (typeof code === "string") return code
    const errors = (current as { errors?: unknown }).errors
    if (Array.isArray(errors) && errors.length > 0) {
      const inner = errorCode(errors[0])
      if (inner !== undefined) return inner
    }
    current = (current as { cause?: unknown }).cause
  }
  return undefined
}

/**
 * Maps a failure where no usable status arrived: the connection failed, the URL is invalid, or
 * the body could not be read.
 *
 * @since 0.1.0
 * @category mapping
 */
export const fromTransport = (call: CallInfo, error: HttpClientError.HttpClientError): LlmError.LlmError => {
  const extra = { model: call.model }
  const reason = error.reason
  const code = errorCode(reason.cause)
  switch (reason._tag) {
    case "InvalidUrlError":
      return LlmError.make(call.provider, new LlmError.Configuration({
        description: `the base URL "${call.baseUrl}" is not a valid URL`,
        setting: "baseUrl",
        fix: "give a full URL such as http://localhost:11434/v1 (config baseUrl or --base-url)"
      }), extra)
    case "EncodeError":
      return LlmError.make(call.provider, new LlmError.InvalidRequest({
        description: "the request could not be encoded as JSON"
      }), extra)
    default:
      break
  }
  if (code !== undefined && TIMEOUT_CODES.has(code)) {
    return LlmError.make(call.provider, new LlmError.Timeout({
      description: `the connection to ${call.baseUrl} timed out (${code})`,
      scope: "attempt",
      attempts: 1,
      elapsedMs: 0
    }), extra)
  }
  if (reason._tag === "DecodeError" || reason._tag === "EmptyBodyError") {
    if (code === undefined || !NETWORK_CODES.has(code)) {
      return malformed(call, `the response body could not be read (${reason._tag})`, reason.response?.headers)
    }
  }
  const what = code === "ECONNREFUSED"
    ? `nothing is listening at ${call.baseUrl} (connection refused); check the base URL or start the server`
    : code === "ENOTFOUND" || code === "EAI_AGAIN"
    ? `the host of ${call.baseUrl} could not be resolved (${code}); check the base URL and the network`
    : `the connection to ${call.baseUrl} failed${code !== undefined ? ` (${code})` : ""}`
  return LlmError.make(call.provider, new LlmError.Network({ description: what }), extra)
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
): LlmError.LlmError =>
  LlmError.make(
    call.provider,
    new LlmError.ResponseMalformed({ description: `unreadable response from ${call.baseUrl}: ${detail}` }),
    { model: call.model, requestId: headers !== undefined ? requestIdOf(headers) : undefined }
  )

/**
 * Our own per-attempt timeout ran out before the provider answered.
 *
 * @since 0.1.0
 * @category mapping
 */
export const timeout = (call: CallInfo, elapsedMs: number): LlmError.LlmError =>
  LlmError.make(
    call.provider,
    new LlmError.Timeout({
      description: `no response from ${call.baseUrl} within ${elapsedMs}ms; raise the provider timeout or use a faster model`,
      scope: "attempt",
      attempts: 1,
      elapsedMs
    }),
    { model: call.model }
  )

/**
 * The model answered, but the content was filtered and nothing usable came back.
 *
 * @since 0.1.0
 * @category mapping
 */
export const contentFiltered = (call: CallInfo, detail: string, requestId: string | undefined): LlmError.LlmError =>
  LlmError.make(call.provider, new LlmError.ContentFiltered({ description: detail }), {
    model: call.model,
    requestId
  })
