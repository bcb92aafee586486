/**
 * Resilience flags of `llm-connect prompt`: `--max-retries N` (retries after the first attempt;
 * `0` never retries) and `--attempt-timeout D` (bounds each attempt; a timed-out attempt is
 * retried). `--timeout` (a config flag) bounds the whole call. Keys are the settings' paths in
 * the config file, so a flag overrides `LLM_CONNECT_MAX_RETRIES` / `LLM_CONNECT_ATTEMPT_TIMEOUT`
 * and the file's `retry.maxRetries` / `attemptTimeout`.
 *
 * @since 0.1.0
 */
import { Flag } from "effect/cli"

/**
 * The flags of this group.
 *
 * @since 0.1.0
 * @category flags
 */
export const flags = {
  "retry.maxRetries": Flag.Int("max-retries").pipe(
    Flag.withMetavar("N"),
    Flag.withDescription("retries after a retryable failure (429, 5xx, network, attempt timeout); default 2, 0 = none"),
    Flag.optional
  ),
  attemptTimeout: Flag.String("attempt-timeout").pipe(
    Flag.withMetavar("DURATION"),
    Flag.withDescription("bounds each attempt, e.g. 30s; a timed-out attempt is retried (--timeout bounds the whole call)"),
    Flag.optional
  )
} as const
