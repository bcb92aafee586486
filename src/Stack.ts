/**
 * The one place where a configuration becomes a Layer stack.
 *
 * The order follows docs/architecture.md (outermost first):
 *
 *   Observability -> Budget -> Fallback -> Retry + timeout -> RateLimit -> Concurrency -> provider
 *
 * Each concern is a Layer that wraps the `LanguageModel` below it; this module only decides the
 * order and which ones a configuration turns on. The CLI, workflows and the server all build
 * their model through {@link layer}.
 *
 * @since 0.1.0
 */
import { Layer } from "effect"
import * as BudgetLanguageModel from "./budget/BudgetLanguageModel.ts"
import * as LanguageModel from "./LanguageModel.ts"
import type * as LlmError from "./LlmError.ts"
import * as ProviderRegistry from "./ProviderRegistry.ts"
import * as Observability from "./observability/Observability.ts"
import * as PiiGuard from "./pii/PiiGuard.ts"
import * as Resilience from "./resilience/Resilience.ts"

/**
 * What the stack is built from.
 *
 * @since 0.1.0
 * @category models
 */
export interface StackConfig {
  /** The provider and its settings. */
  readonly provider: ProviderRegistry.CreateOptions
  /** Logs, spans, metrics and the usage ledger (on unless `enabled: false`). */
  readonly observability?: (Observability.Options & { readonly enabled?: boolean | undefined }) | undefined
  /** Budget limits, output cap, unknown-price policy and price overrides (on when present). */
  readonly budget?: BudgetLanguageModel.Config | undefined
  /** Redact or block personal data in prompts before they are sent (off when absent). */
  readonly pii?: PiiGuard.Options | undefined
  /** Retry, timeouts, limits, circuit breaker, and the fallback candidates (defaults when absent). */
  readonly resilience?:
    | (Resilience.Config & { readonly fallback?: ReadonlyArray<ProviderRegistry.CreateOptions> | undefined })
    | undefined
}

/**
 * The wrapping layers, innermost first. Each entry wraps the model produced by the previous.
 *
 * @since 0.1.0
 * @category models
 */
export type Wrapper = Layer.Layer<LanguageModel.LanguageModel, LlmError.LlmError, LanguageModel.LanguageModel>

/**
 * Stacks wrappers (innermost first) on top of a base model layer.
 *
 * @since 0.1.0
 * @category combinators
 */
export const stack = <E, R>(
  base: Layer.Layer<LanguageModel.LanguageModel, E, R>,
  wrappers: ReadonlyArray<Wrapper>
): Layer.Layer<LanguageModel.LanguageModel, E | LlmError.LlmError, R> =>
  wrappers.reduce<Layer.Layer<LanguageModel.LanguageModel, E | LlmError.LlmError, R>>(
    (inner, wrapper) => Layer.provide(wrapper, inner),
    base
  )

/**
 * Builds the `LanguageModel` a configuration describes.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  config: StackConfig
): Layer.Layer<LanguageModel.LanguageModel, LlmError.LlmError, ProviderRegistry.ProviderRegistry> => {
  const wrappers: Array<Wrapper> = []
  // Innermost first. Each concern adds itself here, in this order:
  //   concurrency, rate limit, retry + timeout, fallback, budget, observability
  // Per-attempt spans sit right above the provider, inside the resilient base (below retry).
  const attemptWrappers = config.observability?.attempts === true ? [Observability.layerAttempts] : []
  // Concurrency, rate limit, retry + timeout, circuit breaker, fallback: the resilient base
  // (src/resilience/Resilience.ts), with graceful shutdown on top of it.
  const base = Resilience.layer(
    config.provider,
    { ...config.resilience, attemptWrappers },
    config.resilience?.fallback ?? []
  )
  // Budget: outside retry and fallback (one reservation per logical call), inside observability.
  if (config.budget !== undefined) wrappers.push(BudgetLanguageModel.layerConfig(config.budget))
  // Observability: outermost, so that it sees budget refusals and calls that failed after retries.
  // PII guard: outside the budget (a blocked call reserves nothing), inside observability (seen).
  if (config.pii !== undefined) wrappers.push(PiiGuard.layer(config.pii))
  if (config.observability?.enabled !== false) wrappers.push(Observability.layer(config.observability ?? {}))
  return stack(base, wrappers)
}
