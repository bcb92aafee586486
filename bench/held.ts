/**
 * What a call keeps alive while it waits for the provider, over HTTP: the bytes a scavenge that
 * runs during the wait has to copy (and promotes when they survive a second one).
 *
 * Each variant's calls are held on a mock that answers after 400 ms (`--calls` of them in flight,
 * default 400); the heap is collected in full before the calls start and again while they all
 * wait; the growth, divided by the calls in flight, is what one call in flight keeps alive (the
 * HTTP client's and the connection's share included: compare with the bare adapter). Seven rounds
 * per variant, the median and the range. A full collection makes the figure independent of the
 * machine's load (unlike GC time or promoted bytes, which also depend on V8's pretenuring).
 *
 * Run with `--allow-natives-syntax` too and it also says whether V8 pretenured the allocation
 * site of Effect's context overlays (`Context.add`'s `{ key, value, parent }` record) during the
 * run: when it has, every context added anywhere in the program is born in the old generation and
 * keeps the young values it holds alive until a full collection (docs/performance.md, stop 26).
 *
 *   node --expose-gc bench/held.ts [--calls 400] [--only bare,default,whole,timeout]
 *   node --expose-gc --allow-natives-syntax bench/held.ts --only whole --calls 100
 */
import { Context, Effect, ManagedRuntime, Scope } from "effect"
import type * as LanguageModel from "../src/LanguageModel.ts"
import * as LlmRequest from "../src/LlmRequest.ts"
import * as NodeProviders from "../src/node/NodeProviders.ts"
import * as ProviderRegistry from "../src/ProviderRegistry.ts"
import * as Stack from "../src/Stack.ts"
import { startMockServer } from "./internal/mockServer.ts"
import { argument, median } from "./internal/stats.ts"

const CALLS = argument("calls", 400)
const ROUNDS = 7
const LATENCY_MS = 400
const onlyIndex = process.argv.indexOf("--only")
const ONLY = onlyIndex >= 0 ? process.argv[onlyIndex + 1] : undefined

const gc = (globalThis as { gc?: () => void }).gc
if (gc === undefined) {
  console.error("bench/held.ts needs `node --expose-gc` (it measures the heap after a full collection)")
  process.exit(2)
}

// `%InYoungGeneration`, when the process was started with `--allow-natives-syntax`.
const inYoungGeneration = (() => {
  try {
    return new Function("value", "return %InYoungGeneration(value)") as (value: unknown) => boolean
  } catch {
    return undefined
  }
})()

const provider = (baseUrl: string): ProviderRegistry.CreateOptions => ({ provider: "openai-compatible", baseUrl, model: "gpt-4o-mini" })
const limits = { concurrency: 100_000, providerConcurrency: 100_000, rpm: 100_000_000 }
const budget = { budget: { totalTokens: 1_000_000_000_000 } }

const variants: ReadonlyArray<{
  readonly key: string
  readonly name: string
  readonly model: (baseUrl: string) => Effect.Effect<LanguageModel.Service, unknown, ProviderRegistry.ProviderRegistry | Scope.Scope>
}> = [
  { key: "bare", name: "bare openai-compatible adapter", model: (baseUrl) => ProviderRegistry.create(provider(baseUrl)) },
  {
    key: "default",
    name: "default stack (observability, retry)",
    model: (baseUrl) => Effect.map(Stack.make({ provider: provider(baseUrl) }), (factory) => factory.model)
  },
  {
    key: "whole",
    name: "whole stack (+ limits, rpm, budget)",
    model: (baseUrl) => Effect.map(Stack.make({ provider: provider(baseUrl), budget, resilience: { limits } }), (factory) => factory.model)
  },
  {
    key: "timeout",
    name: "whole + attempt timeout 2m",
    model: (baseUrl) =>
      Effect.map(Stack.make({ provider: provider(baseUrl), budget, resilience: { limits, attemptTimeout: "2m" } }), (factory) => factory.model)
  }
]

const main = async () => {
  const { child, origin } = await startMockServer("./stack-mock-server.ts", ["--latency", String(LATENCY_MS)])
  const baseUrl = `${origin}/v1`
  const runtime = ManagedRuntime.make(NodeProviders.layer)
  const scope = await runtime.runPromise(Scope.make())
  const request = LlmRequest.make({
    system: "You are terse.",
    messages: [{ role: "user", content: "Name the longest river in Africa." }]
  })
  const rows: Array<Record<string, string>> = []
  for (const variant of variants.filter((variant) => ONLY === undefined || ONLY.split(",").includes(variant.key))) {
    const model = await runtime.runPromise(variant.model(baseUrl).pipe(Effect.provideService(Scope.Scope, scope), Effect.orDie))
    const run = () =>
      runtime.runPromise(
        Effect.forEach(Array.from({ length: CALLS }), () => model.generate(request), { concurrency: "unbounded", discard: true })
      )
    for (let warm = 0; warm < 3; warm++) await run()
    const perCall: Array<number> = []
    for (let round = 0; round < ROUNDS; round++) {
      gc()
      gc()
      const before = process.memoryUsage().heapUsed
      const done = run()
      // Every request sent and waiting (the mock answers after LATENCY_MS).
      await new Promise((resolve) => setTimeout(resolve, LATENCY_MS / 2))
      gc()
      gc()
      perCall.push((process.memoryUsage().heapUsed - before) / CALLS)
      await done
    }
    rows.push({
      variant: variant.name,
      "KB alive per call in flight": (median(perCall) / 1024).toFixed(2),
      "range KB": `${(Math.min(...perCall) / 1024).toFixed(2)}-${(Math.max(...perCall) / 1024).toFixed(2)}`
    })
  }
  console.log(`Bytes kept alive per call in flight over HTTP (${CALLS} calls waiting on a ${LATENCY_MS} ms mock, after a full GC), ${ROUNDS} rounds; ${process.version}`)
  console.table(rows)
  if (inYoungGeneration !== undefined) {
    const Probe = Context.Service<{ readonly probe: true }>("bench/held/Probe")
    let young = 0
    for (let index = 0; index < 20; index++) {
      const added = Context.add(Context.empty(), Probe, { probe: true }) as unknown as { readonly overlay?: unknown }
      if (added.overlay !== undefined && inYoungGeneration(added.overlay)) young++
    }
    console.log(`Effect's context overlays born young after the run: ${young} of 20 (0: V8 pretenured their allocation site)`)
  }
  child.kill("SIGTERM")
  await runtime.dispose()
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
