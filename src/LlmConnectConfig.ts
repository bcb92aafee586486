/**
 * The configuration of llm-connect: what the CLI (and any program) reads at start-up.
 *
 * Every setting is read from four places, the first that has it wins:
 *
 *   flags  >  environment (`LLM_CONNECT_*`)  >  YAML file (`--config`, `LLM_CONNECT_CONFIG`,
 *   else `./llm-connect.yaml` if present)  >  defaults
 *
 * The file's shape is the Schema {@link ConfigFile} (its JSON Schema is generated into
 * `contracts/config.schema.json`). Unknown keys are refused, with the list of known ones. Values
 * from every source are merged into one document and validated once by that Schema, so a bad
 * value gets the same message whatever its origin, plus where it came from (the flag, the
 * variable, or the file and line) and an example of a good value. Every failure is an
 * `LlmError` with reason `Configuration`. {@link load} returns the resolved configuration and the
 * {@link Source} of each value.
 *
 * The provider is `mock` unless a flag, `LLM_CONNECT_PROVIDER` or the file names one: an API key
 * in the environment never selects a paid provider by itself.
 *
 * This module only composes: each concern declares its `ConfigSection` next to its code (its
 * file keys and Schemas, its settings with their variables and flags, its `finish`). To add a
 * section, declare it with `ConfigSection.make` in the concern's folder and add it to
 * {@link composition}; its keys, variables, flags (`src/cli/flags/`) and JSON Schema follow.
 *
 * @since 0.1.0
 */
import { Effect, Schema } from "effect"
import type { Types } from "effect"
import * as BudgetConfig from "./budget/BudgetConfig.ts"
import * as StoreConfig from "./budget/StoreConfig.ts"
import * as ConfigSection from "./ConfigSection.ts"
import * as ConfigLoader from "./internal/configLoader.ts"
import * as ModelConfig from "./ModelConfig.ts"
import * as ObservabilityConfig from "./observability/ObservabilityConfig.ts"
import * as PiiConfig from "./pii/PiiConfig.ts"
import * as PricesConfig from "./pricing/PricesConfig.ts"
import * as ProvidersConfig from "./ProvidersConfig.ts"
import * as BuiltinProviders from "./providers/BuiltinProviders.ts"
import * as MockConfig from "./providers/mock/MockConfig.ts"
import * as ResilienceConfig from "./resilience/ResilienceConfig.ts"
import * as RequestSize from "./RequestSize.ts"
import * as RoutesConfig from "./routing/RoutesConfig.ts"
import * as ServeConfig from "./server/ServeConfig.ts"
import * as StructuredOutputConfig from "./StructuredOutputConfig.ts"

/**
 * Every section, in the order of the file's keys. Add a concern's section here (and nowhere
 * else): the file accepts its keys, the loader reads its variables and flags, and the list of
 * known keys in error messages follows.
 *
 * @since 0.1.0
 * @category sections
 */
export const composition = ConfigSection.compose([
  ModelConfig.section,
  MockConfig.section,
  ProvidersConfig.makeSection(BuiltinProviders.optionSchemas),
  ObservabilityConfig.section,
  PiiConfig.section,
  BudgetConfig.section,
  StoreConfig.section,
  PricesConfig.section,
  ResilienceConfig.section,
  RequestSize.section,
  ServeConfig.section,
  StructuredOutputConfig.section,
  RoutesConfig.section
])

/**
 * The top-level keys of the file, from every section.
 *
 * @since 0.1.0
 * @category schemas
 */
export const sections = composition.fields

/**
 * The YAML configuration file.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ConfigFile = Schema.Struct(sections).annotate({
  identifier: "LlmConnectConfigFile",
  description: "llm-connect.yaml: flags and LLM_CONNECT_* variables override these values."
})

/**
 * @since 0.1.0
 * @category models
 */
export type ConfigFile = typeof ConfigFile.Type

/**
 * How the file's JSON Schema is generated (`contracts/config.schema.json`): closed objects, as
 * the loader refuses unknown keys.
 *
 * @since 0.1.0
 * @category schemas
 */
export const jsonSchemaOptions: Schema.ToJsonSchemaOptions = { onExcessProperty: "error" }

/**
 * A provider's settings, resolved: the key is `Redacted`.
 *
 * @since 0.1.0
 * @category models
 */
export type ProviderSettings = ProvidersConfig.ProviderSettings

/**
 * The resolved configuration: what every section's `finish` returns (`timeoutMs`, `mock` with
 * `latencyMs` and `faults`, `providers` with `Redacted` keys, the other sections as decoded),
 * and the file that was read.
 *
 * @since 0.1.0
 * @category models
 */
export type LlmConnectConfig = Types.Simplify<
  ConfigSection.ResolvedOf<typeof composition.sections> & {
    /** The file that was read, if any. */
    readonly file?: string | undefined
  }
>

