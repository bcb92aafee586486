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
import { Cause, Clock, Deferred, Duration, Effect, Exit, Fiber, Option, Scope, Semaphore, Stream, Tracer } from "effect"
import * as LanguageModel from "../LanguageModel.ts"
import * as LlmError from "../LlmError.ts"
import type { LlmResponse } from "../LlmResponse.ts"
import * as Tracing from "../observability/Tracing.ts"
import * as Usage from "../Usage.ts"
import * as Journal from "./Journal.ts"
import type * as RunState from "./RunState.ts"
import type * as StepType from "./StepType.ts"
import * as WorkflowError from "./WorkflowError.ts"
import * as WorkflowHooks from "./WorkflowHooks.ts"
import * as RunBudget from "./internal/runBudget.ts"
import { pluginDefect, toLlmError, withStepTimeout } from "./internal/stepFailure.ts"
import type { Definition, RunControl, RunResult, StartOptions, StepContext, StepSpec } from "./WorkflowDefinition.ts"

interface Attempted {
  readonly output: unknown
  readonly usage: Usage.Usage
  readonly costUsd: number
}

interface AttemptFailure {
  readonly attempt: number
  readonly error: LlmError.LlmError
}

type Outcome =
  | { readonly ok: true; readonly value: Attempted; readonly startedAt: number; readonly finishedAt: number }
  | { readonly ok: false; readonly failure: AttemptFailure; readonly startedAt: number; readonly finishedAt: number }

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

