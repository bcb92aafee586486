import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Ref } from "effect"
import * as BudgetState from "../../src/budget/BudgetState.ts"
import * as BudgetStore from "../../src/budget/BudgetStore.ts"
import * as BudgetTracker from "../../src/budget/BudgetTracker.ts"
import * as LlmError from "../../src/LlmError.ts"
import * as Usage from "../../src/Usage.ts"

const ask: BudgetTracker.Ask = {
  request: { messages: [{ role: "user", content: "hello there" }], maxTokens: 20 },
  provider: "mock",
  model: "mock-1",
  price: undefined
}

const usageOf = (call: number) => Usage.make({ inputTokens: 3, outputTokens: call % 17 })

/** What call `call` does inside its child budget: succeeds, fails (charged or not) or is interrupted. */
type Outcome = "ok" | "fault" | "charged" | "interrupt"
const outcomeOf = (call: number): Outcome =>
  call % 11 === 3 ? "fault" : call % 13 === 5 ? "charged" : call % 7 === 6 ? "interrupt" : "ok"

const perCall = (root: BudgetTracker.Service, call: number, counted: { tokens: number }) =>
  BudgetTracker.withChild(root, { totalTokens: 40 }, `call${call}`, (child) =>
    child.withReservation(ask, () => {
      const usage = usageOf(call)
      switch (outcomeOf(call)) {
        case "ok":
          return Effect.sync(() => {
            counted.tokens += usage.totalTokens
            return usage
          })
        case "fault":
          return Effect.fail(LlmError.make("mock", new LlmError.Unavailable({ description: "down" })))
        case "charged":
          return Effect.suspend(() => {
            counted.tokens += usage.totalTokens
            return Effect.fail(LlmError.make("mock", new LlmError.Unavailable({ description: "cut" }), { spent: { usage, costUsd: 0 } }))
          })
        case "interrupt":
          return Effect.interrupt
      }
    }, (usage) => ({ usage, costUsd: 0 })))

