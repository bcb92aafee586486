import { assert, describe, it } from "@effect/vitest"
import { Clock, Duration, Effect, Fiber, Layer, Stream } from "effect"
import { RateLimiter } from "effect/persistence"
import { TestClock } from "effect/testing"
import * as CallContext from "../../src/CallContext.ts"
import * as LanguageModel from "../../src/LanguageModel.ts"
import * as LlmError from "../../src/LlmError.ts"
import * as Mock from "../../src/providers/mock/MockLanguageModel.ts"
import * as RateLimit from "../../src/resilience/RateLimit.ts"
import * as StreamPart from "../../src/StreamPart.ts"
import * as Tokenizer from "../../src/Tokenizer.ts"

const limited = (settings: RateLimit.Settings) =>
  RateLimit.layer(settings).pipe(
    Layer.provideMerge(Mock.layer({ reply: "ok" })),
    Layer.provide(RateLimit.layerStoreMemory)
  )

/** Starts `count` calls at once and returns the virtual time at which each one was sent. */
const sendTimes = (count: number, prompt = "hi") =>
  Effect.gen(function*() {
    const sent: Array<number> = []
    const fiber = yield* Effect.forkChild(
      Effect.forEach(
        Array.from({ length: count }, () => prompt),
        (text) => Effect.andThen(LanguageModel.generate(text), () => Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.sync(() => sent.push(now)))),
        { concurrency: "unbounded" }
      )
    )
    yield* TestClock.adjust("10 minutes")
    yield* Fiber.join(fiber)
    return sent.sort((a, b) => a - b)
  })

