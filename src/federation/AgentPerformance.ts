/**
 * Performance records (issue 18 §6): what became of an agent's proposals (`accepted`, `rejected`,
 * `revised`, each with the confidence the proposal claimed, when known), and, per agent and
 * window (default 30 days), a summary:
 *
 * - counts of each outcome and their total;
 * - acceptance ratio: accepted / total (`undefined` with no outcome);
 * - mean confidence over the outcomes that carry one (`undefined` with none);
 * - calibration: the Pearson correlation between confidence and accepted (1) / rejected (0),
 *   over the accepted and rejected outcomes that carry a confidence (`revised` is neither).
 *   It is `undefined`, with the reason, when there are fewer than 2 of each, or when every
 *   confidence is the same (no correlation is defined): never reported as 0.
 *
 * Every summary computed is stored as a snapshot, so calibration can be followed over time.
 *
 * @since 0.1.0
 */
import { Clock, Context, Effect, Layer, Option } from "effect"
import type * as LlmError from "../LlmError.ts"
import * as SqlStore from "../store/SqlStore.ts"
import * as AgentRegistry from "./AgentRegistry.ts"
import * as FederationStore from "./FederationStore.ts"

/**
 * One recorded outcome.
 *
 * @since 0.1.0
 * @category models
 */
export interface OutcomeRecord {
  readonly id: string
  readonly agent: string
  /** What the outcome is about: a delegation's id, or a proposal's. */
  readonly subjectId: string
  readonly outcome: FederationStore.Outcome
  readonly confidence: number | undefined
  readonly recordedAt: number
}

/**
 * The default window, 30 days in milliseconds.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_WINDOW_MS = 30 * 86_400_000

/**
 * A summary of outcomes.
 *
 * @since 0.1.0
 * @category models
 */
export interface Summary {
  readonly accepted: number
  readonly rejected: number
  readonly revised: number
  readonly total: number
  readonly acceptanceRatio: number | undefined
  readonly meanConfidence: number | undefined
  readonly calibration: number | undefined
  /** Why `calibration` is undefined, when it is. */
  readonly calibrationNote: string | undefined
}

/**
 * An agent's summary over a window, as stored in a snapshot.
 *
 * @since 0.1.0
 * @category models
 */
export interface Performance extends Summary {
  readonly agent: string
  readonly windowMs: number
  /** The window's start, epoch ms. */
  readonly since: number
  readonly computedAt: number
  readonly snapshotId: string
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /**
   * Records an outcome. `agent` may be left out when `subjectId` is a delegation's id (its
   * receiving agent); the confidence, when given, is in [0, 1].
   */
  readonly record: (input: {
    readonly subjectId: string
    readonly outcome: string
    readonly agent?: string | undefined
    readonly confidence?: number | undefined
  }) => Effect.Effect<OutcomeRecord, LlmError.LlmError>
  /** The agent's summary over the last `windowMs` (default 30 days), stored as a snapshot. */
  readonly performance: (agent: string, windowMs?: number | undefined) => Effect.Effect<Performance, LlmError.LlmError>
}

/**
 * The `AgentPerformance` service.
 *
 * @since 0.1.0
 * @category services
 */
export class AgentPerformance extends Context.Service<AgentPerformance, Service>()("llm-connect/AgentPerformance") {}

/**
 * The Pearson correlation of two equally long series; `undefined` when either has no variance
 * (or fewer than 2 points).
 *
 * @since 0.1.0
 * @category statistics
 */
export const pearson = (xs: ReadonlyArray<number>, ys: ReadonlyArray<number>): number | undefined => {
  const n = Math.min(xs.length, ys.length)
  if (n < 2) return undefined
  let meanX = 0
  let meanY = 0
  for (let i = 0; i < n; i++) {
    meanX += xs[i]!
    meanY += ys[i]!
  }
  meanX /= n
  meanY /= n
  let covariance = 0
  let varianceX = 0
  let varianceY = 0
  for (let i = 0; i < n; i++) {
    const dx = xs[i]! - meanX
    const dy = ys[i]! - meanY
    covariance += dx * dy
    varianceX += dx * dx
    varianceY += dy * dy
  }
  if (varianceX === 0 || varianceY === 0) return undefined
  return covariance / Math.sqrt(varianceX * varianceY)
}

