/**
 * Limits on calls in flight: one for all providers together, one per provider.
 *
 * The limits live in one {@link ConcurrencyLimits} service (a `Semaphore` for the global limit
 * and one per provider, created on first use), so that every stack built in a process (the
 * stacks of a fallback chain included) shares them. The wrapping layer {@link layer} takes a
 * permit around each attempt: a request that waits for a permit has not been sent. A stream
 * holds its permits until it ends.
 *
 * Fairness: Effect's `Semaphore` queues waiters in arrival order (an insertion-ordered set;
 * a newcomer never overtakes a queued waiter of the same size, see `takePermits` in
 * `effect/src/Semaphore.ts`), and every call takes one permit, so waiters are served first in,
 * first out. The provider permit is taken before the global one, so a call waiting on a busy
 * provider never holds a global permit that another provider's call could use.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer, Semaphore } from "effect"
import * as Streams from "../internal/streams.ts"
import * as LanguageModel from "../LanguageModel.ts"

/**
 * The limits: calls in flight for all providers together, and per provider.
 *
 * @since 0.1.0
 * @category models
 */
export interface Settings {
  /** Calls in flight across every provider (no limit when absent). */
  readonly global?: number | undefined
  /** Calls in flight for each provider that has no entry of its own (no limit when absent). */
  readonly perProvider?: number | undefined
  /** Calls in flight for a provider, by name. */
  readonly providers?: Readonly<Record<string, number>> | undefined
}

/**
 * The semaphores of a process.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** The global semaphore, when there is a global limit. */
  readonly global: Semaphore.Semaphore | undefined
  /** The semaphore of a provider, when it has a limit (the same one on every call). */
  readonly forProvider: (provider: string) => Semaphore.Semaphore | undefined
}

/**
 * The `ConcurrencyLimits` service.
 *
 * @since 0.1.0
 * @category services
 */
export class ConcurrencyLimits extends Context.Service<ConcurrencyLimits, Service>()("llm-connect/Concurrency") {}

/**
 * Builds the semaphores for a set of limits.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeLimits = (settings: Settings): Effect.Effect<Service> =>
  Effect.sync(() => {
    const global = settings.global !== undefined ? Semaphore.makeUnsafe(settings.global) : undefined
    const perProvider = new Map<string, Semaphore.Semaphore | undefined>()
    return {
      global,
      forProvider: (provider) => {
        if (perProvider.has(provider)) return perProvider.get(provider)
        const limit = settings.providers?.[provider] ?? settings.perProvider
        const semaphore = limit !== undefined ? Semaphore.makeUnsafe(limit) : undefined
        perProvider.set(provider, semaphore)
        return semaphore
      }
    }
  })

/**
 * The limits as a Layer; provide it once per process (or per stack, to keep stacks apart).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerLimits = (settings: Settings): Layer.Layer<ConcurrencyLimits> =>
  Layer.effect(ConcurrencyLimits, makeLimits(settings))

/**
 * Wraps a model so that each call holds a provider permit and a global permit while in flight.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (inner: LanguageModel.Service, limits: Service): LanguageModel.Service => {
  const own = limits.forProvider(inner.provider)
  const global = limits.global
  if (own === undefined && global === undefined) return inner
  const guard = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> => {
    const inGlobal = global === undefined ? effect : Semaphore.withPermit(global, effect)
    return own === undefined ? inGlobal : Semaphore.withPermit(own, inGlobal)
  }
  // A stream holds its permits from its start to its end (the stream's Scope).
  const permits = Effect.andThen(
    own === undefined ? Effect.void : Semaphore.takeScoped(own, 1),
    global === undefined ? Effect.void : Semaphore.takeScoped(global, 1)
  )
  return LanguageModel.wrap(inner, {
    generate: (request, next) => guard(next(request)),
    stream: (request, next) => Streams.unwrapScoped(Effect.as(permits, next(request)))
  })
}

/**
 * The concurrency layer: wraps the `LanguageModel` below it with the limits in context.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<LanguageModel.LanguageModel, never, LanguageModel.LanguageModel | ConcurrencyLimits> =
  LanguageModel.layerWrap((inner) => ConcurrencyLimits.use((limits) => Effect.succeed(make(inner, limits))))
