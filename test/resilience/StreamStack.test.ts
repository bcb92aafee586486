/**
 * Retries of a stream through the whole stack built by `Stack`, against a fake OpenAI-compatible
 * SSE server: a 429 before the first chunk is retried (the caller sees the text once, the budget
 * and the ledger count two attempts); a connection dropped after the first chunk is not.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Stream } from "effect"
import * as LlmRequest from "../../src/LlmRequest.ts"
import * as ModelFactory from "../../src/ModelFactory.ts"
import * as NodeProviders from "../../src/node/NodeProviders.ts"
import * as UsageLedger from "../../src/observability/UsageLedger.ts"
import * as Stack from "../../src/Stack.ts"
import * as StreamPart from "../../src/StreamPart.ts"
import * as Fake from "../providers/openai/FakeOpenAiServer.ts"
import { partsThenError, textOf } from "../providers/openai/streamingSuite.ts"

const stackOf = (origin: string) =>
  Stack.layerFactory({
    provider: { provider: "openai-compatible", baseUrl: `${origin}/v1`, model: "local-1" },
    budget: { budget: { totalTokens: 10_000 } },
    resilience: { retry: { maxRetries: 2, baseDelay: "10ms", jitter: false } }
  }).pipe(Layer.provide(NodeProviders.layer), Layer.provideMerge(UsageLedger.layerMemory()))

describe("Stack: stream retries", () => {
  it.live("a 429 before the first chunk is retried: the text once, two attempts in the budget and the ledger", () =>
    Effect.gen(function*() {
      let calls = 0
      const fake = yield* Fake.start(() =>
        calls++ === 0
          ? Fake.apiError(429, "rate limited", {}, { "retry-after-ms": "20" })
          : Fake.sse(Fake.textStream({ texts: ["Hel", "lo"] }))
      )
      yield* Effect.gen(function*() {
        const factory = yield* ModelFactory.ModelFactory
        const parts = yield* Stream.runCollect(factory.model.stream(LlmRequest.make({ prompt: "hi", maxTokens: 50 })))
        assert.strictEqual(textOf(parts), "Hello")
        assert.strictEqual(parts.filter(StreamPart.isFinish).length, 1)
        assert.strictEqual(fake.requests.length, 2)
        const snapshot = yield* factory.budget!.snapshot
        assert.strictEqual(snapshot.openReservations, 0)
        assert.strictEqual(snapshot.consumed.outputTokens, Fake.usage.completion_tokens) // the 429 was released
        const [row] = yield* (yield* UsageLedger.UsageLedger).entries()
        assert.strictEqual(row!.outcome, "ok")
        assert.strictEqual(row!.attempts, 2)
      }).pipe(Effect.provide(stackOf(fake.origin)))
    }))

  it.live("a connection dropped after the first chunk is not retried: the stream ends with Network after the text so far", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.start(() =>
        Fake.sse([Fake.data(Fake.chunk({ delta: { role: "assistant", content: "" } })), Fake.data(Fake.chunk({ delta: { content: "Hel" } }))], {
          then: "destroy"
        })
      )
      yield* Effect.gen(function*() {
        const factory = yield* ModelFactory.ModelFactory
        const { error, parts } = yield* partsThenError(factory.model.stream(LlmRequest.make({ prompt: "hi", maxTokens: 50 })))
        assert.strictEqual(error.reason._tag, "Network")
        assert.strictEqual(textOf(parts), "Hel")
        assert.strictEqual(fake.requests.length, 1)
        const snapshot = yield* factory.budget!.snapshot
        assert.strictEqual(snapshot.openReservations, 0)
        assert.isAtLeast(snapshot.consumed.outputTokens, 1) // what streamed, at least: never lost
      }).pipe(Effect.provide(stackOf(fake.origin)))
    }))
})
