/**
 * A SQL store: the database that holds llm-connect's durable state (the usage ledger now; virtual
 * key hashes, agents and audit rows later), as an effect/sql `SqlClient`.
 *
 * A store is opened from a {@link Location}: a SQLite file (`node:sqlite` through
 * `@effect/sql-sqlite-node`, WAL, a busy timeout, safe for several processes), or a PostgreSQL
 * database named by a `postgres://` URL (`@effect/sql-pg`, ADR 0020; the URL kept `Redacted`,
 * shown without its password), shared by processes on several machines. Callers pass the
 * setting's text through {@link make}, which tells them apart. Each driver is loaded only when a
 * store of its kind is opened, so importing llm-connect works on a Node without `node:sqlite`.
 *
 * Components keep their own tables: each declares its versioned migrations
 * (`SqlMigrations.Component`) next to its code and calls {@link migrate} when it starts; several
 * components can share one store (one `SqlStore` layer provided to all of them).
 *
 * @since 0.1.0
 */
import { Context, Duration, Effect, Layer, Redacted } from "effect"
import { resolve } from "node:path"
import type * as SqlClient from "effect/sql/SqlClient"
import type * as Scope from "effect/Scope"
import * as LlmError from "../LlmError.ts"
import * as SqlMigrations from "./SqlMigrations.ts"
import * as Postgres from "./internal/postgres.ts"
import * as Sqlite from "./internal/sqlite.ts"

/**
 * A SQLite database file (`:memory:` for a private in-memory one).
 *
 * @since 0.1.0
 * @category models
 */
export interface SqliteLocation {
  readonly _tag: "Sqlite"
  readonly path: string
}

/**
 * A PostgreSQL database: its `postgres://` URL, kept `Redacted` (it may hold a password), and the
 * same URL with the password replaced by `***`, for messages.
 *
 * @since 0.1.0
 * @category models
 */
export interface PostgresLocation {
  readonly _tag: "Postgres"
  readonly url: Redacted.Redacted<string>
  readonly display: string
}

/**
 * Where a store lives: a SQLite file or a PostgreSQL database.
 *
 * @since 0.1.0
 * @category models
 */
export type Location = SqliteLocation | PostgresLocation

/**
 * A SQLite location.
 *
 * @since 0.1.0
 * @category constructors
 */
export const sqlite = (path: string): Location => ({ _tag: "Sqlite", path })

/**
 * A PostgreSQL location from a `postgres://` (or `postgresql://`) URL; `undefined` when the text
 * is not such a URL. Unix sockets: `postgres://user:pass@localhost/db?host=/run/postgresql`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const postgres = (url: string | Redacted.Redacted<string>): PostgresLocation | undefined => {
  const text = typeof url === "string" ? url : Redacted.value(url)
  const shown = /^postgres(ql)?:\/\//i.test(text) ? Postgres.display(text) : undefined
  return shown === undefined ? undefined : { _tag: "Postgres", url: Redacted.make(text), display: shown }
}

/**
 * How a store is opened, and how its errors name it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The setting that named the location, quoted in errors (default `"store"`). */
  readonly setting?: string | undefined
  /** An environment variable that also sets it, named in fixes (e.g. `LLM_CONNECT_LEDGER`). */
  readonly env?: string | undefined
  /** What the store holds, for messages (default `"the SQL store"`), e.g. `"the usage ledger"`. */
  readonly label?: string | undefined
  /** An example value for the setting, shown in fixes (default `.llm-connect/state.db`). */
  readonly example?: string | undefined
  /** How long a write waits for another process's lock before it fails (default 5 seconds). */
  readonly busyTimeout?: Duration.Input | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  readonly location: Location
  /** The store for messages, never holding a secret: e.g. `"the usage ledger at usage.db"`. */
  readonly label: string
  /** The store's client: run queries with it (`sql\`SELECT ...\``), or provide it as `SqlClient`. */
  readonly sql: SqlClient.SqlClient
  /**
   * Brings a component's tables up to date (see `SqlMigrations.apply`) and returns the ids applied.
   * Call it once when the component starts; it is idempotent.
   */
  readonly migrate: (component: SqlMigrations.Component) => Effect.Effect<ReadonlyArray<number>, LlmError.LlmError>
}

/**
 * The `SqlStore` service: one store shared by the components that use it.
 *
 * @since 0.1.0
 * @category services
 */
export class SqlStore extends Context.Service<SqlStore, Service>()("llm-connect/SqlStore") {}

const configurationError = (description: string, setting: string, fix: string) =>
  LlmError.make("llm-connect", new LlmError.Configuration({ description, setting, fix }))

const URL_SCHEME = /^([a-z][a-z0-9+.-]*):\/\//i

// Kernel file systems: nothing can be created there, and creating folders there can hang.
const VIRTUAL = /^\/(proc|sys)(?:\/|$)/

/**
 * Reads a setting's text as a location: a file path (or `:memory:`), or a `postgres://` URL. Any
 * other URL, or a `postgres://` URL that cannot be parsed, is refused with a `Configuration` error
 * (its text is not repeated: it may hold a password). A path inside `/proc` or `/sys` (kernel
 * file systems, where no database can live) is refused too.
 *
 * @since 0.1.0
 * @category constructors
 */
