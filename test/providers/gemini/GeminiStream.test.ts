/**
 * Gemini's native stream: the real `@google/genai` SDK (`generateContentStream`) against a fake
 * `streamGenerateContent?alt=sse` endpoint on 127.0.0.1.
 */
import { NodeFileSystem, NodePath } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Redacted, Stream } from "effect"
import type * as LlmError from "../../../src/LlmError.ts"
import * as LlmRequest from "../../../src/LlmRequest.ts"
import * as GeminiLanguageModel from "../../../src/providers/gemini/GeminiLanguageModel.ts"
import type * as StreamPart from "../../../src/StreamPart.ts"
import * as FakeGemini from "./FakeGemini.ts"

const model = (origin: string, extra: Partial<GeminiLanguageModel.Options> = {}) =>
  GeminiLanguageModel.make({ apiKey: Redacted.make(FakeGemini.KEY), baseUrl: origin, ...extra })

const collect = (stream: Stream.Stream<StreamPart.StreamPart, LlmError.LlmError>) => Stream.runCollect(stream)

/** The parts a stream emitted before it failed, and its error. */
const failing = (stream: Stream.Stream<StreamPart.StreamPart, LlmError.LlmError>) =>
  Effect.gen(function*() {
    const seen: Array<StreamPart.StreamPart> = []
    const error = yield* Effect.flip(Stream.runForEach(stream, (part) => Effect.sync(() => void seen.push(part))))
    return { seen, error }
  })

const textOf = (parts: ReadonlyArray<StreamPart.StreamPart>): string =>
  parts.map((part) => (part.type === "text-delta" ? part.text : "")).join("")

const finishOf = (parts: ReadonlyArray<StreamPart.StreamPart>) => {
  const last = parts.at(-1)
  assert.strictEqual(last?.type, "finish")
  assert.strictEqual(parts.filter((part) => part.type === "finish").length, 1)
  return (last as StreamPart.Finish).response
}

