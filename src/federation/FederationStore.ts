/**
 * The tables of agent federation (issue 18): registered agents, governance policies and their
 * audit of denials, delegations, outcomes and performance snapshots. They live in the usage
 * ledger's store (`SqlStore`: the SQLite file of `LLM_CONNECT_LEDGER` / `ledger.path`, else the
 * state ledger; or PostgreSQL when the ledger is a `postgres://` URL), versioned as their own
 * migration component, `federation`.
 *
 * The sets a value must belong to (trust level, policy action, delegation status, outcome) are
 * CHECK constraints as well as checks in the services, so a row written by another tool cannot
 * hold a value the services do not know. The services (`AgentRegistry`, `Governance`,
 * `Delegation`, `AgentPerformance`) each call {@link migrate} when they start; it is idempotent.
 *
 * @since 0.1.0
 */
import { Effect, Random } from "effect"
import * as SqlClient from "effect/sql/SqlClient"
import type * as LlmConnectConfig from "../LlmConnectConfig.ts"
import * as LlmError from "../LlmError.ts"
import * as ObservabilityConfig from "../observability/ObservabilityConfig.ts"
import * as SqlMigrations from "../store/SqlMigrations.ts"
import * as SqlStore from "../store/SqlStore.ts"

/**
 * The table names.
 *
 * @since 0.1.0
 * @category constants
 */
export const Tables = {
  agents: "federation_agents",
  policies: "federation_policies",
  audit: "federation_audit",
  delegations: "federation_delegations",
  outcomes: "federation_outcomes",
  snapshots: "federation_performance_snapshots"
} as const

/**
 * The actions a governance policy may allow.
 *
 * @since 0.1.0
 * @category models
 */
export type Action = "read" | "propose" | "delegate" | "auto_apply"

/**
 * @since 0.1.0
 * @category constants
 */
export const actions: ReadonlyArray<Action> = ["read", "propose", "delegate", "auto_apply"]

/**
 * The states of a delegation: `pending` while the receiving agent runs, then one of the others.
 *
 * @since 0.1.0
 * @category models
 */
export type DelegationStatus = "pending" | "completed" | "failed" | "cancelled"

/**
 * @since 0.1.0
 * @category constants
 */
export const delegationStatuses: ReadonlyArray<DelegationStatus> = ["pending", "completed", "failed", "cancelled"]

/**
 * What became of an agent's proposal.
 *
 * @since 0.1.0
 * @category models
 */
export type Outcome = "accepted" | "rejected" | "revised"

/**
 * @since 0.1.0
 * @category constants
 */
export const outcomes: ReadonlyArray<Outcome> = ["accepted", "rejected", "revised"]

const inList = (values: ReadonlyArray<string>): string => values.map((value) => `'${value}'`).join(", ")

/**
 * The `federation` component's migrations (both SQLite and PostgreSQL).
 *
 * @since 0.1.0
 * @category migrations
 */
