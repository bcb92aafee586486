import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as BudgetTracker from "../../src/budget/BudgetTracker.ts"
import * as Money from "../../src/pricing/Money.ts"
import * as PriceTable from "../../src/pricing/PriceTable.ts"
import * as Usage from "../../src/Usage.ts"

describe("Money", () => {
  it("holds the per-token price of the cheapest models: pico-USD per token, cost rounded up to the nano-USD", () => {
    assert.strictEqual(Money.picoPerToken(0.075), 75_000)
    assert.strictEqual(Money.picoPerToken(1.1), 1_100_000)
    // $0.075 per million is 0.075 micro-USD a token (75 nano-USD); $0.0375 is 37.5 nano-USD:
    // one token is charged 38, two exactly 75
    assert.strictEqual(Money.ofTokens({ inputPerMillion: 0.0375, outputPerMillion: 0.3 }, 1, 0), 38)
    assert.strictEqual(Money.ofTokens({ inputPerMillion: 0.0375, outputPerMillion: 0.3 }, 2, 0), 75)
    // 1 input + 2 output at $0.15 / $0.60: 150 + 1200 nano-USD (floating point: 0.0000013499999999999998)
    assert.strictEqual(Money.ofTokens({ inputPerMillion: 0.15, outputPerMillion: 0.6 }, 1, 2), 1_350)
    assert.strictEqual(PriceTable.costOfTokens({ inputPerMillion: 0.15, outputPerMillion: 0.6 }, 1, 2), 0.00000135)
    // cached input at its own price
    assert.strictEqual(Money.ofTokens({ inputPerMillion: 2.5, outputPerMillion: 10, cachedInputPerMillion: 1.25 }, 100, 0, 40), 60 * 2_500 + 40 * 1_250)
  })

  it("converts at the edges: USD to the nearest nano-USD, nano-USD to the number that prints as its decimal", () => {
    assert.strictEqual(Money.fromUsd(0.02), 20_000_000)
    assert.strictEqual(Money.fromUsd(0.1 + 0.2), 300_000_000)
    assert.strictEqual(JSON.stringify(Money.toUsd(140_000)), "0.00014")
    assert.strictEqual(Money.toUsd(Money.add(Money.fromUsd(0.1), Money.fromUsd(0.2))), 0.3)
  })

  it("formats every nano-USD, with at least six decimals", () => {
    assert.strictEqual(Money.format(140_000), "$0.000140")
    assert.strictEqual(Money.format(75), "$0.000000075")
    assert.strictEqual(Money.format(1_250_000_000), "$1.250000")
    assert.strictEqual(Money.format(0), "$0.000000")
  })

  it.effect("a budget's reserved cost returns to exactly 0 and consumed is the exact sum (no 0.1 + 0.2 residue)", () =>
    Effect.gen(function*() {
      const tracker = yield* BudgetTracker.make({ costUsd: 1_000 })
      // Each reservation holds over $1 (1,000 output tokens at $1,000 per million): room for any reported cost.
      const price = { inputPerMillion: 0.15, outputPerMillion: 1_000 }
      const reported = [0.1, 0.2, 0.00014, 0.3, 0.0000013]
      let expected = 0
      for (let call = 0; call < 500; call++) {
        const usd = reported[call % reported.length]!
        const reservation = yield* tracker.reserve({
          request: { messages: [{ role: "user", content: "x".repeat(1 + (call % 37)) }], maxTokens: 1_000 + (call % 11) },
          provider: "acme",
          model: "acme-1",
          price
        })
        yield* tracker.commit(reservation, { usage: Usage.make({ inputTokens: 3, outputTokens: 1 }), costUsd: usd })
        expected += Money.fromUsd(usd)
      }
      const snapshot = yield* tracker.snapshot
      assert.strictEqual(snapshot.reserved.costUsd, 0)
      assert.strictEqual(snapshot.consumed.costUsd, Money.toUsd(expected))
      assert.strictEqual(snapshot.consumed.costUsd, 60.01413)
    }))
})
