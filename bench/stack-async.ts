/**
 * CPU per call of each layer of the default stack over an in-process provider that answers
 * asynchronously (from `setImmediate`, as I/O does) with 0 ms latency: the stack's own cost
 * with every call suspended and resumed as over HTTP, without the HTTP client and the mock
 * server's process (whose noise dominates `bench/stack-http.ts` on a shared machine). The same
 * variants as `bench/stack-http.ts`, built with `Stack.make`, interleaved within each of `--reps`
 * rounds at 1 and 100 calls in flight; medians, minimums and paired differences (each round's
 * difference from the bare provider). Also the effect steps the runtime evaluates per call
 * (the fiber's `currentOpCount` when the provider is reached, one call in flight: a
 * deterministic count of the stack's work), and the bytes allocated per call at one call in flight
 * (V8's sampling heap profiler over `--bytes-calls` calls, collected objects included; 0 skips it).
 *
 *   node bench/stack-async.ts [--reps 15] [--calls 3000] [--bytes-calls 5000]
 */
import { Effect } from "effect"
import type * as LanguageModel from "../src/LanguageModel.ts"
import * as LlmRequest from "../src/LlmRequest.ts"
import { bytesAllocated } from "./internal/allocation.ts"
import { asyncProvider, generateVariants, inProcess } from "./internal/inProcess.ts"
import { argument, median } from "./internal/stats.ts"

const REPS = argument("reps", 15)
const CALLS = argument("calls", 3000)
const BYTES_CALLS = argument("bytes-calls", 5000)

// The effect steps run since the fiber last resumed, read as each call reaches the provider.
const steps: Array<number> = []

const variants = generateVariants

const main = async () => {
  const { runtime, model } = await inProcess(asyncProvider((count) => steps.push(count)))
  const models: Array<LanguageModel.Service> = []
  for (const [, config] of variants) models.push(await model(config))
  const request = LlmRequest.make({
    system: "You are terse.",
    messages: [{ role: "user", content: "Name the longest river in Africa." }]
  })
  const run = (model: LanguageModel.Service, calls: number, concurrency: number) =>
    runtime.runPromise(Effect.forEach(Array.from({ length: calls }), () => model.generate(request), { concurrency, discard: true }))

  const opsPerCall: Array<number> = []
  for (const model of models) {
    await run(model, 500, 1)
    steps.length = 0
    await run(model, 200, 1)
    opsPerCall.push(median(steps))
  }
  const bytesPerCall: Array<number> = []
  for (const model of models) {
    bytesPerCall.push(BYTES_CALLS > 0 ? (await bytesAllocated(() => run(model, BYTES_CALLS, 1))) / BYTES_CALLS : Number.NaN)
  }
  console.log(`CPU µs per call, in-process provider answering from setImmediate, ${CALLS} calls x ${REPS} rounds; ${process.version}`)
  for (const concurrency of [1, 100]) {
    const cpu = models.map(() => [] as Array<number>)
    for (let rep = 0; rep < REPS; rep++) {
      for (let index = 0; index < models.length; index++) {
        const which = (index + rep) % models.length
        const start = process.cpuUsage()
        await run(models[which]!, CALLS, concurrency)
        const used = process.cpuUsage(start)
        cpu[which]!.push((used.user + used.system) / CALLS)
      }
    }
    const bare = cpu[0]!
    console.log(`\nconcurrency ${concurrency}`)
    console.table(variants.map(([name], which) => ({
      variant: name,
      "CPU µs/call": median(cpu[which]!).toFixed(2),
      "over bare (paired)": median(cpu[which]!.map((value, round) => value - bare[round]!)).toFixed(2),
      "over bare (minimum)": (Math.min(...cpu[which]!) - Math.min(...bare)).toFixed(2),
      ...(concurrency === 1
        ? { "effect steps/call": opsPerCall[which], "KB/call": (bytesPerCall[which]! / 1024).toFixed(2) }
        : {})
    })))
  }
  await runtime.dispose()
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
