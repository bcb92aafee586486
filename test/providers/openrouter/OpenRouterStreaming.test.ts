import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import * as LlmRequest from "../../../src/LlmRequest.ts"
import * as OpenRouterLanguageModel from "../../../src/providers/openrouter/OpenRouterLanguageModel.ts"
import * as Fake from "../openai/FakeOpenAiServer.ts"
import { collect, finishOf, partsThenError, streamingSuite, textOf } from "../openai/streamingSuite.ts"
import { toolsSuite } from "../openai/toolsSuite.ts"

const KEY = "sk-or-v1-test-0123456789"

const make = (origin: string, options: { readonly maxResponseBytes?: number } = {}) =>
  OpenRouterLanguageModel.make({ apiKey: Redacted.make(KEY), baseUrl: `${origin}/api/v1`, title: "My App", ...options })

streamingSuite({ provider: "openrouter", path: "/api/v1/chat/completions", make })
toolsSuite({ provider: "openrouter", path: "/api/v1/chat/completions", make })

describe("openrouter: stream, what only OpenRouter does", () => {
  it.live("asks for usage accounting and keeps the cost it reports in the last chunk; attribution headers sent", () =>
    Effect.gen(function*() {
      const usage = { prompt_tokens: 14, completion_tokens: 6, total_tokens: 20, cost: 0.000123, is_byok: false }
      const fake = yield* Fake.start(() =>
        Fake.sse([": OPENROUTER PROCESSING\n\n", ...Fake.textStream({ usage })], { headers: { "x-openrouter-request-id": "gen-or-1" } })
      )
      const parts = yield* collect((yield* make(fake.origin)).stream(LlmRequest.make({ prompt: "Name a river", model: "anthropic/claude-3.5-haiku" })))
      const sent = fake.requests[0]!
      assert.strictEqual(sent.headers.authorization, `Bearer ${KEY}`)
      assert.strictEqual(sent.headers["x-title"], "My App")
      const body = sent.body as Record<string, unknown>
      assert.deepStrictEqual(body.usage, { include: true })
      assert.deepStrictEqual(body.stream_options, { include_usage: true })
      assert.strictEqual(body.model, "anthropic/claude-3.5-haiku")
      const response = finishOf(parts)
      assert.strictEqual(textOf(parts), "Hello, world")
      assert.deepStrictEqual(response.cost, { usd: 0.000123, source: "provider" })
      assert.deepStrictEqual(response.usage, { inputTokens: 14, outputTokens: 6, totalTokens: 20 })
      assert.strictEqual(response.requestId, "gen-or-1")
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.live("an upstream provider failing mid-stream (an error chunk, finish_reason error) fails with its reason", () =>
    Effect.gen(function*() {
      const [role, first] = Fake.textStream()
      const failed = Fake.data(Fake.chunk(
        { delta: { content: "" }, finish_reason: "error" },
        { provider: "Anthropic", error: { code: 502, message: "Provider disconnected unexpectedly" } }
      ))
      const fake = yield* Fake.start(() => Fake.sse([role!, first!, failed, Fake.DONE]))
      const { error, parts } = yield* partsThenError((yield* make(fake.origin)).stream(LlmRequest.make("hi")))
      assert.strictEqual(textOf(parts), "Hel")
      assert.strictEqual(error.reason._tag, "ServerError")
      assert.isTrue(error.isRetryable)
      assert.strictEqual(error.provider, "openrouter")
      assert.include(error.message, "Provider disconnected unexpectedly")

      fake.setHandler(() => Fake.sse([role!, Fake.data({ error: { code: "server_error", message: "overloaded upstream" } })]))
      const typed = yield* partsThenError((yield* make(fake.origin)).stream(LlmRequest.make("hi")))
      assert.strictEqual(typed.error.reason._tag, "ServerError")
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.live("402 (out of credits) before the stream opens -> PermissionDenied, not retryable", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.start(() => Fake.apiError(402, "Insufficient credits", { code: 402 }))
      const { error } = yield* partsThenError((yield* make(fake.origin)).stream(LlmRequest.make("hi")))
      assert.strictEqual(error.reason._tag, "PermissionDenied")
      assert.isFalse(error.isRetryable)
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))
})
