/**
 * The handler of `llm-connect run` (see `../run.ts`): the workflow engine, the journal, resume
 * and progress, loaded when the command runs.
 *
 * @since 0.1.0
 */
import { resolve as resolvePath } from "node:path"
import { Effect, FileSystem, Option, Result, Scope } from "effect"
import * as DurationText from "../../../DurationText.ts"
import * as LlmError from "../../../LlmError.ts"
import * as RoutingStack from "../../../routing/RoutingStack.ts"
import * as Executor from "../../../workflow/Executor.ts"
import * as Journal from "../../../workflow/Journal.ts"
import * as Workflow from "../../../workflow/Workflow.ts"
import * as WorkflowError from "../../../workflow/WorkflowError.ts"
import * as WorkflowHooks from "../../../workflow/WorkflowHooks.ts"
import * as WorkflowYaml from "../../../workflow/WorkflowYaml.ts"
import * as ConfigFlags from "../../flags/ConfigFlags.ts"
import * as ObservabilityFlags from "../../flags/ObservabilityFlags.ts"
import * as Prompt from "../prompt.ts"
import * as CliConfig from "../../CliConfig.ts"
import * as Output from "../../Output.ts"
import * as RunProgress from "../runProgress.ts"
import * as RunSettings from "../runSettings.ts"
import type * as RunState from "../../../workflow/RunState.ts"
import type * as WorkflowDefinition from "../../../workflow/WorkflowDefinition.ts"
import { exitCode, type Flags, WorkflowExit } from "../run.ts"

const parseInputs = (
  workflow: string,
  pairs: ReadonlyArray<string>
): Effect.Effect<Record<string, string>, WorkflowError.WorkflowError> => {
  const values: Record<string, string> = {}
  const issues: Array<WorkflowError.Issue> = []
  for (const pair of pairs) {
    const at = pair.indexOf("=")
    if (at <= 0) issues.push({ message: `--input "${pair}" is not key=value (e.g. --input topic=tides)`, path: "--input" })
    else values[pair.slice(0, at)] = pair.slice(at + 1)
  }
  return issues.length > 0 ? Effect.fail(WorkflowError.invalid(workflow, issues)) : Effect.succeed(values)
}

const journalError = (workflow: string, runId: string, description: string, fix: string) =>
  WorkflowError.make(workflow, new WorkflowError.Journal({ description, fix }), runId)

interface Prepared {
  readonly loaded: WorkflowYaml.Loaded
  readonly runId: string
  readonly input: Record<string, unknown>
  readonly resumed: ReadonlyArray<Journal.StepEntry> | undefined
  /** On resume, the run's start entry. */
  readonly start: Journal.StartEntry | undefined
}

const prepare = (
  file: Option.Option<string>,
  resume: Option.Option<string>,
  pairs: ReadonlyArray<string>,
  journal: Journal.Service
): Effect.Effect<Prepared, WorkflowError.WorkflowError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    if (Option.isSome(resume)) {
      const runId = resume.value
      const entries = yield* journal.read(runId)
      const start = entries[0]
      if (start === undefined || start.type !== "start" || start.path === undefined) {
        return yield* journalError(WorkflowError.UNKNOWN, runId, `the journal of run ${runId} has no start entry`, "start a new run")
      }
      const loaded = yield* WorkflowYaml.load(start.path)
      if (loaded.hash !== start.hash) {
        return yield* journalError(
          start.workflow,
          runId,
          `${start.path} changed since run ${runId} started (sha256 ${start.hash?.slice(0, 12)}... then, ${loaded.hash.slice(0, 12)}... now); resuming would mix two versions of the workflow`,
          `restore the file as it was, or start a new run: llm-connect run ${start.path}`
        )
      }
      if (pairs.length > 0) yield* Output.notice("--input is ignored with --resume: the run keeps its original inputs")
      // The journal is a file anyone can edit: its inputs are checked again against the workflow's.
      const input = yield* WorkflowYaml.checkInputs(loaded, start.input)
      const resumed = entries.filter((entry): entry is Journal.StepEntry => entry.type === "step")
      return { loaded, runId, input, resumed, start }
    }
    if (Option.isNone(file)) {
      return yield* Effect.fail(WorkflowError.invalid(WorkflowError.UNKNOWN, [{
        message: "give a workflow file (llm-connect run examples/workflows/demo.yaml) or --resume <run id>",
        path: ""
      }]))
    }
    const loaded = yield* WorkflowYaml.load(file.value)
    const provided = yield* parseInputs(loaded.file.name, pairs)
    const input = yield* WorkflowYaml.checkInputs(loaded, provided)
    return { loaded, runId: yield* Workflow.makeRunId, input, resumed: undefined, start: undefined }
  })

