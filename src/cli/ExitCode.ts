/**
 * The one exit-code table of the `llm-connect` CLI, applied in one place (`main.ts`).
 *
 * | code | meaning                                                                      |
 * |------|------------------------------------------------------------------------------|
 * | 0    | success                                                                      |
 * | 1    | the work failed: provider error, budget refusal, failed workflow step        |
 * | 2    | bad usage, configuration or input (unknown flag or provider, missing key,    |
 * |      | invalid file), reported before any paid call                                 |
 * | 3    | a client timeout ran out (`Timeout` of any scope: attempt, call, idle)       |
 * | 130  | interrupted (Ctrl-C, SIGTERM; an `Interrupted` error)                        |
 *
 * By `LlmError` reason: `Configuration` and `Unsupported` (refused before any paid call) 2;
 * `Timeout` 3; `Interrupted` 130; every other reason (`InvalidOutput`, `PolicyDenied`,
 * `BudgetExceeded`, provider errors...) 1.
 *
 * effect/cli's own default for bad input is 1; {@link fromCause} maps it to 2. An error type of
 * another capability can choose its code by carrying `Runtime.errorExitCode`, or by a row added
 * to {@link fromError}.
 *
 * @since 0.1.0
 */
import { Cause, Runtime } from "effect"
import { CliError } from "effect/cli"
import * as LlmError from "../LlmError.ts"

/**
 * @since 0.1.0
 * @category constants
 */
export const Success = 0
/**
 * @since 0.1.0
 * @category constants
 */
export const WorkFailed = 1
/**
 * @since 0.1.0
 * @category constants
 */
export const Usage = 2
/**
 * @since 0.1.0
 * @category constants
 */
export const TimedOut = 3
/**
 * @since 0.1.0
 * @category constants
 */
export const Interrupted = 130

/**
 * The table, for docs and `--help`.
 *
 * @since 0.1.0
 * @category constants
 */
export const table: ReadonlyArray<readonly [code: number, meaning: string]> = [
  [Success, "success"],
  [WorkFailed, "the work failed (provider error, budget refusal, failed step)"],
  [Usage, "bad usage, configuration or input (unknown flag or provider, missing key, invalid file), before any paid call"],
  [TimedOut, "a client timeout ran out"],
  [Interrupted, "interrupted"]
]

/**
 * The exit code for an `LlmError`, by its reason.
 *
 * @since 0.1.0
 * @category mapping
 */
export const fromLlmError = (error: LlmError.LlmError): number => {
  switch (error.reason._tag) {
    case "Configuration":
    case "Unsupported":
      return Usage
    case "Timeout":
      return TimedOut
    case "Interrupted":
      return Interrupted
    case "InvalidOutput":
    case "PolicyDenied":
      return WorkFailed
    default:
      return WorkFailed
  }
}

/**
 * The exit code for any failure value.
 *
 * @since 0.1.0
 * @category mapping
 */
export const fromError = (error: unknown): number => {
  if (LlmError.isLlmError(error)) return fromLlmError(error)
  if (CliError.isCliError(error)) {
    return error._tag === "ShowHelp" && error.errors.length === 0 ? Success : Usage
  }
  return Runtime.getErrorExitCode(error)
}

/**
 * The exit code for how a run ended.
 *
 * @since 0.1.0
 * @category mapping
 */
export const fromCause = (cause: Cause.Cause<unknown>): number => {
  if (Cause.hasInterruptsOnly(cause)) return Interrupted
  return fromError(Cause.squash(cause))
}
