/**
 * What a budget shared through Redis costs per call (`RedisBudgetStore`, ADR 0019): one script
 * per reserve and one per commit, each one round trip, against the in-process memory store.
 *
 * - latency: calls one after the other (reserve + commit through `BudgetTracker.withReservation`),
 *   p50/p99 per call, Redis over loopback TCP and over a Unix socket, and the memory store; the
 *   added latency is Redis minus memory. Since ADR 0030 the commit runs off the call's path on
 *   Redis: the main rows are the call as the caller sees it (the reserve's round trip on its
 *   path); the `durable` rows are the time from the call's start until its commit is acknowledged
 *   by Redis (`RedisStore.settled`, awaited beside the next call). The last line says how many
 *   scripts redis-server read per socket read during the TCP run (above 1: the commit of one
 *   call and the reserve of the next arrived together, pipelined by node-redis).
 * - streamed latency: the same, a streamed call (`BudgetLanguageModel` over a mock model that
 *   streams one delta and its finish part) drained one after the other, until its last part:
 *   since ADR 0030's streams amendment the finish part's commit runs off the stream's path.
 * - throughput: 64 fibers in flight, in 1 process and in 4 processes sharing one budget: calls/s,
 *   and CPU per call (the client processes' CPU, and redis-server's, from INFO).
 *
 * Starts its own `redis-server` (no persistence) and skips, loudly, without one.
 *
 *   node bench/redis-budget.ts [--calls 3000] [--sequential 2000] [--throughput 0 (latency only)]
 */
import { spawn } from "node:child_process"
import { createServer } from "node:net"
import { Effect, Stream } from "effect"
import { createClient } from "redis"
import * as BudgetLanguageModel from "../src/budget/BudgetLanguageModel.ts"
import * as BudgetStore from "../src/budget/BudgetStore.ts"
import * as BudgetTracker from "../src/budget/BudgetTracker.ts"
import * as RedisBudgetStore from "../src/budget/RedisBudgetStore.ts"
import * as LanguageModel from "../src/LanguageModel.ts"
import type { LlmRequest } from "../src/LlmRequest.ts"
import type { LlmResponse } from "../src/LlmResponse.ts"
import * as PriceTable from "../src/pricing/PriceTable.ts"
import * as StreamPart from "../src/StreamPart.ts"
import * as Usage from "../src/Usage.ts"
import { redisServerBinary, startRedis } from "../test/support/redis.ts"
import { argument } from "./internal/stats.ts"

const CALLS = argument("calls", 3_000)
const SEQUENTIAL = argument("sequential", 2_000)
const THROUGHPUT = argument("throughput", 1)
const FIBERS = 64

const price = PriceTable.make().lookup("mock", "mock-1")
const request: LlmRequest = { messages: [{ role: "user", content: "Summarise the plot of Hamlet in one line." }], maxTokens: 64 }
const usage = Usage.make({ inputTokens: 12, outputTokens: 20 })
const actual: BudgetTracker.Actual = { usage, costUsd: 0.00005 }
const ask: BudgetTracker.Ask = { request, provider: "mock", model: "mock-1", price }
const limits = { totalTokens: 1e12, costUsd: 1e9 }

const call = (tracker: BudgetTracker.Service) => tracker.withReservation(ask, () => Effect.succeed(usage), () => actual)

// A streamed call through the budget layer: one delta, then the finish part (which commits).
const response: LlmResponse = { content: "Hamlet avenges his father.", model: "mock-1", provider: "mock", usage, finishReason: "stop", latencyMs: 1 }
const streamingModel = LanguageModel.make({
  provider: "mock",
  defaultModel: "mock-1",
  generate: () => Effect.succeed(response),
  stream: () => Stream.make(StreamPart.textDelta(response.content), StreamPart.finish(response))
})
const streamCall = (tracker: BudgetTracker.Service) => {
  const model = BudgetLanguageModel.wrap(tracker)(streamingModel)
  return Stream.runDrain(model.stream(request))
}

const trackerOn = (url: string | undefined, id: string) =>
  url === undefined
    ? BudgetTracker.make(limits)
    : Effect.flatMap(RedisBudgetStore.make({ url, prefix: "{bench}:", timeout: "30 seconds" }), (store) =>
      BudgetTracker.make(limits, { id }).pipe(Effect.provideService(BudgetStore.BudgetStore, store)))

// A tracker and the wait for this process's commits in flight (nothing to wait for on the memory
// store: it commits within the call).
const sequentialOn = (url: string | undefined) =>
  url === undefined
    ? Effect.map(BudgetTracker.make(limits), (tracker) => ({ tracker, settled: Effect.void }))
    : Effect.flatMap(RedisBudgetStore.make({ url, prefix: "{bench}:", timeout: "30 seconds" }), (store) =>
      Effect.map(
        BudgetTracker.make(limits, { id: "latency" }).pipe(Effect.provideService(BudgetStore.BudgetStore, store)),
        (tracker) => ({ tracker, settled: store.settled })
      ))

