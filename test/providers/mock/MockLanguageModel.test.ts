import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Result } from "effect"
import { TestClock } from "effect/testing"
import * as LanguageModel from "../../../src/LanguageModel.ts"
import * as LlmError from "../../../src/LlmError.ts"
import * as MockFault from "../../../src/providers/mock/MockFault.ts"
import * as Mock from "../../../src/providers/mock/MockLanguageModel.ts"
import * as Tokenizer from "../../../src/Tokenizer.ts"

const faults = (script: string) => Result.getOrThrow(MockFault.parseScript(script))

describe("MockLanguageModel", () => {
  it.effect("answers deterministically with usage counted by the tokenizer", () =>
    Effect.gen(function*() {
      const first = yield* LanguageModel.generate("Name three rivers")
      const second = yield* LanguageModel.generate("Name three rivers")
      assert.strictEqual(first.content, second.content)
      assert.include(first.content, "Name three rivers")
      assert.strictEqual(first.provider, "mock")
      assert.strictEqual(first.model, "mock-1")
      assert.strictEqual(first.finishReason, "stop")
      assert.strictEqual(
        first.usage.inputTokens,
        Tokenizer.countRequest({ messages: [{ role: "user", content: "Name three rivers" }] })
      )
      assert.strictEqual(first.usage.outputTokens, Tokenizer.countText(first.content))
      assert.strictEqual(first.usage.totalTokens, first.usage.inputTokens + first.usage.outputTokens)
      assert.isUndefined(first.usage.estimated)
      assert.notStrictEqual(first.requestId, second.requestId)
    }).pipe(Effect.provide(Mock.layer())))

  it.effect("echo, fixed text and a function of the request", () =>
    Effect.gen(function*() {
      const echo = yield* LanguageModel.generate("say this").pipe(Effect.provide(Mock.layer({ reply: "echo" })))
      assert.strictEqual(echo.content, "say this")
      const fixed = yield* LanguageModel.generate("x").pipe(Effect.provide(Mock.layer({ reply: "fixed" })))
      assert.strictEqual(fixed.content, "fixed")
      const computed = yield* LanguageModel.generate({ prompt: "abc", model: "m2" }).pipe(
        Effect.provide(Mock.layer({ reply: (request) => `${request.model}:${request.messages.length}` }))
      )
      assert.strictEqual(computed.content, "m2:1")
      assert.strictEqual(computed.model, "m2")
    }))

  it.effect("maxTokens truncates the reply and reports finishReason length", () =>
    Effect.gen(function*() {
      const response = yield* LanguageModel.generate({ prompt: "x", maxTokens: 3 })
      assert.strictEqual(response.usage.outputTokens, 3)
      assert.strictEqual(response.finishReason, "length")
    }).pipe(Effect.provide(Mock.layer({ reply: "one two three four five six seven" }))))

  it.effect("a huge echoed reply is cut at maxTokens without encoding it whole", () =>
    Effect.gen(function*() {
      // One megabyte of whitespace, then one of letters: a single BPE pre-token each, which
      // took minutes to encode whole (BPE is quadratic in a pre-token's length).
      const prompt = " ".repeat(1_000_000) + "x".repeat(1_000_000)
      const response = yield* LanguageModel.generate({ prompt, maxTokens: 50 })
      assert.strictEqual(response.finishReason, "length")
      assert.isTrue(prompt.startsWith(response.content))
      assert.isAtMost(response.usage.outputTokens, 50)
      // The input, past the exact limit, is counted as an upper bound (a token a byte past it).
      assert.strictEqual(response.usage.inputTokens, Tokenizer.countRequest({ messages: [{ role: "user", content: prompt }] }))
    }).pipe(Effect.provide(Mock.layer({ reply: "echo" }))))

  it.effect("a request of many long messages is counted with one exact allowance, as countRequest does", () =>
    Effect.gen(function*() {
      const long = "y".repeat(Tokenizer.EXACT_LIMIT_BYTES / 2)
      const request = { messages: [1, 2, 3, 4].map(() => ({ role: "user" as const, content: long })) }
      const response = yield* LanguageModel.generate(request)
      assert.strictEqual(response.usage.inputTokens, Tokenizer.countRequest(request))
    }).pipe(Effect.provide(Mock.layer({ reply: "ok" }))))

  it.effect("stop sequences cut the reply", () =>
    Effect.gen(function*() {
      const response = yield* LanguageModel.generate({ prompt: "x", stop: ["END"] })
      assert.strictEqual(response.content, "alpha ")
    }).pipe(Effect.provide(Mock.layer({ reply: "alpha END beta" }))))

  it.effect("latency runs on the Clock, so TestClock drives it", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.forkChild(LanguageModel.generate("x"))
      yield* TestClock.adjust("999 millis")
      assert.isUndefined(fiber.pollUnsafe())
      yield* TestClock.adjust("1 millis")
      const response = yield* Fiber.join(fiber)
      assert.strictEqual(response.latencyMs, 1000)
    }).pipe(Effect.provide(Mock.layer({ latency: "1 second" }))))

  it.effect("the fault script fails the next calls in order, then recovers", () =>
    Effect.gen(function*() {
      const control = yield* Mock.MockLanguageModel
      const reasons: Array<string> = []
      for (let i = 0; i < 8; i++) {
        const result = yield* Effect.result(LanguageModel.generate("x"))
        reasons.push(Result.isSuccess(result) ? "ok" : result.failure.reason._tag)
      }
      assert.deepStrictEqual(reasons, [
        "RateLimited",
        "ServerError",
        "Unavailable",
        "Timeout",
        "ResponseMalformed",
        "Network",
        "ok",
        "ok"
      ])
      assert.strictEqual((yield* control.calls).length, 8)
      assert.deepStrictEqual(yield* control.pendingFaults, [])
    }).pipe(Effect.provide(Mock.layer({ faults: faults("429:2s,500,503,timeout,malformed,network,ok") }))))

  it.effect("scripted errors carry their details", () =>
    Effect.gen(function*() {
      const rateLimited = yield* Effect.flip(LanguageModel.generate("x"))
      assert.strictEqual(rateLimited.retryAfterMs, 2000)
      assert.strictEqual(rateLimited.status, 429)
      assert.isTrue(rateLimited.isRetryable)
      const server = yield* Effect.flip(LanguageModel.generate("x"))
      assert.strictEqual(server.reason._tag === "ServerError" && server.reason.status, 502)
      const auth = yield* Effect.flip(LanguageModel.generate("x"))
      assert.isFalse(auth.isRetryable)
      assert.instanceOf(auth.reason, LlmError.Authentication)
    }).pipe(Effect.provide(Mock.layer({ faults: faults("429:2s,502,auth") }))))

  it.effect("hang never answers until interrupted", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.forkChild(LanguageModel.generate("x"))
      yield* TestClock.adjust("1 hour")
      assert.isUndefined(fiber.pollUnsafe())
      yield* Fiber.interrupt(fiber)
    }).pipe(Effect.provide(Mock.layer({ faults: faults("hang") }))))

  it.effect("pushFaults extends the script at run time", () =>
    Effect.gen(function*() {
      const control = yield* Mock.MockLanguageModel
      yield* control.pushFaults(faults("400"))
      const error = yield* Effect.flip(LanguageModel.generate("x"))
      assert.strictEqual(error.reason._tag, "InvalidRequest")
    }).pipe(Effect.provide(Mock.layer())))

  it.effect("the registry provider reads reply, latency and faults from config options", () =>
    Effect.gen(function*() {
      const model = yield* Mock.provider.make({ options: { reply: "cfg", latency: "10ms", faults: ["500"] } })
      const error = yield* Effect.flip(model.generate({ messages: [{ role: "user", content: "x" }] }).pipe(
        Effect.forkChild,
        Effect.tap(() => TestClock.adjust("10 millis")),
        Effect.flatMap(Fiber.join)
      ))
      assert.strictEqual(error.reason._tag, "ServerError")
      const bad = yield* Effect.flip(Mock.provider.make({ options: { faults: ["teapot"] } }))
      assert.strictEqual(bad.reason._tag, "Configuration")
      assert.include(bad.message, "teapot")
      assert.strictEqual((bad.reason as LlmError.Configuration).setting, "providers.mock.options.faults")
      // The config passes the mock section's latency in milliseconds.
      const slow = yield* Mock.provider.make({ options: { latency: 20, reply: "late" } })
      const fiber = yield* Effect.forkChild(slow.generate({ messages: [{ role: "user", content: "x" }] }))
      yield* TestClock.adjust("19 millis")
      assert.isUndefined(fiber.pollUnsafe())
      yield* TestClock.adjust("1 millis")
      assert.strictEqual((yield* Fiber.join(fiber)).content, "late")
    }))
})
