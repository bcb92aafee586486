/**
 * A full garbage collection when serve goes idle (issue 16, stop 27; ADR 0044).
 *
 * Serve's requests leave garbage that survives the young generation's collections (about 8 KB
 * per request, ADR 0042), so its old generation grows under load until V8 runs a full
 * collection. In serve's process V8 let the old generation overshoot its limit under load (by
 * up to 34 MB, `--trace-gc --trace-incremental-marking`) and started the full collection at the
 * first allocations of the next burst of traffic: after an idle spell, the first requests waited
 * for a marking and a 15-50 ms pause. V8's memory reducer, which would collect during the idle
 * spell, is off in serve (it stalled requests under steady load, ADR 0039). This does the one
 * thing of it serve wants: once no request has started for a whole period, and the old
 * generation grew by at least a threshold since its lowest point after the last collection, one
 * full collection, on the idle process, so the next burst starts with the old generation's
 * headroom restored.
 *
 * @since 0.1.0
 */
import { type Duration, Effect, Ref, Schedule } from "effect"
import { getHeapSpaceStatistics, setFlagsFromString } from "node:v8"
import { runInNewContext } from "node:vm"

/** What the idle collection reads and does (the process's, or a test's). */
export interface Probe {
  /** Requests started so far (a counter that only grows). */
  readonly requestsStarted: () => number
  /** Requests whose answer has not ended yet (a long stream keeps the process busy). */
  readonly requestsInFlight: () => number
  /** Bytes in use in the old generation now. */
  readonly oldGenerationUsed: () => number
  /** Runs a full collection (synchronously). */
  readonly collect: () => void
  /**
   * Run once a check found the process idle, before it collects: lets the input that has already
   * arrived be read first ({@link settleIo} in serve's process), so that a request waiting unread
   * in a socket when the check's timer fired is counted, and no collection starts in front of it.
   * Absent: the check decides at once.
   */
  readonly settle?: Effect.Effect<void> | undefined
}

/** When to collect. */
export interface Options {
  /** A period with no request started counts as idle; checked once per period. */
  readonly idle: Duration.Input
  /** The old generation's growth, bytes, since its lowest point after the last idle collection, below which nothing is done. */
  readonly minGrowthBytes: number
}

/**
 * Serve's choice: idle after a whole second without a request; at least 16 MB grown (about 2,000
 * requests' survivors at 8 KB, a quarter of the headroom serve's process gives the old
 * generation, `HEAP_GROWING_PERCENT` in `src/cli/serveProcess.ts`), so that sparse traffic does not
 * pay a collection after every request.
 */
export const defaults: Options = { idle: "1 second", minGrowthBytes: 16 * 1024 * 1024 }

/**
 * Checks once per `idle` period, forever (fork it in the server's scope): collects when no
 * request started since the last check, none is still being answered (a stream in progress would
 * be paused by the collection), and the old generation grew by `minGrowthBytes` since its lowest
 * point after the last collection. When the probe has a `settle` step, the check runs it first
 * and looks again: a request read meanwhile makes the period busy (stop 28).
 */
export const run = (probe: Probe, options: Options = defaults): Effect.Effect<void> =>
  Effect.gen(function*() {
    const state = yield* Ref.make({ seen: probe.requestsStarted(), lowest: probe.oldGenerationUsed() })
    const idle = (seen: number, lowest: number): boolean =>
      probe.requestsStarted() === seen && probe.requestsInFlight() === 0 && probe.oldGenerationUsed() - lowest >= options.minGrowthBytes
    // Busy during the last period or now, or not grown enough: remember the lowest point (a full
    // collection V8 ran itself lowers it) and wait. Idle: collect.
    const decide = (seen: number, lowest: number) =>
      Effect.sync(() => {
        if (!idle(seen, lowest)) return { seen: probe.requestsStarted(), lowest: Math.min(lowest, probe.oldGenerationUsed()) }
        probe.collect()
        return { seen, lowest: probe.oldGenerationUsed() }
      })
    const check = Effect.flatMap(Ref.get(state), ({ lowest, seen }) =>
      (probe.settle !== undefined && idle(seen, lowest) ? Effect.andThen(probe.settle, decide(seen, lowest)) : decide(seen, lowest)).pipe(
        Effect.flatMap((next) => Ref.set(state, next))
      ))
    yield* Effect.repeat(check, Schedule.spaced(options.idle))
  })

/**
 * Serve's `settle` step: resumes after the event loop's next poll phase (`setImmediate` runs in
 * the check phase, which follows it), so the sockets' pending input has been read and any request
 * in it has started. The idle check runs from a timer, and Node runs timers before it polls for
 * I/O in each turn of the loop: without this, a request that arrived just before the check's
 * timer fired would still be unread when the check decided, and would wait for the whole
 * collection.
 */
export const settleIo: Effect.Effect<void> = Effect.callback<void>((resume) => {
  const handle = setImmediate(() => resume(Effect.void))
  return Effect.sync(() => clearImmediate(handle))
})

/**
 * This process's full collection: V8's `gc` function, taken from a fresh `vm` context created
 * with `--expose-gc` set only for that moment (the program's own global gets no `gc`).
 */
export const processCollector = (): (() => void) => {
  setFlagsFromString("--expose-gc")
  try {
    const gc = runInNewContext("gc") as unknown
    if (typeof gc !== "function") throw new Error("V8 did not expose gc")
    return () => void gc()
  } finally {
    setFlagsFromString("--no-expose-gc")
  }
}

/** Bytes in use in this process's old generation (V8's `old_space`). */
export const oldSpaceUsed = (): number => getHeapSpaceStatistics().find((space) => space.space_name === "old_space")?.space_used_size ?? 0
