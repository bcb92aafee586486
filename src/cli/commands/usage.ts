/**
 * `llm-connect usage`: what the calls recorded in the usage ledger cost, summed and grouped.
 *
 * Reads the SQLite ledger that CLI commands write: the configured one (`--ledger`,
 * `LLM_CONNECT_LEDGER`, or `ledger.path` in the config file), else the user's state ledger
 * (`$XDG_STATE_HOME/llm-connect/usage.db`, else `~/.local/state/llm-connect/usage.db`), where
 * every CLI call is recorded by default, so it sums calls across runs. With no file there yet,
 * nothing was recorded: the totals are zeros (exit 0).
 * `--since 1h` keeps recent calls only; `--by provider|model|workflow|step|outcome|conversation|agent|key`
 * groups them (`conversation`: the calls of one agent run, `metadata.conversationId`);
 * `--json` prints one document `{ ledger, since, by, totals, groups }`.
 *
 * @since 0.1.0
 */
import { Clock, Effect, FileSystem, Option, Result } from "effect"
import { Command, Flag } from "effect/cli"
import * as DurationText from "../../DurationText.ts"
import * as LlmConnectConfig from "../../LlmConnectConfig.ts"
import * as LlmError from "../../LlmError.ts"
import * as UsageLedger from "../../observability/UsageLedger.ts"
import * as SqlStore from "../../store/SqlStore.ts"
import * as CliConfig from "../CliConfig.ts"
import * as ConfigFlags from "../flags/ConfigFlags.ts"
import * as ObservabilityFlags from "../flags/ObservabilityFlags.ts"
import * as OutputFlags from "../flags/OutputFlags.ts"
import * as Output from "../Output.ts"

const groupings = ["provider", "model", "workflow", "step", "outcome", "conversation", "agent", "key"] as const

/**
 * The `usage` command's flags.
 *
 * @since 0.1.0
 * @category flags
 */
export const flags = {
  since: Flag.String("since").pipe(
    Flag.withMetavar("DURATION"),
    Flag.withDescription("only calls in the last DURATION, e.g. 1h, 30m, 24h"),
    Flag.optional
  ),
  by: Flag.Literals("by", groupings).pipe(
    Flag.withDescription("group by provider, model, workflow, step, outcome, conversation (an agent run's calls), agent (a registered agent's) or key (the serve virtual key's name)"),
    Flag.optional
  ),
  ledger: ObservabilityFlags.flags["ledger.path"]
} as const

const usageError = (setting: string, description: string, fix: string) =>
  LlmError.make("cli", new LlmError.Configuration({ description, setting, fix }))

const money = (group: UsageLedger.Summary) => Output.costText(group.costUsd, group.unpricedCalls ?? 0)

const table = (groups: ReadonlyArray<UsageLedger.Summary>, by: string): string => {
  const header = [by.toUpperCase(), "CALLS", "ERRORS", "INPUT", "OUTPUT", "TOTAL", "COST", "MEAN LATENCY"]
  const rows = groups.map((group) => [
    group.key,
    String(group.calls),
    String(group.errors),
    String(group.inputTokens),
    String(group.outputTokens),
    String(group.totalTokens),
    money(group),
    `${Math.round(group.meanLatencyMs)}ms`
  ])
  const all = [header, ...rows]
  const widths = header.map((_, column) => Math.max(...all.map((row) => row[column]!.length)))
  return all.map((row) => row.map((cell, column) => cell.padEnd(widths[column]!)).join("  ").trimEnd()).join("\n")
}

/**
 * The `usage` command.
 *
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make(
  "usage",
  { ...flags, config: ConfigFlags.config, json: OutputFlags.json },
  Effect.fn("cli.usage")(function*(input) {
    const { config } = yield* LlmConnectConfig.load({
      flags: ConfigFlags.overrides({ "ledger.path": input.ledger }),
      configFile: ConfigFlags.configFile(input.config)
    })
    const path = yield* CliConfig.ledgerToRead(config)
    let since: number | undefined
    if (Option.isSome(input.since)) {
      const window = DurationText.parseMillis(input.since.value)
      if (Result.isFailure(window)) {
        return yield* Effect.fail(usageError("--since", window.failure, "write a duration such as 1h, 30m or 24h"))
      }
      since = (yield* Clock.currentTimeMillis) - window.success
    }
    const fs = yield* FileSystem.FileSystem
    // A PostgreSQL ledger (shared by every process) is shown without its password.
    const database = path === undefined ? undefined : SqlStore.postgres(path)
    const shown = database?.display ?? path
    const recorded = path !== undefined &&
      (database !== undefined || (yield* fs.exists(path).pipe(Effect.orElseSucceed(() => false))))
    if (!recorded) {
      yield* Output.notice(
        path === undefined
          ? "no usage ledger: neither HOME nor XDG_STATE_HOME is set and none is configured (--ledger, LLM_CONNECT_LEDGER)"
          : `nothing recorded yet: no usage ledger at ${path} (CLI calls are recorded there unless --no-ledger or ledger: false)`
      )
    }
    const entries = recorded
      ? yield* Effect.scoped(Effect.flatMap(UsageLedger.makeSqlite(path), (ledger) => ledger.entries({ since })))
      : []
    const by = Option.getOrUndefined(input.by)
    const totals = UsageLedger.summarize(entries)[0] ??
      { key: "all", calls: 0, errors: 0, inputTokens: 0, outputTokens: 0, totalTokens: 0, costUsd: 0, meanLatencyMs: 0 }
    const groups = by === undefined ? [totals] : UsageLedger.summarize(entries, by)
    if (input.json) {
      return yield* Output.json({
        ...(shown !== undefined ? { ledger: shown } : {}),
        ...(since !== undefined ? { since: new Date(since).toISOString() } : {}),
        ...(by !== undefined ? { by } : {}),
        totals,
        groups
      })
    }
    yield* Output.result(table(groups, by ?? "all"))
    yield* Output.notice(
      `${totals.calls} call(s), ${totals.totalTokens} tokens, ${money(totals)} from ${shown ?? "no ledger"}` +
        (Option.isSome(input.since) ? ` in the last ${input.since.value}` : "")
    )
  }, (effect, input) =>
    effect.pipe(
      Effect.tapError((error) => input.json ? Output.json(LlmError.toDocument(error)) : Effect.void),
      Output.reportInterrupt(input.json)
    ))
).pipe(
  Command.withDescription("Sum the calls recorded in the usage ledger (tokens, cost, errors), optionally grouped"),
  Command.withExamples([
    { command: "llm-connect prompt \"Hi\" && llm-connect usage", description: "every CLI call is recorded (--no-ledger: not)" },
    { command: "llm-connect usage --since 1h --by model", description: "the last hour, per model" },
    { command: "llm-connect usage --json", description: "one JSON document with totals and groups" }
  ])
)
