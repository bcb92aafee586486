/**
 * Virtual keys at the door of `llm-connect serve`: the {@link Server.Authenticate} hook that
 * reads a caller's key (`Authorization: Bearer KEY` or `x-api-key: KEY`), looks its hash up in
 * the key store (`VirtualKeys`), and holds the caller to the key's limits:
 *
 * - a budget (tokens and/or USD, in total or per day): one `BudgetTracker` per key, kept for the
 *   server's lifetime (a per-day one is replaced when the UTC date changes); each request's budget
 *   is a child of it (`Bridge` makes the request's tracker with `parent.child`), so concurrent
 *   requests of one key reserve against one budget and never overshoot it. Over it: 429
 *   `BudgetExceeded`, the error naming the key's budget. In a shared `BudgetStore`
 *   ({@link Options.store}: Redis) the key's budget is the named budget `key:<name>:<created>`
 *   (the key's name and creation time, never the key), one budget for every replica; a per-day
 *   one uses the store's day window. Without one, the key's totals are saved in the key store
 *   after each of its requests and restored when the server starts (`VirtualKeys.totals`);
 * - `rpm` and `tpm`: effect's `RateLimiter` (fixed window) under `key:<name>:<created>:rpm|tpm`,
 *   over the store it is given ({@link Options.limiter}: Redis for replicas, else this process's
 *   memory). Each admitted request takes one rpm token and holds the window open 60 s / rpm
 *   longer; its tokens count toward tpm when it ends (a workflow run's when the run ends,
 *   `Identity.charge`). Over either: 429 `RateLimited` with `retry-after` (when the window ends);
 * - `maxConcurrent`: requests of the key in flight at once in this process; one more gets 429
 *   `RateLimited`.
 *
 * When a shared store cannot be reached, a request is refused with 503 `Unavailable` naming the
 * store before anything is sent, unless `onStoreError: allow`.
 *
 * A missing, malformed or unknown key gets 401 `Authentication`. The key never reaches a log,
 * an error or the access log (which names the key's name).
 *
 * @since 0.1.0
 */
import { Clock, Duration, Effect, Option, Semaphore } from "effect"
import type { HttpServerRequest } from "effect/http"
import { RateLimiter } from "effect/persistence"
import * as BridgeContract from "../bridge/BridgeContract.ts"
import * as BudgetStore from "../budget/BudgetStore.ts"
import * as BudgetTracker from "../budget/BudgetTracker.ts"
import * as CallContext from "../CallContext.ts"
import * as LlmError from "../LlmError.ts"
import * as Money from "../pricing/Money.ts"
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

const unavailable = (error: string): BridgeContract.BridgeFailure => ({ error, errorType: "Unavailable", retryable: true })

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

/**
 * The id of a key's budget and rate limits in a store: its name and creation time, never the key.
 *
 * @since 0.1.0
 * @category auth
 */
export const budgetId = (info: VirtualKeys.KeyInfo): string => `key:${info.name}:${info.createdAt}`

interface Held {
  readonly period: string
  readonly tracker: BudgetTracker.Service
}

const WINDOW = Duration.minutes(1)

/**
 * Where the gate keeps what it shares, and how it sizes reservations.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends BudgetTracker.Options {
  /**
   * A shared budget store (`RedisBudgetStore`): every key's budget is a named budget there, one
   * for every process on the store. Absent: each key's budget is in this process's memory, its
   * totals saved in the key store and restored at start-up.
   */
  readonly store?: BudgetStore.Service | undefined
  /** The rate limiter of rpm/tpm (over a Redis store for replicas). Absent: this process's memory. */
  readonly limiter?: RateLimiter.RateLimiter | undefined
  /** What a rate-limit store that cannot be reached does: refuse (default, 503) or admit with a warning. */
  readonly onStoreError?: "fail" | "allow" | undefined
  /** How long a rate-limit step may take before its store counts as unreachable (default 2 seconds). */
  readonly storeTimeout?: Duration.Input | undefined
}

/**
 * The per-key state of a server: budgets and in-flight counts, for the server's lifetime.
 *
 * @since 0.1.0
 * @category models
 */
export interface KeyGate {
  readonly authenticate: Server.Authenticate
  /** The budget tracker of a key now (made on its first request), if it has a budget. */
  readonly trackerOf: (info: VirtualKeys.KeyInfo) => Effect.Effect<BudgetTracker.Service | undefined, BridgeContract.BridgeFailure>
}

const budgetInput = (limits: VirtualKeys.Limits) => ({
  ...(limits.maxTokens !== undefined ? { totalTokens: limits.maxTokens } : {}),
  ...(limits.maxCostUsd !== undefined ? { costUsd: limits.maxCostUsd } : {})
})

const RESTORED = "llm-connect/restored"

