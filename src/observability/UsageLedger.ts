/**
 * The usage ledger: one entry per model call, kept in memory or in a SQLite file.
 *
 * The observability layer records every logical call it sees (successes and failures,
 * including calls a budget refused), one entry each: the usage the provider reported, or what
 * the budget charged all the call's attempts (with `attempts`, `abandonedAttempts`, and
 * `estimated` when an abandoned attempt was charged by the policy). Cost is kept in whole
 * nano-USD (`cost_nanos`) and shown in USD; a call whose model has no price has no cost and
 * `priced: false`, never a cost of 0. In memory the ledger keeps
 * the most recent entries of this process; with a path it writes to a SQLite database, a
 * `SqlStore` (effect/sql over `node:sqlite`, loaded only then; its table versioned by
 * {@link migrations}), so `llm-connect usage` can sum calls across runs; with a `postgres://`
 * URL it writes the same rows to PostgreSQL (`@effect/sql-pg`, ADR 0020), shared by every process
 * on every machine. Entries are written in batches by a background fiber, off the call path; a
 * failed batch is retried, never failing or delaying a call. No entry is dropped when they come
 * faster than the store writes: the call waits for room in the write queue (never while the store
 * is failing: then entries are held in memory, bounded; ADR 0060). The location comes from config
 * (`ledger: { path }` or `ledger: { postgres: { url } }`) or `LLM_CONNECT_LEDGER`.
 *
 * @since 0.1.0
 */
import { Array as Arr, Config, Context, Effect, Layer, Option } from "effect"
import * as SqlClient from "effect/sql/SqlClient"
import type * as Scope from "effect/Scope"
import * as LlmError from "../LlmError.ts"
import * as Money from "../pricing/Money.ts"
import * as BatchWriter from "../store/internal/batchWriter.ts"
import * as Sqlite from "../store/internal/sqlite.ts"
import * as WriterThread from "../store/internal/writerThread.ts"
import * as SqlMigrations from "../store/SqlMigrations.ts"
import * as SqlStore from "../store/SqlStore.ts"
import * as ObservabilityConfig from "./ObservabilityConfig.ts"

/**
 * One recorded call.
 *
 * @since 0.1.0
 * @category models
 */
export interface Entry {
  /** When the call ended, epoch milliseconds. */
  readonly time: number
  readonly provider: string
  /** The model that answered (as the provider named it), else the model asked for. */
  readonly model: string
  /** The model asked for, when the provider named another. */
  readonly requestedModel?: string | undefined
  readonly inputTokens: number
  readonly outputTokens: number
  readonly totalTokens: number
  /** Whether some of the usage was counted locally (no usage reported, or an abandoned attempt charged by the policy). */
  readonly estimated: boolean
  /** USD (whole nano-USD as a number); absent when unknown. */
  readonly costUsd?: number | undefined
  /** `false` when usage was charged for a model without a price: the cost is unknown, not 0. */
  readonly priced?: boolean | undefined
  /** Attempts made, when a budget held the call. */
  readonly attempts?: number | undefined
  /** Attempts abandoned after they were sent (charged by the budget's policy), when a budget held the call. */
  readonly abandonedAttempts?: number | undefined
  /**
   * `true` when the caller cancelled the call: interrupted it, or stopped reading its stream
   * before the end. Its usage is what was charged (or, without a budget, what had streamed, estimated).
   */
  readonly cancelled?: boolean | undefined
  readonly latencyMs: number
  /** `"ok"`, or the error reason (`"RateLimited"`, `"BudgetExceeded"`...). */
  readonly outcome: string
  readonly workflow?: string | undefined
  readonly step?: string | undefined
  readonly correlationId?: string | undefined
  /** The conversation the call belongs to (`metadata.conversationId`, e.g. an agent run's). */
  readonly conversationId?: string | undefined
  /** The registered agent that made the call (`metadata.tags.agent`: `prompt --agent`, a delegation). */
  readonly agent?: string | undefined
  /** The name of the virtual key serve made the call for (`CallContext.CurrentKey`; never the key). */
  readonly keyName?: string | undefined
  readonly requestId?: string | undefined
}

/**
 * A group of entries summed: calls, errors, tokens, cost and mean latency. The cost is summed in
 * whole nano-USD; calls whose model has no price are counted in `unpricedCalls` (and the group
 * has `priced: false`); when no call of the group was priced, `costUsd` is absent.
 *
 * @since 0.1.0
 * @category models
 */
