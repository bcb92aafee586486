/**
 * `llm-connect keys`: the virtual keys of `llm-connect serve` (`VirtualKeys`), kept as SHA-256
 * hashes in the usage ledger's store (the file `llm-connect usage` reads: `--ledger`,
 * `LLM_CONNECT_LEDGER`, `ledger.path`, else the state ledger).
 *
 * - `keys create --name NAME [--max-tokens N] [--max-cost-usd USD] [--per day|total] [--rpm N]
 *   [--tpm N] [--max-concurrent N]` prints the new key once, alone on stdout;
 * - `keys list` prints names and limits (never a key or a hash); `--json` for a document;
 * - `keys revoke NAME` removes a key (exit 2 when there is none of that name).
 *
 * @since 0.1.0
 */
import { Effect, FileSystem, Option, Redacted } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import * as LlmConnectConfig from "../../LlmConnectConfig.ts"
import * as LlmError from "../../LlmError.ts"
import type * as VirtualKeys from "../../server/VirtualKeys.ts"
import * as SqlStore from "../../store/SqlStore.ts"
import * as CliConfig from "../CliConfig.ts"
import * as ConfigFlags from "../flags/ConfigFlags.ts"
import * as ObservabilityFlags from "../flags/ObservabilityFlags.ts"
import * as OutputFlags from "../flags/OutputFlags.ts"
import * as Output from "../Output.ts"

const common = { ledger: ObservabilityFlags.flags["ledger.path"], config: ConfigFlags.config }

/** Opens the key store of the ledger `usage` reads, in the current scope. */
// The key store's module, loaded when a command uses it (not at the CLI's start).
const loadVirtualKeys = Effect.promise(() => import("../../server/VirtualKeys.ts"))

const openKeys = (input: { readonly ledger: Option.Option<string>; readonly config: Parameters<typeof ConfigFlags.configFile>[0] }) =>
  Effect.gen(function*() {
    const { config } = yield* LlmConnectConfig.load({
      flags: ConfigFlags.overrides({ "ledger.path": input.ledger }),
      configFile: ConfigFlags.configFile(input.config)
    })
    const path = yield* CliConfig.ledgerToRead(config)
    if (path === undefined) {
      return yield* Effect.fail(LlmError.make("keys", new LlmError.Configuration({
        description: "no store for the keys: neither HOME nor XDG_STATE_HOME is set and no ledger is configured",
        setting: "ledger.path",
        fix: "pass --ledger FILE (or set LLM_CONNECT_LEDGER); serve must use the same ledger"
      })))
    }
    const store = yield* SqlStore.make(path, { setting: "ledger.path", env: "LLM_CONNECT_LEDGER", label: "the usage ledger" })
    return yield* (yield* loadVirtualKeys).make(store)
  })

const limitsText = (limits: VirtualKeys.Limits): string => {
  const parts: Array<string> = []
  if (limits.maxTokens !== undefined) parts.push(`${limits.maxTokens} tokens`)
  if (limits.maxCostUsd !== undefined) parts.push(`$${limits.maxCostUsd}`)
  if (parts.length > 0) parts[parts.length - 1] += limits.per === "day" ? " per day" : " in total"
  if (limits.rpm !== undefined) parts.push(`${limits.rpm} rpm`)
  if (limits.tpm !== undefined) parts.push(`${limits.tpm} tpm`)
  if (limits.maxConcurrent !== undefined) parts.push(`${limits.maxConcurrent} at once`)
  return parts.length === 0 ? "no limits" : parts.join(", ")
}

