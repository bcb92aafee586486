/**
 * How a failure becomes an HTTP answer, once for every door of the server: the status of an
 * `errorType` (an `LlmError` reason, or `InvalidInput`), the `retry-after` header where waiting
 * helps, and the error bodies of the protocols served (the bridge's failure document on
 * `/execute`, OpenAI's `{ error: { message, type, code } }` on `/v1/chat/completions`,
 * Anthropic's `{ type: "error", error: { type, message } }` on `/v1/messages`).
 *
 * | errorType | status |
 * | --- | --- |
 * | InvalidInput, InvalidRequest, ContentFiltered, Unsupported, InvalidOutput | 400 (413 for a request over `maxRequestBytes`) |
 * | Authentication | 401 |
 * | PermissionDenied, PolicyDenied | 403 |
 * | NotFound | 404 |
 * | RateLimited, BudgetExceeded | 429 (`retry-after` from the provider's hint) |
 * | ServerError, Network, ResponseMalformed | 502 |
 * | Unavailable, CircuitOpen | 503 |
 * | Timeout | 504 |
 * | Interrupted | 499 (the client went away) |
 * | anything else | 500 |
 *
 * @since 0.1.0
 */
import * as BridgeContract from "../bridge/BridgeContract.ts"
import * as RequestSize from "../RequestSize.ts"

/**
 * The HTTP status of a failure document.
 *
 * @since 0.1.0
 * @category mapping
 */
export const statusOf = (failure: BridgeContract.BridgeFailure): number => {
  const document = failure as BridgeContract.BridgeFailure & { readonly parameter?: unknown }
  switch (failure.errorType) {
    case BridgeContract.INVALID_INPUT:
    case "ContentFiltered":
    case "Unsupported":
    case "InvalidOutput":
      return 400
    case "InvalidRequest":
      return document.parameter === RequestSize.SETTING ? 413 : 400
    case "Authentication":
      return 401
    case "PermissionDenied":
    case "PolicyDenied":
      return 403
    case "NotFound":
      return 404
    case "RateLimited":
    case "BudgetExceeded":
      return 429
    case "ServerError":
    case "Network":
    case "ResponseMalformed":
      return 502
    case "Unavailable":
    case "CircuitOpen":
      return 503
    case "Timeout":
      return 504
    case "Interrupted":
      return 499
    default:
      return 500
  }
}

/**
 * The `retry-after` header (whole seconds, at least 1) of a failure, when waiting helps: a
 * rate limit with the provider's hint, or a refusal to take more work (503).
 *
 * @since 0.1.0
 * @category mapping
 */
export const retryAfterOf = (failure: BridgeContract.BridgeFailure): Record<string, string> => {
  const hint = (failure as { readonly retryAfterMs?: unknown }).retryAfterMs
  if (typeof hint === "number" && Number.isFinite(hint) && hint >= 0) return { "retry-after": String(Math.max(1, Math.ceil(hint / 1000))) }
  if (failure.errorType === "RateLimited" || failure.errorType === "Unavailable") return { "retry-after": "1" }
  return {}
}

/**
 * OpenAI's error `type` for a status.
 *
 * @since 0.1.0
 * @category mapping
 */
export const openAiType = (status: number): string =>
  status === 401
    ? "authentication_error"
    : status === 403
    ? "permission_error"
    : status === 404
    ? "not_found_error"
    : status === 429
    ? "rate_limit_error"
    : status < 500
    ? "invalid_request_error"
    : "server_error"

/**
 * The OpenAI error body of a failure (`code` is our `errorType`).
 *
 * @since 0.1.0
 * @category bodies
 */
export const openAiBody = (failure: BridgeContract.BridgeFailure) => ({
  error: {
    message: failure.error,
    type: openAiType(statusOf(failure)),
    param: null,
    code: failure.errorType
  }
})

/**
 * Anthropic's error `type` for a status.
 *
 * @since 0.1.0
 * @category mapping
 */
export const anthropicType = (status: number): string =>
  status === 401
    ? "authentication_error"
    : status === 403
    ? "permission_error"
    : status === 404
    ? "not_found_error"
    : status === 413
    ? "request_too_large"
    : status === 429
    ? "rate_limit_error"
    : status === 503
    ? "overloaded_error"
    : status === 504
    ? "timeout_error"
    : status < 500
    ? "invalid_request_error"
    : "api_error"

/**
 * The Anthropic error body of a failure.
 *
 * @since 0.1.0
 * @category bodies
 */
export const anthropicBody = (failure: BridgeContract.BridgeFailure) => ({
  type: "error",
  error: { type: anthropicType(statusOf(failure)), message: failure.error }
})

/**
 * The failure of a request refused because the server has as many requests as it takes (503).
 *
 * @since 0.1.0
 * @category failures
 */
export const overloaded = (maxInFlight: number): BridgeContract.BridgeFailure => ({
  error: `the server is busy: ${maxInFlight} requests are in flight (serve.maxInFlight); retry after the retry-after header`,
  errorType: "Unavailable",
  retryable: true
})

/**
 * The failure of a request arriving while the server drains for shutdown (503).
 *
 * @since 0.1.0
 * @category failures
 */
export const shuttingDown: BridgeContract.BridgeFailure = {
  error: "the server is shutting down; retry on another instance",
  errorType: "Unavailable",
  retryable: true
}

/**
 * The failure of a body over the limit (413).
 *
 * @since 0.1.0
 * @category failures
 */
export const tooLarge = (limit: number): BridgeContract.BridgeFailure => ({
  error: `the request body is over ${RequestSize.formatBytes(limit)}; send a smaller request, or raise maxRequestBytes (--max-request-bytes)`,
  errorType: "InvalidRequest",
  retryable: false,
  parameter: RequestSize.SETTING
} as BridgeContract.BridgeFailure)

/**
 * The failure of a request that took longer than `serve.requestTimeout` (504).
 *
 * @since 0.1.0
 * @category failures
 */
export const requestTimedOut = (timeoutMs: number): BridgeContract.BridgeFailure => ({
  error: `the request took longer than ${timeoutMs} ms (serve.requestTimeout) and was stopped`,
  errorType: "Timeout",
  retryable: true
})
