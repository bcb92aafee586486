/**
 * Load generation for the HTTP benchmarks (bench/serve.ts): an open-loop generator at a fixed
 * rate, a closed loop of K callers over any async call, and percentiles.
 *
 * Why an open loop of our own beside autocannon: autocannon's `-R`/`overallRate` is a quota per
 * connection per second (each connection sends back to back until its quota for the second is
 * used, then waits for the next second, and every connection's second starts together), so the
 * requests arrive in bursts at the start of each second and what it measures is the closed-loop
 * latency at that many connections. `openLoop` sends on a fixed schedule instead (every 1/rate
 * seconds, on a 1 ms timer: due requests are sent together, at most a millisecond late), whatever
 * the answers do, and times each request from the moment it is written to the end of its answer,
 * in fractional milliseconds (autocannon's histogram keeps whole milliseconds).
 */
import { Agent, request } from "node:http"
import type { Socket } from "node:net"

/** The p-th percentile (0-100) of ascending values, nearest rank. */
export const percentile = (sorted: ArrayLike<number>, p: number): number => {
  if (sorted.length === 0) return Number.NaN
  const rank = Math.ceil((p / 100) * sorted.length)
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!
}

/** One POST target: where and what to send. */
export interface Target {
  readonly url: string
  readonly body: string
  readonly headers?: Readonly<Record<string, string>>
}

/**
 * Each request's stages, {@link STAGE_COUNT} numbers per request in the order sent (`openLoop`'s
 * `stages` option, bench/serve-idle.ts `--stages`; issue 16, stop 29): `performance.now()` times
 * of when it was due, written (`http.request` called), given a socket, connected (new sockets
 * only, else NaN), written out (`finish`), its answer's headers read (first byte) and its end;
 * `reused` is 1 when the socket was a kept-alive one, `port` the connection's local port (the
 * server sees it as the client's port).
 */
export const Stage = { scheduled: 0, written: 1, socket: 2, connected: 3, reused: 4, flushed: 5, firstByte: 6, end: 7, port: 8 } as const
/** Numbers per request in a `stages` array. */
export const STAGE_COUNT = 9

/**
 * A keep-alive HTTP client for one target: `post()` resolves with the status once the answer's
 * body was read (with `stages` and an offset, it records the request's {@link Stage}s there).
 * `agent`: a pool kept by the caller (a client that keeps its connections across windows, as a
 * real one does), else a new one that `close()` destroys.
 */
export const client = (target: Target, shared?: Agent) => {
  const url = new URL(target.url)
  const agent = shared ?? new Agent({ keepAlive: true, maxSockets: Infinity })
  const headers = { "content-type": "application/json", "content-length": String(Buffer.byteLength(target.body)), ...target.headers }
  const post = (stages?: Float64Array, at = 0): Promise<number> =>
    new Promise((resolve) => {
      const sent = request({ agent, host: url.hostname, port: url.port, path: `${url.pathname}${url.search}`, method: "POST", headers }, (answer) => {
        if (stages !== undefined) stages[at + Stage.firstByte] = performance.now()
        answer.resume()
        answer.on("end", () => {
          if (stages !== undefined) stages[at + Stage.end] = performance.now()
          resolve(answer.statusCode ?? 0)
        })
        answer.on("error", () => resolve(0))
      })
      if (stages !== undefined) {
        sent.once("socket", (socket: Socket) => {
          stages[at + Stage.socket] = performance.now()
          stages[at + Stage.reused] = sent.reusedSocket ? 1 : 0
          if (socket.connecting) {
            socket.once("connect", () => {
              stages[at + Stage.connected] = performance.now()
              stages[at + Stage.port] = socket.localPort ?? Number.NaN
            })
          } else stages[at + Stage.port] = socket.localPort ?? Number.NaN
        })
        sent.once("finish", () => void (stages[at + Stage.flushed] = performance.now()))
      }
      sent.on("error", () => resolve(0))
      sent.end(target.body)
    })
  return { post, close: () => void (shared === undefined && agent.destroy()) }
}

