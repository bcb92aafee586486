/**
 * Where collective proposals are kept (issue 18 §5): a proposal (its scope, task type, consensus
 * status, final content, the agent that synthesised it, its tokens) and one contribution per
 * agent asked (its structured answer as content, tokens, model, or why it failed).
 *
 * Two implementations behind one service: {@link layerMemory} (this process) and {@link make}
 * over a `SqlStore` (the usage ledger's SQLite file, or PostgreSQL), whose tables are the
 * `proposals` component's migrations ({@link migrations}): `llm_connect_proposals` with a CHECK
 * constraint on `consensus_status`, and `llm_connect_proposal_contributions` (one row per agent,
 * with a CHECK on its status). The prompt is not stored.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer, Option, Ref } from "effect"
import * as SqlClient from "effect/sql/SqlClient"
import * as LlmError from "../LlmError.ts"
import * as SqlMigrations from "../store/SqlMigrations.ts"
import type * as SqlStore from "../store/SqlStore.ts"

/**
 * How the agents' recommendations compare: all equal (normalised), not all equal, or too few
 * answered (fewer than a quorum) or the synthesis failed.
 *
 * @since 0.1.0
 * @category models
 */
export type ConsensusStatus = "consensus" | "divergent" | "failed"

/**
 * @since 0.1.0
 * @category constants
 */
export const consensusStatuses: ReadonlyArray<ConsensusStatus> = ["consensus", "divergent", "failed"]

/**
 * One agent's part in a proposal.
 *
 * @since 0.1.0
 * @category models
 */
export interface Contribution {
  readonly agent: string
  readonly status: "answered" | "failed"
  /** The structured answer as JSON text (empty when the agent failed). */
  readonly content: string
  readonly tokensIn: number
  readonly tokensOut: number
  readonly model: string
  readonly recommendation?: string | undefined
  readonly confidence?: number | undefined
  /** Why the agent failed: its error reason and message. */
  readonly error?: string | undefined
}

/**
 * A proposal.
 *
 * @since 0.1.0
 * @category models
 */
export interface Proposal {
  readonly id: string
  readonly scope: string
  readonly taskType: string
  readonly consensusStatus: ConsensusStatus
  readonly contributions: ReadonlyArray<Contribution>
  /** The synthesis (`null` when the proposal failed). */
  readonly finalContent: string | null
  /** The agent that synthesised it. */
  readonly synthesizedBy: string | null
  readonly tokensIn: number
  readonly tokensOut: number
  readonly createdAt: number
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  readonly save: (proposal: Proposal) => Effect.Effect<void, LlmError.LlmError>
  readonly get: (id: string) => Effect.Effect<Option.Option<Proposal>, LlmError.LlmError>
}

/**
 * The `ProposalStore` service.
 *
 * @since 0.1.0
 * @category services
 */
export class ProposalStore extends Context.Service<ProposalStore, Service>()("llm-connect/ProposalStore") {}

/**
 * Proposals in this process's memory (at most `limit`, the oldest dropped first).
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeMemory = (limit = 1_000): Effect.Effect<Service> =>
  Effect.map(Ref.make(new Map<string, Proposal>()), (ref) => ({
    save: (proposal) =>
      Ref.update(ref, (map) => {
        const next = new Map(map).set(proposal.id, proposal)
        while (next.size > limit) next.delete(next.keys().next().value!)
        return next
      }),
    get: (id) => Effect.map(Ref.get(ref), (map) => Option.fromNullishOr(map.get(id)))
  }))

/**
 * @since 0.1.0
 * @category layers
 */
export const layerMemory: Layer.Layer<ProposalStore> = Layer.effect(ProposalStore, makeMemory())

/**
 * The proposals table.
 *
 * @since 0.1.0
 * @category migrations
 */
export const PROPOSALS = "llm_connect_proposals"

/**
 * The contributions table.
 *
 * @since 0.1.0
 * @category migrations
 */
export const CONTRIBUTIONS = "llm_connect_proposal_contributions"

/**
 * The `proposals` component's migrations.
 *
 * @since 0.1.0
 * @category migrations
 */
export const migrations: SqlMigrations.Component = SqlMigrations.component("proposals", [
  {
    id: 1,
    name: "create_proposals",
    up: Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const int64 = sql.literal(SqlMigrations.columnType(sql, "int64"))
      const float64 = sql.literal(SqlMigrations.columnType(sql, "float64"))
      yield* sql`CREATE TABLE ${sql(PROPOSALS)} (
        id TEXT PRIMARY KEY,
        scope TEXT NOT NULL,
        task_type TEXT NOT NULL,
        consensus_status TEXT NOT NULL CHECK (consensus_status IN ('consensus', 'divergent', 'failed')),
        final_content TEXT,
        synthesized_by TEXT,
        tokens_in ${int64} NOT NULL,
        tokens_out ${int64} NOT NULL,
        created_at ${int64} NOT NULL
      )`
      yield* sql`CREATE TABLE ${sql(CONTRIBUTIONS)} (
        proposal_id TEXT NOT NULL REFERENCES ${sql(PROPOSALS)} (id),
        position ${int64} NOT NULL,
        agent TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('answered', 'failed')),
        content TEXT NOT NULL,
        tokens_in ${int64} NOT NULL,
        tokens_out ${int64} NOT NULL,
        model TEXT NOT NULL,
        recommendation TEXT,
        confidence ${float64},
        error TEXT,
        PRIMARY KEY (proposal_id, position)
      )`
      yield* sql`CREATE INDEX llm_connect_proposals_scope ON ${sql(PROPOSALS)} (scope, created_at)`
    })
  }
])

