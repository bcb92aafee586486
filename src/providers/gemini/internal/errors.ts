/**
 * The one place where a Gemini failure becomes an `LlmError`.
 *
 * `@google/genai` throws an `ApiError` (with `status`, and the JSON error body as its message)
 * for a non-2xx response, a `TypeError` ("fetch failed", with the socket error as `cause`) when
 * the connection fails, and a `SyntaxError` when the body is not JSON. Google's error body is
 * `{ error: { code, message, status: "RESOURCE_EXHAUSTED", details: [...] } }`; a 429's retry
 * hint is in a `google.rpc.RetryInfo` detail (`retryDelay: "37s"`).
 *
 * | status | reason | retryable |
 * |---|---|---|
 * | 400 (other 4xx) | InvalidRequest; Authentication when the key is invalid (`API_KEY_INVALID`); PermissionDenied for `FAILED_PRECONDITION` (region, billing) | no |
 * | 401 | Authentication | no |
 * | 403 | PermissionDenied | no |
 * | 404 | NotFound, naming the model | no |
 * | 408, 504 (`DEADLINE_EXCEEDED`) | Timeout (attempt) | yes |
 * | 429 | RateLimited with `retryAfterMs` from `RetryInfo` or `retry-after` | yes |
 * | 503 | Unavailable (overloaded) | yes |
 * | other 5xx | ServerError | yes |
 *
 * @since 0.1.0
 */
import * as LlmError from "../../../LlmError.ts"
import { errorCode, scrub } from "../../openai/internal/errors.ts"

/**
 * What is known about the call that failed.
 *
 * @since 0.1.0
 * @category models
 */
export interface CallInfo {
  readonly model: string
  readonly baseUrl: string
  readonly apiKey?: string | undefined
}

/**
 * The provider's registered name.
 *
 * @since 0.1.0
 * @category constants
 */
export const PROVIDER = "gemini"

interface GoogleError {
  readonly message?: string | undefined
  readonly status?: string | undefined
  readonly reasons: ReadonlyArray<string>
  readonly retryDelayMs?: number | undefined
}

const parseDelay = (text: unknown): number | undefined => {
  if (typeof text !== "string") return undefined
  const match = /^(\d+(?:\.\d+)?)s$/.exec(text.trim())
  return match === null ? undefined : Math.round(Number(match[1]) * 1000)
}

/**
 * Reads Google's error body (the `ApiError` message is that body as JSON text).
 *
 * @since 0.1.0
 * @category parsing
 */
export const readGoogleError = (text: string): GoogleError => {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    return { message: text, reasons: [] }
  }
  const error = typeof json === "object" && json !== null ? (json as { error?: unknown }).error : undefined
  if (typeof error !== "object" || error === null) return { message: text, reasons: [] }
  const record = error as Record<string, unknown>
  const details = Array.isArray(record.details) ? record.details : []
  const reasons: Array<string> = []
  let retryDelayMs: number | undefined
  for (const detail of details) {
    if (typeof detail !== "object" || detail === null) continue
    const item = detail as Record<string, unknown>
    if (typeof item.reason === "string") reasons.push(item.reason)
    const delay = parseDelay(item.retryDelay)
    if (delay !== undefined) retryDelayMs = delay
  }
  return {
    message: typeof record.message === "string" ? record.message : undefined,
    status: typeof record.status === "string" ? record.status : undefined,
    reasons,
    ...(retryDelayMs !== undefined ? { retryDelayMs } : {})
  }
}

/**
 * Maps a non-2xx status and Google's error body.
 *
 * @since 0.1.0
 * @category mapping
 */
