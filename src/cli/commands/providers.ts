/**
 * `llm-connect providers`: every registered provider, its default model, and whether a key was
 * found and where (variable name, key file path, config file, or not needed). Never the key.
 * For `claude-code`, also whether the `claude` binary was found, and where (it is looked for as
 * a call would run it: `providers.claude-code.options.binaryPath`, else `CLAUDE_CODE_PATH`, else
 * `claude` on `PATH`).
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import { Command } from "effect/cli"
import * as LlmConnectConfig from "../../LlmConnectConfig.ts"
import * as ProviderKeys from "../../ProviderKeys.ts"
import * as ProviderRegistry from "../../ProviderRegistry.ts"
import * as ClaudeCodeLanguageModel from "../../providers/claude-code/ClaudeCodeLanguageModel.ts"
import * as ConfigFlags from "../flags/ConfigFlags.ts"
import * as OutputFlags from "../flags/OutputFlags.ts"
import * as Output from "../Output.ts"

/**
 * One row of the listing.
 *
 * @since 0.1.0
 * @category models
 */
export interface ProviderRow {
  readonly name: string
  readonly description: string
  readonly defaultModel: string
  readonly requiresKey: boolean
  readonly keyEnv: ReadonlyArray<string>
  /** `found`, `missing` or `not-needed`. */
  readonly key: "found" | "missing" | "not-needed"
  /** Where the key was found or looked for, e.g. `OPENAI_API_KEY`. */
  readonly keySource: string
  readonly selected: boolean
  /** For a provider that runs a binary (`claude-code`): whether it was found, and where. */
  readonly binary?: BinaryStatus | undefined
}

/**
 * Whether a provider's binary was found: its name, where that name came from, and the path.
 *
 * @since 0.1.0
 * @category models
 */
export interface BinaryStatus {
  readonly found: boolean
  readonly name: string
  /** `binaryPath` (the provider option), `CLAUDE_CODE_PATH`, or `PATH`. */
  readonly source: string
  readonly path?: string | undefined
}

const claudeBinary = (config: LlmConnectConfig.LlmConnectConfig) => {
  const binaryPath = config.providers[ClaudeCodeLanguageModel.PROVIDER]?.options?.binaryPath
  return Effect.map(
    ClaudeCodeLanguageModel.findBinary(typeof binaryPath === "string" ? { binaryPath } : {}),
    (lookup): BinaryStatus => ({
      found: lookup.path !== undefined,
      name: lookup.name,
      source: lookup.source,
      ...(lookup.path !== undefined ? { path: lookup.path } : {})
    })
  )
}

/**
 * Lists the providers with their key status.
 *
 * @since 0.1.0
 * @category accessors
 */
export const rows = Effect.fn("cli.providers.rows")(function*(config: LlmConnectConfig.LlmConnectConfig) {
  const registry = yield* ProviderRegistry.ProviderRegistry
  const providers = [...(yield* registry.list)].sort((a, b) => a.name.localeCompare(b.name))
  const out: Array<ProviderRow> = []
  for (const provider of providers) {
    const settings = config.providers[provider.name] ?? {}
    const found = yield* ProviderKeys.find({ provider, explicit: settings.apiKey, keyFile: settings.keyFile })
    const key = ProviderKeys.isFound(found) ? "found" : found._tag === "Missing" ? "missing" : "not-needed"
    const keySource = ProviderKeys.isFound(found)
      ? found.source._tag === "Env" ? found.source.variable : found.source._tag === "File" ? found.source.path : "config file"
      : found._tag === "Missing"
      ? [...provider.keyEnv, "key file"].join(" / ")
      : "-"
    out.push({
      name: provider.name,
      description: provider.description,
      defaultModel: provider.defaultModel,
      requiresKey: provider.requiresKey,
      keyEnv: provider.keyEnv,
      key,
      keySource,
      selected: provider.name === config.provider,
      ...(provider.name === ClaudeCodeLanguageModel.PROVIDER ? { binary: yield* claudeBinary(config) } : {})
    })
  }
  return out
})

const table = (list: ReadonlyArray<ProviderRow>): string => {
  const header = ["PROVIDER", "DEFAULT MODEL", "KEY", "WHERE"]
  const lines = list.map((row) => [`${row.selected ? "*" : " "} ${row.name}`, row.defaultModel, row.key, row.keySource])
  const all = [[`  ${header[0]}`, ...header.slice(1)], ...lines]
  const widths = header.map((_, column) => Math.max(...all.map((line) => line[column]!.length)))
  const text = all.map((line) => line.map((cell, column) => cell.padEnd(widths[column]!)).join("  ").trimEnd())
  for (const row of list) if (row.binary !== undefined) text.push("", binaryLine(row.name, row.binary))
  return text.join("\n")
}

/**
 * The line saying whether a provider's binary was found.
 *
 * @since 0.1.0
 * @category formatting
 */
export const binaryLine = (provider: string, binary: BinaryStatus): string => {
  const looked = binary.source === "PATH" ? `"${binary.name}" on PATH` : `"${binary.name}" (from ${binary.source})`
  return binary.path !== undefined
    ? `${provider}: binary found at ${binary.path} (looked for ${looked})`
    : `${provider}: binary not found (looked for ${looked}); ${ClaudeCodeLanguageModel.INSTALL_HINT}`
}

/**
 * The `providers` command.
 *
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make(
  "providers",
  { config: ConfigFlags.config, json: OutputFlags.json },
  Effect.fn("cli.providers")(function*(input) {
    const { config } = yield* LlmConnectConfig.load({ configFile: ConfigFlags.configFile(input.config) })
    const list = yield* rows(config)
    if (input.json) return yield* Output.json({ selected: config.provider, providers: list })
    yield* Output.result(table(list))
    yield* Output.notice(`* = selected (${config.provider}); keys are never shown`)
  }, (effect, input) => Output.reportInterrupt(input.json)(effect))
).pipe(Command.withDescription("List providers, their default model and whether a key was found (never the key)"))
