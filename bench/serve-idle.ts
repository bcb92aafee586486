/**
 * Serve's first requests after an idle spell (issue 16, stop 27). In `bench/serve.ts`'s rotation,
 * serve's chat window always follows seconds in which serve sat idle (the other targets' windows),
 * and its p99 was 19-61 ms where the next window on the same server had 4-7 ms. This reproduces
 * that directly: each variant (an `llm-connect serve` process, as in `bench/serve-ab.ts`) sits
 * idle `--idle` seconds, then gets an open loop at `--rate` for `--window` seconds (a new
 * keep-alive agent, as `bench/serve.ts` does), then, after `--gap` seconds, a second window (the
 * warm control); the variants take turns, so one idles while the others are loaded. Each request
 * is recorded with its send time; serve's process reports its collections, its HTTP client's new
 * connections and the connections it accepted (bench/internal/eventRecord.ts), the mock its own
 * new connections; with `--trace` serve also runs with `--trace-gc --trace-opt --trace-deopt`
 * and the lines are counted by arrival; with `--trace-gc`, `--trace-gc --trace-incremental-marking`
 * and the lines around each window after idle are printed (V8 writes them block-buffered: their
 * order and text count, not their times).
 *
 *   node bench/serve-idle.ts '[{"name":"base","tree":".","args":[]},{"name":"x","tree":".","args":[],"node":["--no-flush-bytecode"],"env":{}}]' \
 *     [--rate 1000] [--window 3] [--idle 15] [--gap 0.5] [--rounds 3] [--path chat|execute] [--trace | --trace-gc] [--bins] [--sequential K]
 *     [--detail [--stall 50]] [--generator worker|inline|alternate] [--generator-collect]
 *     [--stages [--stages-ms 300]] [--agent window|run] [--sequential K --fresh]
 *
 * `--detail` (stop 28): serve's process and the mock also record each request's time in them,
 * event-loop lags split into time on a CPU / waiting for one / blocked, and slow SQLite statements,
 * and this process its own collections and lags: each window prints serve's own p50 / p99 / max
 * and the load generator's and the mock's collections, and a window slower than `--stall` ms a
 * timeline in 50 ms bins. The open loop runs in a worker thread of its own
 * (bench/internal/loadWorker.ts; `--generator inline` in this process's main thread, as before
 * stop 28, whose full collections fell in the windows; `alternate`: both, every other round).
 * Per window: p50 / p99 / max, the latency of the first second in 50 ms bins (max per bin) with
 * `--bins`, and what happened in serve in the window's first second; then per variant the
 * medians over rounds, after idle and warm, and where its full collections fell (the counts
 * survive a loaded machine, the latencies do not). `--sequential K`: K requests one at a time
 * instead of the open loop, with serve's main-thread CPU for each.
 * To compare with a base commit: `git worktree add /tmp/before <commit>` and link node_modules into it.
 */
import { spawn } from "node:child_process"
import { existsSync, mkdtempSync, openSync, readdirSync, readFileSync } from "node:fs"
import { loadavg, tmpdir } from "node:os"
import { PerformanceObserver } from "node:perf_hooks"
import { join } from "node:path"
import { Agent } from "node:http"
import { createInterface } from "node:readline"
import { processCollector } from "../src/node/internal/idleCollection.ts"
import { client, openLoop, percentile, Stage, STAGE_COUNT } from "./internal/load.ts"
import * as LoadWorker from "./internal/loadWorker.ts"
import { argument, median } from "./internal/stats.ts"

interface Variant {
  readonly name: string
  readonly tree: string
  readonly args: ReadonlyArray<string>
  readonly node?: ReadonlyArray<string>
  readonly env?: Readonly<Record<string, string>>
}
const variants: ReadonlyArray<Variant> = JSON.parse(process.argv[2] ?? `[{"name":"serve","tree":".","args":[]}]`)
const RATE = argument("rate", 1000)
const WINDOW = argument("window", 3)
const IDLE = argument("idle", 15)
const GAP = argument("gap", 0.5)
const ROUNDS = argument("rounds", 3)
const PATH = process.argv.includes("--path") ? process.argv[process.argv.indexOf("--path") + 1]! : "chat"
// `--trace-gc`: serve runs with `--trace-gc --trace-incremental-marking` and the window's lines are printed (the reason of each collection).
const TRACE_GC = process.argv.includes("--trace-gc")
const TRACE = process.argv.includes("--trace") || TRACE_GC
const BINS = process.argv.includes("--bins")
// `--detail`: serve's process also records each request's time in serve, event-loop lags, its
// slow SQLite statements (bench/internal/eventRecord.ts); each window prints serve's own p99 /
// max, and a window whose slowest answer took over `--stall` ms (50) prints its timeline.
// `--stages` (stop 29): the load generator (in its worker) records each request's stages (due,
// written, socket given, connected for a new one, written out, first byte, end: load.ts `Stage`)
// and its own event loop's lags; each window prints, for its first `--stages-ms` ms (300), a
// timeline in 25 ms bins beside serve's accepts and request starts and the mock's new connections,
// and where the slowest requests spent their time. Implies `--detail` (serve's request starts).
const STAGES = process.argv.includes("--stages")
const STAGES_MS = argument("stages-ms", 300)
const DETAIL = process.argv.includes("--detail") || STAGES
// `--agent window|run` (stop 29): a new connection pool for each window (`window`, the default, as
// bench/serve.ts does), or one kept for the whole run (`run`: a real client's pool, whose
// connections outlive a quiet spell as long as serve keeps them).
const AGENT = process.argv.includes("--agent") ? process.argv[process.argv.indexOf("--agent") + 1]! : "window"
if (!["window", "run"].includes(AGENT)) throw new Error(`--agent: window or run, not ${AGENT}`)
const STALL = argument("stall", 50)
// Where the open loop runs: in a worker thread of its own (`worker`, the default: its heap apart
// from this process's, bench/internal/loadWorker.ts), in this process's main thread (`inline`, as
// before stop 28: its full collections fell in the windows and showed as the target's stalls,
// docs/performance.md, Serve, stop 28), or every other round in each (`alternate`, to compare the
// two in one run). `--generator-collect`: this process also collects its own heap before each
// window (a study: it left V8 a tighter limit, and more full collections fell in the windows).
const GENERATOR = process.argv.includes("--generator") ? process.argv[process.argv.indexOf("--generator") + 1]! : "worker"
if (!["worker", "inline", "alternate"].includes(GENERATOR)) throw new Error(`--generator: worker, inline or alternate, not ${GENERATOR}`)
const COLLECT_GENERATOR = process.argv.includes("--generator-collect")
const collectGenerator = processCollector()
const inWorker = (round: number) => STAGES || AGENT === "run" || GENERATOR === "worker" || (GENERATOR === "alternate" && round % 2 === 0)
const generator = LoadWorker.start()
// `--sequential K`: instead of the open loop, K requests one at a time (a new keep-alive client),
// each with the CPU serve's main thread spent on it (exact one at a time; the load of the
// machine does not change it as it changes latencies).
const SEQUENTIAL = argument("sequential", 0)
// `--fresh` (with `--sequential`, stop 29): each round also sends the K requests one at a time each
// on a new connection (0.5 s after the warm sequence), and prints serve's process CPU per request
// (/proc, its threads and children: the accept and the connection's setup included) for the
// warm sequence on one kept connection and for this one: what a reconnect costs serve.
const FRESH = process.argv.includes("--fresh")
const load = () => loadavg().map((value) => value.toFixed(1)).join(" / ")
const epoch = () => performance.timeOrigin + performance.now()

