/**
 * The batch writer's steady path, two trees in one process, interleaved rounds (stop 30, ADR
 * 0060): a producer offers 2,000 items at a time (below the queue's capacity: no wait) and a
 * reader flushes; the store is a no-op, so what is measured is the writer's own cost per item
 * (the offer, the queue, the batching fiber), in CPU time of this thread.
 *
 *   node bench/ledger-offer-ab.ts --base /tmp/t-base/src/store/internal/batchWriter.ts [--rounds 8] [--items 400000]
 */
import { Effect } from "effect"
import { loadavg } from "node:os"
import { argument, median } from "./internal/stats.ts"
import * as Current from "../src/store/internal/batchWriter.ts"

const ROUNDS = argument("rounds", 8)
const ITEMS = argument("items", 400_000)
const basePath = process.argv[process.argv.indexOf("--base") + 1]
if (!process.argv.includes("--base") || basePath === undefined) throw new Error("--base <path of the base tree's batchWriter.ts>")
const Base = (await import(basePath)) as typeof Current
const load = () => loadavg().map((value) => value.toFixed(1)).join(" / ")

const cpuMs = () => {
  const usage = process.threadCpuUsage()
  return (usage.user + usage.system) / 1000
}

const run = (make: typeof Current.make) =>
  Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    let written = 0
    const writer = yield* make<number>({ label: "bench", write: (batch) => Effect.sync(() => void (written += batch.length)) })
    const before = cpuMs()
    for (let n = 0; n < ITEMS;) {
      for (let index = 0; index < 2_000; index++) writer.offer(n++)
      yield* writer.flush
    }
    const ms = cpuMs() - before
    if (written !== ITEMS) throw new Error(`written ${written} of ${ITEMS}`)
    return (ms * 1e6) / ITEMS // ns per item
  })))

const results = { base: [] as Array<number>, current: [] as Array<number> }
console.log(`batch writer steady path: ${ITEMS} items per round, ${ROUNDS} rounds, interleaved; load ${load()}`)
await run(Base.make)
await run(Current.make)
for (let r = 0; r < ROUNDS; r++) {
  for (const name of r % 2 === 0 ? (["base", "current"] as const) : (["current", "base"] as const)) {
    const ns = await run(name === "base" ? Base.make : Current.make)
    results[name].push(ns)
    console.log(`round ${r} ${name}: ${ns.toFixed(0)} ns CPU per item; load ${load()}`)
  }
}
console.log(`medians: base ${median(results.base).toFixed(0)} ns, current ${median(results.current).toFixed(0)} ns per item; load ${load()}`)