export interface Summary {
  /** The group's value (e.g. the provider name), or `"all"`. */
  readonly key: string
  readonly calls: number
  readonly errors: number
  readonly inputTokens: number
  readonly outputTokens: number
  readonly totalTokens: number
  /** The cost of the priced calls, in USD (absent when none was priced). */
  readonly costUsd?: number | undefined
  /** `false` when some calls have no price (their cost is unknown, not 0). */
  readonly priced?: false | undefined
  /** Calls whose model has no price. */
  readonly unpricedCalls?: number | undefined
  readonly meanLatencyMs: number
}

/**
 * What entries can be grouped by.
 *
 * @since 0.1.0
 * @category models
 */
export type GroupBy = "provider" | "model" | "workflow" | "step" | "outcome" | "conversation" | "agent" | "key"

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /**
   * Adds an entry. Never fails: a storage problem is logged. A ledger in a store may make it wait
   * for room when entries arrive faster than the store writes them (backpressure; never while the
   * store is failing: ADR 0060); the entry is handed over before the wait, so interrupting it
   * loses nothing.
   */
  readonly record: (entry: Entry) => Effect.Effect<void>
  /**
   * What `record` does, done at once, when a ledger can add an entry without an effect (the
   * built-in ones: an append in memory, or a hand-off to the batch writer). The entry is always
   * taken; what it returns, when it is an effect, is the wait `record` would do (room in a full
   * write queue): the caller runs it. The observability layer uses it when present (no effect
   * made and run per call while there is room); a ledger without it is written through `record`.
   */
  readonly recordNow?: ((entry: Entry) => Effect.Effect<void> | void) | undefined
  /** Entries that ended at or after `since` (epoch ms), oldest first. */
  readonly entries: (options?: { readonly since?: number | undefined }) => Effect.Effect<ReadonlyArray<Entry>>
}

/**
 * The `UsageLedger` service.
 *
 * @since 0.1.0
 * @category services
 */
export class UsageLedger extends Context.Service<UsageLedger, Service>()("llm-connect/UsageLedger") {}

/**
 * Sums entries, grouped by a field (or all together when `by` is absent). Groups are sorted by
 * cost, then calls, largest first.
 *
 * @since 0.1.0
 * @category summarising
 */
export const summarize = (entries: ReadonlyArray<Entry>, by?: GroupBy | undefined): ReadonlyArray<Summary> => {
  const groups = new Map<
    string,
    { calls: number; errors: number; input: number; output: number; nanos: number; unpriced: number; latency: number }
  >()
  for (const entry of entries) {
    const key = by === undefined
      ? "all"
      : ((by === "conversation" ? entry.conversationId : by === "key" ? entry.keyName : entry[by]) ?? "(none)")
    const group = groups.get(key) ?? { calls: 0, errors: 0, input: 0, output: 0, nanos: 0, unpriced: 0, latency: 0 }
    group.calls += 1
    if (entry.outcome !== "ok") group.errors += 1
    group.input += entry.inputTokens
    group.output += entry.outputTokens
    // Exact: every cost is a whole number of nano-USD.
    if (entry.costUsd !== undefined) group.nanos += Money.fromUsd(entry.costUsd)
    if (entry.priced === false) group.unpriced += 1
    group.latency += entry.latencyMs
    groups.set(key, group)
  }
  return [...groups.entries()]
    .map(([key, group]): Summary => ({
      key,
      calls: group.calls,
      errors: group.errors,
      inputTokens: group.input,
      outputTokens: group.output,
      totalTokens: group.input + group.output,
      ...(group.unpriced < group.calls || group.nanos > 0 ? { costUsd: Money.toUsd(group.nanos) } : {}),
      ...(group.unpriced > 0 ? { priced: false as const, unpricedCalls: group.unpriced } : {}),
      meanLatencyMs: group.calls === 0 ? 0 : group.latency / group.calls
    }))
    .sort((a, b) => (b.costUsd ?? 0) - (a.costUsd ?? 0) || b.calls - a.calls || a.key.localeCompare(b.key))
}

