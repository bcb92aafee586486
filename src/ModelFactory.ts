/**
 * Where models come from once a configuration is loaded: the one factory every front door and
 * every workflow step asks for a model.
 *
 * `Stack.fromConfig` (and `Stack.layerFactory`) provide it beside the `LanguageModel` they
 * build. {@link Service.model} is that configured stack; {@link Service.forProvider} builds
 * (once per distinct target, then cached for the factory's lifetime) the stack of another
 * provider, model, base URL or provider options with the same configuration: that provider's
 * key, base URL and options from `providers.<name>`, the same PII guard, observability, budget,
 * retry, limits and circuit breaker, sharing the configuration's ledger, limits, circuits and
 * budget. A target that is the configured provider with at most another model is the
 * configured stack itself (with that model). So a workflow step that names its own
 * `provider:` gets the same guarantees as the configured model, never a bare provider; without
 * a factory in context such a step is a `Configuration` error (ADR 0012).
 *
 * Every model from a factory honours `BudgetTracker.CurrentBudget` inside its observability
 * layer: a workflow run sets its run (or step) budget on the fiber instead of wrapping the
 * model, so the run budget's refusals are logged, counted and recorded like any other.
 * {@link Service.budget} is the configuration's own root budget, if it has one: a run budget is
 * made its child, so both hold.
 *
 * @since 0.1.0
 */
import { Context, type Effect } from "effect"
import type * as BudgetTracker from "./budget/BudgetTracker.ts"
import type * as LanguageModel from "./LanguageModel.ts"
import type * as LlmError from "./LlmError.ts"
import type * as PriceTable from "./pricing/PriceTable.ts"

/**
 * Which model to build: a provider and what differs from the configuration for it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Target {
  readonly provider: string
  readonly model?: string | undefined
  readonly baseUrl?: string | undefined
  /** Provider-specific options, over the configuration's `providers.<name>.options`. */
  readonly options?: Readonly<Record<string, unknown>> | undefined
  /**
   * Built as one candidate of a chain another layer runs (a route's `prefer:` list): always its
   * own stack (never the configured fallback chain), with the circuit breaker on unless the
   * configuration turns it off, as for the candidates of a `fallback:` chain.
   */
  readonly chained?: boolean | undefined
}

/**
 * Whether a target could be called now: its key is found, and the state of its circuit.
 *
 * @since 0.1.0
 * @category models
 */
export interface Availability {
  readonly key: boolean
  readonly circuit: "Closed" | "Open" | "HalfOpen"
}

/**
 * The factory.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** The configured model (the same service as the `LanguageModel` provided beside it). */
  readonly model: LanguageModel.Service
  /** The stack of another target, built with the same configuration, once per distinct target. */
  readonly forProvider: (target: Target) => Effect.Effect<LanguageModel.Service, LlmError.LlmError>
  /** The configuration's root budget, if it has one (a workflow run's budget is its child). */
  readonly budget: BudgetTracker.Service | undefined
  /**
   * Whether a target's key is found and its circuit (in the factory's circuit store) is closed,
   * without calling it. Absent: every target counts as available.
   */
  readonly availability?: ((target: Target) => Effect.Effect<Availability>) | undefined
  /** The configuration's price table (its `prices:` over the built-in prices). */
  readonly prices?: PriceTable.Service | undefined
}

/**
 * The `ModelFactory` service.
 *
 * @since 0.1.0
 * @category services
 */
export class ModelFactory extends Context.Service<ModelFactory, Service>()("llm-connect/ModelFactory") {}
