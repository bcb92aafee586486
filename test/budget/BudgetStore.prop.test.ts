import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, HashMap, Ref, Schema } from "effect"
import * as BudgetState from "../../src/budget/BudgetState.ts"
import * as BudgetStore from "../../src/budget/BudgetStore.ts"
import * as BudgetTracker from "../../src/budget/BudgetTracker.ts"
import * as PriceTable from "../../src/pricing/PriceTable.ts"
import * as Usage from "../../src/Usage.ts"

const between = (minimum: number, maximum: number) => Schema.Int.check(Schema.isBetween({ minimum, maximum }))

/** One step of a run: what a program does to its budgets. */
const Step = Schema.Union([
  Schema.TaggedStruct("Reserve", { budget: between(0, 9), chars: between(1, 300), maxTokens: between(1, 400) }),
  Schema.TaggedStruct("Commit", {
    reservation: between(0, 99),
    input: between(0, 300),
    output: between(0, 500),
    conversation: Schema.optionalKey(between(0, 2))
  }),
  Schema.TaggedStruct("Release", { reservation: between(0, 99) }),
  Schema.TaggedStruct("Child", { budget: between(0, 9), totalTokens: between(100, 5_000) }),
  Schema.TaggedStruct("Cumulative", { budget: between(0, 9), conversation: between(0, 2), tokens: between(0, 600) }),
  Schema.TaggedStruct("Close", { budget: between(1, 9) })
])
type Step = typeof Step.Type

const Steps = Schema.Array(Step).check(Schema.isMinLength(1), Schema.isMaxLength(80))

const price = PriceTable.make().lookup("mock", "mock-1")!
const StateJson = Schema.toCodecJson(BudgetState.State)
const encode = Schema.encodeSync(StateJson)
const decode = Schema.decodeUnknownSync(StateJson)

/** The state as plain data, its maps as sorted entries (written without the Schema). */
const plain = (state: BudgetState.State) => ({
  nodes: HashMap.toEntries(state.nodes).sort(([a], [b]) => a - b)
    .map(([key, node]) => [key, { ...node, conversations: HashMap.toEntries(node.conversations).sort() }]),
  budgets: state.budgets,
  reservations: HashMap.toEntries(state.reservations).sort(([a], [b]) => a - b),
  sequence: state.sequence
})

/** The state written as JSON text and read back is the same state. */
const roundTrips = (state: BudgetState.State) => {
  const back = decode(JSON.parse(JSON.stringify(encode(state))))
  assert.deepStrictEqual(plain(back), plain(state))
}

/**
 * Runs `steps` on a root budget in `store` and returns its state after every step (and after the
 * final settlements and closes), checking on the way that each state survives JSON, that settling
 * a reservation twice changes nothing, and that closed budgets leave the store.
 */
