import { assert, describe, it } from "@effect/vitest"
import { type Duration, Effect, Fiber, Layer } from "effect"
import { TestClock } from "effect/testing"
import * as LanguageModel from "../../src/LanguageModel.ts"
import * as ProviderRegistry from "../../src/ProviderRegistry.ts"
import * as Mock from "../../src/providers/mock/MockLanguageModel.ts"
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
