/**
 * A preload for a benchmarked serve (`node --import=<this file>`, bench/serve-ab.ts `--steps`):
 * counts the effect steps the runtime evaluates in every fiber of the process (the run loop of
 * effect's fiber is wrapped to add up each run's `currentOpCount`, as bench/stream-steps.ts does)
 * and the HTTP requests started, and when the process exits writes to
 * `$LLM_CONNECT_BENCH_STEPS_DIR/steps-<pid>.json` the steps counted between the start of request
 * {@link WARM_UP} and the start of the last request (nothing without the variable, nothing from a
 * process that served fewer requests, e.g. serve's launcher), and on SIGUSR2. A deterministic figure of the work
 * per request, which holds on a loaded machine where CPU figures do not (issue 16, stop 27).
 *
 * Effect is loaded from the `node_modules` nearest to the script run (`process.argv[1]`, e.g.
 * `<tree>/src/cli/bin.ts`), so that a variant from another worktree is counted in its own copy.
 */
import { subscribe } from "node:diagnostics_channel"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { loadEffect } from "./effectEntry.ts"

/** Requests served before counting starts (the warm-up: JIT, the stack's first build). */
export const WARM_UP = 1_000

/** What the preload writes. */
export interface Record {
  /** Requests counted (from request {@link WARM_UP} to the last one started). */
  readonly requests: number
  readonly steps: number
}

interface RunLoop {
  currentOpCount: number
  runLoop: (effect: unknown) => unknown
}

const loaded = await loadEffect("LLM_CONNECT_BENCH_STEPS_DIR")
if (loaded !== undefined) {
  const { dir } = loaded
  const { Effect } = loaded.effect
  let steps = 0
  let requests = 0
  let atWarmUp = 0
  let atLast = 0
  const fiber = await Effect.runPromise(Effect.withFiber((current) => Effect.succeed(current)))
  const proto = Object.getPrototypeOf(fiber) as RunLoop
  const run = proto.runLoop
  proto.runLoop = function(this: RunLoop, effect: unknown) {
    const result = run.call(this, effect)
    steps += this.currentOpCount
    return result
  }
  subscribe("http.server.request.start", () => {
    requests++
    if (requests === WARM_UP) atWarmUp = steps
    atLast = steps
  })
  const write = () => {
    if (requests <= WARM_UP) return
    const record: Record = { requests: requests - WARM_UP, steps: atLast - atWarmUp }
    writeFileSync(join(dir, `steps-${process.pid}.json`), JSON.stringify(record))
  }
  process.on("exit", write)
  // A server that does not exit on its own (bench/serve-core-server.ts): SIGUSR2 writes the record.
  process.on("SIGUSR2", write)
}
