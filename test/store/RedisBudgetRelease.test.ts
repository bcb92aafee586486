// Child budgets leave the Redis budget store when they are closed (test/support/redis.ts starts a
// real redis-server): their keys are deleted at once, or with their last open lease, and the keys
// of a child never closed (a killed process) carry a TTL.
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import * as BudgetStore from "../../src/budget/BudgetStore.ts"
import * as BudgetTracker from "../../src/budget/BudgetTracker.ts"
import * as RedisBudgetStore from "../../src/budget/RedisBudgetStore.ts"
import * as LlmError from "../../src/LlmError.ts"
import * as Usage from "../../src/Usage.ts"
import { adminClient, redisForFile } from "../support/redis.ts"

const { enabled, server } = redisForFile("test/store/RedisBudgetRelease.test.ts")

const ask: BudgetTracker.Ask = {
  request: { messages: [{ role: "user", content: "hello there" }], maxTokens: 20 },
  provider: "mock",
  model: "mock-1",
  price: undefined
}

let prefixes = 0
const setup = (rootLimits: { readonly totalTokens: number }) =>
  Effect.gen(function*() {
    const prefix = `{rel${++prefixes}}:`
    const store = yield* RedisBudgetStore.make({ url: server().url, prefix })
    const root = yield* BudgetTracker.make(rootLimits).pipe(Effect.provideService(BudgetStore.BudgetStore, store))
    const client = yield* adminClient(server().socket)
    // Every key of the store's children (figures, conversations, overshoots), by SCAN.
    const childKeys = Effect.promise(async () => {
      const found: Array<string> = []
      for (const pattern of ["node:c*", "conv:c*", "over:c*"]) {
        for await (const keys of client.scanIterator({ MATCH: `${prefix}${pattern}`, COUNT: 1000 })) found.push(...keys)
      }
      return found
    })
    return { store, root, client, prefix, childKeys }
  })

const usageOf = (call: number) => Usage.make({ inputTokens: 3, outputTokens: call % 17 })

const perCall = (root: BudgetTracker.Service, call: number, counted: { tokens: number }) =>
  BudgetTracker.withChild(root, { totalTokens: 40 }, `call${call}`, (child) =>
    child.withReservation(ask, () => {
      const usage = usageOf(call)
      if (call % 11 === 3) return Effect.fail(LlmError.make("mock", new LlmError.Unavailable({ description: "down" })))
      if (call % 7 === 6) return Effect.interrupt
      return Effect.sync(() => {
        counted.tokens += usage.totalTokens
        return usage
      })
    }, (usage) => ({ usage, costUsd: 0, conversationId: `conv${call % 3}` })))

describe.runIf(enabled)("RedisBudgetStore: released children", () => {
  it.live("2,000 sequential and 500 concurrent per-call children (faults, interrupts): no child key is left, totals add up", () =>
    Effect.gen(function*() {
      const { childKeys, root, store } = yield* setup({ totalTokens: 1e9 })
      const counted = { tokens: 0 }
      for (let call = 0; call < 2_000; call++) yield* Effect.exit(perCall(root, call, counted))
      assert.deepStrictEqual(yield* childKeys, [])
      const fibers = yield* Effect.forEach(Array.from({ length: 500 }, (_, call) => call), (call) =>
        Effect.forkChild(call % 10 === 9
          ? BudgetTracker.withChild(root, { totalTokens: 40 }, "hang", (child) =>
            child.withReservation(ask, () => Effect.never, () => ({ usage: usageOf(call), costUsd: 0 })))
          : perCall(root, 2_000 + call, counted)))
      yield* Effect.forEach(fibers, (fiber, call) =>
        call % 10 === 9 ? Effect.asVoid(Fiber.interrupt(fiber)) : Effect.asVoid(Fiber.await(fiber)), { concurrency: "unbounded" })
      assert.deepStrictEqual(yield* childKeys, [])
      // This process forgot them too: only the root is known here.
      assert.strictEqual(yield* store.size, 1)
      const snapshot = yield* root.snapshot
      assert.strictEqual(snapshot.consumed.totalTokens, counted.tokens)
      assert.strictEqual(snapshot.reserved.totalTokens, 0)
      assert.strictEqual(snapshot.openReservations, 0)
    }).pipe(Effect.scoped), 240_000)

  it.live("a child closed with a lease open keeps its keys until that lease is settled; the parent keeps the usage", () =>
    Effect.gen(function*() {
      const { childKeys, client, prefix, root, store } = yield* setup({ totalTokens: 1_000 })
      const parent = yield* root.child({ totalTokens: 500 }, "run")
      const child = yield* parent.child({ totalTokens: 100 }, "step")
      const reservation = yield* child.reserve(ask)
      yield* child.close
      yield* parent.close
      assert.strictEqual(yield* Effect.promise(() => client.hGet(`${prefix}node:${child.id}`, "closing")), "1")
      assert.strictEqual(yield* Effect.promise(() => client.hGet(`${prefix}node:${parent.id}`, "closing")), "1")
      yield* child.commit(reservation, { usage: Usage.make({ inputTokens: 4, outputTokens: 6 }), costUsd: 0 })
      // The child went with its last lease, and its parent (closed, its last child gone) with it.
      assert.deepStrictEqual(yield* childKeys, [])
      assert.strictEqual((yield* root.snapshot).consumed.totalTokens, 10)
      // Releasing again is idempotent.
      assert.strictEqual(yield* store.release(child.id), "unknown")
    }).pipe(Effect.scoped), 60_000)

  it.live("the keys of a child never closed (a killed process) expire: every one has a TTL", () =>
    Effect.gen(function*() {
      const { childKeys, client, root } = yield* setup({ totalTokens: 1_000 })
      const child = yield* root.child({ totalTokens: 40 }, "killed")
      const reservation = yield* child.reserve(ask)
      // An overshoot and a conversation: the child gets all three kinds of keys.
      yield* child.commit(reservation, { usage: Usage.make({ inputTokens: 30, outputTokens: 30 }), costUsd: 0, conversationId: "c" })
      const keys = yield* childKeys
      assert.strictEqual(keys.length, 3)
      for (const key of keys) {
        const ttl = yield* Effect.promise(() => client.pTTL(key))
        assert.isAbove(ttl, 0, `${key} has no TTL`)
        assert.isAtMost(ttl, 7 * 86_400_000)
      }
    }).pipe(Effect.scoped), 60_000)
})
