/**
 * Runs a workflow definition: the scheduler under both the builder and YAML workflows.
 *
 * A {@link Definition} is a list of steps, each with the ids it needs and an Effect that does
 * its work. {@link start} forks the run and returns a {@link RunControl}: every step waits for
 * its needs, then for a permit of the run's concurrency limit, so independent steps run in
 * parallel. A step's model calls go through the `LanguageModel` in context, wrapped so that
 * each request carries the run's correlation id and the workflow and step names in its
 * metadata, and its usage is counted per step and per run.
 *
 * A failed step fails only itself: the steps that need it (directly or not) end `cancelled`,
 * the independent ones carry on, and the run ends `failed` naming the first failed step.
 * Cancelling is gentle: no new step starts, the steps in flight finish (their outputs are kept
 * and journaled), and the steps left over end `cancelled`. Interrupting the run's fiber (a
 * client timeout, a second Ctrl-C) stops at once.
 * Each attempt runs the hooks; a plugin or step that throws or dies fails only its own step.
 *
 * @since 0.1.0
 */
import { Cause, Clock, Deferred, Duration, Effect, Exit, Fiber, Option, Ref, Scope, Semaphore, SynchronizedRef } from "effect"
import * as LanguageModel from "../LanguageModel.ts"
import * as LlmError from "../LlmError.ts"
import * as Usage from "../Usage.ts"
import * as Journal from "./Journal.ts"
import type * as RunState from "./RunState.ts"
import type * as StepType from "./StepType.ts"
import * as WorkflowError from "./WorkflowError.ts"
import * as WorkflowHooks from "./WorkflowHooks.ts"
import * as RunBudget from "./internal/runBudget.ts"

/**
 * How many times a step is attempted, and the wait before the second attempt (doubled each
 * time). Only retryable failures (`LlmError.isRetryable`) are retried.
 *
 * @since 0.1.0
 * @category models
 */
export interface RetryPolicy {
  readonly times: number
  readonly delayMs?: number | undefined
}

/**
 * What a step's work receives.
 *
 * @since 0.1.0
 * @category models
 */
export interface StepContext {
  readonly runId: string
  readonly workflow: string
  readonly step: string
  readonly attempt: number
  readonly input: Readonly<Record<string, unknown>>
  /** Outputs of the finished steps, by id. */
  readonly outputs: ReadonlyMap<string, unknown>
  /** The state a step type's `init` returned for this run (initialised on first use). */
  readonly stateOf: (type: StepType.StepType) => Effect.Effect<unknown, LlmError.LlmError>
}

/**
 * One step.
 *
 * @since 0.1.0
 * @category models
 */
export interface StepSpec<R = never> {
  readonly id: string
  readonly needs: ReadonlyArray<string>
  readonly retry?: RetryPolicy | undefined
  readonly timeoutMs?: number | undefined
  /** Per-step budget limits (a child of the run's budget). */
  readonly budget?: RunBudget.Limits | undefined
  /** The model this step calls (default: the `LanguageModel` in context). */
  readonly model?: LanguageModel.Service | undefined
  readonly run: (context: StepContext) => Effect.Effect<unknown, LlmError.LlmError, R | LanguageModel.LanguageModel>
}

/**
 * A runnable workflow.
 *
 * @since 0.1.0
 * @category models
 */
export interface Definition<R = never> {
  readonly name: string
  readonly steps: ReadonlyArray<StepSpec<R>>
  /** At most this many steps run at once (default: all that are ready). */
  readonly concurrency?: number | undefined
  /** The run's budget (shared by its steps). */
  readonly budget?: RunBudget.Limits | undefined
}

/**
 * A run's outcome when it completes.
 *
 * @since 0.1.0
 * @category models
 */
export interface RunResult extends RunState.RunSnapshot {
  readonly outputs: Readonly<Record<string, unknown>>
}

/**
 * Options of {@link start}.
 *
 * @since 0.1.0
 * @category models
 */
export interface StartOptions {
  readonly runId: string
  readonly input: Readonly<Record<string, unknown>>
  /** Defaults to the run id. */
  readonly correlationId?: string | undefined
  /** Steps already finished (read back from a journal): not run again. */
  readonly resumed?: ReadonlyArray<Journal.StepEntry> | undefined
  /** Written as the journal's first entry (not on resume). */
  readonly source?: { readonly path?: string | undefined; readonly hash?: string | undefined } | undefined
}

/**
 * A started run.
 *
 * @since 0.1.0
 * @category models
 */
