/**
 * Structured logs: one JSON object a line, with secrets scrubbed, at a configured level.
 *
 * The logger replaces Effect's default one. Each line is Effect's JSON format (`message`,
 * `level`, `timestamp`, `annotations`, `spans`, `fiberId`); the annotations carry the call's
 * `correlationId`, `provider`, `model`, `workflow` and `step`, set by the observability layer for
 * every line logged while a call runs. Before a line is written it passes through
 * {@link Redaction.scrubText}, so a key that reached a message anyway (in an error text or a
 * URL) is replaced; `Redacted` values print as `<redacted>`. Lines go to stderr by default, so a
 * CLI's stdout stays clean for its JSON output.
 *
 * @since 0.1.0
 */
import { Config, Effect, Layer, Logger, References, Schema, SchemaIssue } from "effect"
import type * as LogLevel from "effect/LogLevel"
import * as Redaction from "./Redaction.ts"

/**
 * @since 0.1.0
 * @category models
 */
export type Format = "json" | "pretty"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The minimum level (default `"Info"`). */
  readonly level?: LogLevel.LogLevel | undefined
  /** `"json"` (default): one JSON object a line; `"pretty"`: for people at a terminal. */
  readonly format?: Format | undefined
  /** Where lines go (default `"stderr"`). */
  readonly output?: "stderr" | "stdout" | undefined
}

/**
 * The JSON line logger with secrets scrubbed, writing each line with `write`.
 *
 * @since 0.1.0
 * @category loggers
 */
export const jsonLogger = (write: (line: string) => void): Logger.Logger<unknown, void> =>
  Logger.formatJson.pipe(Logger.map((line) => write(Redaction.scrubText(line))))

/**
 * A layer that logs JSON lines into an array (scrubbed, as they would be written), for tests.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerCollect = (
  sink: Array<string>,
  options: { readonly level?: LogLevel.LogLevel | undefined } = {}
): Layer.Layer<never> =>
  Layer.mergeAll(
    Logger.layer([jsonLogger((line) => void sink.push(line))]),
    Layer.succeed(References.MinimumLogLevel, options.level ?? "All")
  )

/**
 * The logger and the minimum level, as a Layer.
 *
 * @since 0.1.0
 * @category layers
 * @example
 * program.pipe(Effect.provide(Logging.layer({ level: "Debug" })))
 */
export const layer = (options: Options = {}): Layer.Layer<never> => {
  const stream = options.output === "stdout" ? process.stdout : process.stderr
  const logger = options.format === "pretty"
    ? Logger.formatSimple.pipe(Logger.map((line) => void stream.write(`${Redaction.scrubText(line)}\n`)))
    : jsonLogger((line) => void stream.write(`${line}\n`))
  return Layer.mergeAll(
    Logger.layer([logger]),
    Layer.succeed(References.MinimumLogLevel, options.level ?? "Info")
  )
}

/**
 * Reads `LLM_CONNECT_LOG_LEVEL` (any case, default `Info`) and `LLM_CONNECT_LOG_FORMAT` (`json` or
 * `pretty`, default `json`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig: Layer.Layer<never, Config.ConfigError> = Layer.unwrap(
  Effect.map(
    Config.all({
      level: Config.String("LLM_CONNECT_LOG_LEVEL").pipe(
        Config.mapEffect((text) => {
          const level = LEVELS.find((candidate) => candidate.toLowerCase() === text.trim().toLowerCase())
          return level !== undefined
            ? Effect.succeed(level)
            : Effect.fail(new Config.ConfigError(new Schema.SchemaError(new SchemaIssue.InvalidValue({
              message: `LLM_CONNECT_LOG_LEVEL: expected one of ${LEVELS.join(", ")} (any case), got "${text}"`
            }))))
        }),
        Config.withDefault("Info" as LogLevel.LogLevel)
      ),
      format: Config.Literals(["json", "pretty"], "LLM_CONNECT_LOG_FORMAT").pipe(Config.withDefault("json" as const))
    }),
    (options) => layer(options)
  )
)

const LEVELS: ReadonlyArray<LogLevel.LogLevel> = ["All", "Trace", "Debug", "Info", "Warn", "Error", "Fatal", "None"]
