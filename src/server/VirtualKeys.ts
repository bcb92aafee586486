/**
 * Virtual keys for `llm-connect serve`: the keys callers present (`Authorization: Bearer KEY` or
 * `x-api-key: KEY`), each with a name and optional limits: a budget (tokens and USD, in total or
 * per day) and `rpm`/`tpm`/concurrency limits.
 *
 * Keys live in a table (`llm_connect_keys`) of the usage ledger's store, versioned as their own
 * migration component (`virtual-keys`). Only a key's SHA-256 hash is stored: a key is printed
 * once, when `llm-connect keys create` makes it (32 random bytes, base64url, prefixed `llmc_`),
 * and cannot be shown again. Listing shows names and limits, never hashes.
 *
 * Beside the keys, the table `llm_connect_key_totals` keeps what each key's budget has consumed
 * (per key and period: `total`, or the UTC date of a per-day budget), written by `serve` after
 * each of the key's requests and read back when it starts: without a shared store (Redis), a
 * key's totals survive a restart of `serve` (ADR 0024). A key is named there by its name and
 * creation time, so a key revoked and made again under the same name starts from zero.
 *
 * @since 0.1.0
 */
import { Clock, Effect, Option, Redacted } from "effect"
import { createHash, randomBytes } from "node:crypto"
import * as SqlClient from "effect/sql/SqlClient"
import * as LlmError from "../LlmError.ts"
import * as SqlMigrations from "../store/SqlMigrations.ts"
import type * as SqlStore from "../store/SqlStore.ts"

/**
 * The prefix of every virtual key.
 *
 * @since 0.1.0
 * @category constants
 */
export const PREFIX = "llmc_"

/**
 * The table that holds the keys' hashes.
 *
 * @since 0.1.0
 * @category constants
 */
export const TABLE = "llm_connect_keys"

/**
 * A key's limits. `per: "day"` makes the budget a daily one (the window rolls at 00:00 UTC);
 * `"total"` counts everything the server saw since it started.
 *
 * @since 0.1.0
 * @category models
 */
export interface Limits {
  readonly maxTokens?: number | undefined
  readonly maxCostUsd?: number | undefined
  readonly per: "total" | "day"
  readonly rpm?: number | undefined
  readonly tpm?: number | undefined
  readonly maxConcurrent?: number | undefined
}

/**
 * The table that keeps each key's consumed totals.
 *
 * @since 0.1.0
 * @category constants
 */
export const TOTALS_TABLE = "llm_connect_key_totals"

/**
 * What a key's budget has consumed in a period (cost in whole nano-USD).
 *
 * @since 0.1.0
 * @category models
 */
export interface Totals {
  readonly inputTokens: number
  readonly outputTokens: number
  readonly totalTokens: number
  readonly costNanos: number
}

/**
 * A key as listed: its name, when it was made (epoch ms) and its limits; never its hash.
 *
 * @since 0.1.0
 * @category models
 */
export interface KeyInfo {
  readonly name: string
  readonly createdAt: number
  readonly limits: Limits
  /** An admin key (`keys create --admin`) sees every key's usage on `GET /v1/usage`; others only their own. */
  readonly admin?: boolean | undefined
}

/**
 * The key store.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** Makes a key (an admin one with `{ admin: true }`); the key itself is returned once and never stored. Fails when the name is taken. */
  readonly create: (name: string, limits: Limits, options?: { readonly admin?: boolean | undefined }) => Effect.Effect<{ readonly key: Redacted.Redacted<string>; readonly info: KeyInfo }, LlmError.LlmError>
  readonly list: Effect.Effect<ReadonlyArray<KeyInfo>, LlmError.LlmError>
  /** Removes a key; `false` when no key has that name. */
  readonly revoke: (name: string) => Effect.Effect<boolean, LlmError.LlmError>
  /** The key with this text, if any. */
  readonly lookup: (key: string) => Effect.Effect<Option.Option<KeyInfo>, LlmError.LlmError>
  /** How many keys there are. */
  readonly count: Effect.Effect<number, LlmError.LlmError>
  /** What key `info` consumed in `period` (`total` or a UTC date), as last saved; `undefined` if nothing was. */
  readonly totals: (info: KeyInfo, period: string) => Effect.Effect<Totals | undefined, LlmError.LlmError>
  /** Saves what key `info` consumed in `period` (replacing the figure saved before). */
  readonly saveTotals: (info: KeyInfo, period: string, totals: Totals) => Effect.Effect<void, LlmError.LlmError>
}

/**
 * The `virtual-keys` component's migrations.
 *
 * @since 0.1.0
 * @category migrations
 */
