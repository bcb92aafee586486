/**
 * The budget of one workflow run, shared by its steps (internal).
 *
 * A run with a `budget` gets its own root `BudgetTracker`; a step with its own `budget` gets a
 * child of it (its calls count toward the step and the run). Every model call of a step goes
 * through `BudgetLanguageModel.wrap`, so it is reserved before it is sent and refused with
 * `BudgetExceeded` when the run (or the step) cannot afford it. On resume, the usage of the
 * steps read back from the journal is recorded first, so the budget continues where it was.
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import type * as Budget from "../../budget/Budget.ts"
import * as BudgetLanguageModel from "../../budget/BudgetLanguageModel.ts"
import * as BudgetTracker from "../../budget/BudgetTracker.ts"
import type * as LanguageModel from "../../LanguageModel.ts"
import type * as LlmError from "../../LlmError.ts"
import type * as Journal from "../Journal.ts"

/**
 * Budget limits of a run or a step (`deadline` counts from the start of the run).
 *
 * @since 0.1.0
 * @category models
 */
export type Limits = Budget.Input & {
  readonly defaultMaxTokens?: number | undefined
  readonly onUnknownPrice?: "fail" | "allow" | undefined
}

/**
 * A run's budget.
 *
 * @since 0.1.0
 * @category models
 */
export interface RunBudget {
  /** The model a step without its own limits calls through (charged to the run, if limited). */
  readonly wrap: (model: LanguageModel.Service) => LanguageModel.Service
  /** The model a step calls through: charged to the run, and to the step's own limits if any. */
  readonly forStep: (
    step: string,
    model: LanguageModel.Service,
    stepLimits: Limits | undefined
  ) => Effect.Effect<LanguageModel.Service, LlmError.LlmError>
  /** The run's tracker, when it has a budget. */
  readonly tracker: BudgetTracker.Service | undefined
}

const unlimited: RunBudget = {
  wrap: (model) => model,
  forStep: (_step, model) => Effect.succeed(model),
  tracker: undefined
}

/**
 * Builds a run's budget; usage already spent by resumed steps is recorded first.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  limits: Limits | undefined,
  resumed: ReadonlyArray<Journal.StepEntry>,
  workflow: string
): Effect.Effect<RunBudget, LlmError.LlmError> =>
  Effect.gen(function*() {
    if (limits === undefined) {
      return {
        ...unlimited,
        forStep: (step, model, stepLimits) =>
          stepLimits === undefined
            ? Effect.succeed(model)
            : Effect.map(
              BudgetTracker.make(stepLimits, { label: `${workflow}/${step}` }),
              (tracker) => BudgetLanguageModel.wrap(tracker)(model)
            )
      }
    }
    const { defaultMaxTokens, onUnknownPrice, ...rest } = limits
    const tracker = yield* BudgetTracker.make(rest, { label: workflow, defaultMaxTokens, onUnknownPrice })
    for (const entry of resumed) {
      yield* tracker.recordCumulative(`resumed:${entry.step}`, entry.usage, {
        costUsd: entry.costUsd ?? 0,
        provider: "journal",
        model: entry.step
      })
    }
    const wrap = BudgetLanguageModel.wrap(tracker)
    return {
      tracker,
      wrap,
      forStep: (step, model, stepLimits) =>
        stepLimits === undefined
          ? Effect.succeed(wrap(model))
          : Effect.map(tracker.child(stepLimits, `${workflow}/${step}`), (child) => BudgetLanguageModel.wrap(child)(model))
    }
  })
