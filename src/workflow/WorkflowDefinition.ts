/**
 * What a runnable workflow is made of: steps with their needs and their work, and what a run
 * returns. The TypeScript builder (`Workflow`) and YAML files (`WorkflowYaml`) both produce a
 * {@link Definition}; the `Executor` runs it.
 *
 * @since 0.1.0
 */
import type { Effect } from "effect"
import type * as LanguageModel from "../LanguageModel.ts"
import type * as LlmError from "../LlmError.ts"
import type * as ModelFactory from "../ModelFactory.ts"
import type * as Budget from "../budget/Budget.ts"
import type * as Journal from "./Journal.ts"
import type * as RunState from "./RunState.ts"
import type * as StepType from "./StepType.ts"
import type * as WorkflowError from "./WorkflowError.ts"

/**
 * Budget limits of a run or a step (`deadline` counts from the start of the run), and how the
 * budget sizes reservations (`defaultMaxTokens`) and treats models without a price.
 *
 * @since 0.1.0
 * @category models
 */
export type BudgetLimits = Budget.Input & {
  readonly defaultMaxTokens?: number | undefined
  readonly onUnknownPrice?: "fail" | "allow" | undefined
}

/**
 * How many times a step is attempted, and the wait before the second attempt (doubled each
 * time). Only retryable failures (`LlmError.isRetryable`) are retried.
 *
 * @since 0.1.0
 * @category models
 */
export interface RetryPolicy {
  readonly times: number
  readonly delayMs?: number | undefined
}

/**
 * What a step's work receives.
 *
 * @since 0.1.0
 * @category models
 */
export interface StepContext {
  readonly runId: string
  readonly workflow: string
  readonly step: string
  readonly attempt: number
  readonly input: Readonly<Record<string, unknown>>
  /** Outputs of the finished steps, by id. */
  readonly outputs: ReadonlyMap<string, unknown>
  /** The state a step type's `init` returned for this run (initialised on first use). */
  readonly stateOf: (type: StepType.StepType) => Effect.Effect<unknown, LlmError.LlmError>
}

/**
 * One step.
 *
 * @since 0.1.0
 * @category models
 */
export interface StepSpec<R = never> {
  readonly id: string
  readonly needs: ReadonlyArray<string>
  readonly retry?: RetryPolicy | undefined
  readonly timeoutMs?: number | undefined
  /** Per-step budget limits (a child of the run's budget). */
  readonly budget?: BudgetLimits | undefined
  /** The model this step calls, as a service (default: the `LanguageModel` in context). */
  readonly model?: LanguageModel.Service | undefined
  /**
   * The model this step asks the `ModelFactory` in context for: its own provider, model, base
   * URL or provider options, with the configuration's guard, observability, budget and
   * resilience. Without a factory in context the step fails with a `Configuration` error.
   */
  readonly target?: ModelFactory.Target | undefined
  /**
   * The task type this step's calls are routed as, through the `Router` in context (whose
   * candidates come from the same `ModelFactory`). Without a router the step fails with a
   * `Configuration` error.
   */
  readonly taskType?: string | undefined
  readonly run: (context: StepContext) => Effect.Effect<unknown, LlmError.LlmError, R | LanguageModel.LanguageModel>
}

/**
 * A runnable workflow.
 *
 * @since 0.1.0
 * @category models
 */
export interface Definition<R = never> {
  readonly name: string
  readonly steps: ReadonlyArray<StepSpec<R>>
  /** At most this many steps run at once (default: all that are ready). */
  readonly concurrency?: number | undefined
  /** The run's budget (shared by its steps). */
  readonly budget?: BudgetLimits | undefined
}

/**
 * A run's outcome when it completes.
 *
 * @since 0.1.0
 * @category models
 */
export interface RunResult extends RunState.RunSnapshot {
  readonly outputs: Readonly<Record<string, unknown>>
}

/**
 * Options of a run (`Executor.start`, `Executor.execute`).
 *
 * @since 0.1.0
 * @category models
 */
export interface StartOptions {
  readonly runId: string
  readonly input: Readonly<Record<string, unknown>>
  /** Defaults to the run id. */
  readonly correlationId?: string | undefined
  /** Steps already finished (read back from a journal): not run again. */
  readonly resumed?: ReadonlyArray<Journal.StepEntry> | undefined
  /** Written as the journal's first entry (not on resume). */
  readonly source?: { readonly path?: string | undefined; readonly hash?: string | undefined } | undefined
  /**
   * What the front door resolved to run with (never a key), written in the journal's first entry
   * so that a resume can continue with the same settings (`Journal.StartEntry.settings`).
   */
  readonly settings?: Readonly<Record<string, unknown>> | undefined
  /**
   * Request settings for every model call of the run that does not set its own (the CLI's
   * `--system`, `--max-tokens`, `--temperature`): a step's own values win.
   */
  readonly requestDefaults?: RequestDefaults | undefined
}

/**
 * Request settings a run gives the calls that set none.
 *
 * @since 0.1.0
 * @category models
 */
export interface RequestDefaults {
  readonly system?: string | undefined
  readonly maxTokens?: number | undefined
  readonly temperature?: number | undefined
}

/**
 * A started run.
 *
 * @since 0.1.0
 * @category models
 */
export interface RunControl {
  readonly runId: string
  /** The current state of the run and its steps. */
  readonly snapshot: Effect.Effect<RunState.RunSnapshot>
  /** Starts no new step; steps in flight finish. */
  readonly cancel: Effect.Effect<void>
  /** Waits for the end of the run. */
  readonly await: Effect.Effect<RunResult, WorkflowError.WorkflowError>
  /** Stops at once (steps in flight are interrupted), marking the run `state`. */
  readonly interrupt: (state: "cancelled" | "timeout") => Effect.Effect<RunState.RunSnapshot>
}
