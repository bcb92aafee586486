/**
 * The providers' HTTP transport, client side (stop 30, ADR 0059): CPU, bytes allocated and bytes
 * promoted by the young generation's collections per call, against the 0 ms OpenAI mock
 * (`openai-sse-mock-server.ts`: a JSON completion, or server-sent events for `"stream": true`) in
 * a child process, for
 *
 * - `http`: a raw `node:http` `request` on a keep-alive agent, the body read and parsed (the floor);
 * - `undici`: a raw `undici.request` on an `Agent`, `body.text()` parsed;
 * - `fx-undici`: Effect's `HttpClient` over `NodeHttpClient.layerUndici` (`execute`, `text`);
 * - `fx-lean`: Effect's `HttpClient` over the lean `node:http` transport (`src/node/internal/httpTransport.ts`);
 * - `nt-undici`, `nt-lean`: the same two without the client span (`HttpClient.TracerDisabledWhen`);
 * - `ad-undici`, `ad-lean`: the bare `openai-compatible` adapter (`generate`) over each of the two;
 * - `st-undici`, `st-lean`: the same adapter's `stream` (SSE, 3 content chunks) drained, over each.
 *
 * Each round runs every client for `--calls` calls at `--concurrency` in flight (1 and 100 by
 * default), the order rotating from round to round; the figures are medians over `--reps` rounds
 * (CPU also its minimum, and the median of each round's difference from `fx-undici` and, for a lean client, from
 * its undici twin: "paired").
 * Allocated = the heap's growth over the window plus what every collection in it freed;
 * promoted = what the scavenges in the window moved to the old generation (`v8.GCProfiler`);
 * into old gen = the old space's growth over the window plus what full collections in it freed:
 * the promoted bytes and those V8 allocated there at once (an allocation site it pretenured, a
 * decision of the process's history that moves bytes from one column to the other between runs).
 * Promotion depends on how often scavenges run: run with a small young generation for steady
 * figures (stop 26 used 4 MB), and with `--expose-gc`: two young-generation collections before each
 * window then promote the previous client's survivors outside it (the order of the clients is
 * the same cycle in every round, so each would otherwise always inherit the same predecessor's):
 *
 *   node --expose-gc --max-semi-space-size=4 bench/transport.ts [--reps 8] [--calls 2000] [--only http,fx-undici,fx-lean] [--c 100]
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { Effect, Layer, ManagedRuntime, Scope, Stream } from "effect"
import { HttpBody, HttpClient, HttpClientRequest } from "effect/http"
import { Agent as HttpAgent, request as httpRequest } from "node:http"
import { GCProfiler, getHeapSpaceStatistics, getHeapStatistics } from "node:v8"
import { Agent as UndiciAgent, request as undiciRequest } from "undici"
import type * as LanguageModel from "../src/LanguageModel.ts"
import * as LlmRequest from "../src/LlmRequest.ts"
import * as NodeProviders from "../src/node/NodeProviders.ts"
import * as HttpTransport from "../src/node/internal/httpTransport.ts"
import * as BuiltinProviders from "../src/providers/BuiltinProviders.ts"
import * as ProviderRegistry from "../src/ProviderRegistry.ts"
import { startMockServer } from "./internal/mockServer.ts"
import { argument, loadAverage, median } from "./internal/stats.ts"

const REPS = argument("reps", 8)
const CALLS = argument("calls", 2000)
const C_INDEX = process.argv.indexOf("--c")
const CONCURRENCIES = C_INDEX >= 0 ? [Number(process.argv[C_INDEX + 1])] : [1, 100]
const onlyIndex = process.argv.indexOf("--only")
const ONLY = onlyIndex >= 0 ? process.argv[onlyIndex + 1]!.split(",") : undefined
const KEEP_ALIVE_MS = 30_000

const body = JSON.stringify({
  model: "gpt-4o-mini",
  messages: [{ role: "system", content: "You are terse." }, { role: "user", content: "Name the longest river in Africa." }]
})
const bodyBytes = new TextEncoder().encode(body)
const headers = { "content-type": "application/json", accept: "application/json", authorization: "Bearer sk-bench" }

const collect = (globalThis as { gc?: (options: { type: "minor"; execution: "sync" }) => void }).gc
const oldSpaceNow = () => getHeapSpaceStatistics().find((space) => space.space_name === "old_space")?.space_used_size ?? 0
const flushYoung = () => {
  collect?.({ type: "minor", execution: "sync" })
  collect?.({ type: "minor", execution: "sync" })
}

/** Runs `one` `calls` times with `concurrency` in flight. */
const loop = (calls: number, concurrency: number, one: () => Promise<void>): Promise<void> => {
  let started = 0
  const worker = async () => {
    while (started < calls) {
      started++
      await one()
    }
  }
  return Promise.all(Array.from({ length: Math.min(calls, concurrency) }, worker)).then(() => undefined)
}

