/**
 * Facts about the current call that travel with the fiber, so that any layer can read them
 * without extra parameters.
 *
 * The budget layer sets the deadline and the remaining budget around the calls it admits; the
 * retry layer never waits past the deadline; a provider that runs its own spending (Claude Code)
 * is handed the remaining cost as its cap. Outside a budget both are unset.
 *
 * @since 0.1.0
 */
import { Context } from "effect"

/**
 * The instant (epoch milliseconds, by `Clock`) after which no call may start or wait, if any.
 *
 * @since 0.1.0
 * @category references
 */
export const Deadline = Context.Reference<number | undefined>("llm-connect/CallContext/Deadline", {
  defaultValue: () => undefined
})

/**
 * What is left of the budget for the current call, per dimension, if a budget is set.
 *
 * @since 0.1.0
 * @category models
 */
export interface Remaining {
  readonly inputTokens?: number | undefined
  readonly outputTokens?: number | undefined
  readonly totalTokens?: number | undefined
  readonly costUsd?: number | undefined
}

/**
 * The remaining budget of the current call, if a budget is set.
 *
 * @since 0.1.0
 * @category references
 */
export const RemainingBudget = Context.Reference<Remaining | undefined>("llm-connect/CallContext/RemainingBudget", {
  defaultValue: () => undefined
})
