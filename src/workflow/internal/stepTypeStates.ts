/**
 * The state of each step type within one run (internal to the executor): a type's `init` runs
 * once, on first use, and its `cleanup` at the end of the run, however the run ends.
 *
 * @since 0.1.0
 */
import { Deferred, Effect } from "effect"
import type * as LlmError from "../../LlmError.ts"
import type * as StepType from "../StepType.ts"
import { pluginDefect } from "./stepFailure.ts"

/**
 * The step types' states of one run.
 *
 * @since 0.1.0
 * @category models
 */
export interface StepTypeStates {
  /** The state `init` returned for this run (initialised on first use; a failed `init` fails every use). */
  readonly stateOf: (type: StepType.StepType) => Effect.Effect<unknown, LlmError.LlmError>
  /** Runs the `cleanup` of every type initialised so far; never fails. */
  readonly cleanup: Effect.Effect<void>
}

/**
 * The states of a new run.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (runId: string, workflow: string): StepTypeStates => {
  const states = new Map<string, Deferred.Deferred<unknown, LlmError.LlmError>>()
  const cleanups: Array<Effect.Effect<void>> = []
  const info = { runId, workflow }
  const stateOf = (type: StepType.StepType): Effect.Effect<unknown, LlmError.LlmError> =>
    Effect.suspend(() => {
      const existing = states.get(type.name)
      if (existing !== undefined) return Deferred.await(existing)
      const deferred = Deferred.makeUnsafe<unknown, LlmError.LlmError>()
      states.set(type.name, deferred)
      return type.init(info).pipe(
        Effect.catchDefect((defect) => Effect.fail(pluginDefect(type.name, "init", defect))),
        Effect.tap((state) =>
          Effect.sync(() => {
            cleanups.push(type.cleanup(state, info).pipe(Effect.catchCause(() => Effect.void)))
          })
        ),
        Effect.exit,
        Effect.flatMap((exit) => Effect.andThen(Deferred.done(deferred, exit), exit))
      )
    })
  return {
    stateOf,
    cleanup: Effect.suspend(() => cleanups.length === 0 ? Effect.void : Effect.forEach(cleanups, (cleanup) => cleanup, { discard: true }))
  }
}
