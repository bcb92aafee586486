/**
 * What `llm-connect run` journals of its resolved configuration, and how `run --resume` puts it
 * back, so that a resumed run continues with the provider, model, base URL, budget and request
 * settings it started with (a resume that fell back to the defaults once finished a real run on
 * the mock provider, canned answers mixed into real ones).
 *
 * The journal's start entry holds {@link RunSettings} (never a key; a base URL that carries
 * credentials is kept only as a hash). On resume:
 *
 * - the settings are read back and checked with the same Schemas as the configuration;
 * - a flag that would change them (`--provider`, `--model`, `--base-url`, `--system`,
 *   `--max-tokens`, `--temperature`, the `--max-*` budget flags, `--deadline`, `--max-retries`,
 *   the `--mock-*` flags) is refused (exit 2) unless it repeats the journaled value; a resume may
 *   add only time bounds (`run --timeout`, `--attempt-timeout`);
 * - values of the environment or the config file that differ are not used (a notice says so);
 * - the configuration file the run started with is read again (for keys and the settings not
 *   journaled: retries' delays, limits, fallbacks, PII), unless `--config` names another;
 * - keys are resolved again: a key now missing refuses the resume (exit 2) before any call.
 *
 * The budget continues from the spend of the steps read back from the journal (the executor
 * records it before any step runs). A deadline written as a duration counts from the resume.
 *
 * @since 0.1.0
 */
import { createHash } from "node:crypto"
import { resolve as resolvePath } from "node:path"
import { Effect, Option, Schema } from "effect"
import * as Budget from "../../budget/Budget.ts"
import * as LlmConnectConfig from "../../LlmConnectConfig.ts"
import * as LlmError from "../../LlmError.ts"
import * as ModelConfig from "../../ModelConfig.ts"
import * as Retry from "../../resilience/Retry.ts"
import * as Journal from "../../workflow/Journal.ts"

/**
 * The settings a run journals: the provider and what shapes its requests and its budget.
 *
 * @since 0.1.0
 * @category schemas
 */
export const RunSettings = Schema.Struct({
  provider: Schema.String.check(Schema.isNonEmpty()),
  model: ModelConfig.fields.model,
  /** The base URL, when it carries no credentials (no user info, no query). */
  baseUrl: ModelConfig.fields.baseUrl,
  /** The SHA-256 of a base URL that carries credentials: a resume must be given the same URL. */
  baseUrlSha256: Schema.optionalKey(Schema.String),
  system: ModelConfig.fields.system,
  maxTokens: ModelConfig.fields.maxTokens,
  temperature: ModelConfig.fields.temperature,
  budget: Schema.optionalKey(Budget.BudgetConfig),
  retry: Schema.optionalKey(Retry.RetryConfig),
  mock: Schema.optionalKey(Schema.Struct({
    reply: Schema.optionalKey(Schema.String),
    latencyMs: Schema.optionalKey(Schema.Finite),
    faults: Schema.Array(Schema.String)
  })),
  /** The configuration file the run read (absolute), read again on resume. */
  config: Schema.optionalKey(Schema.String)
}).annotate({ identifier: "RunSettings" })

/**
 * @since 0.1.0
 * @category models
 */
export type RunSettings = typeof RunSettings.Type

const decodeSettings = Schema.decodeUnknownResult(RunSettings)

const sha256 = (text: string): string => createHash("sha256").update(text).digest("hex")

/** Whether a URL carries credentials: user info, or a query (Google's `?key=`, a gateway's token). */
const hasCredentials = (url: string): boolean => {
  try {
    const parsed = new URL(url)
    return parsed.username !== "" || parsed.password !== "" || parsed.search !== ""
  } catch {
    return /@|\?/.test(url)
  }
}

/** The base URL the configured provider is called at. */
const baseUrlOf = (config: LlmConnectConfig.LlmConnectConfig): string | undefined =>
  config.baseUrl ?? config.providers[config.provider]?.baseUrl

