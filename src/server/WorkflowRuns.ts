/**
 * The workflow runs of `llm-connect serve`: the workflows of the `serve.workflows` folder, the
 * runs started through `POST /v1/workflows/{name}/runs` (or JSON-RPC `workflow.run`), their
 * state, cancellation, progress events, and the bounds that keep a busy server's memory flat.
 *
 * - **Loading.** {@link load} reads every `*.yaml` / `*.yml` file of the folder with
 *   `WorkflowYaml.load` (the checks `llm-connect run` makes, with file and line) at start-up; a
 *   bad file or two files with one `name` refuse to start (a `Configuration` error: exit 2).
 * - **One path.** A run's steps call the model of the bridge's provider stack (`Bridge.stackFor`:
 *   observability and ledger, PII guard, budget layer, retry, timeouts, limits, breaker), as
 *   `/execute` does. Its budget is the request's `budget` over the configured one, made when it
 *   starts, a child of the caller's virtual key's budget when keys are on
 *   (`Bridge.requestBudget`); the workflow file's own `budget` is a child of that.
 * - **Runs.** A run is forked in the registry's scope and outlives its request. Its state is the
 *   executor's snapshot, mapped to {@link RunStatus} (`completed` is `succeeded`). Cancelling
 *   interrupts it at once: its call in flight is aborted and charged as every interrupted call is
 *   (ADR 0015), and it ends `cancelled`.
 * - **Events.** Each run keeps its events (step started, finished, failed; run finished); a
 *   subscriber gets those so far, then the live ones, and its stream ends with the run.
 * - **Bounds.** At most `serve.runs.maxInFlight` runs at once (one more: 503 + `retry-after`);
 *   finished runs are kept in memory up to `serve.runs.maxRetained` (oldest evicted first) and
 *   for `serve.runs.retention`.
 * - **Journal retention.** Journals on disk are deleted past `serve.runs.retain` (the last
 *   1,000 finished runs, each for 7 days, by default), at start and as each run ends; a run in
 *   flight is never deleted (`internal/runRetention.ts`).
 * - **Journal and restarts.** Every run is journaled (`Journal`, the file journal of
 *   `llm-connect run` under `serve.runs.journal` unless it is `false`). A run no longer in memory
 *   (evicted, or from before a restart) is read back from its journal: its finished steps,
 *   outputs, usage and end state. Runs are not resumed after a restart: a run whose journal has no
 *   end entry was stopped with the process and reads as `failed` (`errorType: "Interrupted"`).
 * - **Drain.** {@link Service.drain} waits for the runs in flight up to a timeout, then cancels
 *   the rest (journaled as cancelled).
 * - **Owners.** A run belongs to the caller that started it (a virtual key's name, or
 *   `anonymous`): another key gets 404 for it.
 *
 * @since 0.1.0
 */
import { Clock, Context, Deferred, Effect, Exit, FileSystem, Option, Path, Result, Schema, Scope, Stream, SubscriptionRef } from "effect"
import type * as Bridge from "../bridge/Bridge.ts"
import * as BridgeContract from "../bridge/BridgeContract.ts"
import * as BudgetTracker from "../budget/BudgetTracker.ts"
import * as DurationText from "../DurationText.ts"
import * as LlmError from "../LlmError.ts"
import * as ModelFactory from "../ModelFactory.ts"
import * as Router from "../routing/Router.ts"
import * as Redaction from "../observability/Redaction.ts"
import * as Usage from "../Usage.ts"
import * as Executor from "../workflow/Executor.ts"
import * as Journal from "../workflow/Journal.ts"
import * as RunState from "../workflow/RunState.ts"
import * as Workflow from "../workflow/Workflow.ts"
import type * as WorkflowDefinition from "../workflow/WorkflowDefinition.ts"
import * as WorkflowError from "../workflow/WorkflowError.ts"
import * as WorkflowHooks from "../workflow/WorkflowHooks.ts"
import * as WorkflowValidation from "../workflow/WorkflowValidation.ts"
import * as WorkflowYaml from "../workflow/WorkflowYaml.ts"
import * as HttpErrors from "./HttpErrors.ts"
import * as RunRetention from "./internal/runRetention.ts"
import * as Document from "./WorkflowRunDocument.ts"
import type * as ServeConfig from "./ServeConfig.ts"

