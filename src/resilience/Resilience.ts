/**
 * The resilience part of the stack, built from configuration.
 *
 * One provider becomes one *candidate stack*, innermost first:
 *
 *   provider -> [attempt wrappers] -> concurrency -> rate limit -> retry + timeouts -> circuit breaker
 *
 * and a `fallback:` list adds more candidate stacks, tried in order (`Fallback.ts`). The
 * services shared by every candidate (the semaphores, the rate-limit buckets, the circuits)
 * are built once here, so two candidates of the same provider share its limits; a circuit is
 * keyed by provider, base URL and model, so candidates share one only when they call the same
 * endpoint and model.
 * The buckets and circuits live in the `RateLimiterStore` and `CircuitBreakerStore` of
 * `effect/persistence` found in context (provide one from outside, e.g. a Redis store, to share
 * them between processes), else in memory. `Stack.layer` puts the budget and observability
 * layers above the result.
 *
 * Defaults when a section is absent: 3 attempts in all with jittered exponential backoff from
 * 500 ms (waits capped at 30 s), no attempt timeout (a stack built from configuration: 2
 * minutes, see `ResilienceConfig`), no concurrency or rate limit, no fallback.
 * The circuit breaker (opens after 5 consecutive failed calls, trial after 30 s) is on by default
 * in a fallback chain, where skipping a failing candidate saves every call its retries, and
 * opt-in (`circuitBreaker: {}`) for a single provider, where it costs a store round-trip per
 * call and can only turn a slow failure into a fast one.
 *
 * @since 0.1.0
 */
import { Effect, Layer, Result, Schema } from "effect"
import * as OutputCap from "../budget/OutputCap.ts"
import * as DurationText from "../DurationText.ts"
import * as LanguageModel from "../LanguageModel.ts"
import * as LlmError from "../LlmError.ts"
import * as ProviderRegistry from "../ProviderRegistry.ts"
import * as CircuitBreaker from "./CircuitBreaker.ts"
import * as Concurrency from "./Concurrency.ts"
import * as Fallback from "./Fallback.ts"
import * as GracefulShutdown from "./GracefulShutdown.ts"
import * as RateLimit from "./RateLimit.ts"
import * as Retry from "./Retry.ts"

const PositiveInt = Schema.Int.check(Schema.isGreaterThan(0))

const RateFields = {
  rpm: Schema.optionalKey(PositiveInt).annotate({ description: "Requests per minute." }),
  tpm: Schema.optionalKey(PositiveInt).annotate({ description: "Tokens per minute (input estimate + maxTokens)." })
}

/**
 * The `limits:` section of the configuration file.
 *
 * @since 0.1.0
 * @category schemas
 * @example
 * // limits: { concurrency: 16, providerConcurrency: 4, rpm: 500, providers: { openai: { tpm: 200000 } },
 * //           models: { gpt-4o: { rpm: 100 } } }
 */
export const LimitsConfig = Schema.Struct({
  concurrency: Schema.optionalKey(PositiveInt).annotate({ description: "Calls in flight across all providers." }),
  providerConcurrency: Schema.optionalKey(PositiveInt).annotate({ description: "Calls in flight per provider." }),
  ...RateFields,
  providers: Schema.optionalKey(
    Schema.Record(Schema.String, Schema.Struct({ concurrency: Schema.optionalKey(PositiveInt), ...RateFields }))
  ).annotate({ description: "Limits of one provider, by name (override the defaults above)." }),
  models: Schema.optionalKey(Schema.Record(Schema.String, Schema.Struct(RateFields))).annotate({
    description: "Rates of one model, by model name (on top of its provider's)."
  })
}).annotate({ identifier: "LimitsConfig" })

/**
 * @since 0.1.0
 * @category models
 */
export type LimitsConfig = typeof LimitsConfig.Type

/**
 * The resilience settings of a stack (the config file's `retry`, `attemptTimeout`, `limits`,
 * `fallback` and `circuitBreaker` sections).
 *
 * @since 0.1.0
 * @category models
 */
export interface Config {
  readonly retry?: Retry.RetryConfig | undefined
  /** A duration string such as `30s`. */
  readonly attemptTimeout?: string | undefined
  /** The default call timeout when a request has no `timeoutMs`. */
  readonly timeoutMs?: number | undefined
  /**
   * Bounds each wait for a stream's next part after its first, a duration string (default
   * {@link DEFAULT_STREAM_IDLE_TIMEOUT}); a stream silent for longer fails with `Timeout` (scope `idle`).
   */
  readonly streamIdleTimeout?: string | undefined
  readonly limits?: LimitsConfig | undefined
  readonly circuitBreaker?: CircuitBreaker.CircuitBreakerConfig | undefined
  /** Turns the circuit breaker on when the section does not say (set for fallback chains). */
  readonly breakerByDefault?: boolean | undefined
  /** Layers that must see every attempt (e.g. per-attempt spans), put right above the provider. */
  readonly attemptWrappers?: ReadonlyArray<Layer.Layer<LanguageModel.LanguageModel, LlmError.LlmError, LanguageModel.LanguageModel>> | undefined
}

/**
 * The concurrency settings of a `limits:` section.
 *
 * @since 0.1.0
 * @category config
 */
export const concurrencySettings = (limits: LimitsConfig | undefined): Concurrency.Settings => {
  const providers: Record<string, number> = {}
  for (const [name, own] of Object.entries(limits?.providers ?? {})) {
    if (own.concurrency !== undefined) providers[name] = own.concurrency
  }
  return { global: limits?.concurrency, perProvider: limits?.providerConcurrency, providers }
}

/**
 * The rate settings of one provider from a `limits:` section.
 *
 * @since 0.1.0
 * @category config
 */
