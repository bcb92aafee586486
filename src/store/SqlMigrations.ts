/**
 * Versioned schema migrations, per component of a SQL store.
 *
 * Each component that keeps tables in a store (the usage ledger now; key hashes, agents and
 * audit rows later) declares its own ordered list of migrations next to its code, as a
 * {@link Component}. When the component opens the store it calls {@link apply} (through
 * `SqlStore.migrate`): the migrations it knows and the database has not seen run in order, in one
 * transaction that holds the store's write lock, and each is recorded in one table,
 * `llm_connect_migrations`, keyed by component and id. Applying is idempotent and safe when
 * several processes open the same file at once (the second waits for the lock, then finds
 * nothing to do). A database that records a migration this version does not know was written by
 * a newer llm-connect: it is refused with a `Configuration` error and left untouched.
 *
 * One table keyed by component (rather than effect/sql's `Migrator`, one table per migrator):
 * one place to read every component's version, one lock for all, and a check effect/sql's
 * `Migrator` does not make (it ignores ids it does not know, so an older version would write to
 * a newer schema).
 *
 * @since 0.1.0
 */
import { Clock, Effect, References } from "effect"
import * as SqlClient from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import * as LlmError from "../LlmError.ts"
import * as Sqlite from "./internal/sqlite.ts"

/**
 * One step of a component's schema. `up` runs inside the migration transaction, with the
 * store's `SqlClient`; use `sql.onDialectOrElse` where SQLite and PostgreSQL differ.
 *
 * @since 0.1.0
 * @category models
 */
export interface Migration {
  /** A positive integer, unique within the component, larger than every earlier migration's. */
  readonly id: number
  /** A short name, recorded beside the id (e.g. `"create_usage"`). */
  readonly name: string
  readonly up: Effect.Effect<void, SqlError, SqlClient.SqlClient>
}

/**
 * A component's tables: its name (the key in the migrations table) and its migrations, in order.
 * Never edit or remove a migration that has shipped: add the next one.
 *
 * @since 0.1.0
 * @category models
 */
export interface Component {
  /** E.g. `"usage-ledger"`; lower case, stable for ever. */
  readonly name: string
  readonly migrations: ReadonlyArray<Migration>
}

/**
 * A column type both backends know, written once in a migration: `int64` (SQLite `INTEGER`,
 * PostgreSQL `BIGINT`: epoch milliseconds and nano-USD overflow PostgreSQL's 32-bit `INTEGER`),
 * `float64` (`REAL` / `DOUBLE PRECISION`: PostgreSQL's `REAL` is 32-bit), `text` (`TEXT`).
 *
 * @since 0.1.0
 * @category models
 */
export type ColumnType = "int64" | "float64" | "text"

const SQLITE_TYPES: Record<ColumnType, string> = { int64: "INTEGER", float64: "REAL", text: "TEXT" }
const PG_TYPES: Record<ColumnType, string> = { int64: "BIGINT", float64: "DOUBLE PRECISION", text: "TEXT" }

/**
 * The SQL of a column type in the client's dialect (SQLite, else PostgreSQL), to splice into a
 * statement with `sql.literal`.
 *
 * @since 0.1.0
 * @category dialects
 */
export const columnType = (sql: SqlClient.SqlClient, type: ColumnType): string =>
  sql.onDialectOrElse({ pg: () => PG_TYPES[type], orElse: () => SQLITE_TYPES[type] })

/**
 * A migration body that adds nullable columns to a table, in both backends: one place to add a
 * column to SQLite and PostgreSQL alike, e.g.
 * `{ id: 3, name: "cancelled", up: SqlMigrations.addColumns("usage", { cancelled: "int64" }) }`.
 *
 * @since 0.1.0
 * @category dialects
 */
export const addColumns = (
  table: string,
  columns: Readonly<Record<string, ColumnType>>
): Effect.Effect<void, SqlError, SqlClient.SqlClient> =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.forEach(
      Object.entries(columns),
      ([name, type]) => sql`ALTER TABLE ${sql(table)} ADD COLUMN ${sql(name)} ${sql.literal(columnType(sql, type))}`,
      { discard: true }
    ))

/**
 * Where the migrations are recorded: `(component, id, name, applied_at)`, one row per migration
 * applied, `applied_at` in epoch milliseconds.
 *
 * @since 0.1.0
 * @category constants
 */
export const TABLE = "llm_connect_migrations"

/**
 * What an error names: the store (e.g. `"the usage ledger at usage.db"`) and the setting that
 * chose it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Target {
  readonly label: string
  readonly setting: string
}

/**
 * Builds a component, checking that its ids are positive integers in increasing order (a
 * mistake there is a bug in the component, found by its first test).
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * const component = SqlMigrations.component("notes", [
 *   { id: 1, name: "create_notes", up: Effect.flatMap(SqlClient.SqlClient, (sql) => sql`CREATE TABLE notes (text TEXT)`) }
 * ])
 */
export const component = (name: string, migrations: ReadonlyArray<Migration>): Component => {
  migrations.forEach((migration, index) => {
    const previous = index === 0 ? 0 : migrations[index - 1]!.id
    if (!Number.isSafeInteger(migration.id) || migration.id <= previous) {
      throw new Error(
        `component ${name}: migration ids must be positive integers in increasing order (${migration.name} has ${migration.id} after ${previous})`
      )
    }
  })
  return { name, migrations }
}

