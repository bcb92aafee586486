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
 * To add a section (budget, retry, ...): add its Schema to {@link sections} and, if it has
 * environment variables or flags, entries to {@link settings}.
 *
 * @since 0.1.0
 */
import { Config, Effect, Option, Redacted, Result, Schema, SchemaIssue } from "effect"
import * as Budget from "./budget/Budget.ts"
import * as DurationText from "./DurationText.ts"
import * as LlmError from "./LlmError.ts"
import * as PriceTable from "./pricing/PriceTable.ts"
import * as ObservabilityConfig from "./observability/ObservabilityConfig.ts"
import * as PiiGuard from "./pii/PiiGuard.ts"
import * as MockFault from "./providers/mock/MockFault.ts"
import * as CircuitBreaker from "./resilience/CircuitBreaker.ts"
import * as Fallback from "./resilience/Fallback.ts"
import * as Resilience from "./resilience/Resilience.ts"
import * as Retry from "./resilience/Retry.ts"
import * as ConfigDocument from "./internal/configDocument.ts"

const PositiveInt = Schema.Int.check(Schema.isGreaterThan(0))
const NonEmpty = Schema.String.check(Schema.isNonEmpty())

/**
 * The `mock:` section: how the embedded mock provider answers.
 *
 * @since 0.1.0
 * @category schemas
 */
export const MockSection = Schema.Struct({
  reply: Schema.optionalKey(Schema.String).annotate({ description: "Fixed reply text, or \"echo\"." }),
  latency: Schema.optionalKey(DurationText.DurationString),
  faults: Schema.optionalKey(Schema.Union([Schema.String, Schema.Array(Schema.Union([Schema.String, Schema.Int]))]))
    .annotate({ description: "Fault script, e.g. \"429,500\" or [\"429:2s\", \"timeout\"]." })
}).annotate({ identifier: "MockSection" })

/**
 * One entry of the `providers:` section.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ProviderSection = Schema.Struct({
  apiKey: Schema.optionalKey(NonEmpty).annotate({ description: "Prefer the environment or a key file." }),
  baseUrl: Schema.optionalKey(NonEmpty),
  model: Schema.optionalKey(NonEmpty),
  keyFile: Schema.optionalKey(NonEmpty).annotate({ description: "A file holding the key." }),
  options: Schema.optionalKey(Schema.Record(Schema.String, Schema.Unknown)).annotate({
    description: "Provider-specific settings, e.g. openrouter { referer, title }, gemini { apiVersion }, " +
      "claude-code { binaryPath, timeout }; see docs/providers.md."
  })
}).annotate({ identifier: "ProviderSection" })

/**
 * The top-level sections of the file. Add a new section here (and nowhere else) to make the
 * file accept it; the list of known keys in error messages follows.
 *
 * @since 0.1.0
 * @category schemas
 */
export const sections = {
  provider: Schema.optionalKey(NonEmpty).annotate({ description: "The provider, e.g. mock or openai." }),
  model: Schema.optionalKey(NonEmpty),
  system: Schema.optionalKey(Schema.String),
  baseUrl: Schema.optionalKey(NonEmpty),
  maxTokens: Schema.optionalKey(PositiveInt),
  temperature: Schema.optionalKey(Schema.Finite.check(Schema.isBetween({ minimum: 0, maximum: 2 }))),
  timeout: Schema.optionalKey(DurationText.DurationString),
  mock: Schema.optionalKey(MockSection),
  providers: Schema.optionalKey(Schema.Record(Schema.String, ProviderSection)),
  // ---- sections added by other capabilities go below, one line each ----
  ledger: Schema.optionalKey(ObservabilityConfig.LedgerSection),
  logging: Schema.optionalKey(ObservabilityConfig.LoggingSection),
  tracing: Schema.optionalKey(ObservabilityConfig.TracingSection),
  pii: Schema.optionalKey(PiiGuard.PiiConfig),
  budget: Schema.optionalKey(Budget.BudgetConfig),
  prices: Schema.optionalKey(PriceTable.PricesConfig),
  retry: Schema.optionalKey(Retry.RetryConfig),
  attemptTimeout: Schema.optionalKey(DurationText.DurationString).annotate({
    description: "Bounds each attempt; a timed-out attempt is retried (timeout bounds the whole call)."
  }),
  limits: Schema.optionalKey(Resilience.LimitsConfig),
  fallback: Schema.optionalKey(Fallback.FallbackConfig),
  circuitBreaker: Schema.optionalKey(CircuitBreaker.CircuitBreakerConfig)
}

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
export interface ProviderSettings {
  readonly apiKey?: Redacted.Redacted<string> | undefined
  readonly baseUrl?: string | undefined
  readonly model?: string | undefined
  readonly keyFile?: string | undefined
  readonly options?: Readonly<Record<string, unknown>> | undefined
}