/**
 * Summarises outcomes (see the module's definitions).
 *
 * @since 0.1.0
 * @category statistics
 */
export const summarize = (
  outcomes: ReadonlyArray<{ readonly outcome: FederationStore.Outcome; readonly confidence: number | undefined }>
): Summary => {
  const count = (which: FederationStore.Outcome) => outcomes.filter((item) => item.outcome === which).length
  const accepted = count("accepted")
  const rejected = count("rejected")
  const revised = count("revised")
  const total = outcomes.length
  const confidences = outcomes.flatMap((item) => item.confidence === undefined ? [] : [item.confidence])
  const judged = outcomes.filter((item) => item.outcome !== "revised" && item.confidence !== undefined)
  const acceptedJudged = judged.filter((item) => item.outcome === "accepted").length
  const rejectedJudged = judged.length - acceptedJudged
  const enough = acceptedJudged >= 2 && rejectedJudged >= 2
  const calibration = enough
    ? pearson(judged.map((item) => item.confidence!), judged.map((item) => item.outcome === "accepted" ? 1 : 0))
    : undefined
  return {
    accepted,
    rejected,
    revised,
    total,
    acceptanceRatio: total === 0 ? undefined : accepted / total,
    meanConfidence: confidences.length === 0 ? undefined : confidences.reduce((sum, value) => sum + value, 0) / confidences.length,
    calibration,
    calibrationNote: !enough
      ? `needs at least 2 accepted and 2 rejected outcomes with a confidence (has ${acceptedJudged} and ${rejectedJudged})`
      : calibration === undefined
      ? "every confidence is the same: no correlation is defined"
      : undefined
  }
}

/**
 * A performance as a JSON document (`agents performance --json`): undefined values as `null`.
 *
 * @since 0.1.0
 * @category encoding
 */
export const toDocument = (performance: Performance) => ({
  agent: performance.agent,
  windowMs: performance.windowMs,
  since: new Date(performance.since).toISOString(),
  computedAt: new Date(performance.computedAt).toISOString(),
  snapshotId: performance.snapshotId,
  counts: { accepted: performance.accepted, rejected: performance.rejected, revised: performance.revised, total: performance.total },
  acceptanceRatio: performance.acceptanceRatio ?? null,
  meanConfidence: performance.meanConfidence ?? null,
  calibration: performance.calibration ?? null,
  calibrationNote: performance.calibrationNote ?? null
})

interface Row {
  readonly id: string
  readonly agent: string
  readonly subject_id: string
  readonly outcome: string
  readonly confidence: unknown
  readonly recorded_at: unknown
}

const outcomeOf = (row: Row): OutcomeRecord => ({
  id: row.id,
  agent: row.agent,
  subjectId: row.subject_id,
  outcome: FederationStore.outcomes.find((outcome) => outcome === row.outcome) ?? "revised",
  confidence: FederationStore.numOrUndefined(row.confidence),
  recordedAt: FederationStore.num(row.recorded_at)
})

/**
 * Checks an outcome's text.
 *
 * @since 0.1.0
 * @category validation
 */
export const parseOutcome = (text: string): Effect.Effect<FederationStore.Outcome, LlmError.LlmError> => {
  const found = FederationStore.outcomes.find((outcome) => outcome === text)
  return found !== undefined ? Effect.succeed(found) : Effect.fail(FederationStore.invalid(
    `${JSON.stringify(text.slice(0, 40))} is not an outcome`,
    "outcome",
    `use one of ${FederationStore.outcomes.join(", ")}`
  ))
}

