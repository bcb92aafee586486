/**
 * The key of an effect step for the step-by-site benches (`bench/stack-step-sites.ts`,
 * `bench/stream-step-sites.ts`): the primitive the run loop evaluates (`OnSuccess`, `WithFiber`,
 * `Success`, ...) and the function it runs (for an exit, the continuation it resumes), named by
 * its function name and the start of its source. Reads effect 4.1's primitives by their fields.
 */

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
