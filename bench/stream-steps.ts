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
 * The last rows run the same stacks over an abort-capable copy of the provider (`async-abortable`:
 * it registers an abort for its stream's scope as it opens, as the SSE adapters' streamed request
 * does, and adds the one finalizer that request adds): the stream timeouts (on in every stack: the
 * idle timeout defaults to 60s) then take their path without a reader fiber (ADR 0045).
 *
 * A second table attributes them per layer (issue 14, stop 27): each row adds one layer to the
 * row before it (the first adds the stack's frame alone: request size, the idle timeout (its reader
 * fiber over this provider), the send marker), with the steps and KB that layer adds per stream,
 * and per stream the context objects made (every `Context.add` / `provideService` /
 * `provideContext` / `updateContext` overlay: a new `Context`, counted at its one allocation site)
 * and the fiber context switches (`setContext`).
 *
 * `--http` (issue 14, stop 29) runs, instead, the SSE adapter over HTTP: the OpenAI-compatible
 * adapter and the whole default stack of `bench/streaming.ts` against its SSE mock (in a child
 * process, so that only this process's steps are counted), `generate` beside `stream` (3 content
 * chunks + usage + `[DONE]`, one write), with the steps and KB per call and, for the streamed
 * calls, the steps by phase: the opening (request built and sent, headers read: `Stream.toPull`),
 * the pulls to the end (with their count) and the scope's close, each phase read from the fiber's
 * step counter at its boundaries (a mark costs its own few steps, the same in every tree).
 *
 *   node bench/stream-steps.ts [--calls 500] [--http]
 */
import { Context, Effect, Exit, Fiber, ManagedRuntime, Scope, Stream } from "effect"
import { registerAbort } from "../src/internal/deadlines.ts"
import * as Streams from "../src/internal/streams.ts"
import * as LanguageModel from "../src/LanguageModel.ts"
import * as LlmRequest from "../src/LlmRequest.ts"
import { bytesAllocated } from "./internal/allocation.ts"
import * as ProviderRegistry from "../src/ProviderRegistry.ts"
import type * as StreamPart from "../src/StreamPart.ts"
import { asyncProvider, budget, inProcess, limits, partsOf, pieces, rpm, streamVariants, type Variant } from "./internal/inProcess.ts"
import { argument } from "./internal/stats.ts"
import { sseModels } from "./internal/sseModels.ts"

const CALLS = argument("calls", 500)

const texts = pieces(3)

// The same provider, able to abort its own pending read: it registers an abort for its stream's
// scope as it opens and adds one finalizer (releasing the registration), as `Requests.stream` does.
const abortableProvider = (): ProviderRegistry.Provider => ({
  ...asyncProvider(),
  name: "async-abortable",
  description: "streams from setImmediate; registers an abort for its stream's scope",
  make: (config) => {
    const model = config.model ?? "gpt-4o-mini"
    const few = partsOf(model, texts.length)
    return Effect.succeed(LanguageModel.make({
      provider: "async-abortable",
      defaultModel: model,
      generate: () => Effect.die("not used"),
      stream: () =>
        Streams.fromScope((scope) => {
          let handle: ReturnType<typeof setImmediate> | undefined
          let resumeWith: ((effect: Effect.Effect<ReadonlyArray<StreamPart.StreamPart>>) => void) | undefined
          const slot = registerAbort(scope, () => {
            if (handle !== undefined) clearImmediate(handle)
            resumeWith?.(Effect.die(new Error("aborted")))
          })
          const arrive = Effect.callback<ReadonlyArray<StreamPart.StreamPart>>((resume) => {
            resumeWith = resume
            handle = setImmediate(() => resume(Effect.succeed(few)))
            return Effect.sync(() => clearImmediate(handle!))
          })
          return Effect.as(
            Scope.addFinalizerExit(scope, () => {
              slot?.release()
              return Effect.void
            }),
            Stream.flatMap(Stream.fromEffect(arrive), Stream.fromArray)
          )
        })
    }))
  }
})

type Row = readonly [string, Variant[1], "abortable"?]
const variants: ReadonlyArray<Row> = [
  ...streamVariants,
  ["abortable: bare provider", undefined, "abortable"],
  ["abortable: whole stack", { budget, resilience: { limits: { ...limits, rpm } } }, "abortable"],
  ["abortable: whole + timeouts (attempt 2m, idle 60s)", {
    budget,
    resilience: { limits: { ...limits, rpm }, attemptTimeout: "2m", streamIdleTimeout: "60s" }
  }, "abortable"]
]