export const fromStatus = (
  call: CallInfo,
  status: number,
  body: string,
  retryAfterHeaderMs?: number | undefined
): LlmError.LlmError => {
  const google = readGoogleError(body)
  const said = google.message !== undefined ? `: ${scrub(google.message, call.apiKey)}` : ""
  const code = google.status !== undefined ? ` ${google.status}` : ""
  const make = (reason: LlmError.LlmErrorReason) => LlmError.make(PROVIDER, reason, { model: call.model, status })
  const keyInvalid = google.reasons.includes("API_KEY_INVALID") || /API key not valid/i.test(google.message ?? "")
  if (status === 401 || (status === 400 && keyInvalid)) {
    return make(new LlmError.Authentication({
      description: `the API key was refused (HTTP ${status}${code})${said}; check GEMINI_API_KEY`
    }))
  }
  if (status === 403 || (status === 400 && google.status === "FAILED_PRECONDITION")) {
    return make(new LlmError.PermissionDenied({ description: `not allowed (HTTP ${status}${code})${said}` }))
  }
  if (status === 404) {
    return make(new LlmError.NotFound({
      description: `model "${call.model}" was not found at ${call.baseUrl} (HTTP 404${code})${said}; check the model name`,
      model: call.model
    }))
  }
  if (status === 408 || status === 504) {
    return make(new LlmError.Timeout({
      description: `the provider timed out the request (HTTP ${status}${code})${said}`,
      scope: "attempt",
      attempts: 1,
      elapsedMs: 0
    }))
  }
  if (status === 429) {
    const after = google.retryDelayMs ?? retryAfterHeaderMs
    return make(new LlmError.RateLimited({
      description: `rate limited (HTTP 429${code})${said}`,
      ...(after !== undefined ? { retryAfterMs: after } : {})
    }))
  }
  if (status === 503) {
    return make(new LlmError.Unavailable({ description: `the provider is overloaded or down (HTTP 503${code})${said}` }))
  }
  if (status >= 500) {
    return make(new LlmError.ServerError({ description: `the provider failed (HTTP ${status}${code})${said}`, status }))
  }
  return make(new LlmError.InvalidRequest({ description: `the provider rejected the request (HTTP ${status}${code})${said}` }))
}

/**
 * Maps anything `@google/genai` throws.
 *
 * @since 0.1.0
 * @category mapping
 */
export const fromUnknown = (call: CallInfo, error: unknown, retryAfterHeaderMs?: number | undefined): LlmError.LlmError => {
  if (LlmError.isLlmError(error)) return error
  if (error instanceof Error && error.name === "ApiError" && typeof (error as { status?: unknown }).status === "number") {
    return fromStatus(call, (error as unknown as { status: number }).status, error.message, retryAfterHeaderMs)
  }
  if (error instanceof SyntaxError) {
    return malformed(call, "the body is not JSON")
  }
  const code = errorCode(error)
  if (code === "UND_ERR_HEADERS_TIMEOUT" || code === "UND_ERR_BODY_TIMEOUT") {
    return LlmError.make(PROVIDER, new LlmError.Timeout({
      description: `the connection to ${call.baseUrl} timed out (${code})`,
      scope: "attempt",
      attempts: 1,
      elapsedMs: 0
    }), { model: call.model })
  }
  if (code !== undefined || (error instanceof TypeError && /fetch failed|network|socket/i.test(error.message))) {
    const what = code === "ECONNREFUSED"
      ? `nothing is listening at ${call.baseUrl} (connection refused); check the base URL`
      : `the connection to ${call.baseUrl} failed${code !== undefined ? ` (${code})` : ""}`
    return LlmError.make(PROVIDER, new LlmError.Network({ description: what }), { model: call.model })
  }
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
  return LlmError.make(
    PROVIDER,
    new LlmError.Unknown({ description: `the Gemini SDK failed: ${scrub(text, call.apiKey)}` }),
    { model: call.model }
  )
}

/**
 * A 2xx response we cannot use (no candidates and no block reason, or not JSON).
 *
 * @since 0.1.0
 * @category mapping
 */
export const malformed = (call: CallInfo, detail: string): LlmError.LlmError =>
  LlmError.make(
    PROVIDER,
    new LlmError.ResponseMalformed({ description: `unreadable response from ${call.baseUrl}: ${detail}` }),
    { model: call.model }
  )

/**
 * The prompt or the output was blocked by Gemini's safety filters.
 *
 * @since 0.1.0
 * @category mapping
 */
export const contentFiltered = (call: CallInfo, detail: string, requestId: string | undefined): LlmError.LlmError =>
  LlmError.make(PROVIDER, new LlmError.ContentFiltered({ description: detail }), { model: call.model, requestId })

/**
 * Our own per-attempt timeout ran out.
 *
 * @since 0.1.0
 * @category mapping
 */
export const timeout = (call: CallInfo, elapsedMs: number): LlmError.LlmError =>
  LlmError.make(
    PROVIDER,
    new LlmError.Timeout({
      description: `no response from ${call.baseUrl} within ${elapsedMs}ms; raise the provider timeout or use a faster model`,
      scope: "attempt",
      attempts: 1,
      elapsedMs
    }),
    { model: call.model }
  )
