import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect, Fiber, Layer, Semaphore, Stream } from "effect"
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

describe("Concurrency (permits)", () => {
  const ask = (content: string) => ({ messages: [{ role: "user" as const, content }] })

  it.effect("a call interrupted while it holds its permits, or while it waits for them, gives them back", () =>
    Effect.gen(function*() {
      const limits = yield* Concurrency.makeLimits({ global: 1, perProvider: 1 })
      const { model } = yield* Mock.make({ latency: "1 second" })
      const limited = Concurrency.make(model, limits)
      const holding = yield* Effect.forkChild(limited.generate(ask("holds")))
      yield* Effect.yieldNow
      const waiting = yield* Effect.forkChild(limited.generate(ask("waits")))
      yield* Effect.yieldNow
      yield* Fiber.interrupt(waiting)
      yield* Fiber.interrupt(holding)
      // Both permits are free again, and nobody is left in line: the next call starts at once.
      const started = yield* Clock.currentTimeMillis
      const next = yield* Effect.forkChild(limited.generate(ask("next")))
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(next)
      assert.strictEqual((yield* Clock.currentTimeMillis) - started, 1_000)
      assert.isTrue(yield* Semaphore.takeIfAvailable(limits.global!, 1))
      assert.isFalse(yield* Semaphore.takeIfAvailable(limits.global!, 1))
      assert.isTrue(yield* Semaphore.takeIfAvailable(limits.forProvider("mock")!, 1))
    }))

  it.effect("a call waits for the permit a stream holds, and a stream for a call's", () =>
    Effect.gen(function*() {
      const limits = yield* Concurrency.makeLimits({ perProvider: 1 })
      const { model } = yield* Mock.make({ latency: "1 second" })
      const streaming: LanguageModel.Service = LanguageModel.make({
        ...model,
        stream: () => Stream.fromEffect(Effect.as(Effect.sleep("1 second"), StreamPart.textDelta("chunk")))
      })
      const limited = Concurrency.make(streaming, limits)
      const ended: Array<string> = []
      const done = (name: string) => Effect.andThen(Clock.currentTimeMillis, (now) => Effect.sync(() => ended.push(`${name} ${now}`)))
      const fiber = yield* Effect.forkChild(Effect.all([
        Effect.andThen(Stream.runDrain(limited.stream(ask("first"))), done("stream")),
        Effect.andThen(limited.generate(ask("second")), done("call")),
        Effect.andThen(Stream.runDrain(limited.stream(ask("third"))), done("stream"))
      ], { concurrency: "unbounded" }))
      yield* TestClock.adjust("3 seconds")
      yield* Fiber.join(fiber)
      assert.deepStrictEqual(ended, ["stream 1000", "call 2000", "stream 3000"])
    }))

  it.effect("a newcomer does not overtake a call waiting in line when a permit is freed", () =>
    Effect.gen(function*() {
      const limits = yield* Concurrency.makeLimits({ global: 1 })
      const { model } = yield* Mock.make({ latency: "1 second" })
      const limited = Concurrency.make(model, limits)
      const order: Array<string> = []
      const call = (name: string) => Effect.andThen(limited.generate(ask(name)), Effect.sync(() => order.push(name)))
      // The permit is held; a call queues for it; then, in one step, the permit is given back (its
      // waiter is woken later, by the scheduler) and a newcomer asks: it must queue behind.
      yield* Semaphore.take(limits.global!, 1)
      const queued = yield* Effect.forkChild(call("queued"))
      yield* Effect.yieldNow
      const late = yield* Effect.forkChild(Effect.andThen(Semaphore.release(limits.global!, 1), call("late")))
      yield* TestClock.adjust("2 seconds")
      yield* Effect.forEach([queued, late], Fiber.join)
      assert.deepStrictEqual(order, ["queued", "late"])
    }))

  it.effect("limits given as other semaphores (a service built elsewhere) still hold", () =>
    Effect.gen(function*() {
      const global = yield* Semaphore.make(1)
      const { model } = yield* Mock.make({ latency: "1 second" })
      const limited = Concurrency.make(model, { global, forProvider: () => undefined })
      const started = yield* Clock.currentTimeMillis
      const fiber = yield* Effect.forkChild(Effect.all([limited.generate(ask("1")), limited.generate(ask("2"))], { concurrency: "unbounded" }))
      yield* TestClock.adjust("2 seconds")
      yield* Fiber.join(fiber)
      assert.strictEqual((yield* Clock.currentTimeMillis) - started, 2_000)
    }))
})
