/**
 * The state of a workflow run and of each of its steps, as seen from outside.
 *
 * A run and each step move `pending -> running -> completed | failed | cancelled | timeout`,
 * with timestamps taken from `Clock`. A {@link RunSnapshot} is what `status` returns, what a
 * timeout or cancellation error carries, and (with the outputs) what a finished run returns.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import * as Usage from "../Usage.ts"

/**
 * The states of a run or a step.
 *
 * @since 0.1.0
 * @category schemas
 */
export const State = Schema.Literals(["pending", "running", "completed", "failed", "cancelled", "timeout"]).annotate({
  identifier: "WorkflowState"
})

/**
 * @since 0.1.0
 * @category models
 */
export type State = typeof State.Type

/**
 * Whether a state is final.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isFinal = (state: State): boolean => state !== "pending" && state !== "running"

/**
 * One step of a run.
 *
 * @since 0.1.0
 * @category schemas
 */
export const StepSnapshot = Schema.Struct({
  id: Schema.String,
  state: State,
  attempts: Schema.Int,
  startedAt: Schema.optionalKey(Schema.Number).annotate({ description: "Epoch milliseconds (Clock)." }),
  finishedAt: Schema.optionalKey(Schema.Number),
  durationMs: Schema.optionalKey(Schema.Number),
  output: Schema.optionalKey(Schema.Unknown),
  usage: Schema.optionalKey(Usage.Usage),
  error: Schema.optionalKey(Schema.String),
  resumed: Schema.optionalKey(Schema.Boolean).annotate({
    description: "True when the output was read back from the journal instead of run again."
  })
}).annotate({ identifier: "WorkflowStepSnapshot" })

/**
 * @since 0.1.0
 * @category models
 */
export type StepSnapshot = typeof StepSnapshot.Type

/**
 * A whole run.
 *
 * @since 0.1.0
 * @category schemas
 */
export const RunSnapshot = Schema.Struct({
  runId: Schema.String,
  workflow: Schema.String,
  state: State,
  createdAt: Schema.Number,
  startedAt: Schema.optionalKey(Schema.Number),
  finishedAt: Schema.optionalKey(Schema.Number),
  durationMs: Schema.optionalKey(Schema.Number),
  usage: Usage.Usage,
  steps: Schema.Array(StepSnapshot),
  error: Schema.optionalKey(Schema.String)
}).annotate({ identifier: "WorkflowRunSnapshot" })

/**
 * @since 0.1.0
 * @category models
 */
export type RunSnapshot = typeof RunSnapshot.Type

/**
 * The outputs of the finished steps, by step id.
 *
 * @since 0.1.0
 * @category accessors
 */
export const outputs = (snapshot: RunSnapshot): Record<string, unknown> => {
  const result: Record<string, unknown> = {}
  for (const step of snapshot.steps) if (step.state === "completed") result[step.id] = step.output
  return result
}

/**
 * The ids of the steps in a given state.
 *
 * @since 0.1.0
 * @category accessors
 */
export const stepsIn = (snapshot: RunSnapshot, state: State): ReadonlyArray<string> =>
  snapshot.steps.filter((step) => step.state === state).map((step) => step.id)

/**
 * A one-line summary: `3 completed, 1 running` (states with no step left out).
 *
 * @since 0.1.0
 * @category formatting
 */
export const summary = (snapshot: RunSnapshot): string => {
  const counts = new Map<State, number>()
  for (const step of snapshot.steps) counts.set(step.state, (counts.get(step.state) ?? 0) + 1)
  return [...counts].map(([state, count]) => `${count} ${state}`).join(", ")
}
