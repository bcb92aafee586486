import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import OpenAI from "openai"
import * as LlmRequest from "../../../src/LlmRequest.ts"
import * as OpenRouterLanguageModel from "../../../src/providers/openrouter/OpenRouterLanguageModel.ts"
import * as FakeHttpServer from "../FakeHttpServer.ts"
import { completionBody } from "../openai/fakeOpenAi.ts"

const KEY = "sk-or-v1-test-0123456789"

const withCost = (request: FakeHttpServer.Recorded): FakeHttpServer.Reply => ({
  headers: { "x-request-id": "gen-or-1" },
  body: completionBody(request, {
    provider: "Anthropic",
    usage: { prompt_tokens: 14, completion_tokens: 6, total_tokens: 20, cost: 0.000123, is_byok: false }
  })
})

describe("OpenRouterLanguageModel against a fake server", () => {
  it.live("sends the attribution headers, the prefixed model and usage accounting; keeps the provider's cost", () =>
    Effect.gen(function*() {
      const fake = yield* FakeHttpServer.start(withCost)
      const llm = yield* OpenRouterLanguageModel.make({
        apiKey: Redacted.make(KEY),
        baseUrl: `${fake.origin}/api/v1`,
        referer: "https://myapp.example",
        title: "My App"
      })
      const response = yield* llm.generate(LlmRequest.make({ prompt: "Name a river", model: "anthropic/claude-3.5-haiku", maxTokens: 20 }))
      const sent = fake.requests[0]!
      assert.strictEqual(sent.url, "/api/v1/chat/completions")
      assert.strictEqual(sent.headers.authorization, `Bearer ${KEY}`)
      assert.strictEqual(sent.headers["http-referer"], "https://myapp.example")
      assert.strictEqual(sent.headers["x-title"], "My App")
      const body = sent.body as Record<string, unknown>
      assert.strictEqual(body.model, "anthropic/claude-3.5-haiku")
      assert.strictEqual(body.max_tokens, 20)
      assert.deepStrictEqual(body.usage, { include: true })
      assert.deepStrictEqual(response.cost, { usd: 0.000123, source: "provider" })
      assert.deepStrictEqual(response.usage, { inputTokens: 14, outputTokens: 6, totalTokens: 20 })
      assert.strictEqual(response.provider, "openrouter")
      assert.strictEqual(response.requestId, "gen-or-1")

      // The official SDK against the same fake reads the same content and usage.
      const sdk = new OpenAI({ baseURL: `${fake.origin}/api/v1`, apiKey: "test", maxRetries: 0 })
      const viaSdk = yield* Effect.promise(() =>
        sdk.chat.completions.create({ model: "anthropic/claude-3.5-haiku", messages: [{ role: "user", content: "Name a river" }] })
      )
      assert.strictEqual(viaSdk.choices[0]!.message.content, response.content)
      assert.strictEqual(viaSdk.usage?.prompt_tokens, response.usage.inputTokens)
      assert.strictEqual(viaSdk.usage?.completion_tokens, response.usage.outputTokens)
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.live("without attribution, no attribution headers; without a reported cost, no cost", () =>
    Effect.gen(function*() {
      const fake = yield* FakeHttpServer.start((request) => ({ body: completionBody(request) }))
      const llm = yield* OpenRouterLanguageModel.make({ apiKey: Redacted.make(KEY), baseUrl: `${fake.origin}/api/v1` })
      const response = yield* llm.generate(LlmRequest.make("x"))
      assert.isUndefined(fake.requests[0]!.headers["http-referer"])
      assert.isUndefined(fake.requests[0]!.headers["x-title"])
      assert.isUndefined(response.cost)
      assert.strictEqual(response.model, "openai/gpt-4o-mini") // the default, provider-prefixed
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.live("402 (out of credits) -> PermissionDenied, not retried", () =>
    Effect.gen(function*() {
      const fake = yield* FakeHttpServer.start(() => ({
        status: 402,
        body: { error: { code: 402, message: "Insufficient credits. Add more using https://openrouter.ai/credits" } }
      }))
      const llm = yield* OpenRouterLanguageModel.make({ apiKey: Redacted.make(KEY), baseUrl: `${fake.origin}/api/v1` })
      const error = yield* Effect.flip(llm.generate(LlmRequest.make("x")))
      assert.strictEqual(error.reason._tag, "PermissionDenied")
      assert.isFalse(error.isRetryable)
      assert.strictEqual(fake.requests.length, 1)
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))
})
