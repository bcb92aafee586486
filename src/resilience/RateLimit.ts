/**
 * Requests per minute and tokens per minute, per provider and per model, token-bucket style.
 *
 * Built on `effect/persistence` `RateLimiter` (token bucket, a token weight per request, delay
 * mode): a bucket holds a minute's worth (the limit) and refills evenly, so a burst up to the
 * limit goes at once and then calls are admitted at the configured rate. The buckets live in
 * a `RateLimiterStore`: the one in context when there is one ({@link layerStore}), so a program
 * can provide its own (effect's `RateLimiter.layerStoreRedis` shares the buckets between
 * processes; llm-connect's config does not set one up yet), else a store in this process's
 * memory.
 *
 * Each attempt takes 1 from the `rpm` bucket and its token estimate from the `tpm` bucket:
 * the request's BPE token count plus its `maxTokens` (the tokenizer runs only when a `tpm`
 * limit applies). When the response reports more tokens than estimated, the difference is taken
 * afterwards, so the next calls wait for it. A call waits as long as the fullest bucket needs;
 * if that wait would pass `CallContext.Deadline`, it fails at once with `RateLimited`
 * (`retryAfterMs` = the wait) instead of sending the request. A stream is admitted the same way
 * before it starts, and settles the tokens it used whether it finished or not (a stream cut or
 * stopped early: its input and the text streamed so far).
 *
 * The in-memory store ({@link layerStoreMemory}) keeps its token buckets where this layer can
 * take a token in one synchronous step (no store round trip, no `Duration` objects): the same
 * buckets and the same arithmetic as effect's memory store, which it still uses for fixed
 * windows and adaptive limits, so `RateLimiter.consume` on it and this layer share the buckets.
 * A bucket that asks for a wait goes through `RateLimiter.consume`'s own delay computation.
 *
 * @since 0.1.0
 */
import { Clock, Duration, Effect, Layer, Option } from "effect"
import { RateLimiter } from "effect/persistence"
import * as CallContext from "../CallContext.ts"
import * as DurationText from "../DurationText.ts"
import * as Streams from "../internal/streams.ts"
import * as LanguageModel from "../LanguageModel.ts"
import * as LlmError from "../LlmError.ts"
import type { LlmRequest } from "../LlmRequest.ts"
import type { LlmResponse } from "../LlmResponse.ts"
import * as Tokenizer from "../Tokenizer.ts"

/**
 * A rate: requests per minute and/or tokens per minute.
 *
 * @since 0.1.0
 * @category models
 */
export interface Rule {
  readonly rpm?: number | undefined
  readonly tpm?: number | undefined
}

/**
 * The rates of one provider: its own, and those of some of its models.
 *
 * @since 0.1.0
 * @category models
 */
export interface Settings {
  /** The provider's rates, for all its models together. */
  readonly provider?: Rule | undefined
  /** Rates of single models, by model name. */
  readonly models?: Readonly<Record<string, Rule>> | undefined
}

const WINDOW = Duration.minutes(1)

interface Bucket {
  readonly key: string
  readonly limit: number
  readonly weight: "request" | "tokens"
  readonly label: string
  /** Milliseconds per token, as `RateLimiter.consume` computes it (the window over the limit). */
  readonly refillRateMillis: number
}

const refillRateOf = (limit: number): number => Duration.toMillis(Duration.divideUnsafe(WINDOW, limit))

// The token buckets of the in-memory store, by key: `take` is effect's memory store's
// `tokenBucket`, step for step, as a plain function (see the module description).
class MemoryBuckets {
  private readonly buckets = new Map<string, { tokens: number; lastRefill: number }>()
  take(key: string, limit: number, refillRateMillis: number, tokens: number, allowOverflow: boolean, now: number) {
    let bucket = this.buckets.get(key)
    if (!bucket) {
      bucket = { tokens: limit, lastRefill: now }
      this.buckets.set(key, bucket)
    }
    const tokensToAdd = Math.floor((now - bucket.lastRefill) / refillRateMillis)
    if (tokensToAdd > 0) {
      bucket.tokens = Math.min(limit, bucket.tokens + tokensToAdd)
      bucket.lastRefill += tokensToAdd * refillRateMillis
    }
    if (bucket.tokens >= limit) {
      bucket.lastRefill = now
    }
    const newTokenCount = bucket.tokens - tokens
    if (allowOverflow || newTokenCount >= 0) {
      bucket.tokens = newTokenCount
    }
    this.elapsed = Math.max(0, now - bucket.lastRefill)
    return newTokenCount
  }
  /** The milliseconds since the bucket's last refill, as of the last {@link take}. */
  elapsed = 0
  /** {@link take} as `RateLimiter`'s store returns it: the new token count and the elapsed milliseconds. */
  takeTuple(key: string, limit: number, refillRateMillis: number, tokens: number, allowOverflow: boolean, now: number) {
    const remaining = this.take(key, limit, refillRateMillis, tokens, allowOverflow, now)
    return [remaining, this.elapsed] as const
  }
}

