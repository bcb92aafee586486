/**
 * The whole stack's CPU per call over HTTP, as a user pays it: a local OpenAI-compatible mock
 * with 0 ms latency in a child process (so only the client's CPU is counted), called through
 *
 * - the bare `openai-compatible` adapter (the provider alone, from the registry);
 * - the default stack as `Stack.make` builds it from an empty configuration (observability,
 *   retry, graceful shutdown);
 * - the whole stack: defaults + a budget + concurrency and rate limits.
 *
 * Each variant runs `--calls` calls at 1 and at 100 in flight, interleaved within each of
 * `--reps` rounds; figures are medians of `process.cpuUsage()` per call. The request has two
 * messages (a system prompt and a user message). The goal (issue 13): the whole stack at most
 * 30 µs of CPU per call over the bare adapter (stretch 15).
 *
 *   node bench/stack-http.ts [--reps 5] [--calls 2000] [--only whole]
 *   node --cpu-prof --cpu-prof-dir=.prof bench/stack-http.ts --only whole   # a CPU profile
 */
import { spawn } from "node:child_process"
import { createInterface } from "node:readline"
import { Effect, Exit, ManagedRuntime, Scope } from "effect"
import type * as LanguageModel from "../src/LanguageModel.ts"
import * as LlmRequest from "../src/LlmRequest.ts"
import * as NodeProviders from "../src/node/NodeProviders.ts"
import * as ProviderRegistry from "../src/ProviderRegistry.ts"
import * as Stack from "../src/Stack.ts"
import { argument, median } from "./internal/stats.ts"

const REPS = argument("reps", 5)
const CALLS = argument("calls", 2000)
const CONCURRENCIES = [1, 100]
const onlyIndex = process.argv.indexOf("--only")
const ONLY = onlyIndex >= 0 ? process.argv[onlyIndex + 1] : undefined

const startServer = async () => {
  const child = spawn(process.execPath, [new URL("./openai-mock-server.ts", import.meta.url).pathname], {
    stdio: ["ignore", "pipe", "inherit"]
  })
  const line = await new Promise<string>((resolve) => createInterface({ input: child.stdout! }).once("line", resolve))
  return { child, baseUrl: `http://127.0.0.1:${line.trim()}/v1` }
}

interface Variant {
  readonly name: string
  readonly key: string
  readonly model: (baseUrl: string) => Effect.Effect<LanguageModel.Service, unknown, ProviderRegistry.ProviderRegistry | Scope.Scope>
}

const provider = (baseUrl: string): ProviderRegistry.CreateOptions => ({ provider: "openai-compatible", baseUrl, model: "gpt-4o-mini" })

const variants: ReadonlyArray<Variant> = [
  {
    name: "bare openai-compatible adapter",
    key: "bare",
    model: (baseUrl) => ProviderRegistry.create(provider(baseUrl))
  },
  {
    name: "default stack (observability, retry)",
    key: "default",
    model: (baseUrl) => Effect.map(Stack.make({ provider: provider(baseUrl) }), (factory) => factory.model)
  },
  {
    name: "whole stack (+ budget, limits)",
    key: "whole",
    model: (baseUrl) =>
      Effect.map(
        Stack.make({
          provider: provider(baseUrl),
          budget: { budget: { totalTokens: 1_000_000_000_000 } },
          resilience: { limits: { concurrency: 1_000, providerConcurrency: 1_000, rpm: 100_000_000 } }
        }),
        (factory) => factory.model
      )
  }
]

const main = async () => {
  const { baseUrl, child } = await startServer()
  const runtime = ManagedRuntime.make(NodeProviders.layer)
  const chosen = variants.filter((variant) => ONLY === undefined || variant.key === ONLY || variant.key === "bare")
  const request = LlmRequest.make({
    system: "You are terse.",
    messages: [{ role: "user", content: "Name the longest river in Africa." }]
  })
  // The stacks live until the end of the run (their limits, ledger and budget are scoped).
  const scope = await runtime.runPromise(Scope.make())
  const models = new Map<string, LanguageModel.Service>()
  for (const variant of chosen) {
    models.set(variant.key, await runtime.runPromise(variant.model(baseUrl).pipe(Effect.provideService(Scope.Scope, scope), Effect.orDie)))
  }
  const run = (model: LanguageModel.Service, calls: number, concurrency: number) =>
    runtime.runPromise(
      Effect.forEach(Array.from({ length: calls }), () => model.generate(request), { concurrency, discard: true })
    )

  console.log(`CPU µs per call over HTTP (0 ms mock in a child process), ${CALLS} calls x ${REPS} rounds, medians; ${process.version}`)
  for (const concurrency of CONCURRENCIES) {
    for (const variant of chosen) await run(models.get(variant.key)!, Math.min(500, CALLS), concurrency) // warm-up
    const cpu = new Map<string, Array<number>>()
    for (let rep = 0; rep < REPS; rep++) {
      for (const variant of chosen) {
        const start = process.cpuUsage()
        await run(models.get(variant.key)!, CALLS, concurrency)
        const used = process.cpuUsage(start)
        cpu.set(variant.key, [...(cpu.get(variant.key) ?? []), (used.user + used.system) / CALLS])
      }
    }
    const bare = median(cpu.get("bare")!)
    console.log(`\nconcurrency ${concurrency}`)
    console.table(chosen.map((variant) => {
      const perCall = median(cpu.get(variant.key)!)
      return {
        variant: variant.name,
        "CPU µs/call": perCall.toFixed(1),
        "over bare adapter": (perCall - bare).toFixed(1),
        "x bare": (perCall / bare).toFixed(2)
      }
    }))
  }
  await runtime.runPromise(Scope.close(scope, Exit.void))
  await runtime.dispose()
  child.kill("SIGTERM")
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
