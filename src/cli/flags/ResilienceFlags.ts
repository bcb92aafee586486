/**
 * Resilience flags of `llm-connect prompt`: `--max-retries N` (retries after the first attempt;
 * `0` never retries) and `--attempt-timeout D` (bounds each attempt; a timed-out attempt is
 * retried), built from the settings of `ResilienceConfig.section`. `--timeout` (a model flag)
 * bounds the whole call. Keys are the settings' paths in the config file, so a flag overrides
 * `LLM_CONNECT_MAX_RETRIES` / `LLM_CONNECT_ATTEMPT_TIMEOUT` and the file's `retry.maxRetries` /
 * `attemptTimeout`.
 *
 * @since 0.1.0
 */
import * as ResilienceConfig from "../../resilience/ResilienceConfig.ts"
import * as SettingFlags from "./SettingFlags.ts"

/**
 * The flags of this group.
 *
 * @since 0.1.0
 * @category flags
 */
export const flags = SettingFlags.group(ResilienceConfig.section.settings)
