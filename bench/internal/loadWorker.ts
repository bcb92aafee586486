/**
 * The open loop (bench/internal/load.ts `openLoop`) in a worker thread of its own (issue 16, stop
 * 28): the load generator's JavaScript heap is then the worker's, apart from the benchmark's
 * (results, event records, autocannon's runs), and its young generation is large enough that a
 * window's garbage dies young. Run in the benchmark's main thread, the open loop shared a heap that
 * grew through the run, and that heap's full collections (tens of ms on a quiet machine, their
 * helper threads on the same 2 cores as the target) fell inside measured windows: the answers
 * arriving meanwhile were read late and counted as the target's latency
 * (docs/performance.md, Serve, stop 28).
 *
 * `start()` starts the worker once; each `openLoop` call runs one window in it and resolves with
 * the window's result and each answer's send time (ms since the epoch) and latency.
 */
import { Agent } from "node:http"
import { PerformanceObserver } from "node:perf_hooks"
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads"
import { openLoop, type OpenLoopResult, Stage, STAGE_COUNT, type Target } from "./load.ts"

/** One window's result, with the 2xx answers in the order they came: send time (epoch ms) and latency (ms). */
export interface WindowResult extends OpenLoopResult {
  readonly sentAt: Float64Array
  readonly tookMs: Float64Array
  /** The worker's own collections during the window of 1 ms or more (and every full one): start (epoch ms), kind, pause ms. */
  readonly collections: ReadonlyArray<readonly [number, string, number]>
  /** With `stages`: each request sent, `STAGE_COUNT` numbers (load.ts `Stage`), times in epoch ms. */
  readonly stages?: Float64Array
  /** With `stages`: the worker's event-loop lags in the window (a 2 ms timer answered over 5 ms late): [epoch ms, lag ms]. */
  readonly lags?: ReadonlyArray<readonly [number, number]>
}

interface Request {
  readonly target: Target
  readonly rate: number
  readonly durationMs: number
  readonly maxOutstanding: number
  /** Record each request's stages and the worker's loop lags (stop 29). */
  readonly stages: boolean
  /** Keep one connection pool for the target across windows (a real client's), not a new one per window. */
  readonly keepAgent: boolean
}

/** The young generation the worker's isolate gets, MB (V8's default leaves it much smaller in a worker). */
export const YOUNG_GENERATION_MB = 256

if (!isMainThread && workerData === "open-loop") {
  const kinds: Record<number, string> = { 1: "minor", 2: "minor-ms", 4: "major", 8: "incremental", 16: "weakcb" }
  let collections: Array<readonly [number, string, number]> = []
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = (entry as PerformanceEntry & { readonly detail?: { readonly kind?: number } }).detail?.kind ?? 0
      if (entry.duration >= 1 || kind === 4) collections.push([performance.timeOrigin + entry.startTime, kinds[kind] ?? String(kind), entry.duration])
    }
  }).observe({ entryTypes: ["gc"] })
  // `keepAgent`: one pool per target URL for the worker's life.
  const agents = new Map<string, Agent>()
  parentPort!.on("message", async (request: Request) => {
    collections = []
    const count = Math.max(1, Math.round((request.rate * request.durationMs) / 1000))
    const sentAt = new Float64Array(count)
    const tookMs = new Float64Array(count)
    let answered = 0
    const stages = request.stages ? new Float64Array(count * STAGE_COUNT).fill(Number.NaN) : undefined
    // The worker's own event loop during the window: a 2 ms timer answered more than 5 ms late.
    const lags: Array<readonly [number, number]> = []
    let probing = request.stages
    const probe = (expected: number) => {
      const now = performance.now()
      if (now - expected > 5) lags.push([performance.timeOrigin + expected, now - expected])
      if (probing) setTimeout(probe, 2, now + 2)
    }
    if (probing) setTimeout(probe, 2, performance.now() + 2)
    let agent = agents.get(request.target.url)
    if (request.keepAgent && agent === undefined) {
      agent = new Agent({ keepAlive: true, maxSockets: Infinity })
      agents.set(request.target.url, agent)
    }
    const result = await openLoop(request.target, request.rate, request.durationMs, request.maxOutstanding, (written, latency) => {
      sentAt[answered] = performance.timeOrigin + written
      tookMs[answered++] = latency
    }, { ...(stages === undefined ? {} : { stages }), ...(request.keepAgent && agent !== undefined ? { agent } : {}) })
    probing = false
    // The observer's entries of the window's last moments come in a later task.
    await new Promise((resolve) => setTimeout(resolve, 10))
    if (stages !== undefined) {
      for (let index = 0; index < stages.length; index++) {
        const stage = index % STAGE_COUNT
        if (stage !== Stage.reused && stage !== Stage.port && !Number.isNaN(stages[index]!)) stages[index] = performance.timeOrigin + stages[index]!
      }
    }
    const answer: WindowResult = {
      ...result,
      sentAt: sentAt.slice(0, answered),
      tookMs: tookMs.slice(0, answered),
      collections,
      ...(stages === undefined ? {} : { stages: stages.slice(0, result.sent * STAGE_COUNT), lags })
    }
    parentPort!.postMessage(answer)
  })
}

/** Starts the worker; `close` ends it. */
export const start = () => {
  const worker = new Worker(new URL(import.meta.url), { workerData: "open-loop", resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB } })
  let queue = Promise.resolve<unknown>(undefined)
  const openLoopIn = (
    target: Target,
    rate: number,
    durationMs: number,
    maxOutstanding = 1_000,
    options: { readonly stages?: boolean; readonly keepAgent?: boolean } = {}
  ): Promise<WindowResult> => {
    const run = queue.then(() =>
      new Promise<WindowResult>((resolve, reject) => {
        const failed = (error: Error) => reject(error)
        worker.once("error", failed)
        worker.once("message", (answer: WindowResult) => {
          worker.off("error", failed)
          resolve(answer)
        })
        worker.postMessage({ target, rate, durationMs, maxOutstanding, stages: options.stages ?? false, keepAgent: options.keepAgent ?? false } satisfies Request)
      })
    )
    queue = run.catch(() => undefined)
    return run
  }
  return { openLoop: openLoopIn, close: () => worker.terminate() }
}
