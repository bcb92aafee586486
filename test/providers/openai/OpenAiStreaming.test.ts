import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Redacted } from "effect"
import OpenAI from "openai"
import type { ChatCompletionChunk } from "openai/resources/chat/completions"
import * as LlmRequest from "../../../src/LlmRequest.ts"
import * as OpenAiSchema from "../../../src/providers/openai/internal/OpenAiSchema.ts"
import * as OpenAiLanguageModel from "../../../src/providers/openai/OpenAiLanguageModel.ts"
import * as Fake from "./FakeOpenAiServer.ts"
import { collect, finishOf, partsThenError, streamingSuite, textOf } from "./streamingSuite.ts"
import { toolsSuite } from "./toolsSuite.ts"

const KEY = "sk-test-secret-key-0123456789"

type KnownFields<T> = T extends ReadonlyArray<infer E> ? ReadonlyArray<KnownFields<E>>
  : T extends object ? { readonly [K in keyof T as string extends K ? never : K]: KnownFields<T[K]> }
  : T

const make = (origin: string, options: { readonly maxResponseBytes?: number } = {}) =>
  OpenAiLanguageModel.make({
    provider: "openai",
    baseUrl: `${origin}/v1`,
    apiKey: Redacted.make(KEY),
    defaultModel: "gpt-4o-mini",
    maxTokensField: "max_completion_tokens",
    ...options
  })

streamingSuite({ provider: "openai", path: "/v1/chat/completions", make })
toolsSuite({ provider: "openai", path: "/v1/chat/completions", make })

