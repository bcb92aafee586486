/**
 * The shared stores of `llm-connect serve`, from `store.redis`: the Redis budget store that holds
 * every virtual key's budget (one named budget per key, shared by every replica on the same
 * Redis and prefix) and effect's `RateLimiter` over the Redis rate-limit store for the keys'
 * rpm/tpm. Without `store.redis` there is none: keys' budgets and limits stay in this process.
 *
 * The budget store's client also answers `/ready`'s `PING`.
 *
 * @since 0.1.0
 */
import { Context, Duration, Effect, Layer, type Scope } from "effect"
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
    const limits = yield* Layer.build(
      RateLimiter.layer.pipe(Layer.provide(RedisStores.layer({ url: redis.url, prefix: redis.prefix, onStoreError: store.onStoreError })))
    )
    return { budget, limiter: Context.get(limits, RateLimiter.RateLimiter), onStoreError: store.onStoreError, timeoutMs: storeTimeoutMs }
  })
