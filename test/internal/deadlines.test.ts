/**
 * The shared timer of `internal/deadlines.ts` (ADR 0056) once every deadline on it has closed
 * within the turn it opened in (a stream whose parts all arrive in one read): the timer may sleep
 * on with nothing open until the stop check (stop 31), and a deadline added then still expires at
 * its own time, one measured from before the timer went idle included. All on TestClock.
 */
import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect } from "effect"
import { TestClock } from "effect/testing"
import { wheelOf } from "../../src/internal/deadlines.ts"

// A wheel of the current fiber's clock, and the times (by that clock) its deadlines expired at.
const wheelHere = (timeoutMs: number) =>
  Effect.withFiber((fiber) => {
    const clock = fiber.getRef(Clock.Clock)
    const wheel = wheelOf(clock, timeoutMs, fiber.context)
    const expired: Array<readonly [string, number]> = []
    const add = (name: string, at: number) => wheel.add(at, () => expired.push([name, clock.currentTimeMillisUnsafe()]))
    return Effect.succeed({ wheel, clock, expired, add })
  })

// Lets the timer's fiber take its turns (it starts on the next scheduler turn).
const turns = Effect.repeat(Effect.yieldNow, { times: 5 })

describe("the shared timer, its deadlines all closed in the turn they opened in", () => {
  it.effect("a later deadline expires at its own time, and one closed in time never does", () =>
    Effect.gen(function*() {
      const { wheel, expired, add } = yield* wheelHere(1_000)
      // Opened and closed at once: nothing is open when the timer first runs.
      wheel.leave(add("closed at once", 1_000))
      yield* turns
      yield* TestClock.adjust("500 millis")
      const later = add("later", 1_500)
      add("next", 1_600)
      yield* turns
      yield* TestClock.adjust("999 millis")
      assert.deepStrictEqual(expired, [])
      yield* TestClock.adjust("1 millis")
      assert.deepStrictEqual(expired, [["later", 1_500]])
      assert.isFalse(later.open)
      yield* TestClock.adjust("100 millis")
      assert.deepStrictEqual(expired, [["later", 1_500], ["next", 1_600]])
    }))

  it.effect("a deadline measured from before the timer went idle (earlier than now + timeout) expires at its own time", () =>
    Effect.gen(function*() {
      yield* TestClock.adjust("1 second")
      const { wheel, expired, add } = yield* wheelHere(1_000)
      wheel.leave(add("closed at once", 2_000))
      yield* turns
      // A wait started 300 ms ago (a stream's first part, timed from its opening).
      yield* TestClock.adjust("100 millis")
      add("from earlier", 1_100 - 300 + 1_000)
      yield* turns
      yield* TestClock.adjust("699 millis")
      assert.deepStrictEqual(expired, [])
      yield* TestClock.adjust("1 millis")
      assert.deepStrictEqual(expired, [["from earlier", 1_800]])
    }))

  it.effect("every stream's wait expires at its own time, with waits opened and closed between them", () =>
    Effect.gen(function*() {
      const { wheel, expired, add } = yield* wheelHere(1_000)
      for (let step = 0; step < 4; step++) {
        wheel.leave(add(`closed ${step}`, step * 100 + 1_000))
        add(`open ${step}`, step * 100 + 1_000)
        wheel.leave(add(`closed after ${step}`, step * 100 + 1_000))
        yield* turns
        yield* TestClock.adjust("100 millis")
      }
      yield* TestClock.adjust("600 millis")
      assert.deepStrictEqual(expired, [["open 0", 1_000]])
      yield* TestClock.adjust("300 millis")
      assert.deepStrictEqual(expired, [["open 0", 1_000], ["open 1", 1_100], ["open 2", 1_200], ["open 3", 1_300]])
    }))
})
