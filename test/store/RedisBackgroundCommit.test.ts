// The commit after an answer runs off the call's path on the Redis store (ADR 0030), against a real
// redis-server (test/support/redis.ts): the caller has its answer while Redis still holds the
// commit (CLIENT PAUSE WRITE), an interrupted caller does not cancel it, this process's reads wait
// for it, and a commit that cannot be written is retried, then logged as unaccounted usage, its
// lease expiring by itself.
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Logger } from "effect"
import * as BudgetLanguageModel from "../../src/budget/BudgetLanguageModel.ts"
import * as BudgetStore from "../../src/budget/BudgetStore.ts"
import * as BudgetTracker from "../../src/budget/BudgetTracker.ts"
import * as RedisBudgetStore from "../../src/budget/RedisBudgetStore.ts"
import * as LanguageModel from "../../src/LanguageModel.ts"
import type { LlmRequest } from "../../src/LlmRequest.ts"
import type { LlmResponse } from "../../src/LlmResponse.ts"
import { adminClient as admin, redisForFile, startRedis } from "../support/redis.ts"

const { enabled, server } = redisForFile("test/store/RedisBackgroundCommit.test.ts")

const answer: LlmResponse = {
  content: "ok",
  model: "mock-1",
  provider: "mock",
  usage: { inputTokens: 5, outputTokens: 20, totalTokens: 25 },
  finishReason: "stop",
  latencyMs: 1
}

/** A model that runs `before` when the request reaches it (after the reservation), then answers. */
const modelThat = (before: Effect.Effect<void>): LanguageModel.Service =>
  LanguageModel.make({ provider: "mock", defaultModel: "mock-1", generate: () => Effect.as(before, answer) })

const request: LlmRequest = { messages: [{ role: "user", content: "hello" }], maxTokens: 50 }

