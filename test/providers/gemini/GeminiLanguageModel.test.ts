import { NodeFileSystem, NodePath } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { GoogleGenAI } from "@google/genai"
import { Effect, Fiber, Redacted } from "effect"
import type * as LlmError from "../../../src/LlmError.ts"
import * as LlmRequest from "../../../src/LlmRequest.ts"
import * as GeminiLanguageModel from "../../../src/providers/gemini/GeminiLanguageModel.ts"
import * as FakeHttpServer from "../FakeHttpServer.ts"

const KEY = "AIza-test-secret-key-0123456789"

const reply = (text: string, extra: Record<string, unknown> = {}) => ({
  candidates: [{ content: { role: "model", parts: [{ text }] }, finishReason: "STOP", index: 0 }],
  usageMetadata: {
    promptTokenCount: 12,
    candidatesTokenCount: 6,
    thoughtsTokenCount: 4,
    cachedContentTokenCount: 3,
    totalTokenCount: 22
  },
  modelVersion: "gemini-2.5-flash",
  responseId: "resp-gemini-1",
  ...extra
})

const lastUser = (body: unknown): string => {
  const contents = (body as { contents?: Array<{ role: string; parts: Array<{ text: string }> }> }).contents ?? []
  return contents.at(-1)?.parts[0]?.text ?? ""
}

const model = (origin: string, extra: Partial<GeminiLanguageModel.Options> = {}) =>
  GeminiLanguageModel.make({ apiKey: Redacted.make(KEY), baseUrl: origin, ...extra })

const failure = <A>(effect: Effect.Effect<A, LlmError.LlmError>) => Effect.flip(effect)

