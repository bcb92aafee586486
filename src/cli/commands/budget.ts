/**
 * `llm-connect budget show ID` and `llm-connect budget reset ID`: inspect and reset a budget
 * shared through the store of the configuration (`store.redis` / `LLM_CONNECT_REDIS_URL`).
 * `show` prints the stored limits, the current period's consumed and reserved figures and the
 * open leases (settling the expired ones first); `reset` drops the stored budget, its limits and
 * every period, so that the next process to name it stores its own limits. Without a store both
 * are a configuration error (exit 2); an unknown id exits 1.
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import { Argument, Command } from "effect/cli"
import * as RedisBudgetStore from "../../budget/RedisBudgetStore.ts"
import * as StoreConfig from "../../budget/StoreConfig.ts"
import * as LlmConnectConfig from "../../LlmConnectConfig.ts"
import * as LlmError from "../../LlmError.ts"
import * as Money from "../../pricing/Money.ts"
import * as ConfigFlags from "../flags/ConfigFlags.ts"
import * as OutputFlags from "../flags/OutputFlags.ts"
import * as Output from "../Output.ts"

const id = Argument.String("id").pipe(Argument.withDescription("the budget's id (budget.id)"))

const storeOf = (configFile: string | undefined) =>
  Effect.gen(function*() {
    const { config } = yield* LlmConnectConfig.load({ configFile })
    const redis = config.store?.redis
    if (redis === undefined) {
      return yield* Effect.fail(LlmError.make("cli", new LlmError.Configuration({
        description: "no shared budget store is configured, so there is no shared budget to show or reset",
        setting: "store.redis.url",
        fix: "set store.redis.url in the config file or LLM_CONNECT_REDIS_URL (e.g. redis://localhost:6379)"
      })))
    }
    return yield* RedisBudgetStore.make({
      url: redis.url,
      prefix: redis.prefix,
      timeout: StoreConfig.timeoutMillis(config.store?.timeout) ?? 2_000
    })
  })

const fail = (store: RedisBudgetStore.RedisStore) => <A>(effect: Effect.Effect<A, LlmError.LlmError>) =>
  effect.pipe(Effect.catchIf(
    (error) => error.reason._tag === "Unavailable",
    () =>
      Effect.fail(LlmError.make("cli", new LlmError.Unavailable({
        description: `the ${store.where} cannot be reached; check that Redis is up and store.redis.url`
      })))
  ))

const notFound = (name: string) =>
  Effect.fail(LlmError.make("cli", new LlmError.InvalidRequest({
    description: `no budget "${name}" is stored; a budget is stored by the first process that names it in budget.id`,
    parameter: "id"
  })))

const limitText = (value: string | undefined, cost = false): string =>
  value === undefined || value === "" ? "none" : cost ? Money.format(Number(value)) : value

const text = (shown: RedisBudgetStore.Shown): string => {
  const { definition: d, figures: f } = shown
  const rows = [
    ["", "LIMIT", "CONSUMED", "RESERVED"],
    ["inputTokens", limitText(d.li), f.ci ?? "0", f.ri ?? "0"],
    ["outputTokens", limitText(d.lo), f.co ?? "0", f.ro ?? "0"],
    ["totalTokens", limitText(d.lt), f.ct ?? "0", f.rt ?? "0"],
    ["costUsd", limitText(d.lc, true), Money.format(Number(f.cc ?? "0")), Money.format(Number(f.rc ?? "0"))]
  ]
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)))
  return [
    `budget ${shown.name} (window ${d.window ?? "none"}, period ${shown.node})`,
    ...rows.map((row) => row.map((cell, column) => cell.padEnd(widths[column]!)).join("  ").trimEnd()),
    `open reservations: ${f.open ?? "0"} (leases in the store: ${shown.openLeases})`
  ].join("\n")
}

const show = Command.make(
  "show",
  { config: ConfigFlags.config, json: OutputFlags.json, id },
  Effect.fn("cli.budget.show")(function*(input) {
    const store = yield* storeOf(ConfigFlags.configFile(input.config))
    const shown = yield* fail(store)(store.show(input.id))
    if (shown === undefined) return yield* notFound(input.id)
    if (input.json) return yield* Output.json(shown)
    yield* Output.result(text(shown))
  }, Effect.scoped)
).pipe(Command.withDescription("Show a shared budget: its limits, what it consumed and holds now, its open reservations"))

const reset = Command.make(
  "reset",
  { config: ConfigFlags.config, json: OutputFlags.json, id },
  Effect.fn("cli.budget.reset")(function*(input) {
    const store = yield* storeOf(ConfigFlags.configFile(input.config))
    const existed = yield* fail(store)(store.reset(input.id))
    if (!existed) return yield* notFound(input.id)
    if (input.json) return yield* Output.json({ reset: input.id })
    yield* Output.notice(`budget ${input.id} reset: its limits and figures are dropped; the next process to name it stores its own`)
  }, Effect.scoped)
).pipe(Command.withDescription("Reset a shared budget: drop its stored limits and figures (every period)"))

/**
 * The `budget` command (`show`, `reset`).
 *
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make("budget").pipe(
  Command.withDescription("Inspect and reset budgets shared through store.redis"),
  Command.withSubcommands([show, reset])
)