/**
 * A failure of a workflow request: its HTTP status and the bridge's failure document.
 *
 * @since 0.1.0
 * @category models
 */
export interface RunFailure {
  readonly status: number
  readonly document: BridgeContract.BridgeFailure
}

const failure = (status: number, errorType: string, error: string, extra: Record<string, unknown> = {}): RunFailure => ({
  status,
  document: { error, errorType, retryable: status === 503, ...extra } as BridgeContract.BridgeFailure
})

const invalid = (field: string, error: string, fix: string): RunFailure =>
  failure(400, BridgeContract.INVALID_INPUT, error, { field, fix })

const ofLlmError = (error: LlmError.LlmError): RunFailure => {
  const document = BridgeContract.fromLlmError(error).document
  return { status: HttpErrors.statusOf(document), document }
}

// -----------------------------------------------------------------------------
// Loading
// -----------------------------------------------------------------------------

/**
 * The workflows of a folder, by name.
 *
 * @since 0.1.0
 * @category models
 */
export type Workflows = ReadonlyMap<string, WorkflowYaml.Loaded>

const refuse = (description: string, fix: string) =>
  LlmError.make("serve", new LlmError.Configuration({ description, setting: "serve.workflows", fix }))

/**
 * Reads and checks every workflow file of a folder (`*.yaml`, `*.yml`). A file that does not
 * check, two files with the same `name`, a missing or empty folder: a `Configuration` error
 * naming the file and the problem.
 *
 * @since 0.1.0
 * @category loading
 */
export const load = (folder: string): Effect.Effect<Workflows, LlmError.LlmError, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const names = yield* fs.readDirectory(folder).pipe(
      Effect.mapError((error) =>
        refuse(`cannot read the workflows folder ${folder}: ${error.message}`, "set serve.workflows (or --workflows) to a folder of workflow YAML files")
      )
    )
    const files = names.filter((name) => /\.ya?ml$/i.test(name)).sort()
    if (files.length === 0) {
      return yield* refuse(`the workflows folder ${folder} has no .yaml or .yml file`, "add a workflow file (see docs/workflow-yaml.md), or remove serve.workflows")
    }
    const workflows = new Map<string, WorkflowYaml.Loaded>()
    for (const name of files) {
      const file = path.join(folder, name)
      const loaded = yield* WorkflowYaml.load(file).pipe(
        Effect.mapError((error) => refuse(`workflow file ${file}: ${error.message}`, `fix ${file} (llm-connect run ${file} shows the same problems), or move it out of ${folder}`))
      )
      const other = workflows.get(loaded.file.name)
      if (other !== undefined) {
        return yield* refuse(
          `workflow files ${other.path} and ${file} both have the name "${loaded.file.name}"`,
          "give every workflow of the folder its own name"
        )
      }
      workflows.set(loaded.file.name, loaded)
    }
    return workflows
  })

// -----------------------------------------------------------------------------
// The registry
// -----------------------------------------------------------------------------

const decodeBudget = Schema.decodeUnknownResult(BridgeContract.RequestBudget)

/**
 * The registry of a server's workflows and runs.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** The workflows served, by name. */
  readonly workflows: Workflows
  /** Starts a run of a workflow for `owner`; the run goes on after the caller ends. */
  readonly start: (name: string, body: unknown, owner: Owner) => Effect.Effect<Document.RunDocument, RunFailure>
  /** The state of a run (from memory, else from its journal). */
  readonly status: (runId: string, owner: string) => Effect.Effect<Document.RunDocument, RunFailure>
  /** Waits up to `timeoutMs` for a run to end: its state, and whether it has ended. */
  readonly wait: (runId: string, owner: string, timeoutMs: number) => Effect.Effect<{ readonly done: boolean; readonly run: Document.RunDocument }, RunFailure>
  /** Cancels a run in flight (409 when it has ended). */
  readonly cancel: (runId: string, owner: string) => Effect.Effect<Document.RunDocument, RunFailure>
  /** The run's events so far, then the live ones; ends with the run. */
  readonly events: (runId: string, owner: string) => Effect.Effect<Stream.Stream<Document.RunEvent>, RunFailure>
  /** Runs in flight now. */
  readonly inFlight: Effect.Effect<number>
  /** Waits up to `timeoutMs` for the runs in flight, then cancels the rest; returns how many were cancelled. */
  readonly drain: (timeoutMs: number) => Effect.Effect<number>
}

