/**
 * What a budget shared through Redis costs per call (`RedisBudgetStore`, ADR 0019): one script
 * per reserve and one per commit, each one round trip, against the in-process memory store.
 *
 * - latency: calls one after the other (reserve + commit through `BudgetTracker.withReservation`),
 *   p50/p99 per call, Redis over loopback TCP and over a Unix socket, and the memory store; the
 *   added latency is Redis minus memory.
 * - throughput: 64 fibers in flight, in 1 process and in 4 processes sharing one budget: calls/s,
 *   and CPU per call (the client processes' CPU, and redis-server's, from INFO).
 *
 * Starts its own `redis-server` (no persistence) and skips, loudly, without one.
 *
 *   node bench/redis-budget.ts [--calls 3000] [--sequential 2000]
 */
import { spawn } from "node:child_process"
import { createServer } from "node:net"
import { Effect } from "effect"
import { createClient } from "redis"
import * as BudgetStore from "../src/budget/BudgetStore.ts"
import * as BudgetTracker from "../src/budget/BudgetTracker.ts"
import * as RedisBudgetStore from "../src/budget/RedisBudgetStore.ts"
import type { LlmRequest } from "../src/LlmRequest.ts"
import * as PriceTable from "../src/pricing/PriceTable.ts"
import * as Usage from "../src/Usage.ts"
import { redisServerBinary, startRedis } from "../test/support/redis.ts"
import { argument } from "./internal/stats.ts"

const CALLS = argument("calls", 3_000)
const SEQUENTIAL = argument("sequential", 2_000)
const FIBERS = 64

const price = PriceTable.make().lookup("mock", "mock-1")
const request: LlmRequest = { messages: [{ role: "user", content: "Summarise the plot of Hamlet in one line." }], maxTokens: 64 }
const usage = Usage.make({ inputTokens: 12, outputTokens: 20 })
const actual: BudgetTracker.Actual = { usage, costUsd: 0.00005 }
const ask: BudgetTracker.Ask = { request, provider: "mock", model: "mock-1", price }
const limits = { totalTokens: 1e12, costUsd: 1e9 }

const call = (tracker: BudgetTracker.Service) => tracker.withReservation(ask, () => Effect.succeed(usage), () => actual)

const trackerOn = (url: string | undefined, id: string) =>
  url === undefined
    ? BudgetTracker.make(limits)
    : Effect.flatMap(RedisBudgetStore.make({ url, prefix: "{bench}:", timeout: "30 seconds" }), (store) =>
      BudgetTracker.make(limits, { id }).pipe(Effect.provideService(BudgetStore.BudgetStore, store)))

const percentile = (sorted: ReadonlyArray<number>, p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!

const sequential = (url: string | undefined) =>
  Effect.scoped(Effect.gen(function*() {
    const tracker = yield* trackerOn(url, "latency")
    for (let index = 0; index < 200; index++) yield* call(tracker)
    const times: Array<number> = []
    for (let index = 0; index < SEQUENTIAL; index++) {
      const started = performance.now()
      yield* call(tracker)
      times.push(performance.now() - started)
    }
    times.sort((a, b) => a - b)
    return { p50: percentile(times, 0.5), p99: percentile(times, 0.99) }
  }))

const throughput = (url: string | undefined, calls: number) =>
  Effect.scoped(Effect.gen(function*() {
    const tracker = yield* trackerOn(url, "throughput")
    yield* call(tracker)
    const cpu = process.cpuUsage()
    const started = performance.now()
    yield* Effect.forEach(Array.from({ length: FIBERS }), () =>
      Effect.gen(function*() {
        for (let index = 0; index < Math.floor(calls / FIBERS); index++) yield* call(tracker)
      }), { concurrency: "unbounded", discard: true })
    const wallMs = performance.now() - started
    const used = process.cpuUsage(cpu)
    return { calls: Math.floor(calls / FIBERS) * FIBERS, wallMs, cpuUs: used.user + used.system }
  }))

type Run = { calls: number; wallMs: number; cpuUs: number }

const children = async (url: string | undefined, count: number): Promise<{ calls: number; wallMs: number; cpuUs: number }> => {
  const runs = await Promise.all(Array.from({ length: count }, () =>
    new Promise<Run>((resolve, reject) => {
      const child = spawn(process.execPath, [import.meta.filename, "--child", url ?? "memory", `${CALLS}`], { stdio: ["ignore", "pipe", "inherit"] })
      let out = ""
      child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()))
      child.on("exit", (code) => (code === 0 ? resolve(JSON.parse(out) as Run) : reject(new Error(`child exited ${code}`))))
    })))
  // The measured loops (process start-up left out) run side by side: the slowest one's time.
  return {
    calls: runs.reduce((sum, run) => sum + run.calls, 0),
    wallMs: Math.max(...runs.map((run) => run.wallMs)),
    cpuUs: runs.reduce((sum, run) => sum + run.cpuUs, 0)
  }
}

