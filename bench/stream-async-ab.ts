/**
 * An A/B of the whole stack's streamed call between this tree and another (issue 14, stop 30),
 * over the in-process `async` provider of `bench/stream-async.ts` (3 text deltas and the finish
 * part from `setImmediate`; no HTTP client, SSE parser or mock server, whose noise dominates
 * `bench/streaming-ab.ts` on a loaded machine), both trees in ONE process, each with its own `src/`
 * and its own copy of effect. Rows per tree: the bare provider's stream (the same code in both
 * trees: an A/A control of the harness) and the whole stack's (budget, limits, rpm, retry,
 * timeouts, observability). Every round runs every row once, the order rotating; CPU per call from
 * `process.cpuUsage()`; medians per row and of the paired differences (this - base) per round.
 *
 *   node bench/stream-async-ab.ts --base /tmp/t-base [--rounds 21] [--calls 2000] [--concurrency 1]
 */
import { resolve } from "node:path"
import { loadInProcessModules } from "./internal/otherTree.ts"
import { argument, loadAverage, median, option } from "./internal/stats.ts"

const BASE = option("base", "")
const ROUNDS = argument("rounds", 21)
const CALLS = argument("calls", 2000)
const CONCURRENCY = argument("concurrency", 1)
const WARMUP_ROUNDS = 3

interface Row {
  readonly name: string
  readonly run: () => Promise<void>
}

const treeRows = async (tree: string, dir: string): Promise<{ rows: ReadonlyArray<Row>; dispose: () => Promise<void> }> => {
  const { effect, inProcess: inProcessOf, LlmRequest: RequestOf } = await loadInProcessModules(dir)
  const { Effect, Stream } = effect
  const { runtime, model } = await inProcessOf.inProcess(inProcessOf.asyncProvider())
  const request = RequestOf.make({ system: "You are terse.", messages: [{ role: "user", content: "Name the longest river in Africa." }] })
  const bare = await model(undefined)
  const whole = await model({ budget: inProcessOf.budget, resilience: { limits: { ...inProcessOf.limits, rpm: inProcessOf.rpm } } })
  const many = (service: typeof bare) => () =>
    runtime.runPromise(Effect.forEach(
      Array.from({ length: CALLS }),
      () => Stream.runFold(service.stream(request), () => 0, (count) => count + 1),
      { concurrency: CONCURRENCY, discard: true }
    ))
  return {
    rows: [{ name: `${tree}: bare stream`, run: many(bare) }, { name: `${tree}: whole stream`, run: many(whole) }],
    dispose: () => runtime.dispose()
  }
}

const main = async () => {
  if (BASE === "") throw new Error("--base <tree>")
  const mine = await treeRows("this", resolve(import.meta.dirname, ".."))
  const base = await treeRows("base", BASE)
  const rows = [...mine.rows, ...base.rows]
  const cpu = new Map<string, Array<number>>()
  const loads: Array<string> = []
  for (let round = 0; round < WARMUP_ROUNDS + ROUNDS; round++) {
    for (let index = 0; index < rows.length; index++) {
      const row = rows[(index + round) % rows.length]!
      const start = process.cpuUsage()
      await row.run()
      const used = process.cpuUsage(start)
      if (round >= WARMUP_ROUNDS) cpu.set(row.name, [...(cpu.get(row.name) ?? []), (used.user + used.system) / CALLS])
    }
    if (round >= WARMUP_ROUNDS) loads.push(loadAverage())
  }
  console.log(`node ${process.version}; this tree vs ${BASE}; ${CALLS} calls per measurement at C=${CONCURRENCY}, ${ROUNDS} rounds`)
  console.log(`load average per round: ${loads.join(" | ")}`)
  console.log("row            this (µs/call)   base (µs/call)   this - base (paired)")
  for (const name of ["bare stream", "whole stream"]) {
    const a = cpu.get(`this: ${name}`)!
    const b = cpu.get(`base: ${name}`)!
    console.log(`${name.padEnd(14)} ${median(a).toFixed(2).padStart(14)} ${median(b).toFixed(2).padStart(16)} ${median(a.map((x, i) => x - b[i]!)).toFixed(2).padStart(20)}`)
  }
  const over = (tree: string) => median(cpu.get(`${tree}: whole stream`)!.map((x, i) => x - cpu.get(`${tree}: bare stream`)![i]!))
  console.log(`whole - bare (paired, per tree): this ${over("this").toFixed(2)} µs, base ${over("base").toFixed(2)} µs`)
  await mine.dispose()
  await base.dispose()
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
