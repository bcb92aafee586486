/**
 * The `fetch` the Gemini SDK is given for one call, and the mapping of what the SDK throws
 * during that call.
 *
 * The wrapper keeps the response headers (the SDK's `ApiError` drops them, and a 429's
 * `retry-after` is read from them), caps the body at `maxResponseBytes` with
 * `ProviderKit.limitFetchResponse` (for a JSON body and for a whole event stream alike), and for
 * a stream refuses a 2xx answer that is not an event stream (`text/event-stream`): the SDK would
 * otherwise wait for events that never come and report an incomplete segment. It is made fresh
 * for each call, so that what it saw is this call's only.
 *
 * @since 0.1.0
 * @internal
 */
import type * as LlmError from "../../../LlmError.ts"
import * as ProviderKit from "../../ProviderKit.ts"
import * as Errors from "./errors.ts"

/**
 * One call's `fetch`, and the mapping of its failures.
 *
 * @since 0.1.0
 * @category models
 */
export interface Transport {
  /** Given to the SDK as `httpOptions.fetch`. */
  readonly fetch: (input: RequestInfo | URL, init?: RequestInit) => Promise<Response>
  /**
   * Maps what the SDK threw (`nowMs` dates a `retry-after`); `midStream` when it was thrown while
   * a stream's chunks were read (a lost connection is then a stream cut off).
   */
  readonly failure: (error: unknown, nowMs: number, midStream?: boolean) => LlmError.LlmError
}

/**
 * How the SDK says a stream ended inside an event (the body closed before its blank line).
 */
const INCOMPLETE = /^Incomplete JSON segment/

/**
 * Makes the transport of one call; `stream` for `streamGenerateContent`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (call: Errors.CallInfo, options: { readonly maxResponseBytes: number; readonly stream: boolean }): Transport => {
  const { maxResponseBytes } = options
  let headers: Headers | undefined
  let tooLarge = false
  let notEventStream: string | undefined
  const onTooLarge = () => {
    tooLarge = true
  }
  return {
    fetch: (input, init) =>
      fetch(input, init).then((response) => {
        headers = response.headers
        if (options.stream && response.ok) {
          const type = (response.headers.get("content-type") ?? "").toLowerCase()
          if (!type.includes("text/event-stream")) {
            notEventStream = type === "" ? "no content type" : type
            void response.body?.cancel().catch(() => undefined)
            throw new TypeError(`expected an event stream, got ${notEventStream}`)
          }
        }
        return ProviderKit.limitFetchResponse(response, maxResponseBytes, onTooLarge)
      }),
    failure: (error, nowMs, midStream = false) => {
      if (tooLarge) return ProviderKit.responseTooLarge({ provider: Errors.PROVIDER, model: call.model, baseUrl: call.baseUrl }, maxResponseBytes)
      if (notEventStream !== undefined) {
        return Errors.malformed(call, `expected an event stream (text/event-stream), got ${notEventStream}`)
      }
      if (options.stream && error instanceof Error && !(error instanceof TypeError)) {
        if (error instanceof SyntaxError) return Errors.malformed(call, "an event of the stream is not JSON")
        if (INCOMPLETE.test(error.message)) return Errors.cutOff(call, "ended in the middle of an event")
        if (error.message === "Response body is empty") return Errors.malformed(call, "the event stream has no body")
      }
      const mapped = Errors.fromUnknown(call, error, headers === undefined ? undefined : ProviderKit.retryAfterMs(headers, nowMs))
      if (midStream && mapped.reason._tag === "Network") {
        const code = ProviderKit.errorCode(error)
        return Errors.cutOff(call, `broke off before Gemini's last chunk (the connection was lost${code !== undefined ? `: ${code}` : ""})`)
      }
      return mapped
    }
  }
}
