import { NodeFileSystem, NodeHttpClient, NodePath } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Redacted, Stream } from "effect"
import * as LlmError from "../../../src/LlmError.ts"
import * as LlmRequest from "../../../src/LlmRequest.ts"
import * as Message from "../../../src/Message.ts"
import * as AnthropicLanguageModel from "../../../src/providers/anthropic/AnthropicLanguageModel.ts"
import * as Client from "../../../src/providers/anthropic/internal/client.ts"
import type * as StreamPart from "../../../src/StreamPart.ts"
import * as Tokenizer from "../../../src/Tokenizer.ts"
import * as Fake from "./FakeAnthropicServer.ts"

const { KEY, event } = Fake

const model = (origin: string, extra: AnthropicLanguageModel.Options = {}) =>
  AnthropicLanguageModel.make({ apiKey: Redacted.make(KEY), baseUrl: origin, ...extra })

const failure = <A>(effect: Effect.Effect<A, LlmError.LlmError>) => Effect.flip(effect)

const collect = (stream: Stream.Stream<StreamPart.StreamPart, LlmError.LlmError>) => Stream.runCollect(stream)

const textOf = (parts: ReadonlyArray<StreamPart.StreamPart>) =>
  parts.flatMap((part) => (part.type === "text-delta" ? [part.text] : [])).join("")

const finishOf = (parts: ReadonlyArray<StreamPart.StreamPart>) => {
  const last = parts.at(-1)
  assert.strictEqual(last?.type, "finish")
  assert.strictEqual(parts.filter((part) => part.type === "finish").length, 1)
  return (last as StreamPart.Finish).response
}

/** Runs a stream until it fails, keeping the parts it emitted before. */
const partsThenError = (stream: Stream.Stream<StreamPart.StreamPart, LlmError.LlmError>) =>
  Effect.gen(function*() {
    const parts: Array<StreamPart.StreamPart> = []
    const error = yield* Effect.flip(Stream.runForEach(stream, (part) => Effect.sync(() => void parts.push(part))))
    return { parts, error }
  })

