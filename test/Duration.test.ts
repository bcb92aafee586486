import { assert, describe, it } from "@effect/vitest"
import { Result, Schema } from "effect"
import * as Duration from "../src/Duration.ts"

describe("Duration", () => {
  it.each([
    ["500ms", 500],
    ["30s", 30_000],
    ["5m", 300_000],
    ["1h", 3_600_000],
    ["1h30m", 5_400_000],
    [" 2s ", 2_000]
  ] as const)("parses %s", (text, millis) => {
    assert.deepStrictEqual(Duration.parseMillis(text), Result.succeed(millis))
  })

  it.each(["", "5", "1.5s", "5 minutes", "-1s", "1d", "ms"])("refuses %j with an example", (text) => {
    const parsed = Duration.parseMillis(text)
    assert.isTrue(Result.isFailure(parsed))
    if (Result.isFailure(parsed)) assert.include(parsed.failure, "e.g. 500ms, 30s, 5m or 1h")
  })

  it("formats as it parses", () => {
    assert.strictEqual(Duration.formatMillis(3_600_000), "1h")
    assert.strictEqual(Duration.formatMillis(120_000), "2m")
    assert.strictEqual(Duration.formatMillis(1_000), "1s")
    assert.strictEqual(Duration.formatMillis(1_500), "1500ms")
  })

  it("the schema checks the pattern", () => {
    assert.isTrue(Schema.is(Duration.DurationString)("30s"))
    assert.isFalse(Schema.is(Duration.DurationString)("30 seconds"))
  })
})
