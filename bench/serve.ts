/**
 * What `llm-connect serve` adds to a call (issue 16), against the same OpenAI-compatible mock at
 * 0 ms (bench/openai-mock-server.ts), each target in its own process:
 *
 * - direct: the client calls the mock;
 * - floor: a minimal `node:http` pass-through proxy (bench/passthrough-proxy.ts), the least an
 *   HTTP hop in Node costs;
 * - serve: `llm-connect serve` started as the CLI is (`node src/cli/bin.ts serve --port 0`, the
 *   whole default stack: budget, retry, limits, observability, the usage ledger in SQLite; the
 *   access log goes to a file, as stderr redirected), on `POST /v1/chat/completions` and on
 *   `POST /execute`;
 * - serve's HTTP core alone (bench/serve-core-server.ts): `Server.make` with one route answering
 *   the mock's JSON and no model call, to set beside direct (the mock is a bare `node:http`
 *   server answering the same JSON);
 * - the Effect floor (bench/effect-floor-proxy.ts): Effect's `NodeHttpServer` + `HttpRouter`
 *   forwarding the body to the mock with Effect's `HttpClient` (undici) and streaming the answer
 *   back, no parsing: the least a server on the mandated Effect modules costs (and the same with
 *   the answer read whole and sent as bytes, `--buffered`, cheaper still). Serve is reported as x
 *   the node:http floor (the issue's goal) and x the Effect floors (what our code adds).
 *
 * Closed loop (autocannon, 1 and 100 connections): throughput, serve / floor, and the CPU per
 * request of each process (user + system from /proc, Linux). Open loop (a fixed rate of half the
 * floor's saturation throughput measured in this run, and, when a target saturates below that,
 * half the slowest target's; ADR 0025 and bench/internal/load.ts say why autocannon's `-R` is not
 * an open loop, and its figures are printed beside for reference): p50 and p99 latency per
 * target and serve's added latency over the floor. Then the
 * bridge: a process per call (`llm-connect bridge`) vs one `bridge --jsonl` process vs
 * `POST /execute`, wall ms per call and calls/s at 1 and a few in flight.
 *
 * The load generator, the mock, the floor and serve share the machine, so the figures that
 * count are the ratios and differences against the floor measured in the same run: targets are
 * interleaved in each of `--reps` rounds (the order rotating), figures are medians over rounds,
 * and the load average is printed with them.
 *
 *   node bench/serve.ts [--quick] [--reps 3] [--seconds 3] [--spawns 2] [--calls 1000] [--concurrent 8] [--no-bridge]
 *   node bench/serve.ts --serve-args "--cpu-prof --cpu-prof-dir=.prof"   # profile serve (stopped with SIGTERM)
 *   node bench/serve.ts --open-loop-only [--histogram] [--warm-each]   # only the open loop (rates sized by one closed-loop round)
 *   node bench/serve.ts --generator inline ...   # the open loop in this process's main thread (before stop 28; ADR 0051)
 *
 *   node bench/serve.ts --gc ...   # serve's garbage collections: per request and per scavenge (bench/internal/gcRecord.ts)
 *
 * `--warm-each` precedes each measured open-loop window with a 500 ms warm-up of its target at the
 * same rate.
 *
 * Serve's two paths are one unit of the open loop's rotation, their order alternating from round
 * to round over an even number of rounds (stop 31: until then chat was always serve's first
 * window after idle and `/execute` always its second, and chat's p99 carried the first window's
 * tail); a line sets serve's first windows after idle against its second ones, either path.
 *   node bench/serve.ts --open-loop-only [--chat-first | --execute-first] [--tail]   # a fixed order; --tail: per serve window, where its slow answers fall
 */