describe("GeminiLanguageModel.stream: chunks as they arrive", () => {
  it.live("sends streamGenerateContent?alt=sse with the mapped body; text deltas arrive before the end, then one finish", () =>
    Effect.gen(function*() {
      const texts = ["The river ", "runs ", "past the mill ", "to ", "the sea."]
      // The server holds the rest of the answer until the consumer has the first delta (or 30 s
      // have passed: a provider that held the deltas back until the end then fails, not hangs),
      // so the check does not depend on how fast a loaded machine delivers.
      let open: () => void = () => undefined
      const opened = new Promise<void>((resolve) => {
        open = resolve
      })
      const safety = setTimeout(() => open(), 30_000)
      const fake = yield* FakeGemini.start(() =>
        FakeGemini.sse(FakeGemini.textStream(texts), { pauseMs: 20, hold: { afterChunks: 1, until: opened } })
      )
      const llm = yield* model(fake.origin)
      const parts: Array<StreamPart.StreamPart> = []
      let writtenAtFirstDelta = -1
      yield* Stream.runForEach(
        llm.stream(LlmRequest.make({ prompt: "Name a river", system: "Be brief", maxTokens: 64, temperature: 0.3 })),
        (part) =>
          Effect.gen(function*() {
            if (parts.length === 0) {
              writtenAtFirstDelta = yield* fake.chunksWritten
              clearTimeout(safety)
              open()
            }
            parts.push(part)
          })
      )
      assert.strictEqual(writtenAtFirstDelta, 1, "the first delta came before the server had written everything")
      const sent = fake.requests[0]!
      assert.strictEqual(sent.method, "POST")
      assert.strictEqual(sent.url, "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse")
      assert.strictEqual(sent.headers["x-goog-api-key"], FakeGemini.KEY)
      const body = sent.body as Record<string, unknown>
      assert.deepStrictEqual(body.contents, [{ role: "user", parts: [{ text: "Name a river" }] }])
      assert.deepStrictEqual(body.systemInstruction, { parts: [{ text: "Be brief" }], role: "user" })
      assert.deepStrictEqual(body.generationConfig, { maxOutputTokens: 64, temperature: 0.3 })

      assert.deepStrictEqual(parts.slice(0, texts.length), texts.map((text) => ({ type: "text-delta", text })))
      const response = finishOf(parts)
      assert.strictEqual(response.content, texts.join(""))
      assert.strictEqual(textOf(parts), response.content)
      assert.strictEqual(response.finishReason, "stop")
      assert.strictEqual(response.rawFinishReason, "STOP")
      assert.strictEqual(response.provider, "gemini")
      assert.strictEqual(response.model, "gemini-2.5-flash")
      assert.strictEqual(response.requestId, "resp-stream-1")
      assert.isUndefined(response.parts)
    }))

  it.live("usage is the latest running total (never summed); thoughts count as output; a chunk without usage changes nothing", () =>
    Effect.gen(function*() {
      const fake = yield* FakeGemini.start(() =>
        FakeGemini.sse([
          FakeGemini.event(FakeGemini.chunk({ parts: [{ text: "a" }], usage: { promptTokenCount: 20, candidatesTokenCount: 1 } })),
          FakeGemini.event(FakeGemini.chunk({ parts: [{ text: "thinking", thought: true }] })),
          FakeGemini.event(FakeGemini.chunk({ parts: [{ text: "b" }], usage: { promptTokenCount: 20, candidatesTokenCount: 4 } })),
          FakeGemini.event(FakeGemini.chunk({
            parts: [{ text: "c" }],
            finishReason: "STOP",
            usage: {
              promptTokenCount: 20,
              candidatesTokenCount: 9,
              thoughtsTokenCount: 5,
              cachedContentTokenCount: 8,
              totalTokenCount: 34
            }
          }))
        ])
      )
      const parts = yield* collect((yield* model(fake.origin)).stream(LlmRequest.make("hi")))
      const response = finishOf(parts)
      assert.strictEqual(response.content, "abc", "the thought is not part of the answer")
      assert.deepStrictEqual(response.usage, {
        inputTokens: 20,
        outputTokens: 14,
        totalTokens: 34,
        cachedInputTokens: 8,
        reasoningTokens: 5
      })
    }))

  it.live("a stream without usageMetadata is counted locally and marked estimated", () =>
    Effect.gen(function*() {
      const fake = yield* FakeGemini.start(() => FakeGemini.sse(FakeGemini.textStream(["some words ", "here"], { usage: false })))
      const response = finishOf(yield* collect((yield* model(fake.origin)).stream(LlmRequest.make("Name a river"))))
      assert.strictEqual(response.content, "some words here")
      assert.strictEqual(response.usage.estimated, true)
      assert.isAbove(response.usage.inputTokens, 0)
      assert.isAbove(response.usage.outputTokens, 0)
    }))

  it.live("a functionCall part comes whole: one tool-call-delta with its arguments, a tool-call part, finish reason tool-calls", () =>
    Effect.gen(function*() {
      const fake = yield* FakeGemini.start(() =>
        FakeGemini.sse([
          FakeGemini.event(FakeGemini.chunk({ parts: [{ text: "Let me look." }] })),
          FakeGemini.event(FakeGemini.chunk({
            parts: [{ functionCall: { name: "weather", args: { city: "Paris" } } }],
            finishReason: "STOP",
            usage: { promptTokenCount: 10, candidatesTokenCount: 6 }
          }))
        ])
      )
      const parts = yield* collect((yield* model(fake.origin)).stream(LlmRequest.make("Weather in Paris?")))
      assert.deepStrictEqual(parts[1], {
        type: "tool-call-delta",
        index: 0,
        id: "call_0_0",
        name: "weather",
        argumentsDelta: "{\"city\":\"Paris\"}"
      })
      const response = finishOf(parts)
      assert.strictEqual(response.content, "Let me look.")
      assert.strictEqual(response.finishReason, "tool-calls")
      assert.deepStrictEqual(response.parts, [
        { type: "text", text: "Let me look." },
        { type: "tool-call", id: "call_0_0", name: "weather", params: { city: "Paris" } }
      ])
    }))

  it.live("the provider timeout bounds the opening only: a stream slower than it overall still finishes", () =>
    Effect.gen(function*() {
      const fake = yield* FakeGemini.start(() => FakeGemini.sse(FakeGemini.textStream(["a", "b", "c", "d"]), { pauseMs: 200 }))
      const llm = yield* model(fake.origin, { timeout: "300 millis" })
      const response = finishOf(yield* collect(llm.stream(LlmRequest.make("hi"))))
      assert.strictEqual(response.content, "abcd")
    }))
})

