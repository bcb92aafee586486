/**
 * Whether V8 pretenures the allocation site of Effect's context overlays (`Context.add`'s
 * `{ key, value, parent }` record, one site for the whole program) while a stack makes calls over
 * HTTP, and when: after building the stack, then after each batch of calls, 20 fresh overlays are
 * made and checked with `%InYoungGeneration` ("20": born young; "0": the site is pretenured, and
 * every overlay made anywhere from then on is born old and keeps the young value it holds alive
 * until a full collection), then the same for effect's fiber context cache (a literal made once per
 * context root). With each batch, its GC (`gc` performance entries) and CPU per call.
 * One variant per process, as V8's decisions are per process: run it several times (docs/
 * performance.md, stop 27).
 *
 *   node --allow-natives-syntax bench/stack-pretenure.ts [--variant whole] [--concurrency 100] [--batches 100,100,100,200,500,1000,2000,2000]
 *
 * Variants: `bare` (the openai-compatible adapter), `noobs` (the stack without observability),
 * `default` (observability, retry), `whole` (+ limits, rpm, budget), `timeout` (+ the 2-minute
 * attempt timeout of `Stack.fromConfig`).
 */
import { spawn } from "node:child_process"
import { createInterface } from "node:readline"
import { PerformanceObserver } from "node:perf_hooks"
import { Context, Effect, ManagedRuntime, Scope } from "effect"
import * as LlmRequest from "../src/LlmRequest.ts"
import * as NodeProviders from "../src/node/NodeProviders.ts"
import * as ProviderRegistry from "../src/ProviderRegistry.ts"
import * as Stack from "../src/Stack.ts"
import { argument, option } from "./internal/stats.ts"

const VARIANT = option("variant", "whole")
const CONCURRENCY = argument("concurrency", 100)
const BATCHES = option("batches", "100,100,100,200,500,1000,2000,2000").split(",").map(Number)

const inYoungGeneration = (() => {
  try {
    return new Function("value", "return %InYoungGeneration(value)") as (value: unknown) => boolean
  } catch {
    console.error("bench/stack-pretenure.ts needs `node --allow-natives-syntax`")
    return process.exit(2)
  }
})()

const Probe = Context.Service<{ readonly probe: true }>("bench/stack-pretenure/Probe")
const bornYoung = (): number => {
  let young = 0
  for (let index = 0; index < 20; index++) {
    const added = Context.add(Context.empty(), Probe, { probe: true }) as unknown as { readonly overlay?: unknown }
    if (added.overlay !== undefined && inYoungGeneration(added.overlay)) young++
  }
  return young
}

// The same for effect's fiber context cache (an object literal of `makeFiberContextCache`, made once
// per context root: per call for a context made from a map, and for a `withSpan`'s).
const cachesBornYoung = (): number => {
  let young = 0
  for (let index = 0; index < 20; index++) {
    const fiber = Effect.runForkWith(Context.makeUnsafe<never>(new Map()))(Effect.void) as unknown as { readonly cache?: unknown }
    if (fiber.cache !== undefined && inYoungGeneration(fiber.cache)) young++
  }
  return young
}

const limits = { concurrency: 100_000, providerConcurrency: 100_000, rpm: 100_000_000 }
const budget = { budget: { totalTokens: 1_000_000_000_000 } }
const configs: Record<string, Omit<Stack.StackConfig, "provider"> | undefined> = {
  bare: undefined,
  noobs: { observability: { enabled: false } },
  default: {},
  whole: { budget, resilience: { limits } },
  timeout: { budget, resilience: { limits, attemptTimeout: "2m" } }
}

const main = async () => {
  if (!(VARIANT in configs)) {
    console.error(`--variant: one of ${Object.keys(configs).join(", ")}`)
    process.exit(2)
  }
  const child = spawn(process.execPath, [new URL("./openai-mock-server.ts", import.meta.url).pathname], { stdio: ["ignore", "pipe", "inherit"] })
  const line = await new Promise<string>((resolve) => createInterface({ input: child.stdout! }).once("line", resolve))
  const provider: ProviderRegistry.CreateOptions = { provider: "openai-compatible", baseUrl: `http://127.0.0.1:${line.trim()}/v1`, model: "gpt-4o-mini" }
  const runtime = ManagedRuntime.make(NodeProviders.layer)
  const scope = await runtime.runPromise(Scope.make())
  const marks: Array<string> = [`start ${bornYoung()}/${cachesBornYoung()}`]
  const config = configs[VARIANT]
  const made = config === undefined
    ? ProviderRegistry.create(provider)
    : Effect.map(Stack.make({ provider, ...config }), (factory) => factory.model)
  const model = await runtime.runPromise(made.pipe(Effect.provideService(Scope.Scope, scope), Effect.orDie))
  marks.push(`built ${bornYoung()}/${cachesBornYoung()}`)
  const request = LlmRequest.make({ system: "You are terse.", messages: [{ role: "user", content: "Name the longest river in Africa." }] })
  let gcMs = 0
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) gcMs += entry.duration
  })
  observer.observe({ entryTypes: ["gc"] })
  const run = (calls: number) =>
    runtime.runPromise(Effect.forEach(Array.from({ length: calls }), () => model.generate(request), { concurrency: CONCURRENCY, discard: true }))
  let total = 0
  for (const size of BATCHES) {
    gcMs = 0
    const cpu = process.cpuUsage()
    await run(size)
    const used = process.cpuUsage(cpu)
    total += size
    marks.push(`${total}: ${bornYoung()}/${cachesBornYoung()} (gc ${(gcMs * 1000 / size).toFixed(0)} µs, cpu ${((used.user + used.system) / size).toFixed(0)} µs)`)
  }
  observer.disconnect()
  console.log(`${VARIANT} C=${CONCURRENCY}, overlays / fiber caches born young of 20 after: ${marks.join(" | ")}`)
  child.kill("SIGTERM")
  await runtime.dispose()
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