/**
 * An in-memory ledger keeping the most recent `capacity` entries (default 10 000).
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeMemory = (options: { readonly capacity?: number | undefined } = {}): Effect.Effect<Service> =>
  Effect.sync(() => {
    const capacity = options.capacity ?? 10_000
    // A plain array appended in place: each update is one synchronous step (atomic on the JS
    // thread), and copying the whole array per call (as an immutable Ref would) costs O(n).
    const all: Array<Entry> = []
    const recordNow = (entry: Entry): void => {
      all.push(entry)
      // Trim in batches, so that the shift is paid once per `capacity / 4` calls.
      if (all.length > capacity + Math.max(1, capacity >> 2)) all.splice(0, all.length - capacity)
    }
    return {
      record: (entry) => Effect.sync(() => recordNow(entry)),
      recordNow,
      entries: (query) =>
        Effect.sync(() => {
          const kept = all.length > capacity ? all.slice(all.length - capacity) : [...all]
          return query?.since === undefined ? kept : kept.filter((entry) => entry.time >= query.since!)
        })
    }
  })

/**
 * The ledger's tables, as versioned migrations (component `usage-ledger`). Migration 1 is the
 * table the ledger has always had, created only when missing: a file written before migrations
 * were tracked is adopted as it is, its rows kept. Add the next migration at the end; never edit
 * one that has shipped.
 *
 * @since 0.1.0
 * @category store
 */
export const migrations: SqlMigrations.Component = SqlMigrations.component("usage-ledger", [
  {
    id: 1,
    name: "create_usage",
    // SQLite: INTEGER / REAL, as it always was (rows ordered by rowid). PostgreSQL: BIGINT / DOUBLE
    // PRECISION, and a `seq` column for the order rows were written in.
    up: Effect.flatMap(SqlClient.SqlClient, (sql) => {
      const int = sql.literal(SqlMigrations.columnType(sql, "int64"))
      const real = sql.literal(SqlMigrations.columnType(sql, "float64"))
      const seq = sql.onDialectOrElse({ pg: () => sql.literal("seq BIGSERIAL, "), orElse: () => sql.literal("") })
      return Effect.andThen(
        sql`CREATE TABLE IF NOT EXISTS usage (${seq}
          time ${int} NOT NULL, provider TEXT NOT NULL, model TEXT NOT NULL,
          input_tokens ${int} NOT NULL, output_tokens ${int} NOT NULL, total_tokens ${int} NOT NULL,
          estimated ${int} NOT NULL, cost_usd ${real}, latency_ms ${real} NOT NULL, outcome TEXT NOT NULL,
          workflow TEXT, step TEXT, correlation_id TEXT, request_id TEXT)`,
        sql`CREATE INDEX IF NOT EXISTS usage_time ON usage (time)`
      )
    })
  },
  {
    // Issue 13: exact cost (whole nano-USD; cost_usd is still written for older readers), whether
    // the model had a price, the model asked for, and the attempts of the call.
    id: 2,
    name: "cost_nanos_priced_attempts",
    // Columns through `SqlMigrations.addColumns`: one list for SQLite and PostgreSQL.
    up: Effect.flatMap(SqlClient.SqlClient, (sql) =>
      Effect.andThen(
        SqlMigrations.addColumns("usage", {
          cost_nanos: "int64",
          priced: "int64",
          requested_model: "text",
          attempts: "int64",
          abandoned_attempts: "int64"
        }),
        sql`UPDATE usage SET cost_nanos = CAST(ROUND(cost_usd * 1000000000) AS ${
          sql.literal(SqlMigrations.columnType(sql, "int64"))
        }) WHERE cost_usd IS NOT NULL`
      ))
  },
  {
    // Issue 14: calls the caller cancelled (an interrupted call, a stream stopped before its end).
    // Older rows read NULL: not known to be cancelled.
    id: 3,
    name: "cancelled",
    up: SqlMigrations.addColumns("usage", { cancelled: "int64" })
  },
  {
    // Issue 15: the conversation a call belongs to (an agent run), for `usage --by conversation`.
    // Independent of migration 3 (which adds another column): either may be applied first.
    id: 4,
    name: "conversation_id",
    up: Effect.flatMap(SqlClient.SqlClient, (sql) =>
      Effect.andThen(
        SqlMigrations.addColumns("usage", { conversation_id: "text" }),
        sql`CREATE INDEX IF NOT EXISTS usage_conversation ON usage (conversation_id)`
      ))
  },
  {
    // Issue 18: the registered agent that made the call, for `usage --by agent`.
    id: 5,
    name: "agent",
    up: Effect.flatMap(SqlClient.SqlClient, (sql) =>
      Effect.andThen(
        SqlMigrations.addColumns("usage", { agent: "text" }),
        sql`CREATE INDEX IF NOT EXISTS usage_agent ON usage (agent)`
      ))
  },
  {
    // The virtual key's name a call of serve was made for, so `GET /v1/usage` shows a key its own
    // usage. Older rows read NULL: made without a key.
    id: 6,
    name: "key_name",
    up: Effect.flatMap(SqlClient.SqlClient, (sql) =>
      Effect.andThen(
        SqlMigrations.addColumns("usage", { key_name: "text" }),
        sql`CREATE INDEX IF NOT EXISTS usage_key_name ON usage (key_name)`
      ))
  }
])

