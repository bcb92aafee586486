/**
 * The key of an effect step for the step-by-site benches (`bench/stack-step-sites.ts`,
 * `bench/stream-step-sites.ts`): the primitive the run loop evaluates (`OnSuccess`, `WithFiber`,
 * `Success`, ...) and the function it runs (for an exit, the continuation it resumes), named by
 * its function name and the start of its source. Reads effect 4.1's primitives by their fields.
 */
import { Tracer } from "effect"

const IDENTIFIER = "~effect/Effect/identifier"
const ARGS = "~effect/Effect/args"
const CONT_A = "~effect/Effect/successCont"
const CONT_E = "~effect/Effect/failureCont"
const CONT_ALL = "~effect/Effect/ensureCont"

export type Loose = Record<string, unknown>

const describe = (value: unknown): string => {
  if (typeof value !== "function") {
    return value === undefined ? "" : (value as object)?.constructor?.name ?? typeof value
  }
  const source = Function.prototype.toString.call(value).replace(/\s+/g, " ").slice(0, 110)
  return `${(value as { name?: string }).name || "(anonymous)"} | ${source}`
}

/** The step's key: its primitive and what it runs. */
export const keyOf = (primitive: Loose, fiber: Loose): string => {
  const op = String(primitive[IDENTIFIER] ?? primitive.constructor?.name ?? "?")
  if (op === "Success" || op === "Failure") {
    const stack = fiber._stack as Array<Loose> | undefined
    const frame = stack?.[stack.length - 1]
    if (frame === undefined) return `${op} -> (fiber end)`
    const cont = (op === "Success" ? frame[CONT_A] : frame[CONT_E]) ?? frame[CONT_ALL]
    const payload = typeof frame.payload === "function" ? ` payload ${describe(frame.payload)}` : ""
    return `${op} -> ${String(frame[IDENTIFIER] ?? "?")} ${describe(cont)}${payload}`
  }
  if (op === "OnSuccess" && "payload" in primitive) {
    return `${op} ${describe(primitive[CONT_A])} payload ${describe(primitive.payload)}`
  }
  const arg = primitive[ARGS]
  return `${op} ${typeof arg === "function" ? describe(arg) : describe(primitive[CONT_A] ?? primitive[CONT_E] ?? arg)}`
}

/**
 * Sets effect's per-step tracer hook on the native tracer (before any fiber runs, so that no span is
 * made and the layers take their untraced paths) and returns a measure: runs `run` with every step
 * of every fiber counted, and gives the steps per call of its `calls` calls, by site.
 */
export const stepCounter = () => {
  const counts = new Map<string, number>()
  let counting = false
  const evaluate = "~effect/Effect/evaluate"
  ;(Tracer.nativeTracer as unknown as Loose).context = (primitive: Loose, fiber: Loose) => {
    if (counting) {
      const at = keyOf(primitive, fiber)
      counts.set(at, (counts.get(at) ?? 0) + 1)
    }
    return (primitive[evaluate] as (fiber: unknown) => unknown).call(primitive, fiber)
  }
  return async (calls: number, run: () => Promise<unknown>): Promise<Record<string, number>> => {
    counts.clear()
    counting = true
    try {
      await run()
    } finally {
      counting = false
    }
    const perCall: Record<string, number> = {}
    for (const [at, count] of counts) perCall[at] = count / calls
    return perCall
  }
}
