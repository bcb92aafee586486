/**
 * Finds and redacts personal data and secrets in text.
 *
 * Each kind is a candidate pattern plus, where one exists, a checksum or structural check that
 * throws out look-alikes: credit card numbers must pass Luhn and start with a known issuer
 * prefix, IBANs must pass ISO 13616 mod-97, IPv6 addresses must parse, SSNs exclude the ranges
 * the SSA never issues. Findings report the kind and position, so callers can act on the kinds
 * without ever handling the values (the guard layer's errors name kinds only).
 *
 * @since 0.1.0
 */
import { isIPv6 } from "node:net"

/**
 * The kinds of data the detector knows.
 *
 * @since 0.1.0
 * @category models
 */
export type PiiKind = "email" | "phone" | "creditCard" | "iban" | "ssn" | "ipv4" | "ipv6" | "apiKey"

/**
 * Every kind, in priority order: when two findings overlap, the earlier kind wins.
 *
 * @since 0.1.0
 * @category constants
 */
export const allKinds: ReadonlyArray<PiiKind> = ["apiKey", "email", "iban", "creditCard", "ssn", "phone", "ipv6", "ipv4"]

/**
 * One finding: the kind and where it is (`text.slice(start, end)` is the value).
 *
 * @since 0.1.0
 * @category models
 */
export interface Finding {
  readonly kind: PiiKind
  readonly start: number
  readonly end: number
}

/**
 * Luhn checksum (credit card numbers).
 *
 * @since 0.1.0
 * @category checks
 */
export const luhn = (digits: string): boolean => {
  let sum = 0
  let double = false
  for (let index = digits.length - 1; index >= 0; index--) {
    let digit = digits.charCodeAt(index) - 48
    if (digit < 0 || digit > 9) return false
    if (double) {
      digit *= 2
      if (digit > 9) digit -= 9
    }
    sum += digit
    double = !double
  }
  return digits.length > 0 && sum % 10 === 0
}

/**
 * ISO 13616 IBAN check: move the first four characters to the end, map letters to 10..35,
 * and the number must be 1 modulo 97.
 *
 * @since 0.1.0
 * @category checks
 */
export const ibanValid = (iban: string): boolean => {
  const compact = iban.replace(/ /g, "").toUpperCase()
  if (!/^[A-Z]{2}\d{2}[A-Z0-9]{11,30}$/.test(compact)) return false
  const expected = IBAN_LENGTHS[compact.slice(0, 2)]
  if (expected !== undefined && expected !== compact.length) return false
  const rearranged = compact.slice(4) + compact.slice(0, 4)
  let remainder = 0
  for (const char of rearranged) {
    const code = char.charCodeAt(0)
    const value = code >= 65 ? String(code - 55) : char
    for (const digit of value) remainder = (remainder * 10 + (digit.charCodeAt(0) - 48)) % 97
  }
  return remainder === 1
}

// Lengths for common countries; others only need to pass mod-97.
const IBAN_LENGTHS: Readonly<Record<string, number>> = {
  AT: 20, BE: 16, CH: 21, CZ: 24, DE: 22, DK: 18, ES: 24, FI: 18, FR: 27, GB: 22, GR: 27, IE: 22,
  IT: 27, LU: 20, NL: 18, NO: 15, PL: 28, PT: 25, SE: 24
}

// Issuer prefixes (Visa, Mastercard, Amex, Discover, Diners, JCB, UnionPay, Maestro).
const CARD_PREFIX = /^(?:4|5[1-5]|2[2-7]|3[47]|3[068]|35|6011|64[4-9]|65|62|5018|5020|5038|6304)/

interface Rule {
  readonly kind: PiiKind
  readonly pattern: RegExp
  /** Which capture group is the value (default: the whole match). */
  readonly group?: number
  readonly accept?: (value: string) => boolean
}

const octet = "(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)"