/**
 * The resolved configuration.
 *
 * @since 0.1.0
 * @category models
 */
export type LlmConnectConfig = Omit<ConfigFile, "provider" | "timeout" | "mock" | "providers"> & {
  readonly provider: string
  readonly timeoutMs?: number | undefined
  readonly mock: {
    readonly reply?: string | undefined
    readonly latencyMs?: number | undefined
    readonly faults: ReadonlyArray<string>
  }
  readonly providers: Readonly<Record<string, ProviderSettings>>
  /** The file that was read, if any. */
  readonly file?: string | undefined
}

/**
 * Where a value came from.
 *
 * @since 0.1.0
 * @category models
 */
export type Source =
  | { readonly _tag: "Flag"; readonly flag: string }
  | { readonly _tag: "Env"; readonly variable: string }
  | { readonly _tag: "File"; readonly path: string; readonly line: number }
  | { readonly _tag: "Default" }

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
export interface Setting {
  /** Where it sits in the file, e.g. `["mock", "latency"]`. */
  readonly path: ReadonlyArray<string>
  readonly env?: string | undefined
  readonly flag?: string | undefined
  /** How text from a flag or variable is read. */
  readonly kind: "string" | "number" | "list"
  /** A valid value, shown in messages. */
  readonly example: string
  /** What a valid value is, in words (replaces the Schema's wording in messages). */
  readonly expected?: string | undefined
}

const budgetSettings = (rows: ReadonlyArray<readonly [string, string, string, string]>): Array<Setting> =>
  rows.map(([key, env, flag, example]) => ({
    path: ["budget", key],
    env: `LLM_CONNECT_MAX_${env}`,
    flag,
    kind: "number",
    example,
    expected: "a whole number of tokens greater than 0"
  }))

/**
 * The settings read from flags and the environment. Add an entry to give a new setting a
 * variable or a flag.
 *
 * @since 0.1.0
 * @category settings
 */
