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
 *   node bench/stream-steps.ts [--calls 500]
 */
import { Effect, Fiber, Stream } from "effect"
import * as LlmRequest from "../src/LlmRequest.ts"
import { bytesAllocated } from "./internal/allocation.ts"
import { asyncProvider, inProcess, pieces, streamVariants as variants } from "./internal/inProcess.ts"
import { argument } from "./internal/stats.ts"

const CALLS = argument("calls", 500)

const texts = pieces(3)

// The steps of every fiber's runs, added up (see the module description).
let steps = 0
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

const main = async () => {
  await countSteps()
  const { runtime, model: modelOf } = await inProcess(asyncProvider())
  const request = LlmRequest.make({ system: "You are terse.", messages: [{ role: "user", content: "Name the longest river in Africa." }] })
  console.log(`effect steps and KB per streamed call (3 deltas + finish), in-process provider, ${CALLS} calls, C=1; ${process.version}`)
  const rows: Array<Record<string, string | number>> = []
  let bareSteps = 0
  let bareBytes = 0
  for (const [name, config] of variants) {
    const model = await modelOf(config)
    const one = Effect.flatMap(
      Stream.runFold(model.stream(request), () => 0, (count, part) => (part.type === "text-delta" ? count + 1 : count)),
      (deltas) => (deltas === texts.length ? Effect.void : Effect.die(new Error(`unexpected stream: ${deltas} deltas`)))
    )
    const run = (calls: number) => runtime.runPromise(Effect.forEach(Array.from({ length: calls }), () => one, { discard: true }))
    await run(200)
    steps = 0
    await run(CALLS)
    const perCall = steps / CALLS
    const bytes = (await bytesAllocated(() => run(CALLS))) / CALLS
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
  await runtime.dispose()
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
