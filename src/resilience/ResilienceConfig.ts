/**
 * The resilience keys of the configuration: `retry`, `attemptTimeout`, `limits`, `fallback` and
 * `circuitBreaker` (their Schemas live beside each wrapper). `--max-retries` /
 * `LLM_CONNECT_MAX_RETRIES` set `retry.maxRetries`; `--attempt-timeout` /
 * `LLM_CONNECT_ATTEMPT_TIMEOUT` set `attemptTimeout`.
 *
 * ```yaml
 * retry: { maxRetries: 2, baseDelay: 250ms }
 * attemptTimeout: 30s        # each attempt; `timeout` bounds the whole call
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
      description: "Bounds each attempt; a timed-out attempt is retried (timeout bounds the whole call)."
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
        description: "retries after a retryable failure (429, 5xx, network, attempt timeout); default 2, 0 = none"
      },
      kind: "integer",
      example: "2",
      expected: "a whole number of retries, 0 or more"
    },
    attemptTimeout: {
      env: "LLM_CONNECT_ATTEMPT_TIMEOUT",
      flag: {
        name: "attempt-timeout",
        metavar: "DURATION",
        description: "bounds each attempt, e.g. 30s; a timed-out attempt is retried (--timeout bounds the whole call)"
      },
      kind: "string",
      example: "30s"
    }
  }
})