// Every pattern does linear work on any text (a prompt can be megabytes): a match can start only
// where a run of its characters starts (the look-behinds), and no two adjacent parts can match the
// same characters in many ways (`\s*[:=]\s*|\s+`, not `\s*(?:[:=]|\s)\s*`, which backtracked
// quadratically over a run of spaces). The JWT shape starts only where a run of base64url
// characters starts, or every `eyJ` in a run of them would rescan the rest of it. And an open
// count is written `x{n}x*`, never `x{n,}`: V8 keeps a backtrack entry per character of `{n,}`,
// so a ten-megabyte run overflowed its stack (a RangeError thrown out of the guard).
const rules: ReadonlyArray<Rule> = [
  // Provider key formats, then generic key-ish assignments (`api_key = "..."`).
  {
    kind: "apiKey",
    pattern:
      /(?<![A-Za-z0-9])(?:sk-(?:proj-|ant-(?:api\d\d-)?|or-v1-)?[A-Za-z0-9_-]{20}[A-Za-z0-9_-]*|AIza[0-9A-Za-z_-]{35}|gh[pousr]_[A-Za-z0-9]{36}[A-Za-z0-9]*|github_pat_[A-Za-z0-9_]{40}[A-Za-z0-9_]*|xox[abprs]-[A-Za-z0-9-]{10}[A-Za-z0-9-]*|AKIA[0-9A-Z]{16}|(?<![_-])eyJ[A-Za-z0-9_-]{8}[A-Za-z0-9_-]*\.eyJ[A-Za-z0-9_-]{8}[A-Za-z0-9_-]*\.[A-Za-z0-9_-]{8}[A-Za-z0-9_-]*)/g
  },
  {
    kind: "apiKey",
    pattern:
      /(?:api[_-]?key|apikey|secret|token|password|passwd|access[_-]?key|auth|bearer|x-goog-api-key)["']?(?:\s*[:=]\s*|\s+)["']?(?:Bearer\s+)?([A-Za-z0-9_\-+/.=]{16}[A-Za-z0-9_\-+/.=]*)/gi,
    group: 1,
    accept: (value) => /\d/.test(value) && /[A-Za-z]/.test(value)
  },
  {
    kind: "email",
    pattern: /(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,24}(?![A-Za-z0-9-])/g
  },
  {
    kind: "iban",
    pattern: /(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}(?![A-Za-z0-9])/g,
    accept: ibanValid
  },
  {
    kind: "creditCard",
    pattern: /(?<![\d.-])\d(?:[ -]?\d){12,18}(?![\d-]|\.\d)/g,
    accept: (value) => {
      const digits = value.replace(/[ -]/g, "")
      if (digits.length < 13 || digits.length > 19 || !CARD_PREFIX.test(digits)) return false
      // Separators, if any, must be consistent (all spaces or all dashes).
      return !(value.includes(" ") && value.includes("-")) && luhn(digits)
    }
  },
  {
    kind: "ssn",
    pattern: /(?<![\d-])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\d-])/g
  },
  {
    kind: "phone",
    pattern:
      /(?<![\w+.-])(?:\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]?\d{2,4}){1,4}|\(\d{3}\)[ .-]?\d{3}[ .-]\d{4}|\d{3}[.-]\d{3}[.-]\d{4})(?![\w-]|\.\d)/g,
    accept: (value) => {
      const digits = value.replace(/\D/g, "").length
      return digits >= 8 && digits <= 15
    }
  },
  {
    kind: "ipv6",
    pattern: /(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?::|[0-9A-Fa-f]{1,4}|(?:\d{1,3}\.){3}\d{1,3})(?![\w:])/g,
    accept: (value) => /\d/.test(value) && isIPv6(value) && (value.includes("::") || value.split(":").length === 8)
  },
  {
    kind: "ipv4",
    pattern: new RegExp(`(?<![\\w.])${octet}(?:\\.${octet}){3}(?![\\w]|\\.\\d)`, "g")
  }
]

/**
 * Finds the given kinds (all by default) in a text, left to right, without overlaps.
 *
 * @since 0.1.0
 * @category detection
 * @example
 * PiiDetector.detect("mail ada@example.com") // [{ kind: "email", start: 5, end: 20 }]
 */
export const detect = (text: string, kinds: ReadonlyArray<PiiKind> = allKinds): ReadonlyArray<Finding> => {
  const found: Array<Finding> = []
  for (const rule of rules) {
    if (!kinds.includes(rule.kind)) continue
    rule.pattern.lastIndex = 0
    for (const match of text.matchAll(rule.pattern)) {
      const value = rule.group === undefined ? match[0] : match[rule.group]
      if (value === undefined) continue
      if (rule.accept !== undefined && !rule.accept(value)) continue
      const start = match.index + (rule.group === undefined ? 0 : match[0].lastIndexOf(value))
      found.push({ kind: rule.kind, start, end: start + value.length })
    }
  }
  const priority = (kind: PiiKind) => allKinds.indexOf(kind)
  found.sort((a, b) => a.start - b.start || priority(a.kind) - priority(b.kind) || b.end - a.end)
  const kept: Array<Finding> = []
  for (const finding of found) {
    const last = kept.at(-1)
    if (last !== undefined && finding.start < last.end) {
      // Overlap: keep the higher-priority kind (ties: the longer span).
      if (priority(finding.kind) < priority(last.kind)) kept[kept.length - 1] = finding
      continue
    }
    kept.push(finding)
  }
  return kept
}

/**
 * The distinct kinds found in a text.
 *
 * @since 0.1.0
 * @category detection
 */
export const kindsIn = (text: string, kinds: ReadonlyArray<PiiKind> = allKinds): ReadonlyArray<PiiKind> =>
  [...new Set(detect(text, kinds).map((finding) => finding.kind))]

/**
 * The default replacement for a finding: `[REDACTED:<kind>]`.
 *
 * @since 0.1.0
 * @category redaction
 */
export const defaultReplacement = (kind: PiiKind): string => `[REDACTED:${kind}]`

/**
 * Replaces every finding of the given kinds with a placeholder.
 *
 * @since 0.1.0
 * @category redaction
 * @example
 * PiiDetector.redact("card 4111 1111 1111 1111") // "card [REDACTED:creditCard]"
 */
export const redact = (
  text: string,
  options: {
    readonly kinds?: ReadonlyArray<PiiKind> | undefined
    readonly replacement?: ((kind: PiiKind) => string) | undefined
  } = {}
): string => {
  const findings = detect(text, options.kinds ?? allKinds)
  if (findings.length === 0) return text
  const replace = options.replacement ?? defaultReplacement
  let out = ""
  let at = 0
  for (const finding of findings) {
    out += text.slice(at, finding.start) + replace(finding.kind)
    at = finding.end
  }
  return out + text.slice(at)
}
