/**
 * Chat's open-loop tail against `/execute`'s on one serve process (issue 16, stop 31). In
 * `bench/serve.ts`'s rotation chat is always the first serve window after serve sat idle (the
 * other targets' windows) and `/execute` always the second, right after chat: a p99 that differs
 * between them may be the path's or the position's. Here one `llm-connect serve` (the bench's
 * flags, the mock at 0 ms) gets, in each round, `--idle` seconds of nothing and then two open-loop
 * windows back to back, one per path, the order alternating from round to round (chat first in odd
 * rounds, `/execute` first in even ones), so each path is measured as often in each position.
 *
 * Serve's process loads bench/internal/eventRecord.ts (detail mode): its collections, event-loop
 * lags (split into time on a CPU and waiting for one), each request's time in serve, and slow
 * SQLite statements, all with wall-clock times, joined to each window. Per window: p50 / p99 / max
 * at the load generator, answers over 5 / 20 ms and how many of those fell in the window's first
 * 250 ms, serve's own p99, its scavenges (count, total pause, the largest), full collections, lags
 * over 10 ms (on CPU / waiting), SQLite statements over 1 ms, client connections serve accepted
 * (each window's load generator opens a new pool, as bench/serve.ts's does). Then per path and position the
 * medians and sums: counts survive a loaded machine, single p99s do not.
 *
 *   node bench/serve-tail.ts [--rate 1339] [--window 3] [--idle 6] [--rounds 8] [--serve-args "--trace-gc"]
 */
import { spawn } from "node:child_process"
import { mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { loadavg, tmpdir } from "node:os"
import { join } from "node:path"
import { createInterface } from "node:readline"
import { percentile, type Target } from "./internal/load.ts"
import * as LoadWorker from "./internal/loadWorker.ts"
import { argument, median } from "./internal/stats.ts"

const RATE = argument("rate", 1339)
const WINDOW = argument("window", 3)
const IDLE = argument("idle", 6)
const ROUNDS = argument("rounds", 8)
const serveArgsIndex = process.argv.indexOf("--serve-args")
const SERVE_NODE_ARGS = serveArgsIndex >= 0 ? process.argv[serveArgsIndex + 1]!.split(" ").filter((arg) => arg !== "") : []
const load = () => loadavg().map((value) => value.toFixed(1)).join(" / ")
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const home = mkdtempSync(join(tmpdir(), "serve-tail-"))
const env = { ...process.env, HOME: home, XDG_STATE_HOME: join(home, "state"), LLM_CONNECT_KEY_DIR: join(home, "keys"), NO_COLOR: "1" }
const recorder = new URL("./internal/eventRecord.ts", import.meta.url).pathname
const children: Array<ReturnType<typeof spawn>> = []
const firstLine = (child: ReturnType<typeof spawn>) =>
  new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once("line", (line) => resolve(line.trim()))
    child.once("exit", (code) => reject(new Error(`exited ${code} before it was ready`)))
  })

const mock = spawn(process.execPath, [new URL("./openai-mock-server.ts", import.meta.url).pathname], { stdio: ["ignore", "pipe", "inherit"] })
children.push(mock)
const mockUrl = `http://127.0.0.1:${await firstLine(mock)}`
const serve = spawn(
  process.execPath,
  [...SERVE_NODE_ARGS, `--import=${recorder}`, new URL("../src/cli/bin.ts", import.meta.url).pathname, "serve", "--port", "0", "--provider", "openai-compatible", "--base-url", `${mockUrl}/v1`, "--model", "gpt-4o-mini"],
  { env: { ...env, LLM_CONNECT_BENCH_EVENTS: join(home, "events"), LLM_CONNECT_BENCH_EVENTS_DETAIL: "1" }, stdio: ["ignore", "pipe", openSync(join(home, "serve.log"), "w")] }
)
children.push(serve)
const serveUrl = (await firstLine(serve)).slice("listening on ".length)
const stop = () => {
  for (const child of children) child.kill("SIGTERM")
}
process.once("SIGINT", () => {
  stop()
  process.exit(130)
})