export const migrations: SqlMigrations.Component = SqlMigrations.component("federation", [
  {
    id: 1,
    name: "create_federation",
    up: Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const int = sql.literal(SqlMigrations.columnType(sql, "int64"))
      const real = sql.literal(SqlMigrations.columnType(sql, "float64"))
      const trust = sql.literal(inList(["advisory", "elevated", "autonomous"]))
      const action = sql.literal(inList(actions))
      const status = sql.literal(inList(delegationStatuses))
      const outcome = sql.literal(inList(outcomes))
      yield* sql`CREATE TABLE ${sql(Tables.agents)} (
        slug TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        description TEXT NOT NULL,
        provider TEXT NOT NULL,
        model TEXT NOT NULL,
        system_prompt TEXT,
        trust_level TEXT NOT NULL CHECK (trust_level IN (${trust})),
        capabilities TEXT NOT NULL,
        active ${int} NOT NULL CHECK (active IN (0, 1)),
        version ${int} NOT NULL CHECK (version >= 1),
        created_at ${int} NOT NULL,
        updated_at ${int} NOT NULL
      )`
      yield* sql`CREATE TABLE ${sql(Tables.policies)} (
        id TEXT PRIMARY KEY,
        scope TEXT NOT NULL,
        agent TEXT NOT NULL,
        artifact_type TEXT NOT NULL,
        allow_read ${int} NOT NULL CHECK (allow_read IN (0, 1)),
        allow_propose ${int} NOT NULL CHECK (allow_propose IN (0, 1)),
        allow_delegate ${int} NOT NULL CHECK (allow_delegate IN (0, 1)),
        allow_auto_apply ${int} NOT NULL CHECK (allow_auto_apply IN (0, 1)),
        active ${int} NOT NULL CHECK (active IN (0, 1)),
        created_at ${int} NOT NULL
      )`
      yield* sql`CREATE INDEX federation_policies_match ON ${sql(Tables.policies)} (scope, agent, artifact_type)`
      yield* sql`CREATE TABLE ${sql(Tables.audit)} (
        id TEXT PRIMARY KEY,
        time ${int} NOT NULL,
        scope TEXT NOT NULL,
        agent TEXT NOT NULL,
        artifact_type TEXT NOT NULL,
        action TEXT NOT NULL CHECK (action IN (${action})),
        policy_id TEXT NOT NULL
      )`
      yield* sql`CREATE INDEX federation_audit_time ON ${sql(Tables.audit)} (time)`
      yield* sql`CREATE TABLE ${sql(Tables.delegations)} (
        id TEXT PRIMARY KEY,
        parent_id TEXT REFERENCES ${sql(Tables.delegations)} (id),
        from_agent TEXT NOT NULL,
        to_agent TEXT NOT NULL,
        scope TEXT NOT NULL,
        task TEXT NOT NULL,
        token_budget ${int} NOT NULL CHECK (token_budget > 0),
        status TEXT NOT NULL CHECK (status IN (${status})),
        result TEXT,
        error TEXT,
        tokens_used ${int} NOT NULL CHECK (tokens_used >= 0),
        created_at ${int} NOT NULL,
        completed_at ${int}
      )`
      yield* sql`CREATE INDEX federation_delegations_parent ON ${sql(Tables.delegations)} (parent_id)`
      yield* sql`CREATE TABLE ${sql(Tables.outcomes)} (
        id TEXT PRIMARY KEY,
        agent TEXT NOT NULL,
        subject_id TEXT NOT NULL,
        outcome TEXT NOT NULL CHECK (outcome IN (${outcome})),
        confidence ${real} CHECK (confidence IS NULL OR (confidence >= 0 AND confidence <= 1)),
        recorded_at ${int} NOT NULL
      )`
      yield* sql`CREATE INDEX federation_outcomes_agent ON ${sql(Tables.outcomes)} (agent, recorded_at)`
      yield* sql`CREATE TABLE ${sql(Tables.snapshots)} (
        id TEXT PRIMARY KEY,
        agent TEXT NOT NULL,
        window_ms ${int} NOT NULL,
        computed_at ${int} NOT NULL,
        accepted ${int} NOT NULL,
        rejected ${int} NOT NULL,
        revised ${int} NOT NULL,
        acceptance_ratio ${real},
        mean_confidence ${real},
        calibration ${real}
      )`
    })
  }
])

/**
 * Brings the federation tables of a store up to date.
 *
 * @since 0.1.0
 * @category migrations
 */
export const migrate = (store: SqlStore.Service): Effect.Effect<void, LlmError.LlmError> =>
  Effect.asVoid(store.migrate(migrations))

/**
 * A new id with a prefix, e.g. `dlg-3f9a0c12b7e4d851` (from `Random`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const newId = (prefix: string): Effect.Effect<string> =>
  Effect.map(
    Effect.all([Random.nextIntBetween(0, 0xffffffff), Random.nextIntBetween(0, 0xffffffff)]),
    ([high, low]) => `${prefix}-${high.toString(16).padStart(8, "0")}${low.toString(16).padStart(8, "0")}`
  )

/**
 * A bad input: a `Configuration` error (CLI exit 2, HTTP 400) naming what is wrong and the fix.
 *
 * @since 0.1.0
 * @category errors
 */
