/**
 * Observability flags: `--ledger FILE` (the usage ledger, `ledger.path`), built from the
 * settings of `ObservabilityConfig.section`. Keys are the settings' paths in the config file, so
 * a flag overrides `LLM_CONNECT_LEDGER` and the file.
 *
 * @since 0.1.0
 */
import * as ObservabilityConfig from "../../observability/ObservabilityConfig.ts"
import * as SettingFlags from "./SettingFlags.ts"

/**
 * The flags of this group.
 *
 * @since 0.1.0
 * @category flags
 */
export const flags = SettingFlags.group(ObservabilityConfig.section.settings)
