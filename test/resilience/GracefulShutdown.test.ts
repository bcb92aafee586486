import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Fiber, Layer, Stream } from "effect"
import { TestClock } from "effect/testing"
import * as BudgetLanguageModel from "../../src/budget/BudgetLanguageModel.ts"
import * as BudgetTracker from "../../src/budget/BudgetTracker.ts"
import * as LanguageModel from "../../src/LanguageModel.ts"
import * as Mock from "../../src/providers/mock/MockLanguageModel.ts"
import * as GracefulShutdown from "../../src/resilience/GracefulShutdown.ts"
import * as StreamPart from "../../src/StreamPart.ts"

const stack = GracefulShutdown.layer.pipe(
  Layer.provideMerge(Mock.layer({ latency: "1 second", reply: "done" })),
  Layer.provideMerge(GracefulShutdown.layerService)
)

describe("GracefulShutdown", () => {
  it.effect("calls in flight finish, new calls are refused with Unavailable, shutdown waits for the last one", () =>
    Effect.gen(function*() {
      const control = yield* GracefulShutdown.GracefulShutdown
      const running = yield* Effect.forkChild(Effect.all([LanguageModel.generate("a"), LanguageModel.generate("b")], { concurrency: 2 }))
      yield* Effect.yieldNow
      assert.strictEqual(yield* control.inFlight, 2)
      const stopping = yield* Effect.forkChild(control.shutdown)
      yield* Effect.yieldNow
      assert.isTrue(yield* control.isShuttingDown)
      const refused = yield* Effect.flip(LanguageModel.generate("c"))
      assert.strictEqual(refused.reason._tag, "Unavailable")
      assert.include(refused.message, "shutting down")
      assert.isUndefined(stopping.pollUnsafe())
      yield* TestClock.adjust("1 second")
      const responses = yield* Fiber.join(running)
      assert.deepStrictEqual(responses.map((response) => response.content), ["done", "done"])
      yield* Fiber.join(stopping)
      assert.strictEqual(yield* control.inFlight, 0)
      const calls = yield* Mock.MockLanguageModel.use((mock) => mock.calls)
      assert.strictEqual(calls.length, 2)
    }).pipe(Effect.provide(stack)))

  it.effect("shutdown with nothing in flight returns at once; interrupted calls leave the count", () =>
    Effect.gen(function*() {
      const control = yield* GracefulShutdown.GracefulShutdown
      const call = yield* Effect.forkChild(LanguageModel.generate("a"))
      yield* Effect.yieldNow
      assert.strictEqual(yield* control.inFlight, 1)
      yield* Fiber.interrupt(call)
      assert.strictEqual(yield* control.inFlight, 0)
      yield* control.shutdown
      assert.isTrue(yield* control.isShuttingDown)
    }).pipe(Effect.provide(stack)))

  it.effect("without the service in context the layer passes the model through", () =>
    Effect.gen(function*() {
      const response = yield* LanguageModel.generate("a").pipe(
        Effect.provide(GracefulShutdown.layer.pipe(Layer.provide(Mock.layer({ reply: "plain" }))))
      )
      assert.strictEqual(response.content, "plain")
    }))

  it.effect("a stream in flight counts until it ends; a new stream is refused during shutdown", () =>
    Effect.gen(function*() {
      const control = yield* GracefulShutdown.GracefulShutdown
      const streaming: LanguageModel.Service = LanguageModel.make({
        provider: "streamer",
        defaultModel: "s",
        generate: () => Effect.die("not used"),
        stream: () => Stream.fromEffect(Effect.as(Effect.sleep("1 second"), StreamPart.textDelta("chunk")))
      })
      const model = yield* Layer.build(GracefulShutdown.layer.pipe(
        Layer.provide(Layer.succeed(LanguageModel.LanguageModel, streaming)),
        Layer.provide(Layer.succeed(GracefulShutdown.GracefulShutdown, control))
      )).pipe(Effect.map((context) => Context.get(context, LanguageModel.LanguageModel)))
      const request = { messages: [{ role: "user" as const, content: "hi" }] }
      const running = yield* Effect.forkChild(Stream.runCollect(model.stream(request)))
      yield* Effect.yieldNow
      assert.strictEqual(yield* control.inFlight, 1)
      const stopping = yield* Effect.forkChild(control.shutdown)
      yield* Effect.yieldNow
      const refused = yield* Effect.flip(Stream.runDrain(model.stream(request)))
      assert.strictEqual(refused.reason._tag, "Unavailable")
      yield* TestClock.adjust("1 second")
      assert.deepStrictEqual((yield* Fiber.join(running)).map((part) => part.type === "text-delta" ? part.text : part.type), ["chunk"])
      yield* Fiber.join(stopping)
      assert.strictEqual(yield* control.inFlight, 0)
    }).pipe(Effect.provide(GracefulShutdown.layerService)))

  it.effect("under the budget layer, a call refused during shutdown is released: it costs nothing and is never sent", () =>
    Effect.gen(function*() {
      const control = yield* GracefulShutdown.GracefulShutdown
      yield* control.shutdown
      const refused = yield* Effect.flip(LanguageModel.generate({ prompt: "hello", maxTokens: 50 }))
      assert.strictEqual(refused.reason._tag, "Unavailable")
      const snapshot = yield* BudgetTracker.snapshot
      assert.deepStrictEqual([snapshot.reserved.totalTokens, snapshot.consumed.totalTokens, snapshot.openReservations], [0, 0, 0])
      assert.deepStrictEqual(yield* Mock.MockLanguageModel.use((mock) => mock.calls), [])
    }).pipe(Effect.provide(
      BudgetLanguageModel.layer.pipe(
        Layer.provide(GracefulShutdown.layer),
        Layer.provideMerge(Mock.layer({ reply: "done" })),
        Layer.provideMerge(BudgetTracker.layer({ totalTokens: 1_000 })),
        Layer.provideMerge(GracefulShutdown.layerService)
      )
    )))
})

