/**
 * The documents of serve's workflow runs (`WorkflowRuns`): a run's state ({@link RunDocument},
 * `contracts/workflow-run.schema.json`), its progress events ({@link RunEvent},
 * `contracts/workflow-run-event.schema.json`), the start request, and how they are made from the
 * executor's snapshot or read back from a run's journal.
 *
 * @since 0.1.0
 */
import { Option, Schema } from "effect"
import * as BridgeContract from "../bridge/BridgeContract.ts"
import * as Redaction from "../observability/Redaction.ts"
import * as Usage from "../Usage.ts"
import type * as Journal from "../workflow/Journal.ts"
import * as RunState from "../workflow/RunState.ts"
import type * as WorkflowError from "../workflow/WorkflowError.ts"
/**
 * The status of a run: `pending` (not started yet), `running`, `succeeded`, `failed`,
 * `cancelled`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const RunStatus = Schema.Literals(["pending", "running", "succeeded", "failed", "cancelled"]).annotate({
  identifier: "WorkflowRunStatus"
})

/**
 * @since 0.1.0
 * @category models
 */
export type RunStatus = typeof RunStatus.Type

/**
 * Why a run failed or was cancelled.
 *
 * @since 0.1.0
 * @category schemas
 */
export const RunError = Schema.Struct({
  error: Schema.String.annotate({ description: "What went wrong, for a person (never a key or a prompt)." }),
  errorType: Schema.String.annotate({
    description: "The failed step's LlmError reason (RateLimited, BudgetExceeded, Timeout...), Cancelled, or Interrupted."
  }),
  step: Schema.optionalKey(Schema.String).annotate({ description: "The step that failed." }),
  attempt: Schema.optionalKey(Schema.Int).annotate({ description: "The attempt of that step that failed last (1 when it was not retried)." })
}).annotate({ identifier: "WorkflowRunError" })

/**
 * @since 0.1.0
 * @category models
 */
export type RunError = typeof RunError.Type

/**
 * The state of a run, as `GET /v1/runs/{id}` returns it (`contracts/workflow-run.schema.json`).
 *
 * @since 0.1.0
 * @category schemas
 */
export const RunDocument = Schema.Struct({
  runId: Schema.String,
  workflow: Schema.String,
  status: RunStatus,
  createdAt: Schema.Number.annotate({ description: "Epoch milliseconds." }),
  startedAt: Schema.optionalKey(Schema.Number),
  finishedAt: Schema.optionalKey(Schema.Number),
  durationMs: Schema.optionalKey(Schema.Number),
  stepsDone: Schema.Array(Schema.String).annotate({ description: "The ids of the steps that completed, in the workflow's order." }),
  steps: Schema.Array(RunState.StepSnapshot).annotate({
    description: "Each step's state, attempts, times, output and usage (a run read back from its journal lists its finished steps and the step that failed)."
  }),
  outputs: Schema.Record(Schema.String, Schema.Unknown).annotate({ description: "The outputs of the completed steps, by step id." }),
  usage: Usage.Usage,
  error: Schema.optionalKey(RunError),
  stored: Schema.optionalKey(Schema.Boolean).annotate({
    description: "True when the run is no longer in memory and was read back from its journal."
  })
}).annotate({ identifier: "WorkflowRun", description: "The state of a workflow run of llm-connect serve." })

/**
 * @since 0.1.0
 * @category models
 */
export type RunDocument = typeof RunDocument.Type

const EventBase = { runId: Schema.String, at: Schema.Number.annotate({ description: "Epoch milliseconds." }) }

/**
 * One progress event of a run (`GET /v1/runs/{id}/events`, one server-sent event each, its
 * `event:` the `type`).
 *
 * @since 0.1.0
 * @category schemas
 */
export const RunEvent = Schema.Union([
  Schema.Struct({ type: Schema.Literal("run.started"), ...EventBase, workflow: Schema.String }),
  Schema.Struct({ type: Schema.Literal("step.started"), ...EventBase, step: Schema.String, attempt: Schema.Int }),
  Schema.Struct({
    type: Schema.Literal("step.finished"),
    ...EventBase,
    step: Schema.String,
    attempt: Schema.Int,
    durationMs: Schema.Number,
    usage: Usage.Usage
  }),
  Schema.Struct({
    type: Schema.Literal("step.failed"),
    ...EventBase,
    step: Schema.String,
    attempt: Schema.Int,
    durationMs: Schema.Number,
    error: Schema.String,
    errorType: Schema.String,
    willRetry: Schema.Boolean
  }),
  Schema.Struct({
    type: Schema.Literal("run.finished"),
    ...EventBase,
    status: RunStatus,
    usage: Usage.Usage,
    error: Schema.optionalKey(RunError)
  })
]).annotate({ identifier: "WorkflowRunEvent" })

/**
 * @since 0.1.0
 * @category models
 */
export type RunEvent = typeof RunEvent.Type

/**
 * The start request (`POST /v1/workflows/{name}/runs`): the run's inputs and its budget.
 *
 * @since 0.1.0
 * @category schemas
 */
