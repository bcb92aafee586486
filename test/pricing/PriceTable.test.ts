import { assert, describe, it } from "@effect/vitest"
import { Effect, Result, Schema } from "effect"
import * as PriceTable from "../../src/pricing/PriceTable.ts"
import * as Prices from "../../src/pricing/prices.ts"
import * as Usage from "../../src/Usage.ts"

describe("PriceTable", () => {
  const table = PriceTable.make()

  it("prices the common models of every built-in provider, with the date they were taken", () => {
    for (const [provider, model] of [
      ["openai", "gpt-4o-mini"],
      ["gemini", "gemini-2.5-flash"],
      ["openrouter", "openai/gpt-4o-mini"],
      ["claude-code", "sonnet"],
      ["claude-code", "claude-sonnet-4-5"],
      ["mock", "mock-1"]
    ] as const) assert.isDefined(table.lookup(provider, model), `${provider}/${model}`)
    assert.match(table.asOf, /^\d{4}-\d{2}-\d{2}$/)
    assert.strictEqual(table.asOf, Prices.PRICES_AS_OF)
  })

  it("matches dated snapshots to their model, and knows nothing of an unknown model", () => {
    assert.deepStrictEqual(table.lookup("openai", "gpt-4o-mini-2024-07-18"), table.lookup("openai", "gpt-4o-mini"))
    assert.deepStrictEqual(table.lookup("claude-code", "claude-sonnet-4-5-20250929"), table.lookup("claude-code", "claude-sonnet-4-5"))
    assert.isUndefined(table.lookup("openai", "gpt-unknown"))
    assert.isUndefined(table.lookup("acme", "x"))
  })

  it("is overridden from config, keyed provider/model", () => {
    const custom = PriceTable.make({
      "openai/gpt-4o": { inputPerMillion: 1, outputPerMillion: 2 },
      "acme/*": { inputPerMillion: 3, outputPerMillion: 4 },
      "openrouter/meta/llama": { inputPerMillion: 5, outputPerMillion: 6 }
    })
    assert.deepStrictEqual(custom.lookup("openai", "gpt-4o"), { inputPerMillion: 1, outputPerMillion: 2 })
    assert.deepStrictEqual(custom.lookup("acme", "anything"), { inputPerMillion: 3, outputPerMillion: 4 })
    assert.deepStrictEqual(custom.lookup("openrouter", "meta/llama"), { inputPerMillion: 5, outputPerMillion: 6 })
    assert.isDefined(custom.lookup("openai", "gpt-4o-mini")) // the rest of the table stays
  })

  it("computes cost per million tokens, cached input at the cached price", () => {
    const price = { inputPerMillion: 2, outputPerMillion: 8, cachedInputPerMillion: 0.5 }
    assert.closeTo(PriceTable.costOf(price, Usage.make({ inputTokens: 1_000_000, outputTokens: 500_000 })), 6, 1e-12)
    assert.closeTo(PriceTable.costOf(price, Usage.make({ inputTokens: 1_000_000, outputTokens: 0, cachedInputTokens: 400_000 })), 1.4, 1e-12)
    assert.closeTo(PriceTable.costOfTokens({ inputPerMillion: 1, outputPerMillion: 2 }, 10, 10, 10), 30 / 1e6, 1e-15)
  })

  it("the mock has a small fake price so that cost budgets can be tested offline", () => {
    assert.deepStrictEqual(table.lookup("mock", "anything"), { inputPerMillion: 1, outputPerMillion: 2, cachedInputPerMillion: 0.5 })
  })

  it("the prices config Schema refuses a key without a provider and negative prices", () => {
    const decode = Schema.decodeUnknownResult(PriceTable.PricesConfig)
    assert.isTrue(Result.isSuccess(decode({ "openai/gpt-4o": { inputPerMillion: 1, outputPerMillion: 2, cachedInputPerMillion: 0.5 } })))
    assert.isTrue(Result.isFailure(decode({ "gpt-4o": { inputPerMillion: 1, outputPerMillion: 2 } })))
    assert.isTrue(Result.isFailure(decode({ "openai/gpt-4o": { inputPerMillion: -1, outputPerMillion: 2 } })))
  })

  it.effect("the table in use is a reference: built-in by default, replaced by layer", () =>
    Effect.gen(function*() {
      const builtin = yield* PriceTable.PriceTable
      assert.isUndefined(builtin.lookup("acme", "x"))
      const replaced = yield* Effect.provide(Effect.service(PriceTable.PriceTable), PriceTable.layer({ "acme/x": { inputPerMillion: 1, outputPerMillion: 1 } }))
      assert.isDefined(replaced.lookup("acme", "x"))
    }))
})