export const migrations: SqlMigrations.Component = SqlMigrations.component("virtual-keys", [
  {
    id: 1,
    name: "create_keys",
    up: Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`CREATE TABLE ${sql(TABLE)} (
        name TEXT PRIMARY KEY,
        hash TEXT NOT NULL UNIQUE,
        created_at BIGINT NOT NULL,
        max_tokens BIGINT,
        max_cost_usd DOUBLE PRECISION,
        per TEXT NOT NULL,
        rpm INTEGER,
        tpm INTEGER,
        max_concurrent INTEGER
      )`
    })
  },
  {
    id: 2,
    name: "create_key_totals",
    up: Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`CREATE TABLE ${sql(TOTALS_TABLE)} (
        name TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        period TEXT NOT NULL,
        input_tokens BIGINT NOT NULL,
        output_tokens BIGINT NOT NULL,
        total_tokens BIGINT NOT NULL,
        cost_nanos BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        PRIMARY KEY (name, created_at, period)
      )`
    })
  },
  {
    // Admin keys: they see every key's usage (`GET /v1/usage`). Older keys read NULL: not admin.
    id: 3,
    name: "admin",
    up: SqlMigrations.addColumns(TABLE, { admin: "int64" })
  }
])

/**
 * The SHA-256 hash of a key, hex.
 *
 * @since 0.1.0
 * @category hashing
 */
export const hash = (key: string): string => createHash("sha256").update(key, "utf8").digest("hex")

/**
 * A new random key: `llmc_` and 32 random bytes in base64url.
 *
 * @since 0.1.0
 * @category constructors
 */
export const generate = (): Redacted.Redacted<string> => Redacted.make(PREFIX + randomBytes(32).toString("base64url"))

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/

const invalid = (description: string, setting: string, fix: string) =>
  LlmError.make("keys", new LlmError.Configuration({ description, setting, fix }))

/**
 * Checks a key's name and limits; fails with a `Configuration` error naming the bad one.
 *
 * @since 0.1.0
 * @category validation
 */
export const validate = (name: string, limits: Limits): Effect.Effect<void, LlmError.LlmError> => {
  if (!NAME.test(name)) {
    return Effect.fail(invalid(`the key name ${JSON.stringify(name)} is not valid`, "--name", "use 1 to 64 letters, digits, '.', '_' or '-', e.g. --name team-a"))
  }
  const positive: ReadonlyArray<[string, number | undefined, boolean]> = [
    ["--max-tokens", limits.maxTokens, true],
    ["--max-cost-usd", limits.maxCostUsd, false],
    ["--rpm", limits.rpm, true],
    ["--tpm", limits.tpm, true],
    ["--max-concurrent", limits.maxConcurrent, true]
  ]
  for (const [flag, value, integer] of positive) {
    if (value !== undefined && (!Number.isFinite(value) || value <= 0 || (integer && !Number.isSafeInteger(value)))) {
      return Effect.fail(invalid(`${flag} is ${value}; it must be a positive ${integer ? "integer" : "number"}`, flag, `pass e.g. ${flag} ${integer ? 60 : 5}, or leave it out for no limit`))
    }
  }
  return Effect.void
}

interface Row {
  readonly name: string
  readonly created_at: number | bigint
  readonly max_tokens: number | bigint | null
  readonly max_cost_usd: number | null
  readonly per: string
  readonly rpm: number | null
  readonly tpm: number | null
  readonly max_concurrent: number | null
  readonly admin: number | bigint | null
}

interface TotalsRow {
  readonly input_tokens: number | bigint | string
  readonly output_tokens: number | bigint | string
  readonly total_tokens: number | bigint | string
  readonly cost_nanos: number | bigint | string
}

const num = (value: number | bigint | null): number | undefined => value === null ? undefined : Number(value)

const infoOf = (row: Row): KeyInfo => {
  const limits: Limits = {
    per: row.per === "day" ? "day" : "total",
    ...(row.max_tokens !== null ? { maxTokens: num(row.max_tokens) } : {}),
    ...(row.max_cost_usd !== null ? { maxCostUsd: row.max_cost_usd } : {}),
    ...(row.rpm !== null ? { rpm: row.rpm } : {}),
    ...(row.tpm !== null ? { tpm: row.tpm } : {}),
    ...(row.max_concurrent !== null ? { maxConcurrent: row.max_concurrent } : {})
  }
  return { name: row.name, createdAt: Number(row.created_at), limits, ...(Number(row.admin ?? 0) === 1 ? { admin: true } : {}) }
}