export const StartRequest = Schema.Struct({
  input: Schema.optionalKey(Schema.NullOr(Schema.Record(Schema.String, Schema.Unknown))).annotate({
    description: "The workflow's inputs by name (declared in its file; an input with no default is required)."
  }),
  budget: Schema.optionalKey(Schema.NullOr(BridgeContract.RequestBudget)).annotate({
    description: "The run's budget over the configured one (under the caller's virtual key's budget)."
  })
}).annotate({ identifier: "WorkflowRunRequest" })

/**
 * @since 0.1.0
 * @category models
 */
export type StartRequest = typeof StartRequest.Type

const statusOf = (state: RunState.State): RunStatus =>
  state === "completed" ? "succeeded" : state === "timeout" ? "failed" : state

/**
 * The document of a run's snapshot.
 *
 * @since 0.1.0
 * @category documents
 */
export const documentOf = (snapshot: RunState.RunSnapshot, error?: RunError | undefined): RunDocument => ({
  runId: snapshot.runId,
  workflow: snapshot.workflow,
  status: statusOf(snapshot.state),
  createdAt: snapshot.createdAt,
  ...(snapshot.startedAt !== undefined ? { startedAt: snapshot.startedAt } : {}),
  ...(snapshot.finishedAt !== undefined ? { finishedAt: snapshot.finishedAt } : {}),
  ...(snapshot.durationMs !== undefined ? { durationMs: snapshot.durationMs } : {}),
  stepsDone: RunState.stepsIn(snapshot, "completed"),
  steps: snapshot.steps,
  outputs: RunState.outputs(snapshot),
  usage: snapshot.usage,
  ...(error !== undefined ? { error } : {})
})

/**
 * The error of a run that ended with a workflow error: the failed step's `LlmError` reason, or
 * `Cancelled`.
 *
 * @since 0.1.0
 * @category documents
 */
export const errorOf = (error: WorkflowError.WorkflowError): RunError => {
  const reason = error.reason
  const message = Redaction.scrubText(error.message)
  switch (reason._tag) {
    case "StepFailed":
      return { error: message, errorType: reason.cause.reason._tag, step: reason.step, attempt: reason.attempt }
    case "Cancelled":
      return { error: message, errorType: "Cancelled" }
    default:
      return { error: message, errorType: `Workflow${reason._tag}` }
  }
}

/**
 * A run no longer in memory, from its journal entries, and the owner its start entry names
 * (`undefined` when the journal has no start entry).
 *
 * @since 0.1.0
 * @category documents
 */
export const storedDocument = (runId: string, entries: ReadonlyArray<Journal.Entry>): { owner: unknown; run: RunDocument } | undefined => {
  const start = entries[0]
  if (start === undefined || start.type !== "start") return undefined
  const steps: Array<RunState.StepSnapshot> = []
  let usage = Usage.empty
  let end: Journal.Entry & { readonly type: "end" } | undefined
  for (const entry of entries) {
    if (entry.type === "step") {
      steps.push({
        id: entry.step,
        state: "completed",
        attempts: entry.attempts,
        startedAt: entry.startedAt,
        finishedAt: entry.finishedAt,
        durationMs: entry.finishedAt - entry.startedAt,
        output: entry.output,
        usage: entry.usage
      })
      usage = Usage.add(usage, entry.usage)
    } else if (entry.type === "end") end = entry
  }
  const state = end === undefined ? undefined : Schema.decodeUnknownOption(RunState.State)(end.state)
  const status: RunStatus = state === undefined || Option.isNone(state) ? "failed" : statusOf(state.value)
  const error: RunError | undefined = end === undefined
    ? { error: "the server stopped before this run ended (its journal has no end entry); start it again", errorType: "Interrupted" }
    : status === "cancelled"
    ? { error: `run ${runId} was cancelled`, errorType: "Cancelled" }
    : status === "failed" && end.error !== undefined
    ? { error: end.error.message, errorType: end.error.errorType, step: end.error.step, attempt: end.error.attempt }
    : status === "failed"
    ? { error: `run ${runId} failed (its journal, written by an older llm-connect, does not say which step)`, errorType: "StepFailed" }
    : undefined
  const failedStep = end?.error
  if (status === "failed" && failedStep !== undefined) {
    steps.push({
      id: failedStep.step,
      state: "failed",
      attempts: failedStep.attempt,
      ...(failedStep.startedAt !== undefined ? { startedAt: failedStep.startedAt } : {}),
      ...(failedStep.finishedAt !== undefined ? { finishedAt: failedStep.finishedAt } : {}),
      ...(failedStep.startedAt !== undefined && failedStep.finishedAt !== undefined
        ? { durationMs: failedStep.finishedAt - failedStep.startedAt }
        : {}),
      error: failedStep.message
    })
  }
  const run: RunDocument = {
    runId,
    workflow: start.workflow,
    status,
    createdAt: start.at,
    startedAt: start.at,
    ...(end !== undefined ? { finishedAt: end.at, durationMs: end.at - start.at } : {}),
    stepsDone: steps.filter((step) => step.state === "completed").map((step) => step.id),
    steps,
    outputs: Object.fromEntries(steps.filter((step) => step.state === "completed").map((step) => [step.id, step.output])),
    usage,
    ...(error !== undefined ? { error } : {}),
    stored: true
  }
  return { owner: start.settings?.["owner"], run }
}

