import { assert, describe, it } from "@effect/vitest"
import { Effect, HashMap, Layer, Ref } from "effect"
import * as BudgetLanguageModel from "../../src/budget/BudgetLanguageModel.ts"
import * as BudgetState from "../../src/budget/BudgetState.ts"
import * as BudgetStore from "../../src/budget/BudgetStore.ts"
import * as BudgetTracker from "../../src/budget/BudgetTracker.ts"
import * as LanguageModel from "../../src/LanguageModel.ts"
import * as MockLanguageModel from "../../src/providers/mock/MockLanguageModel.ts"
import * as Usage from "../../src/Usage.ts"

const ask = (text: string, maxTokens = 50): BudgetTracker.Ask => ({
  request: { messages: [{ role: "user", content: text }], maxTokens },
  provider: "mock",
  model: "mock-1",
  price: undefined
})

/** A memory store that counts the operations it is asked to run. */
const counting = Effect.gen(function*() {
  const inner = yield* BudgetStore.makeMemory
  const counts = { create: 0, reserve: 0, settle: 0 }
  const store: BudgetStore.Service = {
    ...inner,
    create: (budget) => Effect.andThen(Effect.sync(() => counts.create++), inner.create(budget)),
    reserve: (budgetId, request) => Effect.andThen(Effect.sync(() => counts.reserve++), inner.reserve(budgetId, request)),
    settle: (reservationId, actual) => Effect.andThen(Effect.sync(() => counts.settle++), inner.settle(reservationId, actual))
  }
  return { store, counts }
})

describe("BudgetStore", () => {
  it.effect("a tracker keeps its figures in the store in context; a child lives in its parent's store", () =>
    Effect.gen(function*() {
      const ref = yield* Ref.make(BudgetState.emptyState())
      const root = yield* BudgetTracker.make({ totalTokens: 1_000 }).pipe(
        Effect.provideService(BudgetStore.BudgetStore, BudgetStore.fromRef(ref))
      )
      // The child is made without the store in context: it still lives in its parent's.
      const child = yield* root.child({ totalTokens: 400 }, "agent")
      const reservation = yield* child.reserve(ask("hello"))
      const held = yield* Ref.get(ref)
      assert.deepStrictEqual(HashMap.toValues(held.nodes).map((node) => [node.id, node.parent, node.label, node.open]), [
        [root.id, null, "root", 1],
        [child.id, root.id, "agent", 1]
      ])
      assert.deepStrictEqual(HashMap.toEntries(held.reservations).map(([, record]) => [record.id, record.budget]), [
        [reservation.id, child.id]
      ])
      yield* child.commit(reservation, { usage: Usage.make({ inputTokens: 5, outputTokens: 20 }), costUsd: 0 })
      const settled = yield* Ref.get(ref)
      assert.strictEqual(HashMap.size(settled.reservations), 0)
      assert.deepStrictEqual(HashMap.toValues(settled.nodes).map((node) => [node.consumed.totalTokens, node.reserved.totalTokens, node.open]), [
        [25, 0, 0],
        [25, 0, 0]
      ])
    }))

  it.effect("without a store in context, each root budget gets a memory store of its own", () =>
    Effect.gen(function*() {
      const first = yield* BudgetTracker.make({ totalTokens: 100 })
      const second = yield* BudgetTracker.make({ totalTokens: 100 })
      yield* first.reserve(ask("a", 80))
      assert.strictEqual((yield* second.snapshot).reserved.totalTokens, 0)
      const reservation = yield* second.reserve(ask("b", 80))
      assert.strictEqual(reservation.amounts.outputTokens, 80)
    }))

  it.effect("a stack's budget runs through the store provided from outside", () =>
    Effect.gen(function*() {
      const { counts, store } = yield* counting
      const model = BudgetLanguageModel.layerConfig({ budget: { totalTokens: 10_000 } }).pipe(
        Layer.provide(MockLanguageModel.layer({ reply: "ok" })),
        Layer.provide(Layer.succeed(BudgetStore.BudgetStore, store))
      )
      yield* Effect.gen(function*() {
        yield* LanguageModel.generate("one")
        yield* LanguageModel.generate("two")
      }).pipe(Effect.provide(model))
      assert.deepStrictEqual(counts, { create: 1, reserve: 2, settle: 2 })
    }))

  it.effect("settling an id the store did not issue, or has settled, changes nothing", () =>
    Effect.gen(function*() {
      const ref = yield* Ref.make(BudgetState.emptyState())
      const store = BudgetStore.fromRef(ref)
      const budget = yield* store.create({
        parent: null,
        label: "root",
        limits: { inputTokens: null, outputTokens: null, totalTokens: 100, costNanos: null },
        startedAt: 0,
        deadlineAt: null
      })
      assert.strictEqual(budget, "b0")
      const granted = yield* store.reserve("b0", {
        inputTokens: 10,
        maxTokens: 20,
        defaultMaxTokens: 20,
        price: undefined,
        provider: "mock",
        model: "mock-1",
        now: 0
      })
      assert.strictEqual(granted._tag, "Granted")
      const open = yield* Ref.get(ref)
      for (const id of ["r2", "r01", "x1", "", "b0"]) {
        assert.deepStrictEqual(yield* store.settle(id, undefined), [])
        assert.strictEqual(yield* Ref.get(ref), open)
      }
      assert.deepStrictEqual(yield* store.reserve("b7", {
        inputTokens: 1,
        maxTokens: 1,
        defaultMaxTokens: 1,
        price: undefined,
        provider: "mock",
        model: "mock-1",
        now: 0
      }), { _tag: "Missing", budgetId: "b7" })
    }))
})
