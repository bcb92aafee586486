/**
 * The state of one run (internal to the executor): the run's state, each step's snapshot, the
 * outputs of finished steps and the usage so far.
 *
 * It is one record owned by the run and changed only by the functions here, which the executor
 * calls inside `Effect.sync` blocks (or plain combinators): JavaScript runs one block at a time,
 * so each change is atomic, and the hot path (a few microseconds per step) does not pay for a
 * `Ref` per field (ADR 0009). Observers read it through {@link snapshot}, never directly.
 *
 * @since 0.1.0
 */
import * as Usage from "../../Usage.ts"
import type * as Journal from "../Journal.ts"
import type * as RunState from "../RunState.ts"
import * as WorkflowError from "../WorkflowError.ts"
import type * as LlmError from "../../LlmError.ts"

/**
 * The run's record.
 *
 * @since 0.1.0
 * @category models
 */
export interface RunStore {
  readonly runId: string
  readonly workflow: string
  readonly createdAt: number
  /** The step ids, in definition order (the order of a snapshot's steps). */
  readonly order: ReadonlyArray<string>
  state: RunState.State
  finishedAt: number | undefined
  error: string | undefined
  /** Set by a cancel or a stop: no new step starts. */
  stopping: boolean
  /** The first step that failed. */
  failure: WorkflowError.StepFailed | undefined
  usage: Usage.Usage
  readonly steps: Map<string, RunState.StepSnapshot>
  /** Outputs of the finished steps, by id: what steps and templates read. */
  readonly outputs: Map<string, unknown>
}

/**
 * A new record: the run and its steps `pending`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (runId: string, workflow: string, order: ReadonlyArray<string>, createdAt: number): RunStore => ({
  runId,
  workflow,
  createdAt,
  order,
  state: "pending",
  finishedAt: undefined,
  error: undefined,
  stopping: false,
  failure: undefined,
  usage: Usage.empty,
  steps: new Map(order.map((id) => [id, { id, state: "pending", attempts: 0 }])),
  outputs: new Map()
})

const update = (store: RunStore, id: string, patch: Partial<RunState.StepSnapshot>): void => {
  store.steps.set(id, { ...store.steps.get(id)!, ...patch })
}

/**
 * The run as seen from outside.
 *
 * @since 0.1.0
 * @category accessors
 */
export const snapshot = (store: RunStore): RunState.RunSnapshot => ({
  runId: store.runId,
  workflow: store.workflow,
  state: store.state,
  createdAt: store.createdAt,
  startedAt: store.createdAt,
  ...(store.finishedAt !== undefined ? { finishedAt: store.finishedAt, durationMs: store.finishedAt - store.createdAt } : {}),
  usage: store.usage,
  steps: store.order.map((id) => store.steps.get(id)!),
  ...(store.error !== undefined ? { error: store.error } : {})
})

/**
 * The number of attempts a step has made so far.
 *
 * @since 0.1.0
 * @category accessors
 */
export const attemptsOf = (store: RunStore, id: string): number => store.steps.get(id)!.attempts

/**
 * An attempt starts: the first one moves the step to `running`.
 *
 * @since 0.1.0
 * @category transitions
 */
export const attemptStarted = (store: RunStore, id: string, attempt: number, at: number): void =>
  update(store, id, attempt === 1 ? { state: "running", startedAt: at, attempts: 1 } : { attempts: attempt })

/**
 * An attempt's model calls used `usage`, counted in the run's total whether or not it succeeded.
 *
 * @since 0.1.0
 * @category transitions
 */
export const addUsage = (store: RunStore, usage: Usage.Usage): void => {
  store.usage = Usage.add(store.usage, usage)
}

/**
 * A step completed with its output.
 *
 * @since 0.1.0
 * @category transitions
 */
export const completed = (
  store: RunStore,
  id: string,
  output: unknown,
  usage: Usage.Usage,
  startedAt: number,
  finishedAt: number
): void => {
  store.outputs.set(id, output)
  update(store, id, { state: "completed", output, usage, finishedAt, durationMs: finishedAt - startedAt })
}

/**
 * A step failed after its attempts (or timed out); the first failure is the run's.
 *
 * @since 0.1.0
 * @category transitions
 */
export const failed = (
  store: RunStore,
  id: string,
  attempt: number,
  error: LlmError.LlmError,
  startedAt: number,
  finishedAt: number
): void => {
  const timedOut = error.reason._tag === "Timeout" && error.provider === "workflow"
  update(store, id, { state: timedOut ? "timeout" : "failed", error: error.message, finishedAt, durationMs: finishedAt - startedAt })
  if (store.failure === undefined) store.failure = new WorkflowError.StepFailed({ step: id, attempt, cause: error })
}

/**
 * A step read back from the journal: completed, not run again.
 *
 * @since 0.1.0
 * @category transitions
 */
export const resumed = (store: RunStore, entry: Journal.StepEntry): void => {
  store.outputs.set(entry.step, entry.output)
  addUsage(store, entry.usage)
  update(store, entry.step, {
    state: "completed",
    attempts: entry.attempts,
    startedAt: entry.startedAt,
    finishedAt: entry.finishedAt,
    durationMs: entry.finishedAt - entry.startedAt,
    output: entry.output,
    usage: entry.usage,
    resumed: true
  })
}

/**
 * A step that will not run: a need failed or was cancelled, or the run is stopping.
 *
 * @since 0.1.0
 * @category transitions
 */
export const cancelled = (store: RunStore, id: string): void => update(store, id, { state: "cancelled" })

/**
 * The run ends: `failed` when a step failed, `cancelled` when it was stopped with steps left
 * over, else `completed`.
 *
 * @since 0.1.0
 * @category transitions
 */
export const finished = (store: RunStore, at: number): RunState.State => {
  const failure = store.failure
  const cancelledSteps = [...store.steps.values()].some((step) => step.state === "cancelled")
  store.state = failure !== undefined ? "failed" : store.stopping && cancelledSteps ? "cancelled" : "completed"
  store.finishedAt = at
  if (failure !== undefined) store.error = `step "${failure.step}": ${failure.cause.message}`
  return store.state
}

/**
 * The run was stopped from outside (its fiber interrupted): marked `state` at `at`; returns the
 * snapshot with the steps as they were.
 *
 * @since 0.1.0
 * @category transitions
 */
export const stopped = (store: RunStore, state: "cancelled" | "timeout", at: number): RunState.RunSnapshot => {
  store.stopping = true
  const before = snapshot(store)
  store.state = state
  store.finishedAt = at
  return { ...before, state, finishedAt: at, durationMs: at - store.createdAt }
}
