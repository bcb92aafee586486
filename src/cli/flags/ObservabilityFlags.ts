/**
 * Observability flags: `--ledger FILE` (the usage ledger, `ledger.path`), built from the
 * settings of `ObservabilityConfig.section`, and `--no-ledger` (`ledger: false`: no usage rows).
 * Keys are the settings' paths in the config file, so a flag overrides `LLM_CONNECT_LEDGER` and
 * the file.
 *
 * @since 0.1.0
 */
import { Option } from "effect"
import { Flag } from "effect/cli"
import * as ObservabilityConfig from "../../observability/ObservabilityConfig.ts"
import * as SettingFlags from "./SettingFlags.ts"

/**
 * `--no-ledger`: record no usage rows for this command (`ledger: false` in the config file).
 *
 * @since 0.1.0
 * @category flags
 */
export const noLedger = Flag.Boolean("no-ledger").pipe(
  Flag.withDescription(`record no usage rows (default: every call is recorded in ${ObservabilityConfig.STATE_LEDGER_PATH})`),
  Flag.withDefault(false)
)

/**
 * The flags of this group.
 *
 * @since 0.1.0
 * @category flags
 */
export const flags = SettingFlags.group(ObservabilityConfig.section.settings)

/**
 * The flags of the commands that call models: `--ledger FILE` and `--no-ledger`.
 *
 * @since 0.1.0
 * @category flags
 */
export const recording = { ...flags, noLedger } as const

/**
 * The overrides of {@link recording}'s flags, for `ConfigFlags.overrides`: `--no-ledger` wins
 * over `--ledger`.
 *
 * @since 0.1.0
 * @category conversions
 */
export const overrides = (given: {
  readonly "ledger.path": Option.Option<string>
  readonly noLedger: boolean
}): Readonly<Record<string, Option.Option<unknown>>> =>
  given.noLedger ? { ledger: Option.some(false) } : { "ledger.path": given["ledger.path"] }
