/**
 * The run journal: what a run has finished, written as it goes, so a killed run can resume.
 *
 * A journal is a list of entries per run id: a `start` entry (the workflow's name, file path and
 * content hash, the inputs, and the settings the front door resolved, such as the provider, model,
 * base URL and budget, never keys), one `step` entry per finished step (its output, usage and
 * attempts), and an `end` entry. Resuming reads them back: finished steps are not run again and
 * their usage counts against the run's budget. A step that was in flight when the process died
 * has no entry and runs again.
 *
 * The service is an interface; {@link layerFile} writes JSON Lines to
 * `.llm-connect/runs/<id>.jsonl` (one `appendFile` per entry), {@link layerMemory} keeps entries
 * in memory for tests. A process killed in the middle of an append leaves a torn last line: the
 * file journal cuts it off before it reads or appends (that step runs again), so the next entry
 * never lands on the fragment.
 *
 * @since 0.1.0
 */
import { Context, Effect, FileSystem, Layer, Path, Ref, Schema } from "effect"
import * as Usage from "../Usage.ts"
import * as WorkflowError from "./WorkflowError.ts"

/**
 * The first entry of a run.
 *
 * @since 0.1.0
 * @category schemas
 */
export const StartEntry = Schema.Struct({
  type: Schema.Literal("start"),
  runId: Schema.String,
  workflow: Schema.String,
  path: Schema.optionalKey(Schema.String),
  hash: Schema.optionalKey(Schema.String),
  input: Schema.Record(Schema.String, Schema.Unknown),
  /**
   * What the front door resolved to run with (the CLI's provider, model, base URL, budget...;
   * never a key), read back on resume so the run continues as it started. Its shape is the front
   * door's (`llm-connect run` reads its own).
   */
  settings: Schema.optionalKey(Schema.Record(Schema.String, Schema.Unknown)),
  at: Schema.Number
})

/**
 * A finished step.
 *
 * @since 0.1.0
 * @category schemas
 */
export const StepEntry = Schema.Struct({
  type: Schema.Literal("step"),
  step: Schema.String,
  output: Schema.Unknown,
  usage: Usage.Usage,
  costUsd: Schema.optionalKey(Schema.Finite),
  attempts: Schema.Int,
  startedAt: Schema.Number,
  finishedAt: Schema.Number
})

/**
 * Why a run failed, as its end entry keeps it: the failed step, the attempt, its error's reason
 * (`RateLimited`, `BudgetExceeded`, `Timeout`...) and the message (scrubbed of keys; never a
 * prompt), so a run read back after a restart says why it failed.
 *
 * @since 0.1.0
 * @category schemas
 */
export const EndError = Schema.Struct({
  step: Schema.String,
  attempt: Schema.Int,
  errorType: Schema.String,
  message: Schema.String,
  startedAt: Schema.optionalKey(Schema.Number),
  finishedAt: Schema.optionalKey(Schema.Number)
})

/**
 * @since 0.1.0
 * @category models
 */
export type EndError = typeof EndError.Type

/**
 * The end of a run (with the failed step's error when a step failed; journals written before
 * it have none).
 *
 * @since 0.1.0
 * @category schemas
 */
export const EndEntry = Schema.Struct({
  type: Schema.Literal("end"),
  state: Schema.String,
  at: Schema.Number,
  error: Schema.optionalKey(EndError)
})

/**
 * @since 0.1.0
 * @category schemas
 */
export const Entry = Schema.Union([StartEntry, StepEntry, EndEntry])

/**
 * @since 0.1.0
 * @category models
 */
export type Entry = typeof Entry.Type

/**
 * @since 0.1.0
 * @category models
 */
export type StepEntry = typeof StepEntry.Type

/**
 * @since 0.1.0
 * @category models
 */
export type StartEntry = typeof StartEntry.Type

/**
 * What a journal can do.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** Appends one entry to a run's journal. */
  readonly append: (runId: string, entry: Entry) => Effect.Effect<void, WorkflowError.WorkflowError>
  /** Reads a run's entries, oldest first; `NotFound` when there is no journal for that id. */
  readonly read: (runId: string) => Effect.Effect<ReadonlyArray<Entry>, WorkflowError.WorkflowError>
}

/**
 * The `Journal` service.
 *
 * @since 0.1.0
 * @category services
 */
export class Journal extends Context.Service<Journal, Service>()("llm-connect/workflow/Journal") {}

/**
 * The default directory of file journals.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_DIRECTORY = ".llm-connect/runs"

/**
 * The file of a run's journal under a directory, as `makeFile` names it (for messages).
 *
 * @since 0.1.0
 * @category constructors
 */
export const fileOf = (directory: string, runId: string): string =>
  `${directory === "" ? "." : directory.replace(/\/+$/, "")}/${runId}.jsonl`

const journalError = (runId: string, description: string, fix: string) =>
  WorkflowError.make(WorkflowError.UNKNOWN, new WorkflowError.Journal({ description, fix }), runId)

