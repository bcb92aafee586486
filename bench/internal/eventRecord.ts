/**
 * A preload for a benchmarked server (`node --import=<this file>`, bench/serve-idle.ts): writes
 * one line per event (to stderr, or to `$LLM_CONNECT_BENCH_EVENTS.<pid>`) that may stall the first requests after an idle spell, each with
 * the wall-clock time it happened (ms since the epoch, so the load generator can place it in its
 * own timeline): `@event <ms> gc <kind> <pause ms>` (every garbage collection),
 * `@event <ms> connect` (the HTTP client, undici, opened a connection), `@event <ms> accept` (the
 * server accepted a connection). It arms no timer, so an idle server stays idle.
 */
import { subscribe } from "node:diagnostics_channel"
import { PerformanceObserver } from "node:perf_hooks"
import { openSync, writeSync } from "node:fs"

const now = () => performance.timeOrigin + performance.now()
// To `$LLM_CONNECT_BENCH_EVENTS` (a file) when set, else to stderr.
const out = process.env.LLM_CONNECT_BENCH_EVENTS ? openSync(`${process.env.LLM_CONNECT_BENCH_EVENTS}.${process.pid}`, "a") : 2
const write = (line: string) => void writeSync(out, `@event ${line}\n`)
// perf_hooks.constants.NODE_PERFORMANCE_GC_*
const kinds: Record<number, string> = { 1: "minor", 2: "minor-ms", 4: "major", 8: "incremental", 16: "weakcb" }
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    const detail = (entry as PerformanceEntry & { readonly detail?: { readonly kind?: number } }).detail
    write(`${(performance.timeOrigin + entry.startTime).toFixed(1)} gc ${kinds[detail?.kind ?? 0] ?? String(detail?.kind)} ${entry.duration.toFixed(2)}`)
  }
}).observe({ entryTypes: ["gc"] })
subscribe("undici:client:connected", () => write(`${now().toFixed(1)} connect`))
subscribe("net.server.socket", () => write(`${now().toFixed(1)} accept`))
// With `LLM_CONNECT_BENCH_EVENTS_REQUESTS=1`: per request, `@event <ms> request <main thread CPU µs>
// <process CPU µs> <wall µs>` from its start to its response's end (exact when requests come one
// at a time).
if (process.env.LLM_CONNECT_BENCH_EVENTS_REQUESTS === "1") {
  const started = new WeakMap<object, { thread: number; process: number; wall: number }>()
  const cpu = (usage: NodeJS.CpuUsage) => usage.user + usage.system
  subscribe("http.server.request.start", (message) => {
    const { response } = message as { response: object }
    started.set(response, { thread: cpu(process.threadCpuUsage()), process: cpu(process.cpuUsage()), wall: performance.now() })
  })
  subscribe("http.server.response.finish", (message) => {
    const { response } = message as { response: object }
    const start = started.get(response)
    if (start === undefined) return
    const wall = performance.now()
    write(`${(performance.timeOrigin + wall).toFixed(1)} request ${cpu(process.threadCpuUsage()) - start.thread} ${cpu(process.cpuUsage()) - start.process} ${((wall - start.wall) * 1000).toFixed(0)}`)
  })
}