/**
 * Where a value came from.
 *
 * @since 0.1.0
 * @category models
 */
export type Source = ConfigSection.Source

/**
 * The resolved configuration and the source of each value, keyed by dotted path
 * (`"provider"`, `"mock.latency"`, `"providers.openai.baseUrl"`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Resolved {
  readonly config: LlmConnectConfig
  readonly sources: Readonly<Record<string, Source>>
}

/**
 * A setting that can also come from a flag or an environment variable.
 *
 * @since 0.1.0
 * @category models
 */
export type Setting = ConfigSection.Setting

/**
 * The settings read from flags and the environment, from every section.
 *
 * @since 0.1.0
 * @category settings
 */
export const settings: ReadonlyArray<Setting> = composition.settings

/**
 * The variable naming the config file.
 *
 * @since 0.1.0
 * @category settings
 */
export const CONFIG_ENV = "LLM_CONNECT_CONFIG"

/**
 * The file read when neither `--config` nor `LLM_CONNECT_CONFIG` names one (if it exists).
 *
 * @since 0.1.0
 * @category settings
 */
export const DEFAULT_FILE = "llm-connect.yaml"

/**
 * What {@link load} reads: flag values by dotted path (only the flags given), the `--config`
 * flag, and the directory in which `./llm-connect.yaml` is looked for.
 *
 * @since 0.1.0
 * @category models
 */
export type LoadOptions = ConfigLoader.LoadOptions

/**
 * Describes a source for a message: `--provider`, `LLM_CONNECT_PROVIDER`, `llm-connect.yaml line 3`.
 *
 * @since 0.1.0
 * @category formatting
 */
export const describeSource: (source: Source) => string = ConfigSection.describeSource

/**
 * Builds a configuration error.
 *
 * @since 0.1.0
 * @category errors
 */
export const configurationError = ConfigSection.configurationError

const loader: ConfigLoader.Loader<typeof composition.sections> = {
  composition,
  schema: ConfigFile,
  configEnv: CONFIG_ENV,
  defaultFile: DEFAULT_FILE
}

/**
 * Resolves the configuration from flags, environment, file and defaults, with the source of
 * each value. Environment variables are read through `Config` (so tests use a `ConfigProvider`).
 *
 * @since 0.1.0
 * @category loading
 * @example
 * const { config, sources } = yield* LlmConnectConfig.load({ flags: { provider: "mock" } })
 */
export const load = Effect.fn("LlmConnectConfig.load")(function*(options: LoadOptions = {}) {
  const { file, resolved, sources } = yield* ConfigLoader.load(loader, options)
  // The one setting that names a data file to read at load (the others are read by their users).
  const withToolCalls = yield* MockConfig.readToolCalls(resolved, sources["mock.toolCalls"])
  const config: LlmConnectConfig = { ...withToolCalls, ...(file !== undefined ? { file } : {}) }
  if (sources.provider === undefined) sources.provider = { _tag: "Default" }
  return { config, sources } satisfies Resolved
})

/**
 * Resolves a configuration a program gives as one object in the YAML file's shape
 * (`createClient(options)`): validated by the same Schema and `finish` as {@link load}, with the
 * same messages, each naming the option (`the option budget.costUsd`) and a good value in the
 * object's own shape. Nothing else is read: no flag, no `LLM_CONNECT_*` variable, no file (keys
 * are looked up later, by `Stack`). Synchronous apart from `mock.toolCalls`, a file it reads.
 *
 * @since 0.1.0
 * @category loading
 * @example
 * const { config } = yield* LlmConnectConfig.fromOptions({ provider: "mock", budget: { costUsd: 0.5 } })
 */
export const fromOptions = Effect.fn("LlmConnectConfig.fromOptions")(function*(options: unknown) {
  const { resolved, sources } = yield* ConfigLoader.loadDocument(loader, options)
  const config: LlmConnectConfig = yield* MockConfig.readToolCalls(resolved, sources["mock.toolCalls"])
  if (sources.provider === undefined) sources.provider = { _tag: "Default" }
  return { config, sources } satisfies Resolved
})

/**
 * The options a program may give {@link fromOptions}: the YAML file's shape, as written (before
 * decoding: durations as text, keys as strings).
 *
 * @since 0.1.0
 * @category models
 */
export type Options = typeof ConfigFile.Encoded

/**
 * The mock's provider options (`reply`, `latency`, `faults`) from a resolved configuration.
 *
 * @since 0.1.0
 * @category accessors
 */
export const mockOptions: (config: LlmConnectConfig) => Record<string, unknown> = MockConfig.mockOptions

/**
 * The model to use: `model` from any source, else `providers.<provider>.model`, else the
 * provider's default (`undefined` here).
 *
 * @since 0.1.0
 * @category accessors
 */
export const modelFor = (config: LlmConnectConfig): string | undefined =>
  config.model ?? config.providers[config.provider]?.model