// A type (not an interface) so that it is a `Record<string, unknown>` for `sql.insert`.
type Row = {
  readonly time: number
  readonly provider: string
  readonly model: string
  readonly input_tokens: number
  readonly output_tokens: number
  readonly total_tokens: number
  readonly estimated: number
  readonly cost_usd: number | null
  readonly cost_nanos: number | null
  readonly priced: number | null
  readonly requested_model: string | null
  readonly attempts: number | null
  readonly abandoned_attempts: number | null
  readonly cancelled: number | null
  readonly latency_ms: number
  readonly outcome: string
  readonly workflow: string | null
  readonly step: string | null
  readonly correlation_id: string | null
  readonly conversation_id: string | null
  readonly agent: string | null
  readonly key_name: string | null
  readonly request_id: string | null
}

const toRow = (entry: Entry): Row => ({
  time: entry.time,
  provider: entry.provider,
  model: entry.model,
  input_tokens: entry.inputTokens,
  output_tokens: entry.outputTokens,
  total_tokens: entry.totalTokens,
  estimated: entry.estimated ? 1 : 0,
  cost_usd: entry.costUsd ?? null,
  cost_nanos: entry.costUsd === undefined ? null : Money.fromUsd(entry.costUsd),
  priced: entry.priced === false ? 0 : null,
  requested_model: entry.requestedModel ?? null,
  attempts: entry.attempts ?? null,
  abandoned_attempts: entry.abandonedAttempts ?? null,
  cancelled: entry.cancelled === true ? 1 : null,
  latency_ms: entry.latencyMs,
  outcome: entry.outcome,
  workflow: entry.workflow ?? null,
  step: entry.step ?? null,
  correlation_id: entry.correlationId ?? null,
  conversation_id: entry.conversationId ?? null,
  agent: entry.agent ?? null,
  key_name: entry.keyName ?? null,
  request_id: entry.requestId ?? null
})

// PostgreSQL's BIGINT columns may come back as bigint (or text): every number is read through this.
const num = (value: unknown): number => typeof value === "number" ? value : Number(value)
const numOrNull = (value: unknown): number | null => value === null || value === undefined ? null : num(value)

const fromRow = (raw: Row): Entry => {
  const row: Row = {
    ...raw,
    time: num(raw.time),
    input_tokens: num(raw.input_tokens),
    output_tokens: num(raw.output_tokens),
    total_tokens: num(raw.total_tokens),
    estimated: num(raw.estimated),
    cost_usd: numOrNull(raw.cost_usd),
    cost_nanos: numOrNull(raw.cost_nanos),
    priced: numOrNull(raw.priced),
    attempts: numOrNull(raw.attempts),
    abandoned_attempts: numOrNull(raw.abandoned_attempts),
    latency_ms: num(raw.latency_ms),
    cancelled: numOrNull(raw.cancelled)
  }
  return {
    time: row.time,
    provider: row.provider,
    model: row.model,
    inputTokens: row.input_tokens,
    outputTokens: row.output_tokens,
    totalTokens: row.total_tokens,
    estimated: row.estimated === 1,
    latencyMs: row.latency_ms,
    outcome: row.outcome,
    // Rows from before migration 2 (or an older writer) have only cost_usd.
    ...(row.cost_nanos !== null
      ? { costUsd: Money.toUsd(row.cost_nanos) }
      : row.cost_usd !== null
      ? { costUsd: Money.toUsd(Money.fromUsd(row.cost_usd)) }
      : {}),
    ...(row.priced === 0 ? { priced: false } : {}),
    ...(row.requested_model !== null ? { requestedModel: row.requested_model } : {}),
    ...(row.attempts !== null ? { attempts: row.attempts } : {}),
    ...(row.abandoned_attempts !== null ? { abandonedAttempts: row.abandoned_attempts } : {}),
    ...(row.cancelled === 1 ? { cancelled: true } : {}),
    ...(row.workflow !== null ? { workflow: row.workflow } : {}),
    ...(row.step !== null ? { step: row.step } : {}),
    ...(row.correlation_id !== null ? { correlationId: row.correlation_id } : {}),
    // Rows from before migration 4 have no conversation_id column at all.
    ...(row.conversation_id !== null && row.conversation_id !== undefined ? { conversationId: row.conversation_id } : {}),
    // Rows from before migration 5 have no agent column at all.
    ...(row.agent !== null && row.agent !== undefined ? { agent: row.agent } : {}),
    // Rows from before migration 6 have no key_name column at all.
    ...(row.key_name !== null && row.key_name !== undefined ? { keyName: row.key_name } : {}),
    ...(row.request_id !== null ? { requestId: row.request_id } : {})
  }
}

