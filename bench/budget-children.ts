/**
 * What a per-call child budget costs as calls accumulate: each call creates a child of one root
 * budget (`BudgetTracker.withChild`, as the Promise client's `generate(prompt, { budget })`, serve's
 * per-request budgets and `delegate` do), reserves and commits on it, and releases it. The cost per
 * call (CPU time, user + system) is measured over the first 1,000 calls and the last 1,000 of 20,000: it stays flat when
 * released children leave the store, and grows with the calls made when they are kept (the
 * behaviour before children were released, measured in the same run).
 *
 *   node bench/budget-children.ts [--calls 20000] [--window 1000] [--reps 3]
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
const REPS = argument("reps", 3)

const price = PriceTable.make().lookup("mock", "mock-1")
const request: LlmRequest = { messages: [{ role: "user", content: "Summarise the plot of Hamlet in one line." }], maxTokens: 64 }
const usage = Usage.make({ inputTokens: 12, outputTokens: 20 })
const actual: BudgetTracker.Actual = { usage, costUsd: 0.00005 }
const ask: BudgetTracker.Ask = { request, provider: "mock", model: "mock-1", price }

// The call as every per-call budget now makes it: a child closed when the call ends.
const released = (tracker: BudgetTracker.Service) =>
  BudgetTracker.withChild(tracker, { totalTokens: 1_000 }, "call", (child) =>
    child.withReservation(ask, () => Effect.succeed(usage), () => actual))

// The call as it was before children were released: the child stays in the store.
const kept = (tracker: BudgetTracker.Service) =>
  Effect.flatMap(tracker.child({ totalTokens: 1_000 }, "call"), (child) =>
    child.withReservation(ask, () => Effect.succeed(usage), () => actual))

const run = (perCall: (tracker: BudgetTracker.Service) => Effect.Effect<unknown, unknown>, calls: number) =>
  Effect.gen(function*() {
    const store = yield* BudgetStore.makeMemory
    const tracker = yield* BudgetTracker.make({ totalTokens: 1e12 }).pipe(Effect.provideService(BudgetStore.BudgetStore, store))
    let early = 0
    let late = 0
    // CPU time (user + system, µs): on a loaded machine, wall time mostly measures the others.
    const cpu = () => {
      const used = process.cpuUsage()
      return used.user + used.system
    }
    let started = cpu()
    for (let call = 1; call <= calls; call++) {
      yield* perCall(tracker)
      if (call === WINDOW) early = cpu() - started
      if (call === calls) late = cpu() - started
      if (call === calls - WINDOW) started = cpu()
    }
    return { early: early / WINDOW, late: late / WINDOW, nodes: yield* store.size }
  })

const main = async () => {
  const variants = [
    { name: "released (withChild)", perCall: released },
    { name: "kept (child never closed: before)", perCall: kept }
  ]
  // Warm-up: a short run of each, so that the first window does not measure the JIT.
  for (const variant of variants) await Effect.runPromise(run(variant.perCall, 2 * WINDOW))
  const samples = new Map(variants.map((variant) => [variant.name, { early: [] as Array<number>, late: [] as Array<number>, nodes: 0 }]))
  for (let rep = 0; rep < REPS; rep++) {
    for (const variant of variants) {
      const result = await Effect.runPromise(run(variant.perCall, CALLS))
      const sample = samples.get(variant.name)!
      sample.early.push(result.early)
      sample.late.push(result.late)
      sample.nodes = result.nodes
    }
  }
  console.log(`per-call child budgets on one root, ${CALLS} calls, µs of CPU per call (median of ${REPS})`)
  for (const [name, sample] of samples) {
    console.log(
      `  ${name}: calls 1-${WINDOW}: ${median(sample.early).toFixed(1)}, calls ${CALLS - WINDOW + 1}-${CALLS}: ${median(sample.late).toFixed(1)}, ` +
        `budgets left in the store: ${sample.nodes}`
    )
  }
}

main()
