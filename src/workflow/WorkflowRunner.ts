/**
 * The asynchronous mode: start a run, get its id, and ask later.
 *
 * `start` returns a {@link Handle} at once (the run goes on in the runner's scope); `status`
 * gives the state of the run and of each step with timestamps; `result` waits for the end and
 * hands the result over; `cancel` starts no new step and lets the steps in flight finish. A
 * result is kept until it is retrieved, and expires `retention` (default 1h, by `Clock`) after
 * the run ends; then its id is `NotFound`. Closing the runner's layer interrupts the runs still
 * going.
 *
 * @since 0.1.0
 */
import { Context, Duration, Effect, Exit, Layer, Ref, Scope } from "effect"
import type * as LanguageModel from "../LanguageModel.ts"
import * as Executor from "./Executor.ts"
import type * as RunState from "./RunState.ts"
import * as Workflow from "./Workflow.ts"
import * as WorkflowError from "./WorkflowError.ts"
import type * as WorkflowDefinition from "./WorkflowDefinition.ts"

/**
 * A started run.
 *
 * @since 0.1.0
 * @category models
 */
export interface Handle {
  readonly runId: string
  readonly status: Effect.Effect<RunState.RunSnapshot, WorkflowError.WorkflowError>
  readonly result: Effect.Effect<WorkflowDefinition.RunResult, WorkflowError.WorkflowError>
  readonly cancel: Effect.Effect<RunState.RunSnapshot, WorkflowError.WorkflowError>
}

/**
 * What `start` needs besides the definition.
 *
 * @since 0.1.0
 * @category models
 */
export interface StartOptions extends Omit<WorkflowDefinition.StartOptions, "runId"> {
  readonly runId?: string | undefined
}

/**
 * The runner.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  readonly start: <R>(definition: WorkflowDefinition.Definition<R>, options: StartOptions) => Effect.Effect<Handle, never, R>
  readonly status: (runId: string) => Effect.Effect<RunState.RunSnapshot, WorkflowError.WorkflowError>
  readonly result: (runId: string) => Effect.Effect<WorkflowDefinition.RunResult, WorkflowError.WorkflowError>
  readonly cancel: (runId: string) => Effect.Effect<RunState.RunSnapshot, WorkflowError.WorkflowError>
  /** Ids of the runs held (running, or finished and not yet retrieved). */
  readonly list: Effect.Effect<ReadonlyArray<string>>
}

/**
 * The `WorkflowRunner` service.
 *
 * @since 0.1.0
 * @category services
 */
export class WorkflowRunner extends Context.Service<WorkflowRunner, Service>()("llm-connect/workflow/WorkflowRunner") {}

/**
 * Options of the runner.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** How long a finished, unretrieved result is kept (default 1 hour). */
  readonly retention?: Duration.Input | undefined
}

interface Entry {
  readonly workflow: string
  readonly control: WorkflowDefinition.RunControl
  readonly scope: Scope.Closeable
}

/**
 * Builds a runner whose runs live in the current scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}): Effect.Effect<Service, never, Scope.Scope> =>
  Effect.gen(function*() {
    const retention = Duration.fromInputUnsafe(options.retention ?? Duration.hours(1))
    const layerScope = yield* Scope.Scope
    const runs = yield* Ref.make(new Map<string, Entry>())

    const lookup = (runId: string) =>
      Effect.flatMap(Ref.get(runs), (map) => {
        const entry = map.get(runId)
        return entry !== undefined
          ? Effect.succeed(entry)
          : Effect.fail(WorkflowError.make(WorkflowError.UNKNOWN, new WorkflowError.NotFound({
            description: `no run ${runId}: it never started here, its result was already retrieved, or it expired after ${
              Duration.format(retention)
            }`
          }), runId))
      })

    const remove = (runId: string) =>
      Effect.flatMap(Ref.modify(runs, (map) => {
        const entry = map.get(runId)
        const next = new Map(map)
        next.delete(runId)
        return [entry, next] as const
      }), (entry) => (entry === undefined ? Effect.void : Scope.close(entry.scope, Exit.void)))

    const status = (runId: string) => Effect.flatMap(lookup(runId), (entry) => entry.control.snapshot)
    const result = (runId: string) =>
      Effect.flatMap(lookup(runId), (entry) => entry.control.await.pipe(Effect.ensuring(remove(runId))))
    const cancel = (runId: string) =>
      Effect.flatMap(lookup(runId), (entry) => entry.control.cancel.pipe(Effect.andThen(entry.control.snapshot)))

    const start = <R>(definition: WorkflowDefinition.Definition<R>, startOptions: StartOptions) =>
      Effect.gen(function*() {
        const runId = startOptions.runId ?? (yield* Workflow.makeRunId)
        const scope = yield* Scope.fork(layerScope)
        const control = yield* Executor.start(definition, { ...startOptions, runId }).pipe(
          Effect.provideService(Scope.Scope, scope)
        )
        yield* Ref.update(runs, (map) => new Map(map).set(runId, { workflow: definition.name, control, scope }))
        // Expire the result `retention` after the end of the run unless it was retrieved.
        yield* control.await.pipe(
          Effect.exit,
          Effect.andThen(Effect.sleep(retention)),
          Effect.andThen(Effect.flatMap(Ref.get(runs), (map) => map.get(runId)?.control === control ? remove(runId) : Effect.void)),
          Effect.forkIn(layerScope)
        )
        return {
          runId,
          status: status(runId),
          result: result(runId),
          cancel: cancel(runId)
        } satisfies Handle
      })

    return {
      start,
      status,
      result,
      cancel,
      list: Effect.map(Ref.get(runs), (map) => [...map.keys()])
    }
  })

/**
 * The runner as a Layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<WorkflowRunner> => Layer.effect(WorkflowRunner, make(options))

/**
 * Starts a typed workflow in the runner in context and returns its handle at once.
 *
 * @since 0.1.0
 * @category accessors
 * @example
 * const handle = yield* WorkflowRunner.start(article, { topic: "tides" })
 * const result = yield* handle.result
 */
export const start = <I, S, R>(
  workflow: Workflow.Workflow<I, S, R>,
  input: NoInfer<I>,
  options: { readonly runId?: string | undefined; readonly correlationId?: string | undefined } = {}
): Effect.Effect<Handle, WorkflowError.WorkflowError, WorkflowRunner | R | LanguageModel.LanguageModel> =>
  Effect.gen(function*() {
    const runner = yield* WorkflowRunner
    const decoded = yield* Workflow.decodeInput(workflow, input)
    return yield* runner.start(workflow.definition, {
      input: decoded as Record<string, unknown>,
      runId: options.runId,
      correlationId: options.correlationId
    })
  })

