/**
 * Output flags: `--json`, `--stream`.
 *
 * @since 0.1.0
 */
import { Flag } from "effect/cli"

/**
 * `--json`: stdout is exactly one JSON document (the result, or the error document).
 *
 * @since 0.1.0
 * @category flags
 */
export const json = Flag.Boolean("json").pipe(
  Flag.withDescription("print exactly one JSON document on stdout (the result or the error)"),
  Flag.withDefault(false)
)

/**
 * `--stream`: the answer printed as it arrives (with `--json`: JSON Lines, one event a line).
 *
 * @since 0.1.0
 * @category flags
 */
export const stream = Flag.Boolean("stream").pipe(
  Flag.withDescription(
    "print the answer as it arrives (usage on stderr at the end); with --json, JSON Lines: text-delta lines, then one finish or error line"
  ),
  Flag.withDefault(false)
)
