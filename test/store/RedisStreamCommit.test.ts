// A streamed call's finish part on the Redis store (ADR 0030, "Streams"), against a real
// redis-server (test/support/redis.ts): the finish part reaches the consumer while Redis still
// holds its commit (CLIENT PAUSE WRITE); the lease keeps its whole reservation until the commit
// lands; a consumer that stops at the finish part does not cancel it; this process's snapshot
// waits for it and is exact. Both settlement paths: the budget right above the model (the call's
// own stream) and a retry layer between them (an attempt's stream).
import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import * as BudgetLanguageModel from "../../src/budget/BudgetLanguageModel.ts"
import * as BudgetStore from "../../src/budget/BudgetStore.ts"
import * as BudgetTracker from "../../src/budget/BudgetTracker.ts"
import * as RedisBudgetStore from "../../src/budget/RedisBudgetStore.ts"
import * as LanguageModel from "../../src/LanguageModel.ts"
import type { LlmRequest } from "../../src/LlmRequest.ts"
import type { LlmResponse } from "../../src/LlmResponse.ts"
import * as Retry from "../../src/resilience/Retry.ts"
import * as StreamPart from "../../src/StreamPart.ts"
import { adminClient as admin, redisForFile } from "../support/redis.ts"

const { enabled, server } = redisForFile("test/store/RedisStreamCommit.test.ts")

const answer: LlmResponse = {
  content: "ok",
  model: "mock-1",
  provider: "mock",
  usage: { inputTokens: 5, outputTokens: 20, totalTokens: 25 },
  finishReason: "stop",
  latencyMs: 1
}

/** A model whose stream runs `before` when it opens (after the reservation), then streams its answer. */
const streamingModel = (before: Effect.Effect<void>): LanguageModel.Service =>
  LanguageModel.make({
    provider: "mock",
    defaultModel: "mock-1",
    generate: () => Effect.as(before, answer),
    stream: () => Stream.concat(Stream.fromEffectDrain(before), Stream.make(StreamPart.textDelta("ok"), StreamPart.finish(answer)))
  })

const request: LlmRequest = { messages: [{ role: "user", content: "hello" }], maxTokens: 50 }

const cases: ReadonlyArray<{ readonly name: string; readonly between: (model: LanguageModel.Service) => LanguageModel.Service }> = [
  { name: "the call's own stream (budget right above the model)", between: (model) => model },
  { name: "an attempt's stream (a retry layer between)", between: (model) => Retry.make(model) }
]

describe.runIf(enabled)("RedisBudgetStore: a stream's finish part commits off the stream's path", () => {
  for (const { between, name } of cases) {
    it.live(`${name}: the finish part arrives while Redis holds its commit; the snapshot then has it`, () =>
      Effect.gen(function*() {
        const id = `stream-${between === cases[0]!.between ? "own" : "attempt"}`
        const prefix = `{${id}}:`
        const redis = yield* admin(server().socket)
        const store = yield* RedisBudgetStore.make({ url: server().url, prefix, timeout: "20 seconds" })
        const tracker = yield* BudgetTracker.make({ totalTokens: 10_000 }, { id }).pipe(Effect.provideService(BudgetStore.BudgetStore, store))
        // Once the stream is open (its reservation made), Redis holds every write for 1.5 s.
        const pauseMs = 1_500
        const model = BudgetLanguageModel.wrap(tracker)(between(streamingModel(Effect.asVoid(Effect.promise(() =>
          redis.sendCommand(["CLIENT", "PAUSE", `${pauseMs}`, "WRITE"])
        )))))
        const started = Date.now()
        // The consumer stops at the finish part (the stream closes right after it).
        const parts = yield* Stream.runCollect(Stream.takeUntil(model.stream(request), (part) => part.type === "finish"))
        const finishedAfter = Date.now() - started
        const finish = parts.find((part) => part.type === "finish")
        assert.strictEqual(finish?.type === "finish" ? finish.response.usage.totalTokens : undefined, 25)
        assert.isBelow(finishedAfter, pauseMs)
        // Reads are not paused: Redis still has the lease, its whole reservation, and nothing consumed.
        const during = yield* Effect.promise(() => redis.hGetAll(`${prefix}node:n:${id}`))
        assert.strictEqual(during.open, "1")
        assert.strictEqual(during.ct, "0")
        assert.isAbove(Number(during.rt), 25)
        // This process's snapshot waits for its commit in flight: exact.
        const after = yield* tracker.snapshot
        assert.isAtLeast(Date.now() - started, pauseMs - 50)
        assert.strictEqual(after.consumed.totalTokens, 25)
        assert.strictEqual(after.reserved.totalTokens, 0)
        assert.strictEqual(after.openReservations, 0)
        const stored = yield* Effect.promise(() => redis.hGetAll(`${prefix}node:n:${id}`))
        assert.deepStrictEqual([stored.ct, stored.rt, stored.open], ["25", "0", "0"])
      }).pipe(Effect.scoped), 30_000)
  }
})
