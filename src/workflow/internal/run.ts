/**
 * One run of a definition, prepared (internal to the executor): the run's store, its budget,
 * the step types' states, the step models, the attempts and the scheduler put together, with
 * the journal written at the start, after each finished step and at the end.
 *
 * @since 0.1.0
 */
import { Clock, Effect, Exit, Option, Tracer } from "effect"
import * as LanguageModel from "../../LanguageModel.ts"
import * as ModelFactory from "../../ModelFactory.ts"
import * as Redaction from "../../observability/Redaction.ts"
import * as Tracing from "../../observability/Tracing.ts"
import * as Router from "../../routing/Router.ts"
import * as Journal from "../Journal.ts"
import type * as RunState from "../RunState.ts"
import type { Definition, RunResult, StartOptions, StepSpec } from "../WorkflowDefinition.ts"
import * as WorkflowError from "../WorkflowError.ts"
import * as WorkflowHooks from "../WorkflowHooks.ts"
import * as RunBudget from "./runBudget.ts"
import * as RunStore from "./runStore.ts"
import * as Scheduler from "./scheduler.ts"
import * as StepAttempt from "./stepAttempt.ts"
import * as StepModel from "./stepModel.ts"
import * as StepTypeStates from "./stepTypeStates.ts"

/**
 * A prepared run: `body` runs it to the end in the calling fiber; the rest observe and steer it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Prepared<R> {
  readonly runId: string
  readonly body: Effect.Effect<RunResult, WorkflowError.WorkflowError, R>
  readonly snapshot: Effect.Effect<RunState.RunSnapshot>
  readonly cancel: Effect.Effect<void>
  /** Marks the run stopped with `state` and returns its snapshot (after its fiber was interrupted). */
  readonly markStopped: (state: "cancelled" | "timeout") => Effect.Effect<RunState.RunSnapshot>
}

/** What the end entry keeps of a failed step: enough to say why after a restart, never a key. */
const endError = (
  failed: WorkflowError.StepFailed,
  error: WorkflowError.WorkflowError,
  final: RunState.RunSnapshot
): Journal.EndError => {
  const step = final.steps.find((snapshot) => snapshot.id === failed.step)
  return {
    step: failed.step,
    attempt: failed.attempt,
    errorType: failed.cause.reason._tag,
    message: Redaction.scrubText(error.message),
    ...(step?.startedAt !== undefined ? { startedAt: step.startedAt } : {}),
    ...(step?.finishedAt !== undefined ? { finishedAt: step.finishedAt } : {})
  }
}

/**
 * Prepares a run of `definition` with the services in context: the `LanguageModel` (and the
 * `ModelFactory`, when there is one) its steps call, the hooks, and the journal if any.
 *
 * @since 0.1.0
 * @category running
 */
