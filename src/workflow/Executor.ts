/**
 * Runs a workflow definition: the executor under both the builder and YAML workflows.
 *
 * A {@link WorkflowDefinition.Definition} is a list of steps, each with the ids it needs and an
 * Effect that does its work. {@link start} forks the run and returns a `RunControl`;
 * {@link execute} runs it in the current fiber. Every step waits for its needs, then for a
 * permit of the run's concurrency limit, so independent steps run in parallel. A step's model
 * calls go through the `LanguageModel` in context (or, for a step that names its own provider,
 * model or options, a model from the `ModelFactory` in context), with the run's correlation id
 * and the workflow and step names in every request's metadata; usage is counted per step and
 * per run, and the run's budget is set on the fiber, where the factory's models enforce it
 * inside their observability layer.
 *
 * A failed step fails only itself: the steps that need it (directly or not) end `cancelled`,
 * the independent ones carry on, and the run ends `failed` naming the first failed step.
 * Cancelling is gentle: no new step starts, the steps in flight finish (their outputs are kept
 * and journaled), and the steps left over end `cancelled`. Interrupting the run's fiber (a
 * client timeout, a second Ctrl-C) stops at once. Each attempt runs the hooks; a plugin or step
 * that throws or dies fails only its own step.
 *
 * The parts live in `internal/`: the run's state (`runStore`), the scheduler, a step's attempts
 * and their retry `Schedule` (`stepAttempt`), the step model wrapper (`stepModel`) and the run's
 * budget (`runBudget`), put together by `internal/run.ts`.
 *
 * @since 0.1.0
 */
import { Deferred, Effect, Fiber, type Scope } from "effect"
import * as Run from "./internal/run.ts"
import type * as WorkflowDefinition from "./WorkflowDefinition.ts"
import type * as WorkflowError from "./WorkflowError.ts"

/**
 * Runs a definition to the end in the current fiber.
 *
 * @since 0.1.0
 * @category running
 */
export const execute = <R>(
  definition: WorkflowDefinition.Definition<R>,
  options: WorkflowDefinition.StartOptions
): Effect.Effect<WorkflowDefinition.RunResult, WorkflowError.WorkflowError, R> =>
  Effect.flatMap(Run.prepare(definition, options), (prepared) => prepared.body)

/**
 * Starts a run in the background of the current scope.
 *
 * @since 0.1.0
 * @category running
 */
export const start = <R>(
  definition: WorkflowDefinition.Definition<R>,
  options: WorkflowDefinition.StartOptions
): Effect.Effect<WorkflowDefinition.RunControl, never, R | Scope.Scope> =>
  Effect.gen(function*() {
    const prepared = yield* Run.prepare(definition, options)
    const result = Deferred.makeUnsafe<WorkflowDefinition.RunResult, WorkflowError.WorkflowError>()
    const fiber = yield* Effect.forkScoped(Effect.flatMap(Effect.exit(prepared.body), (exit) => Deferred.done(result, exit)))
    return {
      runId: options.runId,
      snapshot: prepared.snapshot,
      cancel: prepared.cancel,
      await: Deferred.await(result),
      interrupt: (state) =>
        Effect.gen(function*() {
          const snapshot = yield* prepared.snapshot
          yield* prepared.cancel
          yield* Fiber.interrupt(fiber)
          const marked = yield* prepared.markStopped(state)
          return { ...snapshot, state, finishedAt: marked.finishedAt!, durationMs: marked.durationMs! }
        })
    }
  })
