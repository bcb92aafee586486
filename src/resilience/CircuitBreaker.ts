/**
 * A circuit breaker per provider: stop calling a provider that keeps failing.
 *
 * Built on `effect/persistence` `CircuitBreaker`, which has the three states we need and keeps
 * them in a `CircuitBreakerStore`: the one in context when there is one ({@link layerStore}; a
 * program can provide effect's `CircuitBreaker.layerStoreRedis`, so that one process's open
 * circuit opens it for all), else one in this process's memory:
 *
 * - Closed: calls go through. After `failures` consecutive failed calls the circuit opens.
 * - Open: calls fail at once, without reaching the provider, with an `LlmError` of reason
 *   `CircuitOpen` whose `untilMs` says when a trial will be allowed.
 * - HalfOpen: after `cooldown`, the next call is a trial; other calls meanwhile fail with
 *   `CircuitOpen`. A successful trial closes the circuit, a failed one reopens it.
 *
 * What counts as a failure: a retryable error (server error, network, unavailable, attempt
 * timeout) and a call timeout. A rate limit is flow control, not ill health (the retry layer
 * waits it out), and a request the provider refused on its merits (`InvalidRequest`,
 * `Authentication`...) says nothing about its health: both are ignored, as is an interrupted
 * call. The breaker sits above the retry layer (one outcome per logical call, as the
 * Effect docs advise), and is keyed by provider name, so the stacks of one provider share it
 * when they share a store.
 *
 * @since 0.1.0
 */
import { Cause, Clock, Deferred, Duration, Effect, Exit, Fiber, Layer, Option, Schema, type Scope, Stream } from "effect"
import { CircuitBreaker as Breaker } from "effect/persistence"
import * as DurationText from "../DurationText.ts"
import * as LanguageModel from "../LanguageModel.ts"
import * as LlmError from "../LlmError.ts"
import type { LlmRequest } from "../LlmRequest.ts"
import type { LlmResponse } from "../LlmResponse.ts"

/**
 * When a circuit opens and how long it stays open.
 *
 * @since 0.1.0
 * @category models
 */
export interface Policy {
  /** Consecutive failed calls that open the circuit. */
  readonly failures: number
  /** How long the circuit stays open before a trial call, in milliseconds. */
  readonly cooldownMs: number
}

/**
 * The defaults: open after 5 consecutive failures, try again after 30 s.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultPolicy: Policy = { failures: 5, cooldownMs: 30_000 }

/**
 * The `circuitBreaker:` section of the configuration file.
 *
 * @since 0.1.0
 * @category schemas
 */
export const CircuitBreakerConfig = Schema.Struct({
  enabled: Schema.optionalKey(Schema.Boolean).annotate({
    description: "Default: on when this section is present or a fallback chain is configured."
  }),
  failures: Schema.optionalKey(Schema.Int.check(Schema.isGreaterThan(0))).annotate({
    description: "Consecutive failed calls that open the circuit (default 5)."
  }),
  cooldown: Schema.optionalKey(DurationText.DurationString).annotate({
    description: "How long the circuit stays open before a trial call (default 30s)."
  })
}).annotate({ identifier: "CircuitBreakerConfig" })

/**
 * @since 0.1.0
 * @category models
 */
export type CircuitBreakerConfig = typeof CircuitBreakerConfig.Type

/**
 * The policy a config section describes (`undefined` when the breaker is off). A present section
 * turns it on unless it says `enabled: false`; an absent one leaves it at `defaultEnabled`.
 *
 * @since 0.1.0
 * @category config
 */
export const resolve = (
  config: CircuitBreakerConfig | undefined,
  options?: { readonly defaultEnabled?: boolean | undefined }
): Policy | undefined => {
  const enabled = config?.enabled ?? (config !== undefined || options?.defaultEnabled === true)
  if (!enabled) return undefined
  const cooldown = config?.cooldown !== undefined ? DurationText.parseMillis(config.cooldown) : undefined
  return {
    failures: config?.failures ?? defaultPolicy.failures,
    cooldownMs: cooldown !== undefined && cooldown._tag === "Success" ? cooldown.success : defaultPolicy.cooldownMs
  }
}

/**
 * The store key of a provider's circuit.
 *
 * @since 0.1.0
 * @category keys
 */
export const keyOf = (provider: string): string => `llm-connect:${provider}`

/**
 * Whether a failure counts against the provider's health.
 *
 * @since 0.1.0
 * @category classification
 */
export const countsAsFailure = (error: LlmError.LlmError): boolean =>
  error.reason._tag !== "RateLimited" && (error.isRetryable || error.reason._tag === "Timeout")

/** A stream the consumer stopped early: says nothing about the provider's health. */
const STOPPED: unique symbol = Symbol.for("llm-connect/CircuitBreaker/stopped")

const classify = (exit: Exit.Exit<unknown, LlmError.LlmError>): Breaker.Outcome => {
  if (Exit.isSuccess(exit)) return exit.value === STOPPED ? Breaker.ignored : Breaker.success
  const error = Cause.findErrorOption(exit.cause)
  if (error._tag === "None") return Breaker.failure()
  return countsAsFailure(error.value) ? Breaker.failure() : Breaker.ignored
}