// Events by arrival or by their own time stamp: [ms since the epoch, what].
type Event = readonly [number, string]
const listen = (stream: NodeJS.ReadableStream, into: Array<Event>, first?: (line: string) => void) => {
  let pending = first
  createInterface({ input: stream }).on("line", (line) => {
    if (pending !== undefined && line.startsWith("listening on")) {
      const resolve = pending
      pending = undefined
      return resolve(line)
    }
    if (line.startsWith("{")) return // access log
    const stamped = /^@event (\d+(?:\.\d+)?) (.*)$/.exec(line)
    if (stamped !== null) return void into.push([Number(stamped[1]), stamped[2]!])
    if (!TRACE) return
    if (TRACE_GC && /Scavenge|Mark-Compact|IncrementalMarking|Memory reducer|Mark-Sweep/i.test(line)) into.push([epoch(), `trace-line ${line}`])
    const kind = /Scavenge|Mark-Compact|Mark-Sweep/.test(line) ? "trace-gc" : /deoptimiz|bailout/i.test(line) ? "trace-deopt" : /optimiz|compiling method|marking/i.test(line) ? "trace-opt" : undefined
    if (kind !== undefined) into.push([epoch(), kind])
  })
}

const home = mkdtempSync(join(tmpdir(), "serve-idle-"))
const env = { ...process.env, HOME: home, XDG_STATE_HOME: join(home, "state"), LLM_CONNECT_KEY_DIR: join(home, "keys"), NO_COLOR: "1" }
const mockEvents: Array<Event> = []
const recorder = new URL("./internal/eventRecord.ts", import.meta.url).pathname
// With `--detail` the mock records the same events as serve (to a file), and so does this
// process, the load generator (its collections, and its event loop's lags during the windows).
const mock = spawn(process.execPath, [...(DETAIL ? [`--import=${recorder}`] : []), new URL("./openai-mock-server.ts", import.meta.url).pathname, "--log-connections"], {
  stdio: ["ignore", "pipe", "pipe"],
  env: DETAIL ? { ...process.env, LLM_CONNECT_BENCH_EVENTS: join(home, "events-mock"), LLM_CONNECT_BENCH_EVENTS_DETAIL: "1" } : process.env
})
const mockPort = await new Promise<string>((resolve) => createInterface({ input: mock.stdout! }).once("line", resolve))
listen(mock.stderr!, mockEvents)
const mockUrl = `http://127.0.0.1:${mockPort.trim()}`
const chatBody = JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "system", content: "You are terse." }, { role: "user", content: "Name the longest river in Africa." }], max_tokens: 100, temperature: 0.2 })
const execBody = JSON.stringify({ provider: "openai-compatible", model: "gpt-4o-mini", systemPrompt: "You are terse.", prompt: "Name the longest river in Africa.", maxTokens: 100, temperature: 0.2 })
const clientEvents: Array<Event> = []
// The worker thread's collections (`--generator worker`): its isolate's, apart from this thread's.
const workerEvents: Array<Event> = []
let clientProbing = false
// The load generator's own collections (always: a full one in a window is reported).
{
  const kinds: Record<number, string> = { 1: "minor", 2: "minor-ms", 4: "major", 8: "incremental", 16: "weakcb" }
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = (entry as PerformanceEntry & { readonly detail?: { readonly kind?: number } }).detail?.kind ?? 0
      if (entry.duration >= 1 || kind === 4) clientEvents.push([performance.timeOrigin + entry.startTime, `gc ${kinds[kind] ?? String(kind)} ${entry.duration.toFixed(2)}`])
    }
  }).observe({ entryTypes: ["gc"] })
}
// The load generator's event loop during a window: a 2 ms timer answered more than 5 ms late.
// `lag <ms> <on cpu ms>`: the main thread's CPU time in that interval (the rest: waiting for a CPU or blocked).
let clientCpu = 0
const threadCpuMs = () => {
  const usage = process.threadCpuUsage()
  return (usage.user + usage.system) / 1000
}
const probeClient = (expected: number) => {
  const now = performance.now()
  if (now - expected > 5) clientEvents.push([performance.timeOrigin + expected, `lag ${(now - expected).toFixed(1)} ${(threadCpuMs() - clientCpu).toFixed(1)}`])
  clientCpu = threadCpuMs()
  if (clientProbing) setTimeout(probeClient, 2, now + 2)
}
// The mock's recorded events (with `--detail`), read after each window.
const mockDetail: Array<Event> = []
const refreshMock = () => {
  mockDetail.length = 0
  for (const file of readdirSync(home).filter((name) => name.startsWith("events-mock."))) {
    for (const line of readFileSync(join(home, file), "utf8").split("\n")) {
      const match = /^@event (\d+(?:\.\d+)?) (.*)$/.exec(line)
      if (match !== null) mockDetail.push([Number(match[1]), match[2]!])
    }
  }
}

