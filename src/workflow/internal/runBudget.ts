/**
 * The budget of one workflow run, shared by its steps (internal).
 *
 * A run with a `budget` gets a `BudgetTracker`; a step with its own `budget` gets a child of it
 * (its calls count toward the step and the run). When the run's models come from a
 * `ModelFactory` whose configuration has a budget of its own, the run's tracker is a child of
 * that one, so both hold. {@link RunBudget.forStep} gives the tracker a step's calls are charged
 * to; the step model wrapper (`stepModel.ts`) sets it on the fiber, where the factory's budget
 * layer enforces it inside observability, or wraps a model that does not come from the factory.
 * On resume, the usage of the steps read back from the journal is recorded first (on the run's
 * tracker, else on the configuration's), so the budget continues where it was. The budgets made
 * for the run are closed when it ends ({@link RunBudget.close}).
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import * as BudgetTracker from "../../budget/BudgetTracker.ts"
import type * as LlmError from "../../LlmError.ts"
import type * as Journal from "../Journal.ts"
import type * as WorkflowDefinition from "../WorkflowDefinition.ts"

/**
 * Budget limits of a run or a step (`WorkflowDefinition.BudgetLimits`).
 *
 * @since 0.1.0
 * @category models
 */
export type Limits = WorkflowDefinition.BudgetLimits

/**
 * A run's budget.
 *
 * @since 0.1.0
 * @category models
 */
export interface RunBudget {
  /**
   * The tracker a step's calls are charged to: the step's own (a child of the run's or of the
   * configuration's), else the run's; `undefined` when neither the step nor the run is limited.
   */
  readonly forStep: (step: string, stepLimits: Limits | undefined) => Effect.Effect<BudgetTracker.Service | undefined, LlmError.LlmError>
  /** The run's tracker, when it has a budget. */
  readonly tracker: BudgetTracker.Service | undefined
  /**
   * The run's `defaultMaxTokens` when its tracker is a child (a child sizes reservations as its
   * root does): the step model sends it as the request's `maxTokens` when the request sets none,
   * which is what a budget's output cap amounts to.
   */
  readonly defaultMaxTokens: number | undefined
  /**
   * Closes the budgets made for the run (its own and its steps'): they leave the budget store
   * when the run ends, what they consumed staying counted in the configuration's budget.
   */
  readonly close: Effect.Effect<void>
}

/**
 * Builds a run's budget under `parent` (the configuration's budget, if any); usage already spent
 * by resumed steps is recorded first.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  limits: Limits | undefined,
  resumed: ReadonlyArray<Journal.StepEntry>,
  workflow: string,
  parent: BudgetTracker.Service | undefined
): Effect.Effect<RunBudget, LlmError.LlmError> =>
  Effect.gen(function*() {
    // Every budget made here, closed with the run (a run has a bounded number of steps).
    const made: Array<BudgetTracker.Service> = []
    const keep = (tracker: BudgetTracker.Service) => {
      made.push(tracker)
      return tracker
    }
    const close = Effect.suspend(() => Effect.forEach(made.splice(0).reverse(), (tracker) => tracker.close, { discard: true }))
    const childOf = (tracker: BudgetTracker.Service | undefined) =>
    (step: string, stepLimits: Limits | undefined): Effect.Effect<BudgetTracker.Service | undefined, LlmError.LlmError> =>
      stepLimits === undefined
        ? Effect.succeed(tracker)
        : Effect.map(
          tracker === undefined
            ? BudgetTracker.make(stepLimits, { label: `${workflow}/${step}` })
            : tracker.child(stepLimits, `${workflow}/${step}`),
          keep
        )
    const recordResumed = (tracker: BudgetTracker.Service) =>
      Effect.forEach(resumed, (entry) =>
        tracker.recordCumulative(`resumed:${entry.step}`, entry.usage, {
          costUsd: entry.costUsd ?? 0,
          provider: "journal",
          model: entry.step
        }), { discard: true })
    if (limits === undefined) {
      // No budget of the run's own: the configuration's budget (if any) continues from the spend
      // of the steps read back from the journal.
      if (parent !== undefined) yield* recordResumed(parent)
      return { forStep: childOf(parent), tracker: undefined, defaultMaxTokens: undefined, close }
    }
    const { defaultMaxTokens, onUnknownPrice, ...rest } = limits
    const tracker = keep(
      parent === undefined
        ? yield* BudgetTracker.make(rest, { label: workflow, defaultMaxTokens, onUnknownPrice })
        : yield* parent.child(rest, workflow)
    )
    // Recorded on the run's tracker, which counts up to the configuration's budget too.
    yield* Effect.onError(recordResumed(tracker), () => close)
    return { forStep: childOf(tracker), tracker, defaultMaxTokens: parent === undefined ? undefined : defaultMaxTokens, close }
  })
