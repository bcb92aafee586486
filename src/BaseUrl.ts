/**
 * A provider's base URL: the endpoint a user configures (`--base-url`, `baseUrl:`,
 * `providers.<name>.baseUrl`, a `fallback:` entry's `baseUrl`).
 *
 * It must be an `http://` or `https://` URL ({@link BaseUrlString}, checked when the
 * configuration is loaded, so `--base-url ftp://...` is a `Configuration` error before any
 * call). A gateway may want credentials in it (`?key=...`, Google's usual query parameter, or
 * `https://user:password@host/v1`): {@link endpoint} joins a request path *before* the query,
 * sends the query's secret parameters as `Redacted` values (Effect's HTTP client then keeps them
 * out of its spans and error messages), and gives the base URL to show in messages with its
 * credentials replaced (`Redaction.redactUrl`, the one rule for URLs).
 *
 * @since 0.1.0
 */
import { Redacted, Result, Schema } from "effect"
import { UrlParams } from "effect/http"
import * as Redaction from "./observability/Redaction.ts"

/**
 * An example of a good value, for messages.
 *
 * @since 0.1.0
 * @category constants
 */
export const EXAMPLE = "http://127.0.0.1:8080/v1"

/**
 * Checks a base URL: it must parse and use `http:` or `https:`. The failure never quotes the
 * URL (it may hold a credential); it names the scheme it found.
 *
 * @since 0.1.0
 * @category validation
 */
export const check = (url: string): Result.Result<string, string> => {
  const parsed = URL.parse(url)
  if (parsed === null) return Result.fail(`expected a full http:// or https:// URL, e.g. ${EXAMPLE}`)
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    return Result.fail(`expected an http:// or https:// URL, e.g. ${EXAMPLE}, not a ${parsed.protocol}// URL`)
  }
  return Result.succeed(url)
}

/**
 * A base URL as written in configuration: an `http://` or `https://` URL.
 *
 * @since 0.1.0
 * @category schemas
 */
export const BaseUrlString = Schema.String.check(
  Schema.makeFilter((url: string) => Result.match(check(url), { onFailure: (message) => message, onSuccess: () => undefined }))
).annotate({
  identifier: "BaseUrl",
  description: "The provider's endpoint: an http:// or https:// URL (a query, e.g. ?key=..., is kept and sent with every request).",
  examples: [EXAMPLE]
})

/**
 * Where requests go: the URL to send to (path joined before the base URL's query), the base
 * URL's query parameters, and the base URL as shown in messages.
 *
 * @since 0.1.0
 * @category models
 */
export interface Endpoint {
  /** The base URL's path with the request path appended, without query or fragment. */
  readonly url: string
  /** The base URL's query parameters, secret ones (`Redaction.isSecretParam`) as `Redacted`. */
  readonly urlParams: UrlParams.UrlParams
  /** The base URL for messages, credentials redacted (no trailing slash). */
  readonly shown: string
}

const trimSlash = (url: string): string => (url.endsWith("/") ? url.slice(0, -1) : url)

/**
 * Joins a request path (`/chat/completions`) to a base URL before its query, so that
 * `http://host/v1?key=abc` sends to `http://host/v1/chat/completions?key=abc`.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * const target = BaseUrl.endpoint("https://gw.example/v1?key=abc", "/chat/completions")
 * // target.url: "https://gw.example/v1/chat/completions", target.shown: "https://gw.example/v1?key=<redacted>"
 */
export const endpoint = (baseUrl: string, path: string): Endpoint => {
  const hash = baseUrl.indexOf("#")
  const withoutHash = hash === -1 ? baseUrl : baseUrl.slice(0, hash)
  const question = withoutHash.indexOf("?")
  const base = trimSlash(question === -1 ? withoutHash : withoutHash.slice(0, question))
  const params: Array<readonly [string, string | Redacted.Redacted]> = []
  if (question !== -1) {
    for (const [name, value] of new URLSearchParams(withoutHash.slice(question + 1))) {
      params.push([name, Redaction.isSecretParam(name) ? Redacted.make(value) : value])
    }
  }
  const shownBase = question === -1 ? base : `${base}${withoutHash.slice(question)}`
  return { url: `${base}${path}`, urlParams: UrlParams.make(params), shown: Redaction.redactUrl(shownBase) }
}