const servers = await Promise.all(variants.map(async (variant, index) => {
  const provider = variant.args.includes("--provider") ? [] : ["--provider", "openai-compatible", "--base-url", `${mockUrl}/v1`, "--model", "gpt-4o-mini"]
  const traces = TRACE_GC ? ["--trace-gc", "--trace-incremental-marking"] : TRACE ? ["--trace-gc", "--trace-opt", "--trace-deopt"] : []
  const child = spawn(process.execPath, [...(variant.node ?? []), ...traces, `--import=${recorder}`, join(variant.tree, "src/cli/bin.ts"), "serve", "--port", "0", ...provider, ...variant.args], {
    env: { ...env, LLM_CONNECT_BENCH_EVENTS: join(home, `events-${index}`), ...(SEQUENTIAL > 0 ? { LLM_CONNECT_BENCH_EVENTS_REQUESTS: "1" } : {}), ...(DETAIL ? { LLM_CONNECT_BENCH_EVENTS_DETAIL: "1" } : {}), ...variant.env },
    // stderr (the access log) to a file, as bench/serve.ts does
    stdio: ["ignore", "pipe", openSync(join(home, `serve-${index}.log`), "w")]
  })
  const events: Array<Event> = []
  const line = await new Promise<string>((resolve, reject) => {
    listen(child.stdout!, events, resolve)
    child.once("exit", (code) => reject(new Error(`${variant.name}: serve exited ${code}`)))
  })
  return { ...variant, child, events, url: line.trim().slice("listening on ".length) }
}))
const target = (url: string) => ({ url: `${url}${PATH === "chat" ? "/v1/chat/completions" : "/execute"}`, body: PATH === "chat" ? chatBody : execBody })
const sleep = (seconds: number) => new Promise((resolve) => setTimeout(resolve, seconds * 1000))
// Stopped early (Ctrl-C, kill): stop the servers and the mock too.
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    for (const server of servers) server.child.kill("SIGTERM")
    mock.kill("SIGTERM")
    process.exit(130)
  })
}

// serve's recorded events so far (bench/internal/eventRecord.ts writes them to a file per process).
const refresh = (server: (typeof servers)[number], index: number) => {
  // The process that accepted connections: serve's own (`llm-connect serve` runs in a child, ADR
  // 0042; the parent loads the preload too).
  const stamped = readdirSync(home).filter((file) => file.startsWith(`events-${index}.`)).map((file) => readFileSync(join(home, file), "utf8"))
    .filter((text) => text.includes(" accept\n")).flatMap((text) => text.split("\n"))
  const kept = server.events.filter(([, name]) => name.startsWith("trace-"))
  server.events.length = 0
  server.events.push(...kept)
  for (const line of stamped) {
    const match = /^@event (\d+(?:\.\d+)?) (.*)$/.exec(line)
    if (match !== null) server.events.push([Number(match[1]), match[2]!])
  }
}
// One window: per request [send time (epoch ms), latency ms].
const window = async (url: string, worker: boolean) => {
  if (COLLECT_GENERATOR) collectGenerator()
  // Each answer's send time (epoch ms) and latency, in arrays allocated before the window (no
  // object per request kept through it: the load generator's own heap stays young).
  const sent = new Float64Array(Math.ceil(RATE * WINDOW) + 1)
  const took = new Float64Array(sent.length)
  let answered = 0
  if (DETAIL) {
    clientProbing = true
    setTimeout(probeClient, 2, performance.now() + 2)
  }
  const tcpBefore = DETAIL ? tcpCounters() : {}
  const started = epoch()
  let requests: Array<readonly [number, number]>
  let result: Awaited<ReturnType<typeof openLoop>>
  let stages: Float64Array | undefined
  let generatorLags: ReadonlyArray<readonly [number, number]> = []
  if (worker) {
    const inWorker = await generator.openLoop(target(url), RATE, WINDOW * 1000, 1_000, { stages: STAGES, keepAgent: AGENT === "run" })
    stages = inWorker.stages
    generatorLags = inWorker.lags ?? []
    for (const [at, kind, ms] of inWorker.collections) workerEvents.push([at, `gc ${kind} ${ms.toFixed(2)}`])
    requests = Array.from(inWorker.sentAt, (at, index) => [at, inWorker.tookMs[index]!] as const)
    result = inWorker
  } else {
    result = await openLoop(target(url), RATE, WINDOW * 1000, 1_000, (written, latency) => {
      sent[answered] = performance.timeOrigin + written
      took[answered++] = latency
    })
    requests = Array.from({ length: answered }, (_, index) => [sent[index]!, took[index]!] as const)
  }
  clientProbing = false
  const tcpAfter = DETAIL ? tcpCounters() : {}
  const tcp = ["ListenOverflows", "TCPSynRetrans", "TCPTimeouts"].map((name) => `${name} +${(tcpAfter[name] ?? 0) - (tcpBefore[name] ?? 0)}`).join(", ")
  return { started, requests, latencies: result.latencies, missed: result.scheduled - result.ok, tcp, worker, stages, generatorLags }
}
// The kernel's TCP counters (Linux, machine-wide): a listen queue that overflowed drops the
// connection's SYN or final ACK, and the client retries after a second (`--detail` prints the
// window's deltas).
const tcpCounters = (): Record<string, number> => {
  if (!existsSync("/proc/net/netstat")) return {}
  const lines = readFileSync("/proc/net/netstat", "utf8").split("\n").filter((line) => line.startsWith("TcpExt:"))
  const names = lines[0]?.split(/\s+/) ?? []
  const values = lines[1]?.split(/\s+/) ?? []
  return Object.fromEntries(names.map((name, index) => [name, Number(values[index])]))
}
// K requests one at a time: serve's per-request figures come from its events (refresh first).
// Serve's process CPU so far, µs (Linux: user + system of the process and its children, as
// bench/serve-ab.ts reads it; serve runs in a child of the launcher, ADR 0042).
const processCpuUs = (pid: number): number => {
  const stat = `/proc/${pid}/stat`
  if (!existsSync(stat)) return 0
  const fields = readFileSync(stat, "utf8").split(") ")[1]!.split(" ")
  const own = (Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])) * 10_000
  const children = `/proc/${pid}/task/${pid}/children`
  const kids = existsSync(children) ? readFileSync(children, "utf8").trim().split(/\s+/).filter((field) => field !== "").map(Number) : []
  return kids.reduce((sum, kid) => sum + processCpuUs(kid), own)
}
const sequence = async (url: string, pid?: number, fresh = false) => {
  // `fresh`: a new connection for every request (no keep-alive).
  const http = fresh ? client(target(url), new Agent({ keepAlive: false })) : client(target(url))
  const started = epoch()
  const cpuBefore = pid === undefined ? 0 : processCpuUs(pid)
  const latencies: Array<number> = []
  for (let index = 0; index < SEQUENTIAL; index++) {
    const sent = performance.now()
    if ((await http.post()) !== 200) throw new Error("not 200")
    latencies.push(performance.now() - sent)
  }
  http.close()
  return { started, ended: epoch(), latencies, cpuUs: pid === undefined ? Number.NaN : processCpuUs(pid) - cpuBefore }
}
const describeSequence = (server: (typeof servers)[number], w: Awaited<ReturnType<typeof sequence>>) => {
  const inWindow = server.events.filter(([at]) => at >= w.started && at <= w.ended + 5)
  const requests = inWindow.filter(([, name]) => name.startsWith("request ")).map(([, name]) => name.split(" ").slice(1).map(Number) as [number, number, number])
  const gcs = inWindow.filter(([, name]) => name.startsWith("gc "))
  const thread = requests.map((r) => r[0])
  const sum = (xs: ReadonlyArray<number>) => xs.reduce((a, b) => a + b, 0)
  return {
    first: thread[0] ?? Number.NaN,
    first10: sum(thread.slice(0, 10)),
    median: median(thread),
    total: sum(thread),
    text: `main-thread CPU µs: 1st ${thread.slice(0, 5).join(" ")}; first 10 ${sum(thread.slice(0, 10))}; median ${median(thread).toFixed(0)}; all ${sum(thread)} (process ${sum(requests.map((r) => r[1]))}); latency 1st ${w.latencies[0]!.toFixed(1)} ms, median ${median(w.latencies).toFixed(2)}; gc ${gcs.length} (${gcs.map(([, name]) => name.slice(3)).join(", ")}); connects ${inWindow.filter(([, n]) => n === "connect").length}; mock conns ${mockEvents.filter(([at, n]) => at >= w.started && at <= w.ended && n === "mock-connection").length}${
      TRACE ? `; trace-opt ${inWindow.filter(([, n]) => n === "trace-opt").length} trace-deopt ${inWindow.filter(([, n]) => n === "trace-deopt").length}` : ""
    }`
  }
}
const count = (events: ReadonlyArray<Event>, from: number, to: number, what: (name: string) => boolean) =>
  events.filter(([at, name]) => at >= from && at < to && what(name))
