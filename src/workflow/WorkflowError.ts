/**
 * The one error type of workflows.
 *
 * A model call fails with `LlmError`; a workflow wraps it with what a user needs to find the
 * problem: which step, which attempt, and the run's state when it stopped. The reasons:
 *
 * | reason        | when                                                                  |
 * |---------------|-----------------------------------------------------------------------|
 * | `Invalid`     | the workflow or its inputs failed validation (nothing ran); every issue, with file and line |
 * | `StepFailed`  | a step failed after its attempts; names the step, the attempt and the cause |
 * | `Timeout`     | the client timeout ran out; carries the state (finished and running steps) |
 * | `Cancelled`   | the run was cancelled; in-flight steps finished, no new one started   |
 * | `NotFound`    | no run with that id (never started, already retrieved, or expired)    |
 * | `Journal`     | a journal cannot be resumed (missing, corrupt, or the workflow file changed) |
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import * as LlmError from "../LlmError.ts"
import * as Redaction from "../observability/Redaction.ts"
import { RunSnapshot } from "./RunState.ts"

/**
 * One validation problem, located in the workflow file when there is one.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Issue = Schema.Struct({
  message: Schema.String,
  path: Schema.String.annotate({ description: "Where in the document, e.g. steps[1].needs[0]." }),
  file: Schema.optionalKey(Schema.String),
  line: Schema.optionalKey(Schema.Int),
  column: Schema.optionalKey(Schema.Int)
}).annotate({ identifier: "WorkflowIssue" })

/**
 * @since 0.1.0
 * @category models
 */
export type Issue = typeof Issue.Type

/**
 * Formats an issue as `file:line:column: message (at path)`.
 *
 * @since 0.1.0
 * @category formatting
 */
export const formatIssue = (issue: Issue): string => {
  const where = issue.file === undefined
    ? ""
    : `${issue.file}${issue.line !== undefined ? `:${issue.line}:${issue.column ?? 1}` : ""}: `
  return `${where}${issue.message}${issue.path === "" ? "" : ` (at ${issue.path})`}`
}

/**
 * The workflow or its inputs are invalid; nothing ran.
 *
 * @since 0.1.0
 * @category reasons
 */
export class Invalid extends Schema.TaggedClass<Invalid>()("Invalid", { issues: Schema.Array(Issue) }) {}

/**
 * A step failed.
 *
 * @since 0.1.0
 * @category reasons
 */
export class StepFailed extends Schema.TaggedClass<StepFailed>()("StepFailed", {
  step: Schema.String,
  attempt: Schema.Int,
  cause: LlmError.LlmError,
  snapshot: Schema.optionalKey(RunSnapshot)
}) {}

/**
 * The client timeout ran out.
 *
 * @since 0.1.0
 * @category reasons
 */
export class Timeout extends Schema.TaggedClass<Timeout>()("Timeout", {
  timeoutMs: Schema.Number,
  snapshot: RunSnapshot
}) {}

/**
 * The run was cancelled.
 *
 * @since 0.1.0
 * @category reasons
 */
export class Cancelled extends Schema.TaggedClass<Cancelled>()("Cancelled", { snapshot: RunSnapshot }) {}

/**
 * No such run.
 *
 * @since 0.1.0
 * @category reasons
 */
export class NotFound extends Schema.TaggedClass<NotFound>()("NotFound", { description: Schema.String }) {}

/**
 * A journal cannot be used.
 *
 * @since 0.1.0
 * @category reasons
 */
export class Journal extends Schema.TaggedClass<Journal>()("Journal", {
  description: Schema.String,
  fix: Schema.String
}) {}

/**
 * @since 0.1.0
 * @category schemas
 */
export const WorkflowErrorReason = Schema.Union([Invalid, StepFailed, Timeout, Cancelled, NotFound, Journal])

/**
 * @since 0.1.0
 * @category models
 */
export type WorkflowErrorReason = typeof WorkflowErrorReason.Type

/**
 * The error of a workflow run.
 *
 * @since 0.1.0
 * @category errors
 */
export class WorkflowError extends Schema.TaggedError<WorkflowError>()("WorkflowError", {
  workflow: Schema.String,
  runId: Schema.optionalKey(Schema.String),
  reason: WorkflowErrorReason
}) {
  override get message(): string {
    const run = this.runId === undefined ? "" : ` run ${this.runId}`
    const head = this.workflow === UNKNOWN ? (this.runId === undefined ? "the workflow" : `run ${this.runId}`) : `workflow "${this.workflow}"${run}`
    const reason = this.reason
    switch (reason._tag) {
      case "Invalid":
        return `${head} is invalid (${reason.issues.length} problem${reason.issues.length === 1 ? "" : "s"}):\n` +
          reason.issues.map((issue) => `  ${formatIssue(issue)}`).join("\n")
      case "StepFailed":
        return `${head}: step "${reason.step}" failed on attempt ${reason.attempt}: ${reason.cause.message}`
      case "Timeout":
        return `${head} timed out after ${reason.timeoutMs}ms; finished: [${
          reason.snapshot.steps.filter((s) => s.state === "completed").map((s) => s.id).join(", ")
        }], running: [${reason.snapshot.steps.filter((s) => s.state === "running").map((s) => s.id).join(", ")}]`
      case "Cancelled":
        return `${head} was cancelled; finished: [${
          reason.snapshot.steps.filter((s) => s.state === "completed").map((s) => s.id).join(", ")
        }]`
      case "NotFound":
        return `${head}: ${reason.description}`
      case "Journal":
        return `${head}: ${reason.description}. Fix: ${reason.fix}`
    }
  }
}

/**
 * The workflow name used when it is not known yet (a run id that does not exist, bad flags).
 *
 * @since 0.1.0
 * @category constants
 */
export const UNKNOWN = "?"

/**
 * Builds a {@link WorkflowError}.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (workflow: string, reason: WorkflowErrorReason, runId?: string): WorkflowError =>
  new WorkflowError({ workflow, reason, ...(runId !== undefined ? { runId } : {}) })

/**
 * Builds an `Invalid` error from issues.
 *
 * @since 0.1.0
 * @category constructors
 */
export const invalid = (workflow: string, issues: ReadonlyArray<Issue>): WorkflowError =>
  make(workflow, new Invalid({ issues }))

/**
 * The JSON document the CLI prints for a workflow failure.
 *
 * @since 0.1.0
 * @category formatting
 */
export const toDocument = (error: WorkflowError): Record<string, unknown> => {
  const reason = error.reason
  const base = {
    error: Redaction.scrubText(error.message),
    errorType: `Workflow${reason._tag}`,
    workflow: error.workflow,
    ...(error.runId !== undefined ? { runId: error.runId } : {})
  }
  switch (reason._tag) {
    case "Invalid":
      return { ...base, issues: reason.issues }
    case "StepFailed":
      return {
        ...base,
        step: reason.step,
        attempt: reason.attempt,
        cause: LlmError.toDocument(reason.cause),
        ...(reason.snapshot !== undefined ? { snapshot: reason.snapshot } : {})
      }
    case "Timeout":
      return { ...base, timeoutMs: reason.timeoutMs, snapshot: reason.snapshot }
    case "Cancelled":
      return { ...base, snapshot: reason.snapshot }
    case "NotFound":
      return base
    case "Journal":
      return { ...base, fix: reason.fix }
  }
}
