/**
 * The fixture file format shared by `FixtureRecorder` and `FixtureReplayer`, and the request
 * hash that matches a call to its recorded exchange.
 *
 * A fixture file is JSON: `{ version: 1, provider, defaultModel, exchanges: [...] }`, each
 * exchange `{ hash, request, response }` or `{ hash, request, error }`. The hash is the
 * SHA-256 (first 16 hex digits) of the *normalised* request: the model filled in with the
 * default, `metadata` and `timeoutMs` dropped (they change from run to run without changing
 * what the model is asked), and keys sorted. Secrets are scrubbed from everything written
 * (`Redaction.scrubValue`): the hash is taken before scrubbing, so a request still matches.
 *
 * @since 0.1.0
 */
import { Effect, FileSystem, Schema } from "effect"
import { createHash } from "node:crypto"
import { dirname } from "node:path"
import * as LlmError from "../LlmError.ts"
import { LlmRequest } from "../LlmRequest.ts"
import { LlmResponse } from "../LlmResponse.ts"
import * as Redaction from "../observability/Redaction.ts"

/**
 * One recorded call.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Exchange = Schema.Struct({
  hash: Schema.String,
  request: LlmRequest,
  response: Schema.optionalKey(LlmResponse),
  error: Schema.optionalKey(LlmError.LlmError)
}).annotate({ identifier: "FixtureExchange" })

/**
 * @since 0.1.0
 * @category models
 */
export type Exchange = typeof Exchange.Type

/**
 * A fixture file.
 *
 * @since 0.1.0
 * @category schemas
 */
export const FixtureFile = Schema.Struct({
  version: Schema.Literal(1),
  provider: Schema.String,
  defaultModel: Schema.String,
  exchanges: Schema.Array(Exchange)
}).annotate({ identifier: "FixtureFile" })

/**
 * @since 0.1.0
 * @category models
 */
export type FixtureFile = typeof FixtureFile.Type

const canonical = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(canonical)
  if (value === null || typeof value !== "object") return value
  const out: Record<string, unknown> = {}
  for (const key of Object.keys(value).sort()) {
    const field = (value as Record<string, unknown>)[key]
    if (field !== undefined) out[key] = canonical(field)
  }
  return out
}

/**
 * The request as it is matched: model filled in, `metadata` and `timeoutMs` dropped.
 *
 * @since 0.1.0
 * @category hashing
 */
export const normalise = (request: LlmRequest, defaultModel: string): LlmRequest => {
  const { metadata: _metadata, timeoutMs: _timeoutMs, ...rest } = request
  return { ...rest, model: request.model ?? defaultModel }
}

/**
 * The stable hash of a request (16 hex digits).
 *
 * @since 0.1.0
 * @category hashing
 */
export const hash = (request: LlmRequest, defaultModel: string): string =>
  createHash("sha256").update(JSON.stringify(canonical(normalise(request, defaultModel)))).digest("hex").slice(0, 16)

const encodeFile = Schema.encodeSync(FixtureFile)
const decodeFile = Schema.decodeUnknownEffect(Schema.fromJsonString(FixtureFile))

/**
 * Renders a fixture file as JSON, with secrets scrubbed.
 *
 * @since 0.1.0
 * @category encoding
 */
export const render = (file: FixtureFile): string => `${JSON.stringify(Redaction.scrubValue(encodeFile(file)), null, 2)}\n`

const fixtureError = (path: string, description: string, fix: string) =>
  LlmError.make("fixtures", new LlmError.Configuration({ description, setting: `fixtures (${path})`, fix }))

/**
 * Reads a fixture file; `undefined` when it does not exist. A file that is not a valid fixture
 * fails with a `Configuration` error naming it.
 *
 * @since 0.1.0
 * @category io
 */
export const read = (path: string): Effect.Effect<FixtureFile | undefined, LlmError.LlmError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const exists = yield* fs.exists(path).pipe(Effect.orElseSucceed(() => false))
    if (!exists) return undefined
    const text = yield* fs.readFileString(path).pipe(
      Effect.mapError((error) => fixtureError(path, `cannot read the fixture file ${path}: ${error.message}`, "check the path"))
    )
    return yield* decodeFile(text).pipe(
      Effect.mapError((error) =>
        fixtureError(path, `${path} is not a fixture file: ${error.message}`, "delete it and record it again")
      )
    )
  })

/**
 * Writes a fixture file (creating its folder), with secrets scrubbed.
 *
 * @since 0.1.0
 * @category io
 */
export const write = (path: string, file: FixtureFile): Effect.Effect<void, LlmError.LlmError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    yield* fs.makeDirectory(dirname(path), { recursive: true })
    yield* fs.writeFileString(path, render(file))
  }).pipe(
    Effect.mapError((error) => fixtureError(path, `cannot write the fixture file ${path}: ${error.message}`, "check the path"))
  )