/**
 * The key store in a SQL store (brings its table up to date first).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (store: SqlStore.Service): Effect.Effect<Service, LlmError.LlmError> =>
  Effect.gen(function*() {
    yield* store.migrate(migrations)
    const sql = store.sql
    const failed = (what: string) => (cause: unknown) =>
      invalid(
        `cannot ${what} in ${store.label}: ${cause instanceof Error ? cause.message : String(cause)}`,
        "ledger.path",
        "check that the ledger file is writable (--ledger, LLM_CONNECT_LEDGER or ledger.path)"
      )
    const columns = sql`name, created_at, max_tokens, max_cost_usd, per, rpm, tpm, max_concurrent, admin`
    const list = sql<Row>`SELECT ${columns} FROM ${sql(TABLE)} ORDER BY name`.pipe(
      Effect.map((rows) => rows.map(infoOf)),
      Effect.mapError(failed("list the keys"))
    )
    const find = (name: string) =>
      sql<Row>`SELECT ${columns} FROM ${sql(TABLE)} WHERE name = ${name}`.pipe(Effect.mapError(failed("read the keys")))
    return {
      create: (name, limits, options) =>
        Effect.gen(function*() {
          yield* validate(name, limits)
          if ((yield* find(name)).length > 0) {
            return yield* Effect.fail(invalid(`a key named ${name} exists already`, "--name", `choose another name, or revoke it first: llm-connect keys revoke ${name}`))
          }
          const key = generate()
          const createdAt = Date.now()
          const admin = options?.admin === true
          yield* sql`INSERT INTO ${sql(TABLE)} (name, hash, created_at, max_tokens, max_cost_usd, per, rpm, tpm, max_concurrent, admin)
            VALUES (${name}, ${hash(Redacted.value(key))}, ${createdAt}, ${limits.maxTokens ?? null}, ${limits.maxCostUsd ?? null},
              ${limits.per}, ${limits.rpm ?? null}, ${limits.tpm ?? null}, ${limits.maxConcurrent ?? null}, ${admin ? 1 : null})`.pipe(
            Effect.mapError(failed("store the key"))
          )
          return { key, info: { name, createdAt, limits, ...(admin ? { admin: true } : {}) } }
        }),
      list,
      revoke: (name) =>
        Effect.gen(function*() {
          const found = (yield* find(name)).length > 0
          if (found) {
            yield* sql`DELETE FROM ${sql(TABLE)} WHERE name = ${name}`.pipe(Effect.mapError(failed("revoke the key")))
            yield* sql`DELETE FROM ${sql(TOTALS_TABLE)} WHERE name = ${name}`.pipe(Effect.mapError(failed("revoke the key")))
          }
          return found
        }),
      lookup: (key) =>
        sql<Row>`SELECT ${columns} FROM ${sql(TABLE)} WHERE hash = ${hash(key)}`.pipe(
          Effect.map((rows) => Option.map(Option.fromNullishOr(rows[0]), infoOf)),
          Effect.mapError(failed("read the keys"))
        ),
      count: sql<{ readonly n: number | bigint }>`SELECT COUNT(*) AS n FROM ${sql(TABLE)}`.pipe(
        Effect.map((rows) => Number(rows[0]?.n ?? 0)),
        Effect.mapError(failed("count the keys"))
      ),
      totals: (info, period) =>
        sql<TotalsRow>`SELECT input_tokens, output_tokens, total_tokens, cost_nanos FROM ${sql(TOTALS_TABLE)}
          WHERE name = ${info.name} AND created_at = ${info.createdAt} AND period = ${period}`.pipe(
          Effect.map((rows) => {
            const row = rows[0]
            return row === undefined ? undefined : {
              inputTokens: Number(row.input_tokens),
              outputTokens: Number(row.output_tokens),
              totalTokens: Number(row.total_tokens),
              costNanos: Number(row.cost_nanos)
            }
          }),
          Effect.mapError(failed("read the key's totals"))
        ),
      saveTotals: (info, period, totals) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) => sql`INSERT INTO ${sql(TOTALS_TABLE)} (name, created_at, period, input_tokens, output_tokens, total_tokens, cost_nanos, updated_at)
          VALUES (${info.name}, ${info.createdAt}, ${period}, ${totals.inputTokens}, ${totals.outputTokens}, ${totals.totalTokens},
            ${totals.costNanos}, ${now})
          ON CONFLICT (name, created_at, period) DO UPDATE SET input_tokens = excluded.input_tokens,
            output_tokens = excluded.output_tokens, total_tokens = excluded.total_tokens, cost_nanos = excluded.cost_nanos,
            updated_at = excluded.updated_at`).pipe(Effect.asVoid, Effect.mapError(failed("save the key's totals")))
    } satisfies Service
  })