/**
 * Who starts a run: the caller's name (a virtual key's, or `anonymous`), and how to count the
 * run's tokens toward the caller's limits when it ends (a key's tpm).
 *
 * @since 0.1.0
 * @category models
 */
export interface Owner {
  readonly name: string
  readonly charge?: ((tokens: number) => Effect.Effect<void>) | undefined
}

/**
 * What a registry is made with.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly bridge: Bridge.Service
  readonly workflows: Workflows
  readonly settings: ServeConfig.RunSettings
  /** The journal (default: the file journal of `settings.journal`, or memory when it is `false`). */
  readonly journal?: Journal.Service | undefined
}

interface Entry {
  readonly runId: string
  readonly workflow: string
  readonly owner: string
  readonly charge: ((tokens: number) => Effect.Effect<void>) | undefined
  readonly control: WorkflowDefinition.RunControl
  readonly scope: Scope.Closeable
  readonly events: SubscriptionRef.SubscriptionRef<ReadonlyArray<Document.RunEvent>>
  readonly done: Deferred.Deferred<Document.RunDocument>
  final: Document.RunDocument | undefined
  finishedAt: number
}

const RUN_ID = /^\d{8}-[0-9a-z]{6}$/

/**
 * Makes the registry in the current scope (closing it interrupts the runs still going).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<Service, never, Scope.Scope | FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function*() {
    const { bridge, settings, workflows } = options
    const registryScope = yield* Scope.Scope
    const journal = options.journal ?? (settings.journal === false ? yield* Journal.makeMemory : yield* Journal.makeFile(settings.journal))
    // Journals on disk are pruned (serve.runs.retain) at start and as runs end; only this
    // registry's own file journal, never one it was given.
    const retention = options.journal === undefined && settings.journal !== false && settings.retain !== false
      ? yield* RunRetention.make(settings.journal, settings.retain)
      : undefined
    const runs = new Map<string, Entry>()
    // Finished runs in the order they finished: the front is evicted first.
    const finishedOrder: Array<string> = []
    const inFlight = yield* SubscriptionRef.make(0)
    // Set by `drain`: a run that would start after it (a JSON-RPC batch already in flight) is refused.
    let draining = false

    const sweep = (now: number) => {
      while (finishedOrder.length > 0) {
        const oldest = runs.get(finishedOrder[0]!)
        if (oldest !== undefined && finishedOrder.length <= settings.maxRetained && oldest.finishedAt + settings.retentionMs > now) break
        finishedOrder.shift()
        if (oldest !== undefined) runs.delete(oldest.runId)
      }
    }

    const notFound = (runId: string) =>
      failure(404, "NotFound", `no run ${runId.slice(0, 40)}: it never started here, or it belongs to another key`, {
        fix: "start one with POST /v1/workflows/{name}/runs and use the runId it returns"
      })

    const lookup = (runId: string, owner: string): Effect.Effect<Entry | Document.RunDocument, RunFailure> =>
      Effect.gen(function*() {
        sweep(yield* Clock.currentTimeMillis)
        const entry = runs.get(runId)
        if (entry !== undefined) return entry.owner === owner ? entry : yield* Effect.fail(notFound(runId))
        if (!RUN_ID.test(runId)) return yield* Effect.fail(notFound(runId))
        const entries = yield* journal.read(runId).pipe(Effect.option)
        const stored = Option.isSome(entries) ? Document.storedDocument(runId, entries.value) : undefined
        if (stored === undefined || stored.owner !== owner) return yield* Effect.fail(notFound(runId))
        return stored.run
      })

    const isEntry = (found: Entry | Document.RunDocument): found is Entry => "control" in found

    const emit = (entry: Pick<Entry, "events">, event: Document.RunEvent) => SubscriptionRef.update(entry.events, (events) => [...events, event])

    // Ends a run once (the natural end and a cancel may race): the document, the event, the slot.
    // Uninterruptible: completing `done` ends the watcher's race, which interrupts its loser.
    const finish = (entry: Entry, run: Document.RunDocument) =>
      Effect.uninterruptible(Effect.gen(function*() {
        if (entry.final !== undefined) return entry.final
        entry.final = run
        const now = yield* Clock.currentTimeMillis
        entry.finishedAt = now
        yield* emit(entry, {
          type: "run.finished",
          runId: entry.runId,
          at: now,
          status: run.status,
          usage: run.usage,
          ...(run.error !== undefined ? { error: run.error } : {})
        })
        yield* SubscriptionRef.update(inFlight, (count) => count - 1)
        if (entry.charge !== undefined) yield* entry.charge(run.usage.totalTokens)
        finishedOrder.push(entry.runId)
        sweep(now)
        if (retention !== undefined) yield* retention.finished(entry.runId, run.finishedAt ?? now)
        yield* Scope.close(entry.scope, Exit.void)
        yield* Deferred.succeed(entry.done, run)
        return run
      }))

    const ended = (entry: Entry, exit: Exit.Exit<WorkflowDefinition.RunResult, WorkflowError.WorkflowError>) =>
      Effect.gen(function*() {
        const snapshot = yield* entry.control.snapshot
        if (Exit.isSuccess(exit)) return yield* finish(entry, Document.documentOf(snapshot))
        const error = Exit.findErrorOption(exit)
        return yield* finish(
          entry,
          Document.documentOf(snapshot, Option.isSome(error) ? Document.errorOf(error.value) : { error: "the run stopped unexpectedly", errorType: "Unknown" })
        )
      })

    const stop = (entry: Entry, why: string) =>
      Effect.gen(function*() {
        const snapshot = yield* entry.control.interrupt("cancelled")
        const at = snapshot.finishedAt ?? (yield* Clock.currentTimeMillis)
        yield* journal.append(entry.runId, { type: "end", state: "cancelled", at }).pipe(Effect.catch(() => Effect.void))
        return yield* finish(entry, Document.documentOf(snapshot, { error: why, errorType: "Cancelled" }))
      })

    const hooksFor = (runId: string, events: Pick<Entry, "events">): WorkflowHooks.Hooks => ({
      beforeStep: (event) => emit(events, { type: "step.started", runId, at: event.startedAt, step: event.step, attempt: event.attempt }),
      afterStep: (event) =>
        emit(events, {
          type: "step.finished",
          runId,
          at: event.startedAt + event.durationMs,
          step: event.step,
          attempt: event.attempt,
          durationMs: event.durationMs,
          usage: event.usage
        }),
      onError: (event) =>
        emit(events, {
          type: "step.failed",
          runId,
          at: event.startedAt + event.durationMs,
          step: event.step,
          attempt: event.attempt,
          durationMs: event.durationMs,
          error: Redaction.scrubText(event.error.message),
          errorType: event.error.reason._tag,
          willRetry: event.willRetry
        })
    })

    const parseStart = (loaded: WorkflowYaml.Loaded, body: unknown): Effect.Effect<{
      readonly input: Record<string, unknown>
      readonly budget: BridgeContract.RequestBudget | undefined
    }, RunFailure> =>
      Effect.gen(function*() {
        const fix = "send {\"input\": {...}, \"budget\": {...}} (both optional; see contracts/serve-openapi.json)"
        if (body === undefined) return { input: yield* checkInputs(loaded, {}), budget: undefined }
        if (body === null || typeof body !== "object" || Array.isArray(body)) {
          return yield* Effect.fail(invalid("body", "the request body must be a JSON object", fix))
        }
        const record = body as Record<string, unknown>
        for (const key of Object.keys(record)) {
          if (key !== "input" && key !== "budget") {
            return yield* Effect.fail(invalid(key, `unknown field "${key.slice(0, 40)}"; a run request has "input" and "budget"`, fix))
          }
        }
        const input = record.input ?? {}
        if (typeof input !== "object" || Array.isArray(input)) {
          return yield* Effect.fail(invalid("input", "\"input\" must be an object of the workflow's inputs by name", fix))
        }
        let budget: BridgeContract.RequestBudget | undefined
        if (record.budget !== undefined && record.budget !== null) {
          const decoded = decodeBudget(record.budget, { errors: "all" })
          if (Result.isFailure(decoded)) {
            return yield* Effect.fail(invalid("budget", `invalid "budget": ${decoded.failure.message}`, "see the RequestBudget schema in contracts/bridge-request.schema.json"))
          }
          budget = decoded.success
        }
        return { input: yield* checkInputs(loaded, input as Record<string, unknown>), budget }
      })

    const checkInputs = (loaded: WorkflowYaml.Loaded, provided: Record<string, unknown>) => {
      const checked = WorkflowValidation.checkInputs(loaded.file, provided)
      if (Result.isSuccess(checked)) return Effect.succeed(checked.success)
      const first = checked.failure[0]!
      const name = first.path[1]
      return Effect.fail(invalid(
        typeof name === "string" ? `input.${name}` : "input",
        checked.failure.map((problem) => problem.message).join("; "),
        `send the inputs of workflow "${loaded.file.name}" in "input"`
      ))
    }

    const start = (name: string, body: unknown, caller: Owner): Effect.Effect<Document.RunDocument, RunFailure> =>
      Effect.gen(function*() {
        const loaded = workflows.get(name)
        if (loaded === undefined) {
          return yield* Effect.fail(failure(404, "NotFound", `no workflow named "${name.slice(0, 80)}"`, {
            fix: workflows.size === 0
              ? "this server serves no workflows: start it with serve.workflows (or --workflows) set to a folder of workflow files"
              : `served workflows: ${[...workflows.keys()].join(", ")}`
          }))
        }
        const request = yield* parseStart(loaded, body)
        if (draining) return yield* Effect.fail(failure(503, "Unavailable", "the server is shutting down; start the run on another instance"))
        const admitted = yield* SubscriptionRef.modify(inFlight, (count) =>
          count >= settings.maxInFlight ? [false, count] as const : [true, count + 1] as const)
        if (!admitted) {
          return yield* Effect.fail(failure(
            503,
            "Unavailable",
            `${settings.maxInFlight} workflow runs are in flight (serve.runs.maxInFlight); retry after the retry-after header`
          ))
        }
        const runScope = yield* Scope.fork(registryScope)
        const begun = yield* Effect.gen(function*() {
          const stack = yield* bridge.stackFor({}).pipe(Effect.provideService(Scope.Scope, runScope))
          // The run's budget: the request's over the configured one, under the caller's key's;
          // closed (out of the budget store) with the run's scope.
          const tracker = yield* bridge.requestBudget(request.budget).pipe(Effect.provideService(Scope.Scope, runScope))
          const factory = Context.get(stack, ModelFactory.ModelFactory)
          // A step's taskType: goes through the router of the same stack.
          const router = yield* bridge.router.pipe(Effect.provideService(Scope.Scope, runScope))
          const context = Context.add(stack, ModelFactory.ModelFactory, { ...factory, budget: tracker }).pipe(
            Context.add(Router.Router, router)
          )
          const definition = yield* Effect.provideContext(WorkflowYaml.compile(loaded), context)
          let runId = yield* Workflow.makeRunId
          while (runs.has(runId)) runId = yield* Workflow.makeRunId
          const events = yield* SubscriptionRef.make<ReadonlyArray<Document.RunEvent>>([
            { type: "run.started", runId, at: yield* Clock.currentTimeMillis, workflow: name }
          ])
          const hooks = yield* WorkflowHooks.CurrentHooks
          const control = yield* Executor.start(definition, {
            runId,
            input: request.input,
            source: { path: loaded.path, hash: loaded.hash },
            settings: { via: "serve", owner: caller.name }
          }).pipe(
            Effect.provideService(Journal.Journal, journal),
            Effect.provideService(WorkflowHooks.CurrentHooks, [...hooks, hooksFor(runId, { events })]),
            Effect.provideService(Scope.Scope, runScope),
            // Outside the run's budget on the fiber: its own tracker is the factory's.
            Effect.provideService(BudgetTracker.CurrentBudget, undefined),
            Effect.provideContext(context)
          )
          const entry: Entry = {
            runId,
            workflow: name,
            owner: caller.name,
            charge: caller.charge,
            control,
            scope: runScope,
            events,
            done: yield* Deferred.make<Document.RunDocument>(),
            final: undefined,
            finishedAt: 0
          }
          runs.set(runId, entry)
          yield* Effect.raceFirst(
            Effect.flatMap(Effect.exit(control.await), (exit) => ended(entry, exit)),
            Deferred.await(entry.done)
          ).pipe(Effect.forkIn(registryScope))
          return entry
        }).pipe(
          Effect.onError(() => Effect.andThen(Scope.close(runScope, Exit.void), SubscriptionRef.update(inFlight, (count) => count - 1))),
          Effect.mapError(ofLlmError)
        )
        return Document.documentOf(yield* begun.control.snapshot)
      })

    // The state now; a run whose steps have all ended is read once it is finished (its error set).
    const current = (entry: Entry): Effect.Effect<Document.RunDocument> =>
      entry.final !== undefined ? Effect.succeed(entry.final) : Effect.flatMap(entry.control.snapshot, (snapshot) =>
        RunState.isFinal(snapshot.state) ? Deferred.await(entry.done) : Effect.succeed(Document.documentOf(snapshot)))

    const status = (runId: string, owner: string) =>
      Effect.flatMap(lookup(runId, owner), (found) => isEntry(found) ? current(found) : Effect.succeed(found))

    const wait = (runId: string, owner: string, timeoutMs: number) =>
      Effect.gen(function*() {
        const found = yield* lookup(runId, owner)
        if (!isEntry(found)) return { done: true, run: found }
        const done = yield* Deferred.await(found.done).pipe(Effect.timeoutOption(timeoutMs))
        if (Option.isSome(done)) return { done: true, run: done.value }
        return { done: false, run: yield* current(found) }
      })

    const cancel = (runId: string, owner: string) =>
      Effect.gen(function*() {
        const found = yield* lookup(runId, owner)
        const final = isEntry(found) ? found.final : found
        if (final !== undefined) {
          return yield* Effect.fail(failure(409, "Conflict", `run ${runId} has already ended (${final.status}); there is nothing to cancel`, { run: final }))
        }
        return yield* stop(found as Entry, `run ${runId} was cancelled (DELETE /v1/runs/${runId})`)
      })

    const events = (runId: string, owner: string) =>
      Effect.map(lookup(runId, owner), (found): Stream.Stream<Document.RunEvent> => {
        if (!isEntry(found)) {
          const run = found
          return Stream.fromIterable<Document.RunEvent>([
            ...run.steps.map((step): Document.RunEvent => ({
              type: "step.finished",
              runId,
              at: step.finishedAt ?? run.createdAt,
              step: step.id,
              attempt: step.attempts,
              durationMs: step.durationMs ?? 0,
              usage: step.usage ?? Usage.empty
            })),
            {
              type: "run.finished",
              runId,
              at: run.finishedAt ?? run.createdAt,
              status: run.status,
              usage: run.usage,
              ...(run.error !== undefined ? { error: run.error } : {})
            }
          ])
        }
        return Stream.suspend(() => {
          let sent = 0
          return SubscriptionRef.changes(found.events).pipe(
            Stream.flatMap((all) => {
              const fresh = all.slice(sent)
              sent = all.length
              return Stream.fromIterable(fresh)
            }),
            Stream.takeUntil((event) => event.type === "run.finished")
          )
        })
      })

    const drain = (timeoutMs: number) =>
      Effect.gen(function*() {
        draining = true
        yield* SubscriptionRef.changes(inFlight).pipe(
          Stream.takeUntil((count) => count <= 0),
          Stream.runDrain,
          Effect.timeoutOrElse({ duration: timeoutMs, orElse: () => Effect.void })
        )
        const left = [...runs.values()].filter((entry) => entry.final === undefined)
        yield* Effect.forEach(left, (entry) => stop(entry, `the server shut down before run ${entry.runId} ended (drain timeout)`), {
          concurrency: "unbounded",
          discard: true
        })
        return left.length
      })

    return { workflows, start, status, wait, cancel, events, inFlight: SubscriptionRef.get(inFlight), drain } satisfies Service
  })

/**
 * Reads a `wait` duration (`30s`, `2m`): a failure naming the field when it is not one.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseWait = (text: string | undefined, field: string): Effect.Effect<number | undefined, RunFailure> => {
  if (text === undefined) return Effect.succeed(undefined)
  const parsed = DurationText.parseMillis(text)
  return Result.isFailure(parsed)
    ? Effect.fail(invalid(field, `"${field}": ${parsed.failure}`, "send a duration such as 30s or 2m"))
    : Effect.succeed(parsed.success)
}
