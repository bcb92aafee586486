/**
 * The usage report of `GET /v1/usage?since=1h&by=model&key=team-a` and JSON-RPC `usage`: the same
 * document as `llm-connect usage --json` (`{ since, by, totals, groups }`), summed from the
 * server's usage ledger.
 *
 * Whose usage: each ledger row names the virtual key its call was made for (`keyName`). A caller
 * with a non-admin key sees only its own rows (the document says `key`); asking for another key
 * (`key=`) is 403 `PermissionDenied`. An admin key (`llm-connect keys create --admin`), or any
 * caller when the server has no keys (loopback), sees every row and may narrow them with `key=`.
 *
 * @since 0.1.0
 */
import { Clock, Effect, Option, Result } from "effect"
import * as BridgeContract from "../bridge/BridgeContract.ts"
import * as DurationText from "../DurationText.ts"
import * as UsageLedger from "../observability/UsageLedger.ts"
import * as Server from "./Server.ts"

/**
 * The groupings a report may ask for (`by`).
 *
 * @since 0.1.0
 * @category constants
 */
export const GROUPS: ReadonlyArray<UsageLedger.GroupBy> = ["provider", "model", "workflow", "step", "outcome", "conversation", "agent", "key"]

const forbidden = (error: string): BridgeContract.BridgeFailure => ({
  error,
  errorType: "PermissionDenied",
  retryable: false,
  fix: "use an admin key (llm-connect keys create --admin) to see another key's usage, or leave key= out"
} as BridgeContract.BridgeFailure)

/**
 * Whose rows the caller of the current request may see, and which it asked for: `undefined`
 * for every row. A request of a non-admin virtual key sees its own; another `key` is refused.
 */
const scopeOf = (asked: string | undefined): Effect.Effect<string | undefined, BridgeContract.BridgeFailure> =>
  Effect.flatMap(Effect.serviceOption(Server.CurrentRequest), (current) => {
    const identity = Option.isSome(current) ? current.value.identity : Server.ANONYMOUS
    // No keys on this server (every caller is the anonymous identity itself: a key named
    // "anonymous" is not it), or an admin key: every row.
    if (identity === Server.ANONYMOUS || identity.admin === true) {
      return Effect.succeed(asked)
    }
    if (asked !== undefined && asked !== identity.name) {
      return Effect.fail(forbidden(`key ${identity.name} may see only its own usage, not key ${JSON.stringify(asked.slice(0, 64))}'s`))
    }
    return Effect.succeed(identity.name)
  })

/**
 * The query: a window (`since`, a duration such as `1h`) and a grouping.
 *
 * @since 0.1.0
 * @category models
 */
export interface Query {
  readonly since?: string | undefined
  readonly by?: string | undefined
  /** Only the rows of this virtual key (its name); a non-admin key may name only itself. */
  readonly key?: string | undefined
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
    if (query.key !== undefined && query.key.trim() === "") {
      return yield* Effect.fail(
        BridgeContract.invalidInput("key: empty", { setting: "key", fix: "name a virtual key, e.g. key=team-a, or leave key= out" }).document
      )
    }
    const key = yield* scopeOf(query.key)
    const all = ledger === undefined ? [] : yield* ledger.entries({ since })
    const entries = key === undefined ? all : all.filter((entry) => entry.keyName === key)
    const totals = UsageLedger.summarize(entries)[0] ??
      { key: "all", calls: 0, errors: 0, inputTokens: 0, outputTokens: 0, totalTokens: 0, costUsd: 0, meanLatencyMs: 0 }
    const groups = by === undefined ? [totals] : UsageLedger.summarize(entries, by as UsageLedger.GroupBy)
    return {
      recording: ledger !== undefined,
      ...(since !== undefined ? { since: new Date(since).toISOString() } : {}),
      ...(by !== undefined ? { by } : {}),
      ...(key !== undefined ? { key } : {}),
      totals,
      groups
    }
  })