const decodeLine = Schema.decodeUnknownExit(Schema.fromJsonString(Entry))

const NEWLINE = 0x0a

/** The length of the file's whole lines: everything up to and including its last newline. */
const wholeLines = (bytes: Uint8Array): number => bytes.lastIndexOf(NEWLINE) + 1

/**
 * An entry from one line. A line that is not one may be a torn fragment that an older version
 * appended the next entry onto (`{"type":"step","st{"type":"step",...}`): the entry at its end is
 * kept (every entry starts with its `type`).
 */
const entryOf = (line: string): Entry | undefined => {
  const decoded = decodeLine(line)
  if (decoded._tag === "Success") return decoded.value
  for (let at = line.indexOf("{\"type\":", 1); at > 0; at = line.indexOf("{\"type\":", at + 1)) {
    const glued = decodeLine(line.slice(at))
    if (glued._tag === "Success") return glued.value
  }
  return undefined
}

/**
 * A journal in memory (tests, and runs that need no resume).
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeMemory: Effect.Effect<Service> = Effect.gen(function*() {
  const store = yield* Ref.make(new Map<string, ReadonlyArray<Entry>>())
  return {
    append: (runId, entry) => Ref.update(store, (map) => new Map(map).set(runId, [...(map.get(runId) ?? []), entry])),
    read: (runId) =>
      Effect.flatMap(Ref.get(store), (map) => {
        const entries = map.get(runId)
        return entries === undefined
          ? Effect.fail(WorkflowError.make(WorkflowError.UNKNOWN, new WorkflowError.NotFound({ description: `no journal for run ${runId}` }), runId))
          : Effect.succeed(entries)
      })
  }
})

/**
 * A memory journal as a Layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory: Layer.Layer<Journal> = Layer.effect(Journal, makeMemory)

/**
 * A JSON Lines journal: one file `<directory>/<runId>.jsonl` per run.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeFile = (
  directory: string = DEFAULT_DIRECTORY
): Effect.Effect<Service, never, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const fileOf = (runId: string) => path.join(directory, `${runId}.jsonl`)
    const writeError = (runId: string) => (error: { readonly message: string }) =>
      journalError(runId, `cannot write the journal ${fileOf(runId)}: ${error.message}`, `check that ${directory} is writable`)
    // Cuts off a torn last line (a process killed mid-append): the next entry then starts on a
    // line of its own. Returns the whole lines.
    const repair = (file: string, bytes: Uint8Array) => {
      const kept = wholeLines(bytes)
      return kept === bytes.length ? Effect.succeed(bytes) : Effect.as(fs.truncate(file, kept), bytes.subarray(0, kept))
    }
    // Run ids whose file this journal has checked (or created) since it was made: appends to them
    // need no check. A plain set closed over: one journal per process, changed synchronously.
    const checked = new Set<string>()
    const checkTail = (runId: string) =>
      checked.has(runId) ? Effect.void : fs.exists(fileOf(runId)).pipe(
        Effect.flatMap((exists) => exists ? Effect.flatMap(fs.readFile(fileOf(runId)), (bytes) => repair(fileOf(runId), bytes)) : Effect.void),
        Effect.andThen(Effect.sync(() => void checked.add(runId)))
      )
    return {
      append: (runId, entry) =>
        fs.makeDirectory(directory, { recursive: true }).pipe(
          Effect.andThen(checkTail(runId)),
          Effect.andThen(fs.writeFileString(fileOf(runId), `${JSON.stringify(entry)}\n`, { flag: "a" })),
          Effect.mapError(writeError(runId))
        ),
      read: (runId) =>
        Effect.gen(function*() {
          const file = fileOf(runId)
          const bytes = yield* fs.readFile(file).pipe(
            Effect.mapError(() =>
              WorkflowError.make(
                WorkflowError.UNKNOWN,
                new WorkflowError.NotFound({ description: `no journal for run ${runId} (looked for ${file})` }),
                runId
              )
            )
          )
          // A torn last line (the process died mid-write) is dropped: that step runs again.
          const whole = yield* repair(file, bytes).pipe(Effect.mapError(writeError(runId)))
          checked.add(runId)
          const entries: Array<Entry> = []
          const lines = new TextDecoder().decode(whole).split("\n")
          for (let index = 0; index < lines.length; index++) {
            const line = lines[index]!
            if (line.trim() === "") continue
            const entry = entryOf(line)
            if (entry === undefined) {
              return yield* journalError(runId, `${file}:${index + 1} is not a journal entry`, `delete ${file} and run the workflow again`)
            }
            entries.push(entry)
          }
          return entries
        })
    }
  })

/**
 * A file journal as a Layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerFile = (
  directory: string = DEFAULT_DIRECTORY
): Layer.Layer<Journal, never, FileSystem.FileSystem | Path.Path> => Layer.effect(Journal, makeFile(directory))
