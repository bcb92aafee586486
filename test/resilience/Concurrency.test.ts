import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect, Fiber, Layer, Stream } from "effect"
import { TestClock } from "effect/testing"
import * as LanguageModel from "../../src/LanguageModel.ts"
import * as Mock from "../../src/providers/mock/MockLanguageModel.ts"
import * as OpenAiLanguageModel from "../../src/providers/openai/OpenAiLanguageModel.ts"
import * as Concurrency from "../../src/resilience/Concurrency.ts"
import * as CountingServer from "./countingServer.ts"
import * as StreamPart from "../../src/StreamPart.ts"

describe("Concurrency", () => {
  it.live("the server never sees more calls in flight than the provider limit", () =>
    Effect.gen(function*() {
      const server = yield* CountingServer.start(30)
      const limited = Concurrency.layer.pipe(
        Layer.provide(OpenAiLanguageModel.layer({ provider: "openai", baseUrl: `${server.origin}/v1`, defaultModel: "gpt-4o-mini" })),
        Layer.provide(Concurrency.layerLimits({ providers: { openai: 3 } }))
      )
      const responses = yield* Effect.forEach(
        Array.from({ length: 12 }, (_, index) => `question ${index}`),
        (prompt) => LanguageModel.generate(prompt),
        { concurrency: "unbounded" }
      ).pipe(Effect.provide(limited))
      assert.strictEqual(responses.length, 12)
      assert.strictEqual(server.received(), 12)
      assert.strictEqual(server.maxInFlight(), 3)
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.effect("waiters are served in arrival order (FIFO)", () =>
    Effect.gen(function*() {
      const finished: Array<number> = []
      const fibers = []
      for (const index of [0, 1, 2, 3]) {
        fibers.push(
          yield* Effect.forkChild(Effect.andThen(LanguageModel.generate(`call ${index}`), () => Effect.sync(() => finished.push(index))))
        )
        yield* Effect.yieldNow
      }
      yield* TestClock.adjust("100 millis")
      assert.deepStrictEqual(finished, [0])
      yield* TestClock.adjust("300 millis")
      yield* Effect.forEach(fibers, Fiber.join)
      assert.deepStrictEqual(finished, [0, 1, 2, 3])
    }).pipe(
      Effect.provide(Concurrency.layer.pipe(
        Layer.provide(Mock.layer({ latency: "100 millis" })),
        Layer.provide(Concurrency.layerLimits({ perProvider: 1 }))
      ))
    ))

  it.effect("the global limit holds across providers that share the limits service", () =>
    Effect.gen(function*() {
      const limits = yield* Concurrency.makeLimits({ global: 2, perProvider: 5 })
      const slow = (name: string) =>
        Effect.map(Mock.make({ latency: "1 second" }), ({ model }) => Concurrency.make({ ...model, provider: name }, limits))
      const a = yield* slow("a")
      const b = yield* slow("b")
      const started = yield* Clock.currentTimeMillis
      const fiber = yield* Effect.forkChild(
        Effect.all([a.generate({ messages: [{ role: "user", content: "1" }] }), b.generate({ messages: [{ role: "user", content: "2" }] }), a.generate({ messages: [{ role: "user", content: "3" }] })], {
          concurrency: "unbounded"
        })
      )
      yield* TestClock.adjust("1 second")
      assert.isUndefined(fiber.pollUnsafe())
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(fiber)
      assert.strictEqual((yield* Clock.currentTimeMillis) - started, 2_000)
    }))
})

describe("Concurrency (streams)", () => {
  it.effect("a stream holds its provider permit until it ends", () =>
    Effect.gen(function*() {
      const limits = yield* Concurrency.makeLimits({ perProvider: 1 })
      const { model } = yield* Mock.make({ reply: "chunk" })
      // A stream that emits one chunk after 1 s.
      const streaming: LanguageModel.Service = LanguageModel.make({
        ...model,
        stream: () => Stream.fromEffect(Effect.as(Effect.sleep("1 second"), StreamPart.textDelta("chunk")))
      })
      const limited = Concurrency.make(streaming, limits)
      const ended: Array<number> = []
      const one = Stream.runDrain(limited.stream({ messages: [{ role: "user", content: "hi" }] })).pipe(
        Effect.andThen(Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.sync(() => ended.push(now))))
      )
      const fiber = yield* Effect.forkChild(Effect.all([one, one, one], { concurrency: "unbounded" }))
      yield* TestClock.adjust("3 seconds")
      yield* Fiber.join(fiber)
      assert.deepStrictEqual(ended, [1_000, 2_000, 3_000])
    }))
})
