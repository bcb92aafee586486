/**
 * Graceful shutdown: let the calls in flight finish, start no new ones.
 *
 * A {@link GracefulShutdown} service counts the calls in flight through the wrapping
 * {@link layer}. After {@link Service.shutdown} starts, every new call fails at once with an
 * `LlmError` of reason `Unavailable` ("shutting down"), without reaching fallback, retry or the
 * provider, while the calls already running go on; `shutdown` returns once the last of them has
 * finished. The wrapper sits below the budget layer in the stack, so a refused call has been
 * reserved and is released: it costs nothing. This is the soft stop; the hard stop is
 * interruption (interrupting a call aborts its HTTP request or kills its subprocess, and the
 * budget layer releases its reservation).
 *
 * A program (a server, a worker) provides the service when it builds its stack and keeps a
 * handle to stop it:
 *
 * ```ts
 * const shutdown = yield* GracefulShutdown.GracefulShutdown
 * yield* shutdown.shutdown          // refuse new calls, wait for those in flight
 * ```
 *
 * The wrapping layer finds the service in context when it is built, and does nothing when it is
 * absent, so `Resilience.layer` (and so `Stack.layer`) always includes it at no cost. Nothing in
 * llm-connect provides the service itself (a workflow run's graceful cancel on Ctrl-C is the
 * run's own: it starts no new step).
 *
 * @since 0.1.0
 */
import { Context, Deferred, Effect, Layer, Option, Ref, type Scope } from "effect"
import * as Streams from "../internal/streams.ts"
import * as LanguageModel from "../LanguageModel.ts"
import * as LlmError from "../LlmError.ts"

/**
 * The shutdown controls.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** Refuses new calls from now on and waits until every call in flight has finished. */
  readonly shutdown: Effect.Effect<void>
  /** Whether `shutdown` has started. */
  readonly isShuttingDown: Effect.Effect<boolean>
  /** Calls in flight through this service. */
  readonly inFlight: Effect.Effect<number>
  /** Counts the current Scope as a call in flight (refused with `Unavailable` during shutdown). */
  readonly enter: (provider: string) => Effect.Effect<void, LlmError.LlmError, Scope.Scope>
  /** Runs a call if the service is still accepting calls; refuses it with `Unavailable` otherwise. */
  readonly track: <A, E, R>(
    provider: string,
    effect: Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | LlmError.LlmError, R>
}

/**
 * The `GracefulShutdown` service.
 *
 * @since 0.1.0
 * @category services
 */
export class GracefulShutdown extends Context.Service<GracefulShutdown, Service>()("llm-connect/GracefulShutdown") {}

/**
 * The error of a call refused during shutdown.
 *
 * @since 0.1.0
 * @category constructors
 */
export const refused = (provider: string): LlmError.LlmError =>
  LlmError.make(
    provider,
    new LlmError.Unavailable({
      description: "llm-connect is shutting down: calls in flight are finishing and no new call is started"
    })
  )

/**
 * Builds the service.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<Service> = Effect.gen(function*() {
  const state = yield* Ref.make({ closing: false, inFlight: 0 })
  const drained = yield* Deferred.make<void>()
  const admit = Ref.modify(state, (current) =>
    current.closing ? [false, current] as const : [true, { ...current, inFlight: current.inFlight + 1 }] as const
  )
  const leave = Effect.flatMap(
    Ref.modify(state, (current) => {
      const next = { ...current, inFlight: current.inFlight - 1 }
      return [next.closing && next.inFlight === 0, next] as const
    }),
    (last) => (last ? Deferred.succeed(drained, undefined) : Effect.void)
  )
  return {
    shutdown: Effect.flatMap(
      Ref.modify(state, (current) => [current.inFlight === 0, { ...current, closing: true }] as const),
      (idle) => (idle ? Effect.void : Deferred.await(drained))
    ),
    isShuttingDown: Effect.map(Ref.get(state), (current) => current.closing),
    inFlight: Effect.map(Ref.get(state), (current) => current.inFlight),
    enter: (provider: string) =>
      Effect.acquireRelease(
        Effect.flatMap(admit, (admitted) => (admitted ? Effect.void : Effect.fail(refused(provider)))),
        () => leave
      ),
    track: <A, E, R>(provider: string, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | LlmError.LlmError, R> =>
      Effect.uninterruptibleMask((restore) =>
        Effect.flatMap(
          admit,
          (admitted): Effect.Effect<A, E | LlmError.LlmError, R> =>
            admitted ? Effect.ensuring(restore(effect), leave) : Effect.fail(refused(provider))
        )
      )
  }
})

/**
 * The service as a Layer. Provide it once, above the stack, and keep a handle to call
 * `shutdown`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerService: Layer.Layer<GracefulShutdown> = Layer.effect(GracefulShutdown, make)

/**
 * Wraps the `LanguageModel` below it so that its calls are tracked by the `GracefulShutdown`
 * in context; without one, it passes the model through unchanged.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<LanguageModel.LanguageModel, never, LanguageModel.LanguageModel> = LanguageModel.layerWrap(
  (inner) =>
    Effect.map(Effect.serviceOption(GracefulShutdown), (found) =>
      Option.match(found, {
        onNone: () => inner,
        onSome: (service) =>
          LanguageModel.wrap(inner, {
            generate: (request, next) => service.track(inner.provider, next(request)),
            stream: (request, next) => Streams.unwrapScoped(Effect.as(service.enter(inner.provider), next(request)))
          })
      }))
)