interface ProposalRow {
  readonly id: string
  readonly scope: string
  readonly task_type: string
  readonly consensus_status: string
  readonly final_content: string | null
  readonly synthesized_by: string | null
  readonly tokens_in: number | bigint
  readonly tokens_out: number | bigint
  readonly created_at: number | bigint
}

interface ContributionRow {
  readonly agent: string
  readonly status: string
  readonly content: string
  readonly tokens_in: number | bigint
  readonly tokens_out: number | bigint
  readonly model: string
  readonly recommendation: string | null
  readonly confidence: number | null
  readonly error: string | null
}

const statusOf = (text: string): ConsensusStatus => text === "consensus" ? "consensus" : text === "divergent" ? "divergent" : "failed"

/**
 * The proposals of a SQL store (brings its tables up to date first). A proposal and its
 * contributions are written in one transaction.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (store: SqlStore.Service): Effect.Effect<Service, LlmError.LlmError> =>
  Effect.gen(function*() {
    yield* store.migrate(migrations)
    const sql = store.sql
    const failed = (what: string) => (cause: unknown) =>
      LlmError.make(
        "collective",
        new LlmError.Unavailable({ description: `cannot ${what} in ${store.label}: ${cause instanceof Error ? cause.message : String(cause)}` })
      )
    return {
      save: (proposal) =>
        sql.withTransaction(Effect.gen(function*() {
          yield* sql`INSERT INTO ${sql(PROPOSALS)} (id, scope, task_type, consensus_status, final_content, synthesized_by, tokens_in, tokens_out, created_at)
            VALUES (${proposal.id}, ${proposal.scope}, ${proposal.taskType}, ${proposal.consensusStatus}, ${proposal.finalContent},
              ${proposal.synthesizedBy}, ${proposal.tokensIn}, ${proposal.tokensOut}, ${proposal.createdAt})`
          for (const [position, contribution] of proposal.contributions.entries()) {
            yield* sql`INSERT INTO ${sql(CONTRIBUTIONS)} (proposal_id, position, agent, status, content, tokens_in, tokens_out, model, recommendation, confidence, error)
              VALUES (${proposal.id}, ${position}, ${contribution.agent}, ${contribution.status}, ${contribution.content},
                ${contribution.tokensIn}, ${contribution.tokensOut}, ${contribution.model}, ${contribution.recommendation ?? null},
                ${contribution.confidence ?? null}, ${contribution.error ?? null})`
          }
        })).pipe(Effect.mapError(failed("store the proposal"))),
      get: (id) =>
        Effect.gen(function*() {
          const rows = yield* sql<ProposalRow>`SELECT id, scope, task_type, consensus_status, final_content, synthesized_by, tokens_in, tokens_out, created_at
            FROM ${sql(PROPOSALS)} WHERE id = ${id}`
          const row = rows[0]
          if (row === undefined) return Option.none<Proposal>()
          const parts = yield* sql<ContributionRow>`SELECT agent, status, content, tokens_in, tokens_out, model, recommendation, confidence, error
            FROM ${sql(CONTRIBUTIONS)} WHERE proposal_id = ${id} ORDER BY position`
          return Option.some<Proposal>({
            id: row.id,
            scope: row.scope,
            taskType: row.task_type,
            consensusStatus: statusOf(row.consensus_status),
            finalContent: row.final_content,
            synthesizedBy: row.synthesized_by,
            tokensIn: Number(row.tokens_in),
            tokensOut: Number(row.tokens_out),
            createdAt: Number(row.created_at),
            contributions: parts.map((part): Contribution => ({
              agent: part.agent,
              status: part.status === "answered" ? "answered" : "failed",
              content: part.content,
              tokensIn: Number(part.tokens_in),
              tokensOut: Number(part.tokens_out),
              model: part.model,
              ...(part.recommendation !== null ? { recommendation: part.recommendation } : {}),
              ...(part.confidence !== null ? { confidence: part.confidence } : {}),
              ...(part.error !== null ? { error: part.error } : {})
            }))
          })
        }).pipe(Effect.mapError(failed("read the proposal")))
    } satisfies Service
  })

/**
 * The proposals of a SQL store, as a Layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (store: SqlStore.Service): Layer.Layer<ProposalStore, LlmError.LlmError> => Layer.effect(ProposalStore, make(store))
