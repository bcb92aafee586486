/**
 * CPU per call of each layer of the default stack, without timers: the mock provider with 0 ms
 * latency (or `--latency 1`), batches of 100 concurrent calls, one warm runtime per variant.
 * Each layer is measured alone over the bare mock (observability, budget) and the stack is built
 * up one layer at a time (retry, limits, budget, observability), so that a change to one layer
 * shows without the 50 ms sleeps of `bench/stack.ts`. Variants are interleaved within each
 * repetition; medians (and minimums, the least disturbed sample on a shared machine) over the
 * repetitions, differences against the bare mock of the same run.
 *
 *   node bench/stack-layers.ts [--reps 15] [--calls 1000] [--latency 0]
 */
import { Effect, Layer, ManagedRuntime } from "effect"
import * as BudgetLanguageModel from "../src/budget/BudgetLanguageModel.ts"
import * as LanguageModel from "../src/LanguageModel.ts"
import * as Observability from "../src/observability/Observability.ts"
import * as ProviderRegistry from "../src/ProviderRegistry.ts"
import * as MockLanguageModel from "../src/providers/mock/MockLanguageModel.ts"
import * as Stack from "../src/Stack.ts"
import { argument, median } from "./internal/stats.ts"

const REPS = argument("reps", 15)
const CALLS = argument("calls", 1000)
const LATENCY = argument("latency", 0)
const WARMUP = 2
const BATCH = 100

const mock = { provider: "mock", options: { latency: `${LATENCY}ms` } }
const registry = ProviderRegistry.layer([MockLanguageModel.provider])
const limits = { concurrency: 1_000, providerConcurrency: 1_000, rpm: 100_000_000 }
const budget = { budget: { totalTokens: 1_000_000_000_000 } }
const noObservability = { enabled: false }
const bare = MockLanguageModel.layer({ latency: `${LATENCY} millis` })
const stack = (config: Omit<Stack.StackConfig, "provider">) => Stack.layer({ provider: mock, ...config }).pipe(Layer.provide(registry))

const variants: ReadonlyArray<readonly [string, Layer.Layer<LanguageModel.LanguageModel, unknown>]> = [
  ["bare mock", bare],
  ["observability alone (defaults)", Observability.layer({}).pipe(Layer.provide(bare))],
  ["budget alone", BudgetLanguageModel.layerConfig(budget).pipe(Layer.provide(bare))],
  ["stack: retry (defaults)", stack({ observability: noObservability })],
  ["stack: + limits and rpm", stack({ observability: noObservability, resilience: { limits } })],
  ["stack: + budget", stack({ observability: noObservability, resilience: { limits }, budget })],
  ["stack: + observability = whole stack", stack({ resilience: { limits }, budget })]
]

const request = { messages: [{ role: "user" as const, content: "Name the longest river in Africa." }], model: "gpt-4o-mini" }
const one = LanguageModel.generate(request)
const batch = Effect.all(Array.from({ length: BATCH }, () => one), { concurrency: "unbounded", discard: true })

const main = async () => {
  const runs = variants.map(([name, layer]) => ({ name, runtime: ManagedRuntime.make(layer), cpu: [] as Array<number> }))
  for (let rep = 0; rep < WARMUP + REPS; rep++) {
    for (let index = 0; index < runs.length; index++) {
      const run = runs[(index + rep) % runs.length]!
      const before = process.cpuUsage()
      for (let done = 0; done < CALLS; done += BATCH) await run.runtime.runPromise(batch)
      const cpu = process.cpuUsage(before)
      if (rep >= WARMUP) run.cpu.push((cpu.user + cpu.system) / CALLS)
    }
  }
  const baseMedian = median(runs[0]!.cpu)
  const baseMin = Math.min(...runs[0]!.cpu)
  console.log(`CPU µs per call, ${LATENCY} ms mock, batches of ${BATCH}, ${CALLS} calls x ${REPS} repetitions (+${WARMUP}); Node ${process.version}`)
  console.table(runs.map((run) => ({
    variant: run.name,
    median: median(run.cpu).toFixed(1),
    "over bare (median)": (median(run.cpu) - baseMedian).toFixed(1),
    minimum: Math.min(...run.cpu).toFixed(1),
    "over bare (minimum)": (Math.min(...run.cpu) - baseMin).toFixed(1)
  })))
  for (const run of runs) await run.runtime.dispose()
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
