/**
 * Opens a SQLite database through `@effect/sql-sqlite-node` (effect/sql over Node's built-in
 * `node:sqlite`), loading the driver only when a store is actually opened.
 *
 * The driver imports `node:sqlite` at its top, and Node 20 has no such module: a static import
 * anywhere under the root barrel would make `import "llm-connect"` fail on Node 20 even for a
 * mock call. Here the driver is reached only through `import()`, and a Node without
 * `node:sqlite` gets the bin's one-line "needs Node.js >= 22.19" message as a typed error.
 */
import { Duration, Effect } from "effect"
import * as Reactivity from "effect/reactivity/Reactivity"
import type * as SqlClient from "effect/sql/SqlClient"
import { isSqlError } from "effect/sql/SqlError"
import type * as Scope from "effect/Scope"
import { existsSync, mkdirSync } from "node:fs"
import { dirname, resolve } from "node:path"

/** The Node version the bin asks for (`bin/llm-connect.js`). */
export const REQUIRED_NODE = "22.19"

/** The bin's sentence, for the Node this process runs on. */
export const nodeTooOld = (version: string = process.version): string =>
  `llm-connect needs Node.js >= ${REQUIRED_NODE} but this is ${version}`

/** What the bin tells the user to do about it. */
export const INSTALL_NODE = "install Node 24 (nvm install 24, or npm i -g node@24) and run it again"

/** Why the driver could not be loaded. */
export type LoadFailure =
  | { readonly _tag: "NoNodeSqlite"; readonly message: string }
  | { readonly _tag: "DriverMissing"; readonly message: string }

const codeOf = (cause: unknown): unknown =>
  typeof cause === "object" && cause !== null && "code" in cause ? cause.code : undefined

const messageOf = (cause: unknown): string => cause instanceof Error ? cause.message : String(cause)

/**
 * A failure as one line: an effect/sql `SqlError`'s message ("Failed to execute statement")
 * followed by the database's own ("no such table: usage"), which it keeps as the reason's cause.
 */
export const causeText = (cause: unknown): string => {
  if (isSqlError(cause)) {
    const inner = cause.reason.cause
    return inner instanceof Error && inner.message !== cause.message ? `${cause.message}: ${inner.message}` : cause.message
  }
  return messageOf(cause)
}

/**
 * The driver module, imported on first use (Node caches it after that). Node without
 * `node:sqlite` (20, or 22 before 22.13 without a flag) fails to resolve the builtin.
 */
const driver = Effect.tryPromise({
  try: () => import("@effect/sql-sqlite-node/SqliteClient"),
  catch: (cause): LoadFailure =>
    codeOf(cause) === "ERR_UNKNOWN_BUILTIN_MODULE" || /node:sqlite/.test(messageOf(cause))
      ? { _tag: "NoNodeSqlite", message: messageOf(cause) }
      : { _tag: "DriverMissing", message: messageOf(cause) }
})

/**
 * Creates a folder and its missing parents one at a time. Node's `mkdirSync(path, { recursive:
 * true })` never returns on some virtual file systems (a path under `/proc` loops for ever in the
 * event loop); one level at a time, a folder that cannot be made fails with its error.
 */
export const makeFolders = (folder: string): void => {
  const missing: Array<string> = []
  let current = resolve(folder)
  while (!existsSync(current)) {
    missing.push(current)
    const parent = dirname(current)
    if (parent === current) break
    current = parent
  }
  for (let index = missing.length - 1; index >= 0; index--) mkdirSync(missing[index]!)
}

/** Why opening failed, once the driver is loaded. */
export interface OpenFailure {
  readonly _tag: "OpenFailed"
  readonly message: string
}

/**
 * Opens the file (its folder created when missing) with WAL, `synchronous = NORMAL` and a busy
 * timeout, closed when the scope ends. `:memory:` is a private in-memory database.
 */
export const open = (
  path: string,
  busyTimeout: Duration.Input
): Effect.Effect<SqlClient.SqlClient, LoadFailure | OpenFailure, Scope.Scope> =>
  Effect.gen(function*() {
    const SqliteClient = yield* driver
    const memory = path === ":memory:"
    if (!memory) {
      yield* Effect.try({
        try: () => makeFolders(dirname(path)),
        catch: (cause): OpenFailure => ({ _tag: "OpenFailed", message: messageOf(cause) })
      })
    }
    const client = yield* SqliteClient.make({ filename: path, busyTimeout, disableWAL: memory }).pipe(
      Effect.provide(Reactivity.layer),
      Effect.mapError((error): OpenFailure => ({ _tag: "OpenFailed", message: causeText(error) }))
    )
    // WAL with synchronous = NORMAL: no fsync per write (a power cut may lose the last rows,
    // never corrupt the file), and readers (`llm-connect usage`) do not block writers.
    if (!memory) {
      yield* client.unsafe("PRAGMA synchronous = NORMAL").raw.pipe(
        Effect.mapError((error): OpenFailure => ({ _tag: "OpenFailed", message: causeText(error) }))
      )
    }
    return client
  })
