/**
 * Rate-limit buckets and circuit breakers shared between processes through Redis: effect's
 * `RateLimiter.layerStoreRedis` and `CircuitBreaker.layerStoreRedis` over `@effect/platform-node`'s
 * `NodeRedis` (node-redis), under the store's prefix. With them, the rpm/tpm limits of every
 * process that names the same Redis are one limit, and one replica's open circuit is open for
 * all. `Stack` provides them below `Resilience.layerShared` when `store.redis` is set.
 *
 * Effect's token-bucket script takes `now` from each client's clock, not the server's: clocks
 * skewed by a few milliseconds shift when a bucket refills by as much, which a rate limit (a
 * provider's approximate per-minute quota) tolerates; budgets, which must be exact, use the
 * server's clock in their own scripts (`RedisBudgetStore`, ADR 0019).
 *
 * When Redis cannot be reached at start-up the stack fails (`Unavailable`, naming the store),
 * unless `onStoreError: allow`: then the buckets and circuits stay in this process's memory,
 * with a warning. Once running, a rate limit whose store fails lets the call through (see
 * `RateLimit`), and a breaker whose store fails refuses it (`Unavailable`).
 *
 * @since 0.1.0
 */
import { Cause, Effect, Layer } from "effect"
import { CircuitBreaker as Breaker, RateLimiter } from "effect/persistence"
import * as RedisBudgetStore from "../budget/RedisBudgetStore.ts"
import * as LlmError from "../LlmError.ts"

/**
 * Where the shared stores live.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly url: string
  /** Prefix of every key (default `{llm-connect}:`); buckets go under `rl:`, circuits under `cb:`. */
  readonly prefix?: string | undefined
  readonly onStoreError?: "fail" | "allow" | undefined
}

// A command sent while disconnected fails at once instead of waiting in node-redis's offline
// queue (and running late, after its caller gave up): a rate limit lets the call through, a
// breaker refuses it, as when Redis is down; the client reconnects by itself.
const clientOptions = (url: string) =>
  url.startsWith("unix://")
    ? { socket: { path: url.slice("unix://".length), tls: false as const }, disableOfflineQueue: true }
    : { url, disableOfflineQueue: true }

/**
 * The Redis `RateLimiterStore` and `CircuitBreakerStore`, on one connection of their own.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options
): Layer.Layer<RateLimiter.RateLimiterStore | Breaker.CircuitBreakerStore, LlmError.LlmError> => {
  const prefix = options.prefix ?? "{llm-connect}:"
  const shared = Layer.mergeAll(
    RateLimiter.layerStoreRedis({ prefix: `${prefix}rl:` }),
    Breaker.layerStoreRedis({ prefix: `${prefix}cb:` })
  ).pipe(Layer.provide(Layer.unwrap(
    // Loaded only when store.redis is set: the root entry does not load @effect/platform-node.
    Effect.map(Effect.promise(() => import("@effect/platform-node/NodeRedis")), (NodeRedis) => NodeRedis.layer(clientOptions(options.url)))
  )))
  const where = `redis store ${RedisBudgetStore.redactUrl(options.url)}`
  return shared.pipe(
    Layer.catchCause((cause) => {
      const error = Cause.squash(cause)
      const message = error instanceof Error ? error.message : String(error)
      const failure = LlmError.make("budget-store", new LlmError.Unavailable({
        description: `the ${where} for rate limits and circuit breakers cannot be reached (${message}); ` +
          `check that Redis is up, or set store.onStoreError: allow to keep them in this process while it is down`
      }), { sent: false })
      return options.onStoreError === "allow"
        ? Layer.mergeAll(RateLimiter.layerStoreMemory, Breaker.layerStoreMemory()).pipe(
          Layer.tap(() => Effect.logWarning(`${failure.message}; rate limits and circuit breakers are kept in this process only`))
        )
        : Layer.effectContext(Effect.fail(failure))
    })
  )
}
