import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect, Fiber, Layer, Logger, Metric, References } from "effect"
import { TestClock } from "effect/testing"
import * as CallContext from "../../src/CallContext.ts"
import * as LanguageModel from "../../src/LanguageModel.ts"
import * as Mock from "../../src/providers/mock/MockLanguageModel.ts"
import * as MockFault from "../../src/providers/mock/MockFault.ts"
import * as Retry from "../../src/resilience/Retry.ts"

const faults = (script: string) => {
  const parsed = MockFault.parseScript(script)
  if (parsed._tag === "Failure") throw new Error(parsed.failure)
  return parsed.success
}

/** The mock (with a fault script) wrapped by the retry layer; the mock's control stays visible. */
const stack = (script: string, policy: Retry.Policy = { ...Retry.defaultPolicy, jitter: false }) =>
  Layer.provideMerge(Retry.layer(policy), Mock.layer({ faults: faults(script) }))

const callCount = Effect.map(Mock.MockLanguageModel.use((control) => control.calls), (calls) => calls.length)

const SECRET_PROMPT = "my secret prompt text"

describe("Retry", () => {
  it.effect("429 with Retry-After: the wait is exactly the provider's hint, then success", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.forkChild(LanguageModel.generate("hello"))
      yield* TestClock.adjust("1999 millis")
      assert.strictEqual(yield* callCount, 1)
      yield* TestClock.adjust("1 millis")
      const response = yield* Fiber.join(fiber)
      assert.strictEqual(yield* callCount, 2)
      assert.strictEqual(response.provider, "mock")
    }).pipe(Effect.provide(stack("429:2s", Retry.defaultPolicy))))

  it.effect("a Retry-After longer than maxDelay is never retried early: the call fails at once with RateLimited and the wait", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(LanguageModel.generate("hello"))
      assert.strictEqual(error.reason._tag, "RateLimited")
      assert.strictEqual(error.retryAfterMs, 3_600_000)
      assert.include(error.message, "retry after 1h")
      assert.include(error.message, "retry.maxDelay 30s")
      assert.strictEqual(yield* Clock.currentTimeMillis, 0)
      yield* TestClock.adjust("1 hour")
      assert.strictEqual(yield* callCount, 1)
    }).pipe(Effect.provide(stack("429:3600s,ok,ok", Retry.defaultPolicy))))

  it.effect("a later attempt's long Retry-After also ends the call, without waiting", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.forkChild(Effect.flip(LanguageModel.generate("hello")))
      yield* TestClock.adjust("500 millis")
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(error.retryAfterMs, 120_000)
      assert.strictEqual(yield* callCount, 2)
    }).pipe(Effect.provide(stack("500,429:2m,ok"))))

  it.effect("a Retry-After within maxDelay is waited out in full, never less", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.forkChild(LanguageModel.generate("hello"))
      yield* TestClock.adjust("29999 millis")
      assert.strictEqual(yield* callCount, 1)
      yield* TestClock.adjust("1 millis")
      yield* Fiber.join(fiber)
      assert.strictEqual(yield* callCount, 2)
    }).pipe(Effect.provide(stack("429:30s,ok", Retry.defaultPolicy))))

  it.effect("500 twice then success: three attempts, with exponential waits of 500 ms then 1 s", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.forkChild(LanguageModel.generate("hello"))
      yield* TestClock.adjust("499 millis")
      assert.strictEqual(yield* callCount, 1)
      yield* TestClock.adjust("1 millis")
      assert.strictEqual(yield* callCount, 2)
      yield* TestClock.adjust("999 millis")
      assert.strictEqual(yield* callCount, 2)
      yield* TestClock.adjust("1 millis")
      yield* Fiber.join(fiber)
      assert.strictEqual(yield* callCount, 3)
      const counted = yield* Metric.value(
        Metric.withAttributes(Retry.retriesTotal, { provider: "mock", reason: "ServerError" })
      )
      assert.strictEqual(counted.count, 2)
    }).pipe(Effect.provide(stack("500,502")), Effect.provideService(Metric.MetricRegistry, new Map())))

  it.effect("3 attempts means 3 in all: a third failure is returned", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.forkChild(Effect.flip(LanguageModel.generate("hello")))
      yield* TestClock.adjust("1 minute")
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(error.reason._tag, "ServerError")
      assert.strictEqual(error.status, 504)
      assert.strictEqual(yield* callCount, 3)
    }).pipe(Effect.provide(stack("500,502,504,ok"))))

  it.effect.each(["400", "auth", "malformed"])("%s is never retried", (fault) =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(LanguageModel.generate("hello"))
      assert.isFalse(error.isRetryable)
      assert.strictEqual(yield* callCount, 1)
    }).pipe(Effect.provide(stack(fault))))

  it.effect("network and 503 (Unavailable) are retried", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.forkChild(LanguageModel.generate("hello"))
      yield* TestClock.adjust("2 seconds")
      yield* Fiber.join(fiber)
      assert.strictEqual(yield* callCount, 3)
    }).pipe(Effect.provide(stack("network,503"))))

  it.effect("an attempt that hangs times out (scope attempt) and the retry succeeds", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.forkChild(LanguageModel.generate("hello"))
      yield* TestClock.adjust("1 second")
      assert.strictEqual(yield* callCount, 1)
      yield* TestClock.adjust("500 millis")
      const response = yield* Fiber.join(fiber)
      assert.strictEqual(response.content.length > 0, true)
      assert.strictEqual(yield* callCount, 2)
    }).pipe(Effect.provide(stack("hang", { ...Retry.defaultPolicy, jitter: false, attemptTimeoutMs: 1_000 }))))

  it.effect("the call timeout bounds all attempts and reports the attempts made and the time spent", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.forkChild(Effect.flip(LanguageModel.generate({ prompt: "hello", timeoutMs: 2_200 })))
      yield* TestClock.adjust("1 minute")
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(error.reason._tag, "Timeout")
      if (error.reason._tag !== "Timeout") return
      assert.strictEqual(error.reason.scope, "call")
      assert.strictEqual(error.reason.attempts, 2)
      assert.strictEqual(error.reason.elapsedMs, 2_200)
      assert.isFalse(error.isRetryable)
      assert.include(error.message, "2200ms")
    }).pipe(Effect.provide(stack("hang,hang,hang", { ...Retry.defaultPolicy, jitter: false, attemptTimeoutMs: 1_000 }))))

  it.effect("never waits past the deadline: fails at once with the last error when the wait would pass it", () =>
    Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const error = yield* Effect.flip(
        LanguageModel.generate("hello").pipe(Effect.provideService(CallContext.Deadline, now + 1_000))
      )
      assert.strictEqual(error.reason._tag, "RateLimited")
      assert.strictEqual(error.retryAfterMs, 5_000)
      assert.strictEqual(yield* Clock.currentTimeMillis, now)
      assert.strictEqual(yield* callCount, 1)
    }).pipe(Effect.provide(stack("429:5s"))))

  it.effect("maxDelay caps the backoff", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.forkChild(LanguageModel.generate("hello"))
      yield* TestClock.adjust("500 millis")
      assert.strictEqual(yield* callCount, 2)
      yield* TestClock.adjust("699 millis")
      assert.strictEqual(yield* callCount, 2)
      yield* TestClock.adjust("1 millis")
      yield* Fiber.join(fiber)
      assert.strictEqual(yield* callCount, 3)
    }).pipe(Effect.provide(stack("500,500,ok", { ...Retry.defaultPolicy, jitter: false, maxDelayMs: 700 }))))

  it.effect("a per-call policy overrides the layer's for that call only", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(LanguageModel.generate("hello").pipe(Retry.withPolicy({ maxAttempts: 1 })))
      assert.strictEqual(error.reason._tag, "ServerError")
      assert.strictEqual(yield* callCount, 1)
      const fiber = yield* Effect.forkChild(LanguageModel.generate("hello"))
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(fiber)
      assert.strictEqual(yield* callCount, 3)
    }).pipe(Effect.provide(stack("500,500"))))

  it.effect("each retry is logged with attempt, reason and delay, never the prompt", () =>
    Effect.gen(function*() {
      const lines: Array<string> = []
      const capture = Logger.make<unknown, void>(({ fiber, logLevel, message }) => {
        const annotations = fiber.getRef(References.CurrentLogAnnotations)
        lines.push(JSON.stringify({ logLevel, message, annotations }))
      })
      const fiber = yield* Effect.forkChild(
        LanguageModel.generate(SECRET_PROMPT).pipe(Effect.provide(Logger.layer([capture])))
      )
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(fiber)
      assert.strictEqual(lines.length, 1)
      const line = JSON.parse(lines[0]!)
      assert.strictEqual(line.logLevel, "Warn")
      assert.deepInclude(line.annotations, { provider: "mock", attempt: 1, reason: "RateLimited", delayMs: 500 })
      assert.notInclude(lines[0]!, SECRET_PROMPT)
    }).pipe(Effect.provide(stack("429"))))

  it("resolve: defaults, then the global section, then the provider's overrides, then timeouts", () => {
    const config: Retry.RetryConfig = {
      maxAttempts: 4,
      baseDelay: "250ms",
      providers: { openai: { maxAttempts: 6, maxDelay: "10s" } }
    }
    assert.deepStrictEqual(Retry.resolve(undefined, "mock"), Retry.defaultPolicy)
    assert.strictEqual(Retry.resolve(config, "mock").maxAttempts, 4)
    const openai = Retry.resolve(config, "openai", { attemptTimeoutMs: 5_000 })
    assert.deepStrictEqual(
      { ...openai },
      { maxAttempts: 6, baseDelayMs: 250, maxDelayMs: 10_000, factor: 2, jitter: true, attemptTimeoutMs: 5_000 }
    )
  })
})