export interface RunControl {
  readonly runId: string
  /** The current state of the run and its steps. */
  readonly snapshot: Effect.Effect<RunState.RunSnapshot>
  /** Starts no new step; steps in flight finish. */
  readonly cancel: Effect.Effect<void>
  /** Waits for the end of the run. */
  readonly await: Effect.Effect<RunResult, WorkflowError.WorkflowError>
  /** Stops at once (steps in flight are interrupted), marking the run `state`. */
  readonly interrupt: (state: "cancelled" | "timeout") => Effect.Effect<RunState.RunSnapshot>
}

type Stop = "none" | "cancel"

const toLlmError = (step: string, cause: Cause.Cause<LlmError.LlmError>): LlmError.LlmError => {
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
 * Starts a run in the background of the current scope.
 *
 * @since 0.1.0
 * @category running
 */
export const start = <R>(
  definition: Definition<R>,
  options: StartOptions
): Effect.Effect<RunControl, never, R | Scope.Scope> =>
  Effect.gen(function*() {
    const { runId, input } = options
    const workflow = definition.name
    const correlationId = options.correlationId ?? runId
    const createdAt = yield* Clock.currentTimeMillis
    const hooks = yield* WorkflowHooks.CurrentHooks
    const journal = yield* Effect.serviceOption(Journal.Journal)
    const model = yield* Effect.serviceOption(LanguageModel.LanguageModel)
    const budget = yield* RunBudget.make(definition.budget, options.resumed ?? [], definition.name).pipe(Effect.exit)
    const resumed = new Map((options.resumed ?? []).map((entry) => [entry.step, entry] as const))

    const steps = yield* Ref.make(
      new Map<string, RunState.StepSnapshot>(definition.steps.map((step) => [step.id, { id: step.id, state: "pending", attempts: 0 }]))
    )
    const runState = yield* Ref.make<{ state: RunState.State; finishedAt?: number; error?: string }>({ state: "running" })
    const stop = yield* Ref.make<Stop>("none")
    const outputs = new Map<string, unknown>()
    const failure = yield* Ref.make<Option.Option<WorkflowError.StepFailed>>(Option.none())
    const totalUsage = yield* Ref.make(Usage.empty)
    const semaphore = yield* Semaphore.make(definition.concurrency ?? Math.max(1, definition.steps.length))
    const done = new Map<string, Deferred.Deferred<boolean>>()
    for (const step of definition.steps) done.set(step.id, yield* Deferred.make<boolean>())
    const typeStates = yield* SynchronizedRef.make(new Map<string, Effect.Effect<unknown, LlmError.LlmError>>())
    const runScope = yield* Scope.make()
    const result = yield* Deferred.make<RunResult, WorkflowError.WorkflowError>()

    const setStep = (id: string, patch: Partial<RunState.StepSnapshot>) =>
      Ref.update(steps, (map) => new Map(map).set(id, { ...map.get(id)!, ...patch }))

    const snapshot: Effect.Effect<RunState.RunSnapshot> = Effect.gen(function*() {
      const run = yield* Ref.get(runState)
      const usage = yield* Ref.get(totalUsage)
      const all = yield* Ref.get(steps)
      return {
        runId,
        workflow,
        state: run.state,
        createdAt,
        startedAt: createdAt,
        ...(run.finishedAt !== undefined ? { finishedAt: run.finishedAt, durationMs: run.finishedAt - createdAt } : {}),
        usage,
        steps: definition.steps.map((step) => all.get(step.id)!),
        ...(run.error !== undefined ? { error: run.error } : {})
      }
    })

    const stateOf = (type: StepType.StepType): Effect.Effect<unknown, LlmError.LlmError> =>
      Effect.flatten(SynchronizedRef.modifyEffect(typeStates, (map) => {
        const existing = map.get(type.name)
        if (existing !== undefined) return Effect.succeed([existing, map] as const)
        const info = { runId, workflow }
        const init = type.init(info).pipe(
          Effect.catchDefect((defect) => Effect.fail(pluginDefect(type.name, "init", defect))),
          Effect.tap((state) => Scope.addFinalizer(runScope, type.cleanup(state, info).pipe(Effect.catchCause(() => Effect.void))))
        )
        return Effect.map(Effect.cached(init), (cached) => [cached, new Map(map).set(type.name, cached)] as const)
      }))

    const attempt = (spec: StepSpec<R>, number: number, stepModel: Option.Option<LanguageModel.Service>): Effect.Effect<
      { readonly output: unknown; readonly usage: Usage.Usage; readonly costUsd: number },
      { readonly attempt: number; readonly error: LlmError.LlmError },
      R
    > =>
      Effect.gen(function*() {
        const startedAt = yield* Clock.currentTimeMillis
        yield* setStep(spec.id, { attempts: number })
        const event = { runId, workflow, step: spec.id, attempt: number, startedAt }
        const usage = yield* Ref.make(Usage.empty)
        const cost = yield* Ref.make(0)
        const metadata = { correlationId, workflow, step: spec.id }
        const wrapped = Option.map(stepModel, (inner) =>
          LanguageModel.mapGenerate(inner, (request, next) =>
            next({ ...request, metadata: { ...request.metadata, ...metadata } }).pipe(
              Effect.tap((response) =>
                Effect.andThen(
                  Ref.update(usage, (sum) => Usage.add(sum, response.usage)),
                  Ref.update(cost, (sum) => sum + (response.cost?.usd ?? 0))
                )
              )
            )))
        const context: StepContext = { runId, workflow, step: spec.id, attempt: number, input, outputs, stateOf }
        let work = WorkflowHooks.runBefore(hooks, event).pipe(Effect.andThen(spec.run(context)))
        if (spec.timeoutMs !== undefined) {
          const timeoutMs = spec.timeoutMs
          work = work.pipe(Effect.timeoutOrElse({
            duration: Duration.millis(timeoutMs),
            orElse: () =>
              Effect.fail(LlmError.make("workflow", new LlmError.Timeout({
                description: `step "${spec.id}" took longer than its timeout of ${timeoutMs}ms`,
                scope: "attempt",
                attempts: number,
                elapsedMs: timeoutMs
              })))
          }))
        }
        const provided = Option.isSome(wrapped)
          ? Effect.provideService(work, LanguageModel.LanguageModel, wrapped.value)
          : work as Effect.Effect<unknown, LlmError.LlmError, R>
        const exit = yield* Effect.exit(provided)
        const finishedAt = yield* Clock.currentTimeMillis
        const spent = yield* Ref.get(usage)
        yield* Ref.update(totalUsage, (sum) => Usage.add(sum, spent))
        if (Exit.isSuccess(exit)) {
          yield* WorkflowHooks.runAfter(hooks, { ...event, output: exit.value, usage: spent, durationMs: finishedAt - startedAt })
          return { output: exit.value, usage: spent, costUsd: yield* Ref.get(cost) }
        }
        if (Cause.hasInterruptsOnly(exit.cause)) return yield* Effect.failCause(exit.cause as Cause.Cause<never>)
        const error = toLlmError(spec.id, exit.cause)
        const times = spec.retry?.times ?? 0
        const willRetry = error.isRetryable && number <= times
        yield* WorkflowHooks.runOnError(hooks, { ...event, error, durationMs: finishedAt - startedAt, willRetry })
        if (!willRetry) return yield* Effect.fail({ attempt: number, error })
        const delay = (spec.retry?.delayMs ?? 0) * 2 ** (number - 1)
        if (delay > 0) yield* Effect.sleep(Duration.millis(delay))
        return yield* attempt(spec, number + 1, stepModel)
      })

    /** The step's model, held to the run's budget (and its own, if it has one). */
    const modelFor = (spec: StepSpec<R>): Effect.Effect<Option.Option<LanguageModel.Service>, LlmError.LlmError> => {
      const inner = spec.model !== undefined ? Option.some(spec.model) : model
      if (Option.isNone(inner)) return Effect.succeed(inner)
      if (Exit.isFailure(budget)) return Effect.failCause(budget.cause)
      return Effect.map(budget.value.forStep(spec.id, inner.value, spec.budget), Option.some)
    }

    const runStep = (spec: StepSpec<R>): Effect.Effect<void, never, R> =>
      Effect.gen(function*() {
        const finished = done.get(spec.id)!
        const needsOk = yield* Effect.forEach(spec.needs, (need) => Deferred.await(done.get(need)!))
        const previous = resumed.get(spec.id)
        if (previous !== undefined && needsOk.every(Boolean)) {
          outputs.set(spec.id, previous.output)
          yield* Ref.update(totalUsage, (sum) => Usage.add(sum, previous.usage))
          yield* setStep(spec.id, {
            state: "completed",
            attempts: previous.attempts,
            startedAt: previous.startedAt,
            finishedAt: previous.finishedAt,
            durationMs: previous.finishedAt - previous.startedAt,
            output: previous.output,
            usage: previous.usage,
            resumed: true
          })
          return yield* Deferred.succeed(finished, true)
        }
        const skip = setStep(spec.id, { state: "cancelled" }).pipe(Effect.andThen(Deferred.succeed(finished, false)))
        if (!needsOk.every(Boolean) || (yield* Ref.get(stop)) !== "none") return yield* skip
        yield* Semaphore.withPermit(semaphore, Effect.gen(function*() {
          if ((yield* Ref.get(stop)) !== "none") return yield* skip
          const startedAt = yield* Clock.currentTimeMillis
          yield* setStep(spec.id, { state: "running", startedAt })
          const exit = yield* Effect.exit(Effect.flatMap(
            modelFor(spec).pipe(Effect.mapError((error) => ({ attempt: 1, error }))),
            (stepModel) => attempt(spec, 1, stepModel)
          ))
          const finishedAt = yield* Clock.currentTimeMillis
          const timing = { finishedAt, durationMs: finishedAt - startedAt }
          if (Exit.isSuccess(exit)) {
            const { costUsd, output, usage } = exit.value
            outputs.set(spec.id, output)
            yield* setStep(spec.id, { state: "completed", output, usage, ...timing })
            if (Option.isSome(journal)) {
              const attempts = (yield* Ref.get(steps)).get(spec.id)!.attempts
              yield* journal.value.append(runId, {
                type: "step",
                step: spec.id,
                output,
                usage,
                ...(costUsd > 0 ? { costUsd } : {}),
                attempts,
                startedAt,
                finishedAt
              })
                .pipe(Effect.catch((error) => Effect.logWarning(error.message)))
            }
            return yield* Deferred.succeed(finished, true)
          }
          const found = Cause.findErrorOption(exit.cause)
          if (Option.isNone(found)) return yield* Effect.failCause(exit.cause as Cause.Cause<never>)
          const { attempt: number, error } = found.value
          const timedOut = error.reason._tag === "Timeout" && error.provider === "workflow"
          yield* setStep(spec.id, { state: timedOut ? "timeout" : "failed", error: error.message, ...timing })
          yield* Ref.update(failure, (first) =>
            Option.isSome(first) ? first : Option.some(new WorkflowError.StepFailed({ step: spec.id, attempt: number, cause: error })))
          return yield* Deferred.succeed(finished, false)
        }))
      })

    const finish = Effect.gen(function*() {
      const failed = yield* Ref.get(failure)
      const stopped = yield* Ref.get(stop)
      const all = yield* Ref.get(steps)
      const cancelled = [...all.values()].some((step) => step.state === "cancelled")
      const state: RunState.State = Option.isSome(failed) ? "failed" : stopped === "cancel" && cancelled ? "cancelled" : "completed"
      const finishedAt = yield* Clock.currentTimeMillis
      yield* Ref.set(runState, {
        state,
        finishedAt,
        ...(Option.isSome(failed) ? { error: `step "${failed.value.step}": ${failed.value.cause.message}` } : {})
      })
      if (Option.isSome(journal)) {
        yield* journal.value.append(runId, { type: "end", state, at: finishedAt }).pipe(Effect.catch(() => Effect.void))
      }
      const final = yield* snapshot
      if (Option.isSome(failed)) {
        return yield* Effect.fail(WorkflowError.make(workflow, new WorkflowError.StepFailed({ ...failed.value, snapshot: final }), runId))
      }
      if (state === "cancelled") return yield* Effect.fail(WorkflowError.make(workflow, new WorkflowError.Cancelled({ snapshot: final }), runId))
      return { ...final, outputs: Object.fromEntries(outputs) }
    })

    if (Option.isSome(journal) && options.resumed === undefined) {
      yield* journal.value.append(runId, {
        type: "start",
        runId,
        workflow,
        ...(options.source?.path !== undefined ? { path: options.source.path } : {}),
        ...(options.source?.hash !== undefined ? { hash: options.source.hash } : {}),
        input: { ...input },
        at: createdAt
      }).pipe(Effect.catch((error) => Effect.logWarning(error.message)))
    }

    const body = Effect.forEach(definition.steps, runStep, { concurrency: "unbounded", discard: true }).pipe(
      Effect.andThen(finish),
      Effect.ensuring(Scope.close(runScope, Exit.void)),
      Effect.exit,
      Effect.flatMap((exit) => Deferred.done(result, exit))
    )
    const fiber = yield* Effect.forkScoped(body)

    const interrupt = (state: "cancelled" | "timeout") =>
      Effect.gen(function*() {
        yield* Ref.set(stop, "cancel")
        const before = yield* snapshot
        yield* Fiber.interrupt(fiber)
        const finishedAt = yield* Clock.currentTimeMillis
        yield* Ref.set(runState, { state, finishedAt })
        return { ...before, state, finishedAt, durationMs: finishedAt - createdAt }
      })

    return {
      runId,
      snapshot,
      cancel: Ref.update(stop, (current) => (current === "none" ? "cancel" : current)),
      await: Deferred.await(result),
      interrupt
    }
  })

const pluginDefect = (type: string, phase: string, defect: unknown): LlmError.LlmError =>
  LlmError.make(
    `step-type:${type}`,
    new LlmError.Unknown({
      description: `step type "${type}" ${phase} died: ${defect instanceof Error ? defect.message : String(defect)}`
    })
  )