export const parse = (text: string, options: Options = {}): Effect.Effect<Location, LlmError.LlmError> => {
  const setting = options.setting ?? "store"
  const named = options.env === undefined ? setting : `${setting} (or ${options.env})`
  const scheme = URL_SCHEME.exec(text)?.[1]?.toLowerCase()
  const example = options.example ?? ".llm-connect/state.db"
  if (scheme === undefined) {
    const system = text === ":memory:" ? null : VIRTUAL.exec(resolve(text))
    return system === null ? Effect.succeed(sqlite(text)) : Effect.fail(configurationError(
      `${setting} is inside /${system[1]}, a kernel file system where no file can be created`,
      setting,
      `set ${named} to a SQLite file path in a writable folder, e.g. ${example}`
    ))
  }
  if (scheme === "postgres" || scheme === "postgresql") {
    const location = postgres(text)
    return location !== undefined ? Effect.succeed(location) : Effect.fail(configurationError(
      `${setting} is not a valid ${scheme}:// URL (its text is not shown: it may hold a password)`,
      setting,
      `set ${named} to a URL such as postgres://USER:PASSWORD@HOST:5432/DATABASE (percent-encode special characters of the password)`
    ))
  }
  return Effect.fail(configurationError(
    `${setting} is a ${scheme}:// URL; a store is a SQLite file path or a postgres:// URL`,
    setting,
    `set ${named} to a SQLite file path, e.g. ${example}, or a postgres://USER:PASSWORD@HOST/DATABASE URL`
  ))
}

const describe = (location: Location, options: Options): string =>
  `${options.label ?? "the SQL store"} at ${location._tag === "Sqlite" ? location.path : location.display}`

/**
 * Opens a store (a SQLite file and its folder are created when missing; a PostgreSQL server must
 * answer within its connect timeout), closed when the scope ends. A location that cannot be
 * opened, or a Node without `node:sqlite`, is a `Configuration` error naming the setting (never
 * quoting a password).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  location: Location | string,
  options: Options = {}
): Effect.Effect<Service, LlmError.LlmError, Scope.Scope> =>
  Effect.gen(function*() {
    const where = typeof location === "string" ? yield* parse(location, options) : location
    const setting = options.setting ?? "store"
    const named = options.env === undefined ? setting : `${setting} (or ${options.env})`
    const target: SqlMigrations.Target = { label: describe(where, options), setting }
    if (where._tag === "Postgres") {
      const client = yield* openPostgres(where, target, named)
      return SqlStore.of({
        location: where,
        label: target.label,
        sql: client,
        migrate: (component) => SqlMigrations.apply(client, component, target)
      })
    }
    const sql = yield* Sqlite.open(where.path, options.busyTimeout ?? Duration.seconds(5)).pipe(
      Effect.mapError((failure) => {
        switch (failure._tag) {
          case "NoNodeSqlite":
            return configurationError(
              `${Sqlite.nodeTooOld()} (${target.label} uses node:sqlite, which this Node does not have)`,
              setting,
              `${Sqlite.INSTALL_NODE}; or leave ${named} unset`
            )
          case "DriverMissing":
            return configurationError(
              `cannot load the SQLite driver (@effect/sql-sqlite-node) for ${target.label}: ${failure.message}`,
              setting,
              "reinstall llm-connect's dependencies (npm ci), then run again"
            )
          case "OpenFailed":
            return configurationError(
              `cannot open ${target.label}: ${failure.message}`,
              setting,
              `point ${named} at a writable file, e.g. ${options.example ?? ".llm-connect/state.db"}`
            )
        }
      })
    )
    return SqlStore.of({
      location: where,
      label: target.label,
      sql,
      migrate: (component) => SqlMigrations.apply(sql, component, target)
    })
  })

const openPostgres = (where: PostgresLocation, target: SqlMigrations.Target, named: string) =>
  Postgres.open(where.url).pipe(
    Effect.mapError((failure) =>
      failure._tag === "DriverMissing"
        ? configurationError(
          `cannot load the PostgreSQL driver (@effect/sql-pg) for ${target.label}: ${failure.message}`,
          target.setting,
          "reinstall llm-connect's dependencies (npm ci), then run again"
        )
        : configurationError(
          `cannot connect to ${target.label}: ${failure.message}`,
          target.setting,
          `check that the server is running and that ${named} has the right host, port, database, user and password`
        )
    )
  )

/**
 * A store as a Layer, for several components to share.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (location: Location | string, options: Options = {}): Layer.Layer<SqlStore, LlmError.LlmError> =>
  Layer.effect(SqlStore, make(location, options))

/**
 * Brings a component's tables up to date in the store in context.
 *
 * @since 0.1.0
 * @category migrations
 */
export const migrate = (component: SqlMigrations.Component): Effect.Effect<ReadonlyArray<number>, LlmError.LlmError, SqlStore> =>
  SqlStore.use((store) => store.migrate(component))
