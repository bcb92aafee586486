/**
 * Reads a small YAML or JSON data file a setting names (`--tools FILE`, `--mock-tool-calls
 * FILE`): bounded in size, parsed as YAML (JSON is YAML), decoded with a Schema, every failure a
 * `Configuration` error naming the setting, the file and, for a syntax error, its line.
 *
 * @internal
 */
import { Effect, FileSystem, Path, Result, Schema } from "effect"
import * as LlmError from "../LlmError.ts"
import * as ConfigDocument from "./configDocument.ts"

/** The most bytes a data file may have (a tools file is a few kilobytes). */
export const MAX_BYTES = 4 * 1024 * 1024

/** Where the file comes from, for messages. */
export interface Source {
  /** The setting, e.g. `tools` or `mock.toolCalls`. */
  readonly setting: string
  /** How it was named, e.g. `--tools` or `LLM_CONNECT_MOCK_TOOL_CALLS`. */
  readonly via: string
  /** What a good file holds, for the fix. */
  readonly example: string
}

const failure = (source: Source, description: string, fix?: string): LlmError.LlmError =>
  LlmError.make(
    "config",
    new LlmError.Configuration({ description, setting: source.setting, fix: fix ?? `write e.g. ${source.example}` })
  )

/** Reads and parses the file into a plain value. */
export const readValue = Effect.fnUntraced(function*(file: string, source: Source) {
  const fs = yield* FileSystem.FileSystem
  const resolved = (yield* Path.Path).resolve(file)
  const info = yield* fs.stat(resolved).pipe(
    Effect.mapError((error) =>
      failure(
        source,
        `cannot read ${file} (named by ${source.via}): ${error.reason._tag === "NotFound" ? "no such file" : error.message}`,
        `point ${source.via} at an existing YAML or JSON file, e.g. one holding ${source.example}`
      )
    )
  )
  if (info.type !== "File") return yield* Effect.fail(failure(source, `${file} (named by ${source.via}) is not a file`))
  if (Number(info.size) > MAX_BYTES) {
    return yield* Effect.fail(failure(source, `${file} (named by ${source.via}) has ${info.size} bytes, more than the ${MAX_BYTES} allowed`))
  }
  const text = yield* fs.readFileString(resolved).pipe(
    Effect.mapError((error) => failure(source, `cannot read ${file} (named by ${source.via}): ${error.message}`))
  )
  const parsed = ConfigDocument.parse(text)
  if (Result.isFailure(parsed)) {
    return yield* Effect.fail(
      failure(source, `${file} line ${parsed.failure.line} is not valid YAML or JSON: ${parsed.failure.message}`)
    )
  }
  return parsed.success.value
})

/** Reads, parses and decodes the file with `schema`, naming every issue. */
export const read = <S extends Schema.Decoder<unknown>>(schema: S, file: string, source: Source) =>
  Effect.flatMap(readValue(file, source), (value) =>
    Effect.mapError(
      Schema.decodeUnknownEffect(schema)(value, { errors: "all" }),
      (error) => failure(source, `${file} (named by ${source.via}) is not valid: ${error.message}`)
    ))
