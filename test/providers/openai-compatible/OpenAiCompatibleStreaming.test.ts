import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as LlmRequest from "../../../src/LlmRequest.ts"
import * as OpenAiCompatibleLanguageModel from "../../../src/providers/openai-compatible/OpenAiCompatibleLanguageModel.ts"
import * as Tokenizer from "../../../src/Tokenizer.ts"
import * as Fake from "../openai/FakeOpenAiServer.ts"
import { collect, finishOf, partsThenError, streamingSuite } from "../openai/streamingSuite.ts"
import { toolsSuite } from "../openai/toolsSuite.ts"

const make = (origin: string, options: { readonly maxResponseBytes?: number } = {}) =>
  OpenAiCompatibleLanguageModel.make({ baseUrl: `${origin}/v1`, defaultModel: "qwen2.5:0.5b", ...options })

streamingSuite({ provider: "openai-compatible", path: "/v1/chat/completions", make })
toolsSuite({ provider: "openai-compatible", path: "/v1/chat/completions", make })

describe("openai-compatible: stream, what local servers do", () => {
  it.live("no key, no Authorization header; max_tokens sent; a server that sends no usage and no [DONE] (estimated usage)", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.start(() => Fake.sse(Fake.textStream({ usage: null, done: false }), { headers: {} }))
      const request = LlmRequest.make({ prompt: "hello", maxTokens: 5 })
      const response = finishOf(yield* collect((yield* make(fake.origin)).stream(request)))
      const sent = fake.requests[0]!
      assert.isUndefined(sent.headers.authorization)
      assert.strictEqual((sent.body as Record<string, unknown>).max_tokens, 5)
      assert.strictEqual((sent.body as Record<string, unknown>).model, "qwen2.5:0.5b")
      assert.strictEqual(response.content, "Hello, world")
      assert.strictEqual(response.requestId, "chatcmpl-stream-1") // no request id header: the chunks' id
      assert.deepStrictEqual(response.usage, {
        inputTokens: Tokenizer.countRequest(request),
        outputTokens: Tokenizer.countText("Hello, world"),
        totalTokens: Tokenizer.countRequest(request) + Tokenizer.countText("Hello, world"),
        estimated: true
      })
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.live("a server that ignores stream: true and answers one JSON completion is read as one chunk", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.start(() => ({
        _tag: "Json",
        body: {
          id: "chatcmpl-json",
          object: "chat.completion",
          model: "qwen2.5:0.5b",
          choices: [{ index: 0, message: { role: "assistant", content: "Whole answer." }, finish_reason: "stop" }],
          usage: { prompt_tokens: 9, completion_tokens: 3, total_tokens: 12 }
        }
      }))
      const parts = yield* collect((yield* make(fake.origin)).stream(LlmRequest.make("hi")))
      assert.deepStrictEqual(parts.slice(0, -1), [{ type: "text-delta", text: "Whole answer." }])
      const response = finishOf(parts)
      assert.strictEqual(response.content, "Whole answer.")
      assert.deepStrictEqual(response.usage, { inputTokens: 9, outputTokens: 3, totalTokens: 12 })
      // A 200 that is neither an event stream nor a completion is unreadable.
      fake.setHandler(() => ({ _tag: "Json", body: "<html>not json</html>" }))
      const { error } = yield* partsThenError((yield* make(fake.origin)).stream(LlmRequest.make("hi")))
      assert.strictEqual(error.reason._tag, "ResponseMalformed")
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.live("Ollama's error shape { error: \"text\" } in a data line is read", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.start(() => Fake.sse([Fake.data({ error: "model \"nope\" not found, try pulling it first" })]))
      const { error } = yield* partsThenError((yield* make(fake.origin)).stream(LlmRequest.make({ prompt: "x", model: "nope" })))
      assert.strictEqual(error.reason._tag, "ServerError")
      assert.include(error.message, "try pulling it first")
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))
})