/**
 * The settings of a resolved configuration, as journaled (`cwd` resolves the config file's name).
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromConfig = (config: LlmConnectConfig.LlmConnectConfig, cwd: string): RunSettings => {
  const model = LlmConnectConfig.modelFor(config)
  const baseUrl = baseUrlOf(config)
  return {
    provider: config.provider,
    ...(model !== undefined ? { model } : {}),
    ...(baseUrl !== undefined ? hasCredentials(baseUrl) ? { baseUrlSha256: sha256(baseUrl) } : { baseUrl } : {}),
    ...(config.system !== undefined ? { system: config.system } : {}),
    ...(config.maxTokens !== undefined ? { maxTokens: config.maxTokens } : {}),
    ...(config.temperature !== undefined ? { temperature: config.temperature } : {}),
    ...(config.budget !== undefined ? { budget: config.budget } : {}),
    ...(config.retry !== undefined ? { retry: config.retry } : {}),
    mock: {
      ...(config.mock.reply !== undefined ? { reply: config.mock.reply } : {}),
      ...(config.mock.latencyMs !== undefined ? { latencyMs: config.mock.latencyMs } : {}),
      faults: config.mock.faults
    },
    ...(config.file !== undefined ? { config: resolvePath(cwd, config.file) } : {})
  }
}

/**
 * The settings in a run's start entry: `None` for a journal written before runs journaled them;
 * a `Journal` error when they cannot be read.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromJournal = (
  start: Journal.StartEntry,
  journalFile: string
): Effect.Effect<Option.Option<RunSettings>, LlmError.LlmError> => {
  if (start.settings === undefined) return Effect.succeed(Option.none())
  const decoded = decodeSettings(start.settings)
  return decoded._tag === "Success" ? Effect.succeed(Option.some(decoded.success)) : Effect.fail(
    refusal(
      "journal",
      `the settings journaled in ${journalFile} cannot be read (${decoded.failure.message.split("\n")[0]}), so the run cannot resume as it started`,
      `start a new run (llm-connect run <file.yaml>); ${journalFile} was edited or written by another version`
    )
  )
}

const refusal = (setting: string, description: string, fix: string): LlmError.LlmError =>
  LlmError.make("cli", new LlmError.Configuration({ description, setting, fix }))

/** A setting a resume keeps: its dotted path (the flag's key), and its value now and then. */
interface Kept {
  readonly key: string
  readonly now: (config: LlmConnectConfig.LlmConnectConfig) => unknown
  readonly then: (settings: RunSettings) => unknown
}

const budgetKeys = ["inputTokens", "outputTokens", "totalTokens", "costUsd", "deadline"] as const

const kept: ReadonlyArray<Kept> = [
  { key: "provider", now: (config) => config.provider, then: (settings) => settings.provider },
  { key: "model", now: LlmConnectConfig.modelFor, then: (settings) => settings.model },
  {
    key: "baseUrl",
    now: (config) => {
      const url = baseUrlOf(config)
      return url !== undefined && hasCredentials(url) ? sha256(url) : url
    },
    then: (settings) => settings.baseUrlSha256 ?? settings.baseUrl
  },
  { key: "system", now: (config) => config.system, then: (settings) => settings.system },
  { key: "maxTokens", now: (config) => config.maxTokens, then: (settings) => settings.maxTokens },
  { key: "temperature", now: (config) => config.temperature, then: (settings) => settings.temperature },
  ...budgetKeys.map((key): Kept => ({ key: `budget.${key}`, now: (config) => config.budget?.[key], then: (settings) => settings.budget?.[key] })),
  { key: "retry.maxRetries", now: (config) => config.retry?.maxRetries, then: (settings) => settings.retry?.maxRetries },
  { key: "mock.reply", now: (config) => config.mock.reply, then: (settings) => settings.mock?.reply },
  { key: "mock.latency", now: (config) => config.mock.latencyMs, then: (settings) => settings.mock?.latencyMs },
  { key: "mock.faults", now: (config) => config.mock.faults, then: (settings) => settings.mock?.faults ?? [] }
]

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b)

/**
 * How the run started, in words for messages: `provider openai-compatible, model llama3.2`.
 *
 * @since 0.1.0
 * @category formatting
 */
export const describe = (settings: RunSettings): string =>
  [
    `provider ${settings.provider}`,
    ...(settings.model !== undefined ? [`model ${settings.model}`] : []),
    ...(settings.baseUrl !== undefined ? [`base URL ${settings.baseUrl}`] : []),
    ...(settings.baseUrlSha256 !== undefined ? ["a base URL with credentials"] : []),
    ...(settings.budget !== undefined ? ["its budget"] : [])
  ].join(", ")

