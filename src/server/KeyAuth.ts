/**
 * Virtual keys at the door of `llm-connect serve`: the {@link Server.Authenticate} hook that
 * reads a caller's key (`Authorization: Bearer KEY` or `x-api-key: KEY`), looks its hash up in
 * the key store (`VirtualKeys`), and holds the caller to the key's limits:
 *
 * - a budget (tokens and/or USD, in total or per day): one `BudgetTracker` per key, kept for the
 *   server's lifetime (a per-day one is replaced when the UTC date changes); each request's budget
 *   is a child of it (`Bridge` makes the request's tracker with `parent.child`), so concurrent
 *   requests of one key reserve against one budget and never overshoot it. Over it: 429
 *   `BudgetExceeded`, the error naming the key's budget;
 * - `rpm` and `tpm`: fixed one-minute windows (by `Clock`); a request over either gets 429
 *   `RateLimited` with `retry-after` (the window's end). Tokens count when the request ends (a
 *   workflow run's when the run ends, `Identity.charge`);
 * - `maxConcurrent`: requests of the key in flight at once; one more gets 429 `RateLimited`.
 *
 * A missing, malformed or unknown key gets 401 `Authentication`. The key never reaches a log,
 * an error or the access log (which names the key's name).
 *
 * @since 0.1.0
 */
import { Clock, Effect, Option, Semaphore } from "effect"
import type { HttpServerRequest } from "effect/http"
import type * as BridgeContract from "../bridge/BridgeContract.ts"
import * as BudgetTracker from "../budget/BudgetTracker.ts"
import type * as Server from "./Server.ts"
import type * as VirtualKeys from "./VirtualKeys.ts"

/**
 * The 401 failure of a request without a valid key.
 *
 * @since 0.1.0
 * @category failures
 */
export const unauthorized = (why: string): BridgeContract.BridgeFailure => ({
  error: `${why}: send a virtual key as "Authorization: Bearer KEY" or "x-api-key: KEY" (llm-connect keys create)`,
  errorType: "Authentication",
  retryable: false
})

const rateLimited = (error: string, retryAfterMs: number): BridgeContract.BridgeFailure => ({
  error,
  errorType: "RateLimited",
  retryable: true,
  retryAfterMs
} as BridgeContract.BridgeFailure)

/**
 * The key a request carries: `Authorization: Bearer KEY`, else `x-api-key: KEY`.
 *
 * @since 0.1.0
 * @category auth
 */
export const keyOf = (headers: Readonly<Record<string, string | undefined>>): string | undefined => {
  const authorization = headers["authorization"]
  if (authorization !== undefined) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization)
    if (match !== null) return match[1]
  }
  const apiKey = headers["x-api-key"]?.trim()
  return apiKey === undefined || apiKey === "" ? undefined : apiKey
}

interface Window {
  start: number
  requests: number
  tokens: number
  inFlight: number
}

interface Held {
  readonly period: string
  readonly tracker: BudgetTracker.Service
}

const MINUTE = 60_000

/**
 * The per-key state of a server: budgets and windows, for the server's lifetime.
 *
 * @since 0.1.0
 * @category models
 */
export interface KeyGate {
  readonly authenticate: Server.Authenticate
  /** The budget tracker of a key now (made on its first request), if it has a budget. */
  readonly trackerOf: (info: VirtualKeys.KeyInfo) => Effect.Effect<BudgetTracker.Service | undefined>
}

const budgetInput = (limits: VirtualKeys.Limits) => ({
  ...(limits.maxTokens !== undefined ? { totalTokens: limits.maxTokens } : {}),
  ...(limits.maxCostUsd !== undefined ? { costUsd: limits.maxCostUsd } : {})
})

/**
 * Makes the gate of a key store.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (keys: VirtualKeys.Service, options: BudgetTracker.Options = {}): Effect.Effect<KeyGate> =>
  Effect.gen(function*() {
    const budgets = new Map<string, Held>()
    const windows = new Map<string, Window>()
    // Making a tracker is effectful: one at a time, so that two first requests share one.
    const making = yield* Semaphore.make(1)

    const trackerOf = (info: VirtualKeys.KeyInfo): Effect.Effect<BudgetTracker.Service | undefined> => {
      const input = budgetInput(info.limits)
      if (Object.keys(input).length === 0) return Effect.succeed(undefined)
      return making.withPermits(1)(Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const period = info.limits.per === "day" ? new Date(now).toISOString().slice(0, 10) : "total"
        const held = budgets.get(info.name)
        if (held !== undefined && held.period === period) return held.tracker
        const label = `key ${info.name} (${info.limits.per === "day" ? `per day, ${period} UTC` : "total"})`
        const tracker = yield* BudgetTracker.make(input, { ...options, label }).pipe(Effect.orDie)
        budgets.set(info.name, { period, tracker })
        return tracker
      }))
    }

    const admit = (info: VirtualKeys.KeyInfo, now: number): BridgeContract.BridgeFailure | undefined => {
      const limits = info.limits
      let window = windows.get(info.name)
      if (window === undefined) {
        window = { start: now, requests: 0, tokens: 0, inFlight: 0 }
        windows.set(info.name, window)
      }
      if (now - window.start >= MINUTE) {
        window.start = now - ((now - window.start) % MINUTE)
        window.requests = 0
        window.tokens = 0
      }
      const retryAfterMs = window.start + MINUTE - now
      if (limits.rpm !== undefined && window.requests >= limits.rpm) {
        return rateLimited(`key ${info.name} is over its rate limit of ${limits.rpm} requests per minute (rpm); retry after the retry-after header`, retryAfterMs)
      }
      if (limits.tpm !== undefined && window.tokens >= limits.tpm) {
        return rateLimited(`key ${info.name} is over its rate limit of ${limits.tpm} tokens per minute (tpm); retry after the retry-after header`, retryAfterMs)
      }
      if (limits.maxConcurrent !== undefined && window.inFlight >= limits.maxConcurrent) {
        return rateLimited(`key ${info.name} has ${limits.maxConcurrent} requests in flight, its concurrency limit; retry when one ends`, 1_000)
      }
      window.requests += 1
      window.inFlight += 1
      return undefined
    }

    const release = (name: string) => (record: Server.RequestRecord) =>
      Effect.sync(() => {
        const window = windows.get(name)
        if (window === undefined) return
        window.inFlight -= 1
        window.tokens += record.tokensIn + record.tokensOut
      })

    const authenticate: Server.Authenticate = (request: HttpServerRequest.HttpServerRequest) =>
      Effect.gen(function*() {
        const key = keyOf(request.headers)
        if (key === undefined) return yield* Effect.fail(unauthorized("no virtual key"))
        const found = yield* keys.lookup(key).pipe(
          Effect.mapError((): BridgeContract.BridgeFailure => ({ error: "cannot read the key store", errorType: "Unavailable", retryable: true }))
        )
        if (Option.isNone(found)) return yield* Effect.fail(unauthorized("unknown or revoked virtual key"))
        const info = found.value
        const tracker = yield* trackerOf(info)
        const refused = admit(info, yield* Clock.currentTimeMillis)
        if (refused !== undefined) return yield* Effect.fail(refused)
        return {
          name: info.name,
          release: release(info.name),
          charge: (tokens: number) =>
            Effect.sync(() => {
              const window = windows.get(info.name)
              if (window !== undefined) window.tokens += tokens
            }),
          ...(tracker !== undefined ? { provide: BudgetTracker.withTracker(tracker) } : {})
        } satisfies Server.Identity
      })

    return { authenticate, trackerOf }
  })
