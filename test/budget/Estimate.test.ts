import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Estimate from "../../src/budget/Estimate.ts"
import type { LlmRequest } from "../../src/LlmRequest.ts"
import * as MockLanguageModel from "../../src/providers/mock/MockLanguageModel.ts"

const requests: ReadonlyArray<LlmRequest> = [
  { messages: [{ role: "user", content: "hi" }] },
  { system: "You are terse.", messages: [{ role: "user", content: "Name three rivers" }, { role: "assistant", content: "Nile, Amazon, Yangtze" }, { role: "user", content: "And lakes?" }] },
  { messages: [{ role: "user", content: "日本語のテキストと emoji 🎉🎉 and code: const x = 1;\n".repeat(30) }] },
  { messages: [{ role: "user", content: "" }] }
]

describe("Estimate", () => {
  it("the byte bound is never below the exact count, for any provider", () => {
    for (const request of requests) {
      for (const provider of ["openai", "gemini", "claude-code", "some-plugin"]) {
        assert.isAtLeast(Estimate.bound(request, provider), Estimate.exact(request, provider))
      }
    }
  })

  it("adds the margin for providers whose tokenizer differs from o200k", () => {
    const request = requests[2]!
    assert.isAbove(Estimate.exact(request, "gemini"), Estimate.exact(request, "openai"))
    assert.strictEqual(Estimate.settingsFor("some-plugin"), Estimate.defaultSettings)
  })

  it.effect("the framing matches what the mock provider reports: exact = its input usage", () =>
    Effect.gen(function*() {
      const { model } = yield* MockLanguageModel.make({ reply: "ok" })
      for (const request of requests) {
        const response = yield* model.generate(request)
        assert.strictEqual(Estimate.exact(request, "mock"), response.usage.inputTokens)
      }
    }))
})
