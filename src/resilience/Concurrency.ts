/**
 * Limits on calls in flight: one for all providers together, one per provider.
 *
 * The limits live in one {@link ConcurrencyLimits} service (a `Semaphore` for the global limit
 * and one per provider, created on first use), so that every stack built in a process (the
 * stacks of a fallback chain included) shares them. The wrapping layer {@link layer} takes a
 * permit around each attempt: a request that waits for a permit has not been sent. A stream
 * holds its permits until it ends.
 *
 * The semaphores are llm-connect's own (`Semaphore.Semaphore`s, so that limits given as other
 * semaphores work alike): effect's algorithm, plus a synchronous take. A call whose permits are
 * free, with nobody waiting for them, takes the provider's and the global permit together in the
 * step that admits it and gives them back in the step that ends it (six effect steps fewer than
 * two nested `Semaphore.withPermit`s, and no closures per call); a stream likewise, in the step
 * that opens it, giving them back when its scope closes (ADR 0041); any other call or stream
 * waits in line as before (a stream with `Semaphore.takeScoped`).
 *
 * Fairness: waiters queue in arrival order (an insertion-ordered set; a newcomer never overtakes a
 * queued waiter of the same size, as in `takePermits` of `effect/src/Semaphore.ts`, and the
 * synchronous take is refused whenever anyone waits), and every call takes one permit, so waiters
 * are served first in, first out. In line, the provider permit is taken before the global one, so
 * a call waiting on a busy provider never holds a global permit that another provider's call could
 * use (the synchronous take takes both or neither).
 *
 * @since 0.1.0
 */
import { Context, Effect, Fiber, Layer, Option, Scope, Semaphore } from "effect"
import { identity } from "effect/Function"
import * as Streams from "../internal/streams.ts"
import * as LanguageModel from "../LanguageModel.ts"
import type { LlmRequest } from "../LlmRequest.ts"

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

// The permits of one limit: a counter and the calls waiting, in arrival order. The same
// algorithm as effect's `Semaphore` (`takePermits` in `effect/src/Semaphore.ts`: a newcomer never
// overtakes a queued waiter its permits would fit; a wake does not reserve, the woken waiter takes
// its permits when it runs), with one more thing: a call's permits are taken in the step that
// admits it when they are free and nobody waits (`takeNowUnsafe`), so that a call takes the
// provider's and the global permit together in one step (see `make`).
interface Waiter {
  readonly permits: number
  resume: ((effect: Effect.Effect<void>) => void) | undefined
}

class Permits implements Semaphore.Semaphore {
  readonly waiters = new Set<Waiter>()
  taken = 0
  permits: number

  constructor(permits: number) {
    this.permits = permits
  }

  get free(): number {
    return this.permits - this.taken
  }

  // The first queued waiter whose permits fit in the free ones (larger ones ahead keep their place).
  private firstAvailable(): Waiter | undefined {
    for (const waiter of this.waiters) {
      if (waiter.permits <= this.free) return waiter
    }
    return undefined
  }

  /** Takes `n` permits now when they are free and no call waits; `false` (nothing taken) otherwise. */
  takeNowUnsafe(n: number): boolean {
    if (this.waiters.size > 0 || this.free < n) return false
    this.taken += n
    return true
  }

  releaseUnsafe(n: number): number {
    this.taken -= n
    if (this.waiters.size > 0) {
      const fiber = Fiber.getCurrent()
      const wake = () => {
        // Wake every queued waiter that fits (a woken one counts until it takes its permits or
        // leaves); resumed fibers may add or remove waiters: iterate over a snapshot.
        let remaining = this.free
        for (const waiter of Array.from(this.waiters)) {
          if (!this.waiters.has(waiter) || waiter.permits > remaining) continue
          remaining -= waiter.permits
          const resume = waiter.resume
          waiter.resume = undefined
          resume?.(Effect.void)
        }
      }
      if (fiber !== undefined) fiber.currentDispatcher.scheduleTask(wake, 0)
      else queueMicrotask(wake)
    }
    return this.free
  }

  // Takes `n` permits (waiting in line when they are not free), then runs `onAcquire`.
  private acquire<A, E, R>(
    n: number,
    onAcquire: () => Effect.Effect<A, E, R>,
    restore: <AX, EX, RX>(effect: Effect.Effect<AX, EX, RX>) => Effect.Effect<AX, EX, RX> = identity
  ): Effect.Effect<A, E, R> {
    return Effect.suspend(() => {
      if (this.free >= n && this.firstAvailable() === undefined) {
        this.taken += n
        return onAcquire()
      }
      const waiter: Waiter = { permits: n, resume: undefined }
      const leave = () => {
        if (this.waiters.delete(waiter)) this.releaseUnsafe(0)
        return undefined
      }
      this.waiters.add(waiter)
      const wait = restore(Effect.callback<void>((resume) => {
        // The fiber may have yielded since the last check, missing a wake.
        if (this.firstAvailable() === waiter) resume(Effect.void)
        else waiter.resume = resume
      }))
      const loop: Effect.Effect<A, E, R> = Effect.flatMap(wait, () => {
        if (this.firstAvailable() !== waiter) return loop
        this.taken += n
        leave()
        return onAcquire()
      })
      // Leaves the line however the wait ends (interrupted included).
      return Effect.onExitPrimitive(loop, leave, true)
    })
  }

