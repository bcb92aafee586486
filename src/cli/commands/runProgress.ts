/**
 * The progress of `llm-connect run` on stderr, one line per event: readable lines on a
 * terminal, JSON lines otherwise (`{"event":"step","step":"outline","state":"completed",...}`),
 * so that scripts and tests can follow a run while stdout keeps only the result.
 *
 * @since 0.1.0
 */
import { Console, Effect } from "effect"
import * as DurationText from "../../Duration.ts"
import type * as RunState from "../../workflow/RunState.ts"
import * as WorkflowError from "../../workflow/WorkflowError.ts"
import type * as WorkflowHooks from "../../workflow/WorkflowHooks.ts"
import * as Output from "../Output.ts"
import type * as WorkflowDefinition from "../../workflow/WorkflowDefinition.ts"

/**
 * What the command reports through.
 *
 * @since 0.1.0
 * @category models
 */
export interface Progress {
  readonly hooks: WorkflowHooks.Hooks
  readonly start: (steps: number, resumed: number) => Effect.Effect<void>
  readonly cancelling: Effect.Effect<void>
  readonly end: (result: WorkflowDefinition.RunResult) => Effect.Effect<void>
}

const tokens = (count: number | undefined): string => `${count ?? 0} tokens`

/**
 * `completed in 52ms, 45 tokens` (and `, from the journal` for a resumed step).
 *
 * @since 0.1.0
 * @category formatting
 */
export const stepFacts = (step: RunState.StepSnapshot): string =>
  `${step.state}${step.durationMs !== undefined ? ` in ${DurationText.formatMillis(step.durationMs)}` : ""}${
    step.usage !== undefined ? `, ${tokens(step.usage.totalTokens)}` : ""
  }${step.resumed === true ? ", from the journal" : ""}`

/**
 * The totals line of a run.
 *
 * @since 0.1.0
 * @category formatting
 */
export const totals = (snapshot: RunState.RunSnapshot): string => {
  const { inputTokens, outputTokens, totalTokens } = snapshot.usage
  const time = snapshot.durationMs !== undefined ? ` in ${DurationText.formatMillis(snapshot.durationMs)}` : ""
  return `run ${snapshot.runId} ${snapshot.state}${time}: ${snapshot.steps.length} steps, ${totalTokens} tokens (${inputTokens} in + ${outputTokens} out)`
}

/**
 * Builds the progress reporter of one run.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: { readonly json: boolean; readonly workflow: string; readonly runId: string }): Progress => {
  const { json, runId, workflow } = options
  const emit = (event: Record<string, unknown>, text: string) =>
    json ? Console.error(JSON.stringify({ runId, ...event })) : Output.notice(text)
  return {
    hooks: {
      beforeStep: (event) =>
        emit(
          { event: "step", step: event.step, state: "running", attempt: event.attempt, at: event.startedAt },
          `▸ ${event.step} running${event.attempt > 1 ? ` (attempt ${event.attempt})` : ""}`
        ),
      afterStep: (event) =>
        emit(
          { event: "step", step: event.step, state: "completed", attempt: event.attempt, durationMs: event.durationMs, usage: event.usage },
          `✓ ${event.step} completed in ${DurationText.formatMillis(event.durationMs)}, ${tokens(event.usage.totalTokens)}`
        ),
      onError: (event) =>
        emit(
          {
            event: "step",
            step: event.step,
            state: event.willRetry ? "retrying" : "failed",
            attempt: event.attempt,
            durationMs: event.durationMs,
            error: event.error.message
          },
          `✗ ${event.step} attempt ${event.attempt} failed: ${event.error.message}${event.willRetry ? " (retrying)" : ""}`
        )
    },
    start: (steps, resumed) =>
      emit(
        { event: "run", state: "running", workflow, steps, resumed },
        `run ${runId}: workflow "${workflow}", ${steps} steps${resumed > 0 ? `, ${resumed} already finished (resumed)` : ""}` +
          ` (resume with: llm-connect run --resume ${runId})`
      ),
    cancelling: emit(
      { event: "run", state: "cancelling" },
      "cancelling: steps in flight will finish, no new step starts (Ctrl-C again to stop at once)"
    ),
    end: (result) => emit({ event: "run", state: result.state, durationMs: result.durationMs, usage: result.usage }, totals(result))
  }
}

/**
 * A short message for the final error line.
 *
 * @since 0.1.0
 * @category formatting
 */
export const failureSummary = (error: WorkflowError.WorkflowError): string => {
  const reason = error.reason
  const run = error.runId !== undefined ? ` (run ${error.runId}; resume with: llm-connect run --resume ${error.runId})` : ""
  switch (reason._tag) {
    case "Invalid":
      return `workflow "${error.workflow}" is invalid: ${reason.issues.length} problem${reason.issues.length === 1 ? "" : "s"}, nothing ran`
    case "StepFailed":
      return `step "${reason.step}" failed on attempt ${reason.attempt}: ${reason.cause.message}${run}`
    case "Timeout":
      return `the run timed out after ${DurationText.formatMillis(reason.timeoutMs)}${run}`
    case "Cancelled":
      return `the run was cancelled${run}`
    default:
      return error.message
  }
}

/**
 * Writes the details of a failure to stderr: each validation problem on its own line
 * (`file:line:column: message`), or the state of each step.
 *
 * @since 0.1.0
 * @category output
 */
export const reportFailure = (error: WorkflowError.WorkflowError): Effect.Effect<void> => {
  const reason = error.reason
  if (reason._tag === "Invalid") {
    return Effect.forEach(reason.issues, (issue) => Console.error(`${Output.PREFIX} ${WorkflowError.formatIssue(issue)}`), {
      discard: true
    })
  }
  const snapshot = reason._tag === "StepFailed" ? reason.snapshot : reason._tag === "Timeout" || reason._tag === "Cancelled"
    ? reason.snapshot
    : undefined
  if (snapshot === undefined) return Effect.void
  return Effect.forEach(
    snapshot.steps,
    (step) => Output.notice(`  ${step.id}: ${stepFacts(step)}${step.error !== undefined ? ` (${step.error})` : ""}`),
    { discard: true }
  ).pipe(Effect.andThen(Output.notice(totals(snapshot))))
}