/**
 * Prepares a run. The run's state lives in one record owned by the run and changed only inside
 * `Effect.sync` blocks: JavaScript runs one block at a time, so each change is atomic, and the
 * hot path (a few microseconds per step) does not pay for a `Ref` per field.
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
    const model = Option.getOrUndefined(yield* Effect.serviceOption(LanguageModel.LanguageModel))
    const budget = yield* Effect.exit(RunBudget.make(definition.budget, options.resumed ?? [], workflow))
    const resumed = new Map((options.resumed ?? []).map((entry) => [entry.step, entry] as const))
    const limit = definition.concurrency
    const semaphore = limit !== undefined && limit < definition.steps.length ? yield* Semaphore.make(limit) : undefined

    const state = {
      run: "pending" as RunState.State,
      finishedAt: undefined as number | undefined,
      error: undefined as string | undefined,
      stop: false,
      failure: undefined as WorkflowError.StepFailed | undefined,
      usage: Usage.empty,
      steps: new Map<string, RunState.StepSnapshot>(
        definition.steps.map((step) => [step.id, { id: step.id, state: "pending", attempts: 0 }])
      ),
      outputs: new Map<string, unknown>(),
      /** Needs not settled yet, per step; a step starts when its count reaches 0. */
      waiting: new Map(definition.steps.map((step) => [step.id, step.needs.length] as const)),
      /** Steps with a need that failed or was cancelled: they end cancelled. */
      blocked: new Set<string>(),
      typeStates: new Map<string, Deferred.Deferred<unknown, LlmError.LlmError>>(),
      cleanups: [] as Array<Effect.Effect<void>>
    }
    const setStep = (id: string, patch: Partial<RunState.StepSnapshot>) => {
      state.steps.set(id, { ...state.steps.get(id)!, ...patch })
    }

    const snapshotNow = (): RunState.RunSnapshot => ({
      runId,
      workflow,
      state: state.run,
      createdAt,
      startedAt: createdAt,
      ...(state.finishedAt !== undefined ? { finishedAt: state.finishedAt, durationMs: state.finishedAt - createdAt } : {}),
      usage: state.usage,
      steps: definition.steps.map((step) => state.steps.get(step.id)!),
      ...(state.error !== undefined ? { error: state.error } : {})
    })

    const stateOf = (type: StepType.StepType): Effect.Effect<unknown, LlmError.LlmError> =>
      Effect.suspend(() => {
        const existing = state.typeStates.get(type.name)
        if (existing !== undefined) return Deferred.await(existing)
        const deferred = Deferred.makeUnsafe<unknown, LlmError.LlmError>()
        state.typeStates.set(type.name, deferred)
        const info = { runId, workflow }
        return type.init(info).pipe(
          Effect.catchDefect((defect) => Effect.fail(pluginDefect(type.name, "init", defect))),
          Effect.tap((typeState) =>
            Effect.sync(() => {
              state.cleanups.push(type.cleanup(typeState, info).pipe(Effect.catchCause(() => Effect.void)))
            })
          ),
          Effect.exit,
          Effect.flatMap((exit) => Effect.andThen(Deferred.done(deferred, exit), exit))
        )
      })

    /**
     * One attempt of a step (and the next ones, on a retryable failure). Never fails: the
     * outcome says how it ended, with the step's start (first attempt) and end times.
     */
    const attempt = (
      spec: StepSpec<R>,
      number: number,
      stepModel: LanguageModel.Service | undefined,
      stepStartedAt: number | undefined
    ): Effect.Effect<Outcome, never, R> =>
      Effect.gen(function*() {
        const startedAt = yield* Clock.currentTimeMillis
        const firstStart = stepStartedAt ?? startedAt
        setStep(spec.id, number === 1 ? { state: "running", startedAt, attempts: 1 } : { attempts: number })
        const event = { runId, workflow, step: spec.id, attempt: number, startedAt }
        // Confined to this attempt: its model calls add their usage here.
        let usage = Usage.empty
        let costUsd = 0
        const context: StepContext = { runId, workflow, step: spec.id, attempt: number, input, outputs: state.outputs, stateOf }
        let work = hooks.length === 0 ? spec.run(context) : Effect.andThen(WorkflowHooks.runBefore(hooks, event), spec.run(context))
        if (spec.timeoutMs !== undefined) work = withStepTimeout(work, spec.id, spec.timeoutMs, number)
        const stepMetadata = { ...metadata, step: spec.id }
        const count = (response: LlmResponse) => {
          usage = Usage.add(usage, response.usage)
          costUsd += response.cost?.usd ?? 0
          return response
        }
        const provided = stepModel === undefined ? work as Effect.Effect<unknown, LlmError.LlmError, R> : Effect.provideService(
          work,
          LanguageModel.LanguageModel,
          LanguageModel.wrap(stepModel, {
            request: (request) => ({ ...request, metadata: { ...request.metadata, ...stepMetadata } }),
            generate: (request, next) => Effect.map(next(request), count),
            stream: (request, next) =>
              Stream.map(next(request), (part) => {
                if (part.type === "finish") count(part.response)
                return part
              })
          })
        )
        const exit = yield* Effect.exit(provided)
        const finishedAt = yield* Clock.currentTimeMillis
        state.usage = Usage.add(state.usage, usage)
        if (Exit.isSuccess(exit)) {
          if (hooks.length > 0) {
            yield* WorkflowHooks.runAfter(hooks, { ...event, output: exit.value, usage, durationMs: finishedAt - startedAt })
          }
          return { ok: true, value: { output: exit.value, usage, costUsd }, startedAt: firstStart, finishedAt } as const
        }
        if (Cause.hasInterruptsOnly(exit.cause)) return yield* Effect.failCause(exit.cause as Cause.Cause<never>)
        const error = toLlmError(spec.id, exit.cause)
        const willRetry = error.isRetryable && number <= (spec.retry?.times ?? 0)
        if (hooks.length > 0) {
          yield* WorkflowHooks.runOnError(hooks, { ...event, error, durationMs: finishedAt - startedAt, willRetry })
        }
        if (!willRetry) return { ok: false, failure: { attempt: number, error }, startedAt: firstStart, finishedAt } as const
        const delay = (spec.retry?.delayMs ?? 0) * 2 ** (number - 1)
        if (delay > 0) yield* Effect.sleep(Duration.millis(delay))
        return yield* attempt(spec, number + 1, stepModel, firstStart)
      })

    /** The step's model, held to the run's budget (and its own, if it has one). */
    const modelFor = (spec: StepSpec<R>): Effect.Effect<LanguageModel.Service | undefined, LlmError.LlmError> => {
      const inner = spec.model ?? model
      if (inner === undefined) return Effect.succeed(undefined)
      if (Exit.isFailure(budget)) return Effect.failCause(budget.cause)
      return spec.budget === undefined ? Effect.succeed(budget.value.wrap(inner)) : budget.value.forStep(spec.id, inner, spec.budget)
    }

    const complete = (spec: StepSpec<R>, startedAt: number, finishedAt: number, value: Attempted) => {
      state.outputs.set(spec.id, value.output)
      setStep(spec.id, { state: "completed", output: value.output, usage: value.usage, finishedAt, durationMs: finishedAt - startedAt })
      if (journal === undefined) return Effect.void
      return journal.append(runId, {
        type: "step",
        step: spec.id,
        output: value.output,
        usage: value.usage,
        ...(value.costUsd > 0 ? { costUsd: value.costUsd } : {}),
        attempts: state.steps.get(spec.id)!.attempts,
        startedAt,
        finishedAt
      }).pipe(Effect.catch((error) => Effect.logWarning(error.message)))
    }

    const fail = (spec: StepSpec<R>, startedAt: number, finishedAt: number, failure: AttemptFailure) => {
      const { attempt: number, error } = failure
      const timedOut = error.reason._tag === "Timeout" && error.provider === "workflow"
      setStep(spec.id, { state: timedOut ? "timeout" : "failed", error: error.message, finishedAt, durationMs: finishedAt - startedAt })
      if (state.failure === undefined) state.failure = new WorkflowError.StepFailed({ step: spec.id, attempt: number, cause: error })
    }

    /** Runs a step that is ready; `true` when it completed. */
    const execute = (spec: StepSpec<R>): Effect.Effect<boolean, never, R> => {
      if (state.stop) {
        setStep(spec.id, { state: "cancelled" })
        return Effect.succeed(false)
      }
      return modelFor(spec).pipe(
        Effect.matchEffect({
          onFailure: (error) =>
            Effect.map(Clock.currentTimeMillis, (now): Outcome => ({ ok: false, failure: { attempt: 1, error }, startedAt: now, finishedAt: now })),
          onSuccess: (stepModel) => attempt(spec, 1, stepModel, undefined)
        }),
        Effect.flatMap((outcome) => {
          if (!outcome.ok) {
            fail(spec, outcome.startedAt, outcome.finishedAt, outcome.failure)
            return Effect.succeed(false)
          }
          return Effect.as(complete(spec, outcome.startedAt, outcome.finishedAt, outcome.value), true)
        })
      )
    }

    const dependents = new Map<string, Array<StepSpec<R>>>()
    for (const step of definition.steps) {
      for (const need of step.needs) dependents.set(need, [...(dependents.get(need) ?? []), step])
    }

    /** Records that a step is settled and returns the dependents that became ready. */
    const settle = (spec: StepSpec<R>, ok: boolean): ReadonlyArray<StepSpec<R>> => {
      const ready: Array<StepSpec<R>> = []
      for (const dependent of dependents.get(spec.id) ?? []) {
        if (!ok) state.blocked.add(dependent.id)
        const left = state.waiting.get(dependent.id)! - 1
        state.waiting.set(dependent.id, left)
        if (left === 0) ready.push(dependent)
      }
      return ready
    }

    /**
     * Runs ready steps: one in the current fiber, several in parallel. Each step, once settled,
     * launches the dependents it made ready, so a chain runs in one fiber and a fan-out forks
     * only as many fibers as there are branches.
     */
    const launch = (ready: ReadonlyArray<StepSpec<R>>): Effect.Effect<void, never, R> =>
      ready.length === 0
        ? Effect.void
        : ready.length === 1
        ? runStep(ready[0]!)
        : Effect.forEach(ready, runStep, { concurrency: "unbounded", discard: true })

    const runStep = (spec: StepSpec<R>): Effect.Effect<void, never, R> =>
      Effect.suspend(() => {
        const blocked = state.blocked.has(spec.id)
        const previous = resumed.get(spec.id)
        if (!blocked && previous !== undefined) {
          state.outputs.set(spec.id, previous.output)
          state.usage = Usage.add(state.usage, previous.usage)
          setStep(spec.id, {
            state: "completed",
            attempts: previous.attempts,
            startedAt: previous.startedAt,
            finishedAt: previous.finishedAt,
            durationMs: previous.finishedAt - previous.startedAt,
            output: previous.output,
            usage: previous.usage,
            resumed: true
          })
          return launch(settle(spec, true))
        }
        if (blocked || state.stop) {
          setStep(spec.id, { state: "cancelled" })
          return launch(settle(spec, false))
        }
        const step = stepSpans ? Tracing.stepSpan(spec.id, metadata)(execute(spec)) : execute(spec)
        const run = semaphore === undefined ? step : Semaphore.withPermit(semaphore, step)
        return Effect.flatMap(run, (ok) => launch(settle(spec, ok)))
      })

    const finish = Effect.gen(function*() {
      const failed = state.failure
      const cancelled = [...state.steps.values()].some((step) => step.state === "cancelled")
      const finalState: RunState.State = failed !== undefined ? "failed" : state.stop && cancelled ? "cancelled" : "completed"
      state.run = finalState
      state.finishedAt = yield* Clock.currentTimeMillis
      if (failed !== undefined) state.error = `step "${failed.step}": ${failed.cause.message}`
      if (journal !== undefined) {
        yield* journal.append(runId, { type: "end", state: finalState, at: state.finishedAt }).pipe(Effect.catch(() => Effect.void))
      }
      const final = snapshotNow()
      if (failed !== undefined) {
        return yield* WorkflowError.make(workflow, new WorkflowError.StepFailed({ ...failed, snapshot: final }), runId)
      }
      if (finalState === "cancelled") return yield* WorkflowError.make(workflow, new WorkflowError.Cancelled({ snapshot: final }), runId)
      return { ...final, outputs: Object.fromEntries(state.outputs) }
    })

    const begin = journal === undefined || options.resumed !== undefined ? Effect.void : journal.append(runId, {
      type: "start",
      runId,
      workflow,
      ...(options.source?.path !== undefined ? { path: options.source.path } : {}),
      ...(options.source?.hash !== undefined ? { hash: options.source.hash } : {}),
      input: { ...input },
      at: createdAt
    }).pipe(Effect.catch((error) => Effect.logWarning(error.message)))

    const steps = launch(definition.steps.filter((step) => step.needs.length === 0))
    const body = Effect.sync(() => {
      state.run = "running"
    }).pipe(
      Effect.andThen(begin),
      Effect.andThen(steps),
      Effect.andThen(finish),
      Effect.ensuring(Effect.suspend(() =>
        state.cleanups.length === 0 ? Effect.void : Effect.forEach(state.cleanups, (cleanup) => cleanup, { discard: true })
      ))
    )

    return {
      runId,
      body,
      snapshot: Effect.sync(snapshotNow),
      cancel: Effect.sync(() => {
        state.stop = true
      }),
      markStopped: (stopped) =>
        Effect.map(Clock.currentTimeMillis, (now) => {
          state.stop = true
          const before = snapshotNow()
          state.run = stopped
          state.finishedAt = now
          return { ...before, state: stopped, finishedAt: now, durationMs: now - createdAt }
        })
    }
  })

/**
 * Runs a definition to the end in the current fiber.
 *
 * @since 0.1.0
 * @category running
 */
export const execute = <R>(definition: Definition<R>, options: StartOptions): Effect.Effect<RunResult, WorkflowError.WorkflowError, R> =>
  Effect.flatMap(prepare(definition, options), (prepared) => prepared.body)

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
    const prepared = yield* prepare(definition, options)
    const result = Deferred.makeUnsafe<RunResult, WorkflowError.WorkflowError>()
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
