// Marking a lease as sent on the Redis store (ADR 0019, ADR 0030), against a real redis-server
// (test/support/redis.ts): the budget layer starts the mark from plain code as the request goes
// out; it runs in the store's own scope, so closing the store waits for a mark that Redis still
// holds (CLIENT PAUSE WRITE), and a mark that cannot be written is logged through the store's
// logger instead of vanishing.
import { assert, describe, it } from "@effect/vitest"
import { Effect, Logger } from "effect"
import * as BudgetStore from "../../src/budget/BudgetStore.ts"
import * as BudgetTracker from "../../src/budget/BudgetTracker.ts"
import * as Background from "../../src/budget/internal/background.ts"
import * as RedisBudgetStore from "../../src/budget/RedisBudgetStore.ts"
import { adminClient as admin, redisForFile } from "../support/redis.ts"

const { enabled, server } = redisForFile("test/store/RedisLeaseMark.test.ts")

const ask: BudgetTracker.Ask = {
  request: { messages: [{ role: "user", content: "hello" }], maxTokens: 50 },
  provider: "mock",
  model: "mock-1",
  price: undefined
}

/** What the budget layer calls as an attempt's request goes out (one lookup per call). */
const markerOf = (tracker: BudgetTracker.Service): (reservationId: string) => void => {
  const background = Background.trackerOf(tracker)
  assert.isDefined(background)
  return background!.markSent
}

describe.runIf(enabled)("RedisBudgetStore: marking a lease as sent", () => {
  it.live("closing the store waits for a mark that Redis still holds, then the lease is marked", () =>
    Effect.gen(function*() {
      const prefix = "{mark-close}:"
      const redis = yield* admin(server().socket)
      const pauseMs = 800
      const { closedAfter, id } = yield* Effect.gen(function*() {
        const store = yield* RedisBudgetStore.make({ url: server().url, prefix, timeout: "20 seconds" })
        const tracker = yield* BudgetTracker.make({ totalTokens: 10_000 }, { id: "mark-close" }).pipe(
          Effect.provideService(BudgetStore.BudgetStore, store)
        )
        const reservation = yield* tracker.reserve(ask)
        // Redis holds every write for a while; the mark is queued behind the pause.
        yield* Effect.promise(() => redis.sendCommand(["CLIENT", "PAUSE", `${pauseMs}`, "WRITE"]))
        markerOf(tracker)(reservation.id)
        const started = Date.now()
        // The store's scope closes right away, with the mark unwritten.
        return { closedAfter: () => Date.now() - started, id: reservation.id }
      }).pipe(Effect.scoped)
      const waited = closedAfter()
      // The close waited for the mark (not for its own timeout of 20 s) before closing the client.
      assert.isAtLeast(waited, pauseMs - 100)
      assert.isBelow(waited, 10_000)
      assert.strictEqual(yield* Effect.promise(() => redis.hGet(`${prefix}lease:${id}`, "sent")), "1")
    }).pipe(Effect.scoped), 30_000)

  it.live("a mark that cannot be written is logged through the store's logger; reads wait for it", () =>
    Effect.gen(function*() {
      const prefix = "{mark-fail}:"
      const redis = yield* admin(server().socket)
      const storeLines: Array<string> = []
      const storeLogger = Logger.layer([Logger.formatSimple.pipe(Logger.map((line) => void storeLines.push(line)))])
      const store = yield* RedisBudgetStore.make({ url: server().url, prefix, timeout: "300 millis" }).pipe(Effect.provide(storeLogger))
      const tracker = yield* BudgetTracker.make({ totalTokens: 10_000 }, { id: "mark-fail" }).pipe(
        Effect.provideService(BudgetStore.BudgetStore, store)
      )
      const reservation = yield* tracker.reserve(ask)
      const pauseMs = 1_500
      yield* Effect.promise(() => redis.sendCommand(["CLIENT", "PAUSE", `${pauseMs}`, "WRITE"]))
      const started = Date.now()
      markerOf(tracker)(reservation.id)
      // The caller did not wait for the mark.
      assert.isBelow(Date.now() - started, 300)
      assert.deepStrictEqual(storeLines, [])
      // This process's reads wait for the work it started off the path: the mark gave up after 300 ms.
      yield* store.settled
      const waited = Date.now() - started
      assert.isAtLeast(waited, 250)
      assert.isBelow(waited, pauseMs)
      const logged = storeLines.filter((line) => line.includes(`could not mark reservation ${reservation.id} as sent`))
      assert.strictEqual(logged.length, 1, storeLines.join("\n"))
      assert.match(logged[0]!, /level=WARN/)
      assert.include(logged[0]!, "redis budget store")
      assert.match(logged[0]!, /no answer within 300ms/)
      assert.match(logged[0]!, /released when it expires, not charged/)
      // Nothing of the request in the line.
      assert.notInclude(logged[0]!, "hello")
      // The call itself is untouched: its lease is still held.
      yield* Effect.promise(() => redis.sendCommand(["CLIENT", "UNPAUSE"]))
      assert.strictEqual(yield* Effect.promise(() => redis.exists(`${prefix}lease:${reservation.id}`)), 1)
    }).pipe(Effect.scoped), 30_000)
})
