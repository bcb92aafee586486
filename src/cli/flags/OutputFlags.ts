/**
 * Output flags: `--json`.
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
