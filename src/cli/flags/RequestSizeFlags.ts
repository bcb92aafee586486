/**
 * The request size flag: `--max-request-bytes BYTES`, built from the settings of
 * `RequestSize.section`. The key is the setting's path in the config file (`maxRequestBytes`),
 * so the flag overrides `LLM_CONNECT_MAX_REQUEST_BYTES` and the file. A request over the limit
 * exits 1 with `errorType` `InvalidRequest` and `parameter` `maxRequestBytes`.
 *
 * @since 0.1.0
 */
import * as RequestSize from "../../RequestSize.ts"
import * as SettingFlags from "./SettingFlags.ts"

/**
 * The flags of this group.
 *
 * @since 0.1.0
 * @category flags
 */
export const flags = SettingFlags.group(RequestSize.section.settings)
