// Rate limits and circuit breakers shared through Redis (store.redis): two stacks built apart,
// each with its own connection (as two replicas are), against one real redis-server.
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as LanguageModel from "../../src/LanguageModel.ts"
import * as ProviderRegistry from "../../src/ProviderRegistry.ts"
import * as Mock from "../../src/providers/mock/MockLanguageModel.ts"
import * as Stack from "../../src/Stack.ts"
import { redisForFile } from "../support/redis.ts"

const { enabled, server } = redisForFile("test/store/RedisResilience.test.ts")

const registry = ProviderRegistry.layer([Mock.provider])

// One replica: its own stack (its own Redis connections) on the shared prefix.
const replica = (prefix: string, resilience: Stack.StackConfig["resilience"], script = "") =>
  Effect.map(
    Layer.build(Stack.layer({
      provider: { provider: "mock", options: { reply: "echo", faults: script === "" ? [] : script.split(",") } },
      store: { redis: { url: server().url, prefix } },
      resilience
    }).pipe(Layer.provide(registry))),
    (context) => (effect: Effect.Effect<unknown, unknown, LanguageModel.LanguageModel>) => Effect.provideContext(effect, context)
  )

describe.runIf(enabled)("rate limits and circuit breakers through Redis", () => {
  it.live("one replica's open circuit is open for the other", () =>
    Effect.gen(function*() {
      const settings = { retry: { maxAttempts: 1 }, circuitBreaker: { failures: 3, cooldown: "1m" } }
      const a = yield* replica("{cb1}:", settings, "500,500,500")
      const b = yield* replica("{cb1}:", settings)
      for (let index = 0; index < 3; index++) {
        const failed = yield* a(Effect.flip(LanguageModel.generate("x")))
        assert.strictEqual((failed as { reason: { _tag: string } }).reason._tag, "ServerError")
      }
      // Replica b has not failed once: the circuit it sees is the shared one.
      const refused = yield* b(Effect.flip(LanguageModel.generate("y")))
      assert.strictEqual((refused as { reason: { _tag: string } }).reason._tag, "CircuitOpen")
    }).pipe(Effect.scoped))

  it.live("an rpm limit is one limit across replicas", () =>
    Effect.gen(function*() {
      // rpm 2 shared: the third request in the minute must wait ~30s, past its 2s deadline, so it
      // is refused at once with RateLimited (nothing sent), whichever replica makes it.
      const settings = { retry: { maxAttempts: 1 }, limits: { rpm: 2 }, timeoutMs: 2_000 }
      const a = yield* replica("{rl1}:", settings)
      const b = yield* replica("{rl1}:", settings)
      yield* a(LanguageModel.generate("one"))
      yield* b(LanguageModel.generate("two"))
      const third = yield* a(Effect.flip(LanguageModel.generate("three")))
      assert.strictEqual((third as { reason: { _tag: string } }).reason._tag, "RateLimited")
      const fourth = yield* b(Effect.flip(LanguageModel.generate("four")))
      assert.strictEqual((fourth as { reason: { _tag: string } }).reason._tag, "RateLimited")
    }).pipe(Effect.scoped))
})