describe("RateLimit", () => {
  it.effect("rpm: a burst up to the limit, then one call per minute / rpm", () =>
    Effect.gen(function*() {
      const sent = yield* sendTimes(5)
      assert.deepStrictEqual(sent, [0, 0, 30_000, 60_000, 90_000])
    }).pipe(Effect.provide(limited({ provider: { rpm: 2 } }))))

  it.effect("on any other store (effect's own memory store here) the waits are the same as on the in-memory one", () =>
    Effect.gen(function*() {
      // The in-memory store takes tokens without RateLimiter.consume; another store goes through it.
      const sent = yield* sendTimes(5)
      assert.deepStrictEqual(sent, [0, 0, 30_000, 60_000, 90_000])
    }).pipe(Effect.provide(
      RateLimit.layer({ provider: { rpm: 2 } }).pipe(
        Layer.provideMerge(Mock.layer({ reply: "ok" })),
        Layer.provide(RateLimiter.layer.pipe(Layer.provide(RateLimiter.layerStoreMemory)))
      )
    )))

  it.effect("the in-memory store's buckets are the same for RateLimiter.consume and for the layer", () =>
    Effect.gen(function*() {
      // Two tokens of the 2 rpm bucket taken through the RateLimiter service itself...
      const limiter = yield* RateLimiter.RateLimiter
      for (let taken = 0; taken < 2; taken++) {
        const result = yield* limiter.consume({
          algorithm: "token-bucket",
          onExceeded: "delay",
          window: Duration.minutes(1),
          limit: 2,
          key: "llm-connect:mock:rpm"
        })
        assert.strictEqual(Duration.toMillis(result.delay), 0)
      }
      // ...so the layer's next call waits for the next token, and the one after it for one more.
      const sent = yield* sendTimes(2)
      assert.deepStrictEqual(sent, [30_000, 60_000])
    }).pipe(Effect.provide(Layer.merge(limited({ provider: { rpm: 2 } }), RateLimit.layerStoreMemory))))

  it.effect("tpm: each call is weighted by its token estimate", () =>
    Effect.gen(function*() {
      // Each call is estimated at 100 tokens (maxTokens) plus its input; 250 tpm lets two through at once.
      const estimate = RateLimit.estimateTokens({ messages: [{ role: "user", content: "hi" }], maxTokens: 100 })
      const sent: Array<number> = []
      const fiber = yield* Effect.forkChild(
        Effect.forEach([1, 2, 3], () =>
          Effect.andThen(LanguageModel.generate({ prompt: "hi", maxTokens: 100 }), () =>
            Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.sync(() => sent.push(now)))), { concurrency: "unbounded" })
      )
      yield* TestClock.adjust("10 minutes")
      yield* Fiber.join(fiber)
      const third = Math.max(...sent)
      assert.deepStrictEqual(sent.filter((at) => at === 0).length, 2)
      // The third waits until its missing tokens have refilled (one token every 60s / 250 = 240 ms).
      assert.isAbove(3 * estimate, 250)
      assert.strictEqual(third, (3 * estimate - 250) * 240)
    }).pipe(Effect.provide(limited({ provider: { tpm: 250 } }))))

  it.effect("per-model rates apply to their model only", () =>
    Effect.gen(function*() {
      const sent: Array<number> = []
      const call = (model: string) =>
        Effect.andThen(LanguageModel.generate({ prompt: "hi", model }), () =>
          Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.sync(() => sent.push(now))))
      const fiber = yield* Effect.forkChild(
        Effect.all([call("slow"), call("slow"), call("fast"), call("fast")], { concurrency: "unbounded" })
      )
      yield* TestClock.adjust("10 minutes")
      yield* Fiber.join(fiber)
      assert.deepStrictEqual(sent.sort((a, b) => a - b), [0, 0, 0, 60_000])
    }).pipe(Effect.provide(limited({ models: { slow: { rpm: 1 } } }))))

  it.effect("a wait that would pass the deadline fails at once with RateLimited, without calling", () =>
    Effect.gen(function*() {
      yield* LanguageModel.generate("first")
      const now = yield* Clock.currentTimeMillis
      const error = yield* Effect.flip(
        LanguageModel.generate("second").pipe(Effect.provideService(CallContext.Deadline, now + 1_000))
      )
      assert.strictEqual(error.reason._tag, "RateLimited")
      assert.strictEqual(error.retryAfterMs, 60_000)
      assert.include(error.message, "1 rpm for mock")
      const calls = yield* Mock.MockLanguageModel.use((control) => control.calls)
      assert.strictEqual(calls.length, 1)
    }).pipe(Effect.provide(limited({ provider: { rpm: 1 } }))))

  it.effect("a stream is admitted like a call, before it starts", () =>
    Effect.gen(function*() {
      const { model } = yield* Mock.make({ reply: "chunk" })
      const started: Array<number> = []
      const streaming: LanguageModel.Service = LanguageModel.make({
        ...model,
        stream: () => Stream.fromEffect(Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.sync(() => {
          started.push(now)
          return StreamPart.textDelta("chunk")
        })))
      })
      const limited = yield* RateLimit.make(streaming, { provider: { rpm: 1 } })
      const request = { messages: [{ role: "user" as const, content: "hi" }] }
      const fiber = yield* Effect.forkChild(
        Effect.all([Stream.runDrain(limited.stream(request)), Stream.runDrain(limited.stream(request))], { concurrency: "unbounded" })
      )
      yield* TestClock.adjust("2 minutes")
      yield* Fiber.join(fiber)
      assert.deepStrictEqual(started, [0, 60_000])
    }).pipe(Effect.provide(RateLimit.layerStoreMemory)))
  // A stream that ends without its finish part (cut by the provider, or stopped by its consumer)
  // still used its input and the text it streamed: the tokens beyond its estimate are settled, so
  // the next call waits for them.
  const settledAfter = (end: "cut" | "cancelled" | "none") =>
    Effect.gen(function*() {
      const { model } = yield* Mock.make({ reply: "ok" })
      const origin = yield* Clock.currentTimeMillis
      const request = { messages: [{ role: "user" as const, content: "hi" }] }
      const estimate = RateLimit.estimateTokens(request)
      const text = "word ".repeat(200)
      const streamedTokens = Tokenizer.countText(text)
      const started: Array<number> = []
      const streaming: LanguageModel.Service = LanguageModel.make({
        ...model,
        stream: () =>
          Stream.concat(
            Stream.fromEffect(Effect.flatMap(Clock.currentTimeMillis, (now) =>
              Effect.sync(() => {
                started.push(now - origin)
                return StreamPart.textDelta(text)
              }))),
            Stream.fail(LlmError.make("mock", new LlmError.Network({ description: "connection reset" })))
          )
      })
      // Room for two estimates and half the streamed text: unsettled, the second starts at once.
      const tpm = 2 * estimate + Math.floor(streamedTokens / 2)
      const limited = yield* RateLimit.make(streaming, { provider: { tpm } })
      const first = limited.stream(request)
      if (end === "cut") {
        const error = yield* Effect.flip(Stream.runDrain(first))
        assert.strictEqual(error.reason._tag, "Network")
      } else if (end === "cancelled") {
        yield* Stream.runDrain(Stream.take(first, 1))
      }
      const fiber = yield* Effect.forkChild(Stream.runDrain(Stream.take(limited.stream(request), 1)))
      yield* TestClock.adjust("2 minutes")
      yield* Fiber.join(fiber)
      return { started, deficit: estimate + streamedTokens + estimate - tpm, tpm }
    }).pipe(Effect.provide(RateLimit.layerStoreMemory))

  it.effect("tpm: a stream cut before its finish part settles its input and the text it streamed", () =>
    Effect.gen(function*() {
      const { deficit, started, tpm } = yield* settledAfter("cut")
      assert.isAbove(deficit, 0)
      assert.strictEqual(started.length, 2)
      assert.closeTo(started[1]!, deficit * 60_000 / tpm, 1)
    }))

  it.effect("tpm: a stream its consumer stopped reading settles what it streamed too", () =>
    Effect.gen(function*() {
      const { deficit, started, tpm } = yield* settledAfter("cancelled")
      assert.closeTo(started[1]!, deficit * 60_000 / tpm, 1)
      // Without a first stream the same call goes at once.
      const alone = yield* settledAfter("none")
      assert.deepStrictEqual(alone.started, [0])
    }))
})
