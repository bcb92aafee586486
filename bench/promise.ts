/**
 * The Promise client's own cost per call (issue 19: goal <= 5 us CPU): `client.generate(prompt)`
 * against `runtime.runPromise(LanguageModel.generate(prompt))` on a `ManagedRuntime` of the same
 * stack (`Stack.fromConfig` of the same options, mock provider with no latency, no ledger), so
 * that the difference is the facade alone: the request built from the client's settings, the
 * run with its fiber tracked (for `close`), the usage counted, the Exit mapped. Sequential
 * calls, CPU time (`process.cpuUsage`, user + system) per call; the two are interleaved within
 * each of `--reps` rounds of `--calls` calls, and the medians and the median of the paired
 * differences are printed. Also `generate` on a `child({ budget })` client and with a per-call
 * budget (a child budget per call), for scale. Note: every per-call budget stays a node of the
 * memory budget store, whose transitions copy the node list, so that variant's cost grows with
 * the number of calls made (`BudgetTracker.child` keeps its children; see docs/performance.md).
 *
 *   node bench/promise.ts [--reps 15] [--calls 2000]
 */
import { Effect, Layer, ManagedRuntime } from "effect"
import { createClient } from "../src/client/Client.ts"
import * as LanguageModel from "../src/LanguageModel.ts"
import * as LlmConnectConfig from "../src/LlmConnectConfig.ts"
import * as NodeProviders from "../src/node/NodeProviders.ts"
import * as Stack from "../src/Stack.ts"
import { argument, median } from "./internal/stats.ts"

const REPS = argument("reps", 15)
const CALLS = argument("calls", 2000)

const options = { provider: "mock", ledger: false, budget: { totalTokens: 1_000_000_000_000 } } as const
const prompt = "Name the longest river in Africa."

const cpuMicros = async (calls: number, call: () => Promise<unknown>): Promise<number> => {
  const before = process.cpuUsage()
  for (let i = 0; i < calls; i++) await call()
  const used = process.cpuUsage(before)
  return (used.user + used.system) / calls
}

const main = async () => {
  const platform = Layer.merge(NodeProviders.layer, NodeProviders.platform)
  const stack = Layer.unwrap(
    Effect.flatMap(LlmConnectConfig.fromOptions(options), Stack.fromConfig)
  ).pipe(Layer.provide(platform))
  const runtime = ManagedRuntime.make(stack)
  // A client per variant: each per-call budget stays a node of its client's budget store (the
  // memory store keeps every child it made), which would slow the other variants' calls.
  const client = createClient(options)
  const perCall = createClient(options)
  const child = createClient(options).child({ budget: { totalTokens: 1_000_000_000_000 } })
  const variants: ReadonlyArray<readonly [string, () => Promise<unknown>]> = [
    ["Effect API: runtime.runPromise(LanguageModel.generate)", () => runtime.runPromise(LanguageModel.generate(prompt))],
    ["Promise client: client.generate", () => client.generate(prompt)],
    ["child({ budget }).generate", () => child.generate(prompt)],
    ["client.generate with a per-call budget (see the note)", () => perCall.generate(prompt, { budget: { totalTokens: 1_000_000 } })]
  ]
  // Warm up: layers built, JIT settled.
  for (const [, call] of variants) await cpuMicros(Math.max(200, CALLS / 4), call)
  const samples = variants.map(() => [] as Array<number>)
  const differences: Array<number> = []
  for (let rep = 0; rep < REPS; rep++) {
    // Interleaved, in a rotating order, so that drift in the machine's load is shared.
    const order = variants.map((_, index) => (index + rep) % variants.length)
    const round: Array<number> = []
    for (const index of order) round[index] = await cpuMicros(CALLS, variants[index]![1])
    round.forEach((value, index) => samples[index]!.push(value))
    differences.push(round[1]! - round[0]!)
  }
  console.log(`CPU per call, sequential, ${REPS} rounds x ${CALLS} calls (median, min), mock provider, no ledger:`)
  variants.forEach(([name], index) => {
    const values = samples[index]!
    console.log(`  ${name.padEnd(56)} ${median(values).toFixed(1).padStart(7)} us   (min ${Math.min(...values).toFixed(1)})`)
  })
  const overhead = median(differences)
  console.log(`  facade overhead (paired median, client - Effect API):     ${overhead.toFixed(2).padStart(7)} us   goal <= 5 us: ${overhead <= 5 ? "met" : "NOT met"}`)
  await Promise.all([client.close(), perCall.close(), child.close()])
  await runtime.dispose()
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
