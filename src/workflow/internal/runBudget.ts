/**
 * The budget of one workflow run, shared by its steps (internal).
 *
 * Until the budget module is available this is a pass-through; the executor calls it at the
 * one place where every model call of a step goes through.
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import type * as LanguageModel from "../../LanguageModel.ts"
import type * as Journal from "../Journal.ts"

/**
 * Budget limits of a run or a step.
 *
 * @since 0.1.0
 * @category models
 */
export interface Limits {
  readonly inputTokens?: number | undefined
  readonly outputTokens?: number | undefined
  readonly totalTokens?: number | undefined
  readonly costUsd?: number | undefined
}

/**
 * A run's budget.
 *
 * @since 0.1.0
 * @category models
 */
export interface RunBudget {
  /** Wraps a step's model so that its calls count against the run (and the step's own limits). */
  readonly wrap: (model: LanguageModel.Service, stepLimits: Limits | undefined) => LanguageModel.Service
}

/**
 * Builds a run's budget; usage already spent by resumed steps is counted first.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  _limits: Limits | undefined,
  _resumed: ReadonlyArray<Journal.StepEntry>
): Effect.Effect<RunBudget> => Effect.succeed({ wrap: (model) => model })
