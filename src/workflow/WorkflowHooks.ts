/**
 * Middleware hooks around each step: `beforeStep`, `afterStep` and `onError`.
 *
 * Hooks are for logging, guards and metrics. They run in registration order for every attempt
 * of every step: `beforeStep` before the step's work (a `beforeStep` that fails is a guard: the
 * step fails with that error and is not run), `afterStep` after a success (with the output,
 * usage and duration), `onError` after a failed attempt. A hook that fails in `afterStep` or
 * `onError`, or dies anywhere, is ignored with a warning: an observer never breaks a run. The
 * CLI prints its per-step progress through the same hooks.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer } from "effect"
import type * as LlmError from "../LlmError.ts"
import type * as Usage from "../Usage.ts"

/**
 * Which step and attempt a hook is called for.
 *
 * @since 0.1.0
 * @category models
 */
export interface StepEvent {
  readonly runId: string
  readonly workflow: string
  readonly step: string
  readonly attempt: number
  /** Epoch milliseconds (Clock) when the attempt started. */
  readonly startedAt: number
}

/**
 * A successful attempt.
 *
 * @since 0.1.0
 * @category models
 */
export interface StepSuccess extends StepEvent {
  readonly output: unknown
  readonly usage: Usage.Usage
  readonly durationMs: number
}

/**
 * A failed attempt.
 *
 * @since 0.1.0
 * @category models
 */
export interface StepFailure extends StepEvent {
  readonly error: LlmError.LlmError
  readonly durationMs: number
  /** Whether another attempt will follow. */
  readonly willRetry: boolean
}

/**
 * A set of hooks; every member is optional.
 *
 * @since 0.1.0
 * @category models
 */
export interface Hooks {
  readonly beforeStep?: ((event: StepEvent) => Effect.Effect<void, LlmError.LlmError>) | undefined
  readonly afterStep?: ((event: StepSuccess) => Effect.Effect<void, unknown>) | undefined
  readonly onError?: ((event: StepFailure) => Effect.Effect<void, unknown>) | undefined
}

/**
 * The hooks in effect, in the order they run (none by default).
 *
 * @since 0.1.0
 * @category references
 */
export const CurrentHooks = Context.Reference<ReadonlyArray<Hooks>>("llm-connect/workflow/Hooks", {
  defaultValue: () => []
})

/**
 * Adds hooks after those already in effect.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (...hooks: ReadonlyArray<Hooks>): Layer.Layer<never> =>
  Layer.effectContext(
    Effect.gen(function*() {
      const current = yield* CurrentHooks
      return Context.make(CurrentHooks, [...current, ...hooks])
    })
  )

/**
 * Runs an observer hook, ignoring (with a warning) anything it does wrong.
 *
 * @since 0.1.0
 * @category running
 */
export const observe = <E>(name: string, effect: Effect.Effect<void, E>): Effect.Effect<void> =>
  effect.pipe(
    Effect.catchCause((cause) => Effect.logWarning(`workflow hook ${name} failed; ignored`, cause))
  )

/**
 * Runs every `beforeStep` hook in order; the first failure fails the step.
 *
 * @since 0.1.0
 * @category running
 */
export const runBefore = (hooks: ReadonlyArray<Hooks>, event: StepEvent): Effect.Effect<void, LlmError.LlmError> =>
  Effect.forEach(hooks, (hook) =>
    hook.beforeStep === undefined
      ? Effect.void
      : hook.beforeStep(event).pipe(
        Effect.catchDefect((defect) => Effect.logWarning("workflow hook beforeStep died; ignored", defect))
      ), { discard: true })

/**
 * Runs every `afterStep` hook in order.
 *
 * @since 0.1.0
 * @category running
 */
export const runAfter = (hooks: ReadonlyArray<Hooks>, event: StepSuccess): Effect.Effect<void> =>
  Effect.forEach(hooks, (hook) => hook.afterStep === undefined ? Effect.void : observe("afterStep", hook.afterStep(event)), {
    discard: true
  })

/**
 * Runs every `onError` hook in order.
 *
 * @since 0.1.0
 * @category running
 */
export const runOnError = (hooks: ReadonlyArray<Hooks>, event: StepFailure): Effect.Effect<void> =>
  Effect.forEach(hooks, (hook) => hook.onError === undefined ? Effect.void : observe("onError", hook.onError(event)), {
    discard: true
  })
