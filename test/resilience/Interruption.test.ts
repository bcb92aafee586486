import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import * as BudgetLanguageModel from "../../src/budget/BudgetLanguageModel.ts"
import * as BudgetTracker from "../../src/budget/BudgetTracker.ts"
import * as OpenAiLanguageModel from "../../src/providers/openai/OpenAiLanguageModel.ts"
import * as Concurrency from "../../src/resilience/Concurrency.ts"
import * as Retry from "../../src/resilience/Retry.ts"
import * as FakeHttpServer from "../providers/FakeHttpServer.ts"

describe("Interruption", () => {
  it.live("interrupting a call mid-request closes its socket and releases the budget reservation", () =>
    Effect.gen(function*() {
      const fake = yield* FakeHttpServer.start(() => ({ hang: true }))
      const adapter = yield* OpenAiLanguageModel.make({ provider: "openai", baseUrl: `${fake.origin}/v1`, defaultModel: "gpt-4o-mini" })
      const tracker = yield* BudgetTracker.make({ totalTokens: 100_000 }, { onUnknownPrice: "allow" })
      const limits = yield* Concurrency.makeLimits({ global: 4 })
      // The whole chain: budget -> retry (+ timeouts) -> concurrency -> OpenAI adapter.
      const model = BudgetLanguageModel.wrap(tracker)(
        Retry.make(Concurrency.make(adapter, limits), { ...Retry.defaultPolicy, attemptTimeoutMs: 60_000 })
      )
      const call = yield* Effect.forkChild(model.generate({ messages: [{ role: "user", content: "a long answer please" }] }))
      yield* fake.nextRequest
      const held = yield* tracker.snapshot
      assert.strictEqual(held.openReservations, 1)
      assert.isAbove(held.reserved.totalTokens, 0)

      yield* Fiber.interrupt(call)
      yield* fake.abandoned.pipe(Effect.timeout("10 seconds"))
      const after = yield* tracker.snapshot
      assert.strictEqual(after.openReservations, 0)
      assert.strictEqual(after.reserved.totalTokens, 0)
      assert.strictEqual(after.consumed.totalTokens, 0)
      assert.strictEqual(fake.requests.length, 1)
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))
})
