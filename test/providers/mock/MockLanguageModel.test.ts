import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Result, Stream } from "effect"
import { TestClock } from "effect/testing"
import * as LanguageModel from "../../../src/LanguageModel.ts"
import * as LlmError from "../../../src/LlmError.ts"
import * as MockFault from "../../../src/providers/mock/MockFault.ts"
import * as Mock from "../../../src/providers/mock/MockLanguageModel.ts"
import * as StreamPart from "../../../src/StreamPart.ts"
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

const streamed = (input: Parameters<typeof LanguageModel.stream>[0]) =>
  Effect.gen(function*() {
    const parts: Array<StreamPart.StreamPart> = []
    const exit = yield* Effect.exit(Stream.runForEach(LanguageModel.stream(input), (part) => Effect.sync(() => void parts.push(part))))
    return { parts, exit }
  })

const texts = (parts: ReadonlyArray<StreamPart.StreamPart>) => parts.flatMap((part) => (part.type === "text-delta" ? [part.text] : []))

describe("MockLanguageModel: stream", () => {
  it("chunksOf: one chunk per word with its whitespace, joining back to the reply; at most MAX_CHUNKS", () => {
    assert.deepStrictEqual(Mock.chunksOf("The Nile  is long.\n"), ["The ", "Nile  ", "is ", "long.\n"])
    assert.deepStrictEqual(Mock.chunksOf("  leading"), ["  leading"])
    assert.deepStrictEqual(Mock.chunksOf(""), [])
    const long = Array.from({ length: 1_000 }, (_, index) => `w${index}`).join(" ")
    const chunks = Mock.chunksOf(long)
    assert.isAtMost(chunks.length, Mock.MAX_CHUNKS)
    assert.strictEqual(chunks.join(""), long)
    assert.deepStrictEqual(Mock.chunksOf(long), chunks)
  })

  it.effect("streams the reply in word chunks, then one finish part with the response generate gives", () =>
    Effect.gen(function*() {
      const { exit, parts } = yield* streamed("Name three rivers")
      assert.isTrue(Exit.isSuccess(exit))
      assert.deepStrictEqual(texts(parts), ["The ", "Rhine, ", "the ", "Danube ", "and ", "the ", "Loire."])
      const last = parts.at(-1)
      assert.strictEqual(last?.type, "finish")
      assert.strictEqual(parts.filter(StreamPart.isFinish).length, 1)
      const response = (last as StreamPart.Finish).response
      const whole = yield* LanguageModel.generate("Name three rivers")
      assert.strictEqual(response.content, texts(parts).join(""))
      assert.deepStrictEqual(response.usage, whole.usage)
      assert.strictEqual(response.finishReason, "stop")
      assert.strictEqual(response.provider, "mock")
      const control = yield* Mock.MockLanguageModel
      assert.strictEqual((yield* control.calls).length, 2)
    }).pipe(Effect.provide(Mock.layer({ reply: "The Rhine, the Danube and the Loire." }))))

  it.effect("maxTokens and stop apply before the reply is chunked", () =>
    Effect.gen(function*() {
      const { parts } = yield* streamed({ prompt: "x", maxTokens: 3 })
      const response = (parts.at(-1) as StreamPart.Finish).response
      assert.strictEqual(response.finishReason, "length")
      assert.strictEqual(texts(parts).join(""), response.content)
      assert.strictEqual(response.usage.outputTokens, 3)
    }).pipe(Effect.provide(Mock.layer({ reply: "one two three four five six seven" }))))

  it.effect("the latency is per chunk when streaming, on the Clock (TestClock drives it)", () =>
    Effect.gen(function*() {
      const received: Array<string> = []
      const fiber = yield* Effect.forkChild(Stream.runForEach(LanguageModel.stream("x"), (part) =>
        Effect.sync(() => void received.push(part.type === "text-delta" ? part.text : part.type))))
      yield* TestClock.adjust("99 millis")
      assert.deepStrictEqual(received, [])
      yield* TestClock.adjust("1 millis")
      assert.deepStrictEqual(received, ["one "])
      yield* TestClock.adjust("100 millis")
      assert.deepStrictEqual(received, ["one ", "two "])
      yield* TestClock.adjust("100 millis")
      yield* Fiber.join(fiber)
      assert.deepStrictEqual(received, ["one ", "two ", "three", "finish"])
      // generate waits the latency once.
      const whole = yield* Effect.forkChild(LanguageModel.generate("x"))
      yield* TestClock.adjust("100 millis")
      assert.strictEqual((yield* Fiber.join(whole)).latencyMs, 100)
    }).pipe(Effect.provide(Mock.layer({ reply: "one two three", latency: "100 millis" }))))

  it.effect("cut:N sends N chunks then fails with Network (retryable); generate fails with Network", () =>
    Effect.gen(function*() {
      const { exit, parts } = yield* streamed("x")
      assert.deepStrictEqual(parts, [StreamPart.textDelta("one "), StreamPart.textDelta("two ")])
      assert.isTrue(Exit.isFailure(exit))
      const error = yield* Effect.flip(exit)
      assert.strictEqual(error.reason._tag, "Network")
      assert.isTrue(error.isRetryable)
      assert.include(error.message, "after 2 chunks")
      const none = yield* streamed("x")
      assert.deepStrictEqual(none.parts, [])
      assert.isTrue(Exit.isFailure(none.exit))
      const whole = yield* Effect.flip(LanguageModel.generate("x"))
      assert.strictEqual(whole.reason._tag, "Network")
      // A cut past the last chunk sends them all and fails instead of finishing.
      const past = yield* streamed("x")
      assert.deepStrictEqual(texts(past.parts), ["one ", "two ", "three ", "four"])
      assert.isFalse(past.parts.some(StreamPart.isFinish))
      assert.isTrue(Exit.isFailure(past.exit))
      // Then the script is used up: the next stream finishes.
      assert.isTrue(Exit.isSuccess((yield* streamed("x")).exit))
    }).pipe(Effect.provide(Mock.layer({ reply: "one two three four", faults: faults("cut:2,cut:0,cut:1,cut:9") }))))

  it.effect("other faults fail the stream before its first chunk, after the latency", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.forkChild(streamed("x"))
      yield* TestClock.adjust("50 millis")
      const { exit, parts } = yield* Fiber.join(fiber)
      assert.deepStrictEqual(parts, [])
      const error = yield* Effect.flip(exit)
      assert.strictEqual(error.reason._tag, "RateLimited")
      assert.strictEqual(error.retryAfterMs, 2000)
      const hung = yield* Effect.forkChild(streamed("x"))
      yield* TestClock.adjust("1 hour")
      assert.isUndefined(hung.pollUnsafe())
      yield* Fiber.interrupt(hung)
    }).pipe(Effect.provide(Mock.layer({ reply: "one two", latency: "50 millis", faults: faults("429:2s,hang") }))))
})