// `--detail`: serve's own latency for the window's requests (by start time) and, for a stalled
// window, a timeline in 50 ms bins of every bin whose slowest answer took over 20 ms: the load
// generator's slowest answer sent in the bin, serve's slowest request started in it, and what
// happened in serve during the bin (loop lags, collections, slow SQL, accepted connections,
// requests on new connections).
// `--detail`: per variant, serve's main-thread SQLite statements of 2 ms or more in the windows.
const slowSqlOf = new Map<string, { count: number; requests: number; ms: Array<number> }>()
const detail = (server: (typeof servers)[number], w: Awaited<ReturnType<typeof window>>) => {
  const end = w.started + WINDOW * 1000 + 200
  const served = count(server.events, w.started - 5, end, (name) => name.startsWith("served ")).map(([at, name]) => [at, Number(name.split(" ")[1]), name.split(" ")[2] === "1"] as const)
  const sorted = Float64Array.from(served.map(([, ms]) => ms)).sort()
  // Collections of the load generator and the mock in the window: minor count / total ms, and each other one.
  const collections = (events: ReadonlyArray<Event>) => {
    const gcs = count(events, w.started, end, (name) => name.startsWith("gc "))
    const minor = gcs.filter(([, name]) => name.startsWith("gc minor"))
    const other = gcs.filter(([, name]) => !name.startsWith("gc minor")).map(([at, name]) => `${name.slice(3)} at +${(at - w.started).toFixed(0)}`)
    return `${minor.length} minor (${minor.reduce((sum, [, name]) => sum + Number(name.split(" ")[2]), 0).toFixed(0)} ms)${other.length > 0 ? `, ${other.join(", ")}` : ""}`
  }
  // SQLite statements of 2 ms or more on serve's main thread in the window (stop 29: the ledger's
  // commits and their WAL checkpoints), counted per variant at the end.
  const slowSql = count(server.events, w.started, end, (name) => name.startsWith("sql ") && Number(name.split(" ")[1]) >= 2).map(([, name]) => Number(name.split(" ")[1]))
  const sums = slowSqlOf.get(server.name) ?? { count: 0, requests: 0, ms: [] as Array<number> }
  sums.count += slowSql.length
  sums.requests += served.length
  sums.ms.push(...slowSql)
  slowSqlOf.set(server.name, sums)
  const lines = [`serve's own: ${served.length} requests, p50 ${percentile(sorted, 50).toFixed(2)} p99 ${percentile(sorted, 99).toFixed(2)} max ${(sorted.at(-1) ?? Number.NaN).toFixed(1)}, on new connections ${
    served.filter(([, , fresh]) => fresh).length
  }; main-thread SQL >= 2 ms ${slowSql.length}${slowSql.length > 0 ? ` (${slowSql.map((ms) => ms.toFixed(1)).join(", ")} ms)` : ""}; load generator gc ${collections(w.worker ? workerEvents : clientEvents)}${w.worker ? ` (its worker; main thread ${collections(clientEvents)})` : ""}; mock gc ${collections(mockDetail)}; kernel, machine-wide: ${w.tcp}`]
  const stalled = (w.latencies.at(-1) ?? 0) > STALL
  if (!stalled) return lines[0]!
  const offset = (at: number) => (at - w.started).toFixed(0)
  const what = (name: string) => name.replace(/^gc /, "gc:").replace(/^sql /, "sql:")
  for (let from = w.started; from < end; from += 50) {
    const client = w.requests.filter(([at]) => at >= from && at < from + 50).reduce((max, [, ms]) => Math.max(max, ms), 0)
    if (client <= 20) continue
    const inBin = served.filter(([at]) => at >= from && at < from + 50)
    const events = count(server.events, from - 5, from + 50, (name) => /^(lag|gc |sql)/.test(name) || name === "accept")
    const accepts = events.filter(([, name]) => name === "accept").length
    const others = events.filter(([, name]) => name !== "accept").map(([at, name]) => `${offset(at)} ${what(name)}`)
    const mockMax = count(mockDetail, from - 5, from + 50, (name) => name.startsWith("served ")).reduce((max, [, name]) => Math.max(max, Number(name.split(" ")[1])), 0)
    const elsewhere = [
      ...count(mockDetail, from - 5, from + 50, (name) => /^(lag|gc )/.test(name)).map(([at, name]) => `${offset(at)} mock ${what(name)}`),
      ...count(clientEvents, from - 5, from + 50, () => true).map(([at, name]) => `${offset(at)} client ${what(name)}`),
      ...count(workerEvents, from - 5, from + 50, () => true).map(([at, name]) => `${offset(at)} client-worker ${what(name)}`)
    ]
    lines.push(`    +${offset(from)} ms: client max ${client.toFixed(1)}, serve max ${inBin.reduce((max, [, ms]) => Math.max(max, ms), 0).toFixed(1)} (${inBin.length} started, ${inBin.filter(([, , fresh]) => fresh).length} on new connections), mock max ${mockMax.toFixed(1)}, accepts ${accepts}${others.length > 0 ? `; ${others.join("; ")}` : ""}${elsewhere.length > 0 ? `; ${elsewhere.join("; ")}` : ""}`)
  }
  // What happened in serve from the end of the last window to this one's start (the idle spell).
  const before = count(server.events, w.started - IDLE * 1000 - 1000, w.started, (name) => /^gc major/.test(name) || (/^(lag|sql) /.test(name) && Number(name.split(" ")[1]) >= 20))
    .map(([at, name]) => `${offset(at)} ${what(name)}`)
  return `${lines[0]}\n  stalled window, by 50 ms bins (ms from the window's start):\n${lines.slice(1).join("\n")}${before.length > 0 ? `\n  before the window: ${before.join("; ")}` : ""}`
}
// `--stages`: the window's first `STAGES_MS` ms in 25 ms bins, each request by its due time: how
// many fell due, how late the generator wrote them, how many went on a new connection and how
// long those took to connect, the wait from written out to the first byte of the answer (serve's
// queue and handling), the slowest latency; beside them what serve did in the bin (connections
// accepted, requests started, its slowest handling), the mock's new connections (serve's
// upstream) and the generator's own loop lags. Then the slowest requests, stage by stage.
const stagesTimeline = (server: (typeof servers)[number], w: Awaited<ReturnType<typeof window>>) => {
  const st = w.stages
  if (st === undefined) return "stages: none (the generator ran inline)"
  const n = st.length / STAGE_COUNT
  const get = (index: number, stage: number) => st[index * STAGE_COUNT + stage]!
  const fmt = (ms: number) => (Number.isFinite(ms) ? ms.toFixed(ms < 10 ? 1 : 0) : "-")
  const end = w.started + WINDOW * 1000 + 2000
  const served = count(server.events, w.started - 5, end, (name) => name.startsWith("served ")).map(([at, name]) => [at, Number(name.split(" ")[1]), Number(name.split(" ")[3])] as const)
  // Serve's record of each request, found by the connection's port and the request's rank on it:
  // [start (epoch ms), ms in serve]; and each connection's accept time by port.
  const byPort = new Map<number, Array<readonly [number, number]>>()
  for (const [at, ms, port] of served) {
    if (!Number.isFinite(port) || port === 0) continue
    const list = byPort.get(port) ?? []
    list.push([at, ms])
    byPort.set(port, list)
  }
  const accepted = new Map<number, number>()
  for (const [at, name] of count(server.events, w.started - 5, end, (name) => name.startsWith("accepted "))) accepted.set(Number(name.split(" ")[1]), at)
  const servedAt = new Float64Array(n).fill(Number.NaN)
  const servedMs = new Float64Array(n).fill(Number.NaN)
  const acceptedAt = new Float64Array(n).fill(Number.NaN)
  const rank = new Map<number, number>()
  for (let index = 0; index < n; index++) {
    const port = get(index, Stage.port)
    if (!Number.isFinite(port)) continue
    const k = rank.get(port) ?? 0
    rank.set(port, k + 1)
    const record = byPort.get(port)?.[k]
    if (record !== undefined) {
      servedAt[index] = record[0]
      servedMs[index] = record[1]
    }
    if (get(index, Stage.reused) === 0) acceptedAt[index] = accepted.get(port) ?? Number.NaN
  }
  const paired = Array.from(servedAt).filter(Number.isFinite).length
  const fresh = Array.from({ length: n }, (_, index) => index).filter((index) => get(index, Stage.reused) === 0)
  const sortedOf = (values: ArrayLike<number>) => Float64Array.from(Array.from(values).filter(Number.isFinite)).sort()
  const connects = sortedOf(fresh.map((index) => get(index, Stage.connected) - get(index, Stage.written)))
  const waits = sortedOf(Array.from({ length: n }, (_, index) => get(index, Stage.firstByte) - get(index, Stage.flushed)))
  const queued = sortedOf(Array.from({ length: n }, (_, index) => servedAt[index]! - get(index, Stage.flushed)))
  const acceptWaits = sortedOf(fresh.map((index) => acceptedAt[index]! - get(index, Stage.connected)))
  const lines = [`stages: ${n} sent, on new connections ${fresh.length}${fresh.length > 0 ? ` (the last due at +${fmt(get(fresh.at(-1)!, Stage.scheduled) - w.started)} ms)` : ""}, connect p50 ${fmt(percentile(connects, 50))} max ${
    fmt(connects.at(-1) ?? Number.NaN)
  } ms, connected -> accepted by serve p50 ${fmt(percentile(acceptWaits, 50))} max ${fmt(acceptWaits.at(-1) ?? Number.NaN)}; written out -> first byte p50 ${fmt(percentile(waits, 50))} p99 ${fmt(percentile(waits, 99))} max ${
    fmt(waits.at(-1) ?? Number.NaN)
  }; written out -> started in serve p50 ${fmt(percentile(queued, 50))} p99 ${fmt(percentile(queued, 99))} max ${fmt(queued.at(-1) ?? Number.NaN)} (${paired} requests paired with serve's by port); generator loop lags ${w.generatorLags.length} (max ${
    fmt(w.generatorLags.reduce((max, [, ms]) => Math.max(max, ms), 0))
  } ms)`]
  lines.push(`    bin (ms) | due | written late max | new conns | connect max | accept wait max | written->out max | out->serve start max | out->1st byte max | latency max || serve accepts | started | handling max | serve loop lags (ms, by their start) | mock conns | generator lags`)
  for (let from = 0; from < STAGES_MS; from += 25) {
    const inBin = Array.from({ length: n }, (_, index) => index).filter((index) => get(index, Stage.scheduled) - w.started >= from && get(index, Stage.scheduled) - w.started < from + 25)
    const max = (pick: (index: number) => number, which: ReadonlyArray<number> = inBin) => {
      const values = which.map(pick).filter(Number.isFinite)
      return values.length === 0 ? Number.NaN : Math.max(...values)
    }
    const newIn = inBin.filter((index) => get(index, Stage.reused) === 0)
    const at = w.started + from
    const startedIn = served.filter(([t]) => t >= at && t < at + 25)
    lines.push(`    +${String(from).padStart(3)} | ${inBin.length} | ${fmt(max((i) => get(i, Stage.written) - get(i, Stage.scheduled)))} | ${newIn.length} | ${fmt(max((i) => get(i, Stage.connected) - get(i, Stage.written), newIn))} | ${
      fmt(max((i) => acceptedAt[i]! - get(i, Stage.connected), newIn))
    } | ${fmt(max((i) => get(i, Stage.flushed) - get(i, Stage.written)))} | ${fmt(max((i) => servedAt[i]! - get(i, Stage.flushed)))} | ${fmt(max((i) => get(i, Stage.firstByte) - get(i, Stage.flushed)))} | ${
      fmt(max((i) => get(i, Stage.end) - get(i, Stage.written)))
    } || ${count(server.events, at, at + 25, (name) => name === "accept").length} | ${startedIn.length} | ${fmt(startedIn.length === 0 ? Number.NaN : Math.max(...startedIn.map(([, ms]) => ms)))} | ${
      count(server.events, at, at + 25, (name) => name.startsWith("lag ")).map(([, name]) => name.split(" ")[1]).join(" ")
    } | ${
      count(mockEvents, at, at + 25, (name) => name === "mock-connection").length
    } | ${w.generatorLags.filter(([t]) => t >= at && t < at + 25).map(([, ms]) => fmt(ms)).join(" ")}`)
  }
  const slowest = Array.from({ length: n }, (_, index) => index).filter((index) => Number.isFinite(get(index, Stage.end)))
    .sort((a, b) => (get(b, Stage.end) - get(b, Stage.written)) - (get(a, Stage.end) - get(a, Stage.written))).slice(0, 5)
  lines.push(`    slowest (due at +ms: late / to socket / connect / accepted after / to written out / out -> serve start / in serve / serve end -> 1st byte / body, ms): ${slowest.map((i) =>
    `+${fmt(get(i, Stage.scheduled) - w.started)}: ${fmt(get(i, Stage.written) - get(i, Stage.scheduled))} / ${fmt(get(i, Stage.socket) - get(i, Stage.written))} / ${get(i, Stage.reused) === 1 ? "reused" : fmt(get(i, Stage.connected) - get(i, Stage.socket))} / ${
      fmt(acceptedAt[i]! - get(i, Stage.connected))
    } / ${fmt(get(i, Stage.flushed) - get(i, Stage.socket))} / ${fmt(servedAt[i]! - get(i, Stage.flushed))} / ${fmt(servedMs[i]!)} / ${fmt(get(i, Stage.firstByte) - servedAt[i]! - servedMs[i]!)} / ${fmt(get(i, Stage.end) - get(i, Stage.firstByte))}`
  ).join("; ")}`)
  return lines.join("\n")
}
const describe = (server: (typeof servers)[number], w: Awaited<ReturnType<typeof window>>) => {
  const first = w.started + 1000
  const gcs = count(server.events, w.started, first, (name) => name.startsWith("gc "))
  const gcMs = gcs.reduce((sum, [, name]) => sum + Number(name.split(" ")[2]), 0)
  const parts = [
    `p50 ${percentile(w.latencies, 50).toFixed(2)} p99 ${percentile(w.latencies, 99).toFixed(2)} max ${w.latencies.at(-1)?.toFixed(1)}${w.missed > 0 ? ` (${w.missed} missed)` : ""}`,
    `1st s: mock conns ${count(mockEvents, w.started, first, (name) => name === "mock-connection").length}, serve connects ${count(server.events, w.started, first, (name) => name === "connect").length}, accepts ${
      count(server.events, w.started, first, (name) => name === "accept").length
    }, gc ${gcs.length} (${gcMs.toFixed(1)} ms: ${gcs.map(([, name]) => name.slice(3)).join(", ")})`
  ]
  if (TRACE) {
    parts.push(["trace-opt", "trace-deopt"].map((kind) => `${kind} ${count(server.events, w.started, first, (name) => name === kind).length}/${count(server.events, w.started, w.started + WINDOW * 1000, (name) => name === kind).length}`).join(" "))
  }
  if (DETAIL) parts.push(detail(server, w))
  if (STAGES) parts.push(`\n  ${stagesTimeline(server, w)}`)
  if (BINS) {
    const bins = Array.from({ length: 20 }, (_, bin) => w.requests.filter(([at]) => at >= w.started + bin * 50 && at < w.started + (bin + 1) * 50).reduce((max, [, ms]) => Math.max(max, ms), 0))
    parts.push(`max per 50 ms: ${bins.map((ms) => ms.toFixed(ms < 10 ? 1 : 0)).join(" ")}`)
  }
  return parts.join("; ")
}

