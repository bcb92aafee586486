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
import { openSync, readSync, writeSync } from "node:fs"

const now = () => performance.timeOrigin + performance.now()
// To `$LLM_CONNECT_BENCH_EVENTS` (a file) when set, else to stderr.
const out = process.env.LLM_CONNECT_BENCH_EVENTS ? openSync(`${process.env.LLM_CONNECT_BENCH_EVENTS}.${process.pid}`, "a") : 2
const write = (line: string) => void writeSync(out, `@event ${line}\n`)
// perf_hooks.constants.NODE_PERFORMANCE_GC_*
const kinds: Record<number, string> = { 1: "minor", 2: "minor-ms", 4: "major", 8: "incremental", 16: "weakcb" }
// perf_hooks.constants.NODE_PERFORMANCE_GC_FLAGS_*: a collection forced by `gc()` (serve's idle
// collection, ADR 0044) has `forced`.
const flagNames: ReadonlyArray<readonly [number, string]> = [[2, "constructRetained"], [4, "forced"], [8, "synchronousPhantom"], [16, "allAvailableGarbage"], [32, "allExternalMemory"], [64, "scheduleIdle"]]
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    const detail = (entry as PerformanceEntry & { readonly detail?: { readonly kind?: number; readonly flags?: number } }).detail
    const flags = flagNames.filter(([bit]) => ((detail?.flags ?? 0) & bit) !== 0).map(([, name]) => name)
    write(`${(performance.timeOrigin + entry.startTime).toFixed(1)} gc ${kinds[detail?.kind ?? 0] ?? String(detail?.kind)} ${entry.duration.toFixed(2)}${flags.length > 0 ? ` ${flags.join(",")}` : ""}`)
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
// With `LLM_CONNECT_BENCH_EVENTS_DETAIL=1` (bench/serve-idle.ts `--detail`), what serve itself saw,
// to place a stall seen by the load generator: per request `@event <start ms> served <ms> <new>`
// (from the request's start to its response's end; `new` 1 for the first request on a
// connection; then the client's port), `@event <ms> accepted <client port>` (a connection accepted), `@event <ms> lag <ms> <on cpu> <runnable>` (the event loop answered a 2 ms timer
// that much late, more than 5 ms; the probe runs only while requests come, until 2 s after the
// last one), `@event <start ms> sql <ms> <on cpu> <runnable> <statement>` (a SQLite statement
// of this process, node:sqlite, that took 1 ms or more: the ledger's writes and their WAL
// checkpoints). `<on cpu>` and `<runnable>` are the main thread's time on a CPU and waiting for
// one (ready to run, the kernel's run queue) in that interval, ms, from
// `/proc/self/task/<pid>/schedstat` (Linux; the rest of the interval the thread was blocked: a
// system call such as `fsync`, or a lock): they tell serve's own work from the machine's
// contention from waiting on I/O. These lines are buffered and written at most 100 ms later, so
// as not to add a write per request.
if (process.env.LLM_CONNECT_BENCH_EVENTS_DETAIL === "1") {
  const buffered: Array<string> = []
  let flushing: ReturnType<typeof setTimeout> | undefined
  const flush = () => {
    flushing = undefined
    if (buffered.length > 0) writeSync(out, buffered.splice(0).map((line) => `@event ${line}\n`).join(""))
  }
  const queue = (line: string) => {
    buffered.push(line)
    if (buffered.length >= 1024) flush()
    else if (flushing === undefined) flushing = setTimeout(flush, 100)
  }
  // The main thread's [on CPU, waiting for a CPU], ms (zeros where /proc is missing).
  let schedFd = -1
  try {
    schedFd = openSync(`/proc/self/task/${process.pid}/schedstat`, "r")
  } catch {
    // not Linux
  }
  const schedBuffer = Buffer.alloc(128)
  const sched = (): readonly [number, number] => {
    if (schedFd < 0) return [0, 0]
    const length = readSync(schedFd, schedBuffer, 0, 128, 0)
    const [cpu, wait] = schedBuffer.toString("latin1", 0, length).split(" ")
    return [Number(cpu) / 1e6, Number(wait) / 1e6]
  }
  const since = (before: readonly [number, number]) => {
    const after = sched()
    return `${(after[0] - before[0]).toFixed(1)} ${(after[1] - before[1]).toFixed(1)}`
  }
  const seen = new WeakSet<object>()
  const starts = new WeakMap<object, number>()
  let lastRequest = 0
  let probing = false
  let armed = sched()
  const probe = (expected: number) => {
    const now = performance.now()
    if (now - expected > 5) queue(`${(performance.timeOrigin + expected).toFixed(1)} lag ${(now - expected).toFixed(1)} ${since(armed)}`)
    if (now - lastRequest < 2000) {
      armed = sched()
      setTimeout(probe, 2, now + 2)
    } else probing = false
  }
  // Each accepted connection by the client's port (`accepted <port>`), to pair it with the load
  // generator's own record of that connection (bench/serve-idle.ts `--stages`, stop 29).
  subscribe("net.server.socket", (message) => {
    const { socket } = message as { socket: { readonly remotePort?: number } }
    queue(`${now().toFixed(1)} accepted ${socket.remotePort ?? 0}`)
  })
  subscribe("http.server.request.start", (message) => {
    const { response, socket } = message as { response: object; socket: object }
    const now = performance.now()
    lastRequest = now
    starts.set(response, now)
    if (!seen.has(socket)) {
      seen.add(socket)
      starts.set(socket, now)
    }
    if (!probing) {
      probing = true
      armed = sched()
      setTimeout(probe, 2, now + 2)
    }
  })
  subscribe("http.server.response.finish", (message) => {
    const { response, socket } = message as { response: object; socket?: object }
    const start = starts.get(response)
    if (start === undefined) return
    const fresh = socket !== undefined && starts.get(socket) === start ? 1 : 0
    // The client's port last: the load generator's record of the request is found by it (stop 29).
    queue(`${(performance.timeOrigin + start).toFixed(1)} served ${(performance.now() - start).toFixed(2)} ${fresh} ${(socket as { readonly remotePort?: number } | undefined)?.remotePort ?? 0}`)
  })
  const { StatementSync, DatabaseSync } = await import("node:sqlite")
  const timed = (what: (self: unknown, args: Array<unknown>) => string, original: (this: unknown, ...args: Array<unknown>) => unknown) =>
    function(this: unknown, ...args: Array<unknown>): unknown {
      const start = performance.now()
      const before = sched()
      try {
        return original.apply(this, args)
      } finally {
        const ms = performance.now() - start
        if (ms >= 1) queue(`${(performance.timeOrigin + start).toFixed(1)} sql ${ms.toFixed(2)} ${since(before)} ${what(this, args).replace(/\s+/g, " ").slice(0, 40)}`)
      }
    }
  const source = (self: unknown) => (self as { readonly sourceSQL?: string }).sourceSQL ?? "?"
  for (const name of ["run", "all", "get"] as const) {
    const prototype = StatementSync.prototype as unknown as Record<string, (...args: ReadonlyArray<unknown>) => unknown>
    prototype[name] = timed((self) => source(self), prototype[name]!)
  }
  const database = DatabaseSync.prototype as unknown as Record<string, (...args: ReadonlyArray<unknown>) => unknown>
  database.exec = timed((_, args) => String(args[0]), database.exec!)
}
