/**
 * Dependency-driven scheduling of a run's steps (internal to the executor).
 *
 * Every step waits for its needs, then for a permit of the run's concurrency limit (a
 * `Semaphore`, only when the limit is below the number of steps). A step that settles launches
 * the dependents it made ready: one in the same fiber, several in parallel, so a chain runs in
 * one fiber and a fan-out forks only as many fibers as there are branches; no step waits on a
 * `Deferred` (ADR 0009). A step whose need failed or was cancelled, or that becomes ready while
 * the run is stopping, ends `cancelled` and passes that on to its own dependents.
 *
 * @since 0.1.0
 */
import { Effect, Semaphore } from "effect"
import type * as Journal from "../Journal.ts"
import type { StepSpec } from "../WorkflowDefinition.ts"
import * as RunStore from "./runStore.ts"

/**
 * What the scheduler runs.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options<R> {
  readonly steps: ReadonlyArray<StepSpec<R>>
  readonly concurrency: number | undefined
  readonly store: RunStore.RunStore
  /** Steps already finished, read back from the journal: not run again. */
  readonly resumed: ReadonlyArray<Journal.StepEntry>
  /** Runs a step that is ready; `true` when it completed. */
  readonly execute: (spec: StepSpec<R>) => Effect.Effect<boolean, never, R>
}

/**
 * Builds the effect that runs every step of a run to its end (completed, failed, cancelled).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <R>(options: Options<R>): Effect.Effect<Effect.Effect<void, never, R>> =>
  Effect.map(
    options.concurrency !== undefined && options.concurrency < options.steps.length
      ? Effect.map(Semaphore.make(options.concurrency), (semaphore) => semaphore as Semaphore.Semaphore | undefined)
      : Effect.succeed(undefined),
    (semaphore) => {
      const { store, execute } = options
      const resumed = new Map(options.resumed.map((entry) => [entry.step, entry] as const))
      const dependents = new Map<string, Array<StepSpec<R>>>()
      for (const step of options.steps) {
        for (const need of step.needs) dependents.set(need, [...(dependents.get(need) ?? []), step])
      }
      /** Needs not settled yet, per step; a step starts when its count reaches 0. */
      const waiting = new Map(options.steps.map((step) => [step.id, step.needs.length] as const))
      /** Steps with a need that failed or was cancelled: they end cancelled. */
      const blocked = new Set<string>()

      /** Records that a step is settled and returns the dependents that became ready. */
      const settle = (spec: StepSpec<R>, ok: boolean): ReadonlyArray<StepSpec<R>> => {
        const ready: Array<StepSpec<R>> = []
        for (const dependent of dependents.get(spec.id) ?? []) {
          if (!ok) blocked.add(dependent.id)
          const left = waiting.get(dependent.id)! - 1
          waiting.set(dependent.id, left)
          if (left === 0) ready.push(dependent)
        }
        return ready
      }

      const launch = (ready: ReadonlyArray<StepSpec<R>>): Effect.Effect<void, never, R> =>
        ready.length === 0
          ? Effect.void
          : ready.length === 1
          ? runStep(ready[0]!)
          : Effect.forEach(ready, runStep, { concurrency: "unbounded", discard: true })

      const runStep = (spec: StepSpec<R>): Effect.Effect<void, never, R> =>
        Effect.suspend(() => {
          const isBlocked = blocked.has(spec.id)
          const previous = resumed.get(spec.id)
          if (!isBlocked && previous !== undefined) {
            RunStore.resumed(store, previous)
            return launch(settle(spec, true))
          }
          if (isBlocked || store.stopping) {
            RunStore.cancelled(store, spec.id)
            return launch(settle(spec, false))
          }
          const step = semaphore === undefined ? execute(spec) : Semaphore.withPermit(semaphore, execute(spec))
          return Effect.flatMap(step, (ok) => launch(settle(spec, ok)))
        })

      return launch(options.steps.filter((step) => step.needs.length === 0))
    }
  )
