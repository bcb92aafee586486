/**
 * Opens a PostgreSQL database through `@effect/sql-pg` (effect/sql's PostgreSQL client, its own
 * wire protocol over `node:net`, no native code), loading the driver only when a PostgreSQL store
 * is opened, so a SQLite-only or in-memory program never loads it.
 *
 * The URL is kept `Redacted` and handed to the driver as such; what this module reports never
 * quotes it (see `display` for the form that may be shown).
 */
import { Duration, Effect, Redacted } from "effect"
import * as Reactivity from "effect/reactivity/Reactivity"
import type * as SqlClient from "effect/sql/SqlClient"
import * as Scope from "effect/Scope"
import { causeText } from "./sqlite.ts"

/** Why the store could not be opened. */
export type OpenFailure =
  | { readonly _tag: "DriverMissing"; readonly message: string }
  | { readonly _tag: "OpenFailed"; readonly message: string }

const messageOf = (cause: unknown): string => cause instanceof Error ? cause.message : String(cause)

/**
 * A URL as it may be shown: the password (in the user part or a `password` parameter) replaced by
 * `***`, the rest kept (user, host, database, socket folder). `undefined` when it is not a URL.
 */
export const display = (text: string): string | undefined => {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    return undefined
  }
  if (url.password !== "") url.password = "***"
  if (url.searchParams.has("password")) url.searchParams.set("password", "***")
  return url.toString().replace("%2A%2A%2A", "***")
}

const driver = Effect.tryPromise({
  try: () => import("@effect/sql-pg/PgClient"),
  catch: (cause): OpenFailure => ({ _tag: "DriverMissing", message: messageOf(cause) })
})

/**
 * Opens a small pool (at most `maxConnections`, default 4: the ledger has one writer and
 * occasional readers) and checks the server answers (`SELECT 1`), closed when the scope ends.
 */
export const open = (
  url: Redacted.Redacted<string>,
  options: { readonly connectTimeout?: Duration.Input | undefined; readonly maxConnections?: number | undefined } = {}
): Effect.Effect<SqlClient.SqlClient, OpenFailure, Scope.Scope> =>
  Effect.gen(function*() {
    const PgClient = yield* driver
    // The pool lives in a scope of its own, closed by a finalizer of the caller's scope: while
    // that scope closes, components added after the store (the ledger's writer, draining its
    // queue) still need new connections, and a pool whose own scope is closing cannot open any.
    const own = yield* Scope.make()
    yield* Effect.addFinalizer((exit) => Scope.close(own, exit))
    const client = yield* PgClient.make({
      url,
      applicationName: "llm-connect",
      connectTimeout: options.connectTimeout ?? Duration.seconds(5),
      maxConnections: options.maxConnections ?? 4,
      idleTimeout: Duration.seconds(30)
    }).pipe(
      Effect.provide(Reactivity.layer),
      Scope.provide(own),
      Effect.tap((client) => client`SELECT 1`),
      Effect.mapError((error): OpenFailure => ({ _tag: "OpenFailed", message: scrub(causeText(error), url) }))
    )
    return client
  })

/** Removes the password from a message, should a driver ever quote it. */
export const scrub = (message: string, url: Redacted.Redacted<string>): string => {
  const text = Redacted.value(url)
  let password: string | undefined
  try {
    const parsed = new URL(text)
    password = parsed.password !== "" ? decodeURIComponent(parsed.password) : parsed.searchParams.get("password") ?? undefined
  } catch {
    password = undefined
  }
  let out = message.split(text).join(display(text) ?? "(the URL)")
  if (password !== undefined && password !== "") out = out.split(password).join("***")
  return out
}