export const settings: ReadonlyArray<Setting> = [
  { path: ["provider"], env: "LLM_CONNECT_PROVIDER", flag: "--provider", kind: "string", example: "mock" },
  { path: ["model"], env: "LLM_CONNECT_MODEL", flag: "--model", kind: "string", example: "gpt-4o-mini" },
  { path: ["system"], env: "LLM_CONNECT_SYSTEM", flag: "--system", kind: "string", example: "You are terse." },
  { path: ["baseUrl"], env: "LLM_CONNECT_BASE_URL", flag: "--base-url", kind: "string", example: "http://127.0.0.1:8080/v1" },
  {
    path: ["maxTokens"],
    env: "LLM_CONNECT_MAX_TOKENS",
    flag: "--max-tokens",
    kind: "number",
    example: "512",
    expected: "a whole number greater than 0"
  },
  {
    path: ["temperature"],
    env: "LLM_CONNECT_TEMPERATURE",
    flag: "--temperature",
    kind: "number",
    example: "0.7",
    expected: "a number from 0 to 2"
  },
  { path: ["timeout"], env: "LLM_CONNECT_TIMEOUT", flag: "--timeout", kind: "string", example: "30s" },
  { path: ["mock", "reply"], env: "LLM_CONNECT_MOCK_REPLY", flag: "--mock-reply", kind: "string", example: "echo" },
  { path: ["mock", "latency"], env: "LLM_CONNECT_MOCK_LATENCY", flag: "--mock-latency", kind: "string", example: "250ms" },
  { path: ["mock", "faults"], env: "LLM_CONNECT_MOCK_FAULTS", flag: "--mock-faults", kind: "list", example: "429,500" },
  // ---- settings of other capabilities go below ----
  { path: ["ledger", "path"], env: "LLM_CONNECT_LEDGER", flag: "--ledger", kind: "string", example: ".llm-connect/usage.db" },
  { path: ["logging", "level"], env: "LLM_CONNECT_LOG_LEVEL", kind: "string", example: "debug" },
  { path: ["logging", "format"], env: "LLM_CONNECT_LOG_FORMAT", kind: "string", example: "json" },
  { path: ["pii", "mode"], env: "LLM_CONNECT_PII", kind: "string", example: "block", expected: "redact or block" },
  ...budgetSettings([
    ["inputTokens", "INPUT_TOKENS", "--max-input-tokens", "20000"],
    ["outputTokens", "OUTPUT_TOKENS", "--max-output-tokens", "4000"],
    ["totalTokens", "TOTAL_TOKENS", "--max-total-tokens", "24000"]
  ]),
  { path: ["budget", "costUsd"], env: "LLM_CONNECT_MAX_COST_USD", flag: "--max-cost-usd", kind: "number", example: "0.50", expected: "a number of USD greater than 0" },
  { path: ["budget", "deadline"], env: "LLM_CONNECT_DEADLINE", flag: "--deadline", kind: "string", example: "2m" },
  {
    path: ["retry", "maxRetries"],
    env: "LLM_CONNECT_MAX_RETRIES",
    flag: "--max-retries",
    kind: "number",
    example: "2",
    expected: "a whole number of retries, 0 or more"
  },
  { path: ["attemptTimeout"], env: "LLM_CONNECT_ATTEMPT_TIMEOUT", flag: "--attempt-timeout", kind: "string", example: "30s" }
]

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
export interface LoadOptions {
  readonly flags?: Readonly<Record<string, unknown>> | undefined
  readonly configFile?: string | undefined
  readonly cwd?: string | undefined
}

/**
 * Describes a source for a message: `--provider`, `LLM_CONNECT_PROVIDER`, `llm-connect.yaml line 3`.
 *
 * @since 0.1.0
 * @category formatting
 */
export const describeSource = (source: Source): string => {
  switch (source._tag) {
    case "Flag":
      return source.flag
    case "Env":
      return source.variable
    case "File":
      return `${source.path} line ${source.line}`
    case "Default":
      return "the default"
  }
}

/**
 * Builds a configuration error.
 *
 * @since 0.1.0
 * @category errors
 */
export const configurationError = (setting: string, description: string, fix: string): LlmError.LlmError =>
  LlmError.make("config", new LlmError.Configuration({ description, setting, fix }))

const settingByPath = (path: string): Setting | undefined => settings.find((s) => s.path.join(".") === path)

/** How to write a good value in the place the bad one came from. */
const exampleFor = (path: string, source: Source | undefined): string => {
  const setting = settingByPath(path)
  const example = setting?.example ?? "see docs/configuration.md"
  const key = path.split(".").at(-1) ?? path
  switch (source?._tag) {
    case "Flag":
      return `pass e.g. ${source.flag} ${example}`
    case "Env":
      return `set e.g. ${source.variable}=${example}`
    case "File":
      return `in ${source.path} line ${source.line}, write e.g. "${key}: ${example}"`
    default:
      return setting?.flag !== undefined ? `e.g. ${setting.flag} ${example}` : `see docs/configuration.md`
  }
}