export const rateSettings = (limits: LimitsConfig | undefined, provider: string): RateLimit.Settings => {
  const own = limits?.providers?.[provider]
  const rpm = own?.rpm ?? limits?.rpm
  const tpm = own?.tpm ?? limits?.tpm
  return {
    ...(rpm !== undefined || tpm !== undefined ? { provider: { rpm, tpm } } : {}),
    ...(limits?.models !== undefined ? { models: limits.models } : {})
  }
}

const hasRates = (settings: RateLimit.Settings): boolean =>
  settings.provider !== undefined || Object.keys(settings.models ?? {}).length > 0

/**
 * The services every candidate stack shares: semaphores, rate-limit buckets, circuits. The
 * buckets and circuits are kept in the `RateLimiterStore` and `CircuitBreakerStore` in context
 * when there are some (a store shared between processes), else in this process's memory.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerShared = (config: Config) =>
  Layer.mergeAll(
    Concurrency.layerLimits(concurrencySettings(config.limits)),
    RateLimit.layerStore(),
    CircuitBreaker.layerStore()
  )

const attemptTimeoutMs = (config: Config): Result.Result<number | undefined, LlmError.LlmError> => {
  if (config.attemptTimeout === undefined) return Result.succeed(undefined)
  const parsed = DurationText.parseMillis(config.attemptTimeout)
  return Result.isSuccess(parsed)
    ? Result.succeed(parsed.success)
    : Result.fail(
      LlmError.make(
        "llm-connect",
        new LlmError.Configuration({ description: parsed.failure, setting: "attemptTimeout", fix: "write e.g. attemptTimeout: 30s" })
      )
    )
}

/**
 * How long a stream may stay silent between two parts when `streamIdleTimeout` is not set.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_STREAM_IDLE_TIMEOUT = "60s"

const streamIdleTimeoutMs = (config: Config): Result.Result<number, LlmError.LlmError> => {
  const parsed = DurationText.parseMillis(config.streamIdleTimeout ?? DEFAULT_STREAM_IDLE_TIMEOUT)
  return Result.isSuccess(parsed)
    ? Result.succeed(parsed.success)
    : Result.fail(
      LlmError.make(
        "llm-connect",
        new LlmError.Configuration({ description: parsed.failure, setting: "streamIdleTimeout", fix: "write e.g. streamIdleTimeout: 60s" })
      )
    )
}

/**
 * One candidate stack: the provider, then the stream output cap (`OutputCap`), concurrency, rate
 * limit, retry + timeouts and the circuit breaker. Needs the {@link layerShared} services and a `ProviderRegistry`.
 *
 * @since 0.1.0
 * @category layers
 */
export const candidate = (options: ProviderRegistry.CreateOptions, config: Config): CandidateLayer => {
  const timeout = attemptTimeoutMs(config)
  if (Result.isFailure(timeout)) return Layer.effect(LanguageModel.LanguageModel, Effect.fail(timeout.failure))
  const idle = streamIdleTimeoutMs(config)
  if (Result.isFailure(idle)) return Layer.effect(LanguageModel.LanguageModel, Effect.fail(idle.failure))
  const rates = rateSettings(config.limits, options.provider)
  const breaker = CircuitBreaker.resolve(config.circuitBreaker, { defaultEnabled: config.breakerByDefault === true })
  const policy = Retry.resolve(config.retry, options.provider, {
    attemptTimeoutMs: timeout.success,
    callTimeoutMs: config.timeoutMs,
    streamIdleTimeoutMs: idle.success
  })
  // Right above the provider: marks when an attempt reaches it (see Retry.layerMarkSent).
  const provider: CandidateLayer = (config.attemptWrappers ?? []).reduce<CandidateLayer>(
    (inner, wrapper) => Layer.provide(wrapper, inner),
    Layer.provide(Retry.layerMarkSent, ProviderRegistry.layerLanguageModel(options))
  )
  // Above that: a stream is held to its attempt's output cap, with or without a budget (OutputCap).
  const capped: CandidateLayer = Layer.provide(OutputCap.layer, provider)
  const limited: CandidateLayer = Layer.provide(Concurrency.layer, capped)
  const rated: CandidateLayer = hasRates(rates) ? Layer.provide(RateLimit.layer(rates), limited) : limited
  const retried: CandidateLayer = Layer.provide(Retry.layer(policy, { sendMarked: true }), rated)
  return breaker !== undefined ? Layer.provide(CircuitBreaker.layer(breaker, { baseUrl: options.baseUrl }), retried) : retried
}

/**
 * What a candidate stack needs: a registry and the shared services.
 *
 * @since 0.1.0
 * @category models
 */
export type CandidateLayer = Layer.Layer<
  LanguageModel.LanguageModel,
  LlmError.LlmError,
  ProviderRegistry.ProviderRegistry | Layer.Success<ReturnType<typeof layerShared>>
>

/**
 * The resilient model: the main provider's candidate stack, or a fallback chain of candidate
 * stacks, with the shared services provided and the graceful-shutdown wrapper on top (active
 * when a `GracefulShutdown` service is in context).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  main: ProviderRegistry.CreateOptions,
  config: Config = {},
  fallback: ReadonlyArray<ProviderRegistry.CreateOptions> = []
): Layer.Layer<LanguageModel.LanguageModel, LlmError.LlmError, ProviderRegistry.ProviderRegistry> => {
  const chained: Config = { ...config, breakerByDefault: true }
  const base = fallback.length === 0
    ? candidate(main, config)
    : Fallback.layer([
      { layer: candidate(main, chained) },
      ...fallback.map((options) => ({ layer: candidate(options, chained), model: options.model }))
    ])
  return GracefulShutdown.layer.pipe(Layer.provide(base), Layer.provide(layerShared(config)))
}
