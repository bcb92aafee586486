import { assert, describe, it } from "@effect/vitest"
import { Clock, type Duration, Effect, Fiber, Layer } from "effect"
import { CircuitBreaker as Breaker, RateLimiter } from "effect/persistence"
import { TestClock } from "effect/testing"
import * as LanguageModel from "../../src/LanguageModel.ts"
import * as ProviderRegistry from "../../src/ProviderRegistry.ts"
import * as Mock from "../../src/providers/mock/MockLanguageModel.ts"
import * as CircuitBreaker from "../../src/resilience/CircuitBreaker.ts"
import * as Resilience from "../../src/resilience/Resilience.ts"
import * as Stack from "../../src/Stack.ts"

/** The mock registered under a second name, so that a chain can hold two distinct providers. */
const backup: ProviderRegistry.Provider = {
  ...Mock.provider,
  name: "backup",
  make: (config) => Effect.map(Mock.provider.make(config), (model) => ({ ...model, provider: "backup" }))
}
const registry = ProviderRegistry.layer([Mock.provider, backup])

const generateWithin = (virtual: Duration.Input) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.forkChild(Effect.result(LanguageModel.generate("hello")))
    yield* TestClock.adjust(virtual)
    return yield* Fiber.join(fiber)
  })

describe("Resilience (config -> stack)", () => {
  it.effect("Stack: 3 attempts by default, so two scripted 500s are absorbed", () =>
    Effect.gen(function*() {
      const result = yield* generateWithin("5 seconds")
      assert.strictEqual(result._tag, "Success")
    }).pipe(Effect.provide(
      Stack.layer({ provider: { provider: "mock", options: { faults: "500,500" } }, observability: { enabled: false } })
        .pipe(Layer.provide(registry))
    )))

  it.effect("Stack: retry.maxRetries 0 returns the first failure", () =>
    Effect.gen(function*() {
      const result = yield* generateWithin("5 seconds")
      assert.strictEqual(result._tag === "Failure" ? result.failure.reason._tag : "none", "ServerError")
    }).pipe(Effect.provide(
      Stack.layer({
        provider: { provider: "mock", options: { faults: "500" } },
        observability: { enabled: false },
        resilience: { retry: { maxRetries: 0 } }
      }).pipe(Layer.provide(registry))
    )))

  it.effect("Stack: a fallback chain serves from the next provider after the first one's retries", () =>
    Effect.gen(function*() {
      const result = yield* generateWithin("5 seconds")
      assert.strictEqual(result._tag, "Success")
      if (result._tag !== "Success") return
      assert.deepStrictEqual(result.success.metadata?.fallback, {
        candidate: "backup/mock-9",
        index: 1,
        failed: [{ candidate: "mock/mock-1", reason: "Unavailable" }]
      })
      assert.strictEqual(result.success.model, "mock-9")
    }).pipe(Effect.provide(
      Stack.layer({
        provider: { provider: "mock", options: { faults: "503,503" } },
        observability: { enabled: false },
        resilience: { retry: { maxAttempts: 2 }, fallback: [{ provider: "backup", model: "mock-9" }] }
      }).pipe(Layer.provide(registry))
    )))

  it.effect("a fallback to the same provider (another model or base URL) has its own circuit: 11 requests over 8 calls, not 16", () =>
    Effect.gen(function*() {
      const sent: Array<string> = []
      const counting: ProviderRegistry.Provider = {
        ...Mock.provider,
        make: (config) =>
          Effect.map(Mock.provider.make(config), (model) =>
            LanguageModel.wrap(model, {
              generate: (request, next) => Effect.andThen(Effect.sync(() => sent.push(request.model ?? model.defaultModel)), next(request)),
              stream: "unchanged"
            }))
      }
      const always500 = Array.from({ length: 8 }, () => "500").join(",")
      const chain = (fallback: ProviderRegistry.CreateOptions) =>
        Stack.layer({
          provider: { provider: "mock", model: "mock-a", baseUrl: "http://gw-a.example/v1", options: { faults: always500 } },
          observability: { enabled: false },
          resilience: { retry: { maxRetries: 0 }, circuitBreaker: { failures: 3 }, fallback: [fallback] }
        }).pipe(Layer.provide(ProviderRegistry.layer([counting])))
      const eightCalls = Effect.gen(function*() {
        for (let call = 0; call < 8; call++) assert.strictEqual((yield* LanguageModel.generate(`call ${call}`)).model, "mock-b")
      })
      // Another model at the same base URL.
      yield* eightCalls.pipe(Effect.provide(chain({ provider: "mock", model: "mock-b", baseUrl: "http://gw-a.example/v1" })))
      assert.strictEqual(sent.length, 11)
      assert.strictEqual(sent.filter((model) => model === "mock-a").length, 3)
      // The same model name at another base URL (its own backend).
      sent.length = 0
      yield* eightCalls.pipe(Effect.provide(chain({ provider: "mock", model: "mock-b", baseUrl: "http://gw-b.example/v1" })))
      assert.strictEqual(sent.length, 11)
    }))

  it.effect("CircuitBreaker.keyOf: provider, base URL (credentials redacted) and model", () =>
    Effect.sync(() => {
      assert.strictEqual(
        CircuitBreaker.keyOf({ provider: "openai-compatible", model: "llama3.2", baseUrl: "http://u:pw@h:1/v1?key=abc" }),
        "llm-connect:openai-compatible|http://u:<redacted>@h:1/v1?key=<redacted>|llama3.2"
      )
      assert.strictEqual(CircuitBreaker.keyOf({ provider: "openai", model: "gpt-4o" }), "llm-connect:openai||gpt-4o")
    }))

  it.effect("an invalid attemptTimeout fails the layer with Configuration", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        Effect.scoped(Layer.build(Resilience.layer({ provider: "mock" }, { attemptTimeout: "soon" })))
      )
      assert.strictEqual(error.reason._tag, "Configuration")
      assert.include(error.message, "attemptTimeout")
    }).pipe(Effect.provide(registry)))

  it("limits: global and per-provider concurrency, rates with per-provider overrides and per-model rates", () => {
    const limits: Resilience.LimitsConfig = {
      concurrency: 16,
      providerConcurrency: 4,
      rpm: 500,
      providers: { openai: { concurrency: 8, tpm: 90_000 } },
      models: { "gpt-4o": { rpm: 50 } }
    }
    assert.deepStrictEqual(Resilience.concurrencySettings(limits), { global: 16, perProvider: 4, providers: { openai: 8 } })
    assert.deepStrictEqual(Resilience.rateSettings(limits, "openai"), {
      provider: { rpm: 500, tpm: 90_000 },
      models: { "gpt-4o": { rpm: 50 } }
    })
    assert.deepStrictEqual(Resilience.rateSettings({ concurrency: 2 }, "mock"), {})
  })
})