/**
 * Makes the gate of a key store.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (keys: VirtualKeys.Service, options: Options = {}): Effect.Effect<KeyGate> =>
  Effect.gen(function*() {
    const { store, limiter: given, onStoreError, storeTimeout, ...trackerOptions } = options
    const timeout = Duration.fromInputUnsafe(storeTimeout ?? "2 seconds")
    const limiter = given ?? (yield* RateLimiter.make.pipe(Effect.provide(RateLimiter.layerStoreMemory)))
    const budgets = new Map<string, Held>()
    const inFlight = new Map<string, number>()
    // Making a tracker is effectful: one at a time, so that two first requests share one.
    const making = yield* Semaphore.make(1)
    // Saving totals reads the tracker then writes: one at a time, so the last write is the latest figure.
    const saving = yield* Semaphore.make(1)

    const periodOf = (info: VirtualKeys.KeyInfo, now: number) => info.limits.per === "day" ? new Date(now).toISOString().slice(0, 10) : "total"

    const restore = (info: VirtualKeys.KeyInfo, period: string, tracker: BudgetTracker.Service) =>
      Effect.gen(function*() {
        // Without its saved totals the key's budget cannot be held: refused (503) until they can be read.
        const saved = yield* keys.totals(info, period).pipe(
          Effect.mapError((error) =>
            LlmError.make("keys", new LlmError.Unavailable({ description: `the saved totals of key ${info.name} cannot be read (${error.message})` }), { sent: false })
          )
        )
        if (saved === undefined || saved.totalTokens + saved.costNanos + saved.inputTokens + saved.outputTokens === 0) return
        yield* tracker.recordCumulative(
          RESTORED,
          { inputTokens: saved.inputTokens, outputTokens: saved.outputTokens, totalTokens: saved.totalTokens },
          { costUsd: Money.toUsd(saved.costNanos), provider: "serve", model: "restored" }
        )
      })

    const trackerOf = (info: VirtualKeys.KeyInfo): Effect.Effect<BudgetTracker.Service | undefined, BridgeContract.BridgeFailure> => {
      const input = budgetInput(info.limits)
      if (Object.keys(input).length === 0) return Effect.succeed(undefined)
      return making.withPermits(1)(Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const period = periodOf(info, now)
        const id = budgetId(info)
        const held = budgets.get(id)
        if (held !== undefined && held.period === period) return held.tracker
        const daily = info.limits.per === "day"
        if (store !== undefined) {
          // One named budget for every replica; the store rolls a per-day one on its own clock.
          const tracker = yield* BudgetTracker.make(input, {
            ...trackerOptions,
            label: `key ${info.name} (${daily ? "per day, UTC" : "total"})`,
            id,
            ...(daily ? { window: "day" as const } : {})
          }).pipe(Effect.provideService(BudgetStore.BudgetStore, store))
          budgets.set(id, { period, tracker })
          return tracker
        }
        const tracker = yield* BudgetTracker.make(input, { ...trackerOptions, label: `key ${info.name} (${daily ? `per day, ${period} UTC` : "total"})` })
        yield* restore(info, period, tracker)
        budgets.set(id, { period, tracker })
        return tracker
      })).pipe(Effect.mapError((error) => BridgeContract.fromLlmError(error).document))
    }

    // Saves the key's consumed totals (no shared store: they live in the key store across restarts).
    const save = (info: VirtualKeys.KeyInfo) =>
      saving.withPermits(1)(Effect.gen(function*() {
        const held = budgets.get(budgetId(info))
        if (held === undefined) return
        const consumed = (yield* held.tracker.snapshot).consumed
        yield* keys.saveTotals(info, held.period, {
          inputTokens: consumed.inputTokens,
          outputTokens: consumed.outputTokens,
          totalTokens: consumed.totalTokens,
          costNanos: Money.fromUsd(consumed.costUsd)
        })
      })).pipe(
        Effect.catch((error) => Effect.logError(`key ${info.name}: its totals could not be saved (${error.message}); they are kept in memory`))
      )

    // A rate-limit refusal, a store failure (fail closed unless allowed), or admitted.
    const limited = (info: VirtualKeys.KeyInfo, what: "rpm" | "tpm", consumed: Effect.Effect<RateLimiter.ConsumeResult, RateLimiter.RateLimiterError>, limit: number) =>
      consumed.pipe(
        // A store that does not answer in time (Redis hung or overloaded) counts as unreachable.
        Effect.timeoutOrElse({
          duration: timeout,
          orElse: () =>
            Effect.fail(new RateLimiter.RateLimiterError({ reason: new RateLimiter.RateLimitStoreError({ message: `no answer within ${Duration.format(timeout)}` }) }))
        }),
        Effect.flatMap((result): Effect.Effect<void, BridgeContract.BridgeFailure> =>
          // tpm is checked with 0 tokens: at the limit the next request is refused.
          what === "tpm" && result.remaining <= 0 ? Effect.fail(over(info, what, limit, Duration.toMillis(result.resetAfter))) : Effect.void
        ),
        Effect.catchTag("RateLimiterError", (error): Effect.Effect<void, BridgeContract.BridgeFailure> => {
          const reason = error.reason
          if (reason._tag === "RateLimitExceeded") return Effect.fail(over(info, what, limit, Duration.toMillis(reason.retryAfter)))
          const message = `the rate-limit store for key ${info.name} cannot be reached (${reason.message})`
          return onStoreError === "allow"
            ? Effect.logWarning(`${message}; admitted under store.onStoreError: allow`)
            : Effect.fail(unavailable(`${message}, so the request was refused before it was sent; check that Redis is up, or set store.onStoreError: allow`))
        })
      )

    const over = (info: VirtualKeys.KeyInfo, what: "rpm" | "tpm", limit: number, retryAfterMs: number) =>
      rateLimited(
        `key ${info.name} is over its rate limit of ${limit} ${what === "rpm" ? "requests" : "tokens"} per minute (${what}); ` +
          `retry after the retry-after header`,
        Math.max(0, retryAfterMs)
      )

    const admit = (info: VirtualKeys.KeyInfo): Effect.Effect<void, BridgeContract.BridgeFailure> =>
      Effect.gen(function*() {
        const limits = info.limits
        const id = budgetId(info)
        if (limits.tpm !== undefined) {
          yield* limited(info, "tpm", limiter.consume({ algorithm: "fixed-window", onExceeded: "fail", window: WINDOW, limit: limits.tpm, key: `${id}:tpm`, tokens: 0 }), limits.tpm)
        }
        if (limits.rpm !== undefined) {
          yield* limited(info, "rpm", limiter.consume({ algorithm: "fixed-window", onExceeded: "fail", window: WINDOW, limit: limits.rpm, key: `${id}:rpm` }), limits.rpm)
        }
      })

    // A request's tokens (or a workflow run's, when it ends) toward the key's tpm: counted whatever
    // the window holds ("delay" adds them without refusing).
    const countTokens = (info: VirtualKeys.KeyInfo, tokens: number): Effect.Effect<void> =>
      info.limits.tpm === undefined || tokens <= 0
        ? Effect.void
        : limiter.consume({ algorithm: "fixed-window", onExceeded: "delay", window: WINDOW, limit: info.limits.tpm, key: `${budgetId(info)}:tpm`, tokens }).pipe(
          Effect.timeout(timeout),
          Effect.asVoid,
          Effect.catch((error) => Effect.logWarning(`key ${info.name}: ${tokens} tokens could not be counted toward its tpm limit (${error.message})`))
        )

    const release = (info: VirtualKeys.KeyInfo) => (record: Server.RequestRecord) =>
      Effect.gen(function*() {
        const id = budgetId(info)
        inFlight.set(id, (inFlight.get(id) ?? 1) - 1)
        yield* countTokens(info, record.tokensIn + record.tokensOut)
        if (store === undefined && Object.keys(budgetInput(info.limits)).length > 0) yield* save(info)
      })

    const authenticate: Server.Authenticate = (request: HttpServerRequest.HttpServerRequest) =>
      Effect.gen(function*() {
        const key = keyOf(request.headers)
        if (key === undefined) return yield* Effect.fail(unauthorized("no virtual key"))
        const found = yield* keys.lookup(key).pipe(
          Effect.mapError((): BridgeContract.BridgeFailure => unavailable("cannot read the key store"))
        )
        if (Option.isNone(found)) return yield* Effect.fail(unauthorized("unknown or revoked virtual key"))
        const info = found.value
        const id = budgetId(info)
        const tracker = yield* trackerOf(info)
        // The in-flight count first (taken back on a refusal), so that no limit's token is spent on a request refused for concurrency.
        const running = inFlight.get(id) ?? 0
        if (info.limits.maxConcurrent !== undefined && running >= info.limits.maxConcurrent) {
          return yield* Effect.fail(
            rateLimited(`key ${info.name} has ${info.limits.maxConcurrent} requests in flight, its concurrency limit; retry when one ends`, 1_000)
          )
        }
        inFlight.set(id, running + 1)
        yield* admit(info).pipe(Effect.tapError(() => Effect.sync(() => inFlight.set(id, (inFlight.get(id) ?? 1) - 1))))
        // The key's name travels with the request's fiber (and a workflow run it starts): the
        // ledger records it, and `GET /v1/usage` shows a key its own rows.
        const withTracker = tracker === undefined ? undefined : BudgetTracker.withTracker(tracker)
        const provide = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
          Effect.provideService(withTracker === undefined ? effect : withTracker(effect), CallContext.CurrentKey, info.name)
        return {
          name: info.name,
          ...(info.admin === true ? { admin: true } : {}),
          release: release(info),
          charge: (tokens: number) => countTokens(info, tokens),
          provide
        } satisfies Server.Identity
      })

    return { authenticate, trackerOf }
  })
