import { assert, describe, it } from "@effect/vitest"
import { Schema } from "effect"
import * as Usage from "../src/Usage.ts"

describe("Usage: the prompt cache's writes", () => {
  it("make keeps cacheWriteInputTokens beside the cache reads, both parts of inputTokens", () => {
    const usage = Usage.make({ inputTokens: 35, outputTokens: 9, cachedInputTokens: 10, cacheWriteInputTokens: 4 })
    assert.deepStrictEqual(usage, { inputTokens: 35, outputTokens: 9, totalTokens: 44, cachedInputTokens: 10, cacheWriteInputTokens: 4 })
    assert.deepStrictEqual(Schema.decodeUnknownSync(Usage.Usage)(usage), usage)
  })

  it("add sums the writes (absent on both sides stays absent)", () => {
    const sum = Usage.add(
      Usage.make({ inputTokens: 10, outputTokens: 1, cacheWriteInputTokens: 4 }),
      Usage.make({ inputTokens: 20, outputTokens: 2, cacheWriteInputTokens: 6, cachedInputTokens: 3 })
    )
    assert.deepStrictEqual(sum, { inputTokens: 30, outputTokens: 3, totalTokens: 33, cachedInputTokens: 3, cacheWriteInputTokens: 10 })
    assert.isFalse("cacheWriteInputTokens" in Usage.add(Usage.make({ inputTokens: 1, outputTokens: 1 }), Usage.empty))
  })
})
