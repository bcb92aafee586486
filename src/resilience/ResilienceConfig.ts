/**
 * The resilience keys of the configuration: `retry`, `attemptTimeout`, `streamIdleTimeout`,
 * `limits`, `fallback` and `circuitBreaker` (their Schemas live beside each wrapper).
 * `--max-retries` / `LLM_CONNECT_MAX_RETRIES` set `retry.maxRetries`; `--attempt-timeout` /
 * `LLM_CONNECT_ATTEMPT_TIMEOUT` set `attemptTimeout`; `--stream-idle-timeout` /
 * `LLM_CONNECT_STREAM_IDLE_TIMEOUT` set `streamIdleTimeout` (default 60s: the longest silence
 * between two parts of a stream; on a stream the attempt timeout bounds the wait for its first
 * part).
 *
 * A stack built from configuration bounds each attempt at {@link DEFAULT_ATTEMPT_TIMEOUT} (2
 * minutes) when neither `attemptTimeout` nor the call `timeout` is set, so a server that accepts
 * the connection and never answers fails with `Timeout` (scope `attempt`) instead of holding the
 * call for the transport's 10 minutes per attempt. For a non-streaming call the first byte of
 * the response arrives with the whole answer, so this is the time-to-first-byte bound.
 *
 * ```yaml
 * retry: { maxRetries: 2, baseDelay: 250ms }
 * attemptTimeout: 30s        # each attempt (default 2m); `timeout` bounds the whole call
 * streamIdleTimeout: 60s     # the longest silence between two parts of a stream
 * limits: { concurrency: 4, providers: { openai: { rpm: 500 } } }
 * fallback: [{ provider: openrouter, model: openai/gpt-4o-mini }]
 * circuitBreaker: { failures: 5, cooldown: 30s }
 * ```
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import * as ConfigSection from "../ConfigSection.ts"
import * as DurationText from "../DurationText.ts"
import * as CircuitBreaker from "./CircuitBreaker.ts"
import * as Fallback from "./Fallback.ts"
import * as Resilience from "./Resilience.ts"
import * as Retry from "./Retry.ts"

/**
 * The attempt timeout of a stack built from configuration when neither `attemptTimeout` nor the
 * call `timeout` is set: the time-to-first-byte bound of a call (a non-streaming response starts
 * when the model has finished).
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_ATTEMPT_TIMEOUT = "2m"

/**
 * The attempt timeout a configuration asks for: its own `attemptTimeout`, else none when a call
 * `timeout` bounds the call, else {@link DEFAULT_ATTEMPT_TIMEOUT}.
 *
 * @since 0.1.0
 * @category config
 */
export const attemptTimeoutOf = (config: {
  readonly attemptTimeout?: string | undefined
  readonly timeoutMs?: number | undefined
}): string | undefined => config.attemptTimeout ?? (config.timeoutMs === undefined ? DEFAULT_ATTEMPT_TIMEOUT : undefined)

/**
 * The section.
 *
 * @since 0.1.0
 * @category sections
 */
export const section = ConfigSection.make({
  name: "resilience",
  fields: {
    retry: Schema.optionalKey(Retry.RetryConfig),
    attemptTimeout: Schema.optionalKey(DurationText.DurationString).annotate({
      description: "Bounds each attempt (default 2m unless timeout is set); a timed-out attempt is retried (timeout bounds the whole call)."
    }),
    streamIdleTimeout: Schema.optionalKey(DurationText.DurationString).annotate({
      description: "Bounds each wait for a stream's next part after its first (default 60s); a silent stream fails with Timeout (scope idle)."
    }),
    limits: Schema.optionalKey(Resilience.LimitsConfig),
    fallback: Schema.optionalKey(Fallback.FallbackConfig),
    circuitBreaker: Schema.optionalKey(CircuitBreaker.CircuitBreakerConfig)
  },
  settings: {
    "retry.maxRetries": {
      env: "LLM_CONNECT_MAX_RETRIES",
      flag: {
        name: "max-retries",
        metavar: "N",
        description: `retries after a retryable failure (429, 5xx, network, attempt timeout); default 2, 0 = none, at most ${Retry.MAX_RETRIES}`
      },
      kind: "integer",
      example: "2",
      expected: `a whole number of retries from 0 to ${Retry.MAX_RETRIES}`
    },
    attemptTimeout: {
      env: "LLM_CONNECT_ATTEMPT_TIMEOUT",
      flag: {
        name: "attempt-timeout",
        metavar: "DURATION",
        description: "bounds each attempt, e.g. 30s (default 2m unless --timeout is given); a timed-out attempt is retried (--timeout bounds the whole call)"
      },
      kind: "string",
      example: "30s"
    },
    streamIdleTimeout: {
      env: "LLM_CONNECT_STREAM_IDLE_TIMEOUT",
      flag: {
        name: "stream-idle-timeout",
        metavar: "DURATION",
        description: "bounds each wait for a stream's next part after the first, e.g. 30s (default 60s); a silent stream fails with a timeout (exit 3)"
      },
      kind: "string",
      example: "60s"
    }
  }
})
