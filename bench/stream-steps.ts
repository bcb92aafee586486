/**
 * Effect steps and bytes per streamed call through the stack's layers, over the in-process
 * provider of `bench/stream-async.ts` (3 text deltas and the finish part, arriving from
 * `setImmediate`): a deterministic count of the layers' work per stream, which holds on a loaded
 * machine where CPU figures do not. The variants are `bench/stream-async.ts`'s.
 *
 * Steps: every effect primitive the runtime evaluates, in every fiber (the timeouts' reader
 * included), from `runPromise` of `Stream.runFold` to its end, per call (a diagnostic: the run loop
 * of effect's fiber is wrapped to add up each run's `currentOpCount`; nothing in `src/` does this).
 * Bytes: V8's sampling heap profiler over the calls, collected objects included.
 *
 * A second table attributes them per layer (issue 14, stop 27): each row adds one layer to the
 * row before it (the first adds the stack's frame alone: request size, the idle timeout's reader
 * and the send marker), with the steps and KB that layer adds per stream, and per stream the
 * context objects made (every `Context.add` / `provideService` / `provideContext` / `updateContext`
 * overlay: a new `Context`, counted at its one allocation site) and the fiber context switches
 * (`setContext`). Per part: `--parts N` streams N deltas instead of 3 (the per-part cost is the
 * difference over the 3-delta rows, divided by N - 3).
 *
 *   node bench/stream-steps.ts [--calls 500] [--parts 3]
 */
import { Context, Effect, Fiber, ManagedRuntime, Scope, Stream } from "effect"
import * as LanguageModel from "../src/LanguageModel.ts"
import * as LlmRequest from "../src/LlmRequest.ts"
import type { LlmResponse } from "../src/LlmResponse.ts"
import * as ProviderRegistry from "../src/ProviderRegistry.ts"
import * as Stack from "../src/Stack.ts"
import * as StreamPart from "../src/StreamPart.ts"
import * as Usage from "../src/Usage.ts"
import { bytesAllocated } from "./internal/allocation.ts"
import { argument } from "./internal/stats.ts"

const CALLS = argument("calls", 500)
const PARTS = argument("parts", 3)

const texts = Array.from({ length: PARTS }, (_, index) => `word${index} `)
const parts = (model: string): ReadonlyArray<StreamPart.StreamPart> => {
  const response: LlmResponse = {
    content: texts.join(""),
    model,
    provider: "async",
    usage: Usage.make({ inputTokens: 21, outputTokens: texts.length }),
    finishReason: "stop",
    latencyMs: 0
  }
  return [...texts.map((text) => StreamPart.textDelta(text)), StreamPart.finish(response)]
}

const asyncProvider: ProviderRegistry.Provider = {
  name: "async",
  description: "streams from setImmediate",
  defaultModel: "gpt-4o-mini",
  keyEnv: [],
  requiresKey: false,
  make: (config) => {
    const model = config.model ?? "gpt-4o-mini"
    const few = parts(model)
    const arrive = Effect.callback<ReadonlyArray<StreamPart.StreamPart>>((resume) => {
      const handle = setImmediate(() => resume(Effect.succeed(few)))
      return Effect.sync(() => clearImmediate(handle))
    })
    return Effect.succeed(LanguageModel.make({
      provider: "async",
      defaultModel: model,
      generate: () => Effect.die("not used"),
      stream: () => Stream.flatMap(Stream.fromEffect(arrive), Stream.fromArray)
    }))
  }
}

const limits = { concurrency: 1_000, providerConcurrency: 1_000 }
const rpm = 100_000_000
const budget = { budget: { totalTokens: 1_000_000_000_000 } }
const variants: ReadonlyArray<readonly [string, Omit<Stack.StackConfig, "provider"> | undefined]> = [
  ["bare provider", undefined],
  ["stack without observability (retry)", { observability: { enabled: false } }],
  ["default stack (observability, retry)", {}],
  ["+ limits and rpm", { resilience: { limits: { ...limits, rpm } } }],
  ["+ budget = whole stack", { budget, resilience: { limits: { ...limits, rpm } } }],
  ["whole + timeouts (attempt 2m, idle 60s)", {
    budget,
    resilience: { limits: { ...limits, rpm }, attemptTimeout: "2m", streamIdleTimeout: "60s" }
  }]
]

// Each row adds one layer to the row before it (retry's defaults everywhere; no observability but
// in the last row).
const noObservability = { observability: { enabled: false } }
const noRetry = { retry: { maxRetries: 0 } }
const layerVariants: ReadonlyArray<readonly [string, Omit<Stack.StackConfig, "provider"> | undefined]> = [
  ["bare provider", undefined],
  ["frame: request size, idle-timeout reader, send marker (no retry)", { ...noObservability, resilience: noRetry }],
  ["+ retry (defaults)", noObservability],
  ["+ concurrency limits", { ...noObservability, resilience: { limits } }],
  ["+ rate limit (rpm)", { ...noObservability, resilience: { limits: { ...limits, rpm } } }],
  ["+ budget", { ...noObservability, budget, resilience: { limits: { ...limits, rpm } } }],
  ["+ observability = whole stack", { budget, resilience: { limits: { ...limits, rpm } } }]
]

