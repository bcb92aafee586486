/**
 * Scrubbing secrets out of anything that leaves the process as text: log lines, recorded
 * fixtures, span attributes.
 *
 * Three rules: a field whose *name* says it holds a secret (`authorization`, `apiKey`,
 * `x-api-key`, `cookie`, `password`...) is replaced whole; a `Redacted` value is replaced; and
 * any string is passed through the key-shaped detector of {@link PiiDetector} (`sk-...`,
 * `AIza...`, JWTs, `Bearer` tokens, `api_key=...` assignments), so a key pasted into an
 * error message or a URL is caught too.
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

/**
 * Replaces key-shaped substrings in a text.
 *
 * @since 0.1.0
 * @category scrubbing
 */
export const scrubText = (text: string): string =>
  PiiDetector.redact(text, { kinds: apiKeyOnly, replacement: () => PLACEHOLDER })

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
