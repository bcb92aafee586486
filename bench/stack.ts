/**
 * SC-008: 100 concurrent calls against 1 call, through the whole stack (observability
 * defaults, budget, retry + timeouts, circuit breaker, rate limit, concurrency limits).
 *
 * Two setups in one run, every variant interleaved within each repetition:
 *
 * 1. in-process mock provider with 50 ms latency: the framework's overhead alone. For each
 *    variant, `ratio = median(wall time of 100 concurrent calls) / median(wall time of 1 call)`;
 *    the spec allows the whole stack +20 % (ratio 1.20), our goal is +5 %.
 * 2. a local HTTP mock server (a separate process) with 50 ms latency, through the OpenAI
 *    adapter: the whole stack's ratio must be within 10 points of a raw `fetch` baseline's
 *    ratio measured in the same run.
 *
 * Also the client CPU per call (`process.cpuUsage()` over the 100-call batches) of the whole
 * stack against the bare provider (the mock, and the bare OpenAI adapter), and a breakdown: the
 * CPU per call of the stack built up one layer at a time around the mock (batches of 100
 * concurrent calls, medians over the repetitions), plus the opt-in policies that are not in the
 * default stack (attempt timeout, circuit breaker for a single provider).
 *
 *   node bench/stack.ts [--reps 15] [--latency 50] [--breakdown-calls 300]
 */
import { NodeHttpClient } from "@effect/platform-node"
import { Effect, Layer, ManagedRuntime, Redacted } from "effect"
import * as LanguageModel from "../src/LanguageModel.ts"
import * as ProviderRegistry from "../src/ProviderRegistry.ts"
import * as NodeProviders from "../src/node/NodeProviders.ts"
import * as MockLanguageModel from "../src/providers/mock/MockLanguageModel.ts"
import * as OpenAiLanguageModel from "../src/providers/openai/OpenAiLanguageModel.ts"
import * as Stack from "../src/Stack.ts"
import { startMockServer } from "./internal/mockServer.ts"
import { argument, median } from "./internal/stats.ts"

const REPS = argument("reps", 15)
const LATENCY = argument("latency", 50)
const CONCURRENT = 100
const WARMUP = 3
const BREAKDOWN_CALLS = argument("breakdown-calls", 300)

const startServer = async () => {
  const { child, origin } = await startMockServer("./stack-mock-server.ts", ["--latency", String(LATENCY)])
  return { child, baseUrl: `${origin}/v1` }
}

/** The settings every "whole stack" variant uses: limits high enough never to make a call wait. */
const wholeStack = (provider: ProviderRegistry.CreateOptions): Stack.StackConfig => ({
  provider,
  budget: { budget: { totalTokens: 1_000_000_000_000 } },
  resilience: { limits: { concurrency: 1_000, providerConcurrency: 1_000, rpm: 100_000_000 } }
})

interface Variant {
  readonly name: string
  /** Prepares an instance (see {@link effectVariant}) and returns a function that runs `count` calls at once. */
  readonly prepare: () => Promise<{ readonly run: (count: number) => Promise<void>; readonly dispose: () => Promise<void> }>
  readonly t1: Array<number>
  readonly t100: Array<number>
  readonly cpu: Array<number>
}

const request = { messages: [{ role: "user" as const, content: "Name the longest river in Africa." }], model: "gpt-4o-mini" }

const batchOf = (count: number): Effect.Effect<unknown, unknown, LanguageModel.LanguageModel> => {
  const one = LanguageModel.generate(request)
  return count === 1 ? one : Effect.all(Array.from({ length: count }, () => one), { concurrency: "unbounded", discard: true })
}
const batches = new Map([[1, batchOf(1)], [CONCURRENT, batchOf(CONCURRENT)]])

/**
 * `fresh`: a new runtime per repetition; otherwise one runtime for the whole run, warm as in a
 * server (HTTP variants keep their connection pool, as raw `fetch` does). The mock records every
 * call it receives (an array copied per call, so O(calls so far)): over the ~1,800 calls of a
 * run that stays a few µs, and it is the same in the bare and the whole-stack variants.
 */
