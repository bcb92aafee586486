// The Redis budget store against a real redis-server (test/support/redis.ts): the same rules as
// the memory store, named budgets, leases that expire, and the store going away and coming back.
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import * as BudgetStore from "../../src/budget/BudgetStore.ts"
import * as BudgetTracker from "../../src/budget/BudgetTracker.ts"
import * as RedisBudgetStore from "../../src/budget/RedisBudgetStore.ts"
import * as LlmError from "../../src/LlmError.ts"
import { redisForFile, startRedis } from "../support/redis.ts"

const { enabled, server } = redisForFile("test/store/RedisBudgetStore.test.ts")

const ask = (text: string, maxTokens = 50): BudgetTracker.Ask => ({
  request: { messages: [{ role: "user", content: text }], maxTokens },
  provider: "mock",
  model: "mock-1",
  price: undefined
})

const usage = (input: number, output: number) => ({
  usage: { inputTokens: input, outputTokens: output, totalTokens: input + output },
  costUsd: 0
})

let prefixes = 0
const storeOf = (options: Partial<RedisBudgetStore.Options> = {}) =>
  RedisBudgetStore.make({ url: server().url, prefix: `{t${++prefixes}}:`, ...options })

// Polls `check` (real time: leases expire on the server's clock) up to `timeoutMs`.
const eventually = <A, E>(read: Effect.Effect<A, E>, check: (value: A) => boolean, timeoutMs = 20_000) =>
  Effect.gen(function*() {
    const started = Date.now()
    while (true) {
      const value = yield* read
      if (check(value) || Date.now() - started > timeoutMs) return value
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 25)))
    }
  })

