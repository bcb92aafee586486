/**
 * What holding every call to a budget costs: `BudgetTracker` reserve + commit per call (through
 * the default memory `BudgetStore`, one `Ref.modify` per step), alone and with 1,000 fibers in
 * flight, against a bare `Ref.update` baseline measured in the same run (the least any
 * Ref-backed accounting can cost). Also the estimate on the hot path: the UTF-8
 * byte bound against a full tokenizer pass, on a 10 kB prompt.
 *
 * Each figure is the median over repetitions; variants are interleaved within a repetition so
 * that load from other processes hits them alike. Ratios are against the baseline.
 *
 *   node bench/budget.ts [--reps 7] [--calls 20000] [--fibers 1000]
 */
import { Effect, Ref } from "effect"
import * as BudgetTracker from "../src/budget/BudgetTracker.ts"
import type { LlmRequest } from "../src/LlmRequest.ts"
import * as PriceTable from "../src/pricing/PriceTable.ts"
import * as Tokenizer from "../src/Tokenizer.ts"
import * as Usage from "../src/Usage.ts"
import { argument, median, time } from "./internal/stats.ts"

const REPS = argument("reps", 7)
const CALLS = argument("calls", 20_000)
const FIBERS = argument("fibers", 1_000)

const price = PriceTable.make().lookup("mock", "mock-1")
const shortRequest: LlmRequest = { messages: [{ role: "user", content: "Summarise the plot of Hamlet in one line." }], maxTokens: 64 }
const longText = "The quick brown fox jumps over the lazy dog. ".repeat(228).slice(0, 10_240)
const longRequest: LlmRequest = { messages: [{ role: "user", content: longText }], maxTokens: 64 }
const usage = Usage.make({ inputTokens: 12, outputTokens: 20 })
const actual: BudgetTracker.Actual = { usage, costUsd: 0.00005 }

const ask = (request: LlmRequest): BudgetTracker.Ask => ({ request, provider: "mock", model: "mock-1", price })
const limits = { totalTokens: 1e12, costUsd: 1e9 }

/** One logical call: reserve, a no-op "provider", commit. */
const tracked = (tracker: BudgetTracker.Service, request: LlmRequest, yieldInside: boolean) =>
  tracker.withReservation(ask(request), () => (yieldInside ? Effect.as(Effect.yieldNow, usage) : Effect.succeed(usage)), () => actual)

/** `times` operations in a row, in one fiber. */
const loop = (times: number, one: Effect.Effect<unknown, unknown>) =>
  Effect.gen(function*() {
    for (let i = 0; i < times; i++) yield* one
  })

/** `calls` operations spread over `fibers` fibers (each does calls / fibers in a row). */
const spread = (fibers: number, calls: number, one: Effect.Effect<unknown, unknown>) =>
  Effect.forEach(
    Array.from({ length: fibers }, (_, index) => index),
    () => loop(Math.floor(calls / fibers), one),
    { concurrency: "unbounded", discard: true }
  )

interface Variant {
  readonly name: string
  readonly run: () => Promise<unknown>
  readonly operations: number
}

const main = async () => {
  const tracker = await Effect.runPromise(BudgetTracker.make(limits))
  const child = await Effect.runPromise(
    tracker.child({ totalTokens: 1e11 }, "b").pipe(Effect.flatMap((b) => b.child({ totalTokens: 1e10 }, "c")))
  )
  const ref = await Effect.runPromise(Ref.make(0))
  const bump = Ref.update(ref, (n) => n + 1)
  const bumpAndYield = Effect.andThen(bump, Effect.yieldNow)

  const variants: ReadonlyArray<Variant> = [
    // The baseline is ~100x cheaper: run it 20x longer so that each sample lasts as long as the others.
    { name: "baseline: Ref.update, 1 fiber", operations: CALLS * 20, run: () => Effect.runPromise(loop(CALLS * 20, bump)) },
    { name: "reserve+commit, 1 fiber", operations: CALLS, run: () => Effect.runPromise(loop(CALLS, tracked(tracker, shortRequest, false))) },
    { name: "reserve+commit, chain A->B->C, 1 fiber", operations: CALLS, run: () => Effect.runPromise(loop(CALLS, tracked(child, shortRequest, false))) },
    { name: "reserve+commit, 10 kB prompt (bound), 1 fiber", operations: CALLS, run: () => Effect.runPromise(loop(CALLS, tracked(tracker, longRequest, false))) },
    { name: `baseline: Ref.update + yield, ${FIBERS} fibers`, operations: CALLS * 4, run: () => Effect.runPromise(spread(FIBERS, CALLS * 4, bumpAndYield)) },
    { name: `reserve+commit (yield inside), ${FIBERS} fibers`, operations: CALLS, run: () => Effect.runPromise(spread(FIBERS, CALLS, tracked(tracker, shortRequest, true))) }
  ]

  // Warm-up, then interleaved repetitions.
  for (const variant of variants) await variant.run()
  const samples = new Map(variants.map((variant) => [variant.name, [] as Array<number>]))
  for (let rep = 0; rep < REPS; rep++) {
    for (const variant of variants) samples.get(variant.name)!.push(await time(variant.run))
  }

  const estimateRuns = 2_000
  const bound: Array<number> = []
  const exact: Array<number> = []
  for (let rep = 0; rep < REPS; rep++) {
    bound.push(await time(async () => {
      for (let i = 0; i < estimateRuns; i++) Tokenizer.boundRequest(longRequest)
    }))
    exact.push(await time(async () => {
      for (let i = 0; i < estimateRuns / 20; i++) Tokenizer.countRequest(longRequest)
    }))
  }

  const nsPerOp = (name: string) =>
    (median(samples.get(name)!) * 1e6) / variants.find((variant) => variant.name === name)!.operations
  const single = nsPerOp(variants[0]!.name)
  const many = nsPerOp(variants[4]!.name)
  console.log(`budget bench: ${REPS} reps, ${CALLS} calls per variant (baselines more), medians (node ${process.version})`)
  console.log("variant".padEnd(52), "ns/call".padStart(10), "calls/s".padStart(12), "x baseline".padStart(11))
  variants.forEach((variant, index) => {
    const ns = nsPerOp(variant.name)
    const baseline = index >= 4 ? many : single
    console.log(variant.name.padEnd(52), ns.toFixed(0).padStart(10), Math.round(1e9 / ns).toLocaleString("en").padStart(12), (ns / baseline).toFixed(1).padStart(11))
  })
  const boundUs = (median(bound) * 1e3) / estimateRuns
  const exactUs = (median(exact) * 1e3) / (estimateRuns / 20)
  console.log(`estimate of a 10 kB prompt: byte bound ${boundUs.toFixed(2)} us, tokenizer count ${exactUs.toFixed(0)} us (${(exactUs / boundUs).toFixed(0)}x)`)
  const snapshot = await Effect.runPromise(tracker.snapshot)
  console.log(`check: reserved after all runs = ${snapshot.reserved.totalTokens}, open reservations = ${snapshot.openReservations}`)
}

main()
