/**
 * Which effect steps the OpenAI-compatible adapter's streamed call over HTTP runs, by site, beside
 * its generate call (issue 14, stop 31): the adapter alone on `NodeHttpClient.layerUndici`, against
 * the SSE mock of `bench/stream-steps.ts --http` (in a child process), one call at a time. Every
 * step of every fiber is keyed by the primitive and the function it runs
 * (`bench/internal/stepSites.ts`), counted per call. Deterministic.
 *
 *   node bench/adapter-stream-sites.ts [--calls 500] [--warmup 300]
 */
import { NodeHttpClient } from "@effect/platform-node"
import { Effect, ManagedRuntime, Redacted, Stream, Tracer } from "effect"
import * as LlmRequest from "../src/LlmRequest.ts"
import * as OpenAiCompatibleLanguageModel from "../src/providers/openai-compatible/OpenAiCompatibleLanguageModel.ts"
import { startMockServer } from "./internal/mockServer.ts"
import { argument } from "./internal/stats.ts"
import { stepCounter } from "./internal/stepSites.ts"

const CALLS = argument("calls", 500)
const WARMUP = argument("warmup", 300)

const main = async () => {
  const measure = stepCounter()
  const request = LlmRequest.make({ system: "You are terse.", messages: [{ role: "user", content: "Name the longest river in Africa." }] })
  const { origin, child } = await startMockServer("./openai-sse-mock-server.ts")
  const runtime = ManagedRuntime.make(NodeHttpClient.layerUndici)
  const model = await runtime.runPromise(
    OpenAiCompatibleLanguageModel.make({ baseUrl: `${origin}/v1`, apiKey: Redacted.make("test"), defaultModel: "gpt-4o-mini" })
  )
  const calls = {
    stream: Effect.asVoid(Stream.runDrain(model.stream(request))),
    generate: Effect.asVoid(model.generate(request))
  }
  const results: Record<string, Record<string, number>> = {}
  for (const [name, one] of Object.entries(calls)) {
    const run = (count: number) =>
      runtime.runPromise(
        Effect.provideService(Effect.forEach(Array.from({ length: count }), () => one, { discard: true }), Tracer.Tracer, Tracer.nativeTracer)
      )
    await run(WARMUP)
    results[name] = await measure(CALLS, () => run(CALLS))
  }
  const total = (record: Record<string, number>) => Object.values(record).reduce((sum, value) => sum + value, 0)
  console.log(`Effect steps per call of the OpenAI-compatible adapter over HTTP, ${CALLS} calls after ${WARMUP}; ${process.version}`)
  for (const [name, record] of Object.entries(results)) {
    console.log(`\n${name}: ${total(record).toFixed(2)} steps/call`)
    const rows = Object.entries(record).filter(([, count]) => count > 0.001).sort((a, b) => b[1] - a[1])
    for (const [site, count] of rows) console.log(`${count.toFixed(2).padStart(7)}  ${site}`)
  }
  await runtime.dispose()
  child.kill("SIGTERM")
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