import autocannon from "autocannon"
import { type ChildProcess, spawn } from "node:child_process"
import { existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { loadavg, tmpdir } from "node:os"
import { join } from "node:path"
import { createInterface } from "node:readline"
import * as GcRecord from "./internal/gcRecord.ts"
import { client, closedLoop, openLoop, percentile, type Target } from "./internal/load.ts"
import * as LoadWorker from "./internal/loadWorker.ts"
import { argument, median, time } from "./internal/stats.ts"

const QUICK = process.argv.includes("--quick")
const REPS = argument("reps", QUICK ? 2 : 3)
const SECONDS = argument("seconds", QUICK ? 2 : 3)
const SPAWNS = argument("spawns", 2)
const CALLS = argument("calls", QUICK ? 500 : 1000)
const CONCURRENT = argument("concurrent", 8)
const CONNECTIONS = [1, 100]
const BRIDGE = !process.argv.includes("--no-bridge")
const serveArgsIndex = process.argv.indexOf("--serve-args")
const SERVE_NODE_ARGS = serveArgsIndex >= 0 ? process.argv[serveArgsIndex + 1]!.split(" ").filter((arg) => arg !== "") : []
// Only the open loop (the closed loop runs once at C=100 to size the rates, its tables are not printed; no bridge).
const OPEN_LOOP_ONLY = process.argv.includes("--open-loop-only")
// `--warm-each`: each measured open-loop window is preceded by a 500 ms warm-up of the same target
// at the same rate (in the rotation, a target measured right after other targets' windows runs
// its first requests on a process idle for seconds: for serve, always chat, never /execute).
const WARM_EACH = process.argv.includes("--warm-each")
// `--tail`: per open-loop window of serve's two paths, where in the window its slow answers fall
// (answers over 5 ms per 250 ms of the window, by send time) and how long serve sat idle before it.
const TAIL = process.argv.includes("--tail")
// Serve's two paths are neighbours in the rotation, so one of them is always the first serve
// window after serve sat idle through the other targets' windows, the other always the second,
// on a serve just loaded. Until stop 31 that was chat, in every round of every pass, and its p99
// carried serve's first window after idle (stop 31 in docs/performance.md). Now their order
// alternates from round to round (chat first in odd rounds, `/execute` in even ones) and the
// open loop runs an even number of rounds, so each path is measured as often in each position;
// `--chat-first` keeps the former order (chat first in every round), `--execute-first` the reverse.
const CHAT_FIRST = process.argv.includes("--chat-first")
const EXECUTE_FIRST = process.argv.includes("--execute-first")
const OPEN_REPS = CHAT_FIRST || EXECUTE_FIRST || REPS % 2 === 0 ? REPS : REPS + 1
// A latency histogram per target of every open-loop round (fraction of requests per bucket).
const HISTOGRAM = process.argv.includes("--histogram")
const BUCKETS_MS = [0.5, 1, 2, 5, 10, 20, 50, 100, 200]
// `--gc`: serve's process records its garbage collections (bench/internal/gcRecord.ts), summed at the end.
const GC = process.argv.includes("--gc")
// The open loop runs in a worker thread of its own (bench/internal/loadWorker.ts): in this
// process's main thread, its heap shared the run's records and autocannon's runs, and its full
// collections fell inside measured windows as the target's latency (ADR 0051). `--generator
// inline` runs it in the main thread as before.
const INLINE_GENERATOR = process.argv.includes("--generator") && process.argv[process.argv.indexOf("--generator") + 1] === "inline"
const generator = INLINE_GENERATOR ? undefined : LoadWorker.start()
const openLoopAt = (target: Target, rate: number, durationMs: number) =>
  generator === undefined ? openLoop(target, rate, durationMs) : generator.openLoop(target, rate, durationMs)

const bin = join(import.meta.dirname, "../src/cli/bin.ts")
const home = mkdtempSync(join(tmpdir(), "llm-connect-bench-serve-"))
const env = { HOME: home, XDG_STATE_HOME: join(home, "state"), LLM_CONNECT_KEY_DIR: join(home, "keys"), NO_COLOR: "1" }
const children: Array<ChildProcess> = []
const load = () => loadavg().map((value) => value.toFixed(1)).join(" / ")

// CPU time (user + system) a process used so far, µs, from /proc (Linux; undefined elsewhere).
const TICK_US = 10_000 // USER_HZ is 100 on Linux
// With the processes it started (`llm-connect serve` runs in a child process of its own, ADR 0042).
const cpuOf = (pid: number | undefined): number | undefined => {
  if (pid === undefined || !existsSync(`/proc/${pid}/stat`)) return undefined
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")
  const children = `/proc/${pid}/task/${pid}/children`
  const kids = existsSync(children) ? readFileSync(children, "utf8").trim().split(/\s+/).filter((field) => field !== "").map(Number) : []
  return kids.reduce((sum, kid) => sum + (cpuOf(kid) ?? 0), (Number(fields[11]) + Number(fields[12])) * TICK_US)
}

// A child that prints one line once it is ready; resolves with that line.
const startChild = async (args: ReadonlyArray<string>, options: { env?: Record<string, string>; stderr?: number } = {}) => {
  const child = spawn(process.execPath, args, { env: options.env ?? process.env, stdio: ["ignore", "pipe", options.stderr ?? "inherit"] })
  children.push(child)
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once("line", resolve)
    child.once("exit", (code) => reject(new Error(`${args.join(" ")} exited ${code} before it was ready`)))
  })
  return { child, line: line.trim() }
}

const MODEL = "gpt-4o-mini"
const SYSTEM = "You are terse."
const PROMPT = "Name the longest river in Africa."
const chatBody = JSON.stringify({
  model: MODEL,
  messages: [{ role: "system", content: SYSTEM }, { role: "user", content: PROMPT }],
  max_tokens: 100,
  temperature: 0.2
})
const bridgeRequest = (id?: number) =>
  JSON.stringify({ ...(id !== undefined ? { id } : {}), provider: "openai-compatible", model: MODEL, systemPrompt: SYSTEM, prompt: PROMPT, maxTokens: 100, temperature: 0.2 })

