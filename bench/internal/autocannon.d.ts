// The part of autocannon's programmatic API (9.0.0, no bundled types) the benchmarks use.
declare module "autocannon" {
  import type { EventEmitter } from "node:events"

  interface Options {
    readonly url: string
    readonly method?: "GET" | "POST"
    readonly headers?: Record<string, string>
    readonly body?: string
    /** Concurrent connections (closed loop: each sends its next request when the last answered). */
    readonly connections?: number
    /** Seconds. */
    readonly duration?: number
    /** Requests in all (instead of `duration`). */
    readonly amount?: number
    /** Requests per second over all connections (a per-connection quota each second). */
    readonly overallRate?: number
    /** Seconds before a request counts as timed out. */
    readonly timeout?: number
  }

  interface Histogram {
    readonly average: number
    readonly p50: number
    readonly p99: number
  }

  interface Result {
    readonly duration: number
    readonly errors: number
    readonly timeouts: number
    readonly non2xx: number
    readonly "2xx": number
    readonly requests: Histogram & { readonly total: number }
    readonly latency: Histogram
    readonly statusCodeStats: Record<string, { readonly count: number }>
  }

  interface Instance extends EventEmitter, PromiseLike<Result> {
    on(event: "response", listener: (client: unknown, statusCode: number, resBytes: number, responseTime: number) => void): this
    on(event: string, listener: (...args: Array<unknown>) => void): this
  }

  function autocannon(options: Options): Instance
  export default autocannon
}
