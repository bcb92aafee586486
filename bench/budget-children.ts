/**
 * What a per-call child budget costs as calls accumulate: each call creates a child of one root
 * budget (`BudgetTracker.withChild`, as the Promise client's `generate(prompt, { budget })`, serve's
 * per-request budgets and `delegate` do), reserves and commits on it, and releases it. The cost per
 * call is measured over a window of 1,000 calls after 1k and after 20k calls: it stays flat when
 * released children leave the store, and grows with the calls made when they do not.
 *
 *   node bench/budget-children.ts [--calls 20000] [--window 1000] [--reps 5]
 */
import { Effect } from "effect"
import * as BudgetTracker from "../src/budget/BudgetTracker.ts"
import * as BudgetStore from "../src/budget/BudgetStore.ts"
import type { LlmRequest } from "../src/LlmRequest.ts"
import * as PriceTable from "../src/pricing/PriceTable.ts"
import * as Usage from "../src/Usage.ts"
import { argument, median } from "./internal/stats.ts"

const CALLS = argument("calls", 20_000)
const WINDOW = argument("window", 1_000)
const REPS = argument("reps", 5)

const price = PriceTable.make().lookup("mock", "mock-1")
const request: LlmRequest = { messages: [{ role: "user", content: "Summarise the plot of Hamlet in one line." }], maxTokens: 64 }
const usage = Usage.make({ inputTokens: 12, outputTokens: 20 })
const actual: BudgetTracker.Actual = { usage, costUsd: 0.00005 }
const ask: BudgetTracker.Ask = { request, provider: "mock", model: "mock-1", price }

const perCall = (tracker: BudgetTracker.Service) =>
  BudgetTracker.withChild(tracker, { totalTokens: 1_000 }, "call", (child) =>
    child.withReservation(ask, () => Effect.succeed(usage), () => actual))

const run = Effect.gen(function*() {
  const store = yield* BudgetStore.makeMemory
  const tracker = yield* BudgetTracker.make({ totalTokens: 1e12 }).pipe(Effect.provideService(BudgetStore.BudgetStore, store))
  const marks = new Map<number, number>()
  const at = new Set([WINDOW, 2 * WINDOW, CALLS - WINDOW, CALLS])
  let started = performance.now()
  for (let call = 1; call <= CALLS; call++) {
    yield* perCall(tracker)
    if (at.has(call)) marks.set(call, performance.now() - started)
    if (call === WINDOW || call === CALLS - WINDOW) started = performance.now()
  }
  return {
    early: (marks.get(2 * WINDOW)! * 1000) / WINDOW,
    late: (marks.get(CALLS)! * 1000) / WINDOW,
    nodes: yield* store.size
  }
})

const main = async () => {
  const early: Array<number> = []
  const late: Array<number> = []
  let nodes = 0
  for (let rep = 0; rep < REPS; rep++) {
    const result = await Effect.runPromise(run)
    early.push(result.early)
    late.push(result.late)
    nodes = result.nodes
  }
  console.log(`per-call child budgets, ${CALLS} calls, median of ${REPS}`)
  console.log(`  µs per call, calls ${WINDOW + 1}-${2 * WINDOW}: ${median(early).toFixed(1)}`)
  console.log(`  µs per call, calls ${CALLS - WINDOW + 1}-${CALLS}: ${median(late).toFixed(1)}`)
  console.log(`  budgets left in the store: ${nodes}`)
}

main()