const paths: ReadonlyArray<{ readonly name: string; readonly target: Target }> = [
  {
    name: "chat",
    target: {
      url: `${serveUrl}/v1/chat/completions`,
      body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "system", content: "You are terse." }, { role: "user", content: "Name the longest river in Africa." }], max_tokens: 100, temperature: 0.2 })
    }
  },
  {
    name: "execute",
    target: {
      url: `${serveUrl}/execute`,
      body: JSON.stringify({ provider: "openai-compatible", model: "gpt-4o-mini", systemPrompt: "You are terse.", prompt: "Name the longest river in Africa.", maxTokens: 100, temperature: 0.2 })
    }
  }
]

// serve's recorded events (the process that accepted connections: serve runs in a child, ADR 0042).
type Event = readonly [number, string]
const events = (): ReadonlyArray<Event> =>
  readdirSync(home).filter((file) => file.startsWith("events.")).map((file) => readFileSync(join(home, file), "utf8"))
    .filter((text) => text.includes(" served ")).flatMap((text) => text.split("\n")).flatMap((line): Array<Event> => {
      const match = /^@event (\d+(?:\.\d+)?) (.*)$/.exec(line)
      return match === null ? [] : [[Number(match[1]), match[2]!]]
    })

interface Row {
  readonly path: string
  readonly position: "first" | "second"
  readonly p50: number
  readonly p99: number
  readonly max: number
  readonly over5: number
  readonly over20: number
  readonly over5Early: number
  readonly serveP99: number
  readonly scavenges: number
  readonly scavengeMs: number
  readonly scavengeMax: number
  readonly majors: number
  readonly majorMs: number
  readonly lags: number
  readonly lagCpu: number
  readonly lagWait: number
  readonly sqlSlow: number
  readonly sqlMs: number
  /** Client connections serve accepted in the window, and in its first 250 ms. */
  readonly accepted: number
  readonly acceptedEarly: number
}

const generator = LoadWorker.start()
console.log(`serve-tail: ${process.version}, ${RATE} req/s, windows of ${WINDOW} s after ${IDLE} s idle, ${ROUNDS} rounds; load average at start ${load()}`)
// Warm-up: both paths, as bench/serve.ts's closed-loop round and warm-up windows do.
for (let index = 0; index < 3; index++) for (const { target } of paths) await generator.openLoop(target, RATE, 1000)
const rows: Array<Row> = []
for (let round = 0; round < ROUNDS; round++) {
  await sleep(IDLE * 1000)
  const order = round % 2 === 0 ? paths : [...paths].reverse()
  const windows: Array<{ readonly name: string; readonly position: "first" | "second"; readonly started: number; readonly ended: number; readonly result: LoadWorker.WindowResult }> = []
  for (const [index, { name, target }] of order.entries()) {
    const started = Date.now()
    const result = await generator.openLoop(target, RATE, WINDOW * 1000)
    windows.push({ name, position: index === 0 ? "first" : "second", started, ended: Date.now(), result })
  }
  await sleep(200) // the recorder's buffered lines (written within 100 ms)
  const all = events()
  for (const { name, position, started, ended, result } of windows) {
    const inside = all.filter(([at]) => at >= started && at < ended)
    const fields = (prefix: string) => inside.filter(([, what]) => what.startsWith(prefix)).map(([, what]) => what.split(" "))
    const served = fields("served ").map((parts) => Number(parts[1])).sort((a, b) => a - b)
    const gcs = fields("gc ")
    const scavenges = gcs.filter((parts) => parts[1] === "minor" || parts[1] === "minor-ms").map((parts) => Number(parts[2]))
    const majors = gcs.filter((parts) => parts[1] === "major").map((parts) => Number(parts[2]))
    const lags = fields("lag ").filter((parts) => Number(parts[1]) >= 10)
    const sql = fields("sql ").map((parts) => Number(parts[1]))
    const accepts = inside.filter(([, what]) => what.startsWith("accepted "))
    let over5Early = 0
    for (let index = 0; index < result.sentAt.length; index++) {
      if (result.tookMs[index]! > 5 && result.sentAt[index]! - started < 250) over5Early++
    }
    const over = (ms: number) => result.latencies.reduce((count, latency) => count + (latency > ms ? 1 : 0), 0)
    const sum = (values: ReadonlyArray<number>) => values.reduce((total, value) => total + value, 0)
    const row: Row = {
      path: name,
      position,
      p50: percentile(result.latencies, 50),
      p99: percentile(result.latencies, 99),
      max: result.latencies.at(-1) ?? Number.NaN,
      over5: over(5),
      over20: over(20),
      over5Early,
      serveP99: percentile(served, 99),
      scavenges: scavenges.length,
      scavengeMs: sum(scavenges),
      scavengeMax: Math.max(0, ...scavenges),
      majors: majors.length,
      majorMs: sum(majors),
      lags: lags.length,
      lagCpu: sum(lags.map((parts) => Number(parts[2]))),
      lagWait: sum(lags.map((parts) => Number(parts[3]))),
      sqlSlow: sql.length,
      sqlMs: sum(sql),
      accepted: accepts.length,
      acceptedEarly: accepts.filter(([at]) => at - started < 250).length
    }
    rows.push(row)
    console.log(
      `round ${round + 1} ${name.padEnd(7)} ${position.padEnd(6)}: p50 ${row.p50.toFixed(2)} p99 ${row.p99.toFixed(2)} max ${row.max.toFixed(1)} ms; over 5 / 20 ms ${row.over5} / ${row.over20} (over 5 in the first 250 ms ${row.over5Early}); serve's own p99 ${row.serveP99.toFixed(2)}; scavenges ${row.scavenges} (${row.scavengeMs.toFixed(1)} ms, max ${row.scavengeMax.toFixed(1)}); full ${row.majors} (${row.majorMs.toFixed(1)} ms); lags >= 10 ms ${row.lags} (on CPU ${row.lagCpu.toFixed(0)}, waiting ${row.lagWait.toFixed(0)} ms); SQLite >= 1 ms ${row.sqlSlow} (${row.sqlMs.toFixed(1)} ms); connections accepted ${row.accepted} (first 250 ms ${row.acceptedEarly}); sent ${result.sent}/${result.scheduled}, 2xx ${result.ok}; load ${load()}`
    )
  }
}

