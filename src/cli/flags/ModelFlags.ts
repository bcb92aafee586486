/**
 * Flags choosing the model and shaping the request: `--provider`, `--model`, `--base-url`, `--system`,
 * `--max-tokens`, `--temperature`, `--timeout`, built from the settings of `ModelConfig.section`.
 * Keys are the settings' paths in the config file.
 *
 * @since 0.1.0
 */
import * as ModelConfig from "../../ModelConfig.ts"
import * as SettingFlags from "./SettingFlags.ts"

/**
 * The flags of this group.
 *
 * @since 0.1.0
 * @category flags
 */
export const flags = SettingFlags.group(ModelConfig.section.settings)
