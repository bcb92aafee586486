/**
 * The streaming tests every OpenAI-protocol provider runs (openai, openrouter,
 * openai-compatible): each flavour registers them against the fake server of
 * `FakeOpenAiServer.ts`, with its own base path and key.
 */
import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, type Layer, Stream } from "effect"
import type { HttpClient } from "effect/http"
import type * as LanguageModel from "../../../src/LanguageModel.ts"
import type * as LlmError from "../../../src/LlmError.ts"
import * as LlmRequest from "../../../src/LlmRequest.ts"
import type * as StreamPart from "../../../src/StreamPart.ts"
import * as Tokenizer from "../../../src/Tokenizer.ts"
import * as Fake from "./FakeOpenAiServer.ts"

const { chunk, data, DONE } = Fake

export interface Flavour {
  /** The provider's registered name, as responses and errors carry it. */
  readonly provider: string
  /** The path requests go to on the fake (`/v1/chat/completions`, `/api/v1/chat/completions`). */
  readonly path: string
  /** Builds the model against the fake's origin. */
  readonly make: (
    origin: string,
    options?: { readonly maxResponseBytes?: number }
  ) => Effect.Effect<LanguageModel.Service, never, HttpClient.HttpClient>
  /**
   * The HTTP client the suite runs on (default `NodeHttpClient.layerUndici`): each transport's
   * body is read its own way (`src/providers/internal/body.ts`).
   */
  readonly transport?: { readonly name: string; readonly layer: Layer.Layer<HttpClient.HttpClient> } | undefined
}

export const collect = <R>(stream: Stream.Stream<StreamPart.StreamPart, LlmError.LlmError, R>) => Stream.runCollect(stream)

export const textOf = (parts: ReadonlyArray<StreamPart.StreamPart>) =>
  parts.flatMap((part) => (part.type === "text-delta" ? [part.text] : [])).join("")

/** The finish part's response, checking it is the last part and the only finish part. */
export const finishOf = (parts: ReadonlyArray<StreamPart.StreamPart>) => {
  const last = parts.at(-1)
  assert.strictEqual(last?.type, "finish")
  assert.strictEqual(parts.filter((part) => part.type === "finish").length, 1)
  return (last as StreamPart.Finish).response
}

/** Runs a stream until it fails, keeping the parts it emitted before. */
export const partsThenError = <R>(stream: Stream.Stream<StreamPart.StreamPart, LlmError.LlmError, R>) =>
  Effect.gen(function*() {
    const parts: Array<StreamPart.StreamPart> = []
    const error = yield* Effect.flip(Stream.runForEach(stream, (part) => Effect.sync(() => void parts.push(part))))
    return { parts, error }
  })

