/**
 * A circuit breaker per endpoint: stop calling a provider/model that keeps failing.
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
 * Effect docs advise), and is keyed by provider, base URL and model ({@link keyOf}): a fallback
 * to the same provider at another base URL or with another model has a circuit of its own, so
 * its successes do not reset the count of the failing one. Stacks that call the same endpoint
 * share its circuit when they share a store. The base URL in a key has its credentials redacted
 * (a key is stored, e.g. in Redis).
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
import * as Redaction from "../observability/Redaction.ts"

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
 * What a circuit is for: a provider's model at a base URL (the provider's default endpoint when
 * `baseUrl` is absent).
 *
 * @since 0.1.0
 * @category models
 */
export interface Target {
  readonly provider: string
  readonly model: string
  readonly baseUrl?: string | undefined
}

/**
 * The store key of a circuit: `llm-connect:<provider>|<base URL, credentials redacted>|<model>`.
 *
 * @since 0.1.0
 * @category keys
 */
export const keyOf = (target: Target): string =>
  `llm-connect:${target.provider}|${target.baseUrl === undefined ? "" : Redaction.redactUrl(target.baseUrl)}|${target.model}`

const describeTarget = (target: Target): string =>
  `${target.provider}/${target.model}${target.baseUrl === undefined ? "" : ` at ${Redaction.redactUrl(target.baseUrl)}`}`

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

const rejection = (target: Target, error: Breaker.CircuitBreakerError) =>
  Effect.flatMap(Clock.currentTimeMillis, (now) => {
    const reason = error.reason
    const { model, provider } = target
    switch (reason._tag) {
      case "CircuitOpen": {
        const waitMs = Duration.toMillis(reason.retryAfter)
        return Effect.fail(
          LlmError.make(
            provider,
            new LlmError.CircuitOpen({
              description: `${describeTarget(target)} failed too many times in a row; it is not called for ${
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
              description: `${describeTarget(target)} is being tried again after failing (circuit half-open); other calls wait for that trial`
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
 * What {@link make} and {@link layer} know of the endpoint besides the model's provider: its
 * base URL (absent: the provider's default).
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly baseUrl?: string | undefined
}

/**
 * Wraps a model with a circuit breaker per model it is asked for (the request's model, else the
 * default), at the given base URL. A stream is admitted (or refused with `CircuitOpen`) before it
 * opens, and its outcome is recorded when it ends: a stream that fails counts as a failed call,
 * one the consumer stops early as ignored.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  inner: LanguageModel.Service,
  policy: Policy = defaultPolicy,
  options: Options = {}
): Effect.Effect<LanguageModel.Service, never, Breaker.CircuitBreakerStore | Scope.Scope> =>
  Effect.map(
    Breaker.make({ tripPolicy: Breaker.consecutive(policy.failures), openDuration: Duration.millis(policy.cooldownMs) }),
    (breaker) => {
      interface Guards {
        readonly target: Target
        readonly call: (effect: Effect.Effect<LlmResponse, LlmError.LlmError>) => Effect.Effect<LlmResponse, LlmError.LlmError | Breaker.CircuitBreakerError>
        readonly stream: (effect: Effect.Effect<unknown, LlmError.LlmError>) => Effect.Effect<unknown, LlmError.LlmError | Breaker.CircuitBreakerError>
      }
      // One circuit per model asked for; the guards of each are built once (a model list is small).
      const guards = new Map<string, Guards>()
      const guardsFor = (request: LlmRequest): Guards => {
        const model = request.model ?? inner.defaultModel
        const known = guards.get(model)
        if (known !== undefined) return known
        const target: Target = { provider: inner.provider, model, baseUrl: options.baseUrl }
        const key = keyOf(target)
        const made: Guards = {
          target,
          call: breaker.execute<LlmResponse, LlmError.LlmError>({ key, classify }),
          stream: breaker.execute<unknown, LlmError.LlmError>({ key, classify })
        }
        guards.set(model, made)
        return made
      }
      const rejected = (target: Target) => (error: LlmError.LlmError | Breaker.CircuitBreakerError) =>
        error instanceof Breaker.CircuitBreakerError ? rejection(target, error) : Effect.fail(error)
      return LanguageModel.wrap(inner, {
        generate: (request, next) => {
          const guard = guardsFor(request)
          return Effect.catch(guard.call(next(request)), rejected(guard.target))
        },
        stream: (request, next) =>
          Stream.unwrap(Effect.gen(function*() {
            // The breaker guards an effect: one that is admitted, then waits for the stream's end.
            const admitted = yield* Deferred.make<void>()
            const ended = yield* Deferred.make<unknown, LlmError.LlmError>()
            const guard = guardsFor(request)
            const outcome = yield* Effect.forkScoped(
              guard.stream(Effect.andThen(Deferred.succeed(admitted, undefined), Deferred.await(ended)))
            )
            const refusal = yield* Effect.raceFirst(
              Effect.as(Deferred.await(admitted), undefined),
              Effect.map(Effect.exit(Fiber.join(outcome)), (exit) => Exit.isFailure(exit) ? Cause.findErrorOption(exit.cause) : undefined)
            )
            if (refusal !== undefined && refusal._tag === "Some") return yield* rejected(guard.target)(refusal.value)
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
 * The state of a circuit in the store: `Closed`, `Open` or `HalfOpen`.
 *
 * @since 0.1.0
 * @category accessors
 * @example
 * const now = yield* CircuitBreaker.state({ provider: "openai", model: "gpt-4o-mini" })
 */
export const state = (target: Target): Effect.Effect<Breaker.State["_tag"], never, Breaker.CircuitBreakerStore> =>
  Effect.scoped(
    Effect.flatMap(
      Breaker.make({ tripPolicy: Breaker.consecutive(1), openDuration: "1 second" }),
      (reader) => Effect.map(Effect.orDie(reader.state(keyOf(target))), (current) => current._tag)
    )
  )

/**
 * The circuit-breaker layer: wraps the `LanguageModel` below it (whose endpoint is at
 * `options.baseUrl`). Needs a `CircuitBreakerStore` ({@link layerStore}).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  policy: Policy = defaultPolicy,
  options: Options = {}
): Layer.Layer<LanguageModel.LanguageModel, never, LanguageModel.LanguageModel | Breaker.CircuitBreakerStore> =>
  // Layer.effect (not LanguageModel.layerWrap) so that the breaker's Scope is the layer's.
  Layer.effect(LanguageModel.LanguageModel, LanguageModel.LanguageModel.use((inner) => make(inner, policy, options)))

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
