/**
 * What writing the usage ledger costs on PostgreSQL against SQLite (issue 17): `UsageLedger`'s
 * batched writer (`record` queues, a background fiber writes up to 500 rows per multi-row
 * INSERT), in 1 process and in 4 processes writing to one database at once.
 *
 * Each process records `--rows` entries in chunks of 2 000, waiting after each chunk until it is
 * written (the writer's queue holds 10 000: faster than that, a real ledger drops and counts), and
 * reports rows/s (wall time from the first record to the last row written) and its CPU per row
 * (user + system, which includes the writer's encoding and the driver), and PostgreSQL's own CPU
 * per row (its processes' user + system time, from /proc). After each run the rows
 * in the store are counted: every recorded row must be there.
 *
 * Starts its own PostgreSQL (test/support/postgres.ts: Unix socket, fsync off as in the tests)
 * and skips, loudly, without one. SQLite runs in WAL mode on the temp dir's disk.
 *
 *   node bench/pg-ledger.ts [--rows 20000]
 */
import { spawn } from "node:child_process"
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { Effect } from "effect"
import * as UsageLedger from "../src/observability/UsageLedger.ts"
import * as SqlStore from "../src/store/SqlStore.ts"
import { postgresAvailable, startPostgres } from "../test/support/postgres.ts"
import { argument } from "./internal/stats.ts"

const ROWS = argument("rows", 20_000)
const CHUNK = 2_000

const entry = (index: number): UsageLedger.Entry => ({
  time: 1_700_000_000_000 + index,
  provider: "openai",
  model: "gpt-4o-mini",
  inputTokens: 120 + (index % 50),
  outputTokens: 40 + (index % 30),
  totalTokens: 160 + (index % 50) + (index % 30),
  estimated: false,
  costUsd: 0.000042,
  priced: true,
  attempts: 1,
  latencyMs: 350,
  outcome: "ok",
  correlationId: `bench-${index}`
})

interface Run {
  readonly rows: number
  readonly wallMs: number
  readonly cpuUs: number
}

const write = (location: string, rows: number, startAt?: number): Effect.Effect<Run, unknown> =>
  Effect.scoped(Effect.gen(function*() {
    const ledger = yield* UsageLedger.makeSqlite(location)
    // Warm-up: the connection, the prepared INSERT.
    yield* ledger.record(entry(-1))
    yield* ledger.entries({ since: Number.MAX_SAFE_INTEGER })
    // Several processes start their loops at one agreed time, so that they really run side by side.
    if (startAt !== undefined) yield* Effect.sleep(Math.max(0, startAt - Date.now()))
    const cpu = process.cpuUsage()
    const started = performance.now()
    for (let done = 0; done < rows; done += CHUNK) {
      for (let index = done; index < Math.min(rows, done + CHUNK); index++) yield* ledger.record(entry(index))
      // Waits until the chunk is written (then reads nothing).
      yield* ledger.entries({ since: Number.MAX_SAFE_INTEGER })
    }
    const wallMs = performance.now() - started
    const used = process.cpuUsage(cpu)
    return { rows, wallMs, cpuUs: used.user + used.system }
  }))

const children = async (location: string, count: number): Promise<Run> => {
  const startAt = Date.now() + 4_000
  const runs = await Promise.all(Array.from({ length: count }, () =>
    new Promise<Run>((resolve, reject) => {
      const child = spawn(process.execPath, [import.meta.filename, "--child", location, `${ROWS}`, `${startAt}`], { stdio: ["ignore", "pipe", "inherit"] })
      let out = ""
      child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()))
      child.on("exit", (code) => (code === 0 ? resolve(JSON.parse(out) as Run) : reject(new Error(`child exited ${code}`))))
    })))
  return {
    rows: runs.reduce((sum, run) => sum + run.rows, 0),
    wallMs: Math.max(...runs.map((run) => run.wallMs)),
    cpuUs: runs.reduce((sum, run) => sum + run.cpuUs, 0)
  }
}