describe("GeminiLanguageModel.stream: failures", () => {
  it.live("a chunk that is not JSON fails with ResponseMalformed (not retryable), after the text before it", () =>
    Effect.gen(function*() {
      const fake = yield* FakeGemini.start(() =>
        FakeGemini.sse([FakeGemini.event(FakeGemini.chunk({ parts: [{ text: "Hello" }] })), "data: {\"candidates\": [\r\n\r\n"])
      )
      const { error, seen } = yield* failing((yield* model(fake.origin)).stream(LlmRequest.make("hi")))
      assert.strictEqual(error.reason._tag, "ResponseMalformed")
      assert.isFalse(error.isRetryable)
      assert.include(error.message, "not JSON")
      assert.deepStrictEqual(seen, [{ type: "text-delta", text: "Hello" }])
    }))

  it.live("a connection dropped mid-stream fails with Network (retryable), after the text so far; sent once", () =>
    Effect.gen(function*() {
      const first = FakeGemini.event(FakeGemini.chunk({ parts: [{ text: "Hel" }] }))
      const fake = yield* FakeGemini.start(() => FakeGemini.sse([first], { then: "destroy" }))
      const { error, seen } = yield* failing((yield* model(fake.origin)).stream(LlmRequest.make("hi")))
      assert.strictEqual(error.reason._tag, "Network", error.message)
      assert.include(error.message, "broke off")
      assert.isTrue(error.isRetryable)
      assert.deepStrictEqual(seen, [{ type: "text-delta", text: "Hel" }])
      assert.strictEqual(fake.requests.length, 1)
    }))

  it.live("a body that ends before the finish reason, or inside an event, is cut off: Network", () =>
    Effect.gen(function*() {
      const first = FakeGemini.event(FakeGemini.chunk({ parts: [{ text: "Hel" }] }))
      const fake = yield* FakeGemini.start(() => FakeGemini.sse([first]))
      const llm = yield* model(fake.origin)
      const ended = yield* failing(llm.stream(LlmRequest.make("hi")))
      assert.strictEqual(ended.error.reason._tag, "Network")
      assert.include(ended.error.message, "no finish reason")
      assert.deepStrictEqual(ended.seen, [{ type: "text-delta", text: "Hel" }])
      fake.setHandler(() => FakeGemini.sse([first, "data: {\"candidates\":"]))
      const inside = yield* failing(llm.stream(LlmRequest.make("hi")))
      assert.strictEqual(inside.error.reason._tag, "Network")
      assert.include(inside.error.message, "in the middle of an event")
    }))

  it.live("429 before the first chunk: RateLimited with RetryInfo's delay, or retry-after's; sent once (the SDK does not retry)", () =>
    Effect.gen(function*() {
      const fake = yield* FakeGemini.start(() =>
        FakeGemini.googleError(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota).", [
          { "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: "37s" }
        ])
      )
      const llm = yield* model(fake.origin)
      const { error, seen } = yield* failing(llm.stream(LlmRequest.make("hi")))
      assert.deepStrictEqual(seen, [])
      assert.strictEqual(error.reason._tag, "RateLimited")
      assert.strictEqual(error.retryAfterMs, 37_000)
      assert.strictEqual(error.status, 429)
      assert.isTrue(error.isRetryable)
      assert.strictEqual(fake.requests.length, 1)
      fake.setHandler(() => FakeGemini.googleError(429, "RESOURCE_EXHAUSTED", "slow down", [], { "retry-after": "5" }))
      const hinted = yield* failing(llm.stream(LlmRequest.make("hi")))
      assert.strictEqual(hinted.error.retryAfterMs, 5_000)
      assert.strictEqual(fake.requests.length, 2)
    }))

  it.live("503 is sent once; a stream dropped after a checkpoint is not reopened (the SDK's continuation is off)", () =>
    Effect.gen(function*() {
      const fake = yield* FakeGemini.start(() => FakeGemini.googleError(503, "UNAVAILABLE", "overloaded"))
      const llm = yield* model(fake.origin)
      const unavailable = yield* failing(llm.stream(LlmRequest.make("hi")))
      assert.strictEqual(unavailable.error.reason._tag, "Unavailable")
      assert.strictEqual(fake.requests.length, 1)
      // With automatic continuation the SDK would send a second request resuming from "ckpt-1".
      const checkpoint = FakeGemini.event(FakeGemini.chunk({ parts: [{ text: "Hel" }], continuationToken: "ckpt-1" }))
      fake.setHandler(() => FakeGemini.sse([checkpoint], { then: "destroy" }))
      const dropped = yield* failing(llm.stream(LlmRequest.make("hi")))
      assert.strictEqual(dropped.error.reason._tag, "Network", dropped.error.message)
      assert.deepStrictEqual(dropped.seen, [{ type: "text-delta", text: "Hel" }])
      yield* Effect.sleep("300 millis")
      assert.strictEqual(fake.requests.length, 2, "one request per stream")
    }))

  it.live("an error chunk mid-stream fails with its status's reason (503 -> Unavailable, retryable)", () =>
    Effect.gen(function*() {
      const fake = yield* FakeGemini.start(() =>
        FakeGemini.sse([
          FakeGemini.event(FakeGemini.chunk({ parts: [{ text: "Hel" }] })),
          FakeGemini.event({ error: { code: 503, message: "The model is overloaded.", status: "UNAVAILABLE" } })
        ])
      )
      const { error, seen } = yield* failing((yield* model(fake.origin)).stream(LlmRequest.make("hi")))
      assert.strictEqual(error.reason._tag, "Unavailable")
      assert.isTrue(error.isRetryable)
      assert.deepStrictEqual(seen, [{ type: "text-delta", text: "Hel" }])
    }))

  it.live("output blocked mid-stream (SAFETY) fails with ContentFiltered after the text so far; a blocked prompt too", () =>
    Effect.gen(function*() {
      const fake = yield* FakeGemini.start(() =>
        FakeGemini.sse([
          FakeGemini.event(FakeGemini.chunk({ parts: [{ text: "Once upon" }] })),
          FakeGemini.event(FakeGemini.chunk({ finishReason: "SAFETY", usage: { promptTokenCount: 5, candidatesTokenCount: 3 } }))
        ])
      )
      const llm = yield* model(fake.origin)
      const blocked = yield* failing(llm.stream(LlmRequest.make("hi")))
      assert.strictEqual(blocked.error.reason._tag, "ContentFiltered")
      assert.include(blocked.error.message, "SAFETY")
      assert.isFalse(blocked.error.isRetryable)
      assert.deepStrictEqual(blocked.seen, [{ type: "text-delta", text: "Once upon" }])
      fake.setHandler(() =>
        FakeGemini.sse([FakeGemini.event({
          promptFeedback: { blockReason: "PROHIBITED_CONTENT" },
          usageMetadata: { promptTokenCount: 5, totalTokenCount: 5 }
        })])
      )
      const prompt = yield* failing(llm.stream(LlmRequest.make("hi")))
      assert.strictEqual(prompt.error.reason._tag, "ContentFiltered")
      assert.include(prompt.error.message, "PROHIBITED_CONTENT")
      assert.deepStrictEqual(prompt.seen, [])
    }))

  it.live("a 200 that is not an event stream fails with ResponseMalformed", () =>
    Effect.gen(function*() {
      const fake = yield* FakeGemini.start(() => FakeGemini.json({ candidates: [] }))
      const { error } = yield* failing((yield* model(fake.origin)).stream(LlmRequest.make("hi")))
      assert.strictEqual(error.reason._tag, "ResponseMalformed")
      assert.include(error.message, "expected an event stream")
    }))

  it.live("a tool choice naming an undeclared tool is refused before anything is sent", () =>
    Effect.gen(function*() {
      const fake = yield* FakeGemini.start(() => FakeGemini.sse(FakeGemini.textStream(["x"])))
      const request = LlmRequest.make({ prompt: "hi", tools: [{ name: "f", parameters: { type: "object" } }], toolChoice: { tool: "g" } })
      const { error } = yield* failing((yield* model(fake.origin)).stream(request))
      assert.strictEqual(error.reason._tag, "InvalidRequest")
      assert.strictEqual(fake.requests.length, 0)
    }))

  it.live("options.timeout bounds the opening: a server that never answers fails with Timeout, the request abandoned", () =>
    Effect.gen(function*() {
      const fake = yield* FakeGemini.start(() => ({ _tag: "Hang" }))
      const entry = yield* GeminiLanguageModel.provider
      const llm = yield* entry.make({ baseUrl: fake.origin, apiKey: Redacted.make(FakeGemini.KEY), options: { timeout: "300ms" } })
      const { error } = yield* failing(llm.stream(LlmRequest.make("hi")))
      assert.strictEqual(error.reason._tag, "Timeout")
      assert.isTrue(error.isRetryable)
      if (fake.requests.length > 0) yield* fake.abandoned.pipe(Effect.timeout("10 seconds"))
    }).pipe(Effect.provide([NodeFileSystem.layer, NodePath.layer])))
})

