/**
 * The `ledger`, `logging` and `tracing` sections of the configuration file, and how they
 * become the observability layer's options, the logger and the OTLP exporter.
 *
 * ```yaml
 * ledger:
 *   path: .llm-connect/usage.db   # or LLM_CONNECT_LEDGER; `ledger: false` records no usage rows
 *   # (so do `ledger: off`, and LLM_CONNECT_LEDGER / --ledger / path set to off, none or false)
 *   # or, shared by every process: postgres: { url: postgres://user:pass@host/db }
 *   # (LLM_CONNECT_LEDGER may hold such a URL too)
 * logging:
 *   level: debug                  # or LLM_CONNECT_LOG_LEVEL: trace, debug, info, warn, error, none
 *   format: json                  # or LLM_CONNECT_LOG_FORMAT: json (default) or pretty
 * tracing:
 *   spans: auto                   # auto (when an exporter is installed), always, never
 *   attempts: true                # a span per attempt, below retry (default false)
 * ```
 *
 * {@link section} declares these keys and their variables for `LlmConnectConfig`.
 *
 * @since 0.1.0
 */
import { Config, Effect, Layer, Option, Schema } from "effect"
import type * as LogLevel from "effect/LogLevel"
import * as ConfigSection from "../ConfigSection.ts"
import * as LlmError from "../LlmError.ts"
import * as Logging from "./Logging.ts"
import type * as Observability from "./Observability.ts"
import * as Tracing from "./Tracing.ts"

/**
 * A ledger file of the examples (relative to the working directory).
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_LEDGER_PATH = ".llm-connect/usage.db"

/**
 * Where the CLI records calls when no ledger is configured, as written in help and docs.
 *
 * @since 0.1.0
 * @category constants
 */
export const STATE_LEDGER_PATH = "$XDG_STATE_HOME/llm-connect/usage.db (else ~/.local/state/llm-connect/usage.db)"

/**
 * The user's state ledger file: `$XDG_STATE_HOME/llm-connect/usage.db` when that variable holds
 * an absolute path, else `$HOME/.local/state/llm-connect/usage.db` (the XDG base directory rule);
 * `undefined` when neither is set. Read through `Config`, so tests set it with a `ConfigProvider`.
 *
 * @since 0.1.0
 * @category defaults
 */
export const stateLedgerPath: Effect.Effect<string | undefined> = Effect.map(
  Effect.orElseSucceed(
    Config.all([Config.option(Config.String("XDG_STATE_HOME")), Config.option(Config.String("HOME"))]),
    () => [Option.none<string>(), Option.none<string>()] as const
  ),
  ([state, home]) => {
    const stateHome = Option.getOrUndefined(state)
    const homeDir = Option.getOrUndefined(home)
    if (stateHome !== undefined && stateHome.startsWith("/")) return `${stateHome.replace(/\/+$/, "")}/llm-connect/usage.db`
    return homeDir !== undefined && homeDir !== "" ? `${homeDir.replace(/\/+$/, "")}/.local/state/llm-connect/usage.db` : undefined
  }
)

/**
 * The `ledger` section.
 *
 * @since 0.1.0
 * @category schemas
 */
export const LedgerSection = Schema.Struct({
  path: Schema.optionalKey(Schema.String.check(Schema.isNonEmpty())).annotate({
    description: "A SQLite file where every call is recorded (read by `llm-connect usage`), or a postgres:// URL; " +
      `the CLI's default is ${STATE_LEDGER_PATH}, a program's is in memory.`
  }),
  postgres: Schema.optionalKey(
    Schema.Struct({
      url: Schema.String.check(Schema.isNonEmpty()).annotate({
        description: "postgres://USER:PASSWORD@HOST:5432/DATABASE (a Unix socket: ?host=/run/postgresql); " +
          "never printed with its password."
      })
    }).annotate({ identifier: "LedgerPostgres" })
  ).annotate({
    description: "Record calls in a PostgreSQL database shared by every process; `path` (also --ledger and LLM_CONNECT_LEDGER) wins when both are set."
  })
}).annotate({ identifier: "LedgerSection" })

