/**
 * The detector on hostile prompts: every pattern does linear work, whatever the text. Inputs
 * that made a pattern backtrack quadratically (200 kB of them took minutes) must be scanned in
 * milliseconds; ten-megabyte runs that overflowed V8's backtrack stack (a RangeError thrown out
 * of the guard) must be scanned without one. The time bounds are a thousand times what linear
 * work takes, so they cannot flake; what the tests catch is quadratic work.
 */
import { assert, describe, it } from "@effect/vitest"
import * as PiiDetector from "../../src/pii/PiiDetector.ts"

const timed = <A>(f: () => A): { readonly value: A; readonly ms: number } => {
  const started = performance.now()
  const value = f()
  return { value, ms: performance.now() - started }
}

const backtracking: ReadonlyArray<readonly [string, string]> = [
  ["a key word, then a run of spaces and no value", "auth" + " ".repeat(200_000) + "!"],
  ["a key word, then tabs and newlines", "token" + "\t\n ".repeat(70_000) + "?"],
  ["a bearer header, then a run of spaces", "auth: Bearer" + " ".repeat(200_000) + "!"],
  ["a run of eyJ- (JWT starts)", "eyJ-".repeat(50_000)],
  ["a run of eyJ_", "eyJ_".repeat(50_000)],
  ["key words and JWT starts mixed", " authxoxb-eyJxoxb-".repeat(12_000)]
]

const M = 10_000_000
const runs: ReadonlyArray<readonly [string, string, number]> = [
  ["sk- and a 10 MB run", "sk-" + "a".repeat(M), 1],
  ["ghp_ and a 10 MB run", "ghp_" + "a".repeat(M), 1],
  ["a JWT start and a 10 MB run", "eyJ" + "a".repeat(M), 0],
  ["a JWT of three 3 MB segments", "eyJ" + "a".repeat(3_000_000) + ".eyJ" + "a".repeat(3_000_000) + "." + "a".repeat(3_000_000), 1],
  ["api_key= and a 10 MB value", "api_key=" + "a1".repeat(M / 2), 1],
  ["a 10 MB run of eyJ-", "eyJ-".repeat(M / 4), 0],
  ["10 MB of words", "the quick brown fox jumps over 12 lazy dogs. ".repeat(M / 45), 0],
  ["10 MB of digits", "1".repeat(M), 0],
  ["an email with a 10 MB local part", "a".repeat(M) + "@example.com", 1]
]

describe("PiiDetector: linear work on hostile prompts", () => {
  it.each(backtracking)("%s: scanned in milliseconds", (_name, text) => {
    const { ms, value } = timed(() => PiiDetector.detect(text))
    assert.deepStrictEqual(value, [])
    assert.isBelow(ms, 2_000)
  })

  it.each(runs)("%s: scanned without a stack overflow", (_name, text, findings) => {
    const { ms, value } = timed(() => PiiDetector.detect(text))
    assert.strictEqual(value.length, findings)
    assert.isBelow(ms, 10_000)
  })

  it("redacts a key in a 10 MB prompt", () => {
    const text = "x ".repeat(M / 4) + "key sk-proj-0123456789abcdefghij0123 here " + "y ".repeat(M / 4)
    const redacted = PiiDetector.redact(text)
    assert.notInclude(redacted, "sk-proj-0123456789abcdefghij0123")
    assert.include(redacted, "key [REDACTED:apiKey] here")
  })
})