describe("GeminiLanguageModel.stream: interruption and caps", () => {
  it.live("interrupting the consumer mid-stream aborts the request: the server sees the socket close", () =>
    Effect.gen(function*() {
      const first = FakeGemini.event(FakeGemini.chunk({ parts: [{ text: "Hel" }] }))
      const fake = yield* FakeGemini.start(() => FakeGemini.sse([first], { then: "hang" }))
      const llm = yield* model(fake.origin)
      const seen: Array<StreamPart.StreamPart> = []
      let firstDelta: () => void = () => undefined
      const gotDelta = new Promise<void>((resolve) => {
        firstDelta = resolve
      })
      const fiber = yield* Effect.forkChild(Stream.runForEach(llm.stream(LlmRequest.make("hi")), (part) =>
        Effect.sync(() => {
          seen.push(part)
          firstDelta()
        })))
      yield* Effect.promise(() => gotDelta)
      yield* Fiber.interrupt(fiber)
      yield* fake.abandoned.pipe(Effect.timeout("10 seconds"))
      assert.deepStrictEqual(seen, [{ type: "text-delta", text: "Hel" }])
      assert.strictEqual(fake.requests.length, 1)
    }))

  it.live("a consumer that stops after the first delta closes the connection too", () =>
    Effect.gen(function*() {
      const fake = yield* FakeGemini.start(() => FakeGemini.sse(FakeGemini.textStream(["a", "b", "c"]), { then: "hang" }))
      const parts = yield* collect((yield* model(fake.origin)).stream(LlmRequest.make("hi")).pipe(Stream.take(1)))
      assert.deepStrictEqual(parts, [{ type: "text-delta", text: "a" }])
      yield* fake.abandoned.pipe(Effect.timeout("10 seconds"))
    }))

  it.live("a stream past maxResponseBytes fails with ResponseMalformed naming the cap; the connection is closed", () =>
    Effect.gen(function*() {
      const big = FakeGemini.event(FakeGemini.chunk({ parts: [{ text: "x".repeat(16 * 1024) }] }))
      const fake = yield* FakeGemini.start(() => FakeGemini.sse(Array.from({ length: 200 }, () => big), { then: "hang" }))
      const llm = yield* model(fake.origin, { maxResponseBytes: 64 * 1024 })
      const { error, seen } = yield* failing(llm.stream(LlmRequest.make("hi")))
      assert.strictEqual(error.reason._tag, "ResponseMalformed")
      assert.include(error.message, "(maxResponseBytes 65536)")
      assert.include(error.message, "providers.gemini.options.maxResponseBytes")
      assert.isBelow(textOf(seen).length, 64 * 1024)
      yield* fake.abandoned.pipe(Effect.timeout("10 seconds"))
    }))
})
