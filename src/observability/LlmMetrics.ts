/**
 * The metrics llm-connect keeps, as Effect `Metric`s, and their Prometheus text.
 *
 * Every call counts once in `llm_calls_total` (labelled by provider, model and outcome:
 * `ok` or the error reason), its tokens in `llm_input_tokens_total` /
 * `llm_output_tokens_total`, its cost in `llm_cost_usd_total` and its latency in the
 * `llm_call_latency_ms` histogram. Failures also count in `llm_errors_total` by reason, and a
 * refusal by a budget in `llm_budget_refusals_total` by dimension. Retries are counted by the
 * resilience layer in {@link retries} (`llm_retries_total`). Metrics live in the fiber's
 * `Metric.MetricRegistry`; {@link prometheusText} renders that registry for a `/metrics`
 * endpoint.
 *
 * @since 0.1.0
 */
import { type Context, Effect, Metric } from "effect"
import { PrometheusMetrics } from "effect/observability"
import type * as LlmError from "../LlmError.ts"
import type { LlmResponse } from "../LlmResponse.ts"
import * as Retry from "../resilience/Retry.ts"

/**
 * Calls, by `provider`, `model` and `outcome` (`ok` or the error reason).
 *
 * @since 0.1.0
 * @category metrics
 */
export const calls = Metric.counter("llm_calls_total", { description: "Model calls, by outcome", incremental: true })

/**
 * Failed calls, by `provider`, `model` and `reason`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const errors = Metric.counter("llm_errors_total", { description: "Failed model calls, by reason", incremental: true })

/**
 * Input tokens reported by providers.
 *
 * @since 0.1.0
 * @category metrics
 */
export const inputTokens = Metric.counter("llm_input_tokens_total", { description: "Input tokens", incremental: true })

/**
 * Output tokens reported by providers.
 *
 * @since 0.1.0
 * @category metrics
 */
export const outputTokens = Metric.counter("llm_output_tokens_total", { description: "Output tokens", incremental: true })

/**
 * Cost in USD, where the provider or the price table gave one.
 *
 * @since 0.1.0
 * @category metrics
 */
export const costUsd = Metric.counter("llm_cost_usd_total", { description: "Cost of calls in USD", incremental: true })

/**
 * Latency of whole calls (all attempts), in milliseconds.
 *
 * @since 0.1.0
 * @category metrics
 */
export const latencyMs = Metric.histogram("llm_call_latency_ms", {
  description: "Latency of model calls in milliseconds",
  boundaries: Metric.exponentialBoundaries({ start: 25, factor: 2, count: 12 })
})

/**
 * Retries, counted by the retry layer (`llm_retries_total`, by `provider` and `reason`); the
 * same metric as `Retry.retriesTotal`, re-exported so all metrics are found here.
 *
 * @since 0.1.0
 * @category metrics
 */
export const retries = Retry.retriesTotal

/**
 * Calls refused by a budget, by `dimension`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const budgetRefusals = Metric.counter("llm_budget_refusals_total", {
  description: "Calls refused by a budget, by dimension",
  incremental: true
})

// Metrics with attributes, made once per label set: `withAttributes` builds a new metric object
// and key, which is measurable on the hot path (bench/observability.ts).
const labelled = new Map<string, Metric.Metric<number, unknown>>()
const withLabels = (metric: Metric.Metric<number, unknown>, attributes: Record<string, string>): Metric.Metric<number, unknown> => {
  let key = metric.id
  for (const name in attributes) key += `\u0000${name}=${attributes[name]}`
  let found = labelled.get(key)
  if (found === undefined) {
    found = Metric.withAttributes(metric, attributes)
    if (labelled.size < 10_000) labelled.set(key, found)
  }
  return found
}

/**
 * Records a successful call (all its metrics in one step); the cost is the response's unless
 * given (e.g. from the price table).
 *
 * @since 0.1.0
 * @category recording
 */
export const recordSuccess = (
  provider: string,
  model: string,
  response: LlmResponse,
  elapsedMs: number,
  costUsdOfCall: number | undefined = response.cost?.usd
): Effect.Effect<void> =>
  Effect.contextWith((context: Context.Context<never>) =>
    Effect.sync(() => {
      const labels = { provider, model: response.model || model }
      withLabels(calls, { ...labels, outcome: "ok" }).updateUnsafe(1, context)
      withLabels(inputTokens, labels).updateUnsafe(response.usage.inputTokens, context)
      withLabels(outputTokens, labels).updateUnsafe(response.usage.outputTokens, context)
      withLabels(latencyMs, labels).updateUnsafe(elapsedMs, context)
      if (costUsdOfCall !== undefined) withLabels(costUsd, labels).updateUnsafe(costUsdOfCall, context)
    })
  )

/**
 * Records a call that succeeded without a response to read usage from (a stream that ended
 * without its final chunk).
 *
 * @since 0.1.0
 * @category recording
 */
export const recordCall = (provider: string, model: string, elapsedMs: number): Effect.Effect<void> =>
  Effect.contextWith((context: Context.Context<never>) =>
    Effect.sync(() => {
      const labels = { provider, model }
      withLabels(calls, { ...labels, outcome: "ok" }).updateUnsafe(1, context)
      withLabels(latencyMs, labels).updateUnsafe(elapsedMs, context)
    })
  )

/**
 * Records a failed call (all its metrics in one step).
 *
 * @since 0.1.0
 * @category recording
 */
export const recordFailure = (provider: string, model: string, error: LlmError.LlmError, elapsedMs: number): Effect.Effect<void> =>
  Effect.contextWith((context: Context.Context<never>) =>
    Effect.sync(() => {
      const labels = { provider, model }
      const reason = error.reason
      withLabels(calls, { ...labels, outcome: reason._tag }).updateUnsafe(1, context)
      withLabels(errors, { ...labels, reason: reason._tag }).updateUnsafe(1, context)
      withLabels(latencyMs, labels).updateUnsafe(elapsedMs, context)
      if (reason._tag === "BudgetExceeded") {
        withLabels(budgetRefusals, { dimension: reason.dimension }).updateUnsafe(1, context)
      }
    })
  )

/**
 * The metrics of the current registry in the Prometheus text exposition format (for a
 * `/metrics` endpoint or a scrape file).
 *
 * @since 0.1.0
 * @category exporting
 */
export const prometheusText = (options?: PrometheusMetrics.FormatOptions): Effect.Effect<string> =>
  PrometheusMetrics.format(options)