console.log(`serve after idle: ${variants.map((v) => v.name).join(", ")}; ${PATH}, ${RATE} req/s, windows of ${WINDOW} s, idle ${IDLE} s, warm control after ${GAP} s; load ${load()}`)
for (const server of servers) await (GENERATOR === "inline" ? openLoop(target(server.url), RATE, 3000) : generator.openLoop(target(server.url), RATE, 3000)) // warm-up
if (SEQUENTIAL > 0) {
  const rows = new Map<string, Array<{ idle: ReturnType<typeof describeSequence>; warm: ReturnType<typeof describeSequence> }>>()
  const freshRows = new Map<string, Array<readonly [number, number]>>()
  for (let round = 0; round < ROUNDS; round++) {
    for (let index = 0; index < servers.length; index++) {
      const server = servers[(index + round) % servers.length]!
      await sleep(IDLE)
      const cold = await sequence(server.url)
      await sleep(GAP)
      const warm = await sequence(server.url, server.child.pid)
      await sleep(0.2)
      refresh(server, servers.indexOf(server))
      const row = { idle: describeSequence(server, cold), warm: describeSequence(server, warm) }
      console.log(`round ${round} ${server.name} after idle: ${row.idle.text}`)
      console.log(`round ${round} ${server.name} warm:       ${row.warm.text}`)
      if (FRESH) {
        await sleep(GAP)
        const fresh = await sequence(server.url, server.child.pid, true)
        const perRequest = (w: typeof fresh) => w.cpuUs / SEQUENTIAL
        freshRows.set(server.name, [...(freshRows.get(server.name) ?? []), [perRequest(warm), perRequest(fresh)]])
        console.log(`round ${round} ${server.name} serve's process CPU per request: one kept connection ${perRequest(warm).toFixed(0)} µs, a new connection each ${perRequest(fresh).toFixed(0)} µs (latency median ${median(warm.latencies).toFixed(2)} / ${median(fresh.latencies).toFixed(2)} ms)`)
      }
      rows.set(server.name, [...(rows.get(server.name) ?? []), row])
    }
  }
  console.log(`\n${SEQUENTIAL} requests one at a time, serve's main-thread CPU µs, medians of ${ROUNDS} rounds; load ${load()}`)
  console.log(`| variant | after idle: 1st request | first 10 | all | warm: 1st request | first 10 | all |`)
  console.log(`| --- | ---: | ---: | ---: | ---: | ---: | ---: |`)
  for (const [name, rs] of rows) {
    const m = (pick: (r: ReturnType<typeof describeSequence>) => number, which: "idle" | "warm") => median(rs.map((r) => pick(r[which]))).toFixed(0)
    console.log(`| ${name} | ${m((r) => r.first, "idle")} | ${m((r) => r.first10, "idle")} | ${m((r) => r.total, "idle")} | ${m((r) => r.first, "warm")} | ${m((r) => r.first10, "warm")} | ${m((r) => r.total, "warm")} |`)
  }
  for (const [name, pairs] of freshRows) {
    console.log(`${name}: serve's process CPU per request, medians of ${pairs.length} rounds: one kept connection ${median(pairs.map(([kept]) => kept)).toFixed(0)} µs, a new connection each ${
      median(pairs.map(([, fresh]) => fresh)).toFixed(0)
    } µs, paired difference ${median(pairs.map(([kept, fresh]) => fresh - kept)).toFixed(0)} µs`)
  }
  for (const server of servers) server.child.kill("SIGTERM")
  mock.kill("SIGTERM")
  await sleep(1.5)
  process.exit(0)
}
// Per window: the variant, after idle or warm, whether the load generator collected before it, its
// p99, and the load generator's full collections in it (pauses, ms).
const windows: Array<{ name: string; idle: boolean; worker: boolean; p99: number; generatorFull: Array<number> }> = []
// The thread that ran the open loop: the worker's isolate, or this one.
const generatorFullIn = (w: Awaited<ReturnType<typeof window>>) =>
  count(w.worker ? workerEvents : clientEvents, w.started, w.started + WINDOW * 1000 + 200, (name) => name.startsWith("gc major")).map(([, name]) => Number(name.split(" ")[2]))