// Whether any bucket is weighted by tokens (a loop, not `some` with a closure: this runs on every call).
const weighsTokens = (buckets: ReadonlyArray<Bucket>): boolean => {
  for (let index = 0; index < buckets.length; index++) if (buckets[index]!.weight === "tokens") return true
  return false
}

// The buckets behind each in-memory `RateLimiter` built by `layerStoreMemory`.
const memoryBuckets = new WeakMap<RateLimiter.RateLimiter, MemoryBuckets>()

const bucketsOf = (provider: string, settings: Settings, model: string): ReadonlyArray<Bucket> => {
  const buckets: Array<Bucket> = []
  const add = (scope: string, rule: Rule | undefined) => {
    if (rule?.rpm !== undefined) {
      buckets.push({
        key: `llm-connect:${scope}:rpm`,
        limit: rule.rpm,
        weight: "request",
        label: `${rule.rpm} rpm for ${scope}`,
        refillRateMillis: refillRateOf(rule.rpm)
      })
    }
    if (rule?.tpm !== undefined) {
      buckets.push({
        key: `llm-connect:${scope}:tpm`,
        limit: rule.tpm,
        weight: "tokens",
        label: `${rule.tpm} tpm for ${scope}`,
        refillRateMillis: refillRateOf(rule.tpm)
      })
    }
  }
  add(provider, settings.provider)
  add(`${provider}/${model}`, settings.models?.[model])
  return buckets
}

/**
 * The tokens an attempt is charged before it is sent: input tokens plus `maxTokens`.
 *
 * @since 0.1.0
 * @category counting
 */
export const estimateTokens = (request: LlmRequest): number => Tokenizer.countRequest(request) + (request.maxTokens ?? 0)

