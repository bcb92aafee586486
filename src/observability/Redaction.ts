/**
 * Scrubbing secrets out of anything that leaves the process as text: log lines, recorded
 * fixtures, span attributes, and the provider text quoted in error messages. This is the one
 * scrubber: observability, the test kits and every provider (through `ProviderKit.scrub`) use it.
 *
 * Five rules: a field whose *name* says it holds a secret (`authorization`, `apiKey`,
 * `x-api-key`, `cookie`, `password`...) is replaced whole; a `Redacted` value is replaced; a
 * secret the caller knows (the API key of the call) is replaced wherever it appears; every URL
 * in a text loses its credentials ({@link redactUrl}: the password of `user:password@host` and
 * the value of a query parameter whose name says it is a secret, `?key=`, `api_key=`, `token=`,
 * `sig=`...); and any string is passed through the key-shaped detector of {@link PiiDetector}
 * (`sk-...`, `AIza...`, JWTs, `api_key=...` assignments) and a short-key rule (`sk-` followed by
 * six or more key characters, including the `*` of a masked key, and `Bearer <token>`), so a key
 * pasted into an error message or a URL is caught too.
 *
 * @since 0.1.0
 */
import { Redacted } from "effect"
import * as PiiDetector from "../pii/PiiDetector.ts"

/**
 * What a scrubbed secret is replaced with.
 *
 * @since 0.1.0
 * @category constants
 */
export const PLACEHOLDER = "<redacted>"

const SECRET_FIELD = /^(?:authorization|proxy-authorization|x-api-key|x-goog-api-key|api[-_]?key|apikey|secret|client[-_]?secret|password|passwd|cookie|set-cookie|access[-_]?token|refresh[-_]?token|token|bearer)$/i

/**
 * Whether a field name says its value is a secret.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isSecretField = (name: string): boolean => SECRET_FIELD.test(name)

const apiKeyOnly: ReadonlyArray<PiiDetector.PiiKind> = ["apiKey"]

// A query parameter that carries a credential: `key` (Google), `api_key`, `x-api-key`,
// `subscription-key`, `token`, `access_token`, `secret`, `password`, `sig`/`signature` (signed
// URLs), `X-Amz-Credential`... A name that merely contains one of these words (`keyword`,
// `tokenizer`) is not one.
const SECRET_PARAM =
  /^(?:.*[-_.])?(?:key|apikey|token|secret|password|passwd|pwd|sig|signature|credential|auth|authorization)$|^awsaccesskeyid$/i

/**
 * Whether a URL query parameter's name says its value is a secret (`key`, `api_key`, `token`,
 * `sig`, `X-Amz-Signature`...).
 *
 * @since 0.1.0
 * @category predicates
 */
export const isSecretParam = (name: string): boolean => SECRET_PARAM.test(name)

const decodeName = (name: string): string => {
  if (!name.includes("%") && !name.includes("+")) return name
  try {
    return decodeURIComponent(name.replace(/\+/g, " "))
  } catch {
    return name
  }
}

// Punctuation that ends a sentence around a URL is not part of a value: `(at ...?key=abc).`
const TRAILING = /[).,;:!]+$/

const redactParam = (separator: string, name: string, value: string): string => {
  if (value === "" || !isSecretParam(decodeName(name))) return `${separator}${name}=${value}`
  const trailing = TRAILING.exec(value)?.[0] ?? ""
  return `${separator}${name}=${PLACEHOLDER}${trailing}`
}