describe("BudgetTracker child budgets leave the store", () => {
  it.effect("20,000 sequential per-call children (faults and interrupts mixed in): the store returns to its root, totals add up", () =>
    Effect.gen(function*() {
      const store = yield* BudgetStore.makeMemory
      const root = yield* BudgetTracker.make({ totalTokens: 1e9 }).pipe(Effect.provideService(BudgetStore.BudgetStore, store))
      const baseline = yield* store.size
      assert.strictEqual(baseline, 1)
      const counted = { tokens: 0 }
      let largest = 0
      for (let call = 0; call < 20_000; call++) {
        yield* Effect.exit(perCall(root, call, counted))
        // The store never holds more than the root and the call's child: per-call cost is flat.
        if (call % 1_000 === 0) largest = Math.max(largest, yield* store.size)
      }
      assert.strictEqual(largest, 1)
      assert.strictEqual(yield* store.size, baseline)
      const snapshot = yield* root.snapshot
      assert.strictEqual(snapshot.consumed.totalTokens, counted.tokens)
      assert.isAbove(counted.tokens, 0)
      assert.strictEqual(snapshot.reserved.totalTokens, 0)
      assert.strictEqual(snapshot.openReservations, 0)
    }), 120_000)

  it.effect("2,000 concurrent per-call children under a tight root: no overshoot, every child released, interrupted ones too", () =>
    Effect.gen(function*() {
      const store = yield* BudgetStore.makeMemory
      // Tight enough that many reservations are refused.
      const limit = 20_000
      const root = yield* BudgetTracker.make({ totalTokens: limit }).pipe(Effect.provideService(BudgetStore.BudgetStore, store))
      const counted = { tokens: 0 }
      // Calls that hang until interrupted, with a reservation in flight.
      const hanging = (call: number) =>
        BudgetTracker.withChild(root, { totalTokens: 40 }, `hang${call}`, (child) => child.withReservation(ask, () => Effect.never, () => ({ usage: usageOf(call), costUsd: 0 })))
      const fibers = yield* Effect.forEach(Array.from({ length: 2_000 }, (_, call) => call), (call) =>
        Effect.forkChild(call % 10 === 9 ? hanging(call) : Effect.andThen(Effect.yieldNow, perCall(root, call, counted))))
      for (let turn = 0; turn < 20; turn++) yield* Effect.yieldNow
      // The hanging calls hold children with reservations in flight; then they are interrupted.
      assert.isAbove(yield* store.size, 1)
      const exits = yield* Effect.forEach(fibers, (fiber, call) => (call % 10 === 9 ? Fiber.interrupt(fiber).pipe(Effect.andThen(Fiber.await(fiber))) : Fiber.await(fiber)))
      const refused = exits.filter((exit) =>
        Exit.isFailure(exit) && String(exit.cause).includes("BudgetExceeded")
      ).length
      // The root was tight: some reservations were refused, and none was let past its limit.
      assert.isAbove(refused, 0)
      assert.strictEqual(yield* store.size, 1)
      const snapshot = yield* root.snapshot
      assert.strictEqual(snapshot.consumed.totalTokens, counted.tokens)
      assert.isAtMost(snapshot.consumed.totalTokens, limit)
      assert.strictEqual(snapshot.reserved.totalTokens, 0)
      assert.strictEqual(snapshot.openReservations, 0)
      assert.deepStrictEqual(snapshot.overshoots, [])
    }), 120_000)

  it.effect("a child closed with a reservation in flight is removed when it settles; its consumption stays in the parent", () =>
    Effect.gen(function*() {
      const ref = yield* Ref.make(BudgetState.emptyState())
      const store = BudgetStore.fromRef(ref)
      const root = yield* BudgetTracker.make({ totalTokens: 1_000 }).pipe(Effect.provideService(BudgetStore.BudgetStore, store))
      const child = yield* root.child({ totalTokens: 100 }, "agent")
      const reservation = yield* child.reserve(ask)
      yield* child.close
      assert.strictEqual(yield* store.size, 2)
      assert.isTrue((yield* store.chain(child.id))[0]!.closing)
      yield* child.commit(reservation, { usage: Usage.make({ inputTokens: 4, outputTokens: 6 }), costUsd: 0 })
      assert.strictEqual(yield* store.size, 1)
      assert.deepStrictEqual(yield* store.chain(child.id), [])
      assert.strictEqual((yield* root.snapshot).consumed.totalTokens, 10)
      // Closing again changes nothing; a tracker used after close is a defect naming why.
      yield* child.close
      assert.strictEqual(yield* store.release(child.id), "unknown")
      const late = yield* Effect.exit(child.reserve(ask))
      assert.isTrue(Exit.isFailure(late))
      assert.include(String(Exit.isFailure(late) ? late.cause : ""), "it was closed")
    }))

  it.effect("a parent closed before its child stays until the child is closed, then both leave", () =>
    Effect.gen(function*() {
      const store = yield* BudgetStore.makeMemory
      const root = yield* BudgetTracker.make({ totalTokens: 1_000 }).pipe(Effect.provideService(BudgetStore.BudgetStore, store))
      const parent = yield* root.child({ totalTokens: 500 }, "run")
      const step = yield* parent.child({ totalTokens: 100 }, "step")
      assert.strictEqual(yield* parent.close.pipe(Effect.andThen(store.size)), 3)
      // The child still reserves through its (closing) parent: both limits hold.
      yield* step.withReservation(ask, () => Effect.succeed(Usage.make({ inputTokens: 5, outputTokens: 5 })), (usage) => ({ usage, costUsd: 0 }))
      assert.strictEqual((yield* store.chain(step.id)).length, 3)
      yield* step.close
      assert.strictEqual(yield* store.size, 1)
      assert.strictEqual((yield* root.snapshot).consumed.totalTokens, 10)
    }))

  it.effect("delegate and scopedChild close the child however the effect ends", () =>
    Effect.gen(function*() {
      const store = yield* BudgetStore.makeMemory
      const root = yield* BudgetTracker.make({ totalTokens: 1_000 }).pipe(Effect.provideService(BudgetStore.BudgetStore, store))
      const inTracker = <A, E>(effect: Effect.Effect<A, E, BudgetTracker.BudgetTracker>) =>
        Effect.provideService(effect, BudgetTracker.BudgetTracker, root)
      const spend = Effect.flatMap(BudgetTracker.current, (child) =>
        child.withReservation(ask, () => Effect.succeed(Usage.make({ inputTokens: 1, outputTokens: 1 })), (usage) => ({ usage, costUsd: 0 })))
      yield* inTracker(BudgetTracker.delegate({ totalTokens: 50 }, "ok", spend))
      yield* Effect.exit(inTracker(BudgetTracker.delegate({ totalTokens: 50 }, "fails", Effect.andThen(spend, Effect.fail("boom")))))
      const fiber = yield* Effect.forkChild(inTracker(BudgetTracker.delegate({ totalTokens: 50 }, "hangs", Effect.andThen(spend, Effect.never))))
      for (let turn = 0; turn < 5; turn++) yield* Effect.yieldNow
      assert.strictEqual(yield* store.size, 2)
      yield* Fiber.interrupt(fiber)
      yield* inTracker(Effect.scoped(Effect.flatMap(root.scopedChild({ totalTokens: 50 }, "scoped"), (child) => BudgetTracker.withTracker(child)(spend))))
      assert.strictEqual(yield* store.size, 1)
      assert.strictEqual((yield* root.snapshot).consumed.totalTokens, 8)
    }))
})
