import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Result, Schema } from "effect"
import { TestClock } from "effect/testing"
import * as Budget from "../../src/budget/Budget.ts"

const failure = (input: Budget.Input) => {
  const result = Budget.validate(input)
  if (Result.isSuccess(result)) throw new Error(`expected ${JSON.stringify(input)} to be refused`)
  return result.failure
}

describe("Budget", () => {
  it("accepts any positive limit, and a deadline as a duration, an instant, a Date or a Duration", () => {
    const budget = Result.getOrThrow(Budget.validate({ totalTokens: 50_000, costUsd: 0.5, deadline: "2m" }))
    assert.deepStrictEqual(budget, { totalTokens: 50_000, costUsd: 0.5, deadline: { _tag: "After", millis: 120_000 } })
    assert.deepStrictEqual(Result.getOrThrow(Budget.validate({ deadline: "2026-01-01T12:00:00Z" })).deadline, {
      _tag: "At",
      epochMillis: Date.UTC(2026, 0, 1, 12)
    })
    assert.deepStrictEqual(Result.getOrThrow(Budget.validate({ deadline: new Date(5_000) })).deadline, { _tag: "At", epochMillis: 5_000 })
    assert.deepStrictEqual(Result.getOrThrow(Budget.validate({ deadline: Duration.seconds(3) })).deadline, { _tag: "After", millis: 3_000 })
    assert.strictEqual(Budget.format(budget), "totalTokens 50000, costUsd $0.5, deadline 2m")
  })

  it.effect("make refuses a deadline instant that is already past (it would refuse every call); a future one is kept", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(Date.UTC(2026, 5, 1))
      const error = yield* Effect.flip(Budget.make({ totalTokens: 10, deadline: "2026-01-01T00:00:00Z" }))
      assert.strictEqual(error.reason._tag, "Configuration")
      if (error.reason._tag === "Configuration") assert.strictEqual(error.reason.setting, "budget.deadline")
      assert.include(error.message, "2026-01-01T00:00:00.000Z is already past")
      assert.include(error.message, "a duration from the start")
      const later = yield* Budget.make({ deadline: new Date(Date.UTC(2026, 5, 2)) })
      assert.deepStrictEqual(later.deadline, { _tag: "At", epochMillis: Date.UTC(2026, 5, 2) })
      assert.deepStrictEqual((yield* Budget.make({ deadline: "1m" })).deadline, { _tag: "After", millis: 60_000 })
    }))

  it("refuses a budget with no limit, naming every dimension", () => {
    const error = failure({})
    assert.strictEqual(error.reason._tag, "Configuration")
    assert.include(error.message, "at least one limit")
    assert.include(error.message, "--max-total-tokens")
  })

  it.each([
    [{ totalTokens: 0 }, "budget.totalTokens"],
    [{ inputTokens: -5 }, "budget.inputTokens"],
    [{ outputTokens: 1.5 }, "budget.outputTokens"],
    [{ costUsd: 0 }, "budget.costUsd"],
    [{ costUsd: Number.NaN }, "budget.costUsd"],
    [{ deadline: "soon" }, "budget.deadline"],
    [{ deadline: "0s" }, "budget.deadline"],
    [{ deadline: Duration.zero }, "budget.deadline"]
  ] as const)("refuses %j with a Configuration error on %s", (input, setting) => {
    const error = failure(input)
    assert.strictEqual(error.reason._tag, "Configuration")
    if (error.reason._tag === "Configuration") assert.strictEqual(error.reason.setting, setting)
  })

  it.effect("make fails in the error channel", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Budget.make({ costUsd: -1 }))
      assert.strictEqual(error.reason._tag, "Configuration")
    }))

  it("the config Schema needs at least one limit and positive values", () => {
    const decode = Schema.decodeUnknownResult(Budget.BudgetConfig)
    assert.isTrue(Result.isSuccess(decode({ totalTokens: 10, defaultMaxTokens: 256, onUnknownPrice: "allow", deadline: "30s" })))
    assert.isTrue(Result.isFailure(decode({ defaultMaxTokens: 256 })))
    assert.isTrue(Result.isFailure(decode({ totalTokens: 0 })))
    assert.isTrue(Result.isFailure(decode({ costUsd: -0.1 })))
    assert.isTrue(Result.isFailure(decode({ deadline: "tomorrow" })))
    assert.isTrue(Result.isSuccess(Schema.decodeUnknownResult(Budget.BudgetLimits)({ deadline: "2026-06-01T00:00:00+02:00" })))
  })

  it("one Schema decodes a program's budget: the limits checked, the deadline read into a Deadline and encoded back", () => {
    const decode = Schema.decodeUnknownResult(Budget.BudgetFromInput)
    assert.deepStrictEqual(Result.getOrThrow(decode({ totalTokens: 10, defaultMaxTokens: 5, deadline: "1h30m" })), {
      totalTokens: 10,
      deadline: { _tag: "After", millis: 5_400_000 }
    })
    assert.isTrue(Result.isFailure(decode({ deadline: "0s" })))
    assert.isTrue(Result.isFailure(decode({ defaultMaxTokens: 5 })))
    const encode = Schema.encodeSync(Budget.DeadlineFromInput)
    const after = encode({ _tag: "After", millis: 3_000 })
    assert.isTrue(Duration.isDuration(after) && Duration.toMillis(after) === 3_000)
    const at = encode({ _tag: "At", epochMillis: 5_000 })
    assert.isTrue(at instanceof Date && at.getTime() === 5_000)
  })

  it.each([
    [{ totalTokens: 0 }, "budget limit totalTokens is 0; it must be a whole number greater than 0"],
    [{ outputTokens: 1.5 }, "budget limit outputTokens is 1.5; it must be a whole number greater than 0"],
    [{ costUsd: -1 }, "budget limit costUsd is -1; it must be a number of USD greater than 0"],
    [{ deadline: "0s" }, "deadline \"0s\" must be longer than 0"],
    [{ deadline: "soon" }, "deadline \"soon\" is neither a duration (30s, 5m, 1h) nor an ISO-8601 instant (2026-01-01T12:00:00Z)"],
    [{ deadline: new Date(Number.NaN) }, "the deadline is an invalid Date"],
    [{ deadline: Duration.zero }, "the deadline duration must be finite and longer than 0, got 0ms"],
    [{}, "a budget needs at least one limit"]
  ] as const)("says what is wrong with %j", (input, description) => {
    const error = failure(input)
    if (error.reason._tag !== "Configuration") throw new Error("expected a Configuration error")
    assert.strictEqual(error.reason.description, description)
  })
})
