/**
 * Serve's full collection when idle (src/node/internal/idleCollection.ts, ADR 0044): with
 * TestClock and a fake probe, it collects once after a period without requests when the old
 * generation grew enough, never while requests keep starting nor when it did not grow; and the
 * process's collector is V8's `gc`, without a `gc` on the program's global.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { TestClock } from "effect/testing"
import * as IdleCollection from "../../src/node/internal/idleCollection.ts"

const MB = 1024 * 1024
const fakeProcess = () => {
  const state = { requests: 0, inFlight: 0, old: 70 * MB, collections: 0 }
  const probe: IdleCollection.Probe = {
    requestsStarted: () => state.requests,
    requestsInFlight: () => state.inFlight,
    oldGenerationUsed: () => state.old,
    collect: () => {
      state.collections++
      state.old = 68 * MB
    }
  }
  return { state, probe }
}
const options: IdleCollection.Options = { idle: "1 second", minGrowthBytes: 4 * MB }

describe("idle collection (TestClock)", () => {
  it.effect("collects once after a whole idle period when the old generation grew, not while busy", () =>
    Effect.gen(function*() {
      const { probe, state } = fakeProcess()
      const fiber = yield* Effect.forkChild(IdleCollection.run(probe, options))
      yield* TestClock.adjust("10 millis")
      // Busy: a request started in every period while the old generation grows past the threshold.
      for (let second = 0; second < 5; second++) {
        state.requests += 100
        state.old += 2 * MB
        yield* TestClock.adjust("1 second")
      }
      assert.strictEqual(state.collections, 0)
      // Idle: the first check after a period with no request collects, once.
      yield* TestClock.adjust("1 second")
      assert.strictEqual(state.collections, 1)
      yield* TestClock.adjust("10 seconds")
      assert.strictEqual(state.collections, 1)
      // Busy again, then idle: again one.
      state.requests += 1000
      state.old += 8 * MB
      yield* TestClock.adjust("1 second")
      assert.strictEqual(state.collections, 1)
      yield* TestClock.adjust("1 second")
      assert.strictEqual(state.collections, 2)
      yield* Fiber.interrupt(fiber)
    }))

  it.effect("never while a request is still being answered (a long stream), then once it has ended", () =>
    Effect.gen(function*() {
      const { probe, state } = fakeProcess()
      const fiber = yield* Effect.forkChild(IdleCollection.run(probe, options))
      yield* TestClock.adjust("10 millis")
      state.requests += 1
      state.inFlight = 1
      state.old += 8 * MB
      yield* TestClock.adjust("1 second")
      // No request started for 10 periods, but one is still streaming its answer.
      yield* TestClock.adjust("10 seconds")
      assert.strictEqual(state.collections, 0)
      state.inFlight = 0
      yield* TestClock.adjust("1 second")
      assert.strictEqual(state.collections, 1)
      yield* Fiber.interrupt(fiber)
    }))

  it.effect("does nothing when idle with less growth than the threshold, measured from the lowest point", () =>
    Effect.gen(function*() {
      const { probe, state } = fakeProcess()
      const fiber = yield* Effect.forkChild(IdleCollection.run(probe, options))
      yield* TestClock.adjust("10 millis")
      state.requests += 10
      state.old += 3 * MB
      yield* TestClock.adjust("5 seconds")
      assert.strictEqual(state.collections, 0)
      // A collection V8 ran itself lowers the old generation: growth counts from there.
      state.requests += 10
      state.old = 60 * MB
      yield* TestClock.adjust("1 second")
      state.requests += 10
      state.old = 63 * MB
      yield* TestClock.adjust("5 seconds")
      assert.strictEqual(state.collections, 0)
      state.requests += 10
      state.old = 65 * MB
      yield* TestClock.adjust("1 second")
      yield* TestClock.adjust("1 second")
      assert.strictEqual(state.collections, 1)
      yield* Fiber.interrupt(fiber)
    }))
})

describe("idle collection: input read before deciding (TestClock)", () => {
  it.effect("a request read by the settle step makes the period busy; the next idle period collects, after settling again", () =>
    Effect.gen(function*() {
      const { probe, state } = fakeProcess()
      let settled = 0
      // The first settle reads a request that was waiting in a socket (it starts and is answered).
      const settling: IdleCollection.Probe = {
        ...probe,
        settle: Effect.sync(() => {
          settled++
          if (settled === 1) state.requests++
        })
      }
      const fiber = yield* Effect.forkChild(IdleCollection.run(settling, options))
      yield* TestClock.adjust("10 millis")
      state.requests += 100
      state.old += 8 * MB
      yield* TestClock.adjust("1 second")
      // Busy period: no settle step (nothing to decide).
      assert.strictEqual(settled, 0)
      yield* TestClock.adjust("1 second")
      // Idle by the counters, but the settle step read a request: no collection.
      assert.strictEqual(settled, 1)
      assert.strictEqual(state.collections, 0)
      yield* TestClock.adjust("1 second")
      assert.strictEqual(settled, 2)
      assert.strictEqual(state.collections, 1)
      yield* Fiber.interrupt(fiber)
    }))

  it.effect("a request still in flight after the settle step prevents the collection too", () =>
    Effect.gen(function*() {
      const { probe, state } = fakeProcess()
      const settling: IdleCollection.Probe = {
        ...probe,
        settle: Effect.sync(() => {
          state.inFlight = 1
        })
      }
      const fiber = yield* Effect.forkChild(IdleCollection.run(settling, options))
      yield* TestClock.adjust("10 millis")
      state.old += 8 * MB
      yield* TestClock.adjust("3 seconds")
      assert.strictEqual(state.collections, 0)
      yield* Fiber.interrupt(fiber)
    }))

  it.effect("serve's settle step resumes after the event loop's next turn", () =>
    Effect.gen(function*() {
      const order: Array<string> = []
      setImmediate(() => order.push("immediate queued before"))
      yield* IdleCollection.settleIo
      order.push("settled")
      assert.deepStrictEqual(order, ["immediate queued before", "settled"])
    }))
})

describe("the process's collector", () => {
  it("runs V8's full collection and leaves no gc on the global", () => {
    const collect = IdleCollection.processCollector()
    assert.strictEqual(typeof collect, "function")
    assert.strictEqual((globalThis as { gc?: unknown }).gc, undefined)
    const before = IdleCollection.oldSpaceUsed()
    assert.isAbove(before, 0)
    let garbage: Array<{ readonly index: number }> | undefined = Array.from({ length: 200_000 }, (_, index) => ({ index }))
    assert.strictEqual(garbage.length, 200_000)
    garbage = undefined
    collect()
    assert.isBelow(IdleCollection.oldSpaceUsed(), before + 8 * MB)
  })
})
