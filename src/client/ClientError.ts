/**
 * The one error the Promise client (`createClient`) throws: `LlmConnectError`, a plain `Error`
 * subclass, so that code without Effect catches it with `instanceof` and reads its fields.
 *
 * Every failure of a call becomes one: an `LlmError` keeps its reason's tag as `reason`
 * (`"Authentication"`, `"BudgetExceeded"`, ...) with the reason's own fields on the error
 * (`dimension`, `limit`, `retryAfterMs`, `setting`, `fix`...), plus `retryable`, `provider`,
 * `model`, `status` and `requestId`; an aborted signal is `reason: "Interrupted"` with
 * `cause: signal.reason`; a workflow failure is the failing step's reason (with `workflow`,
 * `step` and `runId`) or the CLI's `Workflow<Reason>` tag (`"WorkflowTimeout"`...); a defect (a
 * bug, a plugin that threw) is `reason: "Unknown"` naming it. Never a raw `Cause` or
 * `FiberFailure`. Messages are scrubbed of secrets (`Redaction.scrubText`).
 *
 * @since 0.1.0
 */
import { Cause } from "effect"
import * as LlmError from "../LlmError.ts"
import * as Redaction from "../observability/Redaction.ts"
import * as WorkflowError from "../workflow/WorkflowError.ts"

/**
 * What `error.reason` can be: an `LlmError` reason's tag, or a workflow's own failure.
 *
 * @since 0.1.0
 * @category models
 */
export type Reason =
  | LlmError.ReasonTag
  | "WorkflowInvalid"
  | "WorkflowTimeout"
  | "WorkflowCancelled"
  | "WorkflowNotFound"
  | "WorkflowJournal"

/**
 * The fields an `LlmConnectError` may carry besides `reason` and `message`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Fields {
  readonly reason: Reason
  readonly message: string
  readonly retryable: boolean
  readonly cause?: unknown
  readonly provider?: string | undefined
  readonly model?: string | undefined
  readonly status?: number | undefined
  readonly requestId?: string | undefined
  readonly description?: string | undefined
  /** `Configuration`: the setting to fix, and how. */
  readonly setting?: string | undefined
  readonly fix?: string | undefined
  /** `BudgetExceeded`: which limit, its value, what was consumed, reserved and asked for. */
  readonly dimension?: LlmError.BudgetDimension | undefined
  readonly limit?: number | undefined
  readonly consumed?: number | undefined
  readonly reserved?: number | undefined
  readonly requested?: number | undefined
  readonly overshoot?: number | undefined
  /** `RateLimited`: the provider's hint. */
  readonly retryAfterMs?: number | undefined
  /** `InvalidRequest`: the parameter at fault. */
  readonly parameter?: string | undefined
  /** `Timeout`: which timeout (`attempt`, `call`, `idle`), the attempts made, the time spent. */
  readonly scope?: "attempt" | "call" | "idle" | undefined
  readonly attempts?: number | undefined
  readonly elapsedMs?: number | undefined
  /** `WorkflowTimeout`: the run's timeout. */
  readonly timeoutMs?: number | undefined
  /** `CircuitOpen`: until when (epoch ms). */
  readonly untilMs?: number | undefined
  /** `Unsupported`: the missing feature. */
  readonly feature?: string | undefined
  /** `InvalidOutput`: the text received and why it was refused. */
  readonly raw?: string | undefined
  readonly issues?: ReadonlyArray<string> | undefined
  /** What a failed call still cost. */
  readonly spent?: LlmError.Spent | undefined
  /** A workflow's failure: which workflow, run and step. */
  readonly workflow?: string | undefined
  readonly runId?: string | undefined
  readonly step?: string | undefined
}

/**
 * The error every method of the Promise client rejects (or `createClient` throws) with.
 *
 * @since 0.1.0
 * @category errors
 * @example
 * try { await llm.generate("Hi") } catch (error) {
 *   if (error instanceof LlmConnectError && error.reason === "BudgetExceeded") console.log(error.dimension)
 * }
 */
export class LlmConnectError extends Error {
  override readonly name = "LlmConnectError"
  /** The reason's tag: `"Authentication"`, `"RateLimited"`, `"BudgetExceeded"`, `"Interrupted"`... */
  readonly reason: Reason
  /** Whether retrying the call can help. */
  readonly retryable: boolean
  declare readonly provider?: string
  declare readonly model?: string
  declare readonly status?: number
  declare readonly requestId?: string
  declare readonly description?: string
  declare readonly setting?: string
  declare readonly fix?: string
  declare readonly dimension?: LlmError.BudgetDimension
  declare readonly limit?: number
  declare readonly consumed?: number
  declare readonly reserved?: number
  declare readonly requested?: number
  declare readonly overshoot?: number
  declare readonly retryAfterMs?: number
  declare readonly parameter?: string
  declare readonly scope?: "attempt" | "call" | "idle"
  declare readonly attempts?: number
  declare readonly elapsedMs?: number
  declare readonly timeoutMs?: number
  declare readonly untilMs?: number
  declare readonly feature?: string
  declare readonly raw?: string
  declare readonly issues?: ReadonlyArray<string>
  declare readonly spent?: LlmError.Spent
  declare readonly workflow?: string
  declare readonly runId?: string
  declare readonly step?: string

