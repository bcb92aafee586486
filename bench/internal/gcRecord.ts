/**
 * A preload for a benchmarked server (`node --import=<this file>`, bench/serve.ts `--gc`): records
 * every garbage collection (kind, pause, the heap before and after, from `v8.GCProfiler`), the
 * event loop's largest delay per 250 ms and the HTTP requests started, and writes them as JSON
 * when the process exits to `$LLM_CONNECT_BENCH_GC_DIR/gc-<pid>.json` (nothing without the
 * variable). {@link summarize} turns one such file into the figures stop 26 of
 * docs/performance.md uses: bytes allocated and promoted per request, what each scavenge kept.
 */
import { subscribe } from "node:diagnostics_channel"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { monitorEventLoopDelay, PerformanceObserver } from "node:perf_hooks"
import v8 from "node:v8"

interface Space {
  readonly spaceName: string
  readonly spaceUsedSize: number
  readonly spaceSize: number
}
interface Collection {
  readonly gcType: string
  readonly cost: number
  readonly beforeGC: { readonly heapStatistics: { readonly usedHeapSize: number }; readonly heapSpaceStatistics: ReadonlyArray<Space> }
  readonly afterGC: { readonly heapStatistics: { readonly usedHeapSize: number }; readonly heapSpaceStatistics: ReadonlyArray<Space> }
}
/** What the preload writes. */
export interface Record {
  readonly execArgv: ReadonlyArray<string>
  /** Requests started when each collection began (same order as `collections`). */
  readonly requestsAt: ReadonlyArray<number>
  readonly collections: ReadonlyArray<Collection>
  /** Per 250 ms: requests started so far, the event loop's largest delay (ms). */
  readonly samples: ReadonlyArray<{ readonly requests: number; readonly delayMax: number }>
  readonly requests: number
}

const dir = process.env.LLM_CONNECT_BENCH_GC_DIR
if (dir !== undefined && dir !== "") {
  let requests = 0
  subscribe("http.server.request.start", () => void requests++)
  const requestsAt: Array<number> = []
  // One entry per collection, in the profiler's order.
  const observer = new PerformanceObserver((list) => {
    for (let index = 0; index < list.getEntries().length; index++) requestsAt.push(requests)
  })
  observer.observe({ entryTypes: ["gc"] })
  const delay = monitorEventLoopDelay({ resolution: 5 })
  delay.enable()
  const samples: Array<{ requests: number; delayMax: number }> = []
  setInterval(() => {
    samples.push({ requests, delayMax: delay.max / 1e6 })
    delay.reset()
  }, 250).unref()
  const profiler = new v8.GCProfiler()
  profiler.start()
  process.on("exit", () => {
    const collections = (profiler.stop()?.statistics ?? []) as unknown as ReadonlyArray<Collection>
    const record: Record = { execArgv: process.execArgv, requestsAt, collections, samples, requests }
    writeFileSync(join(dir, `gc-${process.pid}.json`), JSON.stringify(record))
  })
}

const used = (spaces: ReadonlyArray<Space>, name: string) => spaces.find((space) => space.spaceName === name)?.spaceUsedSize ?? 0
const quantile = (values: ReadonlyArray<number>, q: number) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!
}

/** One process's collections summed over the part of the run that served requests (after the first 50). */
export const summarize = (record: Record): ReadonlyArray<string> => {
  let allocated = 0
  let previousAfter: number | undefined
  const scavenges: Array<{ cost: number; kept: number; promoted: number }> = []
  const full: Array<number> = []
  let first: number | undefined
  let last = 0
  record.collections.forEach((collection, index) => {
    const at = record.requestsAt[index] ?? 0
    if (previousAfter !== undefined && at > 50) allocated += collection.beforeGC.heapStatistics.usedHeapSize - previousAfter
    previousAfter = collection.afterGC.heapStatistics.usedHeapSize
    if (at <= 50) return
    first ??= at
    last = at
    const ms = collection.cost / 1000
    if (collection.gcType === "Scavenge") {
      scavenges.push({
        cost: ms,
        kept: used(collection.afterGC.heapSpaceStatistics, "new_space"),
        promoted: used(collection.afterGC.heapSpaceStatistics, "old_space") - used(collection.beforeGC.heapSpaceStatistics, "old_space")
      })
    } else if (collection.gcType === "MarkSweepCompact") full.push(ms)
  })
  const served = Math.max(1, last - (first ?? 0))
  const mb = (bytes: number) => (bytes / 1e6).toFixed(2)
  const sum = (values: ReadonlyArray<number>) => values.reduce((total, value) => total + value, 0)
  const loaded = record.samples.filter((sample, index) => index > 0 && sample.requests > record.samples[index - 1]!.requests).map((sample) => sample.delayMax)
  return [
    `node flags: ${record.execArgv.filter((flag) => !flag.startsWith("--import")).join(" ") || "(none)"}; ${record.requests} requests`,
    `allocated ${(allocated / Math.max(1, record.requests - (first ?? 0)) / 1024).toFixed(0)} KB per request; promoted by scavenges ${(sum(scavenges.map((s) => s.promoted)) / served / 1024).toFixed(1)} KB per request`,
    `scavenges: ${scavenges.length} (one per ${(served / Math.max(1, scavenges.length)).toFixed(0)} requests), kept ${mb(sum(scavenges.map((s) => s.kept)) / Math.max(1, scavenges.length))} MB and promoted ${
      mb(sum(scavenges.map((s) => s.promoted)) / Math.max(1, scavenges.length))
    } MB each; pause median ${quantile(scavenges.map((s) => s.cost), 0.5).toFixed(1)} ms, p90 ${quantile(scavenges.map((s) => s.cost), 0.9).toFixed(1)}, max ${Math.max(0, ...scavenges.map((s) => s.cost)).toFixed(1)}`,
    `full collections: ${full.length}, pause max ${Math.max(0, ...full).toFixed(1)} ms`,
    `event loop's largest delay per 250 ms under load: median ${quantile(loaded, 0.5).toFixed(1)} ms, p90 ${quantile(loaded, 0.9).toFixed(1)}, max ${Math.max(0, ...loaded).toFixed(1)}`
  ]
}