const main = async () => {
  console.log(`serve benchmark: ${process.version}, ${REPS} rounds, ${SECONDS} s per measurement; load average at start ${load()} (1 / 5 / 15 min)`)
  const mock = await startChild([join(import.meta.dirname, "openai-mock-server.ts")])
  const mockUrl = `http://127.0.0.1:${mock.line}`
  const floor = await startChild([join(import.meta.dirname, "passthrough-proxy.ts"), "--upstream", mockUrl])
  const floorUrl = `http://127.0.0.1:${floor.line}`
  const providerFlags = ["--provider", "openai-compatible", "--base-url", `${mockUrl}/v1`, "--model", MODEL]
  const serveLog = join(home, "serve.log")
  const gcDir = join(home, "gc")
  if (GC) mkdirSync(gcDir)
  const gcArgs = GC ? [`--import=${join(import.meta.dirname, "internal/gcRecord.ts")}`] : []
  const serve = await startChild([...SERVE_NODE_ARGS, ...gcArgs, bin, "serve", "--port", "0", ...providerFlags], {
    env: GC ? { ...env, LLM_CONNECT_BENCH_GC_DIR: gcDir } : env,
    stderr: openSync(serveLog, "w")
  })
  if (!/^listening on http:\/\/127\.0\.0\.1:\d+$/.test(serve.line)) throw new Error(`unexpected first line from serve: ${serve.line}`)
  const serveUrl = serve.line.slice("listening on ".length)
  const core = await startChild([join(import.meta.dirname, "serve-core-server.ts"), "--access-log"], { stderr: openSync(join(home, "core.log"), "w") })
  const coreUrl = `http://127.0.0.1:${core.line}`
  const effectFloor = await startChild([join(import.meta.dirname, "effect-floor-proxy.ts"), "--upstream", mockUrl])
  const effectFloorUrl = `http://127.0.0.1:${effectFloor.line}`
  const effectFloorBuffered = await startChild([join(import.meta.dirname, "effect-floor-proxy.ts"), "--upstream", mockUrl, "--buffered"])

  // Each target with the process in front of the mock (none for direct calls), whose CPU per request is measured.
  const targets: ReadonlyArray<{ readonly name: string; readonly target: Target; readonly pid: number | undefined }> = [
    { name: "direct (mock)", target: { url: `${mockUrl}/v1/chat/completions`, body: chatBody }, pid: undefined },
    { name: "floor (node:http proxy)", target: { url: `${floorUrl}/v1/chat/completions`, body: chatBody }, pid: floor.child.pid },
    { name: "serve /v1/chat/completions", target: { url: `${serveUrl}/v1/chat/completions`, body: chatBody }, pid: serve.child.pid },
    { name: "serve /execute", target: { url: `${serveUrl}/execute`, body: bridgeRequest() }, pid: serve.child.pid },
    // serve's HTTP core with a fixed answer and no model call (bench/serve-core-server.ts): compare with direct.
    { name: "serve's HTTP core alone (no model call)", target: { url: `${coreUrl}/v1/chat/completions`, body: chatBody }, pid: core.child.pid },
    // Effect's HTTP server and client forwarding bytes (bench/effect-floor-proxy.ts): the mandated modules' own cost.
    { name: "Effect floor (NodeHttpServer + HttpClient proxy)", target: { url: `${effectFloorUrl}/v1/chat/completions`, body: chatBody }, pid: effectFloor.child.pid },
    {
      name: "Effect floor, answer buffered",
      target: { url: `http://127.0.0.1:${effectFloorBuffered.line}/v1/chat/completions`, body: chatBody },
      pid: effectFloorBuffered.child.pid
    }
  ]
  const DIRECT = 0
  const CORE = 4
  const FLOOR = 1
  const EFFECT_FLOOR = 5
  const EFFECT_FLOOR_BUFFERED = 6
  // Every target answers, and with the mock's reply.
  for (const { name, target } of targets) {
    const answer = await fetch(target.url, { method: "POST", headers: { "content-type": "application/json" }, body: target.body })
    const text = await answer.text()
    if (answer.status !== 200 || !text.includes("The Nile")) throw new Error(`${name}: ${answer.status} ${text}`)
  }
  const rotated = <A>(items: ReadonlyArray<A>, rep: number) => items.map((_, index) => items[(index + rep) % items.length]!)
  const problems: Array<string> = []

  // Closed loop: throughput, and CPU per request of the process in front of the mock and of the mock.
  const throughput = new Map<string, Array<number>>()
  const cpu = new Map<string, Array<number>>()
  const push = (map: Map<string, Array<number>>, key: string, value: number | undefined) => {
    if (value !== undefined && Number.isFinite(value)) map.set(key, [...(map.get(key) ?? []), value])
  }
  // Warm-up: long enough for serve's JIT to settle (its first seconds run several times slower).
  for (const { target } of targets) await cannon(target, CONNECTIONS.at(-1)!, Math.max(2, SECONDS))
  for (const connections of OPEN_LOOP_ONLY ? [CONNECTIONS.at(-1)!] : CONNECTIONS) {
    for (const { target } of targets) await cannon(target, connections, 1)
    for (let rep = 0; rep < (OPEN_LOOP_ONLY ? 1 : REPS); rep++) {
      for (const { name, pid, target } of rotated(targets, rep)) {
        const before = { server: cpuOf(pid), mock: cpuOf(mock.child.pid), generator: process.cpuUsage() }
        const result = await cannon(target, connections, SECONDS)
        const served = result["2xx"]
        const generator = process.cpuUsage(before.generator)
        if (result.non2xx + result.errors > 0) problems.push(`${name}, ${connections} connections: ${result.non2xx} non-2xx, ${result.errors} errors`)
        const key = `${name}@${connections}`
        push(throughput, key, served / result.duration)
        const server = cpuOf(pid)
        push(cpu, `${key}:server`, server === undefined || before.server === undefined ? undefined : (server - before.server) / served)
        const mockNow = cpuOf(mock.child.pid)
        push(cpu, `${key}:mock`, mockNow === undefined || before.mock === undefined ? undefined : (mockNow - before.mock) / served)
        push(cpu, `${key}:generator`, (generator.user + generator.system) / served)
      }
    }
  }
  const cpuCell = (key: string) => (cpu.has(key) ? median(cpu.get(key)!).toFixed(0) : "-")
  if (OPEN_LOOP_ONLY) {
    console.log(`\nopen loop only: the rates come from one closed-loop round of ${SECONDS} s at C=${CONNECTIONS.at(-1)}: ${
      targets.map(({ name }) => `${name} ${median(throughput.get(`${name}@${CONNECTIONS.at(-1)}`)!).toFixed(0)} req/s`).join(", ")
    }; load average now ${load()}`)
  } else {
    console.log(`\nclosed loop (autocannon), requests/s, medians of ${REPS} rounds of ${SECONDS} s; load average now ${load()}`)
    console.log(`| target | ${CONNECTIONS.map((c) => `C=${c} req/s | x floor`).join(" | ")} |`)
    console.log(`| --- | ${CONNECTIONS.map(() => "---: | ---:").join(" | ")} |`)
    for (const { name } of targets) {
      const cells = CONNECTIONS.map((c) => {
        const mine = throughput.get(`${name}@${c}`)!
        const floorRuns = throughput.get(`${targets[FLOOR]!.name}@${c}`)!
        // Paired: each round's ratio to the floor measured in the same round.
        return `${median(mine).toFixed(0)} | ${(median(mine.map((value, round) => value / floorRuns[round]!)) * 100).toFixed(0)} %`
      })
      console.log(`| ${name} | ${cells.join(" | ")} |`)
    }
    console.log(`\nCPU µs per request (user + system, /proc), same runs, medians: the process in front of the mock / the mock / the load generator`)
    console.log(`| target | ${CONNECTIONS.map((c) => `C=${c}`).join(" | ")} |`)
    console.log(`| --- | ${CONNECTIONS.map(() => "---:").join(" | ")} |`)
    for (const { name } of targets) {
      const cells = CONNECTIONS.map((c) => ["server", "mock", "generator"].map((part) => cpuCell(`${name}@${c}:${part}`)).join(" / "))
      console.log(`| ${name} | ${cells.join(" | ")} |`)
    }

    const versus = (name: string, base: string, c: number) => {
      const mine = throughput.get(`${name}@${c}`)!
      const theirs = throughput.get(`${base}@${c}`)!
      return median(mine.map((value, round) => value / theirs[round]!))
    }
    console.log(`\nserve's HTTP core alone (Effect NodeHttpServer + router + Server.ts guards + access log, a fixed answer) against the mock (a bare node:http server, the same answer): ${
      CONNECTIONS.map((c) => `C=${c} ${(versus(targets[CORE]!.name, targets[DIRECT]!.name, c) * 100).toFixed(0)} % of its throughput, ${cpuCell(`${targets[CORE]!.name}@${c}:server`)} vs ${cpuCell(`${targets[DIRECT]!.name}@${c}:mock`)} CPU µs per request`).join("; ")
    }`)

    // Serve against both floors: throughput (paired per round) and server CPU per request.
    const cpuMedian = (name: string, c: number) => median(cpu.get(`${name}@${c}:server`) ?? [Number.NaN])
    console.log(`\nserve against the two floors: throughput as a share of each floor's (paired per round), and server CPU per request as a multiple of each floor's`)
    console.log(`| target | ${CONNECTIONS.map((c) => `C=${c} x node:http floor | x Effect floor | x Effect floor buffered | CPU x node:http floor | CPU x Effect floor | CPU x Effect floor buffered`).join(" | ")} |`)
    console.log(`| --- | ${CONNECTIONS.map(() => "---: | ---: | ---: | ---: | ---: | ---:").join(" | ")} |`)
    for (const index of [2, 3, CORE, EFFECT_FLOOR, EFFECT_FLOOR_BUFFERED]) {
      const name = targets[index]!.name
      const cells = CONNECTIONS.map((c) =>
        [
          `${(versus(name, targets[FLOOR]!.name, c) * 100).toFixed(0)} %`,
          `${(versus(name, targets[EFFECT_FLOOR]!.name, c) * 100).toFixed(0)} %`,
          `${(versus(name, targets[EFFECT_FLOOR_BUFFERED]!.name, c) * 100).toFixed(0)} %`,
          `${(cpuMedian(name, c) / cpuMedian(targets[FLOOR]!.name, c)).toFixed(2)}`,
          `${(cpuMedian(name, c) / cpuMedian(targets[EFFECT_FLOOR]!.name, c)).toFixed(2)}`,
          `${(cpuMedian(name, c) / cpuMedian(targets[EFFECT_FLOOR_BUFFERED]!.name, c)).toFixed(2)}`
        ].join(" | ")
      )
      console.log(`| ${name} | ${cells.join(" | ")} |`)
    }
  }

  // Open loop at half the floor's saturation throughput (the issue's rate) and, when a target
  // saturates below that, also at half the slowest target's saturation (a rate every target sustains).
  const saturationOf = (name: string) => median(throughput.get(`${name}@${CONNECTIONS.at(-1)}`)!)
  const floorSaturation = saturationOf(targets[FLOOR]!.name)
  const slowest = Math.min(...targets.map(({ name }) => saturationOf(name)))
  const rates = [
    { rate: Math.max(1, Math.floor(floorSaturation / 2)), why: `half the floor's ${floorSaturation.toFixed(0)} req/s at C=${CONNECTIONS.at(-1)}`, reference: true },
    ...(slowest < floorSaturation / 2
      ? [{ rate: Math.max(1, Math.floor(slowest / 2)), why: `half the slowest target's ${slowest.toFixed(0)} req/s at C=${CONNECTIONS.at(-1)}`, reference: false }]
      : [])
  ]
  const goals: Array<string> = []
  for (const [index, { rate, reference, why }] of rates.entries()) {
    // A target whose closed-loop maximum is below the rate would only show a queue growing for
    // the length of the run: it is not measured at that rate.
    const able = targets.filter(({ name }) => saturationOf(name) >= rate)
    const open = new Map<string, Array<{ p50: number; p99: number; lag: number }>>()
    const bursty = new Map<string, Array<{ p50: number; p99: number }>>()
    const histograms = new Map<string, Array<number>>()
    for (const { target } of able) await openLoopAt(target, rate, 500) // warm-up
    let serveLastEnd = Number.NaN
    for (let rep = 0; rep < OPEN_REPS; rep++) {
      const executeFirst = EXECUTE_FIRST || (!CHAT_FIRST && rep % 2 === 1)
      for (const { name, target } of rotated(servePathsAsOne(able, executeFirst), rep).flat()) {
        if (WARM_EACH) await openLoopAt(target, rate, 500)
        const startedAt = Date.now()
        const result = await openLoopAt(target, rate, SECONDS * 1000)
        if (name.startsWith("serve /")) {
          // Serve's first window of the round follows seconds of idle; its second follows the first.
          const idle = startedAt - serveLastEnd
          const position = Number.isNaN(idle) || idle > 1000 ? "first" : "second"
          serveWindows.push({ rate, position, p99: percentile(result.latencies, 99), early: slowEarly(result, startedAt) })
          if (TAIL) console.log(tailLine(name, rep, result, startedAt, idle))
          serveLastEnd = Date.now()
        }
        if (HISTOGRAM) {
          const counts = histograms.get(name) ?? new Array<number>(BUCKETS_MS.length + 1).fill(0)
          for (const latency of result.latencies) {
            const bucket = BUCKETS_MS.findIndex((limit) => latency <= limit)
            counts[bucket === -1 ? BUCKETS_MS.length : bucket]!++
          }
          histograms.set(name, counts)
        }
        if (result.ok !== result.scheduled) {
          problems.push(`${name}, open loop at ${rate} req/s: ${result.scheduled - result.ok} of ${result.scheduled} not answered 2xx (${result.scheduled - result.sent} dropped unsent)`)
        }
        open.set(name, [...(open.get(name) ?? []), { p50: percentile(result.latencies, 50), p99: percentile(result.latencies, 99), lag: result.lagP99 }])
        if (reference) bursty.set(name, [...(bursty.get(name) ?? []), await cannonRate(target, rate, SECONDS)])
      }
    }
    const floorOpen = open.get(targets[FLOOR]!.name)
    const added = (name: string, pick: "p50" | "p99") =>
      floorOpen === undefined || !open.has(name) ? Number.NaN : median(open.get(name)!.map((run, round) => run[pick] - floorOpen[round]![pick]))
    console.log(`\nopen loop at ${rate} req/s (${why}), ms, medians of ${OPEN_REPS} rounds of ${SECONDS} s (serve's two paths ${CHAT_FIRST ? "chat first" : EXECUTE_FIRST ? "/execute first" : "in alternating order"}); load average now ${load()}`)
    console.log(`| target | p50 | p99 | added p50 over floor | added p99 over floor | generator lag p99 |${reference ? " autocannon -R p50 / p99 |" : ""}`)
    console.log(`| --- | ---: | ---: | ---: | ---: | ---: |${reference ? " ---: |" : ""}`)
    for (const { name } of targets) {
      const runs = open.get(name)
      if (runs === undefined) {
        console.log(`| ${name} | saturated: its closed-loop maximum, ${saturationOf(name).toFixed(0)} req/s, is below this rate | | | | |${reference ? " |" : ""}`)
        continue
      }
      const cannonCell = reference
        ? ` ${median(bursty.get(name)!.map((run) => run.p50)).toFixed(2)} / ${median(bursty.get(name)!.map((run) => run.p99)).toFixed(2)} |`
        : ""
      console.log(
        `| ${name} | ${median(runs.map((run) => run.p50)).toFixed(3)} | ${median(runs.map((run) => run.p99)).toFixed(3)} | ${added(name, "p50").toFixed(3)} | ${
          added(name, "p99").toFixed(3)
        } | ${median(runs.map((run) => run.lag)).toFixed(3)} |${cannonCell}`
      )
    }
    if (HISTOGRAM) {
      console.log(`\nlatency histogram at ${rate} req/s, share of the 2xx answers of all ${OPEN_REPS} rounds per bucket (ms)`)
      console.log(`| target | ${BUCKETS_MS.map((limit) => `<= ${limit}`).join(" | ")} | > ${BUCKETS_MS.at(-1)} |`)
      console.log(`| --- | ${BUCKETS_MS.map(() => "---:").join(" | ")} | ---: |`)
      for (const [name, counts] of histograms) {
        const total = counts.reduce((sum, count) => sum + count, 0)
        console.log(`| ${name} | ${counts.map((count) => `${((100 * count) / total).toFixed(count > 0 && count < total / 1000 ? 3 : 1)} %`).join(" | ")} |`)
      }
    }
    // Serve's first window after idle (either path) against its second, in the same rounds.
    const positioned = (position: "first" | "second") => serveWindows.filter((window) => window.rate === rate && window.position === position)
    const firsts = positioned("first")
    const seconds = positioned("second")
    if (firsts.length > 0 && seconds.length > 0) {
      const early = (windows: ReadonlyArray<{ readonly early: number }>) => windows.reduce((sum, window) => sum + window.early, 0)
      console.log(`\nserve's windows at ${rate} req/s by position, either path: first after idle (${firsts.length}) p99 median ${median(firsts.map((window) => window.p99)).toFixed(3)} ms, answers over 5 ms in their first 250 ms ${early(firsts)}; second, right after the first (${seconds.length}) p99 median ${median(seconds.map((window) => window.p99)).toFixed(3)} ms, ${early(seconds)}`)
    }
    for (const name of [targets[2]!.name, targets[3]!.name]) {
      const label = `- ${name}, open loop at ${rate} req/s${index === 0 ? " (the issue's rate)" : ""}`
      if (!open.has(name)) {
        goals.push(`${label}: NOT MET (saturated below the rate)`)
        continue
      }
      const p50 = added(name, "p50")
      const p99 = added(name, "p99")
      goals.push(
        `${label}: added p50 ${p50.toFixed(3)} ms (goal <= 0.5): ${p50 <= 0.5 ? "met" : "NOT MET"}; added p99 ${p99.toFixed(3)} ms (goal <= 2): ${p99 <= 2 ? "met" : "NOT MET"}`
      )
    }
  }

  console.log("\ngoals (issue 16)")
  for (const name of OPEN_LOOP_ONLY ? [] : [targets[2]!.name, targets[3]!.name]) {
    for (const c of CONNECTIONS) {
      const mine = throughput.get(`${name}@${c}`)!
      const floorRuns = throughput.get(`${targets[FLOOR]!.name}@${c}`)!
      const ratio = median(mine.map((value, round) => value / floorRuns[round]!))
      console.log(`- ${name}, closed loop C=${c}: ${(ratio * 100).toFixed(0)} % of the floor (goal >= 70 %): ${ratio >= 0.7 ? "met" : "NOT MET"}`)
    }
  }
  for (const line of goals) console.log(line)

  if (BRIDGE && !OPEN_LOOP_ONLY) await bridgeCosts(providerFlags, targets[3]!.target)

  if (problems.length > 0) {
    console.log(`\nnot every request succeeded (the figures count 2xx answers only):\n- ${problems.join("\n- ")}`)
  }
  for (const child of children) child.kill("SIGTERM")
  await generator?.close()
  await new Promise<void>((resolve) => serve.child.once("exit", () => resolve()))
  const logLines = readFileSync(serveLog, "utf8").split("\n").filter((line) => line.startsWith("{")).length
  console.log(`\nserve wrote ${logLines} access-log lines; load average at the end ${load()}`)
  if (GC) {
    // serve's own process is the one that served requests (`llm-connect serve` runs in a child, ADR 0042).
    await new Promise((resolve) => setTimeout(resolve, 500))
    const records = readdirSync(gcDir).map((file) => JSON.parse(readFileSync(join(gcDir, file), "utf8")) as GcRecord.Record)
    const served = records.sort((a, b) => b.requests - a.requests)[0]
    console.log(`\nserve's garbage collections (all windows, closed and open loop)`)
    for (const line of served === undefined ? ["no record (was serve stopped by a signal it could not handle?)"] : GcRecord.summarize(served)) console.log(`- ${line}`)
  }
  rmSync(home, { recursive: true, force: true })
}