/**
 * What a resume resolved: the configuration to run with, and a notice about values of the
 * environment or the config file that the journal overrides (if any).
 *
 * @since 0.1.0
 * @category models
 */
export interface Restored {
  readonly resolved: LlmConnectConfig.Resolved
  readonly notice: string | undefined
}

/**
 * Puts the journaled settings back into a configuration loaded for a resume, refusing (exit 2)
 * a flag that would change them and a base URL with credentials that was not given again.
 *
 * @since 0.1.0
 * @category resuming
 */
export const restore = (
  resolved: LlmConnectConfig.Resolved,
  settings: RunSettings,
  options: { readonly runId: string; readonly journalFile: string; readonly newRun: string }
): Effect.Effect<Restored, LlmError.LlmError> =>
  Effect.gen(function*() {
    const { config, sources } = resolved
    const ignored: Array<string> = []
    for (const setting of kept) {
      if (same(setting.now(config), setting.then(settings))) continue
      const source = sources[setting.key]
      if (source?._tag === "Flag") {
        return yield* Effect.fail(refusal(
          setting.key,
          `${source.flag} cannot change run ${options.runId}: a resume keeps the settings the run started with (${
            describe(settings)
          }); it may add only time bounds (--timeout, --attempt-timeout)`,
          `drop ${source.flag}, or start a new run: ${options.newRun}`
        ))
      }
      if (source !== undefined && source._tag !== "Default") ignored.push(LlmConnectConfig.describeSource(source))
    }
    if (settings.baseUrlSha256 !== undefined) {
      const url = baseUrlOf(config)
      if (url === undefined || sha256(url) !== settings.baseUrlSha256) {
        return yield* Effect.fail(refusal(
          "baseUrl",
          `run ${options.runId} started with a base URL that carries credentials, which the journal does not keep, ` +
            `and ${url === undefined ? "no base URL is" : "a different base URL is"} configured now`,
          `give the same base URL again (--base-url, LLM_CONNECT_BASE_URL or the config file), or start a new run: ${options.newRun}`
        ))
      }
    }
    const journal: LlmConnectConfig.Source = { _tag: "File", path: options.journalFile, line: 1 }
    const { model: _model, baseUrl: _baseUrl, ...own } = config.providers[settings.provider] ?? {}
    const baseUrl = settings.baseUrl ?? (settings.baseUrlSha256 !== undefined ? baseUrlOf(config) : undefined)
    const {
      model: _m,
      baseUrl: _b,
      system: _s,
      maxTokens: _t,
      temperature: _p,
      budget: _budget,
      retry: _retry,
      ...rest
    } = config
    const restored: LlmConnectConfig.LlmConnectConfig = {
      ...rest,
      provider: settings.provider,
      ...(settings.model !== undefined ? { model: settings.model } : {}),
      ...(baseUrl !== undefined ? { baseUrl } : {}),
      ...(settings.system !== undefined ? { system: settings.system } : {}),
      ...(settings.maxTokens !== undefined ? { maxTokens: settings.maxTokens } : {}),
      ...(settings.temperature !== undefined ? { temperature: settings.temperature } : {}),
      ...(settings.budget !== undefined ? { budget: settings.budget } : {}),
      ...(settings.retry !== undefined ? { retry: settings.retry } : {}),
      mock: settings.mock ?? config.mock,
      providers: { ...config.providers, [settings.provider]: own }
    }
    return {
      resolved: {
        config: restored,
        sources: { ...sources, provider: journal, model: journal, baseUrl: journal }
      },
      notice: ignored.length === 0 ? undefined : `run ${options.runId} resumes as it started (${describe(settings)}); ${
        ignored.join(", ")
      } ${ignored.length === 1 ? "is" : "are"} not used`
    }
  })

/**
 * A `Configuration` error met while building the resumed run's stack (an unknown provider, a
 * key now missing), said as a resume that cannot be reproduced.
 *
 * @since 0.1.0
 * @category resuming
 */
export const cannotResume = (runId: string, settings: RunSettings) => (error: LlmError.LlmError): LlmError.LlmError =>
  error.reason._tag !== "Configuration" ? error : LlmError.make(
    error.provider,
    new LlmError.Configuration({
      ...error.reason,
      description: `run ${runId} cannot resume as it started (${describe(settings)}): ${error.reason.description}`
    }),
    { ...(error.model !== undefined ? { model: error.model } : {}) }
  )