/**
 * Wraps a model with the rates of its provider and models.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  inner: LanguageModel.Service,
  settings: Settings
): Effect.Effect<LanguageModel.Service, never, RateLimiter.RateLimiter> =>
  Effect.gen(function*() {
    const limiter = yield* RateLimiter.RateLimiter
    const provider = inner.provider
    const hasModelRules = settings.models !== undefined && Object.keys(settings.models).length > 0
    const providerBuckets = bucketsOf(provider, { provider: settings.provider }, "")
    if (settings.provider === undefined && !hasModelRules) return inner
    const cache = new Map<string, ReadonlyArray<Bucket>>()
    const bucketsFor = (model: string) => {
      if (!hasModelRules) return providerBuckets
      let found = cache.get(model)
      if (found === undefined) {
        found = bucketsOf(provider, settings, model)
        cache.set(model, found)
      }
      return found
    }

    // The wait (ms) this bucket asks for. A store failure lets the call through (fail open):
    // a rate limit must not turn a healthy provider into an outage.
    const consume = (bucket: Bucket, tokens: number): Effect.Effect<number> =>
      limiter.consume({ algorithm: "token-bucket", onExceeded: "delay", window: WINDOW, limit: bucket.limit, key: bucket.key, tokens })
        .pipe(Effect.map((result) => Duration.toMillis(result.delay)), Effect.orElseSucceed(() => 0))

    const none: { readonly wait: number; readonly slowest: Bucket | undefined } = { wait: 0, slowest: undefined }
    const memory = memoryBuckets.get(limiter)
    // In memory: every bucket takes its tokens now, in one step; a bucket that ran out gets its
    // wait from `RateLimiter.consume`'s own formula (`Duration` arithmetic, off the hot path).
    const takeNow = (memory: MemoryBuckets, buckets: ReadonlyArray<Bucket>, estimate: number, now: number) => {
      let result = none
      for (const bucket of buckets) {
        // (the elapsed milliseconds read from the store after the take: no tuple per call)
        const remaining = memory.take(
          bucket.key,
          bucket.limit,
          bucket.refillRateMillis,
          bucket.weight === "request" ? 1 : estimate,
          true,
          now
        )
        if (remaining >= 0) continue
        const elapsedMillis = memory.elapsed
        const delay = Duration.toMillis(
          Duration.millis(Math.max(0, Math.ceil(-remaining) * bucket.refillRateMillis - elapsedMillis))
        )
        if (delay > result.wait) result = { wait: delay, slowest: bucket }
      }
      return result
    }
    // The longest wait the buckets ask for, and the bucket that asks it (plain flatMaps, no
    // generator: this runs on every attempt).
    const takeAll = (buckets: ReadonlyArray<Bucket>, estimate: number) => {
      if (memory !== undefined) return Effect.clockWith((clock) => Effect.succeed(takeNow(memory, buckets, estimate, clock.currentTimeMillisUnsafe())))
      if (buckets.length === 1) {
        const only = buckets[0]!
        return Effect.map(consume(only, only.weight === "request" ? 1 : estimate), (delay) =>
          delay > 0 ? { wait: delay, slowest: only } : none)
      }
      let step: Effect.Effect<{ readonly wait: number; readonly slowest: Bucket | undefined }> = Effect.succeed(none)
      for (const bucket of buckets) {
        step = Effect.flatMap(step, (sofar) =>
          Effect.map(consume(bucket, bucket.weight === "request" ? 1 : estimate), (delay) =>
            delay > sofar.wait ? { wait: delay, slowest: bucket } : sofar))
      }
      return step
    }

    const waitOut = (wait: number, slowest: Bucket, model: string) =>
      Effect.gen(function*() {
        const deadline = yield* CallContext.Deadline
        const now = yield* Clock.currentTimeMillis
        if (deadline !== undefined && now + wait > deadline) {
          return yield* Effect.fail(
            LlmError.make(
              provider,
              new LlmError.RateLimited({
                description: `the local rate limit (${slowest.label}) needs a wait of ${
                  DurationText.formatMillis(wait)
                }, past the call's deadline; raise the limit or the deadline`,
                retryAfterMs: wait
              }),
              { model }
            )
          )
        }
        yield* Effect.sleep(Duration.millis(wait))
      })

    // After the call: charge the tokens used beyond the estimate, so the next calls wait for them.
    const settleUsed = (buckets: ReadonlyArray<Bucket>, estimate: number, used: number): Effect.Effect<void> => {
      const extra = used - estimate
      if (estimate === 0 || extra <= 0) return Effect.void
      return Effect.forEach(buckets, (bucket) => (bucket.weight === "tokens" ? consume(bucket, extra) : Effect.void), { discard: true })
    }
    const settle = (buckets: ReadonlyArray<Bucket>, estimate: number, response: LlmResponse) => {
      const extra = response.usage.totalTokens - estimate
      if (estimate === 0 || extra <= 0) return Effect.succeed(response)
      return Effect.as(settleUsed(buckets, estimate, response.usage.totalTokens), response)
    }

    // A stream is admitted like a call (on its estimate) before it starts, and its finish part
    // settles the tokens used beyond the estimate. A stream that ends without one (cut, failed,
    // or stopped by its consumer) settles what it used by then: its input and the text streamed
    // so far, counted locally.
    const stream = (request: LlmRequest, next: LanguageModel.Service["stream"]) => {
      const model = request.model ?? inner.defaultModel
      const buckets = bucketsFor(model)
      if (buckets.length === 0) return next(request)
      const estimate = weighsTokens(buckets) ? estimateTokens(request) : 0
      // Per run of the stream: whether it was settled, and the text it streamed; what it used is
      // settled when its scope closes if no finish part did (one stage, a chunk at a time).
      const parts = estimate === 0 ? next(request) : Streams.fromScope((scope) => {
        let settled = false
        let streamed = ""
        const counted = Streams.mapChunks(next(request), (chunk) =>
          Streams.mapChunkNow(chunk, (part) => {
            if (part.type === "finish") {
              settled = true
              return Effect.as(settle(buckets, estimate, part.response), part)
            }
            streamed += part.type === "text-delta" ? part.text : (part.name ?? "") + part.argumentsDelta
            return part
          }))
        // (joined with the layers' finalizers of that scope when it has only theirs)
        const added = Streams.addFinalizerNow(scope, () => {
          if (settled) return undefined
          settled = true
          const used = Tokenizer.countRequest(request) + (streamed === "" ? 0 : Tokenizer.countText(streamed))
          return settleUsed(buckets, estimate, used)
        })
        return added === undefined ? counted : Effect.as(added, counted)
      })
      // In memory, the tokens taken as the stream starts, in its step (no effect of its own).
      if (memory !== undefined) {
        return Streams.fromScope((_scope, fiber) => {
          const { slowest, wait } = takeNow(memory, buckets, estimate, fiber.getRef(Clock.Clock).currentTimeMillisUnsafe())
          return wait > 0 && slowest !== undefined ? Effect.as(waitOut(wait, slowest, model), parts) : parts
        })
      }
      return Streams.unwrapScoped(Effect.flatMap(takeAll(buckets, estimate), ({ slowest, wait }) =>
        wait > 0 && slowest !== undefined
          ? Effect.as(waitOut(wait, slowest, model), parts)
          : Effect.succeed(parts)))
    }

    return LanguageModel.wrap(inner, {
      stream,
      generate: (request) => {
        const model = request.model ?? inner.defaultModel
        const buckets = bucketsFor(model)
        if (buckets.length === 0) return inner.generate(request)
        const estimate = weighsTokens(buckets) ? estimateTokens(request) : 0
        const call = estimate === 0
          ? inner.generate(request)
          : Effect.flatMap(inner.generate(request), (response) => settle(buckets, estimate, response))
        // In memory, one step: the tokens taken and the call (or the wait, then the call).
        if (memory !== undefined) {
          return Effect.clockWith((clock) => {
            const { slowest, wait } = takeNow(memory, buckets, estimate, clock.currentTimeMillisUnsafe())
            return wait > 0 && slowest !== undefined ? Effect.andThen(waitOut(wait, slowest, model), call) : call
          })
        }
        return Effect.flatMap(takeAll(buckets, estimate), ({ slowest, wait }) =>
          wait > 0 && slowest !== undefined ? Effect.andThen(waitOut(wait, slowest, model), call) : call)
      }
    })
  })

/**
 * The rate-limit layer: wraps the `LanguageModel` below it. Needs a `RateLimiter`
 * (see {@link layerStore}).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  settings: Settings
): Layer.Layer<LanguageModel.LanguageModel, never, LanguageModel.LanguageModel | RateLimiter.RateLimiter> =>
  LanguageModel.layerWrap((inner) => make(inner, settings))

/**
 * An in-memory `RateLimiter` (one per process; share it between stacks so that they share
 * buckets).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerStoreMemory: Layer.Layer<RateLimiter.RateLimiter> = Layer.effect(
  RateLimiter.RateLimiter,
  Effect.gen(function*() {
    const store = yield* RateLimiter.RateLimiterStore
    const buckets = new MemoryBuckets()
    const limiter = yield* RateLimiter.make.pipe(Effect.provideService(RateLimiter.RateLimiterStore, {
      ...store,
      tokenBucket: (options) =>
        Effect.clockWith((clock) =>
          Effect.sync(() =>
            buckets.takeTuple(
              options.key,
              options.limit,
              Duration.toMillis(options.refillRate),
              options.tokens,
              options.allowOverflow,
              clock.currentTimeMillisUnsafe()
            )
          )
        )
    }))
    memoryBuckets.set(limiter, buckets)
    return limiter
  })
).pipe(Layer.provide(RateLimiter.layerStoreMemory))

/**
 * The `RateLimiter` on the `RateLimiterStore` in context when it is built (e.g. effect's
 * `RateLimiter.layerStoreRedis`, to share the buckets between processes), else on the in-memory
 * store ({@link layerStoreMemory}). A function, so that each use looks at its own context: a
 * Layer is memoized by reference, and one constant would decide for every stack of a build.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerStore = (): Layer.Layer<RateLimiter.RateLimiter> => Layer.unwrap(
  Effect.map(Effect.serviceOption(RateLimiter.RateLimiterStore), (store) =>
    Option.match(store, {
      onNone: () => layerStoreMemory,
      onSome: (found) => RateLimiter.layer.pipe(Layer.provide(Layer.succeed(RateLimiter.RateLimiterStore, found)))
    }))
)
