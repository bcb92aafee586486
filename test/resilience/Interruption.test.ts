import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import * as BudgetLanguageModel from "../../src/budget/BudgetLanguageModel.ts"
import * as BudgetTracker from "../../src/budget/BudgetTracker.ts"
import * as Estimate from "../../src/budget/Estimate.ts"
import * as OpenAiLanguageModel from "../../src/providers/openai/OpenAiLanguageModel.ts"
import * as Concurrency from "../../src/resilience/Concurrency.ts"
import * as Retry from "../../src/resilience/Retry.ts"
import * as FakeHttpServer from "../providers/FakeHttpServer.ts"

describe("Interruption", () => {
  // The request reached the server, which may bill it: the abandoned attempt is charged by the
  // budget's chargeAbandoned policy (issue 13), and nothing stays reserved.
  const cases = [
    { policy: "reserved", charged: (input: number) => input + 4096 },
    { policy: "none", charged: (_input: number) => 0 }
  ] as const
  it.live.each(cases)("interrupting a call mid-request closes its socket, settles the reservation and charges it by chargeAbandoned: $policy", ({ charged, policy }) =>
    Effect.gen(function*() {
      const fake = yield* FakeHttpServer.start(() => ({ hang: true }))
      const adapter = yield* OpenAiLanguageModel.make({ provider: "openai", baseUrl: `${fake.origin}/v1`, defaultModel: "gpt-4o-mini" })
      const tracker = yield* BudgetTracker.make({ totalTokens: 100_000 }, { onUnknownPrice: "allow", chargeAbandoned: policy })
      const limits = yield* Concurrency.makeLimits({ global: 4 })
      // The whole chain: budget -> retry (+ timeouts) -> concurrency -> OpenAI adapter.
      const model = BudgetLanguageModel.wrap(tracker)(
        Retry.make(Concurrency.make(adapter, limits), { ...Retry.defaultPolicy, attemptTimeoutMs: 60_000 })
      )
      const request = { messages: [{ role: "user" as const, content: "a long answer please" }] }
      const call = yield* Effect.forkChild(model.generate(request))
      yield* fake.nextRequest
      const held = yield* tracker.snapshot
      assert.strictEqual(held.openReservations, 1)
      assert.isAbove(held.reserved.totalTokens, 0)

      yield* Fiber.interrupt(call)
      yield* fake.abandoned.pipe(Effect.timeout("10 seconds"))
      const after = yield* tracker.snapshot
      assert.strictEqual(after.openReservations, 0)
      assert.strictEqual(after.reserved.totalTokens, 0)
      assert.strictEqual(after.consumed.totalTokens, charged(Estimate.exact(request, "openai")))
      assert.strictEqual(fake.requests.length, 1)
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))
})
