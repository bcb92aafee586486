/**
 * `Timeout.attempt`: attempts of one clock and timeout share one timer; each still times out at
 * its own deadline, is interrupted before its `Timeout` is returned, and an attempt that answers
 * in time is not disturbed.
 */
import { assert, describe, it } from "@effect/vitest"
import { type Cause, Clock, Effect, Fiber, Queue, Stream } from "effect"
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

describe("Timeout.attempt: an attempt that took longer than its timeout to start", () => {
  // The issue (found by test/budget/AbandonedAttempts.test.ts on a loaded machine): an attempt
  // whose deadline had passed when its timer started expired at once, inside the call that
  // started the timer, which then kept a finished fiber as its timer: no later attempt of that
  // timeout ever timed out again (each waited for its answer, however late). Here the attempt's
  // own start moves the clock past its deadline: the clock is the test clock read with a skew
  // that the attempt raises as it starts, before it registers its deadline.
  const skewedClock = Effect.map(Clock.clockWith(Effect.succeed), (clock) => {
    let skewMs = 0
    const nanos = (millis: number) => BigInt(millis) * 1_000_000n
    const skewed: Clock.Clock = {
      currentTimeMillisUnsafe: () => clock.currentTimeMillisUnsafe() + skewMs,
      currentTimeMillis: Effect.sync(() => clock.currentTimeMillisUnsafe() + skewMs),
      currentTimeNanosUnsafe: () => clock.currentTimeNanosUnsafe() + nanos(skewMs),
      currentTimeNanos: Effect.sync(() => clock.currentTimeNanosUnsafe() + nanos(skewMs)),
      monotonicTimeNanosUnsafe: () => clock.monotonicTimeNanosUnsafe() + nanos(skewMs),
      monotonicTimeNanos: Effect.sync(() => clock.monotonicTimeNanosUnsafe() + nanos(skewMs)),
      sleep: (duration) => clock.sleep(duration)
    }
    return { skewed, skew: (millis: number) => void (skewMs += millis) }
  })

  it.effect("times out at once, and later attempts on the same timer still time out at their deadlines", () =>
    Effect.gen(function*() {
      const { skew, skewed } = yield* skewedClock
      const bounded = <A>(effect: Effect.Effect<A, LlmError.LlmError>, attempt: number) =>
        Effect.result(Timeout.attempt(effect, { timeoutMs: 1_000, attempt, subject })).pipe(Effect.provideService(Clock.Clock, skewed))
      // Its synchronous start takes 1.5 s of the clock.
      const slowStart = Effect.andThen(Effect.sync(() => skew(1_500)), Effect.never)
      const first = yield* bounded(slowStart, 1)
      assert.strictEqual(first._tag, "Failure")
      if (first._tag === "Failure") {
        assert.strictEqual(first.failure.reason._tag, "Timeout")
        assert.strictEqual(first.failure.reason._tag === "Timeout" && first.failure.reason.elapsedMs, 1_500)
      }
      for (let attempt = 2; attempt <= 4; attempt++) {
        const next = yield* Effect.forkChild(bounded(Effect.never, attempt))
        yield* TestClock.adjust("999 millis")
        assert.isUndefined(next.pollUnsafe())
        yield* TestClock.adjust("1 millis")
        const timedOut = next.pollUnsafe()
        assert.isDefined(timedOut, `attempt ${attempt} timed out at its deadline`)
        const result = yield* Fiber.join(next)
        assert.strictEqual(result._tag === "Failure" && result.failure.reason._tag, "Timeout")
      }
    }))
})

describe("Timeout.stream", () => {
  // A stream whose parts are offered by the test; the provider side of a streamed attempt.
  const scripted = Effect.map(Queue.unbounded<string, Cause.Done>(), (queue) => ({ queue, stream: Stream.fromQueue(queue) }))
  const bounded = (stream: Stream.Stream<string>) =>
    Effect.result(
      Stream.runCollect(Timeout.stream(stream, { firstPartMs: 10_000, idleMs: 60_000, attempt: () => 1, subject }))
    )
  const timeoutOf = (result: { readonly _tag: string; readonly failure?: LlmError.LlmError }) =>
    result._tag === "Failure" && result.failure !== undefined && result.failure.reason._tag === "Timeout" ? result.failure.reason : undefined

  it.effect("streams of one clock share the timers of their waits; each times out at its own deadline, by the wait it is in", () =>
    Effect.gen(function*() {
      const a = yield* scripted
      const b = yield* scripted
      const c = yield* scripted
      const runA = yield* Effect.forkChild(bounded(a.stream))
      const runB = yield* Effect.forkChild(bounded(b.stream))
      const runC = yield* Effect.forkChild(bounded(c.stream))
      // A and B answer at once; C never does: its first-part wait (10 s) runs out.
      yield* Queue.offer(a.queue, "a1")
      yield* Queue.offer(b.queue, "b1")
      yield* TestClock.adjust("9999 millis")
      assert.isUndefined(runC.pollUnsafe())
      yield* TestClock.adjust("1 millis")
      const timedOutC = timeoutOf(yield* Fiber.join(runC))
      assert.strictEqual(timedOutC?.scope, "attempt")
      assert.strictEqual(timedOutC?.attempts, 1)
      assert.strictEqual(timedOutC?.elapsedMs, 10_000)
      // At 30 s B receives a part: its idle wait starts again, A's does not.
      yield* TestClock.adjust("20 seconds")
      yield* Queue.offer(b.queue, "b2")
      yield* TestClock.adjust("29999 millis")
      assert.isUndefined(runA.pollUnsafe())
      yield* TestClock.adjust("1 millis")
      const timedOutA = timeoutOf(yield* Fiber.join(runA))
      assert.strictEqual(timedOutA?.scope, "idle")
      assert.strictEqual(timedOutA?.elapsedMs, 60_000)
      assert.isUndefined(runB.pollUnsafe())
      // B ends within its idle timeout (its last part came at 30 s): it collects its parts and never times out.
      yield* TestClock.adjust("29 seconds")
      yield* Queue.offer(b.queue, "b3")
      yield* Queue.end(b.queue)
      const finishedB = yield* Fiber.join(runB)
      assert.strictEqual(finishedB._tag, "Success")
      if (finishedB._tag === "Success") assert.deepStrictEqual(finishedB.success, ["b1", "b2", "b3"])
      yield* TestClock.adjust("2 minutes")
    }))

  it.effect("a stream that ends, or whose consumer stops reading, leaves no wait behind to fail later", () =>
    Effect.gen(function*() {
      const a = yield* scripted
      yield* Queue.offer(a.queue, "a1")
      // The consumer takes one part and stops while the stream below is still open.
      const taken = yield* Stream.runCollect(
        Stream.take(Timeout.stream(a.stream, { firstPartMs: 1_000, idleMs: 1_000, attempt: () => 1, subject }), 1)
      )
      assert.deepStrictEqual(taken, ["a1"])
      // A later stream on the same timers still times out at its own deadline, not earlier.
      const b = yield* scripted
      const runB = yield* Effect.forkChild(bounded(b.stream))
      yield* TestClock.adjust("5 seconds")
      assert.isUndefined(runB.pollUnsafe())
      yield* TestClock.adjust("5 seconds")
      assert.strictEqual(timeoutOf(yield* Fiber.join(runB))?.scope, "attempt")
    }))
})
