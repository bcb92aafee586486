/**
 * The run journal: what a run has finished, written as it goes, so a killed run can resume.
 *
 * A journal is a list of entries per run id: a `start` entry (the workflow's name, file path and
 * content hash, and the inputs), one `step` entry per finished step (its output, usage and
 * attempts), and an `end` entry. Resuming reads them back: finished steps are not run again and
 * their usage counts against the run's budget. A step that was in flight when the process died
 * has no entry and runs again.
 *
 * The service is an interface; {@link layerFile} writes JSON Lines to
 * `.llm-connect/runs/<id>.jsonl` (one `appendFile` per entry), {@link layerMemory} keeps entries
 * in memory for tests.
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
 * The end of a run.
 *
 * @since 0.1.0
 * @category schemas
 */
export const EndEntry = Schema.Struct({
  type: Schema.Literal("end"),
  state: Schema.String,
  at: Schema.Number
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

const journalError = (runId: string, description: string, fix: string) =>
  WorkflowError.make(WorkflowError.UNKNOWN, new WorkflowError.Journal({ description, fix }), runId)

const decodeLine = Schema.decodeUnknownExit(Schema.fromJsonString(Entry))

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
    return {
      append: (runId, entry) =>
        fs.makeDirectory(directory, { recursive: true }).pipe(
          Effect.andThen(fs.writeFileString(fileOf(runId), `${JSON.stringify(entry)}\n`, { flag: "a" })),
          Effect.mapError((error) =>
            journalError(runId, `cannot write the journal ${fileOf(runId)}: ${error.message}`, `check that ${directory} is writable`)
          )
        ),
      read: (runId) =>
        Effect.gen(function*() {
          const file = fileOf(runId)
          const text = yield* fs.readFileString(file).pipe(
            Effect.mapError(() =>
              WorkflowError.make(
                WorkflowError.UNKNOWN,
                new WorkflowError.NotFound({ description: `no journal for run ${runId} (looked for ${file})` }),
                runId
              )
            )
          )
          const entries: Array<Entry> = []
          const lines = text.split("\n")
          for (let index = 0; index < lines.length; index++) {
            const line = lines[index]!
            if (line.trim() === "") continue
            const decoded = decodeLine(line)
            if (decoded._tag === "Success") entries.push(decoded.value)
            else if (index < lines.length - 2) {
              return yield* journalError(runId, `${file}:${index + 1} is not a journal entry`, `delete ${file} and run the workflow again`)
            }
            // A torn last line (the process died mid-write) is dropped: that step runs again.
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