const rejection = (provider: string, model: string, error: Breaker.CircuitBreakerError) =>
  Effect.flatMap(Clock.currentTimeMillis, (now) => {
    const reason = error.reason
    switch (reason._tag) {
      case "CircuitOpen": {
        const waitMs = Duration.toMillis(reason.retryAfter)
        return Effect.fail(
          LlmError.make(
            provider,
            new LlmError.CircuitOpen({
              description: `${provider} failed too many times in a row; it is not called for ${
                DurationText.formatMillis(waitMs)
              } (circuit open), then one trial call is let through`,
              untilMs: now + waitMs
            }),
            { model }
          )
        )
      }
      case "CircuitHalfOpen":
        return Effect.fail(
          LlmError.make(
            provider,
            new LlmError.CircuitOpen({
              description: `${provider} is being tried again after failing (circuit half-open); other calls wait for that trial`
            }),
            { model }
          )
        )
      default:
        return Effect.fail(
          LlmError.make(provider, new LlmError.Unavailable({ description: `the circuit breaker store failed: ${reason.message}` }), {
            model
          })
        )
    }
  })

/**
 * Wraps a model with a circuit breaker for its provider. A stream is admitted (or refused with
 * `CircuitOpen`) before it opens, and its outcome is recorded when it ends: a stream that fails
 * counts as a failed call, one the consumer stops early as ignored.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  inner: LanguageModel.Service,
  policy: Policy = defaultPolicy
): Effect.Effect<LanguageModel.Service, never, Breaker.CircuitBreakerStore | Scope.Scope> =>
  Effect.map(
    Breaker.make({ tripPolicy: Breaker.consecutive(policy.failures), openDuration: Duration.millis(policy.cooldownMs) }),
    (breaker) => {
      const key = keyOf(inner.provider)
      const guardCall = breaker.execute<LlmResponse, LlmError.LlmError>({ key, classify })
      const guardStream = breaker.execute<unknown, LlmError.LlmError>({ key, classify })
      const rejected = (request: LlmRequest) => (error: LlmError.LlmError | Breaker.CircuitBreakerError) =>
        error instanceof Breaker.CircuitBreakerError
          ? rejection(inner.provider, request.model ?? inner.defaultModel, error)
          : Effect.fail(error)
      return LanguageModel.wrap(inner, {
        generate: (request, next) => Effect.catch(guardCall(next(request)), rejected(request)),
        stream: (request, next) =>
          Stream.unwrap(Effect.gen(function*() {
            // The breaker guards an effect: one that is admitted, then waits for the stream's end.
            const admitted = yield* Deferred.make<void>()
            const ended = yield* Deferred.make<unknown, LlmError.LlmError>()
            const outcome = yield* Effect.forkScoped(
              guardStream(Effect.andThen(Deferred.succeed(admitted, undefined), Deferred.await(ended)))
            )
            const refusal = yield* Effect.raceFirst(
              Effect.as(Deferred.await(admitted), undefined),
              Effect.map(Effect.exit(Fiber.join(outcome)), (exit) => Exit.isFailure(exit) ? Cause.findErrorOption(exit.cause) : undefined)
            )
            if (refusal !== undefined && refusal._tag === "Some") return yield* rejected(request)(refusal.value)
            // The outcome is recorded before the stream's scope closes (which would interrupt it).
            return next(request).pipe(
              Stream.onExit((exit) =>
                Effect.andThen(
                  Exit.isSuccess(exit)
                    ? Deferred.succeed(ended, undefined)
                    : Cause.hasInterruptsOnly(exit.cause)
                    ? Deferred.succeed(ended, STOPPED)
                    : Deferred.failCause(ended, exit.cause),
                  Fiber.await(outcome)
                )
              )
            )
          }))
      })
    }
  )

/**
 * The state of a provider's circuit in the store: `Closed`, `Open` or `HalfOpen`.
 *
 * @since 0.1.0
 * @category accessors
 */
export const state = (provider: string): Effect.Effect<Breaker.State["_tag"], never, Breaker.CircuitBreakerStore> =>
  Effect.scoped(
    Effect.flatMap(
      Breaker.make({ tripPolicy: Breaker.consecutive(1), openDuration: "1 second" }),
      (reader) => Effect.map(Effect.orDie(reader.state(keyOf(provider))), (current) => current._tag)
    )
  )

/**
 * The circuit-breaker layer: wraps the `LanguageModel` below it. Needs a `CircuitBreakerStore`
 * ({@link layerStore}).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  policy: Policy = defaultPolicy
): Layer.Layer<LanguageModel.LanguageModel, never, LanguageModel.LanguageModel | Breaker.CircuitBreakerStore> =>
  // Layer.effect (not LanguageModel.layerWrap) so that the breaker's Scope is the layer's.
  Layer.effect(LanguageModel.LanguageModel, LanguageModel.LanguageModel.use((inner) => make(inner, policy)))

/**
 * An in-memory store for the circuits of a process.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerStoreMemory: Layer.Layer<Breaker.CircuitBreakerStore> = Breaker.layerStoreMemory()

/**
 * The `CircuitBreakerStore` in context when it is built (e.g. effect's
 * `CircuitBreaker.layerStoreRedis`), else the in-memory one ({@link layerStoreMemory}). A
 * function, so that each use looks at its own context (a constant Layer is memoized by reference).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerStore = (): Layer.Layer<Breaker.CircuitBreakerStore> => Layer.unwrap(
  Effect.map(Effect.serviceOption(Breaker.CircuitBreakerStore), (store) =>
    Option.match(store, {
      onNone: () => layerStoreMemory,
      onSome: (found) => Layer.succeed(Breaker.CircuitBreakerStore, found)
    }))
)