// `?name=value` / `&name=value` anywhere in a text (a full URL, a path with a query, a log line).
const QUERY_PARAM = /([?&])([^=&#?\s"'<>\\]+)=([^&#\s"'<>\\]*)/g
// `scheme://userinfo@` (the userinfo is everything before the last `@` of the authority).
const USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s/?#"'<>\\]*)@/gi

const redactUserinfo = (_match: string, scheme: string, userinfo: string): string => {
  if (userinfo === "") return `${scheme}@`
  const colon = userinfo.indexOf(":")
  // `user:password@`: the password goes; a lone part (`token@host`) is usually a token.
  return colon === -1 ? `${scheme}${PLACEHOLDER}@` : `${scheme}${userinfo.slice(0, colon)}:${PLACEHOLDER}@`
}

const redactUrls = (text: string): string => {
  let out = text
  if (out.includes("@") && out.includes("://")) out = out.replace(USERINFO, redactUserinfo)
  if (out.includes("=") && (out.includes("?") || out.includes("&"))) {
    out = out.replace(QUERY_PARAM, (_match, separator: string, name: string, value: string) => redactParam(separator, name, value))
  }
  return out
}

/**
 * The one rule for URLs: the password of the userinfo (`user:<redacted>@host`; a userinfo with
 * no password, often a token, is replaced whole) and the value of every query parameter whose
 * name says it is a secret ({@link isSecretParam}) are replaced; the rest (host, path, other
 * parameters, fragment) is kept. {@link scrubText} applies it to every URL in a text.
 *
 * @since 0.1.0
 * @category scrubbing
 * @example
 * Redaction.redactUrl("https://u:pw@host/v1?key=AIza123&alt=sse") // "https://u:<redacted>@host/v1?key=<redacted>&alt=sse"
 */
export const redactUrl = (url: string): string => redactUrls(url)

/**
 * The query-string half of {@link redactUrl}, for a query given without its URL (`key=abc&alt=sse`,
 * as in OpenTelemetry's `url.query`).
 *
 * @since 0.1.0
 * @category scrubbing
 */
export const redactQuery = (query: string): string => redactUrls(`?${query}`).slice(1)

// Shorter than the detector's key shapes: a provider may echo a masked or truncated key
// (`sk-proj-****1234`) or the header it received. A bearer token is read in its own alphabet
// (RFC 6750), so a scrubbed JSON log line keeps its quotes.
const SHORT_KEY = /\bsk-[A-Za-z0-9_\-*]{6}[A-Za-z0-9_\-*]*|\b(bearer)\s+[A-Za-z0-9\-._~+/]{8}[A-Za-z0-9\-._~+/]*=*/gi

const shortKey = (_match: string, bearer: string | undefined): string =>
  bearer === undefined ? PLACEHOLDER : `${bearer} ${PLACEHOLDER}`

/**
 * Replaces secrets in a text: the given `secrets` (e.g. the API key of the call; values shorter
 * than 4 characters are ignored), the credentials of every URL ({@link redactUrl}), key-shaped
 * substrings, and bearer tokens.
 *
 * @since 0.1.0
 * @category scrubbing
 * @example
 * Redaction.scrubText("key sk-proj-0123456789abcdefghij0123 refused") // "key <redacted> refused"
 */
export const scrubText = (text: string, secrets?: ReadonlyArray<string | undefined>): string => {
  let out = text
  if (secrets !== undefined) {
    for (const secret of secrets) {
      if (secret !== undefined && secret.length >= 4 && out.includes(secret)) out = out.split(secret).join(PLACEHOLDER)
    }
  }
  out = redactUrls(out)
  out = PiiDetector.redact(out, { kinds: apiKeyOnly, replacement: () => PLACEHOLDER })
  SHORT_KEY.lastIndex = 0
  return SHORT_KEY.test(out) ? out.replace(SHORT_KEY, shortKey) : out
}

/**
 * Scrubs a JSON-like value deeply: secret-named fields, `Redacted` values and key-shaped
 * strings. Returns a new value; the input is not modified.
 *
 * @since 0.1.0
 * @category scrubbing
 */
export const scrubValue = (value: unknown): unknown => {
  if (typeof value === "string") return scrubText(value)
  if (value === null || typeof value !== "object") return value
  if (Redacted.isRedacted(value)) return PLACEHOLDER
  if (Array.isArray(value)) return value.map(scrubValue)
  const out: Record<string, unknown> = {}
  for (const [key, field] of Object.entries(value)) {
    out[key] = isSecretField(key) && field !== undefined && field !== null ? PLACEHOLDER : scrubValue(field)
  }
  return out
}
