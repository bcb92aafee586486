/**
 * Exact counts per streamed call over HTTP of what costs an event-loop turn or a native hop, adapter
 * vs the whole default stack (issue 14, stop 31): the step counts (`bench/stream-steps.ts --http`)
 * did not explain the ~100 µs the layers add over a socket, so this counts, per call, what steps do
 * not see: timers set / cleared (`setTimeout`, `setInterval`, `setImmediate`, their clears),
 * `queueMicrotask`, `AbortController`s made and `AbortSignal` listeners added / removed, fibers that
 * ran (distinct fiber objects whose run loop was entered) and run-loop entries (a fiber resumed:
 * each one is a `yield`, a callback or a resume), and `async_hooks` resources created, by type
 * (`PROMISE` included: every native promise made). Each row runs `--calls` calls after a warm-up,
 * against `bench/streaming.ts`'s SSE mock (in a child process); the same rows as
 * `bench/stream-steps.ts --http`.
 *
 *   node bench/stream-events.ts [--calls 300] [--concurrency 1] [--no-hooks]
 */
import { createHook } from "node:async_hooks"
import { Effect, Fiber, ManagedRuntime, Stream } from "effect"
import * as LanguageModel from "../src/LanguageModel.ts"
import { sseModels } from "./internal/sseModels.ts"
import { argument } from "./internal/stats.ts"

const CALLS = argument("calls", 300)
const HOOKS = !process.argv.includes("--no-hooks")
const CONCURRENCY = argument("concurrency", 1)

const counts = new Map<string, number>()
let counting = false
const bump = (key: string) => {
  if (counting) counts.set(key, (counts.get(key) ?? 0) + 1)
}

const patchGlobal = <K extends "setTimeout" | "clearTimeout" | "setInterval" | "clearInterval" | "setImmediate" | "clearImmediate" | "queueMicrotask">(name: K) => {
  const original = globalThis[name] as (...args: Array<unknown>) => unknown
  ;(globalThis as Record<string, unknown>)[name] = function(this: unknown, ...args: Array<unknown>) {
    bump(name)
    return original.apply(this, args)
  }
}
for (const name of ["setTimeout", "clearTimeout", "setInterval", "clearInterval", "setImmediate", "clearImmediate", "queueMicrotask"] as const) {
  patchGlobal(name)
}
const OriginalController = globalThis.AbortController
globalThis.AbortController = class extends OriginalController {
  constructor() {
    super()
    bump("new AbortController")
  }
}
const signalProto = AbortSignal.prototype as unknown as EventTarget
const eventTargetProto = EventTarget.prototype
const add = eventTargetProto.addEventListener
const remove = eventTargetProto.removeEventListener
eventTargetProto.addEventListener = function(this: EventTarget, ...args: Parameters<EventTarget["addEventListener"]>) {
  bump(this instanceof AbortSignal ? "signal.addEventListener" : "other addEventListener")
  return add.apply(this, args)
}
eventTargetProto.removeEventListener = function(this: EventTarget, ...args: Parameters<EventTarget["removeEventListener"]>) {
  bump(this instanceof AbortSignal ? "signal.removeEventListener" : "other removeEventListener")
  return remove.apply(this, args)
}
void signalProto

if (HOOKS) {
  createHook({
    init(_id, type) {
      bump(`async ${type}`)
    }
  }).enable()
}

interface RunLoop {
  runLoop: (effect: unknown) => unknown
}
const fibers = new WeakSet<object>()
const countFibers = async () => {
  const fiber = await Effect.runPromise(Effect.withFiber((current) => Effect.succeed(current)))
  const proto = Object.getPrototypeOf(fiber as Fiber.Fiber<unknown, unknown>) as RunLoop
  const run = proto.runLoop
  proto.runLoop = function(this: RunLoop, effect: unknown) {
    bump("fiber run-loop entries")
    if (counting && !fibers.has(this)) {
      fibers.add(this)
      bump("fibers that ran")
    }
    return run.call(this, effect)
  }
}

const main = async () => {
  await countFibers()
  const { request, adapterRuntime, adapter, stackRuntime, stack, check, generated, dispose } = await sseModels()
  const streamed = (model: LanguageModel.Service) =>
    Effect.flatMap(
      Stream.runFold(model.stream(request), () => "", (text, part) => (part.type === "text-delta" ? text + part.text : text)),
      check
    )
  const rows: ReadonlyArray<readonly [string, ManagedRuntime.ManagedRuntime<never, unknown>, Effect.Effect<void, unknown>]> = [
    ["adapter generate", adapterRuntime, generated(adapter)],
    ["adapter stream", adapterRuntime, streamed(adapter)],
    ["stack generate", stackRuntime, generated(stack)],
    ["stack stream", stackRuntime, streamed(stack)]
  ]
  const perRow = new Map<string, Map<string, number>>()
  for (const [name, runtime, one] of rows) {
    const run = (calls: number) => runtime.runPromise(Effect.forEach(Array.from({ length: calls }), () => one, { discard: true, concurrency: CONCURRENCY }))
    await run(100)
    counts.clear()
    counting = true
    await run(CALLS)
    counting = false
    perRow.set(name, new Map(counts))
  }
  const keys = [...new Set([...perRow.values()].flatMap((map) => [...map.keys()]))].sort()
  const table: Array<Record<string, string>> = []
  for (const key of keys) {
    const line: Record<string, string> = { "per call": key }
    for (const [name] of rows) line[name] = ((perRow.get(name)!.get(key) ?? 0) / CALLS).toFixed(2)
    const a = perRow.get("adapter stream")!.get(key) ?? 0
    const s = perRow.get("stack stream")!.get(key) ?? 0
    line["stream: stack - adapter"] = ((s - a) / CALLS).toFixed(2)
    table.push(line)
  }
  console.log(`exact counts per call over HTTP, ${CALLS} calls, C=${CONCURRENCY}, async_hooks ${HOOKS ? "on" : "off"}; ${process.version}`)
  console.table(table)
  await dispose()
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
