import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as BudgetStore from "../../src/budget/BudgetStore.ts"
import * as BudgetTracker from "../../src/budget/BudgetTracker.ts"
import * as RunBudget from "../../src/workflow/internal/runBudget.ts"

describe("RunBudget", () => {
  it.effect("a run's budget and its steps' are closed with the run: the store returns to the configuration's budget", () =>
    Effect.gen(function*() {
      const store = yield* BudgetStore.makeMemory
      const parent = yield* BudgetTracker.make({ totalTokens: 100_000 }).pipe(Effect.provideService(BudgetStore.BudgetStore, store))
      for (let run = 0; run < 50; run++) {
        const budget = yield* RunBudget.make({ totalTokens: 5_000 }, [], "wf", parent)
        const step = yield* budget.forStep("a", { totalTokens: 1_000 })
        const shared = yield* budget.forStep("b", undefined)
        assert.isDefined(step)
        assert.strictEqual(shared, budget.tracker)
        assert.strictEqual(yield* store.size, 3)
        yield* budget.close
        assert.strictEqual(yield* store.size, 1)
      }
      // Without a run budget, a step's own is still closed; the configuration's stays.
      const unbudgeted = yield* RunBudget.make(undefined, [], "wf", parent)
      yield* unbudgeted.forStep("a", { totalTokens: 1_000 })
      yield* unbudgeted.close
      assert.strictEqual(yield* store.size, 1)
      assert.deepStrictEqual(yield* store.chain(parent.id).pipe(Effect.map((chain) => chain.length)), 1)
    }))

  it.effect("closing a run's budgets twice changes nothing", () =>
    Effect.gen(function*() {
      const store = yield* BudgetStore.makeMemory
      const parent = yield* BudgetTracker.make({ totalTokens: 100_000 }).pipe(Effect.provideService(BudgetStore.BudgetStore, store))
      const budget = yield* RunBudget.make({ totalTokens: 5_000 }, [], "wf", parent)
      // Closing twice (the run's end after an explicit close) changes nothing.
      yield* budget.close
      yield* budget.close
      assert.strictEqual(yield* store.size, 1)
    }))
})