/** What one open-loop run measured. */
export interface OpenLoopResult {
  /** Requests the schedule called for. */
  readonly scheduled: number
  /** Requests sent (the others were dropped: `maxOutstanding` answers were already awaited). */
  readonly sent: number
  /** Answers with a 2xx status. */
  readonly ok: number
  /** Latencies of the 2xx answers, ms, ascending. */
  readonly latencies: Float64Array
  /** How late the generator sent, ms: the 99th percentile of (actual - scheduled). */
  readonly lagP99: number
}

/**
 * Sends `rate` requests per second for `durationMs` on a fixed schedule (open loop: a slow
 * answer does not delay the next request), then waits for the answers still out. A target that
 * cannot keep up would make the answers awaited grow for the whole run: past `maxOutstanding`
 * at once, a due request is dropped (counted, not sent), so the run's time and memory stay
 * bounded.
 */
export const openLoop = async (
  target: Target,
  rate: number,
  durationMs: number,
  maxOutstanding = 1_000,
  // Called with each 2xx answer's send time (`performance.now()`) and latency, ms (bench/serve-idle.ts).
  onAnswer?: (writtenAt: number, latencyMs: number) => void,
  // `stages`: each request's {@link Stage}s, `STAGE_COUNT` per request sent, in the order sent
  // (at least `STAGE_COUNT` times the requests scheduled); `agent`: a connection pool kept across
  // runs (bench/serve-idle.ts `--stages`, `--agent run`; stop 29).
  options?: { readonly stages?: Float64Array; readonly agent?: Agent }
): Promise<OpenLoopResult> => {
  const http = client(target, options?.agent)
  const stages = options?.stages
  const scheduled = Math.max(1, Math.round((rate * durationMs) / 1000))
  const interval = 1000 / rate
  const latencies = new Float64Array(scheduled)
  const lags = new Float64Array(scheduled)
  let ok = 0
  let due = 0
  let sent = 0
  let outstanding = 0
  // No promise kept per request (an array of them lived through the whole run and was promoted
  // to the old generation: the load generator's own full collections then fell in the windows it
  // measured, docs/performance.md, Serve, stop 28): a count of the answers awaited, and one
  // promise for the last of them.
  let finished = false
  let drained: (() => void) | undefined
  const start = performance.now()
  await new Promise<void>((done) => {
    const tick = () => {
      const now = performance.now()
      while (due < scheduled && start + due * interval <= now) {
        const index = due++
        if (outstanding >= maxOutstanding) continue
        const written = performance.now()
        if (stages !== undefined) {
          stages[sent * STAGE_COUNT + Stage.scheduled] = start + index * interval
          stages[sent * STAGE_COUNT + Stage.written] = written
        }
        lags[sent++] = written - (start + index * interval)
        outstanding++
        void http.post(stages, (sent - 1) * STAGE_COUNT).then((status) => {
          outstanding--
          if (status >= 200 && status < 300) {
            latencies[ok++] = performance.now() - written
            onAnswer?.(written, latencies[ok - 1]!)
          }
          if (finished && outstanding === 0) drained?.()
        })
      }
      if (due < scheduled) setTimeout(tick, 1)
      else done()
    }
    tick()
  })
  finished = true
  if (outstanding > 0) await new Promise<void>((resolve) => (drained = resolve))
  http.close()
  return { scheduled, sent, ok, latencies: latencies.subarray(0, ok).sort(), lagP99: percentile(lags.subarray(0, sent).sort(), 99) }
}

/** What one closed-loop run measured. */
export interface ClosedLoopResult {
  readonly calls: number
  readonly failed: number
  readonly wallMs: number
}

/** `calls` calls of `call` by `concurrency` callers, each starting its next call when its last one finished. */
export const closedLoop = async (call: (index: number) => Promise<boolean>, calls: number, concurrency: number): Promise<ClosedLoopResult> => {
  let next = 0
  let failed = 0
  const started = performance.now()
  const caller = async () => {
    while (next < calls) {
      const index = next++
      if (!(await call(index))) failed++
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, calls) }, caller))
  return { calls, failed, wallMs: performance.now() - started }
}

/** Runs `calls` calls of `one`, `concurrency` at a time (a pool of workers), without timing them. */
export const pool = async (calls: number, concurrency: number, one: () => Promise<unknown>): Promise<void> => {
  let next = 0
  const worker = async () => {
    while (next < calls) {
      next++
      await one()
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
}