/** Memory stores that count what the stack asks of them, to be provided from outside. */
const countingStores = Effect.gen(function*() {
  const counts = { tokenBucket: 0, admit: 0, record: 0 }
  const rates = yield* Effect.provide(Effect.gen(function*() {
    return yield* RateLimiter.RateLimiterStore
  }), RateLimiter.layerStoreMemory)
  const circuits = yield* Effect.provide(Effect.gen(function*() {
    return yield* Breaker.CircuitBreakerStore
  }), Breaker.layerStoreMemory())
  const layer = Layer.mergeAll(
    Layer.succeed(RateLimiter.RateLimiterStore, {
      ...rates,
      tokenBucket: (options) => Effect.andThen(Effect.sync(() => counts.tokenBucket++), rates.tokenBucket(options))
    }),
    Layer.succeed(Breaker.CircuitBreakerStore, {
      ...circuits,
      admit: (key) => Effect.andThen(Effect.sync(() => counts.admit++), circuits.admit(key)),
      record: (options) => Effect.andThen(Effect.sync(() => counts.record++), circuits.record(options))
    })
  )
  return { counts, layer }
})

describe("Resilience stores (rate-limit buckets, circuits)", () => {
  it.effect("a stack keeps its buckets and circuits in the stores provided from outside", () =>
    Effect.gen(function*() {
      const { counts, layer } = yield* countingStores
      const model = Stack.layer({
        provider: { provider: "mock" },
        observability: { enabled: false },
        resilience: { limits: { rpm: 100 }, circuitBreaker: {} }
      }).pipe(Layer.provide(registry), Layer.provide(layer))
      yield* Effect.gen(function*() {
        for (let call = 0; call < 3; call++) yield* LanguageModel.generate(`call ${call}`)
      }).pipe(Effect.provide(model))
      assert.deepStrictEqual(counts, { tokenBucket: 3, admit: 3, record: 3 })
    }))

  it.effect("without stores in context, a stack limits and breaks in memory as before", () =>
    Effect.gen(function*() {
      const sent: Array<number> = []
      const fiber = yield* Effect.forkChild(Effect.forEach(
        ["a", "b"],
        (prompt) => Effect.andThen(LanguageModel.generate(prompt), Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.sync(() => sent.push(now)))),
        { concurrency: "unbounded" }
      ))
      yield* TestClock.adjust("2 minutes")
      yield* Fiber.join(fiber)
      assert.deepStrictEqual(sent.sort((a, b) => a - b), [0, 60_000])
    }).pipe(Effect.provide(
      Stack.layer({
        provider: { provider: "mock" },
        observability: { enabled: false },
        resilience: { limits: { rpm: 1 }, circuitBreaker: {} }
      }).pipe(Layer.provide(registry))
    )))
})
