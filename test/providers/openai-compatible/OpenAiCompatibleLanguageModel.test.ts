import { NodeHttpClient, NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, type Tracer } from "effect"
import * as LlmRequest from "../../../src/LlmRequest.ts"
import * as ProviderRegistry from "../../../src/ProviderRegistry.ts"
import * as OpenAiCompatibleLanguageModel from "../../../src/providers/openai-compatible/OpenAiCompatibleLanguageModel.ts"
import { attributesOf, recordingTracer, spanText } from "../../observability/helpers.ts"
import * as FakeHttpServer from "../FakeHttpServer.ts"
import { ok } from "../openai/fakeOpenAi.ts"

describe("OpenAiCompatibleLanguageModel (vLLM, Ollama, LM Studio) against a fake server", () => {
  it.live("works without a key (no Authorization header) and sends max_tokens", () =>
    Effect.gen(function*() {
      const fake = yield* FakeHttpServer.start((request) => ok(request))
      const llm = yield* OpenAiCompatibleLanguageModel.make({ baseUrl: `${fake.origin}/v1`, defaultModel: "qwen2.5:0.5b" })
      const response = yield* llm.generate(LlmRequest.make({ prompt: "hello", maxTokens: 5 }))
      const sent = fake.requests[0]!
      assert.isUndefined(sent.headers.authorization)
      assert.strictEqual((sent.body as Record<string, unknown>).max_tokens, 5)
      assert.strictEqual((sent.body as Record<string, unknown>).model, "qwen2.5:0.5b")
      assert.strictEqual(response.content, "echo: hello")
      assert.strictEqual(response.provider, "openai-compatible")
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.live("Ollama's error shape { error: \"text\" } is read", () =>
    Effect.gen(function*() {
      const fake = yield* FakeHttpServer.start(() => ({ status: 404, body: { error: "model \"nope\" not found, try pulling it first" } }))
      const llm = yield* OpenAiCompatibleLanguageModel.make({ baseUrl: `${fake.origin}/v1` })
      const error = yield* Effect.flip(llm.generate(LlmRequest.make({ prompt: "x", model: "nope" })))
      assert.strictEqual(error.reason._tag, "NotFound")
      assert.include(error.message, "try pulling it first")
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.live("a base URL with a query: the path goes before it, and the secret parameter is redacted in spans and errors", () =>
    Effect.gen(function*() {
      const fake = yield* FakeHttpServer.start(() => ({ status: 500, body: { error: { message: "boom" } } }))
      const spans: Array<Tracer.Span> = []
      const llm = yield* OpenAiCompatibleLanguageModel.make({ baseUrl: `${fake.origin}/v1/?key=QS-123&alt=json`, defaultModel: "m" })
      const error = yield* Effect.flip(llm.generate(LlmRequest.make("x"))).pipe(Effect.withTracer(recordingTracer(spans)))
      assert.strictEqual(fake.requests[0]!.url, "/v1/chat/completions?key=QS-123&alt=json")
      assert.strictEqual(error.reason._tag, "ServerError")
      const client = spans.find((span) => attributesOf(span)["url.full"] !== undefined)
      assert.isDefined(client)
      assert.notInclude(JSON.stringify(attributesOf(client!)), "QS-123")
      for (const span of spans) assert.notInclude(spanText(span), "QS-123")
      assert.notInclude(error.message, "QS-123")
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.effect("a base URL that is not http(s) is a Configuration error when the model is made, before any call", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(ProviderRegistry.create({ provider: "openai-compatible", baseUrl: "ftp://files.example/v1" }))
      assert.strictEqual(error.reason._tag, "Configuration")
      assert.include(error.message, "not a ftp:// URL")
    }).pipe(Effect.provide(
      Layer.unwrap(Effect.map(OpenAiCompatibleLanguageModel.provider, (provider) => ProviderRegistry.layer([provider]))).pipe(
        Layer.provide(Layer.mergeAll(NodeServices.layer, NodeHttpClient.layerUndici))
      )
    )))
})
