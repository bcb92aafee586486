/**
 * Scrubbing secrets out of anything that leaves the process as text: log lines, recorded
 * fixtures, span attributes, and the provider text quoted in error messages. This is the one
 * scrubber: observability, the test kits and every provider (through `ProviderKit.scrub`) use it.
 *
 * Four rules: a field whose *name* says it holds a secret (`authorization`, `apiKey`,
 * `x-api-key`, `cookie`, `password`...) is replaced whole; a `Redacted` value is replaced; a
 * secret the caller knows (the API key of the call) is replaced wherever it appears; and any
 * string is passed through the key-shaped detector of {@link PiiDetector} (`sk-...`,
 * `AIza...`, JWTs, `api_key=...` assignments) and a short-key rule (`sk-` followed by six or more
 * key characters, including the `*` of a masked key, and `Bearer <token>`), so a key pasted into
 * an error message or a URL is caught too.
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

// Shorter than the detector's key shapes: a provider may echo a masked or truncated key
// (`sk-proj-****1234`) or the header it received. A bearer token is read in its own alphabet
// (RFC 6750), so a scrubbed JSON log line keeps its quotes.
const SHORT_KEY = /\bsk-[A-Za-z0-9_\-*]{6,}|\b(bearer)\s+[A-Za-z0-9\-._~+/]{8,}=*/gi

const shortKey = (_match: string, bearer: string | undefined): string =>
  bearer === undefined ? PLACEHOLDER : `${bearer} ${PLACEHOLDER}`

/**
 * Replaces secrets in a text: the given `secrets` (e.g. the API key of the call; values shorter
 * than 4 characters are ignored), key-shaped substrings, and bearer tokens.
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