const check = (text: string) => {
  if ((JSON.parse(text) as { choices?: unknown }).choices === undefined) throw new Error("unexpected reply from the mock")
}

interface Client {
  readonly key: string
  readonly name: string
  readonly run: (calls: number, concurrency: number) => Promise<void>
}

const main = async () => {
  const { child, origin } = await startMockServer("./openai-sse-mock-server.ts")
  const url = `${origin}/v1/chat/completions`
  const clients: Array<Client> = []

  // The floor: node:http's own client.
  const httpAgent = new HttpAgent({ keepAlive: true, timeout: KEEP_ALIVE_MS })
  const target = new URL(url)
  const rawHttp = () =>
    new Promise<void>((resolve, reject) => {
      const request = httpRequest({ agent: httpAgent, hostname: target.hostname, port: target.port, path: target.pathname, method: "POST", headers }, (response) => {
        const chunks: Array<Buffer> = []
        response.on("data", (chunk: Buffer) => chunks.push(chunk))
        response.on("end", () => {
          try {
            check(Buffer.concat(chunks).toString("utf8"))
            resolve()
          } catch (error) {
            reject(error)
          }
        })
        response.on("error", reject)
      })
      request.on("error", reject)
      request.end(bodyBytes)
    })
  clients.push({ key: "http", name: "node:http request (keep-alive agent)", run: (calls, c) => loop(calls, c, rawHttp) })

  const undiciAgent = new UndiciAgent({ keepAliveTimeout: KEEP_ALIVE_MS })
  const rawUndici = async () => {
    const response = await undiciRequest(url, { dispatcher: undiciAgent, method: "POST", headers, body: bodyBytes })
    check(await response.body.text())
  }
  clients.push({ key: "undici", name: "undici.request (Agent)", run: (calls, c) => loop(calls, c, rawUndici) })

  // Effect's HttpClient over each transport, and the adapter over each.
  const transports = [
    { key: "undici", name: "NodeHttpClient.layerUndiciOptions", layer: NodeHttpClient.layerUndiciOptions({ keepAliveTimeout: KEEP_ALIVE_MS }) },
    { key: "lean", name: "lean node:http transport", layer: HttpTransport.layer({ keepAliveMs: KEEP_ALIVE_MS }) }
  ]
  const runtimes: Array<ManagedRuntime.ManagedRuntime<unknown, unknown>> = []
  const request = LlmRequest.make({ system: "You are terse.", messages: [{ role: "user", content: "Name the longest river in Africa." }] })
  const httpRequestFx = HttpClientRequest.post(url, { headers, body: HttpBody.uint8Array(bodyBytes, "application/json") })
  for (const transport of transports) {
    const runtime = ManagedRuntime.make(BuiltinProviders.layer.pipe(Layer.provideMerge(NodeProviders.platformWith(transport.layer))))
    runtimes.push(runtime as ManagedRuntime.ManagedRuntime<unknown, unknown>)
    const client = await runtime.runPromise(Effect.service(HttpClient.HttpClient))
    const scope = await runtime.runPromise(Scope.make())
    const model: LanguageModel.Service = await runtime.runPromise(
      ProviderRegistry.create({ provider: "openai-compatible", baseUrl: `${origin}/v1`, model: "gpt-4o-mini" }).pipe(Effect.provideService(Scope.Scope, scope), Effect.orDie)
    )
    const execute = Effect.flatMap(client.execute(httpRequestFx), (response) =>
      Effect.map(response.text, (text) => {
        if (response.headers["content-length"] === undefined) throw new Error("no content-length")
        check(text)
      }))
    const many = <A, E>(one: Effect.Effect<A, E>) => (calls: number, concurrency: number) =>
      runtime.runPromise(Effect.forEach(Array.from({ length: calls }), () => one, { concurrency, discard: true }))
    clients.push({ key: `fx-${transport.key}`, name: `Effect HttpClient, ${transport.name}`, run: many(execute) })
    // The same without the client span (`HttpClient.TracerDisabledWhen`): what the span costs.
    clients.push({
      key: `nt-${transport.key}`,
      name: `Effect HttpClient, no span, ${transport.name}`,
      run: many(Effect.provideService(execute, HttpClient.TracerDisabledWhen, () => true))
    })
    clients.push({ key: `ad-${transport.key}`, name: `adapter generate, ${transport.name}`, run: many(model.generate(request)) })
    clients.push({ key: `st-${transport.key}`, name: `adapter stream (SSE), ${transport.name}`, run: many(Stream.runDrain(model.stream(request))) })
  }
  const chosen = clients.filter((client) => ONLY === undefined || ONLY.includes(client.key))

  console.log(`transport: ${CALLS} calls x ${REPS} rounds per concurrency, medians; ${process.version}; ${process.execArgv.join(" ") || "(no node flags)"}; load ${loadAverage()}`)
  for (const concurrency of CONCURRENCIES) {
    for (const client of chosen) await client.run(Math.min(500, CALLS), concurrency) // warm-up
    const figures = new Map<string, { cpu: Array<number>; allocated: Array<number>; promoted: Array<number>; old: Array<number>; scavenges: Array<number> }>()
    for (let rep = 0; rep < REPS; rep++) {
      for (let index = 0; index < chosen.length; index++) {
        const client = chosen[(index + rep) % chosen.length]!
        // The previous client's survivors promoted before this window, not in it (`--expose-gc`).
        flushYoung()
        const profiler = new GCProfiler()
        profiler.start()
        const heapBefore = getHeapStatistics().used_heap_size
        const oldBefore = oldSpaceNow()
        const start = process.cpuUsage()
        await client.run(CALLS, concurrency)
        const used = process.cpuUsage(start)
        const heapAfter = getHeapStatistics().used_heap_size
        const oldAfter = oldSpaceNow()
        const collections = profiler.stop()?.statistics ?? []
        let freed = 0
        let promoted = 0
        let scavenges = 0
        let oldFreed = 0
        for (const collection of collections) {
          freed += collection.beforeGC.heapStatistics.usedHeapSize - collection.afterGC.heapStatistics.usedHeapSize
          const old = (stats: typeof collection.beforeGC) => stats.heapSpaceStatistics.find((space) => space.spaceName === "old_space")?.spaceUsedSize ?? 0
          if (collection.gcType === "Scavenge") {
            scavenges++
            promoted += old(collection.afterGC) - old(collection.beforeGC)
          } else oldFreed += old(collection.beforeGC) - old(collection.afterGC)
        }
        const entry = figures.get(client.key) ?? { cpu: [], allocated: [], promoted: [], old: [], scavenges: [] }
        entry.cpu.push((used.user + used.system) / CALLS)
        entry.allocated.push((heapAfter - heapBefore + freed) / CALLS / 1024)
        entry.promoted.push(promoted / CALLS / 1024)
        entry.scavenges.push(scavenges)
        entry.old.push((oldAfter - oldBefore + oldFreed) / CALLS / 1024)
        figures.set(client.key, entry)
      }
    }
    const reference = figures.get("fx-undici")?.cpu
    // A lean client's twin over undici (`ad-lean` -> `ad-undici`), run in the same rounds.
    const twin = (key: string) => key.endsWith("-lean") ? figures.get(key.replace(/-lean$/, "-undici"))?.cpu : undefined
    console.log(`\nconcurrency ${concurrency} (load ${loadAverage()})`)
    console.table(chosen.map((client) => {
      const entry = figures.get(client.key)!
      return {
        client: client.name,
        "CPU µs/call": median(entry.cpu).toFixed(1),
        "min": Math.min(...entry.cpu).toFixed(1),
        "vs fx-undici (paired)": reference === undefined ? "" : median(entry.cpu.map((value, round) => value - reference[round]!)).toFixed(1),
        "lean vs undici (paired)": twin(client.key) === undefined ? "" : median(entry.cpu.map((value, round) => value - twin(client.key)![round]!)).toFixed(1),
        "KB allocated/call": median(entry.allocated).toFixed(1),
        "KB promoted/call": median(entry.promoted).toFixed(2),
        "KB into old gen/call": median(entry.old).toFixed(2),
        "scavenges/round": median(entry.scavenges)
      }
    }))
  }
  for (const runtime of runtimes) await runtime.dispose()
  await undiciAgent.close()
  httpAgent.destroy()
  child.kill("SIGTERM")
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