const freePort = () =>
  new Promise<number>((resolve) => {
    const server = createServer()
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })

const serverCpu = async (url: string): Promise<number> => {
  const client = url.startsWith("unix://")
    ? createClient({ socket: { path: url.slice(7), tls: false } })
    : createClient({ url })
  await client.connect()
  const info = await client.info("cpu")
  await client.close()
  const read = (name: string) => Number(new RegExp(`${name}:([0-9.]+)`).exec(info)?.[1] ?? "0")
  return (read("used_cpu_sys") + read("used_cpu_user")) * 1e6
}

const main = async () => {
  if (redisServerBinary === undefined) {
    console.log("!!! SKIPPED bench/redis-budget.ts: redis-server is not installed (apt-get install -y redis-server)")
    return
  }
  const unixServer = await startRedis()
  const port = await freePort()
  const tcp = spawn(redisServerBinary, ["--port", `${port}`, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdio: "ignore" })
  await new Promise((resolve) => setTimeout(resolve, 300))
  const tcpUrl = `redis://127.0.0.1:${port}`
  try {
    console.log(`latency, ${SEQUENTIAL} calls one after the other (reserve + commit), ms per call:`)
    const memory = await Effect.runPromise(sequential(undefined))
    const overTcp = await Effect.runPromise(sequential(tcpUrl))
    const overUnix = await Effect.runPromise(sequential(unixServer.url))
    const row = (name: string, figures: { p50: number; p99: number }) =>
      console.log(`  ${name.padEnd(22)} p50 ${figures.p50.toFixed(3)}  p99 ${figures.p99.toFixed(3)}  added p50 ${(figures.p50 - memory.p50).toFixed(3)}  added p99 ${(figures.p99 - memory.p99).toFixed(3)}`)
    row("memory store", memory)
    row("redis, loopback TCP", overTcp)
    row("redis, unix socket", overUnix)

    console.log(`\nthroughput, ${FIBERS} fibers in flight per process, ${CALLS} calls per process:`)
    for (const [name, url] of [["memory store", undefined], ["redis, loopback TCP", tcpUrl]] as const) {
      for (const count of [1, 4]) {
        const before = url === undefined ? 0 : await serverCpu(url)
        const run = count === 1 ? await Effect.runPromise(throughput(url, CALLS)) : await children(url, count)
        const server = url === undefined ? 0 : (await serverCpu(url)) - before
        console.log(
          `  ${name.padEnd(22)} ${count} process${count === 1 ? " " : "es"}  ${Math.round(run.calls / (run.wallMs / 1000)).toString().padStart(7)} calls/s  ` +
            `client CPU ${(run.cpuUs / run.calls).toFixed(1)} us/call  redis-server CPU ${(server / run.calls).toFixed(1)} us/call`
        )
      }
    }
  } finally {
    tcp.kill("SIGTERM")
    await unixServer.dispose()
  }
}

if (process.argv[2] === "--child") {
  const url = process.argv[3] === "memory" ? undefined : process.argv[3]
  Effect.runPromise(throughput(url, Number(process.argv[4]))).then((run) => {
    process.stdout.write(JSON.stringify(run))
    process.exit(0)
  })
} else {
  main().then(() => process.exit(0), (error: unknown) => {
    console.error(error)
    process.exit(1)
  })
}