describe.runIf(enabled)("RedisBudgetStore", () => {
  it.live("reserves and commits across a chain atomically; a second commit changes nothing", () =>
    Effect.gen(function*() {
      const store = yield* storeOf()
      const root = yield* BudgetTracker.make({ totalTokens: 200 }).pipe(Effect.provideService(BudgetStore.BudgetStore, store))
      const child = yield* root.child({ totalTokens: 120 }, "agent")
      const reservation = yield* child.reserve(ask("hello", 50))
      assert.strictEqual(reservation.id.startsWith("r"), true)
      const before = yield* child.snapshot
      assert.strictEqual(before.reserved.totalTokens, reservation.amounts.totalTokens)
      yield* child.commit(reservation, usage(3, 7))
      yield* child.commit(reservation, usage(3, 7))
      const after = yield* child.snapshot
      assert.strictEqual(after.consumed.totalTokens, 10)
      assert.strictEqual(after.reserved.totalTokens, 0)
      assert.strictEqual((yield* root.snapshot).consumed.totalTokens, 10)
      // The child's limit refuses before the root's.
      const refused = yield* Effect.exit(child.reserve(ask("x".repeat(10), 200)))
      assert.strictEqual(Exit.isFailure(refused), true)
      const error = Exit.isFailure(refused) ? refused.cause.reasons[0] : undefined
      assert.strictEqual(error !== undefined && "error" in error && LlmError.isLlmError(error.error) ? error.error.reason._tag : "", "BudgetExceeded")
    }).pipe(Effect.scoped))

  it.live("a named budget is shared; other limits under the same name are a Configuration error", () =>
    Effect.gen(function*() {
      const prefix = `{named${++prefixes}}:`
      const a = yield* RedisBudgetStore.make({ url: server().url, prefix })
      const b = yield* RedisBudgetStore.make({ url: server().url, prefix })
      const one = yield* BudgetTracker.make({ totalTokens: 100 }, { id: "team" }).pipe(Effect.provideService(BudgetStore.BudgetStore, a))
      const two = yield* BudgetTracker.make({ totalTokens: 100 }, { id: "team" }).pipe(Effect.provideService(BudgetStore.BudgetStore, b))
      const held = yield* one.reserve(ask("hi", 40))
      yield* one.commit(held, usage(5, 35))
      assert.strictEqual((yield* two.snapshot).consumed.totalTokens, 40)
      const conflict = yield* Effect.flip(BudgetTracker.make({ totalTokens: 999 }, { id: "team" }).pipe(Effect.provideService(BudgetStore.BudgetStore, b)))
      assert.strictEqual(conflict.reason._tag, "Configuration")
      assert.match(conflict.message, /budget\.id "team" is already stored/)
      const shown = yield* a.show("team")
      assert.strictEqual(shown?.figures.ct, "40")
      assert.strictEqual(yield* a.reset("team"), true)
      assert.strictEqual(yield* a.show("team"), undefined)
    }).pipe(Effect.scoped))

  it.live("an expired lease is charged when its request was sent and released when it was not", () =>
    Effect.gen(function*() {
      const prefix = `{lease${++prefixes}}:`
      // A process that reserves and then stops renewing (its scope closes: as if it died).
      const dying = yield* Effect.gen(function*() {
        const store = yield* RedisBudgetStore.make({ url: server().url, prefix, leaseTtl: "300 millis" })
        const tracker = yield* BudgetTracker.make({ totalTokens: 1_000 }, { id: "shared" }).pipe(Effect.provideService(BudgetStore.BudgetStore, store))
        const sent = yield* tracker.reserve(ask("a", 100))
        yield* tracker.reserve(ask("b", 100))
        yield* store.markSent(sent.id)
        return sent.amounts.totalTokens
      }).pipe(Effect.scoped)
      const survivor = yield* RedisBudgetStore.make({ url: server().url, prefix })
      const shown = yield* eventually(survivor.show("shared"), (value) => value?.figures.open === "0")
      assert.strictEqual(shown?.figures.open, "0")
      assert.strictEqual(shown?.figures.ct, `${dying}`)
      assert.strictEqual(shown?.figures.rt, "0")
      assert.strictEqual(shown?.openLeases, 0)
    }).pipe(Effect.scoped))

  it.live("a lease held past its TTL is renewed while its call runs, and settles normally", () =>
    Effect.gen(function*() {
      const prefix = `{renew${++prefixes}}:`
      const store = yield* RedisBudgetStore.make({ url: server().url, prefix, leaseTtl: "300 millis" })
      const tracker = yield* BudgetTracker.make({ totalTokens: 1_000 }, { id: "renewed" }).pipe(Effect.provideService(BudgetStore.BudgetStore, store))
      const held = yield* tracker.reserve(ask("a", 10))
      const first = yield* store.show("renewed")
      // Several TTLs later (renewals every 100 ms), the lease is still open and the figures held.
      const later = yield* eventually(store.show("renewed"), (value) => value !== undefined && value.serverNow - first!.serverNow > 900)
      assert.strictEqual(later?.figures.open, "1")
      assert.strictEqual(later?.openLeases, 1)
      yield* tracker.commit(held, usage(1, 9))
      const settled = yield* store.show("renewed")
      assert.strictEqual(settled?.figures.ct, "10")
      assert.strictEqual(settled?.figures.open, "0")
    }).pipe(Effect.scoped))

  it.live("fails closed while Redis is down, and recovers without a restart", () =>
    Effect.gen(function*() {
      const store = yield* storeOf({ timeout: "500 millis" })
      const tracker = yield* BudgetTracker.make({ totalTokens: 10_000 }).pipe(Effect.provideService(BudgetStore.BudgetStore, store))
      const first = yield* tracker.reserve(ask("a", 10))
      yield* tracker.commit(first, usage(1, 9))
      yield* Effect.promise(() => server().stop())
      const refused = yield* Effect.flip(tracker.reserve(ask("b", 10)))
      assert.strictEqual(refused.reason._tag, "Unavailable")
      assert.match(refused.message, /redis budget store unix:\/\//)
      assert.strictEqual(refused.sent, false)
      yield* Effect.promise(() => server().start())
      // Without persistence the restarted server is empty: the budget is gone (Missing is a
      // defect), so recovery is shown on a new budget through the same client.
      const again = yield* eventually(
        Effect.exit(BudgetTracker.make({ totalTokens: 10_000 }).pipe(Effect.provideService(BudgetStore.BudgetStore, store))),
        Exit.isSuccess
      )
      assert.strictEqual(Exit.isSuccess(again), true)
    }).pipe(Effect.scoped))

  it.live("Redis restarted mid-run (append-only file): no acknowledged commit is lost, calls resume without a restart", () =>
    Effect.gen(function*() {
      const durable = yield* Effect.promise(() => startRedis({ persistent: true }))
      yield* Effect.addFinalizer(() => Effect.promise(() => durable.dispose()))
      const store = yield* RedisBudgetStore.make({ url: durable.url, timeout: "2 seconds" })
      const tracker = yield* BudgetTracker.make({ totalTokens: 1_000 }, { id: "durable" }).pipe(Effect.provideService(BudgetStore.BudgetStore, store))
      for (let index = 0; index < 5; index++) {
        const held = yield* tracker.reserve(ask("a", 10))
        yield* tracker.commit(held, usage(2, 8))
      }
      const inFlight = yield* tracker.reserve(ask("b", 10))
      yield* Effect.promise(() => durable.stop())
      // Down: refused before anything is sent, naming the store.
      const refused = yield* Effect.flip(tracker.reserve(ask("c", 10)))
      assert.strictEqual(refused.reason._tag, "Unavailable")
      yield* Effect.promise(() => durable.start())
      // Back: the same tracker (the same client, reconnected by itself) admits again.
      const resumed = yield* eventually(Effect.exit(tracker.reserve(ask("d", 10))), Exit.isSuccess)
      assert.strictEqual(Exit.isSuccess(resumed), true)
      if (Exit.isSuccess(resumed)) yield* tracker.commit(resumed.value, usage(2, 8))
      // The reservation made before the restart settles normally.
      yield* tracker.commit(inFlight, usage(2, 8))
      const after = yield* tracker.snapshot
      assert.strictEqual(after.consumed.totalTokens, 70)
      assert.strictEqual(after.reserved.totalTokens, 0)
      assert.strictEqual(after.openReservations, 0)
    }).pipe(Effect.scoped))

  it.live("onStoreError: allow admits calls with a warning while Redis is unreachable", () =>
    Effect.gen(function*() {
      const store = yield* RedisBudgetStore.make({ url: `unix://${server().dir}/nothing.sock`, onStoreError: "allow", timeout: "200 millis" })
      const tracker = yield* BudgetTracker.make({ totalTokens: 100 }).pipe(Effect.provideService(BudgetStore.BudgetStore, store))
      const held = yield* tracker.reserve(ask("a", 10))
      assert.strictEqual(held.id.startsWith("local:"), true)
      yield* tracker.commit(held, usage(1, 2))
    }).pipe(Effect.scoped))
})
