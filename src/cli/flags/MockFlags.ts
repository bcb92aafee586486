/**
 * Flags of the embedded mock provider: `--mock-reply`, `--mock-latency`, `--mock-faults`, built
 * from the settings of `MockConfig.section`. Keys are the settings' paths in the config file.
 *
 * @since 0.1.0
 */
import * as MockConfig from "../../providers/mock/MockConfig.ts"
import * as SettingFlags from "./SettingFlags.ts"

/**
 * The flags of this group.
 *
 * @since 0.1.0
 * @category flags
 */
export const flags = SettingFlags.group(MockConfig.section.settings)