export const invalid = (description: string, setting: string, fix: string): LlmError.LlmError =>
  LlmError.make("agents", new LlmError.Configuration({ description, setting, fix }))

/**
 * Maps a store failure to an error naming the store (never the SQL's parameters).
 *
 * @since 0.1.0
 * @category errors
 */
export const storeFailed = (store: SqlStore.Service, what: string) => (cause: unknown): LlmError.LlmError =>
  invalid(
    `cannot ${what} in ${store.label}: ${cause instanceof Error ? cause.message : String(cause)}`,
    "ledger.path",
    "check that the ledger's store is reachable and writable (--ledger, LLM_CONNECT_LEDGER or ledger.path)"
  )

/**
 * A number read back from either backend (PostgreSQL's BIGINT may come back as bigint or text).
 *
 * @since 0.1.0
 * @category decoding
 */
export const num = (value: unknown): number => typeof value === "number" ? value : Number(value)

/**
 * Like {@link num}, keeping `null` as `undefined`.
 *
 * @since 0.1.0
 * @category decoding
 */
export const numOrUndefined = (value: unknown): number | undefined => value === null || value === undefined ? undefined : num(value)

/**
 * A slug or scope: 1 to 64 letters, digits, `.`, `_` or `-`, starting with a letter or digit.
 *
 * @since 0.1.0
 * @category validation
 */
export const SLUG = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/

/**
 * Checks a name-like value (slug, scope, artifact type).
 *
 * @since 0.1.0
 * @category validation
 */
export const checkName = (value: string, setting: string, example: string): Effect.Effect<void, LlmError.LlmError> =>
  SLUG.test(value)
    ? Effect.void
    : Effect.fail(invalid(
      `${setting} ${JSON.stringify(value.slice(0, 80))} is not valid`,
      setting,
      `use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit, e.g. ${setting} ${example}`
    ))

/**
 * Parses a window: `30d`, `7d`, or a duration such as `12h`/`90m`; at most 3650 days.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseWindow = (text: string, setting: string): Effect.Effect<number, LlmError.LlmError> => {
  const days = /^(\d{1,4})d$/.exec(text.trim())
  const hours = /^(\d{1,6})h$/.exec(text.trim())
  const minutes = /^(\d{1,8})m$/.exec(text.trim())
  const millis = days !== null
    ? Number(days[1]) * 86_400_000
    : hours !== null
    ? Number(hours[1]) * 3_600_000
    : minutes !== null
    ? Number(minutes[1]) * 60_000
    : undefined
  if (millis === undefined || millis <= 0 || millis > 3650 * 86_400_000) {
    return Effect.fail(invalid(
      `${setting} ${JSON.stringify(text.slice(0, 40))} is not a window`,
      setting,
      `write a positive whole number of days, hours or minutes (at most 3650d), e.g. ${setting} 7d`
    ))
  }
  return Effect.succeed(millis)
}

/**
 * Opens the usage ledger's store of a configuration (`ledger.path` / `LLM_CONNECT_LEDGER`, else
 * the state ledger), in the current scope: where agents, policies and delegations live. `who`
 * begins the error when there is no such store (e.g. "the agents").
 *
 * @since 0.1.0
 * @category stores
 */
export const openLedgerStore = (config: LlmConnectConfig.LlmConnectConfig, who: string) =>
  Effect.gen(function*() {
    const path = ObservabilityConfig.ledgerLocation(config.ledger) ?? (yield* ObservabilityConfig.stateLedgerPath)
    if (path === undefined) {
      return yield* Effect.fail(LlmError.make("agents", new LlmError.Configuration({
        description: `${who}: neither HOME nor XDG_STATE_HOME is set and no ledger is configured`,
        setting: "ledger.path",
        fix: "pass --ledger FILE (or set LLM_CONNECT_LEDGER)"
      })))
    }
    return yield* SqlStore.make(path, { setting: "ledger.path", env: "LLM_CONNECT_LEDGER", label: "the usage ledger" })
  })