const fromText = (setting: Setting, text: string): unknown => {
  if (setting.kind === "number") {
    const trimmed = text.trim()
    return trimmed !== "" && Number.isFinite(Number(trimmed)) ? Number(trimmed) : text
  }
  if (setting.kind === "list") return text.split(",").map((part) => part.trim()).filter((part) => part !== "")
  return text
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
  const file = yield* ConfigDocument.readFile({
    flag: options.configFile,
    env: yield* readEnv(CONFIG_ENV),
    envName: CONFIG_ENV,
    defaultFile: DEFAULT_FILE,
    cwd: options.cwd
  })
  const merged: Record<string, unknown> = {}
  const sources: Record<string, Source> = {}
  if (file !== undefined) {
    const raw = file.document.value
    if (raw !== null && raw !== undefined && (typeof raw !== "object" || Array.isArray(raw))) {
      return yield* Effect.fail(
        configurationError("config", `${file.shown} must be a mapping of settings, not ${ConfigDocument.show(raw)}`, `write e.g. "provider: mock" in ${file.shown}`)
      )
    }
    Object.assign(merged, structuredClone(raw ?? {}))
    for (const [key, line] of file.document.lines) sources[key] = { _tag: "File", path: file.shown, line }
  }
  for (const setting of settings) {
    if (setting.env === undefined) continue
    const value = yield* readEnv(setting.env)
    if (Option.isSome(value) && value.value !== "") {
      ConfigDocument.setIn(merged, setting.path, fromText(setting, value.value))
      sources[setting.path.join(".")] = { _tag: "Env", variable: setting.env }
    }
  }
  for (const [key, value] of Object.entries(options.flags ?? {})) {
    if (value === undefined) continue
    const setting = settingByPath(key)
    const path = setting?.path ?? key.split(".")
    ConfigDocument.setIn(merged, path, setting !== undefined && typeof value === "string" ? fromText(setting, value) : value)
    sources[key] = { _tag: "Flag", flag: setting?.flag ?? `--${key}` }
  }
  const decoded = yield* decodeMerged(merged, sources, file?.shown)
  const config = yield* finish(decoded, sources, file?.shown)
  if (sources.provider === undefined) sources.provider = { _tag: "Default" }
  return { config, sources } satisfies Resolved
})

const readEnv = (name: string): Effect.Effect<Option.Option<string>, LlmError.LlmError> =>
  Effect.mapError(
    Config.option(Config.String(name)),
    (error) => configurationError(name, `cannot read ${name}: ${error.message}`, `unset ${name} or fix its value`)
  )

const decodeMerged = (merged: unknown, sources: Record<string, Source>, file: string | undefined) =>
  Effect.mapError(
    Schema.decodeUnknownEffect(ConfigFile)(merged, { errors: "all", onExcessProperty: "error" }),
    (error) => {
      const issues = SchemaIssue.makeFormatterStandardSchemaV1()(error.issue).issues
      const lineOf = (path: ReadonlyArray<unknown> | undefined) => {
        const source = sources[(path ?? []).map(String).join(".")]
        return source?._tag === "File" ? source.line : 0
      }
      const described = [...issues]
        .sort((a, b) => lineOf(a.path) - lineOf(b.path))
        .map((issue) => describeIssue((issue.path ?? []).map(String), issue.message, merged, sources, file))
      const first = described[0]!
      if (described.length === 1) return configurationError(first.setting, first.description, first.fix)
      return configurationError(
        first.setting,
        `${described.length} problems: ${described.map((d, i) => `(${i + 1}) ${d.description} (${d.fix})`).join("; ")}`,
        "correct each setting above (see docs/configuration.md)"
      )
    }
  )

