/**
 * What the observability layer costs per call: metrics, a ledger entry, log annotations and a
 * log line (dropped below the minimum level, as by default), against the same model without
 * it, measured in the same run. The span per call (made by default only when a tracer is
 * installed) is measured with `spans: true`; each other component is switched off alone to
 * attribute the cost, and the opt-ins (debug logs written as JSON, per-attempt spans) on top.
 *
 * Two bases: a trivial model (a fixed response: the layer's overhead alone) and the full
 * `Stack` (resilience layers) over a trivial provider. (Over the mock provider, which counts
 * tokens on every call, the difference drowns in the tokenizer's cost; any network call takes
 * milliseconds to seconds.)
 *
 * The SQLite ledger writes from a background fiber, in batches: it is measured once with those
 * writes waited for inside the timing (all the CPU it costs per call) and once outside it (what
 * the call path pays).
 *
 * Each figure is the median over repetitions; variants are interleaved within a repetition so
 * that load from other processes hits them alike.
 *
 *   node bench/observability.ts [--reps 7] [--calls 5000]
 */
import { Context, Effect, Exit, Layer, Logger, Metric, References, Scope } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as LanguageModel from "../src/LanguageModel.ts"
import type { LlmRequest } from "../src/LlmRequest.ts"
import type { LlmResponse } from "../src/LlmResponse.ts"
import * as Logging from "../src/observability/Logging.ts"
import * as Observability from "../src/observability/Observability.ts"
import * as UsageLedger from "../src/observability/UsageLedger.ts"
import * as ProviderRegistry from "../src/ProviderRegistry.ts"
import * as Stack from "../src/Stack.ts"
import { argument, median } from "./internal/stats.ts"

const REPS = argument("reps", 7)
const CALLS = argument("calls", 5_000)

const request: LlmRequest = {
  messages: [{ role: "user", content: "Summarise the plot of Hamlet in one line." }],
  maxTokens: 64,
  metadata: { workflow: "bench", step: "summarise" }
}
const fixed: LlmResponse = {
  content: "A prince avenges his father and everyone dies.",
  model: "trivial-1",
  provider: "trivial",
  usage: { inputTokens: 16, outputTokens: 10, totalTokens: 26 },
  finishReason: "stop",
  latencyMs: 0
}
const trivial: LanguageModel.Service = LanguageModel.make({ provider: "trivial", defaultModel: "trivial-1", generate: () => Effect.succeed(fixed) })

interface Variant {
  readonly name: string
  readonly model: LanguageModel.Service
  /** Extra services for the loop (a logger, a level). */
  readonly wrap?: (<A, E>(self: Effect.Effect<A, E>) => Effect.Effect<A, E>) | undefined
  /** Run after the loop, timed (e.g. waiting for the ledger's background writes). */
  readonly after?: Effect.Effect<void> | undefined
  /** Run after the loop, not timed (so that deferred work does not land in the next variant). */
  readonly settle?: Effect.Effect<void> | undefined
}

const scope = Effect.runSync(Scope.make())
// Built with runPromise: the SQLite ledger loads its driver with import() when it opens.
const build = async <E>(layer: Layer.Layer<LanguageModel.LanguageModel, E>): Promise<LanguageModel.Service> =>
  Context.get(await Effect.runPromise(Layer.buildWithScope(layer, scope)), LanguageModel.LanguageModel)

const observed = (inner: LanguageModel.Service, options: Observability.Options = {}) =>
  build(Observability.layer(options).pipe(
    Layer.provide(Layer.mergeAll(Layer.succeed(LanguageModel.LanguageModel, inner), UsageLedger.layerMemory()))
  ))

// The SQLite ledger queues each entry and writes batches from a background fiber: measured once
// with the writes waited for inside the timing (all the CPU the ledger costs per call), once with
// them waited for outside it (what the call itself pays).
const ledgerDir = mkdtempSync(join(tmpdir(), "bench-ledger-"))
const sqliteLedger = Context.get(
  await Effect.runPromise(Layer.buildWithScope(UsageLedger.layerSqlite(join(ledgerDir, "usage.db")), scope)),
  UsageLedger.UsageLedger
)
const ledgerWritten = Effect.asVoid(sqliteLedger.entries({ since: Number.MAX_SAFE_INTEGER }))
const observedSqlite = (inner: LanguageModel.Service) =>
  build(Observability.layer().pipe(
    Layer.provide(Layer.mergeAll(Layer.succeed(LanguageModel.LanguageModel, inner), Layer.succeed(UsageLedger.UsageLedger, sqliteLedger)))
  ))