const results = new Map<string, { idle: Array<number>; warm: Array<number>; idleP50: Array<number>; warmP50: Array<number>; fullFirst: Array<number>; fullWarmFirst: Array<number>; fullIdle: Array<number>; fullInWindows: Array<number>; requests: number }>()
// When each variant's last window ended (its idle spell runs from there to its next window).
const lastEnd = new Map<string, number>()
// Full collections (serve's `gc major` events) in [from, to), and their pauses, ms.
const fullIn = (server: (typeof servers)[number], from: number, to: number) =>
  server.events.filter(([at, name]) => at >= from && at < to && name.startsWith("gc major")).map(([, name]) => Number(name.split(" ")[2]))
for (let round = 0; round < ROUNDS; round++) {
  for (let index = 0; index < servers.length; index++) {
    const server = servers[(index + round) % servers.length]!
    await sleep(IDLE)
    const cold = await window(server.url, inWorker(round))
    await sleep(GAP)
    const warm = await window(server.url, inWorker(round))
    if (DETAIL) {
      await sleep(0.2) // serve's and the mock's buffered lines
      refreshMock()
    }
    refresh(server, servers.indexOf(server))
    console.log(`round ${round} ${server.name} after idle: ${describe(server, cold)}`)
    if (TRACE_GC) {
      for (const [at, name] of server.events.filter(([at, name]) => name.startsWith("trace-line") && at >= cold.started - IDLE * 1000 - 4000 && at < cold.started + 1000 && !name.includes("Schedule") && !name.includes("Job:"))) {
        console.log(`  ${((at - cold.started) / 1000).toFixed(3)} s ${name.slice(11, 200)}`)
      }
      server.events.splice(0, server.events.length, ...server.events.filter(([, name]) => !name.startsWith("trace-line")))
    }
    console.log(`round ${round} ${server.name} warm:       ${describe(server, warm)}`)
    const r = results.get(server.name) ?? { idle: [], warm: [], idleP50: [], warmP50: [], fullFirst: [], fullWarmFirst: [], fullIdle: [], fullInWindows: [], requests: 0 }
    r.fullFirst.push(...fullIn(server, cold.started, cold.started + 1000))
    r.fullWarmFirst.push(...fullIn(server, warm.started, warm.started + 1000))
    r.fullIdle.push(...fullIn(server, lastEnd.get(server.name) ?? cold.started - IDLE * 1000, cold.started))
    r.fullInWindows.push(...fullIn(server, cold.started, cold.started + WINDOW * 1000 + 200), ...fullIn(server, warm.started, warm.started + WINDOW * 1000 + 200))
    r.requests += cold.requests.length + warm.requests.length
    lastEnd.set(server.name, warm.started + WINDOW * 1000 + 200)
    windows.push({ name: server.name, idle: true, worker: inWorker(round), p99: percentile(cold.latencies, 99), generatorFull: generatorFullIn(cold) })
    windows.push({ name: server.name, idle: false, worker: inWorker(round), p99: percentile(warm.latencies, 99), generatorFull: generatorFullIn(warm) })
    r.idle.push(percentile(cold.latencies, 99))
    r.warm.push(percentile(warm.latencies, 99))
    r.idleP50.push(percentile(cold.latencies, 50))
    r.warmP50.push(percentile(warm.latencies, 50))
    results.set(server.name, r)
  }
}
console.log(`\nmedians of ${ROUNDS} rounds, ms; load ${load()}`)
console.log(`| variant | after idle p50 | after idle p99 | warm p50 | warm p99 | full collections: in the idle spells | in the 1st s after idle | in the warm windows' 1st s | in the windows: per 1,000 requests, pause median / max ms |`)
console.log(`| --- | ---: | ---: | ---: | ---: | --- | --- | --- | --- |`)
const pauses = (xs: ReadonlyArray<number>) => `${xs.length}${xs.length > 0 ? ` (${xs.map((x) => x.toFixed(0)).join(", ")} ms)` : ""}`
for (const [name, r] of results) {
  console.log(`| ${name} | ${median(r.idleP50).toFixed(2)} | ${median(r.idle).toFixed(2)} | ${median(r.warmP50).toFixed(2)} | ${median(r.warm).toFixed(2)} | ${pauses(r.fullIdle)} | ${pauses(r.fullFirst)} | ${pauses(r.fullWarmFirst)} | ${(1000 * r.fullInWindows.length / Math.max(1, r.requests)).toFixed(2)}, ${
    r.fullInWindows.length > 0 ? `${median(r.fullInWindows).toFixed(0)} / ${Math.max(...r.fullInWindows).toFixed(0)}` : "-"
  } |`)
}
// Per round, and the windows over `--stall` ms, with the load generator's own full collections.
for (const name of results.keys()) {
  const of = (idle: boolean) => windows.filter((w) => w.name === name && w.idle === idle)
  const list = (ws: typeof windows) => ws.map((w) => `${w.p99.toFixed(1)}${w.generatorFull.length > 0 ? "*" : ""}${GENERATOR === "alternate" ? (w.worker ? "w" : "m") : ""}`).join(", ")
  console.log(`${name}: p99 per round after idle ${list(of(true))}; warm ${list(of(false))} (* the load generator's thread ran a full collection in the window${
    GENERATOR === "alternate" ? "; w: the load generator in a worker, m: in the main thread" : ""
  })`)
}
for (const worker of GENERATOR === "alternate" ? [true, false] : [GENERATOR === "worker"]) {
  const ws = windows.filter((w) => w.worker === worker)
  const stalled = ws.filter((w) => w.p99 > STALL)
  console.log(`load generator ${worker ? "in a worker thread" : "in the main thread"}: windows with p99 over ${STALL} ms ${stalled.length} of ${ws.length} (after idle ${stalled.filter((w) => w.idle).length} of ${
    ws.filter((w) => w.idle).length
  }); its own full collections in the windows ${ws.reduce((sum, w) => sum + w.generatorFull.length, 0)} (${ws.flatMap((w) => w.generatorFull).map((ms) => ms.toFixed(0)).join(", ") || "-"} ms), in the windows over ${STALL} ms ${
    stalled.reduce((sum, w) => sum + w.generatorFull.length, 0)
  }`)
}
if (DETAIL) {
  for (const [name, sums] of slowSqlOf) {
    console.log(`${name}: main-thread SQL >= 2 ms in the windows ${sums.count} over ${sums.requests} requests (${(1000 * sums.count / Math.max(1, sums.requests)).toFixed(3)} per 1,000), median / max ${
      sums.ms.length > 0 ? `${median(sums.ms).toFixed(1)} / ${Math.max(...sums.ms).toFixed(1)}` : "-"
    } ms`)
  }
}
// Resident size of a process and the processes it started, MB (Linux).
const residentMb = (pid: number): number => {
  const status = `/proc/${pid}/status`
  if (!existsSync(status)) return 0
  const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(status, "utf8"))?.[1] ?? 0)
  const children = `/proc/${pid}/task/${pid}/children`
  const kids = existsSync(children) ? readFileSync(children, "utf8").trim().split(/\s+/).filter((field) => field !== "").map(Number) : []
  return kids.reduce((sum, kid) => sum + residentMb(kid), kb / 1024)
}
console.log(`resident size at the end (serve's processes): ${servers.map((server) => `${server.name} ${residentMb(server.child.pid!).toFixed(0)} MB`).join(", ")}`)
for (const server of servers) server.child.kill("SIGTERM")
mock.kill("SIGTERM")
await sleep(1.5)
process.exit(0)
