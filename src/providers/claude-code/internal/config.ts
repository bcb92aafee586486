/**
 * Reads the Claude Code provider's settings from a registry `ProviderConfig.options`:
 * `binaryPath` (a string), `timeout` (`30s`, `5m`, or milliseconds) and `env` (variable names to
 * strings). A wrong value is a `Configuration` error naming the setting.
 *
 * @since 0.1.0
 */
import { Duration, Effect, Result } from "effect"
import * as DurationText from "../../../DurationText.ts"
import * as LlmError from "../../../LlmError.ts"
import { PROVIDER } from "./errors.ts"

/**
 * The settings found in `options`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Settings {
  readonly binaryPath?: string
  readonly timeout?: Duration.Duration
  readonly env?: Readonly<Record<string, string>>
}

const invalid = (setting: string, description: string, fix: string) =>
  Effect.fail(LlmError.make(
    PROVIDER,
    new LlmError.Configuration({ description, setting: `providers.${PROVIDER}.${setting}`, fix })
  ))

/**
 * Reads and checks the provider's settings.
 *
 * @since 0.1.0
 * @category config
 * @example
 * fromOptions({ binaryPath: "/opt/claude", timeout: "2m" })
 */
export const fromOptions = (
  options: Readonly<Record<string, unknown>> | undefined
): Effect.Effect<Settings, LlmError.LlmError> =>
  Effect.gen(function*() {
    const out: { binaryPath?: string; timeout?: Duration.Duration; env?: Readonly<Record<string, string>> } = {}
    const binaryPath = options?.binaryPath
    if (binaryPath !== undefined) {
      if (typeof binaryPath !== "string" || binaryPath.trim() === "") {
        return yield* invalid(
          "binaryPath",
          `providers.${PROVIDER}.binaryPath must be the path of the claude binary`,
          "give the path as a string, or leave it out to use CLAUDE_CODE_PATH or claude on PATH"
        )
      }
      out.binaryPath = binaryPath
    }
    const timeout = options?.timeout
    if (timeout !== undefined) {
      const parsed = typeof timeout === "number" && timeout > 0
        ? Result.succeed(Duration.millis(timeout))
        : typeof timeout === "string"
        ? DurationText.parse(timeout)
        : Result.fail("not a duration")
      if (Result.isFailure(parsed) || !Duration.isGreaterThan(parsed.success, Duration.zero)) {
        return yield* invalid(
          "timeout",
          `providers.${PROVIDER}.timeout must be a duration such as 30s or 5m`,
          "write the timeout as 500ms, 30s, 5m or a number of milliseconds"
        )
      }
      out.timeout = parsed.success
    }
    const env = options?.env
    if (env !== undefined) {
      if (typeof env !== "object" || env === null || !Object.values(env).every((value) => typeof value === "string")) {
        return yield* invalid(
          "env",
          `providers.${PROVIDER}.env must map variable names to strings`,
          "give the extra environment of the claude CLI as { NAME: \"value\" }"
        )
      }
      out.env = env as Readonly<Record<string, string>>
    }
    return out
  })
