// A Redis that holds its answer (busy with another client's 1.5 s script) past the store's timeout: the reserve fails closed
// with a typed Unavailable naming the store and the timeout, within about that timeout. Each
// script is bounded by node-redis's own command timeout (no timer fiber of the store's per command).
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as BudgetStore from "../../src/budget/BudgetStore.ts"
import * as BudgetTracker from "../../src/budget/BudgetTracker.ts"
import * as RedisBudgetStore from "../../src/budget/RedisBudgetStore.ts"
import { adminClient, redisForFile } from "../support/redis.ts"

const { enabled, server } = redisForFile("test/store/RedisTimeout.test.ts")

const ask: BudgetTracker.Ask = {
  request: { messages: [{ role: "user", content: "a" }], maxTokens: 10 },
  provider: "mock",
  model: "mock-1",
  price: undefined
}

describe.runIf(enabled)("RedisBudgetStore: a script unanswered within the timeout", () => {
  it.live("fails closed with Unavailable naming the timeout, then admits again once Redis answers", () =>
    Effect.gen(function*() {
      const store = yield* RedisBudgetStore.make({ url: server().url, prefix: "{timeout}:", timeout: "300 millis" })
      const tracker = yield* BudgetTracker.make({ totalTokens: 10_000 }).pipe(Effect.provideService(BudgetStore.BudgetStore, store))
      const first = yield* tracker.reserve(ask)
      yield* tracker.commit(first, { usage: { inputTokens: 1, outputTokens: 9, totalTokens: 10 }, costUsd: 0 })
      yield* store.settled
      const admin = yield* adminClient(server().socket)
      // Redis runs one script for 1.5 s (it answers nothing else meanwhile).
      const busy = "local t = redis.call('TIME') local s = t[1] * 1000 + math.floor(t[2] / 1000) " +
        "repeat t = redis.call('TIME') until t[1] * 1000 + math.floor(t[2] / 1000) - s >= 1500 return 1"
      const holding = admin.eval(busy)
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 50)))
      const started = Date.now()
      const refused = yield* Effect.flip(tracker.reserve(ask))
      const waited = Date.now() - started
      assert.strictEqual(refused.reason._tag, "Unavailable")
      assert.strictEqual(refused.sent, false)
      assert.match(refused.message, /redis budget store unix:\/\/.*no answer within 300ms/)
      assert.isAtLeast(waited, 250)
      assert.isBelow(waited, 1400)
      yield* Effect.promise(() => holding)
      const again = yield* tracker.reserve(ask)
      assert.strictEqual(again.amounts.totalTokens > 0, true)
    }).pipe(Effect.scoped), 30_000)
})
