/**
 * How a step's failures become `LlmError`s (internal to the executor).
 *
 * @since 0.1.0
 */
import { Cause, Duration, Effect, Option } from "effect"
import * as LlmError from "../../LlmError.ts"

/**
 * The `LlmError` of a failed attempt: its own error, or a defect (a throw, a die) as `Unknown`
 * naming the step.
 *
 * @since 0.1.0
 * @category errors
 */
export const toLlmError = (step: string, cause: Cause.Cause<LlmError.LlmError>): LlmError.LlmError => {
  const error = Cause.findErrorOption(cause)
  if (Option.isSome(error)) return error.value
  const defect = Cause.squash(cause)
  return LlmError.make(
    "workflow",
    new LlmError.Unknown({
      description: `step "${step}" died: ${defect instanceof Error ? defect.message : String(defect)}`
    })
  )
}

/**
 * Bounds one attempt of a step; past the timeout it fails with `Timeout` (scope `attempt`).
 *
 * @since 0.1.0
 * @category combinators
 */
export const withStepTimeout = <A, R>(
  work: Effect.Effect<A, LlmError.LlmError, R>,
  step: string,
  timeoutMs: number,
  attempt: number
): Effect.Effect<A, LlmError.LlmError, R> =>
  Effect.timeoutOrElse(work, {
    duration: Duration.millis(timeoutMs),
    orElse: () =>
      Effect.fail(LlmError.make("workflow", new LlmError.Timeout({
        description: `step "${step}" took longer than its timeout of ${timeoutMs}ms`,
        scope: "attempt",
        attempts: attempt,
        elapsedMs: timeoutMs
      })))
  })

/**
 * The failure of a step type whose `init` died.
 *
 * @since 0.1.0
 * @category errors
 */
export const pluginDefect = (type: string, phase: string, defect: unknown): LlmError.LlmError =>
  LlmError.make(
    `step-type:${type}`,
    new LlmError.Unknown({
      description: `step type "${type}" ${phase} died: ${defect instanceof Error ? defect.message : String(defect)}`
    })
  )
