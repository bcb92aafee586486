/**
 * The SQLite usage ledger's writes, on the calling thread (as one-shot commands write) or on a
 * worker thread of their own (as serve writes, ADR 0053), in one process, variants in turn
 * (issue 16, stop 29). Each round records `--rate` entries per second for `--seconds` seconds
 * into a new file (`recordNow`, as the observability layer does, in 5 ms ticks; the ledger's batch
 * writer commits every 50 ms) and reports what the main thread paid:
 *
 * - SQLite statements on the main thread (node:sqlite's `run` / `all` timed, as
 *   bench/internal/eventRecord.ts does in serve): how many took 2 ms or more, their total and
 *   the slowest (the INSERTs whose commit ran a WAL checkpoint: its `fsync`s);
 * - the event loop's delay (`monitorEventLoopDelay`, 1 ms resolution): p99 and max;
 * - the main thread's CPU per 1,000 entries (`process.threadCpuUsage`);
 * - the WAL's size at the end (the checkpoints ran: it stays about 4 MiB);
 * - the rows lost (recorded minus in the file at the end), and the producer's waits for room in
 *   the write queue (ADR 0060: a full queue makes the producer wait instead of dropping the row):
 *   how many, and their total time. A burst past the queue's 10,000 rows:
 *   `--rate 50000 --seconds 2` (100,000 entries in 2 s).
 *
 * Counts and the main thread's CPU survive a loaded machine; delays do not (compare variants of
 * the same round).
 *
 *   node bench/ledger-writer.ts [--rate 8000] [--seconds 10] [--rounds 3]
 */
import { Effect } from "effect"
import { mkdtempSync, rmSync, statSync } from "node:fs"
import { DatabaseSync, StatementSync } from "node:sqlite"
import { loadavg, tmpdir } from "node:os"
import { join } from "node:path"
import { monitorEventLoopDelay } from "node:perf_hooks"
import * as UsageLedger from "../src/observability/UsageLedger.ts"
import { argument, median } from "./internal/stats.ts"

const RATE = argument("rate", 8000)
const SECONDS = argument("seconds", 10)
const ROUNDS = argument("rounds", 3)
const load = () => loadavg().map((value) => value.toFixed(1)).join(" / ")

// Main-thread SQLite statements of this process, timed.
let slow: Array<number> = []
let sqlMs = 0
{
  const prototype = StatementSync.prototype as unknown as Record<"run" | "all", (...args: Array<unknown>) => unknown>
  for (const name of ["run", "all"] as const) {
    const original = prototype[name]
    prototype[name] = function(this: unknown, ...args: Array<unknown>) {
      const start = performance.now()
      try {
        return original.apply(this, args)
      } finally {
        const ms = performance.now() - start
        sqlMs += ms
        if (ms >= 2) slow.push(ms)
      }
    }
  }
}

const threadCpuMs = () => {
  const usage = process.threadCpuUsage()
  return (usage.user + usage.system) / 1000
}

const entry = (n: number): UsageLedger.Entry => ({
  time: Date.now(),
  provider: "openai-compatible",
  model: "gpt-4o-mini",
  inputTokens: 20 + (n % 13),
  outputTokens: 9,
  totalTokens: 29 + (n % 13),
  estimated: false,
  costUsd: 0.000009,
  latencyMs: 1.2,
  outcome: "ok",
  requestId: `req-${n}`
})

interface Figures {
  readonly slow: number
  readonly slowMs: number
  readonly slowMax: number
  readonly sqlMs: number
  readonly delayP99: number
  readonly delayMax: number
  readonly cpuPer1000: number
  readonly walMiB: number
  readonly rows: number
  readonly recorded: number
  readonly waits: number
  readonly waitMs: number
}

