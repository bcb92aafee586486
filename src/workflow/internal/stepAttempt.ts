/**
 * A step's attempts (internal to the executor): each attempt runs the hooks around the step's
 * work, bounded by the step's timeout, with the step's model in context; a retryable failure is
 * attempted again after `delayMs * 2^(n-1)` (the n-th retry), up to `retry.times` retries, by a
 * `Schedule`.
 *
 * @since 0.1.0
 */
import { Cause, Clock, Duration, Effect, Exit, Schedule } from "effect"
import type * as LlmError from "../../LlmError.ts"
import * as Usage from "../../Usage.ts"
import type { RetryPolicy, StepContext, StepSpec } from "../WorkflowDefinition.ts"
import * as WorkflowHooks from "../WorkflowHooks.ts"
import * as RunStore from "./runStore.ts"
import { toLlmError, withStepTimeout } from "./stepFailure.ts"
import * as StepModel from "./stepModel.ts"

/**
 * What a successful attempt gives.
 *
 * @since 0.1.0
 * @category models
 */
export interface Attempted {
  readonly output: unknown
  readonly usage: Usage.Usage
  readonly costUsd: number
}

/**
 * How a step's attempts ended, with the step's start (its first attempt) and end times.
 *
 * @since 0.1.0
 * @category models
 */
export type Outcome =
  | { readonly ok: true; readonly value: Attempted; readonly startedAt: number; readonly finishedAt: number }
  | {
    readonly ok: false
    readonly attempt: number
    readonly error: LlmError.LlmError
    readonly startedAt: number
    readonly finishedAt: number
  }

/**
 * What the attempts of a run's steps share.
 *
 * @since 0.1.0
 * @category models
 */
export interface Environment {
  readonly store: RunStore.RunStore
  readonly input: Readonly<Record<string, unknown>>
  readonly hooks: ReadonlyArray<WorkflowHooks.Hooks>
  readonly stateOf: StepContext["stateOf"]
}

/**
 * Whether a failure on attempt `attempt` is attempted again.
 *
 * @since 0.1.0
 * @category retry
 */
export const willRetry = (policy: RetryPolicy | undefined, error: LlmError.LlmError, attempt: number): boolean =>
  error.isRetryable && attempt <= (policy?.times ?? 0)

interface Done {
  readonly value: Attempted
  readonly finishedAt: number
}

interface Failed {
  readonly attempt: number
  readonly error: LlmError.LlmError
  readonly retry: boolean
  readonly finishedAt: number
}

/**
 * The waits between attempts: `delayMs`, then doubled each time, while the failure is to be retried.
 *
 * @since 0.1.0
 * @category retry
 */
export const schedule = (policy: RetryPolicy | undefined) =>
  Schedule.exponential(Duration.millis(policy?.delayMs ?? 0), 2).pipe(
    Schedule.setInputType<Failed>(),
    Schedule.while(({ input }) => input.retry)
  )

/**
 * Runs a step's attempts. Never fails: the outcome says how they ended (an interruption is
 * passed on).
 *
 * @since 0.1.0
 * @category running
 */
export const run = <R>(
  spec: StepSpec<R>,
  model: StepModel.StepModel | undefined,
  env: Environment
): Effect.Effect<Outcome, never, R> => {
  const { store, hooks } = env
  let number = 0
  let firstStart = 0

  const once: Effect.Effect<Done, Failed, R> = Effect.suspend(() => {
    const attempt = ++number
    return Effect.flatMap(Clock.currentTimeMillis, (startedAt) => {
      if (attempt === 1) firstStart = startedAt
      RunStore.attemptStarted(store, spec.id, attempt, startedAt)
      const event = { runId: store.runId, workflow: store.workflow, step: spec.id, attempt, startedAt }
      const context: StepContext = {
        runId: store.runId,
        workflow: store.workflow,
        step: spec.id,
        attempt,
        input: env.input,
        outputs: store.outputs,
        stateOf: env.stateOf
      }
      let work = hooks.length === 0 ? spec.run(context) : Effect.andThen(WorkflowHooks.runBefore(hooks, event), spec.run(context))
      if (spec.timeoutMs !== undefined) work = withStepTimeout(work, spec.id, spec.timeoutMs, attempt)
      // Confined to this attempt: its model calls add their usage here.
      const meter = StepModel.meter()
      const provided = model === undefined ? work as Effect.Effect<unknown, LlmError.LlmError, R> : model.provide(work, meter)
      return Effect.flatMap(Effect.exit(provided), (exit) =>
        Effect.flatMap(Clock.currentTimeMillis, (finishedAt): Effect.Effect<Done, Failed> => {
          RunStore.addUsage(store, meter.usage)
          if (Exit.isSuccess(exit)) {
            const done: Done = { value: { output: exit.value, usage: meter.usage, costUsd: StepModel.costUsd(meter) }, finishedAt }
            if (hooks.length === 0) return Effect.succeed(done)
            return Effect.as(
              WorkflowHooks.runAfter(hooks, { ...event, output: exit.value, usage: meter.usage, durationMs: finishedAt - startedAt }),
              done
            )
          }
          if (Cause.hasInterruptsOnly(exit.cause)) return Effect.failCause(exit.cause as Cause.Cause<never>)
          const error = toLlmError(spec.id, exit.cause)
          const failed: Failed = { attempt, error, retry: willRetry(spec.retry, error, attempt), finishedAt }
          if (hooks.length === 0) return Effect.fail(failed)
          return Effect.andThen(
            WorkflowHooks.runOnError(hooks, { ...event, error, durationMs: finishedAt - startedAt, willRetry: failed.retry }),
            Effect.fail(failed)
          )
        }))
    })
  })

  const attempts = spec.retry === undefined || spec.retry.times <= 0 ? once : Effect.retry(once, schedule(spec.retry))
  return Effect.match(attempts, {
    onFailure: (failed): Outcome => ({
      ok: false,
      attempt: failed.attempt,
      error: failed.error,
      startedAt: firstStart,
      finishedAt: failed.finishedAt
    }),
    onSuccess: (done): Outcome => ({ ok: true, value: done.value, startedAt: firstStart, finishedAt: done.finishedAt })
  })
}