// The targets as the rotation's units: serve's two paths one unit (always neighbours, whatever the
// rotation), chat first or `/execute` first.
const servePathsAsOne = <A extends { readonly name: string }>(items: ReadonlyArray<A>, executeFirst: boolean): ReadonlyArray<ReadonlyArray<A>> => {
  const chat = items.find(({ name }) => name === "serve /v1/chat/completions")
  const execute = items.find(({ name }) => name === "serve /execute")
  const units: Array<ReadonlyArray<A>> = []
  for (const item of items) {
    if (item === chat || item === execute) {
      if (units.some((unit) => unit.includes(item))) continue
      units.push((executeFirst ? [execute, chat] : [chat, execute]).filter((one): one is A => one !== undefined))
    } else units.push([item])
  }
  return units
}

// Answers over 5 ms among those sent in a window's first 250 ms.
const slowEarly = (result: LoadWorker.WindowResult | Awaited<ReturnType<typeof openLoop>>, startedAt: number) => {
  if (!("sentAt" in result)) return Number.NaN
  let count = 0
  for (let index = 0; index < result.sentAt.length; index++) if (result.tookMs[index]! > 5 && result.sentAt[index]! - startedAt < 250) count++
  return count
}
const serveWindows: Array<{ readonly rate: number; readonly position: "first" | "second"; readonly p99: number; readonly early: number }> = []