const describeIssue = (
  path: ReadonlyArray<string>,
  message: string,
  merged: unknown,
  sources: Record<string, Source>,
  file: string | undefined
): { setting: string; description: string; fix: string } => {
  const setting = path.join(".")
  const source = sources[setting]
  const where = source !== undefined ? ` (from ${describeSource(source)})` : file !== undefined ? ` (in ${file})` : ""
  if (message === "Expected no excess property") {
    const parent = path.slice(0, -1)
    const known = ConfigDocument.knownKeys(ConfigFile.ast, parent)
    const inside = parent.length === 0 ? "" : ` in ${parent.join(".")}`
    const at = source?._tag === "File" ? ` at ${source.path} line ${source.line}` : where
    return {
      setting,
      description: `unknown setting "${path.at(-1)}"${inside}${at}`,
      fix: `known settings${inside}: ${known.join(", ")}; check the spelling`
    }
  }
  const value = ConfigDocument.getIn(merged, path)
  const expected = settingByPath(setting)?.expected
  const wanted = expected !== undefined ? `expected ${expected}` : message.charAt(0).toLowerCase() + message.slice(1)
  return {
    setting,
    description: `invalid ${setting} = ${ConfigDocument.show(value)}${where}: ${wanted}`,
    fix: exampleFor(setting, source)
  }
}

const finish = (decoded: ConfigFile, sources: Record<string, Source>, file: string | undefined) =>
  Effect.gen(function*() {
    const { mock, providers, timeout, ...rest } = decoded
    const millis = (setting: string, text: string | undefined, minimum: number) => {
      if (text === undefined) return Effect.succeed(undefined)
      const parsed = DurationText.parseMillis(text)
      const source = sources[setting]
      const from = source !== undefined ? ` (from ${describeSource(source)})` : ""
      if (Result.isFailure(parsed)) {
        return Effect.fail(configurationError(setting, `${parsed.failure}${from}`, exampleFor(setting, source)))
      }
      return parsed.success < minimum
        ? Effect.fail(configurationError(setting, `${setting} must be longer than 0${from}`, exampleFor(setting, source)))
        : Effect.succeed(parsed.success)
    }
    const timeoutMs = yield* millis("timeout", timeout, 1)
    const latencyMs = yield* millis("mock.latency", mock?.latency, 0)
    const faults = mock?.faults === undefined
      ? []
      : typeof mock.faults === "string"
      ? mock.faults.split(",").map((token) => token.trim()).filter((token) => token !== "")
      : mock.faults.map(String)
    const script = MockFault.parseScript(faults)
    if (Result.isFailure(script)) {
      const source = sources["mock.faults"]
      return yield* Effect.fail(
        configurationError(
          "mock.faults",
          `${script.failure}${source !== undefined ? ` (from ${describeSource(source)})` : ""}`,
          exampleFor("mock.faults", source)
        )
      )
    }
    const resolvedProviders: Record<string, ProviderSettings> = {}
    for (const [name, section] of Object.entries(providers ?? {})) {
      const { apiKey, ...others } = section
      resolvedProviders[name] = { ...others, ...(apiKey !== undefined ? { apiKey: Redacted.make(apiKey) } : {}) }
    }
    const config: LlmConnectConfig = {
      ...rest,
      provider: rest.provider ?? "mock",
      ...(timeoutMs !== undefined ? { timeoutMs } : {}),
      mock: {
        ...(mock?.reply !== undefined ? { reply: mock.reply } : {}),
        ...(latencyMs !== undefined ? { latencyMs } : {}),
        faults
      },
      providers: resolvedProviders,
      ...(file !== undefined ? { file } : {})
    }
    return config
  })

/**
 * The mock's provider options (`reply`, `latency`, `faults`) from a resolved configuration.
 *
 * @since 0.1.0
 * @category accessors
 */
export const mockOptions = (config: LlmConnectConfig): Record<string, unknown> => ({
  ...(config.mock.reply !== undefined ? { reply: config.mock.reply } : {}),
  ...(config.mock.latencyMs !== undefined ? { latency: config.mock.latencyMs } : {}),
  ...(config.mock.faults.length > 0 ? { faults: config.mock.faults } : {})
})

/**
 * The model to use: `model` from any source, else `providers.<provider>.model`, else the
 * provider's default (`undefined` here).
 *
 * @since 0.1.0
 * @category accessors
 */
export const modelFor = (config: LlmConnectConfig): string | undefined =>
  config.model ?? config.providers[config.provider]?.model