describe("GeminiLanguageModel (the real @google/genai SDK) against a fake generateContent endpoint", () => {
  it.live("maps the request and the response; the raw SDK reads the same content and usage", () =>
    Effect.gen(function*() {
      const fake = yield* FakeHttpServer.start((request) => ({ body: reply(`echo: ${lastUser(request.body)}`) }))
      const llm = yield* model(fake.origin)
      const response = yield* llm.generate(LlmRequest.make({
        messages: [
          { role: "user", content: "Hi" },
          { role: "assistant", content: "Hello" },
          { role: "user", content: "Name a river" }
        ],
        system: "Be brief",
        maxTokens: 64,
        temperature: 0.3,
        topP: 0.8,
        stop: ["END"]
      }))
      const sent = fake.requests[0]!
      assert.strictEqual(sent.method, "POST")
      assert.strictEqual(sent.url, "/v1beta/models/gemini-2.5-flash:generateContent")
      assert.strictEqual(sent.headers["x-goog-api-key"], KEY)
      const body = sent.body as Record<string, unknown>
      assert.deepStrictEqual(body.contents, [
        { role: "user", parts: [{ text: "Hi" }] },
        { role: "model", parts: [{ text: "Hello" }] },
        { role: "user", parts: [{ text: "Name a river" }] }
      ])
      assert.deepStrictEqual(body.systemInstruction, { parts: [{ text: "Be brief" }], role: "user" })
      assert.deepStrictEqual(body.generationConfig, {
        maxOutputTokens: 64,
        temperature: 0.3,
        topP: 0.8,
        stopSequences: ["END"]
      })
      assert.strictEqual(response.content, "echo: Name a river")
      assert.deepStrictEqual(response.usage, {
        inputTokens: 12,
        outputTokens: 10,
        totalTokens: 22,
        cachedInputTokens: 3,
        reasoningTokens: 4
      })
      assert.strictEqual(response.finishReason, "stop")
      assert.strictEqual(response.rawFinishReason, "STOP")
      assert.strictEqual(response.requestId, "resp-gemini-1")
      assert.strictEqual(response.provider, "gemini")

      const sdk = new GoogleGenAI({ apiKey: "test", httpOptions: { baseUrl: fake.origin } })
      const raw = yield* Effect.promise(() =>
        sdk.models.generateContent({ model: "gemini-2.5-flash", contents: "Name a river" })
      )
      assert.strictEqual(raw.text, response.content)
      assert.deepStrictEqual(GeminiLanguageModel.toUsage(raw.usageMetadata), response.usage)
    }))

  it.live("API version is configurable", () =>
    Effect.gen(function*() {
      const fake = yield* FakeHttpServer.start(() => ({ body: reply("ok") }))
      const llm = yield* model(fake.origin, { apiVersion: "v1", defaultModel: "gemini-2.5-pro" })
      yield* llm.generate(LlmRequest.make("x"))
      assert.strictEqual(fake.requests[0]!.url, "/v1/models/gemini-2.5-pro:generateContent")
    }))

  it.live("finish reasons: MAX_TOKENS -> length, SAFETY with text -> content-filter, SAFETY without text fails", () =>
    Effect.gen(function*() {
      let finish = "MAX_TOKENS"
      let text = "partial"
      const fake = yield* FakeHttpServer.start(() => ({
        body: reply(text, { candidates: [{ content: { role: "model", parts: text === "" ? [] : [{ text }] }, finishReason: finish }] })
      }))
      const llm = yield* model(fake.origin)
      const cut = yield* llm.generate(LlmRequest.make("x"))
      assert.strictEqual(cut.finishReason, "length")
      finish = "SAFETY"
      const filtered = yield* llm.generate(LlmRequest.make("x"))
      assert.strictEqual(filtered.finishReason, "content-filter")
      assert.strictEqual(filtered.rawFinishReason, "SAFETY")
      text = ""
      finish = "PROHIBITED_CONTENT"
      const error = yield* failure(llm.generate(LlmRequest.make("x")))
      assert.strictEqual(error.reason._tag, "ContentFiltered")
    }))

  it.live("functionCall parts become tool-call parts (named by position without an id); STOP with calls is tool-calls", () =>
    Effect.gen(function*() {
      const fake = yield* FakeHttpServer.start(() => ({
        body: reply("", {
          candidates: [{
            content: {
              role: "model",
              parts: [
                { text: "Checking." },
                { functionCall: { name: "weather", args: { city: "Paris" } } },
                { functionCall: { id: "fc-2", name: "time", args: { zone: "CET" } } }
              ]
            },
            finishReason: "STOP"
          }]
        })
      }))
      const response = yield* (yield* model(fake.origin)).generate(LlmRequest.make("Weather and time in Paris?"))
      assert.strictEqual(response.content, "Checking.")
      assert.strictEqual(response.finishReason, "tool-calls")
      assert.strictEqual(response.rawFinishReason, "STOP")
      assert.deepStrictEqual(response.parts, [
        { type: "text", text: "Checking." },
        { type: "tool-call", id: "call_0_0", name: "weather", params: { city: "Paris" } },
        { type: "tool-call", id: "fc-2", name: "time", params: { zone: "CET" } }
      ])
    }))

  it.live("a blocked prompt -> ContentFiltered", () =>
    Effect.gen(function*() {
      const fake = yield* FakeHttpServer.start(() => ({
        body: { promptFeedback: { blockReason: "SAFETY" }, usageMetadata: { promptTokenCount: 5, totalTokenCount: 5 } }
      }))
      const error = yield* failure((yield* model(fake.origin)).generate(LlmRequest.make("x")))
      assert.strictEqual(error.reason._tag, "ContentFiltered")
      assert.include(error.message, "SAFETY")
    }))

  it.live("no usageMetadata -> estimated usage", () =>
    Effect.gen(function*() {
      const fake = yield* FakeHttpServer.start(() => ({ body: reply("some words here", { usageMetadata: undefined }) }))
      const response = yield* (yield* model(fake.origin)).generate(LlmRequest.make("Name a river"))
      assert.strictEqual(response.usage.estimated, true)
      assert.isAbove(response.usage.outputTokens, 0)
    }))

  it.live("429 with RetryInfo -> RateLimited with retryAfterMs, sent once (the SDK does not retry)", () =>
    Effect.gen(function*() {
      const fake = yield* FakeHttpServer.start(() => ({
        status: 429,
        body: {
          error: {
            code: 429,
            message: "Resource has been exhausted (e.g. check quota).",
            status: "RESOURCE_EXHAUSTED",
            details: [{ "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: "37s" }]
          }
        }
      }))
      const error = yield* failure((yield* model(fake.origin)).generate(LlmRequest.make("x")))
      assert.strictEqual(error.reason._tag, "RateLimited")
      assert.strictEqual(error.retryAfterMs, 37_000)
      assert.strictEqual(error.status, 429)
      assert.isTrue(error.isRetryable)
      assert.strictEqual(fake.requests.length, 1)
    }))

  it.live("500 and 503 are sent once and map to ServerError / Unavailable", () =>
    Effect.gen(function*() {
      let status = 500
      const fake = yield* FakeHttpServer.start(() => ({
        status,
        body: { error: { code: status, message: "internal", status: status === 500 ? "INTERNAL" : "UNAVAILABLE" } }
      }))
      const llm = yield* model(fake.origin)
      const server = yield* failure(llm.generate(LlmRequest.make("x")))
      assert.strictEqual(server.reason._tag, "ServerError")
      status = 503
      const unavailable = yield* failure(llm.generate(LlmRequest.make("x")))
      assert.strictEqual(unavailable.reason._tag, "Unavailable")
      assert.strictEqual(fake.requests.length, 2)
    }))

  it.live("malformed JSON -> ResponseMalformed", () =>
    Effect.gen(function*() {
      const fake = yield* FakeHttpServer.start(() => ({ status: 200, body: "{\"candidates\": [" }))
      const error = yield* failure((yield* model(fake.origin)).generate(LlmRequest.make("x")))
      assert.strictEqual(error.reason._tag, "ResponseMalformed")
      fake.setHandler(() => ({ status: 200, body: { unexpected: true } }))
      const shape = yield* failure((yield* model(fake.origin)).generate(LlmRequest.make("x")))
      assert.strictEqual(shape.reason._tag, "ResponseMalformed")
    }))

  it.live("slower than the timeout (options.timeout: 300ms) -> Timeout; dropped connection -> Network", () =>
    Effect.gen(function*() {
      const fake = yield* FakeHttpServer.start(() => ({ body: reply("late"), delayMs: 5_000 }))
      const entry = yield* GeminiLanguageModel.provider
      const configured = yield* entry.make({ baseUrl: fake.origin, apiKey: Redacted.make(KEY), options: { timeout: "300ms" } })
      const slow = yield* failure(configured.generate(LlmRequest.make("x")))
      assert.strictEqual(slow.reason._tag, "Timeout")
      assert.strictEqual(slow.reason._tag === "Timeout" && slow.reason.elapsedMs, 300)
      // On a loaded machine the timeout may fire before the request even arrives.
      if (fake.requests.length > 0) yield* fake.abandoned.pipe(Effect.timeout("10 seconds"))
      fake.setHandler(() => ({ destroy: true }))
      const dropped = yield* failure((yield* model(fake.origin)).generate(LlmRequest.make("x")))
      assert.strictEqual(dropped.reason._tag, "Network")
    }).pipe(Effect.provide([NodeFileSystem.layer, NodePath.layer])))

  it.live("interrupting the fiber aborts the request: the server sees the socket close", () =>
    Effect.gen(function*() {
      const fake = yield* FakeHttpServer.start(() => ({ hang: true }))
      const llm = yield* model(fake.origin)
      const fiber = yield* Effect.forkChild(llm.generate(LlmRequest.make("x")))
      yield* fake.nextRequest
      yield* Fiber.interrupt(fiber)
      yield* fake.abandoned.pipe(Effect.timeout("10 seconds"))
      assert.strictEqual(fake.requests.length, 1)
    }))

  it.live("an invalid key (400 API_KEY_INVALID) -> Authentication, without the key in the message", () =>
    Effect.gen(function*() {
      const fake = yield* FakeHttpServer.start(() => ({
        status: 400,
        body: {
          error: {
            code: 400,
            message: `API key not valid. Please pass a valid API key. (${KEY})`,
            status: "INVALID_ARGUMENT",
            details: [{ "@type": "type.googleapis.com/google.rpc.ErrorInfo", reason: "API_KEY_INVALID" }]
          }
        }
      }))
      const error = yield* failure((yield* model(fake.origin)).generate(LlmRequest.make("my private prompt")))
      assert.strictEqual(error.reason._tag, "Authentication")
      assert.notInclude(error.message, KEY)
      assert.notInclude(error.message, "my private prompt")
    }))
})

describe("GeminiLanguageModel: bounded responses (the SDK's fetch is capped)", () => {
  const MiB = 1024 * 1024

  it.live("a 200 MB chunked body is not read whole: ResponseMalformed naming the cap, the connection closed", () =>
    Effect.gen(function*() {
      const fake = yield* FakeHttpServer.start(() => ({ chunked: { chunk: "x".repeat(64 * 1024), count: 3_200 } }))
      const llm = yield* model(fake.origin, { maxResponseBytes: MiB })
      const error = yield* failure(llm.generate(LlmRequest.make("hi")))
      assert.strictEqual(error.reason._tag, "ResponseMalformed")
      assert.strictEqual(error.provider, "gemini")
      assert.include(error.message, "larger than 1 MiB")
      assert.include(error.message, "providers.gemini.options.maxResponseBytes")
      yield* Effect.sleep("200 millis")
      assert.isBelow(fake.chunkedBytesSent(), 64 * MiB)
    }))

  it.live("a body that declares a length over the cap is refused; within it, read as before", () =>
    Effect.gen(function*() {
      const fake = yield* FakeHttpServer.start(() => ({ body: reply("x".repeat(5_000)) }))
      const small = yield* model(fake.origin, { maxResponseBytes: 1_000 })
      const error = yield* failure(small.generate(LlmRequest.make("hi")))
      assert.strictEqual(error.reason._tag, "ResponseMalformed")
      assert.include(error.message, "(maxResponseBytes 1000)")
      const roomy = yield* model(fake.origin, { maxResponseBytes: 10_000 })
      assert.strictEqual((yield* roomy.generate(LlmRequest.make("hi"))).content, "x".repeat(5_000))
    }))

  it.live("a chunked body within the cap is read whole; an error status still maps as before", () =>
    Effect.gen(function*() {
      const fake = yield* FakeHttpServer.start(() => ({ chunked: { chunk: JSON.stringify(reply("streamed")), count: 1 } }))
      const llm = yield* model(fake.origin, { maxResponseBytes: 10_000 })
      assert.strictEqual((yield* llm.generate(LlmRequest.make("hi"))).content, "streamed")
      fake.setHandler(() => ({ status: 503, body: { error: { code: 503, message: "overloaded", status: "UNAVAILABLE" } } }))
      assert.strictEqual((yield* failure(llm.generate(LlmRequest.make("hi")))).reason._tag, "Unavailable")
    }))

  it.live("maxResponseBytes is a provider option", () =>
    Effect.gen(function*() {
      const fake = yield* FakeHttpServer.start(() => ({ chunked: { chunk: "x".repeat(64 * 1024), count: 100 } }))
      const entry = yield* GeminiLanguageModel.provider
      const made = yield* entry.make({
        baseUrl: fake.origin,
        apiKey: Redacted.make(KEY),
        options: { maxResponseBytes: 100_000 }
      })
      const error = yield* failure(made.generate(LlmRequest.make("hi")))
      assert.include(error.message, "maxResponseBytes 100000")
    }).pipe(Effect.provide(NodeFileSystem.layer), Effect.provide(NodePath.layer)))
})