// `--tail`: one window's slow answers, where they fall in the window (by send time, 250 ms bins).
const tailLine = (name: string, rep: number, result: LoadWorker.WindowResult | Awaited<ReturnType<typeof openLoop>>, startedAt: number, idleMs: number) => {
  const p99 = percentile(result.latencies, 99)
  const over = (ms: number) => result.latencies.reduce((count, latency) => count + (latency > ms ? 1 : 0), 0)
  const parts = [`${name} round ${rep + 1}: idle before ${Number.isNaN(idleMs) ? "-" : (idleMs / 1000).toFixed(1)} s, p50 ${percentile(result.latencies, 50).toFixed(2)} p99 ${p99.toFixed(2)} max ${(result.latencies.at(-1) ?? Number.NaN).toFixed(1)} ms, over 5 / 20 / 50 ms: ${over(5)} / ${over(20)} / ${over(50)}`]
  if ("sentAt" in result) {
    const bins = new Array<number>(Math.ceil((SECONDS * 1000) / 250) + 1).fill(0)
    const worst = new Array<number>(bins.length).fill(0)
    for (let index = 0; index < result.sentAt.length; index++) {
      const bin = Math.min(bins.length - 1, Math.floor((result.sentAt[index]! - startedAt) / 250))
      if (result.tookMs[index]! > 5) bins[bin]!++
      worst[bin] = Math.max(worst[bin]!, result.tookMs[index]!)
    }
    parts.push(`per 250 ms, answers over 5 ms (max ms): ${bins.map((count, bin) => `${count}(${worst[bin]!.toFixed(0)})`).join(" ")}`)
  }
  return parts.join("; ")
}

