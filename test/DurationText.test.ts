import { assert, describe, it } from "@effect/vitest"
import { Duration, Result, Schema } from "effect"
import * as DurationText from "../src/DurationText.ts"

describe("DurationText", () => {
  it.each([
    ["500ms", 500],
    ["30s", 30_000],
    ["5m", 300_000],
    ["1h", 3_600_000],
    ["1h30m", 5_400_000],
    [" 2s ", 2_000]
  ] as const)("parses %s", (text, millis) => {
    assert.deepStrictEqual(DurationText.parseMillis(text), Result.succeed(millis))
  })

  it.each(["", "5", "1.5s", "5 minutes", "-1s", "1d", "ms"])("refuses %j with an example", (text) => {
    const parsed = DurationText.parseMillis(text)
    assert.isTrue(Result.isFailure(parsed))
    if (Result.isFailure(parsed)) assert.include(parsed.failure, "e.g. 500ms, 30s, 5m or 1h")
  })

  it("formats as it parses", () => {
    assert.strictEqual(DurationText.formatMillis(3_600_000), "1h")
    assert.strictEqual(DurationText.formatMillis(120_000), "2m")
    assert.strictEqual(DurationText.formatMillis(1_000), "1s")
    assert.strictEqual(DurationText.formatMillis(1_500), "1500ms")
  })

  it("the schema checks the pattern", () => {
    assert.isTrue(Schema.is(DurationText.DurationString)("30s"))
    assert.isFalse(Schema.is(DurationText.DurationString)("30 seconds"))
  })

  it("DurationFromText reads a duration string or milliseconds into a Duration, and writes it back as text", () => {
    const decode = Schema.decodeUnknownSync(DurationText.DurationFromText)
    assert.strictEqual(Duration.toMillis(decode("30s")), 30_000)
    assert.strictEqual(Duration.toMillis(decode("1h30m")), 5_400_000)
    assert.strictEqual(Duration.toMillis(decode(1500)), 1500)
    assert.throws(() => decode("30 seconds"))
    assert.throws(() => decode("300 millis"))
    assert.throws(() => decode(-1))
    assert.strictEqual(Schema.encodeSync(DurationText.DurationFromText)(Duration.minutes(2)), "2m")
  })
})