/**
 * Where a `ledger` section records calls, as the text `SqlStore.parse` reads: the path (a file or a
 * URL; `--ledger` and `LLM_CONNECT_LEDGER` set it, so they override the file's `postgres`), else
 * the PostgreSQL URL; `undefined` when neither (or `ledger: false`).
 *
 * @since 0.1.0
 * @category conversions
 */
export const ledgerLocation = (ledger: typeof LedgerSetting.Type | undefined): string | undefined =>
  ledger === undefined || ledger === false ? undefined : ledger.path ?? ledger.postgres?.url

/**
 * The `ledger` key: the section, or `false` to record no usage rows.
 *
 * @since 0.1.0
 * @category schemas
 */
export const LedgerSetting = Schema.Union([
  Schema.Literal(false).annotate({ description: "Record no usage rows (the CLI's --no-ledger)." }),
  LedgerSection
])

const OFF_WORDS: ReadonlySet<string> = new Set(["off", "none", "false"])

/**
 * Whether a ledger location is one of the words that mean "no ledger": `off`, `none` or `false`,
 * in any case, surrounding blanks ignored. `LLM_CONNECT_LEDGER=off` must not create a SQLite file
 * named `off`; any other text keeps its meaning (a path or a URL).
 *
 * @since 0.1.0
 * @category predicates
 */
export const isLedgerOff = (location: string): boolean => OFF_WORDS.has(location.trim().toLowerCase())

/**
 * The `ledger` key as the file may write it: also one of the words {@link isLedgerOff} accepts
 * (`ledger: off`), which the section resolves to `false`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const LedgerFileSetting = Schema.Union([
  LedgerSetting,
  Schema.String.check(Schema.isPattern(/^\s*(off|none|false)\s*$/i, { expected: "off, none or false" })).annotate({ description: "off, none or false (any case): record no usage rows, as `ledger: false`." })
])

/**
 * The `ledger` key resolved: a word meaning "no ledger", as the key or as its `path` (from the
 * file, `--ledger` or `LLM_CONNECT_LEDGER`), becomes `false`.
 *
 * @since 0.1.0
 * @category conversions
 */
export const resolveLedger = (
  ledger: typeof LedgerFileSetting.Type | undefined
): typeof LedgerSetting.Type | undefined =>
  typeof ledger === "string" || (typeof ledger === "object" && ledger.path !== undefined && isLedgerOff(ledger.path))
    ? false
    : ledger

const levels = ["all", "trace", "debug", "info", "warn", "error", "fatal", "none"] as const

/**
 * The `logging` section.
 *
 * @since 0.1.0
 * @category schemas
 */
export const LoggingSection = Schema.Struct({
  level: Schema.optionalKey(Schema.Literals(levels)).annotate({ description: "The minimum level of log lines." }),
  format: Schema.optionalKey(Schema.Literals(["json", "pretty"])).annotate({
    description: "json: one object a line on stderr (default); pretty: for a terminal."
  })
}).annotate({ identifier: "LoggingSection" })

/**
 * The `tracing` section: when call spans are made, and per-attempt spans.
 *
 * @since 0.1.0
 * @category schemas
 */
export const TracingSection = Schema.Struct({
  spans: Schema.optionalKey(Schema.Literals(["auto", "always", "never"])).annotate({
    description: "auto (default): a span per call when an exporter (OTEL_EXPORTER_OTLP_ENDPOINT) or tracer is installed."
  }),
  attempts: Schema.optionalKey(Schema.Boolean).annotate({
    description: "A span per attempt (below retry), numbered; off by default."
  })
}).annotate({ identifier: "TracingSection" })