  constructor(fields: Fields) {
    super(Redaction.scrubText(fields.message), fields.cause === undefined ? undefined : { cause: fields.cause })
    this.reason = fields.reason
    this.retryable = fields.retryable
    for (const [key, value] of Object.entries(fields)) {
      if (value !== undefined && key !== "message" && key !== "cause" && key !== "reason" && key !== "retryable") {
        Object.defineProperty(this, key, { value, enumerable: true, writable: false, configurable: true })
      }
    }
  }
}

/**
 * An `LlmError` as an `LlmConnectError`: its reason's tag and fields, provider, model, status.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromLlmError = (error: LlmError.LlmError, extra: Partial<Fields> = {}): LlmConnectError => {
  const { _tag, ...fields } = error.reason
  return new LlmConnectError({
    provider: error.provider,
    model: error.model,
    status: error.status,
    requestId: error.requestId,
    spent: error.spent,
    // The reason's own fields (a `NotFound`'s model is the one that was not found).
    ...(fields as Partial<Fields>),
    reason: _tag,
    message: error.message,
    retryable: error.isRetryable,
    cause: error,
    ...extra
  })
}

/**
 * A `WorkflowError` as an `LlmConnectError`: a failed step is its call's reason (with the
 * workflow, step and run); any other failure is `Workflow<Reason>`, as the CLI's `errorType`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromWorkflowError = (error: WorkflowError.WorkflowError): LlmConnectError => {
  const where = { workflow: error.workflow, runId: error.runId }
  const reason = error.reason
  if (reason._tag === "StepFailed") {
    return fromLlmError(reason.cause, { ...where, step: reason.step, attempts: reason.attempt, message: error.message })
  }
  return new LlmConnectError({
    reason: `Workflow${reason._tag}`,
    message: error.message,
    retryable: false,
    cause: error,
    ...where,
    ...(reason._tag === "Timeout" ? { timeoutMs: reason.timeoutMs } : {}),
    ...(reason._tag === "Journal" ? { description: reason.description, fix: reason.fix } : {}),
    ...(reason._tag === "NotFound" ? { description: reason.description } : {}),
    ...(reason._tag === "Invalid" ? { issues: reason.issues.map(WorkflowError.formatIssue) } : {})
  })
}

/**
 * The error of a call stopped by its `AbortSignal`: `reason: "Interrupted"`, `cause: signal.reason`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const aborted = (signal: AbortSignal): LlmConnectError =>
  new LlmConnectError({
    reason: "Interrupted",
    message: "Interrupted: the call was aborted by its AbortSignal before it finished",
    retryable: false,
    cause: signal.reason
  })

/**
 * A `Configuration` error (a bad option, a closed client).
 *
 * @since 0.1.0
 * @category constructors
 */
export const configuration = (setting: string, description: string, fix: string): LlmConnectError =>
  fromLlmError(LlmError.make("client", new LlmError.Configuration({ description, setting, fix })))

const describeDefect = (defect: unknown): string =>
  defect instanceof Error ? `${defect.name}: ${defect.message}` : typeof defect === "string" ? defect : String(defect)

/**
 * Whatever an Effect failed with, as an `LlmConnectError`: its first typed error (`LlmError`,
 * `WorkflowError`, an `LlmConnectError` raised by the client itself), else its defect
 * (`Unknown`), else an interruption (`Interrupted`; with the signal's reason when it was aborted).
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromCause = (cause: Cause.Cause<unknown>, signal?: AbortSignal | undefined): LlmConnectError => {
  const interrupted = Cause.hasInterrupts(cause)
  if (signal?.aborted === true && interrupted) return aborted(signal)
  for (const reason of cause.reasons) {
    if (reason._tag !== "Fail") continue
    const error = reason.error
    if (error instanceof LlmConnectError) return error
    if (LlmError.isLlmError(error)) {
      return signal?.aborted === true && error.reason._tag === "Interrupted" ? aborted(signal) : fromLlmError(error)
    }
    if (error instanceof WorkflowError.WorkflowError) return fromWorkflowError(error)
    return new LlmConnectError({ reason: "Unknown", message: `Unknown: ${describeDefect(error)}`, retryable: false, cause: error })
  }
  for (const reason of cause.reasons) {
    if (reason._tag !== "Die") continue
    if (reason.defect instanceof LlmConnectError) return reason.defect
    return new LlmConnectError({
      reason: "Unknown",
      message: `Unknown: an unexpected error (a defect) stopped the call: ${describeDefect(reason.defect)}`,
      retryable: false,
      cause: reason.defect
    })
  }
  return new LlmConnectError({
    reason: "Interrupted",
    message: "Interrupted: the call was stopped before it finished (the client was closed, or the process is shutting down)",
    retryable: false
  })
}