/**
 * Takes over SIGINT while a run is going: the first Ctrl-C runs `onFirst` (a graceful cancel),
 * the second gives the signal back to the previous handlers (NodeRuntime's: interrupt). The
 * previous handlers are restored when the scope closes.
 *
 * @since 0.1.0
 * @category signals
 */
export const takeOverSigint = (onFirst: () => void): Effect.Effect<void, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const previous = process.listeners("SIGINT")
      let presses = 0
      const handler = () => {
        presses += 1
        if (presses === 1) return onFirst()
        process.removeListener("SIGINT", handler)
        for (const listener of previous) {
          if (!process.listeners("SIGINT").includes(listener)) process.on("SIGINT", listener)
          listener.call(process, "SIGINT")
        }
      }
      for (const listener of previous) process.removeListener("SIGINT", listener)
      process.on("SIGINT", handler)
      return { previous, handler }
    }),
    ({ handler, previous }) =>
      Effect.sync(() => {
        process.removeListener("SIGINT", handler)
        for (const listener of previous) if (!process.listeners("SIGINT").includes(listener)) process.on("SIGINT", listener)
      })
  ).pipe(Effect.asVoid)

const render = (result: WorkflowDefinition.RunResult): string =>
  [...outputBlocks(result), RunProgress.totals(result)].join("\n\n")

/** Each finished step's output, under a header line. */
const outputBlocks = (snapshot: RunState.RunSnapshot): ReadonlyArray<string> =>
  snapshot.steps.filter((step) => step.state === "completed").map((step) => {
    const output = typeof step.output === "string" ? step.output : JSON.stringify(step.output, null, 2)
    return `── ${step.id} ── ${RunProgress.stepFacts(step)}\n${output}`
  })

/**
 * The command that resumes a run: its id, and the journal folder when it is not the default.
 *
 * @since 0.1.0
 * @category formatting
 */
export const resumeCommand = (runId: string, journalDirectory: string): string =>
  `llm-connect run --resume ${runId}${
    journalDirectory === Journal.DEFAULT_DIRECTORY ? "" : ` --journal-dir ${shellWord(journalDirectory)}`
  }`

const shellWord = (word: string): string => (/^[\w./:@%+=-]+$/.test(word) ? word : `'${word.replace(/'/g, "'\\''")}'`)

const snapshotOf = (error: WorkflowError.WorkflowError): RunState.RunSnapshot | undefined => {
  const reason = error.reason
  return reason._tag === "StepFailed" || reason._tag === "Timeout" || reason._tag === "Cancelled" ? reason.snapshot : undefined
}


/** What the interrupt report needs to know of the run so far. */
interface Reporting {
  resume: string | undefined
}

/**
 * The configuration of the run: for a new run, flags > environment > file > defaults; on
 * resume, the settings journaled when it started (see `runSettings.ts`).
 */
const configure = (flags: Flags, prepared: Prepared, journalFile: string) =>
  Effect.gen(function*() {
    const overrides = ConfigFlags.overrides(
      flags.model,
      flags.mock,
      flags.budget,
      flags.resilience,
      flags.requestSize,
      ObservabilityFlags.overrides(flags.ledger)
    )
    const start = prepared.start
    const settings = start === undefined ? Option.none() : yield* RunSettings.fromJournal(start, journalFile)
    if (Option.isNone(settings)) {
      if (start !== undefined) {
        yield* Output.notice(
          `the journal of run ${prepared.runId} does not record the settings it started with (an older llm-connect wrote it); it resumes with the current configuration`
        )
      }
      const resolved = yield* CliConfig.load({ flags: overrides, configFile: ConfigFlags.configFile(flags.config) })
      return { resolved, layer: yield* RoutingStack.fromConfig(resolved) }
    }
    const given = ConfigFlags.configFile(flags.config)
    const loaded = yield* CliConfig.load({ flags: overrides, configFile: given ?? settings.value.config }).pipe(
      // The run's own config file, read again: one that is gone or broken cannot reproduce it.
      Effect.mapError((error) => given === undefined ? RunSettings.cannotResume(prepared.runId, settings.value)(error) : error)
    )
    const restored = yield* RunSettings.restore(loaded, settings.value, {
      runId: prepared.runId,
      journalFile,
      newRun: `llm-connect run ${shellWord(start?.path ?? "<file.yaml>")}`
    })
    if (restored.notice !== undefined) yield* Output.notice(restored.notice)
    const layer = yield* RoutingStack.fromConfig(restored.resolved).pipe(
      Effect.mapError(RunSettings.cannotResume(prepared.runId, settings.value))
    )
    return { resolved: restored.resolved, layer }
  })

