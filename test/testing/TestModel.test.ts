import { assert, describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Stream } from "effect"
import { TestClock } from "effect/testing"
import * as LanguageModel from "../../src/LanguageModel.ts"
import * as LlmError from "../../src/LlmError.ts"
import * as TestAssertions from "../../src/testing/TestAssertions.ts"
import * as TestModel from "../../src/testing/TestModel.ts"
import * as Message from "../../src/Message.ts"
import * as StreamPart from "../../src/StreamPart.ts"

describe("TestModel", () => {
  it.effect("replies in script order: text, delayed text, fault, function of the request", () =>
    Effect.gen(function*() {
      expect((yield* LanguageModel.generate("capital of France?")).content).toBe("Paris")
      const delayed = yield* Effect.forkChild(LanguageModel.generate("capital of Italy?"))
      yield* TestClock.adjust("1999 millis")
      expect(delayed.pollUnsafe()).toBeUndefined()
      yield* TestClock.adjust("1 millis")
      expect((yield* Fiber.join(delayed)).content).toBe("Rome")
      const error = yield* Effect.flip(LanguageModel.generate("again"))
      expect(error.reason._tag).toBe("RateLimited")
      expect(error.retryAfterMs).toBe(1000)
      expect((yield* LanguageModel.generate("shout this")).content).toBe("SHOUT THIS")
      expect(yield* TestModel.TestModel.use((model) => model.remaining)).toBe(0)
      const calls = yield* TestAssertions.expectCalls(4)
      expect(calls.map((call) => call.messages[0]!.content)).toEqual([
        "capital of France?", "capital of Italy?", "again", "shout this"
      ])
    }).pipe(Effect.provide(TestModel.layer([
      "Paris",
      { reply: "Rome", delay: "2s" },
      { fault: "429:1s" },
      (request) => Message.text(request.messages[0]!).toUpperCase()
    ]))))

  it.effect("usage is counted with the real tokenizer and maxTokens truncates", () =>
    Effect.gen(function*() {
      const response = yield* LanguageModel.generate({ prompt: "hi", maxTokens: 2 })
      expect(response.finishReason).toBe("length")
      expect(response.usage.outputTokens).toBe(2)
    }).pipe(Effect.provide(TestModel.layer(["one two three four five six"]))))

  it.effect("fails clearly when the script runs out, unless `otherwise` is given", () =>
    Effect.gen(function*() {
      yield* LanguageModel.generate("first")
      const error = yield* TestAssertions.expectFailure(LanguageModel.generate("second"), "InvalidRequest")
      expect(error.message).toContain("no step left for call 2 (it had 1 steps)")
      yield* TestModel.TestModel.use((model) => model.push(["more"]))
      expect((yield* LanguageModel.generate("third")).content).toBe("more")
    }).pipe(Effect.provide(TestModel.layer(["only"]))))

  it.effect("otherwise answers once the script is used up", () =>
    Effect.gen(function*() {
      expect((yield* LanguageModel.generate("a")).content).toBe("scripted")
      expect((yield* LanguageModel.generate("echo me")).content).toBe("echo me")
    }).pipe(Effect.provide(TestModel.layer(["scripted"], { otherwise: "echo" }))))

  it.effect("layerObserved: usage in the ledger, asserted with expectUsage", () =>
    Effect.gen(function*() {
      const ok = yield* LanguageModel.generate("hello")
      yield* Effect.ignore(LanguageModel.generate("hello again"))
      yield* TestAssertions.expectUsage({
        calls: 2,
        errors: 1,
        inputTokens: ok.usage.inputTokens,
        outputTokens: ok.usage.outputTokens
      })
      const wrong = yield* Effect.flip(TestAssertions.expectUsage({ calls: 3 }))
      expect(wrong.message).toBe("usage differs: calls expected 3, got 2")
    }).pipe(Effect.provide(TestModel.layerObserved(["world", { fault: "500" }]))))

  it.effect("expectBudgetExceeded checks the reason and the dimension", () =>
    Effect.gen(function*() {
      const refusal = Effect.fail(LlmError.make("mock", new LlmError.BudgetExceeded({
        description: "over",
        dimension: "totalTokens",
        limit: 100,
        consumed: 90,
        reserved: 0,
        requested: 20
      })))
      const reason = yield* TestAssertions.expectBudgetExceeded(refusal, "totalTokens")
      expect(reason.limit).toBe(100)
      const wrong = yield* Effect.flip(TestAssertions.expectBudgetExceeded(refusal, "costUsd"))
      expect(wrong.message).toBe("expected a budget refusal on costUsd, got one on totalTokens")
      const succeeded = yield* Effect.flip(TestAssertions.expectBudgetExceeded(Effect.succeed(1)))
      expect(succeeded.message).toContain("but the call succeeded")
    }))

  it.effect("streams its scripted replies in chunks, from the same script as generate; a step can cut a stream after N chunks", () =>
    Effect.gen(function*() {
      const run = (prompt: string) =>
        Effect.gen(function*() {
          const parts: Array<StreamPart.StreamPart> = []
          const exit = yield* Effect.exit(Stream.runForEach(LanguageModel.stream(prompt), (part) => Effect.sync(() => void parts.push(part))))
          return { parts, exit }
        })
      const first = yield* run("capital of France?")
      assert.deepStrictEqual(first.parts.slice(0, -1), [StreamPart.textDelta("Paris, "), StreamPart.textDelta("France.")])
      const finish = first.parts.at(-1)
      assert.isTrue(finish !== undefined && StreamPart.isFinish(finish) && finish.response.content === "Paris, France.")
      expect((yield* LanguageModel.generate("and Italy?")).content).toBe("Rome")
      const cut = yield* run("tell a story")
      assert.deepStrictEqual(cut.parts, [StreamPart.textDelta("Once "), StreamPart.textDelta("upon ")])
      const error = yield* Effect.flip(cut.exit)
      expect(error.reason._tag).toBe("Network")
      expect(error.isRetryable).toBe(true)
      const failed = yield* run("again")
      assert.deepStrictEqual(failed.parts, [])
      expect((yield* Effect.flip(failed.exit)).reason._tag).toBe("ServerError")
      const past = yield* run("past the script")
      expect((yield* Effect.flip(past.exit)).reason._tag).toBe("InvalidRequest")
      expect(yield* TestModel.TestModel.use((model) => model.remaining)).toBe(0)
      yield* TestAssertions.expectCalls(4) // the call past the script reached no model
    }).pipe(Effect.provide(TestModel.layer([
      "Paris, France.",
      "Rome",
      { reply: "Once upon a time", cutAfter: 2 },
      { fault: "500" }
    ]))))
})