const program = (steps: ReadonlyArray<Step>, store: BudgetStore.Service, stateOf: Effect.Effect<BudgetState.State>) =>
      Effect.gen(function*() {
        const states: Array<BudgetState.State> = []
        const root = yield* BudgetTracker.make({ totalTokens: 20_000, outputTokens: 8_000, costUsd: 0.05 }, { defaultMaxTokens: 200 }).pipe(
          Effect.provideService(BudgetStore.BudgetStore, store)
        )
        const budgets: Array<BudgetTracker.Service> = [root]
        const reservations: Array<{ readonly tracker: BudgetTracker.Service; readonly reservation: BudgetTracker.Reservation }> = []

        // Settles a reservation, then settles it again (with other figures): the second time
        // must leave the store's state exactly as it was and report nothing.
        const settleTwice = (pick: number, settle: (entry: (typeof reservations)[number]) => Effect.Effect<unknown>) =>
          Effect.gen(function*() {
            const entry = reservations[pick % Math.max(1, reservations.length)]
            if (entry === undefined) return
            yield* settle(entry)
            const settled = yield* stateOf
            const again = yield* entry.tracker.commit(entry.reservation, { usage: Usage.make({ inputTokens: 999, outputTokens: 999 }), costUsd: 1 })
            assert.deepStrictEqual(again, [])
            yield* entry.tracker.release(entry.reservation)
            assert.deepStrictEqual(plain(yield* stateOf), plain(settled))
          })

        const run = (step: Step): Effect.Effect<void> => {
          const tracker = budgets[("budget" in step ? step.budget : 0) % budgets.length]!
          switch (step._tag) {
            case "Reserve":
              return Effect.flatMap(
                Effect.exit(tracker.reserve({
                  request: { messages: [{ role: "user", content: "x".repeat(step.chars) }], maxTokens: step.maxTokens },
                  provider: "mock",
                  model: "mock-1",
                  price
                })),
                (exit) => Effect.sync(() => (Exit.isSuccess(exit) ? reservations.push({ tracker, reservation: exit.value }) : undefined))
              )
            case "Commit":
              return settleTwice(step.reservation, ({ reservation, tracker: owner }) => {
                const usage = Usage.make({ inputTokens: step.input, outputTokens: step.output })
                return owner.commit(reservation, {
                  usage,
                  costUsd: PriceTable.costOf(price, usage),
                  ...(step.conversation !== undefined ? { conversationId: `c${step.conversation}` } : {})
                })
              })
            case "Release":
              return settleTwice(step.reservation, ({ reservation, tracker: owner }) => owner.release(reservation))
            case "Child":
              return Effect.flatMap(
                Effect.exit(tracker.child({ totalTokens: step.totalTokens }, `child${budgets.length}`)),
                (exit) => Effect.sync(() => (Exit.isSuccess(exit) ? budgets.push(exit.value) : undefined))
              )
            case "Close": {
              // A closed budget is not used again; its open reservations are settled later, its
              // children go on: it leaves the store with the last of them.
              if (budgets.length < 2) return Effect.void
              const index = 1 + (step.budget % (budgets.length - 1))
              const closed = budgets[index]!
              budgets.splice(index, 1)
              return closed.close
            }
            case "Cumulative": {
              const usage = Usage.make({ inputTokens: step.tokens, outputTokens: step.tokens })
              return Effect.asVoid(tracker.recordCumulative(`c${step.conversation}`, usage, {
                costUsd: PriceTable.costOf(price, usage),
                provider: "mock",
                model: "mock-1"
              }))
            }
          }
        }

        for (const step of steps) {
          yield* run(step)
          const state = yield* stateOf
          roundTrips(state)
          states.push(state)
        }
        // Whatever is still open is settled once; then nothing is held anywhere.
        for (const { reservation, tracker } of reservations) yield* tracker.release(reservation)
        const final = yield* stateOf
        roundTrips(final)
        states.push(final)
        for (const node of HashMap.toValues(final.nodes)) {
          assert.strictEqual(node.open, 0)
          assert.closeTo(node.reserved.totalTokens, 0, 1e-9)
        }
        // Closing every budget but the root leaves the root alone in the store, its figures unchanged.
        const rootBefore = (yield* root.snapshot).consumed
        for (const budget of budgets.slice(1)) yield* budget.close
        const emptied = yield* stateOf
        roundTrips(emptied)
        states.push(emptied)
        assert.deepStrictEqual(HashMap.toValues(emptied.nodes).map((node) => node.id), [root.id])
        assert.deepStrictEqual((yield* root.snapshot).consumed, rootBefore)
        return states
      })

describe("BudgetStore (property)", () => {
  it.effect.prop(
    "a store's state survives JSON after every step, settling a reservation twice changes nothing, and closed budgets leave it; the memory store's tables hold exactly the state the pure transitions give",
    [Steps],
    ([steps]) =>
      Effect.gen(function*() {
        const ref = yield* Ref.make(BudgetState.emptyState())
        const onRef = yield* program(steps, BudgetStore.fromRef(ref), Ref.get(ref))
        const memory = yield* BudgetStore.makeMemory
        const memoryState = Effect.map(BudgetStore.snapshot(memory), (state) => {
          assert.isDefined(state)
          return state!
        })
        const onMemory = yield* program(steps, memory, memoryState)
        assert.strictEqual(onMemory.length, onRef.length)
        onMemory.forEach((state, step) => assert.deepStrictEqual(plain(state), plain(onRef[step]!), `after step ${step}`))
      }),
    { arbitrary: { runs: 60 } }
  )

  it.effect("a snapshot and a chain are copies that keep their figures; a store other than the memory store has no snapshot", () =>
    Effect.gen(function*() {
      const memory = yield* BudgetStore.makeMemory
      const root = yield* BudgetTracker.make({ totalTokens: 1_000 }).pipe(Effect.provideService(BudgetStore.BudgetStore, memory))
      const before = yield* BudgetStore.snapshot(memory)
      const chainBefore = yield* memory.chain(root.id)
      const reservation = yield* root.reserve({ request: { messages: [{ role: "user", content: "hi" }], maxTokens: 10 }, provider: "mock", model: "mock-1", price: undefined })
      const after = yield* BudgetStore.snapshot(memory)
      assert.strictEqual(HashMap.size(before!.reservations), 0)
      assert.strictEqual(HashMap.toValues(before!.nodes)[0]!.open, 0)
      assert.strictEqual(chainBefore[0]!.open, 0)
      assert.strictEqual(chainBefore[0]!.reserved.totalTokens, 0)
      assert.deepStrictEqual(HashMap.toValues(after!.reservations).map((open) => open.id), [reservation.id])
      assert.strictEqual(HashMap.toValues(after!.nodes)[0]!.open, 1)
      assert.strictEqual((yield* memory.chain(root.id))[0]!.open, 1)
      yield* root.release(reservation)
      assert.strictEqual(HashMap.toValues(after!.nodes)[0]!.open, 1)
      assert.strictEqual((yield* memory.chain(root.id))[0]!.open, 0)
      assert.strictEqual(yield* BudgetStore.snapshot(BudgetStore.fromRef(yield* Ref.make(BudgetState.emptyState()))), undefined)
    }))
})