const execute = Effect.fn("cli.run")(function*(flags: Flags, reporting: Reporting) {
  const timeoutMs = Option.isSome(flags.timeout) ? DurationText.parseMillis(flags.timeout.value) : undefined
  if (timeoutMs !== undefined && Result.isFailure(timeoutMs)) {
    return yield* WorkflowError.invalid(WorkflowError.UNKNOWN, [{ message: `--timeout: ${timeoutMs.failure}`, path: "--timeout" }])
  }
  const journal = yield* Journal.makeFile(flags.journal)
  const prepared = yield* prepare(flags.file, flags.resume, flags.inputs, journal)
  const { loaded, runId } = prepared
  const resume = resumeCommand(runId, flags.journal)
  const { resolved, layer } = yield* configure(flags, prepared, Journal.fileOf(flags.journal, runId))
  const { config } = resolved
  if (config.provider === "mock") yield* Output.notice(Prompt.MOCK_NOTICE)
  reporting.resume = resume
  const run = Effect.gen(function*() {
    const definition = yield* WorkflowYaml.compile(loaded)
    const progress = RunProgress.make({ json: !process.stderr.isTTY, workflow: definition.name, runId, resume })
    yield* progress.start(definition.steps.map((step) => step.id), prepared.resumed?.map((entry) => entry.step) ?? [])
    const outcome = yield* Effect.scoped(Effect.gen(function*() {
      // SIGINT is taken over before the run starts: its first step may already be running (and
      // say so) by the time `start` returns, and a Ctrl-C then must already be the graceful cancel.
      let cancel: (() => void) | undefined
      let cancelAsked = false
      yield* takeOverSigint(() => {
        if (cancel === undefined) cancelAsked = true
        else cancel()
      })
      const control = yield* Executor.start(definition, {
        runId,
        input: prepared.input,
        resumed: prepared.resumed,
        source: { path: loaded.path === undefined ? undefined : resolvePath(loaded.path), hash: loaded.hash },
        settings: RunSettings.fromConfig(config, resolvePath(".")),
        requestDefaults: { system: config.system, maxTokens: config.maxTokens, temperature: config.temperature }
      }).pipe(
        Effect.provideService(Journal.Journal, journal),
        Effect.provide(WorkflowHooks.layer(progress.hooks))
      )
      cancel = () => void Effect.runFork(Effect.andThen(control.cancel, progress.cancelling))
      if (cancelAsked) cancel()
      if (timeoutMs === undefined) return yield* control.await
      const done = yield* Effect.timeoutOption(control.await, timeoutMs.success)
      if (Option.isSome(done)) return done.value
      const snapshot = yield* control.interrupt("timeout")
      return yield* WorkflowError.make(definition.name, new WorkflowError.Timeout({ timeoutMs: timeoutMs.success, snapshot }), runId)
    }))
    yield* progress.end(outcome)
    return outcome
  })
  const outcome = yield* Effect.provide(run, layer)
  if (flags.json) yield* Output.json(outcome)
  else yield* Output.result(render(outcome))
})

/**
 * Runs `run` with its parsed flags and argument.
 *
 * @since 0.1.0
 * @category handlers
 */
export const run = (flags: Flags) => {
  const reporting: Reporting = { resume: undefined }
  return execute(flags, reporting).pipe(
    Effect.catchIf(
      (error): error is WorkflowError.WorkflowError => error instanceof WorkflowError.WorkflowError,
      (error) =>
        Effect.gen(function*() {
          if (flags.json) yield* Output.json(WorkflowError.toDocument(error))
          else {
            // The steps that finished before the run stopped: their output was paid for.
            const snapshot = snapshotOf(error)
            const blocks = snapshot === undefined ? [] : outputBlocks(snapshot)
            if (blocks.length > 0) yield* Output.result(blocks.join("\n\n"))
          }
          yield* RunProgress.reportFailure(error)
          return yield* new WorkflowExit({ message: RunProgress.failureSummary(error, reporting.resume), code: exitCode(error) })
        })
    ),
    Effect.tapError((error) => flags.json && LlmError.isLlmError(error) ? Output.json(LlmError.toDocument(error)) : Effect.void),
    Output.reportInterrupt(flags.json, () => reporting.resume === undefined ? undefined : `resume with: ${reporting.resume}`)
  )
}