const cannon = (target: Target, connections: number, seconds: number) =>
  autocannon({ url: target.url, method: "POST", headers: { "content-type": "application/json" }, body: target.body, connections, duration: seconds })

// autocannon -R, for reference: its latencies, in fractional ms from its `response` events.
const cannonRate = async (target: Target, rate: number, seconds: number) => {
  const latencies: Array<number> = []
  const instance = autocannon({
    url: target.url,
    method: "POST",
    headers: { "content-type": "application/json" },
    body: target.body,
    connections: 10,
    overallRate: rate,
    duration: seconds
  })
  instance.on("response", (_client, status, _bytes, responseTime) => {
    if (status >= 200 && status < 300) latencies.push(responseTime)
  })
  await instance
  latencies.sort((a, b) => a - b)
  return { p50: percentile(latencies, 50), p99: percentile(latencies, 99) }
}

// The bridge three ways, all answering from the same mock through the openai-compatible provider.
const bridgeCosts = async (providerFlags: ReadonlyArray<string>, execute: Target) => {
  const few = Math.min(3, CONCURRENT)
  const processPerCall = () =>
    new Promise<boolean>((resolve) => {
      const child = spawn(process.execPath, [bin, "bridge", ...providerFlags], { env, stdio: ["pipe", "pipe", "ignore"] })
      let stdout = ""
      child.stdout.on("data", (chunk) => (stdout += String(chunk)))
      child.on("close", (code) => resolve(code === 0 && stdout.includes("The Nile")))
      child.stdin.end(bridgeRequest())
    })
  const startJsonl = async () => {
    const child = spawn(process.execPath, [bin, "bridge", "--jsonl", "--concurrency", String(Math.max(16, CONCURRENT)), ...providerFlags], {
      env,
      stdio: ["pipe", "pipe", "ignore"]
    })
    const waiting = new Map<number, (ok: boolean) => void>()
    createInterface({ input: child.stdout }).on("line", (line) => {
      const answer = JSON.parse(line) as { id?: number; content?: string }
      waiting.get(answer.id ?? -1)?.(answer.content !== undefined)
      waiting.delete(answer.id ?? -1)
    })
    let nextId = 0
    const call = () =>
      new Promise<boolean>((resolve) => {
        const id = nextId++
        waiting.set(id, resolve)
        child.stdin.write(`${bridgeRequest(id)}\n`)
      })
    const startup = await time(call)
    const stop = () =>
      new Promise<void>((resolve) => {
        child.on("close", () => resolve())
        child.stdin.end()
      })
    return { call, startup, stop }
  }
  const http = client(execute)
  const post = async () => (await http.post()) === 200

  const rows = new Map<string, Array<number>>()
  const record = (key: string, result: { calls: number; failed: number; wallMs: number }) => {
    if (result.failed > 0) throw new Error(`bridge, ${key}: ${result.failed} of ${result.calls} calls failed`)
    rows.set(key, [...(rows.get(key) ?? []), result.wallMs / result.calls])
  }
  for (let index = 0; index < 50; index++) await post() // warm-up (serve is warm already)
  for (let rep = 0; rep < REPS; rep++) {
    record("spawn@1", await closedLoop(processPerCall, SPAWNS, 1))
    record(`spawn@${few}`, await closedLoop(processPerCall, few, few))
    const jsonl = await startJsonl()
    rows.set("startup", [...(rows.get("startup") ?? []), jsonl.startup])
    await closedLoop(jsonl.call, 50, 1) // warm-up
    record("jsonl@1", await closedLoop(jsonl.call, CALLS, 1))
    record(`jsonl@${CONCURRENT}`, await closedLoop(jsonl.call, CALLS, CONCURRENT))
    await jsonl.stop()
    record("execute@1", await closedLoop(post, CALLS, 1))
    record(`execute@${CONCURRENT}`, await closedLoop(post, CALLS, CONCURRENT))
  }
  http.close()
  const cell = (key: string) => {
    const ms = median(rows.get(key)!)
    return `${ms < 10 ? ms.toFixed(3) : ms.toFixed(0)} | ${(1000 / ms).toFixed(ms < 10 ? 0 : 2)}`
  }
  console.log(`\nbridge: wall ms per call and calls/s, openai-compatible provider on the 0 ms mock, ledger on; medians of ${REPS} rounds (${SPAWNS} + ${few} spawns, ${CALLS} calls per measurement); load average now ${load()}`)
  console.log(`| way | C=1 ms/call | C=1 calls/s | C=${few}/${CONCURRENT} ms/call | calls/s |`)
  console.log("| --- | ---: | ---: | ---: | ---: |")
  console.log(`| process per call (\`llm-connect bridge\`; ${few} at once) | ${cell("spawn@1")} | ${cell(`spawn@${few}`)} |`)
  console.log(`| \`bridge --jsonl\` (one process; ${CONCURRENT} in flight) | ${cell("jsonl@1")} | ${cell(`jsonl@${CONCURRENT}`)} |`)
  console.log(`| \`POST /execute\` (keep-alive; ${CONCURRENT} in flight) | ${cell("execute@1")} | ${cell(`execute@${CONCURRENT}`)} |`)
  console.log(`\`bridge --jsonl\` start-up to its first answer (paid once per process): ${median(rows.get("startup")!).toFixed(0)} ms`)
}

main().catch((error) => {
  console.error(error)
  for (const child of children) child.kill("SIGTERM")
  void generator?.close()
  rmSync(home, { recursive: true, force: true })
  process.exit(1)
})