const LABEL = "the usage ledger"

/**
 * Whether a ledger in a SQLite file made here writes its rows from a worker thread of its own
 * (default `false`: on the calling thread, right for short-lived commands). `Serve.make` sets it
 * for the ledger of a server: the INSERTs, and SQLite's WAL checkpoints that a commit runs every
 * 1,000 pages (5-9 ms each, `fsync`s included), then block that thread instead of the one that
 * answers requests (issue 16, stop 29; ADR 0053). A ledger in PostgreSQL or in memory ignores it.
 *
 * @since 0.1.0
 * @category references
 */
export const WriteOffThread = Context.Reference<boolean>("llm-connect/UsageLedger/WriteOffThread", {
  defaultValue: () => false
})

/**
 * How {@link makeStore} writes.
 *
 * @since 0.1.0
 * @category models
 */
export interface StoreOptions {
  /** Write from a worker thread (a SQLite file only); default {@link WriteOffThread} in context. */
  readonly writeOffThread?: boolean | undefined
  /** SQLite's `wal_autocheckpoint` on the writer thread's connection, pages (default SQLite's 1,000, about 4 MiB). */
  readonly autocheckpointPages?: number | undefined
  /** How long the writer thread's write waits for another connection's lock before it fails and is retried, ms (default 5,000, as the store's). */
  readonly busyTimeoutMs?: number | undefined
}

// The writer thread of a SQLite file's ledger, when one is wanted and can be started. A thread
// that cannot be started (no worker threads, say) leaves the writes on this thread, as before.
const writerThreadFor = (store: SqlStore.Service, options: StoreOptions, label: string) =>
  Effect.gen(function*() {
    const wanted = options.writeOffThread ?? (yield* WriteOffThread)
    const location = store.location
    if (!wanted || location._tag !== "Sqlite" || location.path === ":memory:") return undefined
    return yield* WriterThread.make({
      path: location.path,
      busyTimeoutMs: options.busyTimeoutMs ?? 5_000,
      autocheckpointPages: options.autocheckpointPages
    }).pipe(
      Effect.tapError((error) => Effect.logWarning(`${label}: writing on the main thread (${error.message})`)),
      Effect.orElseSucceed(() => undefined)
    )
  })