interface AppliedRow {
  readonly id: number
  readonly name: string
}

/** What the database holds that this version does not know, and what it lacks. */
const compare = (component: Component, applied: ReadonlyArray<AppliedRow>) => {
  const known = new Set(component.migrations.map((migration) => migration.id))
  const done = new Set(applied.map((row) => row.id))
  const unknown = applied.filter((row) => !known.has(row.id)).sort((a, b) => a.id - b.id)
  const pending = component.migrations.filter((migration) => !done.has(migration.id))
  return { unknown, pending }
}

const newerError = (target: Target, component: Component, unknown: ReadonlyArray<AppliedRow>) => {
  const latest = component.migrations.at(-1)?.id ?? 0
  const first = unknown[0]!
  return LlmError.make(
    "llm-connect",
    new LlmError.Configuration({
      description:
        `${target.label} was written by a newer llm-connect: its ${component.name} schema has migration ${first.id} ` +
        `(${first.name})${unknown.length > 1 ? ` and ${unknown.length - 1} more` : ""}, which this version does not know ` +
        `(it knows up to ${latest}); it was left untouched`,
      setting: target.setting,
      fix: `upgrade llm-connect to the version that wrote it (or later), or point ${target.setting} at another file`
    })
  )
}

const failedError = (target: Target, component: Component, what: string, cause: unknown) =>
  LlmError.make(
    "llm-connect",
    new LlmError.Configuration({
      description: `cannot prepare the ${component.name} tables of ${target.label} (${what}): ${Sqlite.causeText(cause)}`,
      setting: target.setting,
      fix: `check that ${target.setting} names a writable llm-connect database (or a new file), then run again`
    })
  )

// PostgreSQL: `CREATE TABLE IF NOT EXISTS` is not safe under concurrency there, so the
// transaction first takes an advisory lock (released at commit). SQLite's `BEGIN IMMEDIATE`
// (effect/sql's transactions on a writable SQLite client) already holds the write lock.
const LOCK_KEY = 7_140_521_309

/**
 * Applies the component's pending migrations in order, in one transaction, and returns the ids
 * applied (empty when the database was up to date). Fails with a `Configuration` error when the
 * database records a migration of this component that this version does not know, or when a
 * migration fails (then nothing of this call is kept).
 *
 * @since 0.1.0
 * @category applying
 */
export const apply = (
  sql: SqlClient.SqlClient,
  component: Component,
  target: Target
): Effect.Effect<ReadonlyArray<number>, LlmError.LlmError> => {
  const appliedRows = sql<AppliedRow>`SELECT id, name FROM ${sql(TABLE)} WHERE component = ${component.name}`
  const createTable = sql`CREATE TABLE IF NOT EXISTS ${sql(TABLE)} (
    component TEXT NOT NULL,
    id INTEGER NOT NULL,
    name TEXT NOT NULL,
    applied_at BIGINT NOT NULL,
    PRIMARY KEY (component, id)
  )`
  const lock = sql.onDialectOrElse({
    pg: () => Effect.asVoid(sql`SELECT pg_advisory_xact_lock(${LOCK_KEY})`),
    orElse: () => Effect.void
  })

  const migrate = Effect.gen(function*() {
    yield* lock
    yield* createTable
    const { pending, unknown } = compare(component, yield* appliedRows)
    if (unknown.length > 0) return yield* Effect.fail(newerError(target, component, unknown))
    for (const migration of pending) {
      yield* migration.up.pipe(
        Effect.provideService(SqlClient.SqlClient, sql),
        Effect.mapError((cause) => failedError(target, component, `migration ${migration.id} ${migration.name}`, cause))
      )
      const now = yield* Clock.currentTimeMillis
      yield* sql`INSERT INTO ${sql(TABLE)} (component, id, name, applied_at) VALUES (${component.name}, ${migration.id}, ${migration.name}, ${now})`
    }
    return pending.map((migration) => migration.id)
  })

  // First without the write lock: an up-to-date database (the usual case, and a read-only
  // `usage`) is left alone. Any failure here (no migrations table yet) takes the locked path,
  // which checks again under the lock.
  const upToDate = appliedRows.pipe(
    Effect.map((rows) => compare(component, rows)),
    Effect.option
  )

  return Effect.gen(function*() {
    const quick = yield* upToDate
    if (quick._tag === "Some") {
      if (quick.value.unknown.length > 0) return yield* Effect.fail(newerError(target, component, quick.value.unknown))
      if (quick.value.pending.length === 0) return []
    }
    return yield* sql.withTransaction(migrate).pipe(
      Effect.catchTag("SqlError", (error) => Effect.fail(failedError(target, component, "migrations table", error))),
      // The transaction is synchronous work on node:sqlite: do not let the scheduler hand the
      // thread to another fiber of this process while the write lock is held (one that opens
      // the same file would block in SQLite's busy wait until the timeout).
      Effect.provideService(References.PreventSchedulerYield, true)
    )
  }).pipe(Effect.withSpan("SqlMigrations.apply", { attributes: { "llm_connect.component": component.name } }))
}