  resize(permits: number): Effect.Effect<void> {
    return Effect.sync(() => {
      this.permits = permits
      if (this.free >= 0) this.releaseUnsafe(0)
    })
  }

  withPermits(n: number) {
    return <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
      Effect.uninterruptibleMask((restore) =>
        this.acquire(n, () => Effect.onExitPrimitive(restore(self), () => {
          this.releaseUnsafe(n)
          return undefined
        }, true), restore)
      )
  }

  withPermit<A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> {
    return this.withPermits(1)(self)
  }

  withPermitsIfAvailable(n: number) {
    return <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<Option.Option<A>, E, R> =>
      Effect.uninterruptibleMask((restore) => {
        if (this.free < n) return Effect.succeedNone
        this.taken += n
        return Effect.onExitPrimitive(restore(Effect.asSome(self)), () => {
          this.releaseUnsafe(n)
          return undefined
        }, true)
      })
  }

  take(n: number): Effect.Effect<number> {
    return this.acquire(n, () => Effect.succeed(n))
  }

  takeScoped(n: number): Effect.Effect<void, never, Scope.Scope> {
    return Effect.uninterruptibleMask((restore) =>
      Effect.flatMap(Effect.scope, (scope) => this.acquire(n, () => Scope.addFinalizer(scope, this.release(n)), restore))
    )
  }

  takeIfAvailable(n: number): Effect.Effect<boolean> {
    return Effect.sync(() => {
      if (this.free < n) return false
      this.taken += n
      return true
    })
  }

  release(n: number): Effect.Effect<number> {
    return Effect.sync(() => this.releaseUnsafe(n))
  }

  get releaseAll(): Effect.Effect<number> {
    return Effect.sync(() => this.releaseUnsafe(this.taken))
  }
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
    const global = settings.global !== undefined ? new Permits(settings.global) : undefined
    const perProvider = new Map<string, Semaphore.Semaphore | undefined>()
    return {
      global,
      forProvider: (provider) => {
        if (perProvider.has(provider)) return perProvider.get(provider)
        const limit = settings.providers?.[provider] ?? settings.perProvider
        const semaphore = limit !== undefined ? new Permits(limit) : undefined
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
  const queued = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> => {
    const inGlobal = global === undefined ? effect : Semaphore.withPermit(global, effect)
    return own === undefined ? inGlobal : Semaphore.withPermit(own, inGlobal)
  }
  // The limits made by `makeLimits` (a service built elsewhere may hold other semaphores): a call
  // whose permits are free, with nobody waiting, takes both in the step that admits it and gives
  // them back in the step that ends it; any other waits in line (`queued`, provider then global).
  const ownNow = own === undefined || own instanceof Permits ? own : null
  const globalNow = global === undefined || global instanceof Permits ? global : null
  const release = () => {
    globalNow?.releaseUnsafe(1)
    ownNow?.releaseUnsafe(1)
    return undefined
  }
  const guard = ownNow === null || globalNow === null ? queued : <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> => {
    // Its release registered first (an exit handler, run uninterruptibly however the call ends),
    // then both permits taken in the next step: a call stopped between the two holds none, one
    // stopped later gives them back. No uninterruptible region is needed (stop 29).
    let taken = false
    return Effect.onExitPrimitive(
      Effect.suspend(() => {
        if (takeNow()) {
          taken = true
          return effect
        }
        return queued(effect)
      }),
      () => taken ? release() : undefined
    )
  }
  // A stream holds its permits from its start to its end (the stream's Scope).
  const permits = Effect.andThen(
    own === undefined ? Effect.void : Semaphore.takeScoped(own, 1),
    global === undefined ? Effect.void : Semaphore.takeScoped(global, 1)
  )
  // The same for a stream, in the step that opens it: permits free and nobody waiting, both taken
  // there and given back by one finalizer on the stream's scope (added in that step, before
  // anything can interrupt it); otherwise each taken in line, held by the stream's scope.
  // (joined with the layers' finalizers of that scope when it has only theirs: `Streams.addFinalizer`)
  const takeNow = (): boolean => {
    if (ownNow === undefined || ownNow!.takeNowUnsafe(1)) {
      if (globalNow === undefined || globalNow!.takeNowUnsafe(1)) return true
      // (no waiter on the provider's permits, or it would not have been taken: nothing to wake)
      ownNow?.releaseUnsafe(1)
    }
    return false
  }
  const streamNow = ownNow === null || globalNow === null
    ? undefined
    : (request: LlmRequest, next: LanguageModel.Service["stream"]) =>
      Streams.fromScope((scope) => {
        // The scope's only finalizer is the layers' joined one: taken and added to it in this step.
        const joined = Streams.joinedFinalizers(scope)
        if (joined !== undefined && takeNow()) {
          joined.push(release)
          return next(request)
        }
        return Effect.uninterruptible(Effect.suspend(() => {
          if (takeNow()) {
            const added = Streams.addFinalizerNow(scope, release)
            return added === undefined ? Effect.succeed(next(request)) : Effect.as(added, next(request))
          }
          return Effect.provideService(Effect.as(Effect.interruptible(permits), next(request)), Scope.Scope, scope)
        }))
      })
  return LanguageModel.wrap(inner, {
    generate: (request, next) => guard(next(request)),
    stream: streamNow ?? ((request, next) => Streams.unwrapScoped(Effect.as(permits, next(request))))
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
