/**
 * CPU per call of the attempt timeout alone (`Timeout.attempt`) around an attempt that answers
 * from `setImmediate` (as I/O does), against the same attempt bare and against
 * `Effect.timeoutOrElse` (the implementation before issue 13's last step), each call in its own
 * fiber, at 1 and 100 in flight, and one after another in a single fiber (a program's loop of
 * calls: there `Effect.timeoutOrElse` leaves one sleeping fiber and its timer per call until the
 * loop's fiber ends); rounds interleaved, medians.
 *
 * The last two rows put a provider's own request timeout (`Deadlines.bounded`, 10 minutes, as
 * every HTTP adapter bounds its request) under the attempt: the bare adapter's shape, and
 * `Stack.fromConfig`'s (the attempt timeout over it: since ADR 0050 the provider's bound runs in
 * the attempt's fiber, one fiber per attempt instead of two).
 *
 *   node bench/attempt-timeout.ts [--reps 9] [--calls 5000]
 */
import { Duration, Effect, Fiber } from "effect"
import { bounded } from "../src/internal/deadlines.ts"
import * as LlmError from "../src/LlmError.ts"
import * as Timeout from "../src/resilience/Timeout.ts"
import { argument, median } from "./internal/stats.ts"

const REPS = argument("reps", 9)
const CALLS = argument("calls", 5000)

const answer: Effect.Effect<number, LlmError.LlmError> = Effect.callback<number, LlmError.LlmError>((resume) => {
  const handle = setImmediate(() => resume(Effect.succeed(1)))
  return Effect.sync(() => clearImmediate(handle))
})
const subject = { provider: "bench", model: "m" }
const options = { timeoutMs: 120_000, attempt: 1, subject }
const providerTimeout = Timeout.timeoutError(subject, { scope: "attempt", timeoutMs: 600_000, attempts: 1, elapsedMs: 600_000 })

const variants: ReadonlyArray<readonly [string, Effect.Effect<number, LlmError.LlmError>]> = [
  ["bare attempt", answer],
  ["Effect.timeoutOrElse (before)", Effect.timeoutOrElse(answer, {
    duration: Duration.millis(options.timeoutMs),
    orElse: () => Effect.fail(Timeout.timeoutError(subject, { scope: "attempt", timeoutMs: 120_000, attempts: 1, elapsedMs: 0 }))
  })],
  ["Timeout.attempt (after)", Timeout.attempt(answer, options)],
  ["provider's own 10m bound (bare adapter)", bounded(answer, 600_000, () => providerTimeout)],
  ["Timeout.attempt over the provider's bound", Timeout.attempt(bounded(answer, 600_000, () => providerTimeout), options)]
]

const cpuPerCall = (effect: Effect.Effect<number, LlmError.LlmError>, concurrency: number) =>
  Effect.promise(async () => {
    const started = process.cpuUsage()
    await Effect.runPromise(Effect.forEach(Array.from({ length: CALLS }), () => Effect.flatMap(Effect.forkChild(effect), Fiber.await), { concurrency, discard: true }))
    const used = process.cpuUsage(started)
    return (used.user + used.system) / CALLS
  })

const inOneFiber = (effect: Effect.Effect<number, LlmError.LlmError>) =>
  Effect.promise(async () => {
    const started = process.cpuUsage()
    await Effect.runPromise(Effect.forEach(Array.from({ length: CALLS }), () => effect, { discard: true }))
    const used = process.cpuUsage(started)
    return (used.user + used.system) / CALLS
  })

const results = new Map<string, Array<number>>()
for (let rep = 0; rep < REPS; rep++) {
  for (const [name, effect] of variants) {
    const value = await Effect.runPromise(inOneFiber(effect))
    const key = `${name} one fiber`
    results.set(key, [...(results.get(key) ?? []), value])
  }
  for (const concurrency of [1, 100]) {
    for (const [name, effect] of variants) {
      const value = await Effect.runPromise(cpuPerCall(effect, concurrency))
      const key = `${name} C=${concurrency}`
      results.set(key, [...(results.get(key) ?? []), value])
    }
  }
}
console.table([...results].map(([name, values]) => ({ variant: name, "median CPU µs/call": median(values).toFixed(2), "min": Math.min(...values).toFixed(2) })))