const effectVariant = (name: string, layer: Layer.Layer<LanguageModel.LanguageModel, unknown>, fresh: boolean): Variant => {
  let shared: ManagedRuntime.ManagedRuntime<LanguageModel.LanguageModel, unknown> | undefined
  return {
    name,
    prepare: async () => {
      const runtime = fresh ? ManagedRuntime.make(layer) : (shared ??= ManagedRuntime.make(layer))
      // Warm up with a full batch: the connection pool then holds 100 open connections, as
      // fetch's global pool does after the first repetition (a server's steady state).
      await runtime.runPromise(batches.get(CONCURRENT)!)
      return {
        run: async (count) => {
          await runtime.runPromise(batches.get(count) ?? batchOf(count))
        },
        dispose: async () => {
          if (fresh) await runtime.dispose()
        }
      }
    },
    t1: [],
    t100: [],
    cpu: []
  }
}

const fetchVariant = (baseUrl: string): Variant => {
  const body = JSON.stringify(request)
  const one = async () => {
    const response = await fetch(`${baseUrl}/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: "Bearer test" },
      body
    })
    const json = (await response.json()) as { choices: Array<{ message: { content: string } }> }
    if (json.choices[0]?.message.content === undefined) throw new Error("no content")
  }
  return {
    name: "raw fetch",
    prepare: async () => {
      await Promise.all(Array.from({ length: CONCURRENT }, one))
      return {
        run: async (count) => {
          await Promise.all(Array.from({ length: count }, one))
        },
        dispose: async () => {}
      }
    },
    t1: [],
    t100: [],
    cpu: []
  }
}

const measure = async (variant: Variant, record: boolean) => {
  const instance = await variant.prepare()
  let started = performance.now()
  await instance.run(1)
  const t1 = performance.now() - started
  const cpuBefore = process.cpuUsage()
  started = performance.now()
  await instance.run(CONCURRENT)
  const t100 = performance.now() - started
  const cpu = process.cpuUsage(cpuBefore)
  await instance.dispose()
  if (record) {
    variant.t1.push(t1)
    variant.t100.push(t100)
    variant.cpu.push((cpu.user + cpu.system) / CONCURRENT)
  }
}

const ratio = (variant: Variant) => median(variant.t100) / median(variant.t1)
const percent = (value: number) => `${value >= 0 ? "+" : ""}${(value * 100).toFixed(1)} %`

const main = async () => {
  const { baseUrl, child } = await startServer()
  const mockProvider = { provider: "mock", options: { latency: `${LATENCY}ms` } }
  const mockRegistry = ProviderRegistry.layer([MockLanguageModel.provider])
  const httpProvider = { provider: "openai", baseUrl, apiKey: Redacted.make("sk-bench"), model: "gpt-4o-mini" }

  const mockBareLayer = MockLanguageModel.layer({ latency: `${LATENCY} millis` })
  const mockBare = effectVariant("mock, bare provider", mockBareLayer, false)
  const mockStack = effectVariant("mock, whole stack", Stack.layer(wholeStack(mockProvider)).pipe(Layer.provide(mockRegistry)), false)
  const rawFetch = fetchVariant(baseUrl)
  const httpBareLayer = OpenAiLanguageModel.layer({
    provider: "openai",
    baseUrl,
    apiKey: Redacted.make("sk-bench"),
    defaultModel: "gpt-4o-mini"
  }).pipe(Layer.provide(NodeHttpClient.layerUndici))
  const httpBare = effectVariant("HTTP, bare OpenAI adapter", httpBareLayer, false)
  const httpStack = effectVariant(
    "HTTP, whole stack",
    Stack.layer(wholeStack(httpProvider)).pipe(Layer.provide(NodeProviders.layer)),
    false
  )
  const variants = [mockBare, mockStack, rawFetch, httpBare, httpStack]

  for (let rep = 0; rep < WARMUP + REPS; rep++) {
    // Rotate the order so that no variant always runs first (or last) in a repetition.
    for (let index = 0; index < variants.length; index++) {
      await measure(variants[(index + rep) % variants.length]!, rep >= WARMUP)
    }
  }

  const rows = variants.map((variant) => ({
    variant: variant.name,
    "1 call ms": median(variant.t1).toFixed(1),
    "100 calls ms": median(variant.t100).toFixed(1),
    "100 vs 1": percent(ratio(variant) - 1),
    "CPU µs/call": median(variant.cpu).toFixed(0)
  }))
  console.log(`SC-008, ${REPS} repetitions (+${WARMUP} warm-up), medians; latency ${LATENCY} ms; Node ${process.version}`)
  console.table(rows)
  const mockIncrease = ratio(mockStack) - 1
  const httpPoints = (ratio(httpStack) - ratio(rawFetch)) * 100
  console.log(`setup 1 (in-process mock): whole stack 100 vs 1 = ${percent(mockIncrease)} (spec <= +20 %, goal <= +5 %): ${
    mockIncrease <= 0.2 ? "within spec" : "OVER SPEC"
  }${mockIncrease <= 0.05 ? ", within goal" : ", over goal"}`)
  console.log(`setup 2 (HTTP mock): whole stack ${percent(ratio(httpStack) - 1)} vs raw fetch ${percent(ratio(rawFetch) - 1)}: ${
    httpPoints.toFixed(1)
  } points (limit 10): ${httpPoints <= 10 ? "within" : "OVER"}`)
  console.log(`CPU per call: mock stack ${(median(mockStack.cpu) - median(mockBare.cpu)).toFixed(0)} µs over the bare mock; HTTP stack ${
    (median(httpStack.cpu) - median(httpBare.cpu)).toFixed(0)
  } µs over the bare adapter (${(median(httpStack.cpu) / median(httpBare.cpu)).toFixed(2)}x); bare adapter ${
    (median(httpBare.cpu) / median(rawFetch.cpu)).toFixed(2)
  }x raw fetch`)

  await breakdown(`${LATENCY} ms in-process mock`, mockBareLayer, mockProvider, mockRegistry)
  await breakdown(`${LATENCY} ms HTTP mock, OpenAI adapter`, httpBareLayer, httpProvider, NodeProviders.layer)
  child.kill("SIGTERM")
}

/** CPU per call of the stack built up one layer at a time around a provider. */
const breakdown = async (
  title: string,
  bare: Layer.Layer<LanguageModel.LanguageModel, unknown>,
  mock: ProviderRegistry.CreateOptions,
  registry: Layer.Layer<ProviderRegistry.ProviderRegistry>
) => {
  const noObservability = { enabled: false }
  const limits = { concurrency: 1_000, providerConcurrency: 1_000 }
  const steps: ReadonlyArray<readonly [string, Layer.Layer<LanguageModel.LanguageModel, unknown>]> = [
    ["bare provider", bare],
    ["+ retry (defaults)", Stack.layer({ provider: mock, observability: noObservability }).pipe(Layer.provide(registry))],
    [
      "+ concurrency limits",
      Stack.layer({ provider: mock, observability: noObservability, resilience: { limits } }).pipe(Layer.provide(registry))
    ],
    [
      "+ rate limit (rpm)",
      Stack.layer({ ...wholeStack(mock), budget: undefined, observability: noObservability }).pipe(Layer.provide(registry))
    ],
    ["+ budget", Stack.layer({ ...wholeStack(mock), observability: noObservability }).pipe(Layer.provide(registry))],
    ["+ observability (defaults) = whole stack", Stack.layer(wholeStack(mock)).pipe(Layer.provide(registry))],
    [
      "whole stack + attempt timeout (opt-in)",
      Stack.layer({ ...wholeStack(mock), resilience: { limits: wholeStack(mock).resilience?.limits, attemptTimeout: "30s" } })
        .pipe(Layer.provide(registry))
    ],
    [
      "whole stack + circuit breaker (opt-in)",
      Stack.layer({ ...wholeStack(mock), resilience: { limits: wholeStack(mock).resilience?.limits, circuitBreaker: {} } })
        .pipe(Layer.provide(registry))
    ]
  ]
  const runtimes = steps.map(([name, layer]) => ({ name, layer, cpu: [] as Array<number> }))
  const batch = batches.get(CONCURRENT)!
  for (let rep = 0; rep < WARMUP + REPS; rep++) {
    for (let index = 0; index < runtimes.length; index++) {
      const step = runtimes[(index + rep) % runtimes.length]!
      const runtime = ManagedRuntime.make(step.layer)
      await runtime.runPromise(batch)
      const before = process.cpuUsage()
      for (let done = 0; done < BREAKDOWN_CALLS; done += CONCURRENT) await runtime.runPromise(batch)
      const cpu = process.cpuUsage(before)
      await runtime.dispose()
      if (rep >= WARMUP) step.cpu.push((cpu.user + cpu.system) / BREAKDOWN_CALLS)
    }
  }
  const base = median(runtimes[0]!.cpu)
  console.log(
    `CPU per call, stack built up one layer at a time (${title}, batches of ${CONCURRENT}, ${BREAKDOWN_CALLS} calls per repetition, medians):`
  )
  console.table(runtimes.map((step) => ({
    stack: step.name,
    "CPU µs/call": median(step.cpu).toFixed(1),
    "over bare": (median(step.cpu) - base).toFixed(1)
  })))
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
