/**
 * CPU per streamed call, and per part, of each layer of the default stack over an in-process
 * provider that streams asynchronously (its parts arrive from `setImmediate`, as one read of a
 * socket would bring them) with 0 ms latency: the stack's own cost per stream and per part without
 * the HTTP client, the SSE parser and the mock server's process (whose noise dominates
 * `bench/streaming.ts` on a shared machine). The variants are built with `Stack.make` as in
 * `bench/stack-async.ts`, plus the timeouts a stack built from configuration adds by default
 * (attempt timeout 2m, idle timeout 60s: the watchdog); interleaved within each of `--reps`
 * rounds; medians of paired differences over the bare provider. Each call reads every part (the
 * text put together, as a consumer printing it would) and the finish part.
 *
 * - per call: streams of 3 text deltas + the finish part;
 * - per part: `(CPU at 51 deltas - CPU at 3 deltas) / 48`.
 *
 * Also the bytes allocated per call (V8's heap statistics around a batch with garbage collection
 * disabled between: run with `--expose-gc` for that column).
 *
 *   node [--expose-gc] bench/stream-async.ts [--reps 15] [--calls 2000] [--concurrency 1] [--only N]
 */
import { Effect, Stream } from "effect"
import type * as LanguageModel from "../src/LanguageModel.ts"
import * as LlmRequest from "../src/LlmRequest.ts"
import { asyncProvider, inProcess, MANY, pieces, streamVariants as allVariants } from "./internal/inProcess.ts"
import { argument, median } from "./internal/stats.ts"

const REPS = argument("reps", 15)
const CALLS = argument("calls", 2000)
const CONCURRENCY = argument("concurrency", 1)

// `--only N`: the bare provider and variant N alone (for a profile).
const ONLY = argument("only", -1)
const variants = ONLY < 0 ? allVariants : [allVariants[0]!, allVariants[ONLY]!]

const gc = (globalThis as { gc?: () => void }).gc

const main = async () => {
  const { runtime, model } = await inProcess(asyncProvider())
  const models: Array<LanguageModel.Service> = []
  for (const [, config] of variants) models.push(await model(config))
  const message = [{ role: "user" as const, content: "Name the longest river in Africa." }]
  const few = LlmRequest.make({ system: "You are terse.", messages: message })
  const many = LlmRequest.make({ system: "You are terse.", messages: message, metadata: { tags: { size: "many" } } })
  const one = (model: LanguageModel.Service, request: LlmRequest.LlmRequest, chunks: number) =>
    Effect.flatMap(
      Stream.runFold(model.stream(request), () => ({ text: "", finished: false }), (read, part) => {
        if (part.type === "text-delta") read.text += part.text
        else if (part.type === "finish") read.finished = part.response.usage.totalTokens > 0
        return read
      }),
      (read) =>
        read.finished && read.text.length === pieces(chunks).join("").length
          ? Effect.void
          : Effect.die(new Error(`unexpected stream: ${read.text}`))
    )
  const run = (model: LanguageModel.Service, request: LlmRequest.LlmRequest, chunks: number, calls: number) =>
    runtime.runPromise(Effect.forEach(Array.from({ length: calls }), () => one(model, request, chunks), { concurrency: CONCURRENCY, discard: true }))

  for (const model of models) {
    await run(model, few, 3, 300)
    await run(model, many, MANY, 300)
  }
  // Bytes allocated per 3-delta call (with --expose-gc).
  const allocated: Array<string> = []
  for (const model of models) {
    if (gc === undefined) {
      allocated.push("-")
      continue
    }
    const samples: Array<number> = []
    for (let round = 0; round < 5; round++) {
      gc()
      const before = process.memoryUsage().heapUsed
      await run(model, few, 3, 200)
      samples.push((process.memoryUsage().heapUsed - before) / 200)
    }
    allocated.push((median(samples) / 1024).toFixed(1))
  }
  console.log(
    `CPU µs per streamed call, in-process provider streaming from setImmediate, ${CALLS} calls x ${REPS} rounds, concurrency ${CONCURRENCY}; ${process.version}`
  )
  const cpuFew = models.map(() => [] as Array<number>)
  const cpuMany = models.map(() => [] as Array<number>)
  for (let rep = 0; rep < REPS; rep++) {
    for (let index = 0; index < models.length; index++) {
      const which = (index + rep) % models.length
      let start = process.cpuUsage()
      await run(models[which]!, few, 3, CALLS)
      let used = process.cpuUsage(start)
      cpuFew[which]!.push((used.user + used.system) / CALLS)
      start = process.cpuUsage()
      await run(models[which]!, many, MANY, CALLS / 4)
      used = process.cpuUsage(start)
      cpuMany[which]!.push((used.user + used.system) / (CALLS / 4))
    }
  }
  const perPart = (which: number) => cpuMany[which]!.map((value, round) => (value - cpuFew[which]![round]!) / (MANY - 3))
  const bareFew = cpuFew[0]!
  const barePart = perPart(0)
  console.table(variants.map(([name], which) => ({
    variant: name,
    "µs/call (3 deltas)": median(cpuFew[which]!).toFixed(2),
    "over bare (paired)": median(cpuFew[which]!.map((value, round) => value - bareFew[round]!)).toFixed(2),
    "µs/part": median(perPart(which)).toFixed(2),
    "µs/part over bare (paired)": median(perPart(which).map((value, round) => value - barePart[round]!)).toFixed(2),
    "KB/call (heapUsed delta)": allocated[which]
  })))
  await runtime.dispose()
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
