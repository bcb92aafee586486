import { assert, describe, it } from "@effect/vitest"
import * as PriceTable from "../../../src/pricing/PriceTable.ts"
import * as AnthropicLanguageModel from "../../../src/providers/anthropic/AnthropicLanguageModel.ts"
import * as Usage from "../../../src/Usage.ts"

describe("Claude prices for the anthropic provider", () => {
  const table = PriceTable.make()

  it("the default model and the current Claude models are priced (USD per million: input, output, cache reads)", () => {
    const rows: ReadonlyArray<readonly [string, number, number, number]> = [
      [AnthropicLanguageModel.DEFAULT_MODEL, 1, 5, 0.1],
      ["claude-sonnet-4-5", 3, 15, 0.3],
      ["claude-opus-4-5", 5, 25, 0.5],
      ["claude-opus-4-1", 15, 75, 1.5]
    ]
    for (const [model, input, output, cached] of rows) {
      assert.deepStrictEqual(table.lookup("anthropic", model), { inputPerMillion: input, outputPerMillion: output, cachedInputPerMillion: cached }, model)
    }
  })

  it("a dated model id is priced as its alias; claude-code prices the same models alike", () => {
    assert.deepStrictEqual(table.lookup("anthropic", "claude-haiku-4-5-20251001"), table.lookup("anthropic", "claude-haiku-4-5"))
    assert.deepStrictEqual(table.lookup("anthropic", "claude-opus-4-5-20251101"), table.lookup("anthropic", "claude-opus-4-5"))
    assert.deepStrictEqual(table.lookup("claude-code", "claude-sonnet-4-5"), table.lookup("anthropic", "claude-sonnet-4-5"))
  })

  it("cache reads are charged at the cached price, cache writes at the input price", () => {
    const price = table.lookup("anthropic", "claude-haiku-4-5")!
    const usage = Usage.make({ inputTokens: 1_000_000, outputTokens: 0, cachedInputTokens: 500_000, cacheWriteInputTokens: 200_000 })
    // 500k uncached (incl. the 200k written) at $1 + 500k read at $0.10
    assert.closeTo(PriceTable.costOf(price, usage), 0.55, 1e-9)
  })
})
