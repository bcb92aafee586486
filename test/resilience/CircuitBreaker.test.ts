import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect, Layer } from "effect"
import { TestClock } from "effect/testing"
import * as LanguageModel from "../../src/LanguageModel.ts"
import * as Mock from "../../src/providers/mock/MockLanguageModel.ts"
import * as MockFault from "../../src/providers/mock/MockFault.ts"
import * as CircuitBreaker from "../../src/resilience/CircuitBreaker.ts"

const faults = (script: string) => {
  const parsed = MockFault.parseScript(script)
  if (parsed._tag === "Failure") throw new Error(parsed.failure)
  return parsed.success
}

const guarded = (script: string) =>
  CircuitBreaker.layer({ failures: 3, cooldownMs: 10_000 }).pipe(
    Layer.provideMerge(Mock.layer({ faults: faults(script) })),
    Layer.provideMerge(CircuitBreaker.layerStoreMemory)
  )

const callCount = Effect.map(Mock.MockLanguageModel.use((control) => control.calls), (calls) => calls.length)
const attempt = Effect.flip(LanguageModel.generate("hello"))

describe("CircuitBreaker", () => {
  it.effect("opens after N consecutive failures and then fails fast with CircuitOpen (untilMs)", () =>
    Effect.gen(function*() {
      for (let index = 0; index < 3; index++) assert.strictEqual((yield* attempt).reason._tag, "ServerError")
      assert.strictEqual(yield* CircuitBreaker.state({ provider: "mock", model: "mock-1" }), "Open")
      const now = yield* Clock.currentTimeMillis
      const rejected = yield* attempt
      assert.strictEqual(rejected.reason._tag, "CircuitOpen")
      if (rejected.reason._tag === "CircuitOpen") assert.strictEqual(rejected.reason.untilMs, now + 10_000)
      assert.isFalse(rejected.isRetryable)
      assert.strictEqual(yield* callCount, 3)
    }).pipe(Effect.provide(guarded("500,500,500"))))

  it.effect("half-open after the cool-down: a successful trial closes the circuit", () =>
    Effect.gen(function*() {
      for (let index = 0; index < 3; index++) yield* attempt
      yield* TestClock.adjust("9999 millis")
      assert.strictEqual((yield* attempt).reason._tag, "CircuitOpen")
      yield* TestClock.adjust("1 millis")
      const trial = yield* LanguageModel.generate("trial")
      assert.strictEqual(trial.provider, "mock")
      assert.strictEqual(yield* CircuitBreaker.state({ provider: "mock", model: "mock-1" }), "Closed")
      yield* LanguageModel.generate("after")
      assert.strictEqual(yield* callCount, 5)
    }).pipe(Effect.provide(guarded("500,500,500"))))

  it.effect("half-open: a failed trial opens the circuit again", () =>
    Effect.gen(function*() {
      for (let index = 0; index < 3; index++) yield* attempt
      yield* TestClock.adjust("10 seconds")
      assert.strictEqual((yield* attempt).reason._tag, "ServerError")
      assert.strictEqual(yield* CircuitBreaker.state({ provider: "mock", model: "mock-1" }), "Open")
      assert.strictEqual((yield* attempt).reason._tag, "CircuitOpen")
      assert.strictEqual(yield* callCount, 4)
    }).pipe(Effect.provide(guarded("500,500,500,500"))))

  it.effect("a success resets the count; requests refused on their merits (400, auth) never open it", () =>
    Effect.gen(function*() {
      for (let index = 0; index < 7; index++) yield* Effect.ignore(LanguageModel.generate("hello"))
      assert.strictEqual(yield* CircuitBreaker.state({ provider: "mock", model: "mock-1" }), "Closed")
      assert.strictEqual(yield* callCount, 7)
    }).pipe(Effect.provide(guarded("500,500,ok,500,400,auth,500"))))
})