// The steps of every fiber's runs, added up (see the module description).
let steps = 0
// Context objects made and fiber context switches (counted in a pass of their own: the counting
// hook slows every context made).
let contexts = 0
let switches = 0
let counting = false
const countContexts = async () => {
  const fiber = await Effect.runPromise(Effect.withFiber((current) => Effect.succeed(current)))
  const proto = Object.getPrototypeOf(fiber as Fiber.Fiber<unknown, unknown>) as { setContext: (context: unknown) => void }
  const setContext = proto.setContext
  proto.setContext = function(this: unknown, context: unknown) {
    if (counting) switches += 1
    return setContext.call(this, context)
  }
  // Every context is made by one function, which sets `cacheRoot` first on a new object.
  const contextProto = Object.getPrototypeOf(Context.empty()) as object
  Object.defineProperty(contextProto, "cacheRoot", {
    configurable: true,
    set(this: object, value: unknown) {
      if (counting) contexts += 1
      Object.defineProperty(this, "cacheRoot", { value, writable: true, enumerable: true, configurable: true })
    }
  })
}
interface RunLoop {
  currentOpCount: number
  runLoop: (effect: unknown) => unknown
}
const countSteps = async () => {
  const fiber = await Effect.runPromise(Effect.withFiber((current) => Effect.succeed(current)))
  const proto = Object.getPrototypeOf(fiber as Fiber.Fiber<unknown, unknown>) as RunLoop
  const run = proto.runLoop
  proto.runLoop = function(this: RunLoop, effect: unknown) {
    const result = run.call(this, effect)
    steps += this.currentOpCount
    return result
  }
}

interface Measured {
  readonly steps: number
  readonly bytes: number
}

const main = async () => {
  await countSteps()
  const runtime = ManagedRuntime.make(ProviderRegistry.layer([asyncProvider]))
  const scope = await runtime.runPromise(Scope.make())
  const provider = { provider: "async", model: "gpt-4o-mini" }
  const request = LlmRequest.make({ system: "You are terse.", messages: [{ role: "user", content: "Name the longest river in Africa." }] })
  const modelOf = (config: Omit<Stack.StackConfig, "provider"> | undefined) => {
    const made = config === undefined
      ? ProviderRegistry.create(provider)
      : Effect.map(Stack.make({ provider, ...config }), (factory) => factory.model)
    return runtime.runPromise(made.pipe(Effect.provideService(Scope.Scope, scope), Effect.orDie))
  }
  const runnerOf = (model: LanguageModel.Service) => {
    const one = Effect.flatMap(
      Stream.runFold(model.stream(request), () => 0, (count, part) => (part.type === "text-delta" ? count + 1 : count)),
      (deltas) => (deltas === texts.length ? Effect.void : Effect.die(new Error(`unexpected stream: ${deltas} deltas`)))
    )
    return (calls: number) => runtime.runPromise(Effect.forEach(Array.from({ length: calls }), () => one, { discard: true }))
  }
  const measure = async (run: (calls: number) => Promise<void>): Promise<Measured> => {
    await run(200)
    steps = 0
    await run(CALLS)
    const perCall = steps / CALLS
    const bytes = (await bytesAllocated(() => run(CALLS))) / CALLS
    return { steps: perCall, bytes }
  }
  console.log(`effect steps and KB per streamed call (${texts.length} deltas + finish), in-process provider, ${CALLS} calls, C=1; ${process.version}`)
  const rows: Array<Record<string, string | number>> = []
  let bareSteps = 0
  let bareBytes = 0
  for (const [name, config] of variants) {
    const { steps: perCall, bytes } = await measure(runnerOf(await modelOf(config)))
    if (config === undefined) {
      bareSteps = perCall
      bareBytes = bytes
    }
    rows.push({
      variant: name,
      "steps/call": perCall.toFixed(1),
      "steps over bare": (perCall - bareSteps).toFixed(1),
      "KB/call": (bytes / 1024).toFixed(1),
      "KB over bare": ((bytes - bareBytes) / 1024).toFixed(1)
    })
  }
  console.table(rows)

  // Per layer: what each adds over the row before it, and the contexts made and switched to.
  const runs: Array<readonly [string, (calls: number) => Promise<void>, Measured]> = []
  for (const [name, config] of layerVariants) {
    const run = runnerOf(await modelOf(config))
    runs.push([name, run, await measure(run)])
  }
  await countContexts()
  const layerRows: Array<Record<string, string | number>> = []
  let before: Measured | undefined
  let beforeContexts = 0
  for (const [name, run, measured] of runs) {
    counting = true
    contexts = 0
    switches = 0
    await run(CALLS)
    counting = false
    const madePerCall = contexts / CALLS
    layerRows.push({
      "layer (each row adds one)": name,
      "steps/call": measured.steps.toFixed(1),
      "steps, this layer": before === undefined ? "-" : (measured.steps - before.steps).toFixed(1),
      "KB/call": (measured.bytes / 1024).toFixed(1),
      "KB, this layer": before === undefined ? "-" : ((measured.bytes - before.bytes) / 1024).toFixed(1),
      "contexts made/call": madePerCall.toFixed(1),
      "contexts, this layer": before === undefined ? "-" : (madePerCall - beforeContexts).toFixed(1),
      "context switches/call": (switches / CALLS).toFixed(1)
    })
    before = measured
    beforeContexts = madePerCall
  }
  console.log("per layer (each row adds one layer to the row before it; contexts and switches counted in a pass of their own)")
  console.table(layerRows)
  await runtime.dispose()
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
