/**
 * Durations written one way everywhere: flags, environment and YAML.
 *
 * The accepted form is a whole number followed by a unit: `500ms`, `30s`, `5m`, `1h`
 * (Effect's own `Duration` parser does not read `1h`). Several parts may follow each other
 * (`1h30m`). Programs may also pass an Effect `Duration.Input` directly.
 *
 * @since 0.1.0
 */
import { Duration as EffectDuration, Result, Schema, SchemaTransformation } from "effect"

const unitMillis: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }
const partPattern = /(\d+)(ms|s|m|h)/gy
const wholePattern = /^(?:\d+(?:ms|s|m|h))+$/

/**
 * Parses `500ms`, `30s`, `5m`, `1h` (or `1h30m`) into milliseconds.
 *
 * @since 0.1.0
 * @category parsing
 * @example
 * DurationText.parseMillis("1h") // Result.succeed(3_600_000)
 */
export const parseMillis = (text: string): Result.Result<number, string> => {
  const trimmed = text.trim()
  if (!wholePattern.test(trimmed)) {
    return Result.fail(
      `"${text}" is not a duration: write a whole number and a unit, e.g. 500ms, 30s, 5m or 1h`
    )
  }
  let total = 0
  partPattern.lastIndex = 0
  for (const match of trimmed.matchAll(partPattern)) {
    total += Number(match[1]) * unitMillis[match[2]!]!
  }
  return Result.succeed(total)
}

/**
 * Parses a duration string into an Effect `Duration`.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parse = (text: string): Result.Result<EffectDuration.Duration, string> =>
  Result.map(parseMillis(text), EffectDuration.millis)

/**
 * Formats milliseconds the same way they are parsed (`1500` -> `1500ms`, `60000` -> `1m`).
 *
 * @since 0.1.0
 * @category formatting
 */
export const formatMillis = (millis: number): string => {
  if (millis > 0 && millis % 3_600_000 === 0) return `${millis / 3_600_000}h`
  if (millis > 0 && millis % 60_000 === 0) return `${millis / 60_000}m`
  if (millis > 0 && millis % 1_000 === 0) return `${millis / 1_000}s`
  return `${Math.round(millis)}ms`
}

/**
 * A duration string (`500ms`, `30s`, `5m`, `1h`), checked by pattern; parse it with
 * {@link parseMillis}. Used in config, workflow files and contracts.
 *
 * @since 0.1.0
 * @category schemas
 */
export const DurationString = Schema.String.check(
  Schema.isPattern(/^(?:\d+(?:ms|s|m|h))+$/u, {
    message: "expected a duration: a whole number and a unit, e.g. 500ms, 30s, 5m or 1h"
  })
).annotate({ identifier: "DurationString", description: "A duration such as 500ms, 30s, 5m or 1h" })

const toMillis = (input: string | number): number =>
  typeof input === "number" ? input : Result.getOrElse(parseMillis(input), () => Number.NaN)

/**
 * A duration setting as written in config: a {@link DurationString} (`30s`) or a number of
 * milliseconds, decoded to an Effect `Duration` (encoded back as text). Provider options such
 * as `timeout` use it, so every config string reads durations the same way.
 *
 * @since 0.1.0
 * @category schemas
 * @example
 * Schema.decodeUnknownSync(DurationText.DurationFromText)("30s") // Duration.seconds(30)
 */
export const DurationFromText = Schema.Union([
  DurationString,
  Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0)).annotate({ description: "milliseconds" })
]).annotate({ examples: ["30s", "500ms", "2m"] }).pipe(
  Schema.decodeTo(
    Schema.Duration,
    SchemaTransformation.transform<EffectDuration.Duration, string | number>({
      decode: (input) => EffectDuration.millis(toMillis(input)),
      encode: (duration) => formatMillis(EffectDuration.toMillis(duration))
    })
  )
).annotate({ identifier: "DurationFromText", description: "A duration such as 500ms, 30s, 5m or 1h, or milliseconds" })