const round = (offThread: boolean): Promise<Figures> => {
  const dir = mkdtempSync(join(tmpdir(), "ledger-writer-"))
  const path = join(dir, "usage.db")
  const program = Effect.scoped(Effect.gen(function*() {
    const ledger = yield* UsageLedger.makeSqlite(path, { writeOffThread: offThread })
    yield* ledger.entries()
    slow = []
    sqlMs = 0
    const delay = monitorEventLoopDelay({ resolution: 1 })
    const cpuBefore = threadCpuMs()
    delay.enable()
    const perTick = Math.max(1, Math.round(RATE / 200))
    const ticks = SECONDS * 200
    let n = 0
    let waits = 0
    let waitMs = 0
    const started = performance.now()
    for (let tick = 0; tick < ticks; tick++) {
      for (let index = 0; index < perTick; index++) {
        // The wait for room when the write queue is full (an effect only then; before ADR 0060, never).
        const wait = ledger.recordNow!(entry(n++))
        if (wait !== undefined) {
          waits += 1
          const before = performance.now()
          yield* wait
          waitMs += performance.now() - before
        }
      }
      // The next tick at its time (5 ms apart), as an open loop would send.
      const wait = started + (tick + 1) * 5 - performance.now()
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, Math.max(0, wait))))
    }
    delay.disable()
    const cpu = threadCpuMs() - cpuBefore
    const figures = {
      slow: slow.length,
      slowMs: slow.reduce((a, b) => a + b, 0),
      slowMax: slow.reduce((a, b) => Math.max(a, b), 0),
      sqlMs,
      delayP99: delay.percentile(99) / 1e6,
      delayMax: delay.max / 1e6,
      cpuPer1000: (cpu * 1000) / n,
      walMiB: statSync(`${path}-wal`).size / 1024 / 1024,
      recorded: n,
      waits,
      waitMs
    }
    yield* ledger.entries({ since: Number.MAX_SAFE_INTEGER })
    return figures
  }))
  return Effect.runPromise(program).then((figures) => {
    const db = new DatabaseSync(path)
    const rows = (db.prepare("SELECT COUNT(*) AS n FROM usage").get() as { n: number }).n
    db.close()
    rmSync(dir, { recursive: true, force: true })
    return { ...figures, rows }
  })
}

console.log(`ledger writer: ${RATE} entries/s for ${SECONDS} s per round, ${ROUNDS} rounds, variants in turn; load ${load()}`)
const results = new Map<string, Array<Figures>>([["main thread", []], ["writer thread", []]])
for (let r = 0; r < ROUNDS; r++) {
  for (const offThread of r % 2 === 0 ? [false, true] : [true, false]) {
    const name = offThread ? "writer thread" : "main thread"
    const figures = await round(offThread)
    results.get(name)!.push(figures)
    console.log(`round ${r} ${name}: main-thread SQL >= 2 ms ${figures.slow} (${figures.slowMs.toFixed(1)} ms, max ${figures.slowMax.toFixed(1)}), all main-thread SQL ${figures.sqlMs.toFixed(0)} ms; loop delay p99 ${figures.delayP99.toFixed(2)} max ${figures.delayMax.toFixed(1)} ms; main-thread CPU ${figures.cpuPer1000.toFixed(1)} ms per 1,000 entries; WAL ${figures.walMiB.toFixed(1)} MiB; rows ${figures.rows} of ${figures.recorded} (lost ${figures.recorded - figures.rows}); producer waits ${figures.waits} (${figures.waitMs.toFixed(0)} ms); load ${load()}`)
  }
}
console.log(`\nmedians of ${ROUNDS} rounds; load ${load()}`)
console.log("| writes on | main-thread SQL >= 2 ms (per round) | their total ms | slowest ms | all main-thread SQL ms | loop delay p99 ms | loop delay max ms | main-thread CPU ms per 1,000 entries | WAL at the end MiB | rows lost | producer waits | their total ms |")
console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for (const [name, rs] of results) {
  const m = (pick: (f: Figures) => number, digits = 1) => median(rs.map(pick)).toFixed(digits)
  console.log(`| ${name} | ${m((f) => f.slow, 0)} | ${m((f) => f.slowMs)} | ${m((f) => f.slowMax)} | ${m((f) => f.sqlMs, 0)} | ${m((f) => f.delayP99, 2)} | ${m((f) => f.delayMax)} | ${m((f) => f.cpuPer1000)} | ${m((f) => f.walMiB)} | ${m((f) => f.recorded - f.rows, 0)} | ${m((f) => f.waits, 0)} | ${m((f) => f.waitMs, 0)} |`)
}