// The PostgreSQL server's CPU so far (microseconds): the postmaster with its reaped children
// (the backends of closed connections) and its live children, from /proc (Linux; 0 elsewhere).
const serverCpuUs = (dataDir: string): number => {
  try {
    const ticks = 100
    const postmaster = Number(readFileSync(join(dataDir, "postmaster.pid"), "utf8").split("\n")[0])
    const fields = (pid: number) => readFileSync(`/proc/${pid}/stat`, "utf8").replace(/^.*\) /, "").split(" ")
    const own = fields(postmaster)
    // Fields after the command: utime 11, stime 12, cutime 13, cstime 14 (0-based from the state).
    let total = Number(own[11]) + Number(own[12]) + Number(own[13]) + Number(own[14])
    for (const entry of readdirSync("/proc")) {
      if (!/^\d+$/.test(entry)) continue
      try {
        const child = fields(Number(entry))
        if (Number(child[1]) === postmaster) total += Number(child[11]) + Number(child[12])
      } catch {
        // gone meanwhile
      }
    }
    return (total / ticks) * 1e6
  } catch {
    return 0
  }
}

const countRows = (location: string) =>
  Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const store = yield* SqlStore.make(location)
    const rows = yield* store.sql<{ readonly n: number | string }>`SELECT COUNT(*) AS n FROM usage`
    return Number(rows[0]?.n ?? 0)
  })))

const main = async () => {
  if (!postgresAvailable) {
    console.log("!!! SKIPPED bench/pg-ledger.ts: PostgreSQL is not installed (apt-get install -y postgresql)")
    return
  }
  const dir = mkdtempSync(join(tmpdir(), "llmc-bench-ledger-"))
  const postgres = startPostgres()
  const dataDir = join(dirname(postgres.socketDir), "data")
  try {
    console.log(`usage ledger writes, ${ROWS} rows per process (chunks of ${CHUNK}, each waited for), batches of up to 500 rows:`)
    const results: Record<string, number> = {}
    for (const count of [1, 4]) {
      for (const backend of ["sqlite", "postgresql"] as const) {
        const location = backend === "sqlite" ? join(dir, `ledger-${count}.db`) : postgres.createDatabase(`ledger_${count}`)
        const serverBefore = backend === "postgresql" ? serverCpuUs(dataDir) : 0
        const run = count === 1 ? await Effect.runPromise(write(location, ROWS)) : await children(location, count)
        // The backends of the closed connections are reaped (their CPU lands in the postmaster's).
        await new Promise((resolve) => setTimeout(resolve, 300))
        const serverUs = backend === "postgresql" ? serverCpuUs(dataDir) - serverBefore : 0
        // Every process also wrote one warm-up row.
        const stored = (await countRows(location)) - count
        const rate = run.rows / (run.wallMs / 1000)
        results[`${backend}-${count}`] = rate
        console.log(
          `  ${backend.padEnd(10)} ${count} process${count === 1 ? " " : "es"}  ${Math.round(rate).toString().padStart(7)} rows/s  ` +
            `client CPU ${(run.cpuUs / run.rows).toFixed(1)} us/row  ` +
            `${backend === "postgresql" ? `server CPU ${(serverUs / run.rows).toFixed(1)} us/row  ` : ""}rows stored ${stored}/${run.rows}${stored === run.rows ? "" : "  (MISSING ROWS)"}`
        )
        if (stored !== run.rows) process.exitCode = 1
      }
    }
    console.log(
      `\n  ratio postgresql/sqlite: 1 process ${(results["postgresql-1"]! / results["sqlite-1"]!).toFixed(2)}, ` +
        `4 processes ${(results["postgresql-4"]! / results["sqlite-4"]!).toFixed(2)}`
    )
  } finally {
    postgres.destroy()
    rmSync(dir, { recursive: true, force: true })
  }
}

if (process.argv[2] === "--child") {
  Effect.runPromise(write(process.argv[3]!, Number(process.argv[4]), Number(process.argv[5]))).then((run) => {
    process.stdout.write(JSON.stringify(run))
    process.exit(0)
  }, (error: unknown) => {
    console.error(error)
    process.exit(1)
  })
} else {
  main().then(() => process.exit(process.exitCode ?? 0), (error: unknown) => {
    console.error(error)
    process.exit(1)
  })
}
