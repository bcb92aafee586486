/**
 * `Timeout.attempt`: attempts of one clock and timeout share one timer; each still times out at
 * its own deadline, is interrupted before its `Timeout` is returned, and an attempt that answers
 * in time is not disturbed.
 */
import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect, Fiber } from "effect"
import { TestClock } from "effect/testing"
import * as LlmError from "../../src/LlmError.ts"
import * as Timeout from "../../src/resilience/Timeout.ts"

const subject = { provider: "p", model: "m-1" }

describe("Timeout.attempt", () => {
  it.effect("attempts started at different times time out at their own deadlines; one that answers in time is untouched", () =>
    Effect.gen(function*() {
      const events: Array<string> = []
      const hanging = (name: string) =>
        Effect.onInterrupt(Effect.never, () =>
          Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.sync(() => void events.push(`${name} interrupted at ${now}`))))
      const bounded = <A>(effect: Effect.Effect<A, LlmError.LlmError>, attempt: number) =>
        Effect.result(Timeout.attempt(effect, { timeoutMs: 5_000, attempt, subject }))
      const first = yield* Effect.forkChild(bounded(hanging("first"), 1))
      yield* TestClock.adjust("1 second")
      const second = yield* Effect.forkChild(bounded(hanging("second"), 2))
      const quick = yield* Effect.forkChild(bounded(Effect.as(Effect.sleep("2 seconds"), "answer"), 3))
      yield* TestClock.adjust("3999 millis")
      assert.isUndefined(first.pollUnsafe())
      const answered = yield* Fiber.join(quick)
      assert.strictEqual(answered._tag, "Success")
      if (answered._tag === "Success") assert.strictEqual(answered.success, "answer")
      yield* TestClock.adjust("1 millis")
      const timedOut = yield* Fiber.join(first)
      assert.strictEqual(timedOut._tag, "Failure")
      if (timedOut._tag === "Failure") {
        assert.strictEqual(timedOut.failure.reason._tag, "Timeout")
        if (timedOut.failure.reason._tag === "Timeout") {
          assert.strictEqual(timedOut.failure.reason.scope, "attempt")
          assert.strictEqual(timedOut.failure.reason.elapsedMs, 5_000)
          assert.strictEqual(timedOut.failure.reason.attempts, 1)
        }
      }
      // Interrupted before its Timeout was returned.
      assert.deepStrictEqual(events, ["first interrupted at 5000"])
      assert.isUndefined(second.pollUnsafe())
      yield* TestClock.adjust("1 second")
      const later = yield* Fiber.join(second)
      assert.strictEqual(later._tag, "Failure")
      assert.deepStrictEqual(events, ["first interrupted at 5000", "second interrupted at 6000"])
    }))

  it.effect("interrupting the caller interrupts the attempt, which then never times out", () =>
    Effect.gen(function*() {
      let interrupted = 0
      const fiber = yield* Effect.forkChild(
        Timeout.attempt(Effect.onInterrupt(Effect.never, () => Effect.sync(() => void interrupted++)), { timeoutMs: 1_000, attempt: 1, subject })
      )
      yield* TestClock.adjust("500 millis")
      yield* Fiber.interrupt(fiber)
      assert.strictEqual(interrupted, 1)
      yield* TestClock.adjust("1 second")
      assert.strictEqual(interrupted, 1)
    }))
})
