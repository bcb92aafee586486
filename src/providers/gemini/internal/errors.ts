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
 * On a stream the SDK throws the same `ApiError` for an error chunk (`{"error": {"code": 503,
 * ...}}`), mapped by the same table; a lost connection while chunks are read, or a body that ends
 * before the finish reason, is {@link cutOff} (`Network`, retryable); a chunk that is not JSON
 * (the SDK's `SyntaxError`), or a 2xx answer that is not an event stream, is `ResponseMalformed`
 * (see `transport.ts`).
 *
 * The table is built with `ProviderKit.statusTable`; socket errors, scrubbing and the shared
 * error builders come from the kit.
 *
 * @since 0.1.0
 */
import * as LlmError from "../../../LlmError.ts"
import * as ProviderKit from "../../ProviderKit.ts"

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

/** What a row of the status table knows. */
interface StatusContext {
  readonly call: CallInfo
  readonly status: number
  readonly google: GoogleError
  /** ` <Google's status>`, e.g. ` RESOURCE_EXHAUSTED`, or nothing. */
  readonly code: string
  /** `: <Google's message, scrubbed>`, or nothing. */
  readonly said: string
  readonly retryAfterHeaderMs: number | undefined
}

const authentication = ({ code, said, status }: StatusContext) =>
  new LlmError.Authentication({ description: `the API key was refused (HTTP ${status}${code})${said}; check GEMINI_API_KEY` })

const permissionDenied = ({ code, said, status }: StatusContext) =>
  new LlmError.PermissionDenied({ description: `not allowed (HTTP ${status}${code})${said}` })

const invalidRequest = ({ code, said, status }: StatusContext) =>
  new LlmError.InvalidRequest({ description: `the provider rejected the request (HTTP ${status}${code})${said}` })

const timedOut = ({ code, said, status }: StatusContext) =>
  ProviderKit.timeoutReason(`the provider timed out the request (HTTP ${status}${code})${said}`)

const reasonOf = ProviderKit.statusTable<StatusContext>({
  400: (context) => {
    const { google } = context
    if (google.reasons.includes("API_KEY_INVALID") || /API key not valid/i.test(google.message ?? "")) {
      return authentication(context)
    }
    return google.status === "FAILED_PRECONDITION" ? permissionDenied(context) : invalidRequest(context)
  },
  401: authentication,
  403: permissionDenied,
  404: ({ call, code, said }) =>
    new LlmError.NotFound({
      description: `model "${call.model}" was not found at ${call.baseUrl} (HTTP 404${code})${said}; check the model name`,
      model: call.model
    }),
  408: timedOut,
  504: timedOut,
  429: ({ code, google, retryAfterHeaderMs, said }) => {
    const after = google.retryDelayMs ?? retryAfterHeaderMs
    return new LlmError.RateLimited({
      description: `rate limited (HTTP 429${code})${said}`,
      ...(after !== undefined ? { retryAfterMs: after } : {})
    })
  },
  503: ({ code, said }) => new LlmError.Unavailable({ description: `the provider is overloaded or down (HTTP 503${code})${said}` }),
  "5xx": ({ code, said, status }) =>
    new LlmError.ServerError({ description: `the provider failed (HTTP ${status}${code})${said}`, status }),
  orElse: invalidRequest
})

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
  const said = google.message !== undefined ? `: ${ProviderKit.scrub(google.message, call.apiKey)}` : ""
  const code = google.status !== undefined ? ` ${google.status}` : ""
  const reason = reasonOf(status, { call, status, google, code, said, retryAfterHeaderMs })
  return LlmError.make(PROVIDER, reason, { model: call.model, status })
}

const kitCall = (call: CallInfo): ProviderKit.CallInfo => ({ provider: PROVIDER, ...call })

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
  const code = ProviderKit.errorCode(error)
  if (code !== undefined || (error instanceof TypeError && /fetch failed|network|socket/i.test(error.message))) {
    return ProviderKit.connectionFailure(kitCall(call), code)
  }
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
  return LlmError.make(
    PROVIDER,
    new LlmError.Unknown({ description: `the Gemini SDK failed: ${ProviderKit.scrub(text, call.apiKey)}` }),
    { model: call.model }
  )
}

/**
 * A 2xx response we cannot use (no candidates and no block reason, or not JSON).
 *
 * @since 0.1.0
 * @category mapping
 */
export const malformed = (call: CallInfo, detail: string): LlmError.LlmError => ProviderKit.malformed(kitCall(call), detail)

/**
 * The prompt or the output was blocked by Gemini's safety filters.
 *
 * @since 0.1.0
 * @category mapping
 */
export const contentFiltered = (call: CallInfo, detail: string, requestId: string | undefined): LlmError.LlmError =>
  ProviderKit.contentFiltered(kitCall(call), detail, requestId)

/**
 * Our own per-attempt timeout ran out.
 *
 * @since 0.1.0
 * @category mapping
 */
export const timeout = (call: CallInfo, elapsedMs: number): LlmError.LlmError =>
  ProviderKit.attemptTimeout(kitCall(call), elapsedMs)

/**
 * A stream that broke off before Gemini's last chunk (the connection lost or closed early):
 * `Network`, retryable.
 *
 * @since 0.1.0
 * @category mapping
 */
export const cutOff = (call: CallInfo, detail: string, requestId?: string | undefined): LlmError.LlmError =>
  LlmError.make(
    PROVIDER,
    new LlmError.Network({ description: `the stream from ${call.baseUrl} ${detail}` }),
    { model: call.model, requestId }
  )