/**
 * The configuration section of `ledger`, `logging` and `tracing`: `LLM_CONNECT_LEDGER` (and
 * `--ledger` where a command offers it), `LLM_CONNECT_LOG_LEVEL`, `LLM_CONNECT_LOG_FORMAT`.
 *
 * @since 0.1.0
 * @category sections
 */
export const section = ConfigSection.make({
  name: "observability",
  fields: {
    ledger: Schema.optionalKey(LedgerFileSetting),
    logging: Schema.optionalKey(LoggingSection),
    tracing: Schema.optionalKey(TracingSection)
  },
  settings: {
    "ledger.path": {
      env: "LLM_CONNECT_LEDGER",
      flag: {
        name: "ledger",
        metavar: "FILE",
        description: `the usage ledger file (default: $LLM_CONNECT_LEDGER, ledger.path, else ${STATE_LEDGER_PATH})`
      },
      kind: "string",
      example: DEFAULT_LEDGER_PATH
    },
    "logging.level": { env: "LLM_CONNECT_LOG_LEVEL", kind: "string", example: "debug" },
    "logging.format": { env: "LLM_CONNECT_LOG_FORMAT", kind: "string", example: "json" }
  },
  finish: ({ ledger, ...rest }): Effect.Effect<Sections> => {
    const resolved = resolveLedger(ledger)
    return Effect.succeed({ ...rest, ...(resolved !== undefined ? { ledger: resolved } : {}) })
  }
})

/**
 * The sections as they appear in a resolved configuration.
 *
 * @since 0.1.0
 * @category models
 */
export interface Sections {
  readonly ledger?: typeof LedgerSetting.Type | undefined
  readonly logging?: typeof LoggingSection.Type | undefined
  readonly tracing?: typeof TracingSection.Type | undefined
}

/**
 * The observability layer's options from the configuration.
 *
 * @since 0.1.0
 * @category conversions
 */
export const observabilityOptions = (config: Sections): Observability.Options => ({
  ...(config.ledger === false
    ? { ledger: false }
    : ledgerLocation(config.ledger) !== undefined
    ? { ledgerPath: ledgerLocation(config.ledger)! }
    : {}),
  ...(config.tracing?.spans !== undefined
    ? { spans: config.tracing.spans === "auto" ? "auto" as const : config.tracing.spans === "always" }
    : {}),
  ...(config.tracing?.attempts !== undefined ? { attempts: config.tracing.attempts } : {})
})

const toLevel = (level: typeof levels[number]): LogLevel.LogLevel =>
  (level.charAt(0).toUpperCase() + level.slice(1)) as LogLevel.LogLevel

/**
 * The logger a configuration asks for: the JSON (or pretty) logger on stderr at its level, or
 * nothing (Effect's default logger) when the `logging` section is absent.
 *
 * @since 0.1.0
 * @category conversions
 */
export const loggingLayer = (config: Sections): Layer.Layer<never> =>
  config.logging === undefined ? Layer.empty : Logging.layer({
    ...(config.logging.level !== undefined ? { level: toLevel(config.logging.level) } : {}),
    ...(config.logging.format !== undefined ? { format: config.logging.format } : {})
  })

/**
 * The OTLP exporter when `OTEL_EXPORTER_OTLP_ENDPOINT` is set (see `Tracing.layerFromEnv`),
 * with an unreadable setting reported as a `Configuration` error.
 *
 * @since 0.1.0
 * @category conversions
 */
export const exportLayer: Layer.Layer<never, LlmError.LlmError> = Layer.unwrap(
  Effect.map(
    Effect.mapError(Tracing.otlpFromEnv, (error) =>
      LlmError.make(
        "llm-connect",
        new LlmError.Configuration({
          description: `cannot read the OpenTelemetry settings: ${error.message}`,
          setting: "OTEL_EXPORTER_OTLP_ENDPOINT",
          fix: "set it to the collector's base URL, e.g. http://127.0.0.1:4318, or unset it"
        })
      )),
    Tracing.layerOptional
  )
)