describe("openai: stream, what only OpenAI does", () => {
  it.live("sends the key and max_completion_tokens; the official SDK reads the same text and usage from the fake's bytes", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.start(() => Fake.sse(Fake.textStream()))
      const llm = yield* make(fake.origin)
      const parts = yield* collect(llm.stream(LlmRequest.make({ prompt: "Say hello", maxTokens: 32 })))
      const sent = fake.requests[0]!
      assert.strictEqual(sent.headers.authorization, `Bearer ${KEY}`)
      assert.strictEqual((sent.body as Record<string, unknown>).max_completion_tokens, 32)
      const ours = finishOf(parts)

      const sdk = new OpenAI({ baseURL: `${fake.origin}/v1`, apiKey: "test", maxRetries: 0 })
      const viaSdk = yield* Effect.promise(async () => {
        const stream = await sdk.chat.completions.create({
          model: "gpt-4o-mini",
          messages: [{ role: "user", content: "Say hello" }],
          stream: true,
          stream_options: { include_usage: true }
        })
        let text = ""
        let usage: ChatCompletionChunk["usage"] = undefined
        let finish: string | null | undefined
        for await (const chunk of stream) {
          text += chunk.choices[0]?.delta.content ?? ""
          finish = chunk.choices[0]?.finish_reason ?? finish
          usage = chunk.usage ?? usage
        }
        return { text, usage, finish }
      })
      assert.strictEqual(viaSdk.text, ours.content)
      assert.strictEqual(viaSdk.finish, ours.rawFinishReason)
      assert.deepStrictEqual(OpenAiLanguageModel.toUsage(viaSdk.usage), ours.usage)
      assert.deepStrictEqual((fake.requests[1]!.body as Record<string, unknown>).stream_options, { include_usage: true })
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.live("a refusal with no content fails with ContentFiltered, as generate does; a content_filter stop too", () =>
    Effect.gen(function*() {
      const refusal = [
        Fake.data(Fake.chunk({ delta: { role: "assistant", content: null, refusal: "" } })),
        Fake.data(Fake.chunk({ delta: { refusal: "I can't help " } })),
        Fake.data(Fake.chunk({ delta: { refusal: "with that." } })),
        Fake.data(Fake.chunk({ delta: {}, finish_reason: "stop" })),
        Fake.DONE
      ]
      const fake = yield* Fake.start(() => Fake.sse(refusal))
      const llm = yield* make(fake.origin)
      const refused = yield* partsThenError(llm.stream(LlmRequest.make("hi")))
      assert.deepStrictEqual(refused.parts, [])
      assert.strictEqual(refused.error.reason._tag, "ContentFiltered")
      assert.include(refused.error.message, "the model refused: I can't help with that.")
      fake.setHandler(() => Fake.sse(Fake.textStream({ texts: [], finishReason: "content_filter" })))
      const filtered = yield* partsThenError(llm.stream(LlmRequest.make("hi")))
      assert.strictEqual(filtered.error.reason._tag, "ContentFiltered")
      // Text that was streamed before the filter stopped it is an answer, cut: finish reason content-filter.
      fake.setHandler(() => Fake.sse(Fake.textStream({ texts: ["Once upon"], finishReason: "content_filter" })))
      const cut = finishOf(yield* collect(llm.stream(LlmRequest.make("hi"))))
      assert.strictEqual(cut.content, "Once upon")
      assert.strictEqual(cut.finishReason, "content-filter")
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.live("a stream only reads choice 0; a tool choice naming an undeclared tool is refused before anything is sent", () =>
    Effect.gen(function*() {
      const other = Fake.data({ ...Fake.chunk({ delta: { content: "other choice" } }), choices: [{ index: 1, delta: { content: "other choice" } }] })
      const [role, ...rest] = Fake.textStream()
      const fake = yield* Fake.start(() => Fake.sse([role!, other, ...rest]))
      const llm = yield* make(fake.origin)
      assert.strictEqual(textOf(yield* collect(llm.stream(LlmRequest.make("hi")))), "Hello, world")
      const refused = yield* partsThenError(llm.stream(LlmRequest.make({
        prompt: "weather?",
        tools: [{ name: "weather", parameters: { type: "object" } }],
        toolChoice: { tool: "forecast" }
      })))
      assert.strictEqual(refused.error.reason._tag, "InvalidRequest")
      assert.include(refused.error.message, "forecast")
      assert.strictEqual(fake.requests.length, 1)
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.live("the opening of a stream is bounded by options.timeout (Timeout, retryable), the request abandoned", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.start(() => ({ _tag: "Hang" }))
      const llm = yield* OpenAiLanguageModel.make({
        provider: "openai",
        baseUrl: `${fake.origin}/v1`,
        apiKey: Redacted.make(KEY),
        defaultModel: "gpt-4o-mini",
        timeout: "200 millis"
      })
      const { error } = yield* partsThenError(llm.stream(LlmRequest.make("hi")))
      assert.strictEqual(error.reason._tag, "Timeout")
      assert.isTrue(error.isRetryable)
      yield* fake.abandoned.pipe(Effect.timeout("10 seconds"))
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.live("the key never appears in a stream's error", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.start(() => Fake.apiError(401, `Incorrect API key provided: ${KEY}`))
      const llm = yield* make(fake.origin)
      const { error } = yield* partsThenError(llm.stream(LlmRequest.make("hi")))
      assert.strictEqual(error.reason._tag, "Authentication")
      assert.notInclude(error.message, KEY)
      fake.setHandler(() => Fake.sse([Fake.data({ error: { message: `bad key ${KEY}`, type: "invalid_api_key" } })]))
      const midStream = yield* partsThenError(llm.stream(LlmRequest.make("hi")))
      assert.strictEqual(midStream.error.reason._tag, "Authentication")
      assert.notInclude(midStream.error.message, KEY)
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it("decodes an SDK-typed chunk and keeps the fields it does not know", () => {
    const wire: ChatCompletionChunk = {
      id: "chatcmpl-1",
      object: "chat.completion.chunk",
      created: 1_700_000_000,
      model: "gpt-4o-mini",
      system_fingerprint: "fp_test",
      choices: [{
        index: 0,
        delta: {
          role: "assistant",
          content: "hi",
          refusal: null,
          tool_calls: [{ index: 0, id: "call_1", type: "function", function: { name: "f", arguments: "{}" } }]
        },
        logprobs: null,
        finish_reason: null
      }],
      usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 }
    }
    // The SDK's wire type fits our Schema's encoded side, index signatures aside (checked by tsc).
    const known: KnownFields<typeof OpenAiSchema.ChatCompletionChunk.Encoded> = wire
    const decoded = OpenAiSchema.decodeChatCompletionChunk(known)
    assert.isTrue(Exit.isSuccess(decoded))
    if (Exit.isSuccess(decoded)) {
      assert.strictEqual(decoded.value.system_fingerprint, "fp_test")
      assert.strictEqual(decoded.value.choices?.[0]?.delta?.tool_calls?.[0]?.function?.name, "f")
    }
  })
})