// Each row adds one layer to the row before it (retry's defaults everywhere; no observability but
// in the last row).
const noObservability = { observability: { enabled: false } }
const noRetry = { retry: { maxRetries: 0 } }
const layerVariants: ReadonlyArray<Variant> = [
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

// The steps counted so far in this fiber's current run too (a phase boundary inside one run).
const mark = Effect.withFiber((fiber) => Effect.succeed(steps + (fiber as unknown as RunLoop).currentOpCount))

/** `--http`: the SSE adapter and the whole stack over HTTP, steps and KB per call, the streamed calls by phase. */
const overHttp = async () => {
  const { request, adapterRuntime, adapter, stackRuntime, stack, check, generated, dispose } = await sseModels()
  // A streamed call read to its end, by phase: [opening, pulls, close, pull count].
  const phases = [0, 0, 0, 0]
  const streamed = (model: LanguageModel.Service) =>
    Effect.flatMap(mark, (start) =>
      Effect.flatMap(
        Effect.scoped(Effect.gen(function*() {
          const pull = yield* Stream.toPull(model.stream(request))
          const opened = yield* mark
          let text = ""
          let pulls = 0
          while (true) {
            pulls += 1
            const exit = yield* Effect.exit(pull)
            if (Exit.isFailure(exit)) break
            for (const part of exit.value) if (part.type === "text-delta") text += part.text
          }
          const read = yield* mark
          phases[0]! += opened - start
          phases[1]! += read - opened
          phases[3]! += pulls
          return [text, read] as const
        })),
        ([text, read]) =>
          Effect.flatMap(mark, (closed) => {
            phases[2]! += closed - read
            return check(text)
          })
      ))
  const rows: ReadonlyArray<readonly [string, ManagedRuntime.ManagedRuntime<never, unknown>, Effect.Effect<void, unknown>, boolean]> = [
    ["adapter, generate", adapterRuntime, generated(adapter), false],
    ["adapter, stream", adapterRuntime, streamed(adapter), true],
    ["whole stack, generate", stackRuntime, generated(stack), false],
    ["whole stack, stream", stackRuntime, streamed(stack), true]
  ]
  console.log(`effect steps and KB per call over HTTP (SSE mock in a child process: 3 content chunks + usage + [DONE]), ${CALLS} calls, C=1; ${process.version}`)
  const table: Array<Record<string, string | number>> = []
  for (const [name, runtime, one, byPhase] of rows) {
    const run = (calls: number) => runtime.runPromise(Effect.forEach(Array.from({ length: calls }), () => one, { discard: true }))
    await run(200)
    phases.fill(0)
    steps = 0
    await run(CALLS)
    const perCall = steps / CALLS
    const [opening, pulls, close, count] = phases.map((value) => value / CALLS) as [number, number, number, number]
    const bytes = (await bytesAllocated(() => run(CALLS))) / CALLS
    table.push({
      call: name,
      "steps/call": perCall.toFixed(1),
      "KB/call": (bytes / 1024).toFixed(1),
      "opening (steps)": byPhase ? opening.toFixed(1) : "-",
      "pulls (steps)": byPhase ? pulls.toFixed(1) : "-",
      "pulls/stream": byPhase ? count.toFixed(1) : "-",
      "close (steps)": byPhase ? close.toFixed(1) : "-"
    })
  }
  console.table(table)
  await dispose()
}

const main = async () => {
  await countSteps()
  if (process.argv.includes("--http")) return overHttp()
  const plain = await inProcess(asyncProvider())
  const abortable = await inProcess(abortableProvider())
  const request = LlmRequest.make({ system: "You are terse.", messages: [{ role: "user", content: "Name the longest river in Africa." }] })
  console.log(`effect steps and KB per streamed call (3 deltas + finish), in-process provider, ${CALLS} calls, C=1; ${process.version}`)
  const rows: Array<Record<string, string | number>> = []
  let bareSteps = 0
  let bareBytes = 0
  for (const [name, config, which] of variants) {
    const { runtime } = which === undefined ? plain : abortable
    const model = await (which === undefined ? plain : abortable).model(config)
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

  // Per layer: what each adds over the row before it, and the contexts made and switched to.
  const measured: Array<readonly [string, (calls: number) => Promise<void>, number, number]> = []
  for (const [name, config] of layerVariants) {
    const model = await plain.model(config)
    const one = Effect.asVoid(Stream.runDrain(model.stream(request)))
    const run = (calls: number) => plain.runtime.runPromise(Effect.forEach(Array.from({ length: calls }), () => one, { discard: true }))
    await run(200)
    steps = 0
    await run(CALLS)
    const perCall = steps / CALLS
    measured.push([name, run, perCall, (await bytesAllocated(() => run(CALLS))) / CALLS])
  }
  await countContexts()
  const layerRows: Array<Record<string, string | number>> = []
  let before: readonly [number, number, number] | undefined
  for (const [name, run, perCall, bytes] of measured) {
    counting = true
    contexts = 0
    switches = 0
    await run(CALLS)
    counting = false
    const made = contexts / CALLS
    layerRows.push({
      "layer (each row adds one)": name,
      "steps/call": perCall.toFixed(1),
      "steps, this layer": before === undefined ? "-" : (perCall - before[0]).toFixed(1),
      "KB/call": (bytes / 1024).toFixed(1),
      "KB, this layer": before === undefined ? "-" : ((bytes - before[1]) / 1024).toFixed(1),
      "contexts made/call": made.toFixed(1),
      "contexts, this layer": before === undefined ? "-" : (made - before[2]).toFixed(1),
      "context switches/call": (switches / CALLS).toFixed(1)
    })
    before = [perCall, bytes, made]
  }
  console.log("per layer (each row adds one layer to the row before it; contexts and switches counted in a pass of their own)")
  console.table(layerRows)
  await plain.runtime.dispose()
  await abortable.runtime.dispose()
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
