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

describe("Tokenizer: bounded work on hostile input", () => {
  const cjk = (length: number) => {
    let text = ""
    for (let index = 0; index < length; index++) text += String.fromCharCode(0x4e00 + ((index * 7919) % 20_000))
    return text
  }

  it("a long run without whitespace is cut before BPE: the count of a repeated letter is unchanged", () => {
    // 10,000 "x" were 150 ms in one BPE piece (quadratic); cut into runs, the same 1,250 tokens.
    assert.strictEqual(Tokenizer.countText("x".repeat(10_000)), 1_250)
    assert.strictEqual(Tokenizer.countText("x".repeat(Tokenizer.MAX_RUN * 3 + 5)), Tokenizer.countText("x".repeat(Tokenizer.MAX_RUN * 3 + 5)))
  })

  it("10 MB without whitespace is counted, as an upper bound past the exact limit", { timeout: 10_000 }, () => {
    const text = "x".repeat(10_000_000)
    const count = Tokenizer.countText(text)
    // The first EXACT_LIMIT_BYTES exactly (8 "x" a token), every byte after it one token.
    assert.strictEqual(count, Tokenizer.EXACT_LIMIT_BYTES / 8 + (10_000_000 - Tokenizer.EXACT_LIMIT_BYTES))
    assert.isAtMost(count, Buffer.byteLength(text))
  })

  it("1 MB of CJK is counted within the byte bound, surrogate pairs never split", { timeout: 10_000 }, () => {
    const text = cjk(350_000)
    const count = Tokenizer.countText(text)
    assert.isAtMost(count, Buffer.byteLength(text, "utf8"))
    assert.isAbove(count, text.length / 3)
    const emoji = "\u{1F600}".repeat(1_000)
    assert.isAtMost(Tokenizer.countText(emoji), Buffer.byteLength(emoji, "utf8"))
  })

  it("the texts of one request share one exact allowance, and the count stays within the byte bound", () => {
    const big = "y".repeat(Tokenizer.EXACT_LIMIT_BYTES)
    const request = { messages: [{ role: "user" as const, content: big }, { role: "user" as const, content: big }] }
    const counted = Tokenizer.countRequest(request)
    assert.isAtMost(counted, Tokenizer.boundRequest(request))
    // The second message is past the allowance: a token a byte.
    assert.strictEqual(counted, Tokenizer.REQUEST_FRAMING_TOKENS + 2 * Tokenizer.MESSAGE_FRAMING_TOKENS + Tokenizer.countText(big) + big.length)
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
