/**
 * The usage report of `GET /v1/usage?since=1h&by=model` and JSON-RPC `usage`: the same document
 * as `llm-connect usage --json` (`{ since, by, totals, groups }`), summed from the server's
 * usage ledger.
 *
 * @since 0.1.0
 */
import { Clock, Effect, Result } from "effect"
import * as BridgeContract from "../bridge/BridgeContract.ts"
import * as DurationText from "../DurationText.ts"
import * as UsageLedger from "../observability/UsageLedger.ts"

const GROUPS: ReadonlyArray<UsageLedger.GroupBy> = ["provider", "model", "workflow", "step", "outcome"]

/**
 * The query: a window (`since`, a duration such as `1h`) and a grouping.
 *
 * @since 0.1.0
 * @category models
 */
export interface Query {
  readonly since?: string | undefined
  readonly by?: string | undefined
}

/**
 * The report, or an `InvalidInput` failure naming the bad parameter.
 *
 * @since 0.1.0
 * @category reporting
 */
export const report = (
  ledger: UsageLedger.Service | undefined,
  query: Query
): Effect.Effect<Record<string, unknown>, BridgeContract.BridgeFailure> =>
  Effect.gen(function*() {
    let since: number | undefined
    if (query.since !== undefined) {
      const window = DurationText.parseMillis(query.since)
      if (Result.isFailure(window)) {
        return yield* Effect.fail(
          BridgeContract.invalidInput(`since: ${window.failure}`, { setting: "since", fix: "write a duration such as 1h, 30m or 24h" }).document
        )
      }
      since = (yield* Clock.currentTimeMillis) - window.success
    }
    const by = query.by
    if (by !== undefined && !GROUPS.includes(by as UsageLedger.GroupBy)) {
      return yield* Effect.fail(
        BridgeContract.invalidInput(`by: ${JSON.stringify(by).slice(0, 40)} is not a grouping`, {
          setting: "by",
          fix: `use one of ${GROUPS.join(", ")}`
        }).document
      )
    }
    const entries = ledger === undefined ? [] : yield* ledger.entries({ since })
    const totals = UsageLedger.summarize(entries)[0] ??
      { key: "all", calls: 0, errors: 0, inputTokens: 0, outputTokens: 0, totalTokens: 0, costUsd: 0, meanLatencyMs: 0 }
    const groups = by === undefined ? [totals] : UsageLedger.summarize(entries, by as UsageLedger.GroupBy)
    return {
      recording: ledger !== undefined,
      ...(since !== undefined ? { since: new Date(since).toISOString() } : {}),
      ...(by !== undefined ? { by } : {}),
      totals,
      groups
    }
  })
