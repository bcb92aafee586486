import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as LlmRequest from "../../../src/LlmRequest.ts"
import * as OpenAiCompatibleLanguageModel from "../../../src/providers/openai-compatible/OpenAiCompatibleLanguageModel.ts"
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
})
