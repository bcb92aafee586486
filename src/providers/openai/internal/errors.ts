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
  /** `: <the provider's message, scrubbed>`, or nothing. */
  readonly said: string
}

const reasonOf = ProviderKit.statusTable<StatusContext>({
  401: ({ call, said }) =>
    new LlmError.Authentication({
      description: `the API key was refused (HTTP 401)${said}; check the key for ${call.provider}`
    }),
  402: ({ call, said }) =>
    new LlmError.PermissionDenied({
      description: `payment required (HTTP 402)${said}; add credits to the ${call.provider} account`
    }),
  403: ({ said }) => new LlmError.PermissionDenied({ description: `the key may not do this (HTTP 403)${said}` }),
  404: ({ call, said }) =>
    new LlmError.NotFound({
      description: `model "${call.model}" was not found at ${call.baseUrl} (HTTP 404)${said}; check the model name`,
      model: call.model
    }),
  408: ({ said }) => ProviderKit.timeoutReason(`the provider timed out the request (HTTP 408)${said}`),
  409: ({ said }) => new LlmError.ServerError({ description: `conflict on the provider's side (HTTP 409)${said}`, status: 409 }),
  429: ({ failure, parsed, said }) => {
    if (parsed.code === "insufficient_quota" || parsed.type === "insufficient_quota") {
      return new LlmError.PermissionDenied({
        description: `quota exhausted (HTTP 429 insufficient_quota)${said}; check the plan and billing of the account`
      })
    }
    const after = retryAfterMs(failure.headers, failure.nowMs)
    return new LlmError.RateLimited({
      description: `rate limited (HTTP 429)${said}`,
      ...(after !== undefined ? { retryAfterMs: after } : {})
    })
  },
  503: ({ said }) => new LlmError.Unavailable({ description: `the provider is overloaded or down (HTTP 503)${said}` }),
  529: ({ said }) => new LlmError.Unavailable({ description: `the provider is overloaded or down (HTTP 529)${said}` }),
  "5xx": ({ failure, said }) =>
    new LlmError.ServerError({ description: `the provider failed (HTTP ${failure.status})${said}`, status: failure.status }),
  "4xx": ({ failure, parsed, said }) =>
    new LlmError.InvalidRequest({
      description: `the provider rejected the request (HTTP ${failure.status})${said}`,
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
    : reasonOf(status, { call, failure, parsed, said })
  return LlmError.make(call.provider, reason, { model: call.model, status, requestId: requestIdOf(failure.headers) })
}

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