/**
 * Performance records in a SQL store, with the registry to check agents.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (store: SqlStore.Service, registry: AgentRegistry.Service): Effect.Effect<Service, LlmError.LlmError> =>
  Effect.gen(function*() {
    yield* FederationStore.migrate(store)
    const sql = store.sql
    const table = sql(FederationStore.Tables.outcomes)
    const failed = (what: string) => FederationStore.storeFailed(store, what)
    return AgentPerformance.of({
      record: (input) =>
        Effect.gen(function*() {
          const outcome = yield* parseOutcome(input.outcome)
          if (input.confidence !== undefined && !(Number.isFinite(input.confidence) && input.confidence >= 0 && input.confidence <= 1)) {
            return yield* Effect.fail(FederationStore.invalid(
              `--confidence is ${input.confidence}; it must be a number from 0 to 1`,
              "--confidence",
              "pass e.g. --confidence 0.8, or leave it out"
            ))
          }
          if (input.subjectId.trim() === "" || input.subjectId.length > 200) {
            return yield* Effect.fail(FederationStore.invalid("the outcome's id is empty or too long", "id", "pass the id of a delegation or proposal"))
          }
          let agent = input.agent
          if (agent === undefined) {
            const rows = yield* sql<{ readonly to_agent: string }>`SELECT to_agent FROM ${sql(FederationStore.Tables.delegations)}
              WHERE id = ${input.subjectId}`.pipe(Effect.mapError(failed("read the delegations")))
            agent = rows[0]?.to_agent
            if (agent === undefined) {
              return yield* Effect.fail(FederationStore.invalid(
                `no delegation has id ${JSON.stringify(input.subjectId.slice(0, 64))}, and no agent was named`,
                "--agent",
                "pass the id of a delegation, or name the agent whose proposal it was with --agent SLUG"
              ))
            }
          } else if (Option.isNone(yield* registry.find(agent))) {
            return yield* Effect.fail(AgentRegistry.unknownAgent(agent, "--agent"))
          }
          const id = yield* FederationStore.newId("out")
          const now = yield* Clock.currentTimeMillis
          yield* sql`INSERT INTO ${table} (id, agent, subject_id, outcome, confidence, recorded_at)
            VALUES (${id}, ${agent}, ${input.subjectId}, ${outcome}, ${input.confidence ?? null}, ${now})`.pipe(
            Effect.mapError(failed("record the outcome"))
          )
          return { id, agent, subjectId: input.subjectId, outcome, confidence: input.confidence, recordedAt: now } satisfies OutcomeRecord
        }),
      performance: (agent, windowMs = DEFAULT_WINDOW_MS) =>
        Effect.gen(function*() {
          yield* registry.show(agent)
          const now = yield* Clock.currentTimeMillis
          const since = now - windowMs
          const rows = yield* sql<Row>`SELECT * FROM ${table} WHERE agent = ${agent} AND recorded_at >= ${since}`.pipe(
            Effect.mapError(failed("read the outcomes"))
          )
          const summary = summarize(rows.map(outcomeOf))
          const snapshotId = yield* FederationStore.newId("perf")
          yield* sql`INSERT INTO ${sql(FederationStore.Tables.snapshots)} (id, agent, window_ms, computed_at, accepted, rejected, revised,
              acceptance_ratio, mean_confidence, calibration)
            VALUES (${snapshotId}, ${agent}, ${windowMs}, ${now}, ${summary.accepted}, ${summary.rejected}, ${summary.revised},
              ${summary.acceptanceRatio ?? null}, ${summary.meanConfidence ?? null}, ${summary.calibration ?? null})`.pipe(
            Effect.mapError(failed("store the performance snapshot"))
          )
          return { ...summary, agent, windowMs, since, computedAt: now, snapshotId } satisfies Performance
        })
    })
  })

/**
 * Performance records on the services in context.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<AgentPerformance, LlmError.LlmError, SqlStore.SqlStore | AgentRegistry.AgentRegistry> = Layer.effect(
  AgentPerformance,
  Effect.gen(function*() {
    return yield* make(yield* SqlStore.SqlStore, yield* AgentRegistry.AgentRegistry)
  })
)