/**
 * A ledger in a SQL store (its tables migrated first). `record` only queues the entry (and, when
 * the queue is full while the store writes, waits for room: ADR 0060): a
 * background fiber writes queued entries in batches (one multi-row INSERT each, gathering the
 * entries recorded within 50 ms of the first: one commit per 50 ms at a steady rate), retries a
 * failed write (logged, never failing the call) and, when the scope closes, writes everything
 * still queued. `entries` first waits for the entries recorded before it (not while writes are
 * failing: then it reads the store as it is). In a SQLite file, with `writeOffThread` (or
 * {@link WriteOffThread} in context), the batches are written by a worker thread of the ledger's
 * own, on a second connection: their commits and SQLite's WAL checkpoints never block the
 * calling thread (ADR 0053).
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeStore = (
  store: SqlStore.Service,
  options: StoreOptions = {}
): Effect.Effect<Service, LlmError.LlmError, Scope.Scope> =>
  Effect.gen(function*() {
    yield* store.migrate(migrations)
    const sql = store.sql
    // "the usage ledger at usage.db", or "the usage ledger in the SQL store at state.db"
    const label = store.label.startsWith(LABEL) ? store.label : `${LABEL} in ${store.label}`
    // Made before the batch writer: closed after it, once every queued row has been written.
    const thread = yield* writerThreadFor(store, options, label)
    let threadGoneSaid = false
    const writer = yield* BatchWriter.make<Entry>({
      label,
      // At a steady rate (a server), rows that arrive within 50 ms go in one INSERT: one commit
      // per 50 ms instead of one per call (each commit: its `pwrite`s, its share of SQLite's WAL
      // checkpoints, whose `fsync`s run on the writing thread: this one, or the ledger's writer
      // thread, see `WriteOffThread`). A reader (`entries`) and closing do not
      // wait for it; a process killed outright loses the rows of at most that window that were
      // not yet written, as it always lost the rows still queued (docs/performance.md, stop 26).
      linger: "50 millis",
      write: (batch) => {
        const insert = sql`INSERT INTO usage ${sql.insert(Arr.map(batch, toRow))}`
        // On the writer thread: no timeout (a write abandoned there may still commit, and its
        // retry would write the rows twice); SQLite's busy timeout bounds a wait for a lock.
        // Once the thread is gone (it died), the writes go on on this thread.
        if (thread !== undefined && thread.alive()) {
          const [text, params] = insert.compile()
          return thread.run(text, params)
        }
        // A write that hangs (a server that stopped answering) fails after 10 s and is retried.
        const write = insert.raw.pipe(Effect.timeout("10 seconds"))
        if (thread === undefined || threadGoneSaid) return write
        threadGoneSaid = true
        return Effect.andThen(Effect.logWarning(`${label}: its writer thread stopped; writing on the main thread`), write)
      }
    })
    return UsageLedger.of({
      // Handed over at once in every case; a full queue returns the wait for room (ADR 0060).
      record: (entry) => Effect.suspend(() => writer.add(entry) ?? Effect.void),
      recordNow: writer.add,
      entries: (query) =>
        writer.flush.pipe(
          Effect.andThen(sql<Row>`SELECT * FROM usage WHERE time >= ${query?.since ?? 0} ORDER BY time, ${
            sql.literal(sql.onDialectOrElse({ pg: () => "seq", orElse: () => "rowid" }))
          }`),
          Effect.map((rows) => rows.map(fromRow)),
          // As before the store: a ledger that cannot be read is a defect, never an empty answer.
          Effect.mapError((error) => new Error(`usage ledger: could not read entries: ${Sqlite.causeText(error)}`)),
          Effect.orDie,
          Effect.withTracerEnabled(false)
        )
    })
  })

/**
 * A ledger in a SQLite file, created (with its folder) if missing, or in a PostgreSQL database
 * when `path` is a `postgres://` URL (the server must answer now; later outages are retried by
 * the writer); its tables migrated; closed when the scope ends (after writing every entry
 * recorded). Several processes may write to the same file, and processes on several machines to
 * the same PostgreSQL database.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeSqlite = (path: string, options: StoreOptions = {}): Effect.Effect<Service, LlmError.LlmError, Scope.Scope> =>
  Effect.flatMap(
    SqlStore.make(path, {
      setting: /^postgres(ql)?:\/\//i.test(path) ? "ledger.postgres.url" : "ledger.path",
      env: "LLM_CONNECT_LEDGER",
      label: LABEL,
      example: ".llm-connect/usage.db"
    }),
    (store) => makeStore(store, options)
  )

/**
 * A ledger in the `SqlStore` in context (shared with other components of the same store).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerStore: Layer.Layer<UsageLedger, LlmError.LlmError, SqlStore.SqlStore> = Layer.effect(
  UsageLedger,
  SqlStore.SqlStore.use((store) => makeStore(store))
)

/**
 * An in-memory ledger as a Layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory = (options: { readonly capacity?: number | undefined } = {}): Layer.Layer<UsageLedger> =>
  Layer.effect(UsageLedger, makeMemory(options))

/**
 * A SQLite ledger as a Layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerSqlite = (path: string): Layer.Layer<UsageLedger, LlmError.LlmError> =>
  Layer.effect(UsageLedger, makeSqlite(path))

/**
 * A SQLite ledger when a path is given, else an in-memory one.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: { readonly path?: string | undefined } = {}): Layer.Layer<UsageLedger, LlmError.LlmError> =>
  options.path === undefined || options.path === "" ? layerMemory() : layerSqlite(options.path)

/**
 * Reads the path from `LLM_CONNECT_LEDGER`: a SQLite (or PostgreSQL) ledger when set, else in
 * memory; `off`, `none` or `false` (any case) also mean in memory (no file named `off`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig: Layer.Layer<UsageLedger, LlmError.LlmError | Config.ConfigError> = Layer.unwrap(
  Effect.map(Config.option(Config.String("LLM_CONNECT_LEDGER")), (path) =>
    layer({
      path: Option.getOrUndefined(Option.filter(path, (location) => !ObservabilityConfig.isLedgerOff(location)))
    }))
)