describe("AnthropicLanguageModel: the request", () => {
  it.live("sends x-api-key, anthropic-version and the mapped body to {base}/v1/messages", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.start((request) => Fake.ok(request))
      const llm = yield* model(fake.origin)
      yield* llm.generate(LlmRequest.make({
        prompt: "Name a river",
        system: "Be brief",
        maxTokens: 50,
        temperature: 0.2,
        topP: 0.9,
        stop: ["\n\n"]
      }))
      const sent = fake.requests[0]!
      assert.strictEqual(sent.method, "POST")
      assert.strictEqual(sent.url, "/v1/messages")
      assert.strictEqual(sent.headers["x-api-key"], KEY)
      assert.strictEqual(sent.headers["anthropic-version"], "2023-06-01")
      assert.strictEqual(sent.headers["content-type"], "application/json")
      assert.isUndefined(sent.headers.authorization)
      assert.deepStrictEqual(sent.body, {
        model: "claude-haiku-4-5",
        max_tokens: 50,
        messages: [{ role: "user", content: "Name a river" }],
        system: "Be brief",
        temperature: 0.2,
        top_p: 0.9,
        stop_sequences: ["\n\n"]
      })
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.live("sends max_tokens 4096 when the request sets none, or the configured default", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.start((request) => Fake.ok(request))
      yield* (yield* model(fake.origin)).generate(LlmRequest.make("hi"))
      yield* (yield* model(fake.origin, { maxTokens: 8192 })).generate(LlmRequest.make("hi"))
      assert.strictEqual((fake.requests[0]!.body as { max_tokens: number }).max_tokens, 4096)
      assert.strictEqual(AnthropicLanguageModel.DEFAULT_MAX_TOKENS, 4096)
      assert.strictEqual((fake.requests[1]!.body as { max_tokens: number }).max_tokens, 8192)
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.live("maps content parts: tool calls to tool_use, tool results to tool_result blocks in a user message", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.start((request) => Fake.ok(request))
      const llm = yield* model(fake.origin)
      yield* llm.generate(LlmRequest.make({
        messages: [
          Message.system("Use the tools."),
          Message.user("Weather in Paris and Rome?"),
          Message.assistant([
            { type: "text", text: "Checking." },
            { type: "tool-call", id: "toolu_1", name: "weather", params: { city: "Paris" } },
            { type: "tool-call", id: "toolu_2", name: "weather", params: { city: "Rome" } }
          ]),
          Message.tool([{ type: "tool-result", id: "toolu_1", name: "weather", result: { celsius: 18 } }]),
          Message.tool([{ type: "tool-result", id: "toolu_2", name: "weather", result: "no data", isFailure: true }])
        ]
      }))
      const body = fake.requests[0]!.body as Record<string, unknown>
      assert.strictEqual(body.system, "Use the tools.")
      assert.deepStrictEqual(body.messages, [
        { role: "user", content: "Weather in Paris and Rome?" },
        {
          role: "assistant",
          content: [
            { type: "text", text: "Checking." },
            { type: "tool_use", id: "toolu_1", name: "weather", input: { city: "Paris" } },
            { type: "tool_use", id: "toolu_2", name: "weather", input: { city: "Rome" } }
          ]
        },
        {
          role: "user",
          content: [
            { type: "tool_result", tool_use_id: "toolu_1", content: "{\"celsius\":18}" },
            { type: "tool_result", tool_use_id: "toolu_2", content: "no data", is_error: true }
          ]
        }
      ])
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.live("a base URL with or without /v1 (and a trailing slash) reaches /v1/messages", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.start((request) => Fake.ok(request))
      for (const base of [fake.origin, `${fake.origin}/`, `${fake.origin}/v1`, `${fake.origin}/v1/`]) {
        yield* (yield* model(base)).generate(LlmRequest.make("hi"))
      }
      yield* Stream.runDrain((yield* model(`${fake.origin}/v1`)).stream(LlmRequest.make("hi"))).pipe(
        Effect.catch(() => Effect.void)
      )
      assert.deepStrictEqual(fake.requests.map((request) => request.url), Array(5).fill("/v1/messages"))
      // A gateway's path and query are kept.
      yield* (yield* model(`${fake.origin}/gateway/anthropic/v1?team=blue`)).generate(LlmRequest.make("hi"))
      assert.strictEqual(fake.requests[5]!.url, "/gateway/anthropic/v1/messages?team=blue")
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))
})

describe("AnthropicLanguageModel: the endpoint", () => {
  it("strips a trailing /v1, keeps a gateway's path and query, and shows the base without credentials", () => {
    assert.deepStrictEqual(Client.endpoint("https://api.anthropic.com"), {
      url: "https://api.anthropic.com/v1/messages",
      shown: "https://api.anthropic.com"
    })
    assert.strictEqual(Client.endpoint("https://api.anthropic.com/v1/").url, "https://api.anthropic.com/v1/messages")
    assert.deepStrictEqual(Client.endpoint("https://user:s3cret@gw.example/anthropic/v1?team=blue#x"), {
      url: "https://user:s3cret@gw.example/anthropic/v1/messages?team=blue",
      shown: "https://gw.example/anthropic"
    })
  })
})

describe("AnthropicLanguageModel: generate (JSON)", () => {
  it.live("maps the message: content, usage with the cache reads and writes, stop reason, request id", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.start((request) => Fake.ok(request))
      const response = yield* (yield* model(fake.origin)).generate(LlmRequest.make("Name a river"))
      assert.strictEqual(response.content, "echo: Name a river")
      assert.deepStrictEqual(response.usage, {
        inputTokens: 35,
        outputTokens: 7,
        totalTokens: 42,
        cachedInputTokens: 10,
        cacheWriteInputTokens: 4
      })
      assert.strictEqual(response.finishReason, "stop")
      assert.strictEqual(response.rawFinishReason, "end_turn")
      assert.strictEqual(response.requestId, "req_test_123")
      assert.strictEqual(response.provider, "anthropic")
      assert.strictEqual(response.model, "claude-haiku-4-5")
      assert.isUndefined(response.parts)
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.live("tool_use blocks become tool-call parts; max_tokens is length, refusal with no text is ContentFiltered", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.start((request) =>
        Fake.ok(request, {
          content: [
            { type: "thinking", thinking: "hmm", signature: "sig" },
            { type: "text", text: "Let me look." },
            { type: "tool_use", id: "toolu_9", name: "weather", input: { city: "Oslo" } }
          ],
          stop_reason: "tool_use"
        })
      )
      const llm = yield* model(fake.origin)
      const tools = yield* llm.generate(LlmRequest.make("Weather in Oslo?"))
      assert.strictEqual(tools.content, "Let me look.")
      assert.strictEqual(tools.finishReason, "tool-calls")
      assert.deepStrictEqual(tools.parts, [
        { type: "text", text: "Let me look." },
        { type: "tool-call", id: "toolu_9", name: "weather", params: { city: "Oslo" } }
      ])

      fake.setHandler((request) => Fake.ok(request, { stop_reason: "max_tokens" }))
      const cut = yield* llm.generate(LlmRequest.make("x"))
      assert.strictEqual(cut.finishReason, "length")

      fake.setHandler((request) => Fake.ok(request, { content: [], stop_reason: "refusal" }))
      const refused = yield* failure(llm.generate(LlmRequest.make("x")))
      assert.strictEqual(refused.reason._tag, "ContentFiltered")
      assert.isFalse(refused.isRetryable)
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.live("counts tokens locally (estimated) when the message has no usage", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.start((request) => Fake.ok(request, { usage: null }))
      const request = LlmRequest.make("Name a river")
      const response = yield* (yield* model(fake.origin)).generate(request)
      assert.deepStrictEqual(response.usage, {
        inputTokens: Tokenizer.countRequest(request),
        outputTokens: Tokenizer.countText("echo: Name a river"),
        totalTokens: Tokenizer.countRequest(request) + Tokenizer.countText("echo: Name a river"),
        estimated: true
      })
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.live("a body that is not JSON, or not a message -> ResponseMalformed", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.start(() => ({ _tag: "Json", body: "{\"content\": [" }))
      const llm = yield* model(fake.origin)
      assert.strictEqual((yield* failure(llm.generate(LlmRequest.make("x")))).reason._tag, "ResponseMalformed")
      fake.setHandler(() => ({ _tag: "Json", body: { type: "message", content: "nope" } }))
      const wrongShape = yield* failure(llm.generate(LlmRequest.make("x")))
      assert.strictEqual(wrongShape.reason._tag, "ResponseMalformed")
      assert.isFalse(wrongShape.isRetryable)
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))
})

describe("AnthropicLanguageModel: response caps", () => {
  it.live("a JSON body or an event stream past maxResponseBytes fails with ResponseMalformed naming the cap", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.start((request) => Fake.ok(request))
      const json = yield* failure((yield* model(fake.origin, { maxResponseBytes: 64 })).generate(LlmRequest.make("Name a river")))
      assert.strictEqual(json.reason._tag, "ResponseMalformed")
      assert.include(json.message, "maxResponseBytes")
      fake.setHandler(() => Fake.sse(Fake.textStream()))
      const streamed = yield* partsThenError((yield* model(fake.origin, { maxResponseBytes: 256 })).stream(LlmRequest.make("hi")))
      assert.strictEqual(streamed.error.reason._tag, "ResponseMalformed")
      assert.include(streamed.error.message, "maxResponseBytes")
      assert.isFalse(streamed.parts.some((part) => part.type === "finish"))
      // Within the cap, the same answers are read whole.
      const whole = finishOf(yield* collect((yield* model(fake.origin)).stream(LlmRequest.make("hi"))))
      assert.strictEqual(whole.content, "Hello, world")
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))
})

describe("AnthropicLanguageModel: stream (SSE)", () => {
  it.live("emits text deltas as they arrive, then one finish part with the whole response", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.start(() => Fake.sse(Fake.textStream(), { pauseMs: 5 }))
      const parts = yield* collect((yield* model(fake.origin)).stream(LlmRequest.make({ prompt: "Say hello", maxTokens: 64 })))
      const sent = fake.requests[0]!
      assert.strictEqual(sent.headers.accept, "text/event-stream")
      assert.strictEqual(sent.headers["x-api-key"], KEY)
      assert.deepStrictEqual(sent.body, { model: "claude-haiku-4-5", max_tokens: 64, messages: [{ role: "user", content: "Say hello" }], stream: true })
      assert.deepStrictEqual(parts.slice(0, -1), [
        { type: "text-delta", text: "Hel" },
        { type: "text-delta", text: "lo, " },
        { type: "text-delta", text: "world" }
      ])
      const response = finishOf(parts)
      assert.strictEqual(response.content, "Hello, world")
      assert.strictEqual(response.finishReason, "stop")
      assert.strictEqual(response.rawFinishReason, "end_turn")
      assert.strictEqual(response.requestId, "req_stream_1")
      assert.strictEqual(response.model, "claude-haiku-4-5")
      assert.strictEqual(response.provider, "anthropic")
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.live("a finished stream leaves its connection open for the next call (the body is read to its end)", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.start(() => Fake.sse(Fake.textStream()))
      const llm = yield* model(fake.origin)
      for (let call = 0; call < 6; call++) {
        assert.strictEqual(finishOf(yield* collect(llm.stream(LlmRequest.make("hi")))).content, "Hello, world")
      }
      // Six calls, at most two connections (the next call may start before the pool has its socket back).
      assert.isAtMost(yield* fake.connections, 2)
      assert.strictEqual(yield* fake.abandonedTotal, 0)
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.live("usage: input and cache counts from message_start, output from message_delta", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.start(() => Fake.sse(Fake.textStream()))
      const response = finishOf(yield* collect((yield* model(fake.origin)).stream(LlmRequest.make("hi"))))
      assert.deepStrictEqual(response.usage, {
        inputTokens: 35,
        outputTokens: 9,
        totalTokens: 44,
        cachedInputTokens: 10,
        cacheWriteInputTokens: 4
      })
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.live("a stream without usage is counted locally and marked estimated", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.start(() => Fake.sse(Fake.textStream({ startUsage: null, deltaUsage: null })))
      const request = LlmRequest.make("Say hello")
      const response = finishOf(yield* collect((yield* model(fake.origin)).stream(request)))
      assert.deepStrictEqual(response.usage, {
        inputTokens: Tokenizer.countRequest(request),
        outputTokens: Tokenizer.countText("Hello, world"),
        totalTokens: Tokenizer.countRequest(request) + Tokenizer.countText("Hello, world"),
        estimated: true
      })
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.live("a tool_use block streams as tool-call deltas (input_json_delta) and ends as a tool-call part", () =>
    Effect.gen(function*() {
      const chunks = [
        event("message_start", { message: { id: "msg_t", model: "claude-haiku-4-5", usage: { input_tokens: 30, output_tokens: 1 } } }),
        event("content_block_start", { index: 0, content_block: { type: "text", text: "" } }),
        event("content_block_delta", { index: 0, delta: { type: "text_delta", text: "Checking." } }),
        event("content_block_stop", { index: 0 }),
        event("content_block_start", { index: 1, content_block: { type: "tool_use", id: "toolu_1", name: "weather", input: {} } }),
        event("content_block_delta", { index: 1, delta: { type: "input_json_delta", partial_json: "" } }),
        event("content_block_delta", { index: 1, delta: { type: "input_json_delta", partial_json: "{\"city\": " } }),
        event("content_block_delta", { index: 1, delta: { type: "input_json_delta", partial_json: "\"Paris\"}" } }),
        event("content_block_stop", { index: 1 }),
        event("content_block_start", { index: 2, content_block: { type: "tool_use", id: "toolu_2", name: "time", input: {} } }),
        event("content_block_delta", { index: 2, delta: { type: "input_json_delta", partial_json: "{}" } }),
        event("content_block_stop", { index: 2 }),
        event("message_delta", { delta: { stop_reason: "tool_use", stop_sequence: null }, usage: { output_tokens: 40 } }),
        event("message_stop")
      ]
      const fake = yield* Fake.start(() => Fake.sse(chunks))
      const parts = yield* collect((yield* model(fake.origin)).stream(LlmRequest.make("Weather in Paris?")))
      assert.deepStrictEqual(parts.slice(0, -1), [
        { type: "text-delta", text: "Checking." },
        { type: "tool-call-delta", index: 0, id: "toolu_1", name: "weather", argumentsDelta: "" },
        { type: "tool-call-delta", index: 0, argumentsDelta: "{\"city\": " },
        { type: "tool-call-delta", index: 0, argumentsDelta: "\"Paris\"}" },
        { type: "tool-call-delta", index: 1, id: "toolu_2", name: "time", argumentsDelta: "" },
        { type: "tool-call-delta", index: 1, argumentsDelta: "{}" }
      ])
      const response = finishOf(parts)
      assert.strictEqual(response.content, "Checking.")
      assert.strictEqual(response.finishReason, "tool-calls")
      assert.deepStrictEqual(response.parts, [
        { type: "text", text: "Checking." },
        { type: "tool-call", id: "toolu_1", name: "weather", params: { city: "Paris" } },
        { type: "tool-call", id: "toolu_2", name: "time", params: {} }
      ])
      assert.deepStrictEqual(response.usage, { inputTokens: 30, outputTokens: 40, totalTokens: 70 })
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.live("events split across chunks, CRLF line ends and comment lines still parse", () =>
    Effect.gen(function*() {
      const whole = Fake.textStream().join("").replaceAll("\n", "\r\n")
      const chunks: Array<string> = [": a comment the parser skips\r\n\r\n"]
      for (let index = 0; index < whole.length; index += 7) chunks.push(whole.slice(index, index + 7))
      const fake = yield* Fake.start(() => Fake.sse(chunks))
      const parts = yield* collect((yield* model(fake.origin)).stream(LlmRequest.make("hi")))
      assert.strictEqual(textOf(parts), "Hello, world")
      assert.strictEqual(finishOf(parts).content, "Hello, world")
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.live("event types the adapter does not know are ignored; a retry: directive from a proxy does not end the stream", () =>
    Effect.gen(function*() {
      const [start, ...rest] = Fake.textStream()
      const chunks = [start!, "retry: 3000\n\n", event("content_block_future", { index: 0, whatever: true }), ...rest]
      const fake = yield* Fake.start(() => Fake.sse(chunks))
      const parts = yield* collect((yield* model(fake.origin)).stream(LlmRequest.make("hi")))
      assert.strictEqual(finishOf(parts).content, "Hello, world")
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.live("a malformed data line fails the stream with ResponseMalformed, after the text before it", () =>
    Effect.gen(function*() {
      const [start, blockStart, ping, first, ...rest] = Fake.textStream()
      const fake = yield* Fake.start(() => Fake.sse([start!, blockStart!, ping!, first!, "event: content_block_delta\ndata: {not json\n\n", ...rest]))
      const { error, parts } = yield* partsThenError((yield* model(fake.origin)).stream(LlmRequest.make("hi")))
      assert.deepStrictEqual(parts, [{ type: "text-delta", text: "Hel" }])
      assert.strictEqual(error.reason._tag, "ResponseMalformed")
      assert.include(error.message, "content_block_delta")
      assert.isFalse(error.isRetryable)

      fake.setHandler(() => Fake.sse([start!, event("content_block_delta", { index: "zero", delta: { type: "text_delta", text: 1 } })]))
      const shape = yield* partsThenError((yield* model(fake.origin)).stream(LlmRequest.make("hi")))
      assert.strictEqual(shape.error.reason._tag, "ResponseMalformed")
      assert.include(shape.error.message, "unexpected shape")
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.live("an error event mid-stream fails with its typed LlmError (overloaded_error -> Unavailable, retryable)", () =>
    Effect.gen(function*() {
      const [start, blockStart, ping, first] = Fake.textStream()
      const overloaded = event("error", { error: { type: "overloaded_error", message: "Overloaded" } })
      const fake = yield* Fake.start(() => Fake.sse([start!, blockStart!, ping!, first!, overloaded], { then: "hang" }))
      const { error, parts } = yield* partsThenError((yield* model(fake.origin)).stream(LlmRequest.make("hi")))
      assert.deepStrictEqual(parts, [{ type: "text-delta", text: "Hel" }])
      assert.strictEqual(error.reason._tag, "Unavailable")
      assert.isTrue(error.isRetryable)
      assert.strictEqual(error.requestId, "req_stream_1")
      assert.include(error.message, "(overloaded_error in the stream): Overloaded")
      // The connection is closed when the stream fails.
      yield* fake.abandoned.pipe(Effect.timeout("10 seconds"))

      fake.setHandler(() => Fake.sse([start!, event("error", { error: { type: "invalid_request_error", message: "bad" } })]))
      const invalid = yield* partsThenError((yield* model(fake.origin)).stream(LlmRequest.make("hi")))
      assert.strictEqual(invalid.error.reason._tag, "InvalidRequest")
      assert.isFalse(invalid.error.isRetryable)
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.live("a connection dropped mid-stream, or a body that ends before message_stop -> Network, after the text so far", () =>
    Effect.gen(function*() {
      const [start, blockStart, ping, first, second] = Fake.textStream()
      const fake = yield* Fake.start(() => Fake.sse([start!, blockStart!, ping!, first!, second!], { then: "destroy" }))
      const dropped = yield* partsThenError((yield* model(fake.origin)).stream(LlmRequest.make("hi")))
      assert.strictEqual(textOf(dropped.parts), "Hello, ")
      assert.strictEqual(dropped.error.reason._tag, "Network")
      assert.isTrue(dropped.error.isRetryable)

      fake.setHandler(() => Fake.sse([start!, blockStart!, first!]))
      const ended = yield* partsThenError((yield* model(fake.origin)).stream(LlmRequest.make("hi")))
      assert.strictEqual(textOf(ended.parts), "Hel")
      assert.strictEqual(ended.error.reason._tag, "Network")
      assert.include(ended.error.message, "no message_stop")
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.live("a body that ends after the stop reason but without message_stop (a proxy dropped it) still finishes", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.start(() => Fake.sse(Fake.textStream().slice(0, -1)))
      const response = finishOf(yield* collect((yield* model(fake.origin)).stream(LlmRequest.make("hi"))))
      assert.strictEqual(response.content, "Hello, world")
      assert.strictEqual(response.finishReason, "stop")
      assert.strictEqual(response.usage.outputTokens, 9)
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.live("a refusal with no text fails with ContentFiltered; a 200 that is not an event stream is ResponseMalformed", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.start(() => Fake.sse(Fake.textStream({ texts: [], stopReason: "refusal" })))
      const refused = yield* partsThenError((yield* model(fake.origin)).stream(LlmRequest.make("hi")))
      assert.strictEqual(refused.error.reason._tag, "ContentFiltered")

      fake.setHandler((request) => Fake.ok(request))
      const json = yield* partsThenError((yield* model(fake.origin)).stream(LlmRequest.make("hi")))
      assert.strictEqual(json.error.reason._tag, "ResponseMalformed")
      assert.include(json.error.message, "text/event-stream")
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.live("interrupting the consumer mid-stream closes the connection: the server sees the socket close", () =>
    Effect.gen(function*() {
      const [start, blockStart, ping, first] = Fake.textStream()
      const fake = yield* Fake.start(() => Fake.sse([start!, blockStart!, ping!, first!], { then: "hang" }))
      const llm = yield* model(fake.origin)
      const fiber = yield* Effect.forkChild(collect(llm.stream(LlmRequest.make("hi"))))
      yield* fake.nextRequest
      yield* Effect.sleep("50 millis")
      yield* Fiber.interrupt(fiber)
      yield* fake.abandoned.pipe(Effect.timeout("10 seconds"))
      assert.strictEqual(fake.requests.length, 1)
      assert.strictEqual(yield* fake.abandonedTotal, 1)
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.live("interrupting the consumer before the response headers aborts the request: the server sees the socket close", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.start(() => ({ _tag: "Hang" }))
      const llm = yield* model(fake.origin)
      const fiber = yield* Effect.forkChild(collect(llm.stream(LlmRequest.make("hi"))))
      yield* fake.nextRequest
      yield* Fiber.interrupt(fiber)
      yield* fake.abandoned.pipe(Effect.timeout("10 seconds"))
      assert.strictEqual(fake.requests.length, 1)
      assert.strictEqual(yield* fake.abandonedTotal, 1)
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.live("bytes after message_stop are read to the end of the body, not parsed; a finished stream aborts nothing", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.start(() => Fake.sse([...Fake.textStream(), "event: content_block_delta\ndata: {not json\n\n"]))
      const llm = yield* model(fake.origin)
      for (let call = 0; call < 3; call++) {
        assert.strictEqual(finishOf(yield* collect(llm.stream(LlmRequest.make("hi")))).content, "Hello, world")
      }
      assert.isAtMost(yield* fake.connections, 2)
      assert.strictEqual(yield* fake.abandonedTotal, 0)
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.live("a consumer that stops after the first delta closes the connection too", () =>
    Effect.gen(function*() {
      const [start, blockStart, ping, first, second] = Fake.textStream()
      const fake = yield* Fake.start(() => Fake.sse([start!, blockStart!, ping!, first!, second!], { then: "hang" }))
      const parts = yield* collect((yield* model(fake.origin)).stream(LlmRequest.make("hi")).pipe(Stream.take(1)))
      assert.deepStrictEqual(parts, [{ type: "text-delta", text: "Hel" }])
      yield* fake.abandoned.pipe(Effect.timeout("10 seconds"))
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))
})

describe("AnthropicLanguageModel: errors", () => {
  it.live("429 with retry-after -> RateLimited with retryAfterMs, before the stream opens too; sent once", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.start(() => Fake.apiError(429, "rate_limit_error", "Number of requests has exceeded your rate limit", { "retry-after": "7" }))
      const llm = yield* model(fake.origin)
      const error = yield* failure(llm.generate(LlmRequest.make("x")))
      assert.strictEqual(error.reason._tag, "RateLimited")
      assert.strictEqual(error.retryAfterMs, 7000)
      assert.strictEqual(error.status, 429)
      assert.strictEqual(error.requestId, "req_429")
      assert.isTrue(error.isRetryable)
      const streamed = yield* partsThenError(llm.stream(LlmRequest.make("x")))
      assert.deepStrictEqual(streamed.parts, [])
      assert.strictEqual(streamed.error.reason._tag, "RateLimited")
      assert.strictEqual(streamed.error.retryAfterMs, 7000)
      assert.strictEqual(fake.requests.length, 2)
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.live("529 overloaded_error -> Unavailable (retryable); 401 -> Authentication (never retryable), key scrubbed", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.start(() => Fake.apiError(529, "overloaded_error", "Overloaded"))
      const llm = yield* model(fake.origin)
      const overloaded = yield* failure(llm.generate(LlmRequest.make("x")))
      assert.strictEqual(overloaded.reason._tag, "Unavailable")
      assert.strictEqual(overloaded.status, 529)
      assert.isTrue(overloaded.isRetryable)

      fake.setHandler(() => Fake.apiError(401, "authentication_error", `invalid x-api-key ${KEY}`))
      const auth = yield* failure(llm.generate(LlmRequest.make("my secret prompt text")))
      assert.strictEqual(auth.reason._tag, "Authentication")
      assert.isFalse(auth.isRetryable)
      const printed = JSON.stringify(LlmError.toDocument(auth)) + auth.message
      assert.notInclude(printed, KEY)
      assert.notInclude(printed, "my secret prompt text")
      const streamed = yield* partsThenError(llm.stream(LlmRequest.make("x")))
      assert.strictEqual(streamed.error.reason._tag, "Authentication")
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.live("404 names the model; a refused connection is Network", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.start(() => Fake.apiError(404, "not_found_error", "model: claude-nope"))
      const error = yield* failure((yield* model(fake.origin)).generate(LlmRequest.make({ prompt: "x", model: "claude-nope" })))
      assert.strictEqual(error.reason._tag, "NotFound")
      assert.include(error.message, "\"claude-nope\"")

      const closedOrigin = yield* Effect.scoped(Effect.map(Fake.start(() => ({ _tag: "Hang" })), (server) => server.origin))
      const refused = yield* failure((yield* model(closedOrigin)).generate(LlmRequest.make("x")))
      assert.strictEqual(refused.reason._tag, "Network")
      assert.include(refused.message, "connection refused")
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.live("options.timeout bounds a JSON call and a stream's opening (Timeout, retryable); the request is abandoned", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.start(() => ({ _tag: "Hang" }))
      const entry = yield* AnthropicLanguageModel.provider
      const llm = yield* entry.make({ baseUrl: fake.origin, apiKey: Redacted.make(KEY), options: { timeout: "300ms" } })
      const error = yield* failure(llm.generate(LlmRequest.make("x")))
      assert.strictEqual(error.reason._tag, "Timeout")
      assert.isTrue(error.isRetryable)
      const streamed = yield* partsThenError(llm.stream(LlmRequest.make("x")))
      assert.strictEqual(streamed.error.reason._tag, "Timeout")
      if (fake.requests.length > 0) yield* fake.abandoned.pipe(Effect.timeout("10 seconds"))
    }).pipe(Effect.provide([NodeHttpClient.layerUndici, NodeFileSystem.layer, NodePath.layer])))
})
