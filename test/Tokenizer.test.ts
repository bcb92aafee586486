import { assert, describe, it } from "@effect/vitest"
import * as Tokenizer from "../src/Tokenizer.ts"
import * as Usage from "../src/Usage.ts"

const texts = ["hello world", "Ünïcödé — 東京 🎉", "{\"a\": [1, 2, 3]}", "const x = (a: number) => a * 2", ""]

describe("Tokenizer", () => {
  it("counts text with the BPE tokenizer", () => {
    assert.strictEqual(Tokenizer.countText(""), 0)
    assert.strictEqual(Tokenizer.countText("hello world"), 2)
  })

  it("counts a request with chat framing", () => {
    const request = { system: "s", messages: [{ role: "user" as const, content: "hello world" }] }
    assert.strictEqual(
      Tokenizer.countRequest(request),
      Tokenizer.REQUEST_FRAMING_TOKENS + 2 * Tokenizer.MESSAGE_FRAMING_TOKENS + Tokenizer.countText("s") + 2
    )
  })

  it.each(texts)("the byte bound is never below the exact count: %j", (text) => {
    const request = { system: text, messages: [{ role: "user" as const, content: text }] }
    assert.isAtLeast(Tokenizer.boundRequest(request), Tokenizer.countRequest(request))
  })
})

describe("Usage", () => {
  it("make computes the total and keeps optional parts", () => {
    assert.deepStrictEqual(Usage.make({ inputTokens: 3, outputTokens: 4, cachedInputTokens: 1, estimated: true }), {
      inputTokens: 3,
      outputTokens: 4,
      totalTokens: 7,
      cachedInputTokens: 1,
      estimated: true
    })
  })

  it("add sums every part", () => {
    const sum = Usage.add(
      Usage.make({ inputTokens: 1, outputTokens: 2, reasoningTokens: 1 }),
      Usage.make({ inputTokens: 3, outputTokens: 4, estimated: true })
    )
    assert.deepStrictEqual(sum, { inputTokens: 4, outputTokens: 6, totalTokens: 10, reasoningTokens: 1, estimated: true })
    assert.deepStrictEqual(Usage.add(Usage.empty, Usage.empty), Usage.empty)
  })
})