const create = Command.make(
  "create",
  {
    ...common,
    name: Flag.String("name").pipe(Flag.withMetavar("NAME"), Flag.withDescription("the key's name (shown in access logs)")),
    maxTokens: Flag.Int("max-tokens").pipe(Flag.withMetavar("N"), Flag.withDescription("the key's token budget"), Flag.optional),
    maxCostUsd: Flag.Finite("max-cost-usd").pipe(Flag.withMetavar("USD"), Flag.withDescription("the key's USD budget"), Flag.optional),
    per: Flag.Literals("per", ["total", "day"]).pipe(
      Flag.withDescription("the budget is per UTC day, or in total (default total)"),
      Flag.withDefault("total" as const)
    ),
    rpm: Flag.Int("rpm").pipe(Flag.withMetavar("N"), Flag.withDescription("requests per minute"), Flag.optional),
    tpm: Flag.Int("tpm").pipe(Flag.withMetavar("N"), Flag.withDescription("tokens per minute"), Flag.optional),
    maxConcurrent: Flag.Int("max-concurrent").pipe(Flag.withMetavar("N"), Flag.withDescription("requests in flight at once"), Flag.optional),
    admin: Flag.Boolean("admin").pipe(
      Flag.withDescription("an admin key: sees every key's usage on GET /v1/usage (others see only their own)"),
      Flag.withDefault(false)
    )
  },
  Effect.fn("cli.keys.create")(function*(input) {
    yield* Effect.scoped(Effect.gen(function*() {
      const keys = yield* openKeys(input)
      const limits: VirtualKeys.Limits = {
        per: input.per,
        ...(Option.isSome(input.maxTokens) ? { maxTokens: input.maxTokens.value } : {}),
        ...(Option.isSome(input.maxCostUsd) ? { maxCostUsd: input.maxCostUsd.value } : {}),
        ...(Option.isSome(input.rpm) ? { rpm: input.rpm.value } : {}),
        ...(Option.isSome(input.tpm) ? { tpm: input.tpm.value } : {}),
        ...(Option.isSome(input.maxConcurrent) ? { maxConcurrent: input.maxConcurrent.value } : {})
      }
      const made = yield* keys.create(input.name, limits, { admin: input.admin })
      yield* Output.result(Redacted.value(made.key))
      yield* Output.notice(`${input.admin ? "admin " : ""}key ${made.info.name} created (${limitsText(limits)}); it is shown only this once`)
    }))
  })
).pipe(Command.withDescription("Make a virtual key for serve; prints it once"))

const list = Command.make(
  "list",
  { ...common, json: OutputFlags.json },
  Effect.fn("cli.keys.list")(function*(input) {
    yield* Effect.scoped(Effect.gen(function*() {
      const keys = yield* openKeys(input)
      const all = yield* keys.list
      if (input.json) return yield* Output.json(all)
      if (all.length === 0) return yield* Output.notice("no keys (llm-connect keys create --name NAME)")
      for (const key of all) {
        yield* Output.result(
          `${key.name}\t${limitsText(key.limits)}${key.admin === true ? ", admin" : ""}\tcreated ${new Date(key.createdAt).toISOString()}`
        )
      }
    }))
  })
).pipe(Command.withDescription("List the virtual keys: names and limits"))

const revoke = Command.make(
  "revoke",
  { ...common, name: Argument.String("name").pipe(Argument.withDescription("the key's name")) },
  Effect.fn("cli.keys.revoke")(function*(input) {
    yield* Effect.scoped(Effect.gen(function*() {
      const keys = yield* openKeys(input)
      if (!(yield* keys.revoke(input.name))) {
        return yield* Effect.fail(LlmError.make("keys", new LlmError.Configuration({
          description: `no key is named ${input.name}`,
          setting: "name",
          fix: "llm-connect keys list shows the names"
        })))
      }
      yield* Output.notice(`key ${input.name} revoked`)
    }))
  })
).pipe(Command.withDescription("Revoke a virtual key by name"))

/**
 * The `keys` command and its subcommands.
 *
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make("keys").pipe(
  Command.withDescription("Manage the virtual keys of llm-connect serve (create, list, revoke)"),
  Command.withSubcommands([create, list, revoke])
)

/**
 * Opens the key store of a loaded configuration (the ledger `usage` reads), for `serve`;
 * `undefined` when that SQLite file does not exist (then there are no keys, and none is
 * created). A PostgreSQL ledger's keys are always read.
 *
 * @since 0.1.0
 * @category stores
 */
export const storeOf = (config: LlmConnectConfig.LlmConnectConfig) =>
  Effect.gen(function*() {
    const path = yield* CliConfig.ledgerToRead(config)
    if (path === undefined) return undefined
    // A PostgreSQL ledger is a server, not a file: its keys are read whatever the disk holds.
    const postgres = /^postgres(ql)?:\/\//i.test(path)
    if (!postgres && path !== ":memory:" && !(yield* (yield* FileSystem.FileSystem).exists(path).pipe(Effect.orElseSucceed(() => false)))) return undefined
    const store = yield* SqlStore.make(path, {
      setting: postgres ? "ledger.postgres.url" : "ledger.path",
      env: "LLM_CONNECT_LEDGER",
      label: "the usage ledger"
    })
    return yield* (yield* loadVirtualKeys).make(store)
  })
