/**
 * Which effect steps a streamed call runs, by site (issue 14, stop 30): the bare in-process
 * provider of `bench/stream-async.ts` (3 text deltas and the finish part, from `setImmediate`) and
 * the whole stack over it, in one process, one stream at a time. Every step the run loop of every
 * fiber evaluates is keyed by the primitive and the function it runs (as `bench/stack-step-sites.ts`
 * does for a generate call over HTTP), counted per stream; the rows are the stack's own steps (the
 * whole stack's count minus the bare provider's, site by site). Deterministic.
 *
 * `--http`: the OpenAI-compatible SSE adapter alone and the whole stack over it, against the SSE mock
 * of `bench/stream-steps.ts --http` (in a child process).
 *
 *   node bench/stream-step-sites.ts [--calls 500] [--warmup 300] [--all] [--http]
 */
import { NodeHttpClient } from "@effect/platform-node"
import { Effect, Layer, ManagedRuntime, Redacted, Stream, Tracer } from "effect"
import * as LanguageModel from "../src/LanguageModel.ts"
import * as LlmRequest from "../src/LlmRequest.ts"
import * as NodeProviders from "../src/node/NodeProviders.ts"
import * as OpenAiCompatibleLanguageModel from "../src/providers/openai-compatible/OpenAiCompatibleLanguageModel.ts"
import * as Stack from "../src/Stack.ts"
import { startMockServer } from "./internal/mockServer.ts"
import { asyncProvider, budget, inProcess, limits, rpm } from "./internal/inProcess.ts"
import { argument } from "./internal/stats.ts"
import { stepCounter } from "./internal/stepSites.ts"

const CALLS = argument("calls", 500)
const WARMUP = argument("warmup", 300)
const ALL = process.argv.includes("--all")
const HTTP = process.argv.includes("--http")

const main = async () => {
  const measure = stepCounter()
  const request = LlmRequest.make({ system: "You are terse.", messages: [{ role: "user", content: "Name the longest river in Africa." }] })
  const results = new Map<string, Record<string, number>>()
  const pairs: Array<readonly [string, { runPromise: <A, E>(effect: Effect.Effect<A, E>) => Promise<A>; dispose: () => Promise<void> }, LanguageModel.Service]> = []
  let stop = () => {}
  if (HTTP) {
    const { origin, child } = await startMockServer("./openai-sse-mock-server.ts")
    stop = () => child.kill("SIGTERM")
    const baseUrl = `${origin}/v1`
    const adapterRuntime = ManagedRuntime.make(NodeHttpClient.layerUndici)
    const adapter = await adapterRuntime.runPromise(
      OpenAiCompatibleLanguageModel.make({ baseUrl, apiKey: Redacted.make("test"), defaultModel: "gpt-4o-mini" })
    )
    const stackRuntime = ManagedRuntime.make(Stack.layer({
      provider: { provider: "openai-compatible", baseUrl, model: "gpt-4o-mini" },
      budget,
      resilience: { limits: { ...limits, rpm } }
    }).pipe(Layer.provide(NodeProviders.layer)))
    const stack = await stackRuntime.runPromise(LanguageModel.LanguageModel.use(Effect.succeed))
    pairs.push(["bare", adapterRuntime, adapter], ["whole", stackRuntime, stack])
  } else {
    const plain = await inProcess(asyncProvider())
    pairs.push(["bare", plain.runtime, await plain.model(undefined)], ["whole", plain.runtime, await plain.model({ budget, resilience: { limits: { ...limits, rpm } } })])
  }
  for (const [name, runtime, model] of pairs) {
    const one = Effect.asVoid(Stream.runDrain(model.stream(request)))
    const run = (calls: number) =>
      runtime.runPromise(
        Effect.provideService(Effect.forEach(Array.from({ length: calls }), () => one, { discard: true }), Tracer.Tracer, Tracer.nativeTracer)
      )
    await run(WARMUP)
    results.set(name, await measure(CALLS, () => run(CALLS)))
  }
  const total = (record: Record<string, number>) => Object.values(record).reduce((sum, value) => sum + value, 0)
  const bare = results.get("bare")!
  const whole = results.get("whole")!
  console.log(`Effect steps per streamed call (3 deltas + finish), ${HTTP ? "over HTTP (SSE adapter)" : "in-process provider"}, ${CALLS} calls after ${WARMUP}; ${process.version}`)
  console.log(`  bare: ${total(bare).toFixed(2)} steps/call\n  whole: ${total(whole).toFixed(2)} steps/call\n`)
  const sites = new Set([...Object.keys(whole), ...Object.keys(bare)])
  const rows = [...sites].map((site) => [site, (whole[site] ?? 0) - (ALL ? 0 : bare[site] ?? 0)] as const)
    .filter(([, count]) => Math.abs(count) > 0.001)
    .sort((a, b) => b[1] - a[1])
  for (const [site, count] of rows) console.log(`${count.toFixed(2).padStart(7)}  ${site}`)
  for (const [, runtime] of pairs) await runtime.dispose()
  stop()
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