// Debug logs on: lines formatted as JSON (scrubbed) and discarded, so the figure is the
// formatting cost, not the terminal's.
const withDebugLogs = <A, E>(self: Effect.Effect<A, E>) =>
  self.pipe(
    Effect.provide(Logger.layer([Logging.jsonLogger(() => {})])),
    Effect.provideService(References.MinimumLogLevel, "Debug")
  )

const trivialProvider: ProviderRegistry.Provider = {
  name: "trivial",
  description: "a fixed response",
  defaultModel: "trivial-1",
  keyEnv: [],
  requiresKey: false,
  make: () => Effect.succeed(trivial)
}
const registry = ProviderRegistry.layer([trivialProvider])
const stackModel = (provider: string, observability: Stack.StackConfig["observability"]) =>
  build(
    Stack.layer({ provider: { provider }, observability }).pipe(
      Layer.provide(registry)
    )
  )

const trivialVariants: ReadonlyArray<Variant> = [
  { name: "trivial model, bare (baseline)", model: trivial },
  { name: "+ observability (default, no tracer)", model: await observed(trivial) },
  { name: "+ observability, spans: true", model: await observed(trivial, { spans: true }) },
  { name: "+ observability, metrics off", model: await observed(trivial, { metrics: false }) },
  { name: "+ observability, ledger off", model: await observed(trivial, { ledger: false }) },
  { name: "+ observability, log line off", model: await observed(trivial, { logCalls: false }) },
  { name: "+ observability, debug logs written", model: await observed(trivial), wrap: withDebugLogs },
  { name: "+ observability, SQLite ledger, call path", model: await observedSqlite(trivial), settle: ledgerWritten },
  { name: "+ observability, SQLite ledger, incl. writes", model: await observedSqlite(trivial), after: ledgerWritten }
]
const stackVariants: ReadonlyArray<Variant> = [
  { name: "Stack, trivial, observability off", model: await stackModel("trivial", { enabled: false }) },
  { name: "Stack, trivial, observability on", model: await stackModel("trivial", undefined) },
  { name: "Stack, trivial, + call and attempt spans", model: await stackModel("trivial", { spans: true, attempts: true }) }
]

const loop = (variant: Variant) => {
  // generate(request) is called for each call: a layer may do work when the call is made.
  const model = variant.model
  const body = Effect.gen(function*() {
    for (let i = 0; i < CALLS; i++) yield* model.generate(request)
    if (variant.after !== undefined) yield* variant.after
  }).pipe(Effect.provideService(Metric.MetricRegistry, new Map()))
  return variant.wrap === undefined ? body : variant.wrap(body)
}

const time = async (variant: Variant): Promise<number> => {
  const program = loop(variant)
  const started = process.hrtime.bigint()
  await Effect.runPromise(program)
  const elapsed = Number(process.hrtime.bigint() - started) / 1e3 / CALLS // µs per call
  if (variant.settle !== undefined) await Effect.runPromise(variant.settle)
  return elapsed
}

const run = async (title: string, variants: ReadonlyArray<Variant>) => {
  const samples = variants.map(() => [] as Array<number>)
  for (const variant of variants) await time(variant) // warm-up
  for (let rep = 0; rep < REPS; rep++) {
    for (let index = 0; index < variants.length; index++) samples[index]!.push(await time(variants[index]!))
  }
  const medians = samples.map(median)
  const base = medians[0]!
  console.log(`\n${title}`)
  console.log(`${"variant".padEnd(48)} ${"µs/call".padStart(9)} ${"ratio".padStart(7)} ${"+µs".padStart(7)}`)
  variants.forEach((variant, index) => {
    const value = medians[index]!
    console.log(
      `${variant.name.padEnd(48)} ${value.toFixed(2).padStart(9)} ${(value / base).toFixed(2).padStart(6)}x ${(value - base).toFixed(2).padStart(7)}`
    )
  })
}

console.log(`observability cost: ${REPS} reps x ${CALLS} sequential calls per variant, medians (Node ${process.version})`)
await run("Overhead on a trivial model (the layer's own cost)", trivialVariants)
await run("Full stack (resilience layers) over a trivial provider", stackVariants)
await Effect.runPromise(Scope.close(scope, Exit.void))
rmSync(ledgerDir, { recursive: true, force: true })