export const prepare = <R>(definition: Definition<R>, options: StartOptions): Effect.Effect<Prepared<R>> =>
  Effect.gen(function*() {
    const { runId, input } = options
    const workflow = definition.name
    const metadata = { correlationId: options.correlationId ?? runId, workflow }
    // A span per step, parent of its calls' spans, when a tracer is installed (OTLP or a test's):
    // with Effect's native tracer nothing would receive it, and it is a hot-path cost.
    const stepSpans = (yield* Effect.service(Tracer.Tracer)) !== Tracer.nativeTracer
    const createdAt = yield* Clock.currentTimeMillis
    const hooks = yield* WorkflowHooks.CurrentHooks
    const journal = Option.getOrUndefined(yield* Effect.serviceOption(Journal.Journal))
    const factory = Option.getOrUndefined(yield* Effect.serviceOption(ModelFactory.ModelFactory))
    const model = Option.getOrUndefined(yield* Effect.serviceOption(LanguageModel.LanguageModel))
    const budget = yield* Effect.exit(RunBudget.make(definition.budget, options.resumed ?? [], workflow, factory?.budget))
    const store = RunStore.make(runId, workflow, definition.steps.map((step) => step.id), createdAt)
    const types = StepTypeStates.make(runId, workflow)
    const router = Option.getOrUndefined(yield* Effect.serviceOption(Router.Router))
    const models: StepModel.Environment = { factory, router, model, budget, metadata, defaults: options.requestDefaults }
    const attempts: StepAttempt.Environment = { store, input, hooks, stateOf: types.stateOf }

    const record = (spec: StepSpec<R>, outcome: StepAttempt.Outcome): Effect.Effect<boolean> => {
      if (!outcome.ok) {
        RunStore.failed(store, spec.id, outcome.attempt, outcome.error, outcome.startedAt, outcome.finishedAt)
        return Effect.succeed(false)
      }
      const { startedAt, finishedAt, value } = outcome
      RunStore.completed(store, spec.id, value.output, value.usage, startedAt, finishedAt)
      if (journal === undefined) return Effect.succeed(true)
      return journal.append(runId, {
        type: "step",
        step: spec.id,
        output: value.output,
        usage: value.usage,
        ...(value.costUsd > 0 ? { costUsd: value.costUsd } : {}),
        attempts: RunStore.attemptsOf(store, spec.id),
        startedAt,
        finishedAt
      }).pipe(Effect.catch((error) => Effect.logWarning(error.message)), Effect.as(true))
    }

    /** Runs a step that is ready; `true` when it completed. */
    const execute = (spec: StepSpec<R>): Effect.Effect<boolean, never, R> => {
      if (store.stopping) {
        RunStore.cancelled(store, spec.id)
        return Effect.succeed(false)
      }
      const run = StepModel.make(spec, models).pipe(
        Effect.matchEffect({
          onFailure: (error) =>
            Effect.map(Clock.currentTimeMillis, (now): StepAttempt.Outcome => ({ ok: false, attempt: 1, error, startedAt: now, finishedAt: now })),
          onSuccess: (stepModel) => StepAttempt.run(spec, stepModel, attempts)
        }),
        Effect.flatMap((outcome) => record(spec, outcome))
      )
      return stepSpans ? Tracing.stepSpan(spec.id, metadata)(run) : run
    }

    const steps = yield* Scheduler.make({
      steps: definition.steps,
      concurrency: definition.concurrency,
      store,
      resumed: options.resumed ?? [],
      execute
    })

    const finish = Effect.gen(function*() {
      const finalState = RunStore.finished(store, yield* Clock.currentTimeMillis)
      const final = RunStore.snapshot(store)
      const failed = store.failure
      const stepFailed = failed === undefined
        ? undefined
        : WorkflowError.make(workflow, new WorkflowError.StepFailed({ ...failed, snapshot: final }), runId)
      if (journal !== undefined) {
        yield* journal.append(runId, {
          type: "end",
          state: finalState,
          at: store.finishedAt!,
          ...(failed !== undefined && stepFailed !== undefined ? { error: endError(failed, stepFailed, final) } : {})
        }).pipe(Effect.catch(() => Effect.void))
      }
      if (stepFailed !== undefined) return yield* stepFailed
      if (finalState === "cancelled") return yield* WorkflowError.make(workflow, new WorkflowError.Cancelled({ snapshot: final }), runId)
      return { ...final, outputs: Object.fromEntries(store.outputs) }
    })

    const begin = journal === undefined || options.resumed !== undefined ? Effect.void : journal.append(runId, {
      type: "start",
      runId,
      workflow,
      ...(options.source?.path !== undefined ? { path: options.source.path } : {}),
      ...(options.source?.hash !== undefined ? { hash: options.source.hash } : {}),
      input: { ...input },
      ...(options.settings !== undefined ? { settings: { ...options.settings } } : {}),
      at: createdAt
    }).pipe(Effect.catch((error) => Effect.logWarning(error.message)))

    const body = Effect.sync(() => {
      store.state = "running"
    }).pipe(
      Effect.andThen(begin),
      Effect.andThen(steps),
      Effect.andThen(finish),
      Effect.ensuring(types.cleanup),
      // The run's budgets leave the budget store with the run.
      Effect.ensuring(Exit.isSuccess(budget) ? budget.value.close : Effect.void)
    )

    return {
      runId,
      body,
      snapshot: Effect.sync(() => RunStore.snapshot(store)),
      cancel: Effect.sync(() => {
        store.stopping = true
      }),
      markStopped: (state) => Effect.map(Clock.currentTimeMillis, (now) => RunStore.stopped(store, state, now))
    }
  })
