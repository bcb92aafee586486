/**
 * The shared stores of `llm-connect serve`, from `store.redis`: the Redis budget store that holds
 * every virtual key's budget (one named budget per key, shared by every replica on the same
 * Redis and prefix) and effect's `RateLimiter` over the Redis rate-limit store for the keys'
 * rpm/tpm. Without `store.redis` there is none: keys' budgets and limits stay in this process.
 *
 * The budget store's client also answers `/ready`'s `PING`. Neither needs Redis at start-up:
 * the budget store connects in the background, the rate-limit store on first use (and again
 * after a failure), so `serve` starts, refuses keys' requests (503) and reports Redis on `/ready`
 * until Redis answers.
 *
 * @since 0.1.0
 */
import { Clock, Context, Duration, Effect, Exit, Layer, Result, Scope, Semaphore } from "effect"
import { RateLimiter } from "effect/persistence"
import * as RedisBudgetStore from "../budget/RedisBudgetStore.ts"
import * as StoreConfig from "../budget/StoreConfig.ts"
import type * as LlmConnectConfig from "../LlmConnectConfig.ts"
import type * as LlmError from "../LlmError.ts"
import * as RedisStores from "../resilience/RedisStores.ts"

/**
 * The shared stores (absent without `store.redis`).
 *
 * @since 0.1.0
 * @category models
 */
export interface SharedStores {
  readonly budget: RedisBudgetStore.RedisStore
  readonly limiter: RateLimiter.RateLimiter
  readonly onStoreError: "fail" | "allow" | undefined
  /** `store.timeout` in milliseconds (default 2 000): how long one store step may take. */
  readonly timeoutMs: number
}

/**
 * Connects to the configured Redis in the current scope, or returns `undefined` without
 * `store.redis`. Leases live 2 x the call timeout (else 10 minutes), as the stack's do.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  config: LlmConnectConfig.LlmConnectConfig
): Effect.Effect<SharedStores | undefined, LlmError.LlmError, Scope.Scope> =>
  Effect.gen(function*() {
    const store = config.store
    const redis = store?.redis
    if (store === undefined || redis === undefined) return undefined
    const timeoutMs = config.timeoutMs
    const storeTimeoutMs = StoreConfig.timeoutMillis(store.timeout) ?? 2_000
    const budget = yield* RedisBudgetStore.make({
      url: redis.url,
      prefix: redis.prefix,
      leaseTtl: Duration.millis(timeoutMs !== undefined && timeoutMs > 0 ? 2 * timeoutMs : 600_000),
      timeout: Duration.millis(storeTimeoutMs),
      onStoreError: store.onStoreError
    })
    const limiterStore = yield* reconnecting({ url: redis.url, prefix: redis.prefix }, Duration.millis(storeTimeoutMs))
    const limiter = yield* RateLimiter.make.pipe(Effect.provideService(RateLimiter.RateLimiterStore, limiterStore))
    return { budget, limiter, onStoreError: store.onStoreError, timeoutMs: storeTimeoutMs }
  })

type LimiterStore = RateLimiter.RateLimiterStore["Service"]

// Whether a failure comes from a node-redis client that is closed for good (it stops
// reconnecting after a socket timeout): `ClientClosedError` somewhere in the cause chain.
const closedClient = (error: unknown): boolean => {
  let current: unknown = error
  for (let depth = 0; depth < 6 && current !== undefined && current !== null; depth++) {
    if (current instanceof Error && (current.name === "ClientClosedError" || /client is closed/i.test(current.message))) return true
    current = typeof current === "object" ? (current as { readonly cause?: unknown; readonly reason?: unknown }).cause ??
      (current as { readonly reason?: unknown }).reason : undefined
  }
  return false
}

const storeError = (message: string) => new RateLimiter.RateLimiterError({ reason: new RateLimiter.RateLimitStoreError({ message }) })

// effect's Redis rate-limit store, connected on first use: serve starts (and /ready answers)
// while Redis is down, and a client that gave up (node-redis stops reconnecting after a socket
// timeout) is replaced. One connection attempt at a time, at most one a second; each step has
// the store's timeout.
const reconnecting = (
  options: { readonly url: string; readonly prefix?: string | undefined },
  timeout: Duration.Duration
): Effect.Effect<LimiterStore, never, Scope.Scope> =>
  Effect.gen(function*() {
    const outer = yield* Effect.scope
    const lock = yield* Semaphore.make(1)
    let current: { readonly store: LimiterStore; readonly scope: Scope.Closeable } | undefined
    let failedAt = Number.NEGATIVE_INFINITY
    let lastFailure = ""
    const connect = lock.withPermits(1)(Effect.gen(function*() {
      if (current !== undefined) return current
      const now = yield* Clock.currentTimeMillis
      if (now - failedAt < 1_000) return yield* Effect.fail(storeError(`not connected (${lastFailure})`))
      const scope = yield* Scope.fork(outer)
      const built = yield* Layer.buildWithScope(
        RedisStores.layer({ ...options, onStoreError: "fail" }),
        scope
      ).pipe(
        Effect.timeoutOrElse({ duration: timeout, orElse: () => Effect.fail(new Error(`no connection within ${Duration.format(timeout)}`)) }),
        Effect.result
      )
      if (Result.isFailure(built)) {
        yield* Scope.close(scope, Exit.void)
        failedAt = now
        lastFailure = built.failure.message
        return yield* Effect.fail(storeError(lastFailure))
      }
      current = { store: Context.get(built.success, RateLimiter.RateLimiterStore), scope }
      return current
    }))
    // A client that gave up (closed) is dropped: the next step connects again. One that is only
    // offline (reconnecting by itself) is kept: its commands fail at once meanwhile.
    const drop = (used: { readonly scope: Scope.Closeable }) =>
      Effect.suspend(() => {
        if (current !== used) return Effect.void
        current = undefined
        return Scope.close(used.scope, Exit.void)
      })
    const step = <A>(run: (store: LimiterStore) => Effect.Effect<A, RateLimiter.RateLimiterError>): Effect.Effect<A, RateLimiter.RateLimiterError> =>
      Effect.flatMap(connect, (used) =>
        run(used.store).pipe(
          Effect.timeoutOrElse({ duration: timeout, orElse: () => Effect.fail(storeError(`no answer within ${Duration.format(timeout)}`)) }),
          Effect.tapError((error) => (closedClient(error) ? drop(used) : Effect.void))
        ))
    return RateLimiter.RateLimiterStore.of({
      fixedWindow: (input) => step((store) => store.fixedWindow(input)),
      tokenBucket: (input) => step((store) => store.tokenBucket(input)),
      adaptiveConsume: (input) => step((store) => store.adaptiveConsume(input)),
      adaptiveFeedback: (input) => step((store) => store.adaptiveFeedback(input))
    })
  })
