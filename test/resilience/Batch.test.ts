import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect, Exit, Fiber, Result } from "effect"
import { TestClock } from "effect/testing"
import type { LlmRequest } from "../../src/LlmRequest.ts"
import * as LanguageModel from "../../src/LanguageModel.ts"
import * as LlmError from "../../src/LlmError.ts"
import * as Batch from "../../src/resilience/Batch.ts"
import * as Message from "../../src/Message.ts"

/** Answers after (10 - n) * 100 ms, so later requests finish first; "fail" fails, "die" is a bug. */
const model = (inFlight: { now: number; max: number }): LanguageModel.Service => LanguageModel.make({
  provider: "test",
  defaultModel: "t",
  generate: (request: LlmRequest) => {
    const text = Message.text(request.messages[0]!)
    const n = Number(text.replace(/\D/g, "") || "0")
    return Effect.acquireUseRelease(
      Effect.sync(() => {
        inFlight.now++
        inFlight.max = Math.max(inFlight.max, inFlight.now)
      }),
      () =>
        Effect.andThen(Effect.sleep(`${(10 - n) * 100} millis`), () => {
          if (text.startsWith("fail")) return Effect.fail(LlmError.make("test", new LlmError.InvalidRequest({ description: `bad ${n}` })))
          if (text.startsWith("die")) return Effect.die("bug")
          return Effect.flatMap(Clock.currentTimeMillis, (now) =>
            Effect.succeed({ content: `answer ${n}`, model: "t", provider: "test", usage: { inputTokens: 1, outputTokens: 1, totalTokens: 2 }, finishReason: "stop" as const, latencyMs: now }))
        }),
      () => Effect.sync(() => inFlight.now--)
    )
  }
})

describe("Batch", () => {
  it.effect("keeps the order of the requests, isolates failures and respects the concurrency limit", () =>
    Effect.gen(function*() {
      const inFlight = { now: 0, max: 0 }
      const fiber = yield* Effect.forkChild(
        Batch.generateAll(["q1", "fail2", "q3", "q4", "fail5", "q6"], { concurrency: 2 }).pipe(
          Effect.provideService(LanguageModel.LanguageModel, model(inFlight))
        )
      )
      yield* TestClock.adjust("1 minute")
      const results = yield* Fiber.join(fiber)
      assert.deepStrictEqual(
        results.map((result) => (Result.isSuccess(result) ? result.success.content : result.failure.reason._tag)),
        ["answer 1", "InvalidRequest", "answer 3", "answer 4", "InvalidRequest", "answer 6"]
      )
      assert.strictEqual(inFlight.max, 2)
    }))

  it.effect("generateAllExit keeps even a defect in its own slot", () =>
    Effect.gen(function*() {
      const inFlight = { now: 0, max: 0 }
      const fiber = yield* Effect.forkChild(
        Batch.generateAllExit(["q1", "die2", "q3"]).pipe(Effect.provideService(LanguageModel.LanguageModel, model(inFlight)))
      )
      yield* TestClock.adjust("1 minute")
      const exits = yield* Fiber.join(fiber)
      assert.deepStrictEqual(exits.map(Exit.isSuccess), [true, false, true])
      assert.strictEqual(inFlight.max, 3)
    }))
})