describe.runIf(enabled)("RedisBudgetStore: the commit off the call's path", () => {
  it.live("the answer returns while Redis holds its commit; an interrupted caller does not cancel it; the snapshot then has it", () =>
    Effect.gen(function*() {
      const prefix = "{paused}:"
      const redis = yield* admin(server().socket)
      const store = yield* RedisBudgetStore.make({ url: server().url, prefix, timeout: "20 seconds" })
      const tracker = yield* BudgetTracker.make({ totalTokens: 10_000 }, { id: "paused" }).pipe(Effect.provideService(BudgetStore.BudgetStore, store))
      // Once the request is at the provider (its reservation made), Redis holds every write for 1.5 s.
      const pauseMs = 1_500
      const model = BudgetLanguageModel.wrap(tracker)(modelThat(Effect.asVoid(Effect.promise(() =>
        redis.sendCommand(["CLIENT", "PAUSE", `${pauseMs}`, "WRITE"])
      ))))
      const answered = yield* Deferred.make<number>()
      const started = Date.now()
      // The caller is interrupted as soon as it has its answer.
      const caller = yield* Effect.forkChild(
        Effect.andThen(model.generate(request), (response) =>
          Effect.andThen(Deferred.succeed(answered, response.usage.totalTokens), Effect.never))
      )
      const tokens = yield* Deferred.await(answered)
      const returnedAfter = Date.now() - started
      yield* Fiber.interrupt(caller)
      assert.strictEqual(tokens, 25)
      // Reads are not paused: Redis still has the lease and nothing consumed.
      const during = yield* Effect.promise(() => redis.hGetAll(`${prefix}node:n:paused`))
      assert.strictEqual(during.open, "1")
      assert.strictEqual(during.ct, "0")
      assert.isAbove(Number(during.rt), 25)
      assert.isBelow(returnedAfter, pauseMs)
      // This process's snapshot waits for its commit in flight: exact.
      const after = yield* tracker.snapshot
      const settledAfter = Date.now() - started
      assert.strictEqual(after.consumed.totalTokens, 25)
      assert.strictEqual(after.reserved.totalTokens, 0)
      assert.strictEqual(after.openReservations, 0)
      assert.isAtLeast(settledAfter, pauseMs - 50)
      const stored = yield* Effect.promise(() => redis.hGetAll(`${prefix}node:n:paused`))
      assert.deepStrictEqual([stored.ct, stored.rt, stored.open], ["25", "0", "0"])
    }).pipe(Effect.scoped), 30_000)

  it.live("closing the store waits for the commits in flight before it closes the client", () =>
    Effect.gen(function*() {
      const prefix = "{closing}:"
      const redis = yield* admin(server().socket)
      const returned = yield* Effect.gen(function*() {
        const store = yield* RedisBudgetStore.make({ url: server().url, prefix, timeout: "20 seconds" })
        const tracker = yield* BudgetTracker.make({ totalTokens: 10_000 }, { id: "closing" }).pipe(Effect.provideService(BudgetStore.BudgetStore, store))
        const model = BudgetLanguageModel.wrap(tracker)(modelThat(Effect.asVoid(Effect.promise(() =>
          redis.sendCommand(["CLIENT", "PAUSE", "800", "WRITE"])
        ))))
        const response = yield* model.generate(request)
        // Returned with the commit held by Redis; the scope closes right after.
        return { tokens: response.usage.totalTokens, open: (yield* Effect.promise(() => redis.hGetAll(`${prefix}node:n:closing`))).open }
      }).pipe(Effect.scoped)
      assert.deepStrictEqual(returned, { tokens: 25, open: "1" })
      const stored = yield* Effect.promise(() => redis.hGetAll(`${prefix}node:n:closing`))
      assert.deepStrictEqual([stored.ct, stored.rt, stored.open], ["25", "0", "0"])
    }).pipe(Effect.scoped), 30_000)

  it.live("Redis gone after the answer: the commit is retried, then logged as unaccounted usage; the lease expires by itself", () =>
    Effect.gen(function*() {
      const durable = yield* Effect.promise(() => startRedis({ persistent: true }))
      yield* Effect.addFinalizer(() => Effect.promise(() => durable.dispose()))
      const lines: Array<string> = []
      const capture = Logger.layer([Logger.formatSimple.pipe(Logger.map((line) => void lines.push(line)))])
      const prefix = "{gone}:"
      const store = yield* RedisBudgetStore.make({ url: durable.url, prefix, timeout: "500 millis", leaseTtl: "1 second" })
      const tracker = yield* BudgetTracker.make({ totalTokens: 10_000 }, { id: "gone" }).pipe(Effect.provideService(BudgetStore.BudgetStore, store))
      // Redis stops once the request is at the provider (its lease written), before the commit.
      const model = BudgetLanguageModel.wrap(tracker)(modelThat(Effect.promise(() => durable.stop())))
      const response = yield* model.generate(request).pipe(Effect.provide(capture))
      // The caller has its answer: the commit failing later does not fail it.
      assert.strictEqual(response.usage.totalTokens, 25)
      assert.isFalse(lines.some((line) => /unaccounted usage/.test(line)))
      // The commit is retried (about 13 s of backoff), then logged, never dropped silently.
      yield* store.settled
      const logged = lines.filter((line) => /unaccounted usage: the commit of reservation r\d+ could not be written/.test(line))
      assert.strictEqual(logged.length, 1, lines.join("\n"))
      assert.match(logged[0]!, /totalTokens\\?":25/)
      // The line says what happened to the usage, not what a failed reserve means.
      assert.notMatch(logged[0]!, /refused before it was sent/)
      // Back up (its append-only file kept the lease): the lease expires within its TTL; nothing stays reserved.
      yield* Effect.promise(() => durable.start())
      const redis = yield* admin(durable.socket)
      let shown = yield* Effect.promise(() => redis.hGetAll(`${prefix}node:n:gone`))
      assert.strictEqual(shown.open, "1")
      const deadline = Date.now() + 15_000
      while (Date.now() < deadline) {
        // Any script settles expired leases; `show` runs one.
        const seen = yield* Effect.exit(store.show("gone"))
        if (seen._tag === "Success" && seen.value?.figures.open === "0") break
        yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 100)))
      }
      shown = yield* Effect.promise(() => redis.hGetAll(`${prefix}node:n:gone`))
      assert.deepStrictEqual([shown.rt, shown.open], ["0", "0"])
      assert.strictEqual(yield* Effect.promise(() => redis.zCard(`${prefix}leases`)), 0)
    }).pipe(Effect.scoped), 60_000)
})
