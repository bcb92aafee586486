/**
 * Live calls to the real providers: run with `npm run test:live`. Each provider runs only when
 * its key is set in the environment (and, for openai-compatible, `OPENAI_COMPATIBLE_BASE_URL`);
 * the others are reported as skipped. One short call each, at most 16 output tokens.
 * Not part of `npm test` (vitest.config.ts excludes test/live/).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as LlmRequest from "../../src/LlmRequest.ts"
import * as NodeProviders from "../../src/node/NodeProviders.ts"
import * as ProviderRegistry from "../../src/ProviderRegistry.ts"

const env = (name: string): string | undefined => {
  const value = process.env[name]
  return value === undefined || value.trim() === "" ? undefined : value
}

const cases = [
  { provider: "openai", ready: env("OPENAI_API_KEY") !== undefined, model: env("OPENAI_MODEL") },
  { provider: "openrouter", ready: env("OPENROUTER_API_KEY") !== undefined, model: env("OPENROUTER_MODEL") },
  { provider: "gemini", ready: env("GEMINI_API_KEY") !== undefined || env("GOOGLE_API_KEY") !== undefined, model: env("GEMINI_MODEL") },
  {
    provider: "openai-compatible",
    ready: env("OPENAI_COMPATIBLE_BASE_URL") !== undefined,
    model: env("OPENAI_COMPATIBLE_MODEL"),
    baseUrl: env("OPENAI_COMPATIBLE_BASE_URL")
  }
] as const

describe("live providers", () => {
  for (const testCase of cases) {
    it.live.skipIf(!testCase.ready)(`${testCase.provider}: a short real call returns text and usage`, () =>
      Effect.gen(function*() {
        const model = yield* ProviderRegistry.create({
          provider: testCase.provider,
          ...(testCase.model !== undefined ? { model: testCase.model } : {}),
          ...("baseUrl" in testCase && testCase.baseUrl !== undefined ? { baseUrl: testCase.baseUrl } : {})
        })
        const response = yield* model.generate(LlmRequest.make({
          prompt: "Reply with the single word: pong",
          maxTokens: 16,
          temperature: 0
        }))
        assert.strictEqual(response.provider, testCase.provider)
        assert.isAbove(response.content.trim().length, 0)
        assert.isAbove(response.usage.inputTokens, 0)
        assert.isAbove(response.usage.totalTokens, response.usage.inputTokens - 1)
        assert.isAtLeast(response.latencyMs, 0)
        console.log(`${testCase.provider}: ${JSON.stringify(response.content)} (${response.model}, ${response.usage.totalTokens} tokens)`)
      }).pipe(Effect.provide(NodeProviders.layer)))
  }
})