export const streamingSuite = (flavour: Flavour): void => {
  const transport = flavour.transport?.layer ?? NodeHttpClient.layerUndici
  const stream = (origin: string, input: LlmRequest.Input, options?: { readonly maxResponseBytes?: number }) =>
    Stream.unwrap(Effect.map(flavour.make(origin, options), (model) => model.stream(LlmRequest.make(input))))

  describe(`${flavour.provider}: stream (SSE)${flavour.transport === undefined ? "" : ` over ${flavour.transport.name}`}`, () => {
    it.live("sends stream: true with stream_options.include_usage, emits the deltas as they arrive, then one finish part", () =>
      Effect.gen(function*() {
        const fake = yield* Fake.start(() => Fake.sse(Fake.textStream(), { pauseMs: 5 }))
        const parts = yield* collect(stream(fake.origin, { prompt: "Say hello", maxTokens: 64 }))
        const sent = fake.requests[0]!
        assert.strictEqual(sent.method, "POST")
        assert.strictEqual(sent.url, flavour.path)
        assert.strictEqual(sent.headers.accept, "text/event-stream")
        const body = sent.body as Record<string, unknown>
        assert.strictEqual(body.stream, true)
        assert.deepStrictEqual(body.stream_options, { include_usage: true })
        assert.deepStrictEqual(body.messages, [{ role: "user", content: "Say hello" }])
        assert.deepStrictEqual(parts.slice(0, -1), [
          { type: "text-delta", text: "Hel" },
          { type: "text-delta", text: "lo, " },
          { type: "text-delta", text: "world" }
        ])
        const response = finishOf(parts)
        assert.strictEqual(response.content, "Hello, world")
        assert.strictEqual(response.finishReason, "stop")
        assert.strictEqual(response.rawFinishReason, "stop")
        assert.strictEqual(response.requestId, "req_stream_1")
        assert.strictEqual(response.model, "gpt-4o-mini-2024-07-18")
        assert.strictEqual(response.provider, flavour.provider)
        assert.isUndefined(response.parts)
        assert.isAtLeast(response.latencyMs, 10)
      }).pipe(Effect.provide(transport)))

    it.live("usage comes from the last chunk, normalised as for generate", () =>
      Effect.gen(function*() {
        const fake = yield* Fake.start(() => Fake.sse(Fake.textStream()))
        const response = finishOf(yield* collect(stream(fake.origin, "hi")))
        assert.deepStrictEqual(response.usage, {
          inputTokens: 21,
          outputTokens: 7,
          totalTokens: 28,
          cachedInputTokens: 5,
          reasoningTokens: 2
        })
      }).pipe(Effect.provide(transport)))

    it.live("a stream without usage does not fail: tokens are counted locally and marked estimated", () =>
      Effect.gen(function*() {
        const fake = yield* Fake.start(() => Fake.sse(Fake.textStream({ usage: null })))
        const response = finishOf(yield* collect(stream(fake.origin, "Say hello")))
        const input = Tokenizer.countRequest(LlmRequest.make("Say hello"))
        const output = Tokenizer.countText("Hello, world")
        assert.deepStrictEqual(response.usage, { inputTokens: input, outputTokens: output, totalTokens: input + output, estimated: true })
        assert.strictEqual(response.content, "Hello, world")
      }).pipe(Effect.provide(transport)))

    it.live("tool-call fragments stream as tool-call deltas and end as tool-call parts with parsed arguments", () =>
      Effect.gen(function*() {
        const call = (index: number, fields: Record<string, unknown>) => data(chunk({ delta: { tool_calls: [{ index, ...fields }] } }))
        const chunks = [
          data(chunk({ delta: { role: "assistant", content: null } })),
          data(chunk({ delta: { content: "Checking." } })),
          call(0, { id: "call_weather", type: "function", function: { name: "weather", arguments: "" } }),
          call(0, { function: { arguments: "{\"city\": " } }),
          call(0, { function: { arguments: "\"Paris\"}" } }),
          call(1, { id: "call_time", type: "function", function: { name: "time", arguments: "{}" } }),
          data(chunk({ delta: {}, finish_reason: "tool_calls" })),
          data(chunk(undefined, { usage: { prompt_tokens: 30, completion_tokens: 40, total_tokens: 70 } })),
          DONE
        ]
        const fake = yield* Fake.start(() => Fake.sse(chunks))
        const parts = yield* collect(stream(fake.origin, "Weather in Paris?"))
        assert.deepStrictEqual(parts.slice(0, -1), [
          { type: "text-delta", text: "Checking." },
          { type: "tool-call-delta", index: 0, id: "call_weather", name: "weather", argumentsDelta: "" },
          { type: "tool-call-delta", index: 0, argumentsDelta: "{\"city\": " },
          { type: "tool-call-delta", index: 0, argumentsDelta: "\"Paris\"}" },
          { type: "tool-call-delta", index: 1, id: "call_time", name: "time", argumentsDelta: "{}" }
        ])
        const response = finishOf(parts)
        assert.strictEqual(response.content, "Checking.")
        assert.strictEqual(response.finishReason, "tool-calls")
        assert.strictEqual(response.rawFinishReason, "tool_calls")
        assert.deepStrictEqual(response.parts, [
          { type: "text", text: "Checking." },
          { type: "tool-call", id: "call_weather", name: "weather", params: { city: "Paris" } },
          { type: "tool-call", id: "call_time", name: "time", params: {} }
        ])
        assert.deepStrictEqual(response.usage, { inputTokens: 30, outputTokens: 40, totalTokens: 70 })
      }).pipe(Effect.provide(transport)))

    it.live("tool-call arguments that are not whole JSON are kept as text, with a warning", () =>
      Effect.gen(function*() {
        const chunks = [
          data(chunk({ delta: { tool_calls: [{ index: 0, id: "call_1", function: { name: "search", arguments: "{\"q\": \"riv" } }] } })),
          data(chunk({ delta: {}, finish_reason: "length" })),
          DONE
        ]
        const fake = yield* Fake.start(() => Fake.sse(chunks))
        const response = finishOf(yield* collect(stream(fake.origin, "Search")))
        assert.deepStrictEqual(response.parts, [{ type: "tool-call", id: "call_1", name: "search", params: "{\"q\": \"riv" }])
        assert.strictEqual(response.finishReason, "length")
        assert.strictEqual(response.warnings?.length, 1)
        assert.include(response.warnings![0], "call_1 (search) are not whole JSON")
      }).pipe(Effect.provide(transport)))

    it.live("events split across reads, CRLF line ends, comments and a retry: directive still parse", () =>
      Effect.gen(function*() {
        const whole = Fake.textStream().join("").replaceAll("\n", "\r\n")
        const chunks: Array<string> = [": OPENROUTER PROCESSING\r\n\r\n", "retry: 3000\n\n"]
        for (let index = 0; index < whole.length; index += 7) chunks.push(whole.slice(index, index + 7))
        const fake = yield* Fake.start(() => Fake.sse(chunks))
        const parts = yield* collect(stream(fake.origin, "hi"))
        assert.strictEqual(textOf(parts), "Hello, world")
        assert.strictEqual(finishOf(parts).content, "Hello, world")
      }).pipe(Effect.provide(transport)))

    it.live("a malformed data line fails the stream with ResponseMalformed, after the text before it", () =>
      Effect.gen(function*() {
        const [role, first, ...rest] = Fake.textStream()
        const fake = yield* Fake.start(() => Fake.sse([role!, first!, "data: {not json\n\n", ...rest]))
        const { error, parts } = yield* partsThenError(stream(fake.origin, "hi"))
        assert.deepStrictEqual(parts, [{ type: "text-delta", text: "Hel" }])
        assert.strictEqual(error.reason._tag, "ResponseMalformed")
        assert.strictEqual(error.provider, flavour.provider)
        assert.include(error.message, "not JSON")
        assert.isFalse(error.isRetryable)

        fake.setHandler(() => Fake.sse([role!, data(chunk(undefined, { choices: "none" })), ...rest]))
        const shape = yield* partsThenError(stream(fake.origin, "hi"))
        assert.strictEqual(shape.error.reason._tag, "ResponseMalformed")
        assert.include(shape.error.message, "unexpected shape")
      }).pipe(Effect.provide(transport)))

    it.live("an error object in a data line mid-stream fails with its typed LlmError, after the text; the connection is closed", () =>
      Effect.gen(function*() {
        const [role, first] = Fake.textStream()
        const serverError = data({ error: { message: "The server had an error while processing your request.", type: "server_error" } })
        const fake = yield* Fake.start(() => Fake.sse([role!, first!, serverError], { then: "hang" }))
        const { error, parts } = yield* partsThenError(stream(fake.origin, "hi"))
        assert.deepStrictEqual(parts, [{ type: "text-delta", text: "Hel" }])
        assert.strictEqual(error.reason._tag, "ServerError")
        assert.isTrue(error.isRetryable)
        assert.isUndefined(error.status)
        assert.strictEqual(error.requestId, "req_stream_1")
        assert.include(error.message, "(server_error in the stream): The server had an error")
        yield* fake.abandoned.pipe(Effect.timeout("10 seconds"))

        // OpenRouter's shape: a chunk with an error whose numeric code is the status it stands for.
        const upstream = data(chunk({ delta: { content: "" }, finish_reason: "error" }, { error: { code: 429, message: "Rate limit exceeded upstream" } }))
        fake.setHandler(() => Fake.sse([role!, first!, upstream]))
        const limited = yield* partsThenError(stream(fake.origin, "hi"))
        assert.strictEqual(textOf(limited.parts), "Hel")
        assert.strictEqual(limited.error.reason._tag, "RateLimited")

        fake.setHandler(() => Fake.sse([role!, data({ error: { message: "context too long", type: "invalid_request_error" } })]))
        const invalid = yield* partsThenError(stream(fake.origin, "hi"))
        assert.strictEqual(invalid.error.reason._tag, "InvalidRequest")
        assert.isFalse(invalid.error.isRetryable)
      }).pipe(Effect.provide(transport)))

    it.live("a connection dropped mid-stream, or a body that ends before any finish_reason -> Network, after the text so far", () =>
      Effect.gen(function*() {
        const [role, first, second] = Fake.textStream()
        const fake = yield* Fake.start(() => Fake.sse([role!, first!, second!], { then: "destroy" }))
        const dropped = yield* partsThenError(stream(fake.origin, "hi"))
        assert.strictEqual(textOf(dropped.parts), "Hello, ")
        assert.strictEqual(dropped.error.reason._tag, "Network")
        assert.isTrue(dropped.error.isRetryable)

        fake.setHandler(() => Fake.sse([role!, first!]))
        const ended = yield* partsThenError(stream(fake.origin, "hi"))
        assert.strictEqual(textOf(ended.parts), "Hel")
        assert.strictEqual(ended.error.reason._tag, "Network")
        assert.include(ended.error.message, "no finish_reason and no [DONE]")
      }).pipe(Effect.provide(transport)))

    it.live("a body that ends after the finish_reason without [DONE] or usage still finishes (usage estimated)", () =>
      Effect.gen(function*() {
        const fake = yield* Fake.start(() => Fake.sse(Fake.textStream({ usage: null, done: false })))
        const response = finishOf(yield* collect(stream(fake.origin, "hi")))
        assert.strictEqual(response.content, "Hello, world")
        assert.strictEqual(response.finishReason, "stop")
        assert.isTrue(response.usage.estimated)
      }).pipe(Effect.provide(transport)))

    it.live("[DONE] ends the answer: nothing after it is parsed, and the connection is kept for the next call", () =>
      Effect.gen(function*() {
        const fake = yield* Fake.start(() => Fake.sse([...Fake.textStream(), data("{not json"), ": after the end\n\n"], { pauseMs: 2 }))
        for (let call = 0; call < 6; call++) {
          const response = finishOf(yield* collect(stream(fake.origin, "hi")))
          assert.strictEqual(response.content, "Hello, world")
        }
        // The body is read to its end after [DONE], so connections are reused: six calls, at most
        // two connections (the next call may start before the pool has its socket back).
        assert.isAtMost(yield* fake.connections, 2)
        assert.strictEqual(yield* fake.abandonedTotal, 0)
      }).pipe(Effect.provide(transport)))

    it.live("a non-2xx answer before the stream opens maps as for generate (429 with retry-after)", () =>
      Effect.gen(function*() {
        const fake = yield* Fake.start(() => Fake.apiError(429, "Rate limit reached", { type: "requests" }, { "retry-after": "2" }))
        const { error, parts } = yield* partsThenError(stream(fake.origin, "hi"))
        assert.deepStrictEqual(parts, [])
        assert.strictEqual(error.reason._tag, "RateLimited")
        assert.strictEqual(error.retryAfterMs, 2000)
        assert.strictEqual(error.status, 429)
        assert.strictEqual(fake.requests.length, 1)
      }).pipe(Effect.provide(transport)))

    it.live("interrupting the consumer mid-stream closes the connection: the server sees the socket close", () =>
      Effect.gen(function*() {
        const [role, first] = Fake.textStream()
        const fake = yield* Fake.start(() => Fake.sse([role!, first!], { then: "hang" }))
        const fiber = yield* Effect.forkChild(collect(stream(fake.origin, "hi")))
        yield* fake.nextRequest
        yield* Effect.sleep("50 millis")
        yield* Fiber.interrupt(fiber)
        yield* fake.abandoned.pipe(Effect.timeout("10 seconds"))
        assert.strictEqual(fake.requests.length, 1)
        assert.strictEqual(yield* fake.abandonedTotal, 1)
      }).pipe(Effect.provide(transport)))

    it.live("interrupting the consumer before the response headers aborts the request: the server sees the socket close", () =>
      Effect.gen(function*() {
        const fake = yield* Fake.start(() => ({ _tag: "Hang" }))
        const fiber = yield* Effect.forkChild(collect(stream(fake.origin, "hi")))
        yield* fake.nextRequest
        yield* Fiber.interrupt(fiber)
        yield* fake.abandoned.pipe(Effect.timeout("10 seconds"))
        assert.strictEqual(fake.requests.length, 1)
        assert.strictEqual(yield* fake.abandonedTotal, 1)
      }).pipe(Effect.provide(transport)))

    it.live("bytes after [DONE] are read to the end of the body, not parsed; a finished stream aborts nothing", () =>
      Effect.gen(function*() {
        const fake = yield* Fake.start(() => Fake.sse([...Fake.textStream(), "data: {not json\n\n"]))
        for (let call = 0; call < 3; call++) {
          assert.strictEqual(finishOf(yield* collect(stream(fake.origin, "hi"))).content, "Hello, world")
        }
        assert.isAtMost(yield* fake.connections, 2)
        assert.strictEqual(yield* fake.abandonedTotal, 0)
      }).pipe(Effect.provide(transport)))

    it.live("a consumer that stops after the first delta closes the connection too", () =>
      Effect.gen(function*() {
        const [role, first, second] = Fake.textStream()
        const fake = yield* Fake.start(() => Fake.sse([role!, first!, second!], { then: "hang" }))
        const parts = yield* collect(stream(fake.origin, "hi").pipe(Stream.take(1)))
        assert.deepStrictEqual(parts, [{ type: "text-delta", text: "Hel" }])
        yield* fake.abandoned.pipe(Effect.timeout("10 seconds"))
      }).pipe(Effect.provide(transport)))

    it.live("a stream past maxResponseBytes fails with ResponseMalformed naming the cap, and the connection is closed", () =>
      Effect.gen(function*() {
        const endless = Array.from({ length: 2_000 }, () => data(chunk({ delta: { content: "more and more text " } })))
        const fake = yield* Fake.start(() => Fake.sse(endless, { pauseMs: 1, then: "hang" }))
        const { error, parts } = yield* partsThenError(stream(fake.origin, "hi", { maxResponseBytes: 4_096 }))
        assert.strictEqual(error.reason._tag, "ResponseMalformed")
        assert.include(error.message, "maxResponseBytes 4096")
        assert.include(error.message, `providers.${flavour.provider}.options.maxResponseBytes`)
        assert.isFalse(parts.some((part) => part.type === "finish"))
        assert.isAbove(parts.length, 0)
        yield* fake.abandoned.pipe(Effect.timeout("10 seconds"))
        assert.isBelow(yield* fake.chunksWritten, 2_000)
        // Within the cap, the same stream is read whole.
        fake.setHandler(() => Fake.sse(Fake.textStream()))
        assert.strictEqual(finishOf(yield* collect(stream(fake.origin, "hi", { maxResponseBytes: 4_096 }))).content, "Hello, world")
      }).pipe(Effect.provide(transport)))

    it.live("generate still reads one JSON completion (no stream fields sent)", () =>
      Effect.gen(function*() {
        const fake = yield* Fake.start((request) => ({
          _tag: "Json",
          headers: { "x-request-id": "req_json" },
          body: {
            id: "chatcmpl-json",
            object: "chat.completion",
            model: "gpt-4o-mini",
            choices: [{ index: 0, message: { role: "assistant", content: `echo: ${Fake.lastUserText(request)}` }, finish_reason: "stop" }],
            usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 }
          }
        }))
        const model = yield* flavour.make(fake.origin)
        const response = yield* model.generate(LlmRequest.make("ping"))
        assert.strictEqual(response.content, "echo: ping")
        const body = fake.requests[0]!.body as Record<string, unknown>
        assert.isUndefined(body.stream)
        assert.isUndefined(body.stream_options)
        assert.strictEqual(fake.requests[0]!.headers.accept, "application/json")
      }).pipe(Effect.provide(transport)))
  })
}