const percentile = (sorted: ReadonlyArray<number>, p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!

interface Figures {
  readonly p50: number
  readonly p99: number
}

const sequential = (url: string | undefined, streamed = false) =>
  Effect.scoped(Effect.gen(function*() {
    const { settled, tracker } = yield* sequentialOn(url)
    const one = streamed ? streamCall(tracker) : call(tracker)
    for (let index = 0; index < 200; index++) yield* one
    yield* settled
    const times: Array<number> = []
    const durable: Array<number> = []
    for (let index = 0; index < SEQUENTIAL; index++) {
      const started = performance.now()
      yield* one
      times.push(performance.now() - started)
      // Until the commit is acknowledged, watched beside the next call (which does not wait for it).
      yield* Effect.forkDetach(Effect.andThen(settled, Effect.sync(() => durable.push(performance.now() - started))))
    }
    yield* settled
    const figures = (values: Array<number>): Figures => {
      values.sort((a, b) => a - b)
      return { p50: percentile(values, 0.5), p99: percentile(values, 0.99) }
    }
    return { caller: figures(times), durable: figures(durable) }
  }))

// redis-server's scripts run (EVALSHA and EVAL, one per reserve, commit or lease marking) and
// socket reads so far (INFO commandstats and stats).
const serverStats = async (url: string): Promise<{ commands: number; reads: number; usec: number }> => {
  const client = url.startsWith("unix://") ? createClient({ socket: { path: url.slice(7), tls: false } }) : createClient({ url })
  await client.connect()
  const info = `${await client.info("commandstats")}\n${await client.info("stats")}`
  await client.close()
  const read = (pattern: string) => Number(new RegExp(pattern).exec(info)?.[1] ?? "0")
  return {
    commands: read("cmdstat_evalsha:calls=([0-9]+)") + read("cmdstat_eval:calls=([0-9]+)"),
    reads: read("total_reads_processed:([0-9]+)"),
    // Time redis-server spent in the scripts (the commands they call included).
    usec: read("cmdstat_evalsha:calls=[0-9]+,usec=([0-9]+)") + read("cmdstat_eval:calls=[0-9]+,usec=([0-9]+)")
  }
}

const throughput = (url: string | undefined, calls: number, streamed = false) =>
  Effect.scoped(Effect.gen(function*() {
    const tracker = yield* trackerOn(url, "throughput")
    const one = streamed ? streamCall(tracker) : call(tracker)
    yield* one
    const cpu = process.cpuUsage()
    const started = performance.now()
    yield* Effect.forEach(Array.from({ length: FIBERS }), () =>
      Effect.gen(function*() {
        for (let index = 0; index < Math.floor(calls / FIBERS); index++) yield* one
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
    const memory = (await Effect.runPromise(sequential(undefined))).caller
    const statsBefore = await serverStats(tcpUrl)
    const overTcp = await Effect.runPromise(sequential(tcpUrl))
    const statsAfter = await serverStats(tcpUrl)
    const overUnix = await Effect.runPromise(sequential(unixServer.url))
    const row = (name: string, figures: Figures) =>
      console.log(`  ${name.padEnd(22)} p50 ${figures.p50.toFixed(3)}  p99 ${figures.p99.toFixed(3)}  added p50 ${(figures.p50 - memory.p50).toFixed(3)}  added p99 ${(figures.p99 - memory.p99).toFixed(3)}`)
    row("memory store", memory)
    row("redis, loopback TCP", overTcp.caller)
    row("redis, unix socket", overUnix.caller)
    row("redis, TCP, durable", overTcp.durable)
    row("redis, unix, durable", overUnix.durable)
    const commands = statsAfter.commands - statsBefore.commands
    const reads = statsAfter.reads - statsBefore.reads
    console.log(`  redis-server, TCP run: ${commands} scripts in ${reads} socket reads (${(commands / Math.max(1, reads)).toFixed(2)} per read)`)
    const usec = statsAfter.usec - statsBefore.usec
    console.log(`  redis-server, TCP run: ${(usec / Math.max(1, commands)).toFixed(1)} us per script (INFO commandstats, the commands a script calls included)`)

    console.log(`\nstreamed latency, ${SEQUENTIAL} streamed calls one after the other (reserve, finish part + commit), ms per call until its last part:`)
    const memoryStream = (await Effect.runPromise(sequential(undefined, true))).caller
    const streamTcp = await Effect.runPromise(sequential(tcpUrl, true))
    const streamUnix = await Effect.runPromise(sequential(unixServer.url, true))
    const streamRow = (name: string, figures: Figures) =>
      console.log(`  ${name.padEnd(22)} p50 ${figures.p50.toFixed(3)}  p99 ${figures.p99.toFixed(3)}  added p50 ${(figures.p50 - memoryStream.p50).toFixed(3)}  added p99 ${(figures.p99 - memoryStream.p99).toFixed(3)}`)
    streamRow("memory store, stream", memoryStream)
    streamRow("redis, TCP, stream", streamTcp.caller)
    streamRow("redis, unix, stream", streamUnix.caller)
    streamRow("stream, TCP, durable", streamTcp.durable)
    streamRow("stream, unix, durable", streamUnix.durable)

    if (THROUGHPUT === 0) return

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
    // Streamed calls through the budget layer, one process.
    for (const [name, url] of [["memory store, stream", undefined], ["redis, TCP, stream", tcpUrl]] as const) {
      const before = url === undefined ? 0 : await serverCpu(url)
      const run = await Effect.runPromise(throughput(url, CALLS, true))
      const server = url === undefined ? 0 : (await serverCpu(url)) - before
      console.log(
        `  ${name.padEnd(22)} 1 process   ${Math.round(run.calls / (run.wallMs / 1000)).toString().padStart(7)} calls/s  ` +
          `client CPU ${(run.cpuUs / run.calls).toFixed(1)} us/call  redis-server CPU ${(server / run.calls).toFixed(1)} us/call`
      )
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