console.log(`\nper path and position, ${ROUNDS / 2} windows each: medians (p50, p99, serve's own p99) and sums (the counts); load average now ${load()}`)
console.log("| path | position | p50 ms | p99 ms | serve's own p99 | answers over 5 ms (first 250 ms) | over 20 ms | scavenges (ms) | full (ms) | lags >= 10 ms (on CPU / waiting, ms) | SQLite >= 1 ms (ms) | connections accepted (first 250 ms) |")
console.log("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
const sumOf = (group: ReadonlyArray<Row>, pick: (row: Row) => number) => group.reduce((total, row) => total + pick(row), 0)
for (const path of ["chat", "execute"]) {
  for (const position of ["first", "second", "both"] as const) {
    const group = rows.filter((row) => row.path === path && (position === "both" || row.position === position))
    if (group.length === 0) continue
    console.log(
      `| ${path} | ${position} | ${median(group.map((row) => row.p50)).toFixed(2)} | ${median(group.map((row) => row.p99)).toFixed(2)} | ${median(group.map((row) => row.serveP99)).toFixed(2)} | ${sumOf(group, (row) => row.over5)} (${sumOf(group, (row) => row.over5Early)}) | ${
        sumOf(group, (row) => row.over20)
      } | ${sumOf(group, (row) => row.scavenges)} (${sumOf(group, (row) => row.scavengeMs).toFixed(0)}) | ${sumOf(group, (row) => row.majors)} (${sumOf(group, (row) => row.majorMs).toFixed(0)}) | ${sumOf(group, (row) => row.lags)} (${
        sumOf(group, (row) => row.lagCpu).toFixed(0)
      } / ${sumOf(group, (row) => row.lagWait).toFixed(0)}) | ${sumOf(group, (row) => row.sqlSlow)} (${sumOf(group, (row) => row.sqlMs).toFixed(0)}) | ${sumOf(group, (row) => row.accepted)} (${sumOf(group, (row) => row.acceptedEarly)}) |`
    )
  }
}
await generator.close()
stop()
await sleep(300)
rmSync(home, { recursive: true, force: true })
