/**
 * The metrics llm-connect keeps, as Effect `Metric`s, and their Prometheus text.
 *
 * Every call counts once in `llm_calls_total` (labelled by provider, model and outcome:
 * `ok`, the error reason, or `Interrupted` for a call its caller cancelled), its tokens in `llm_input_tokens_total` /
 * `llm_output_tokens_total`, its cost in `llm_cost_usd_total` and its latency in the
 * `llm_call_latency_ms` histogram; a streamed call also its time to the first delta in the
 * `llm_time_to_first_token_ms` histogram. Failures also count in `llm_errors_total` by reason, and a
 * refusal by a budget in `llm_budget_refusals_total` by dimension. Retries are counted by the
 * resilience layer in {@link retries} (`llm_retries_total`). Metrics live in the fiber's
 * `Metric.MetricRegistry`; {@link prometheusText} renders that registry for a `/metrics`
 * endpoint.
 *
 * @since 0.1.0
 */
import { Context, Effect, Metric } from "effect"
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
 * Time to the first token of a streamed call, in milliseconds: from the call's start (before the
 * budget, the limits and retries) to its first text or tool-call delta, by `provider` and
 * `model`. A stream that ends before any delta records nothing.
 *
 * @since 0.1.0
 * @category metrics
 */
export const timeToFirstTokenMs = Metric.histogram("llm_time_to_first_token_ms", {
  description: "Time from the start of a streamed model call to its first delta, in milliseconds",
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
// and key, which is measurable on the hot path (bench/observability.ts). They are found by
// provider, then model, then outcome (nested maps: the label strings are the same objects call
// after call, so no key string is built per call).
//
// Each series is kept twice. `own`: metrics with their labels built in (the same name,
// description and labels, so the same series key in the registry), updated in a small context
// that holds only the fiber's registry (made once per registry): an update then costs no context
// of its own and no lookups through the fiber's context, where `withAttributes` adds its labels to
// the fiber's context on every update (bench/stack-http.ts). `attributed`: the `withAttributes`
// metrics, used when the fiber sets metric attributes of its own, so that those merge exactly as
// before (the series' labels win).
type Labelled = Metric.Metric<number, unknown>
interface Labels {
  readonly inputTokens: Labelled
  readonly outputTokens: Labelled
  readonly latencyMs: Labelled
  readonly costUsd: Labelled
  /** `llm_calls_total` by outcome, and `llm_errors_total` by reason. */
  readonly calls: Map<string, Labelled>
  readonly errors: Map<string, Labelled>
}
interface Series {
  readonly own: Labels
  readonly attributed: Labels
}
const MAX_SERIES = 10_000
const byProvider = new Map<string, Map<string, Series>>()
let seriesCount = 0

// The options of each labelled metric: those of the exported metric, with the series' labels.
const latencyBoundaries = Metric.exponentialBoundaries({ start: 25, factor: 2, count: 12 })
const builtIn = {
  calls: (attributes: Metric.Metric.Attributes) =>
    Metric.counter("llm_calls_total", { description: "Model calls, by outcome", incremental: true, attributes }),
  errors: (attributes: Metric.Metric.Attributes) =>
    Metric.counter("llm_errors_total", { description: "Failed model calls, by reason", incremental: true, attributes }),
  inputTokens: (attributes: Metric.Metric.Attributes) =>
    Metric.counter("llm_input_tokens_total", { description: "Input tokens", incremental: true, attributes }),
  outputTokens: (attributes: Metric.Metric.Attributes) =>
    Metric.counter("llm_output_tokens_total", { description: "Output tokens", incremental: true, attributes }),
  costUsd: (attributes: Metric.Metric.Attributes) =>
    Metric.counter("llm_cost_usd_total", { description: "Cost of calls in USD", incremental: true, attributes }),
  latencyMs: (attributes: Metric.Metric.Attributes) =>
    Metric.histogram("llm_call_latency_ms", {
      description: "Latency of model calls in milliseconds",
      boundaries: latencyBoundaries,
      attributes
    })
}

const makeSeries = (provider: string, model: string): Series => {
  const labels = { provider, model }
  return {
    own: {
      inputTokens: builtIn.inputTokens(labels),
      outputTokens: builtIn.outputTokens(labels),
      latencyMs: builtIn.latencyMs(labels),
      costUsd: builtIn.costUsd(labels),
      calls: new Map(),
      errors: new Map()
    },
    attributed: {
      inputTokens: Metric.withAttributes(inputTokens, labels),
      outputTokens: Metric.withAttributes(outputTokens, labels),
      latencyMs: Metric.withAttributes(latencyMs, labels),
      costUsd: Metric.withAttributes(costUsd, labels),
      calls: new Map(),
      errors: new Map()
    }
  }
}

const seriesOf = (provider: string, model: string): Series => {
  let models = byProvider.get(provider)
  let found = models?.get(model)
  if (found === undefined) {
    found = makeSeries(provider, model)
    if (seriesCount < MAX_SERIES) {
      if (models === undefined) byProvider.set(provider, models = new Map())
      models.set(model, found)
      seriesCount++
    }
  }
  return found
}

const byLabel = (
  cache: Map<string, Labelled>,
  make: (attributes: Metric.Metric.Attributes) => Labelled,
  provider: string,
  model: string,
  name: string,
  value: string
): Labelled => {
  let found = cache.get(value)
  if (found === undefined) {
    found = make({ provider, model, [name]: value })
    if (cache.size < 100) cache.set(value, found)
  }
  return found
}

// The labels of a series to update in `context`, and the context to update them in: `target`
// sets both (module state rather than a tuple: this runs on every call, and nothing between
// setting and reading them yields).
let lastRegistry: Metric.MetricRegistry | undefined
let registryContext: Context.Context<never> = Context.empty()
let targetLabels: Labels | undefined
let targetContext: Context.Context<never> = registryContext
const hasKeys = (record: object): boolean => {
  for (const key in record) if (Object.hasOwn(record, key)) return true
  return false
}
const target = (series: Series, context: Context.Context<never>): void => {
  if (hasKeys(Context.get(context, Metric.CurrentMetricAttributes))) {
    targetLabels = series.attributed
    targetContext = context
    return
  }
  const registry = Context.get(context, Metric.MetricRegistry)
  if (registry !== lastRegistry) {
    lastRegistry = registry
    registryContext = Context.make(Metric.MetricRegistry, registry)
  }
  targetLabels = series.own
  targetContext = registryContext
}

// The metric of a label set to update: built in (`own`), or with attributes added.
const labelled = (labels: Labels, series: Series, kind: "calls" | "errors", provider: string, model: string, name: string, value: string) =>
  labels === series.own
    ? byLabel(labels[kind], builtIn[kind], provider, model, name, value)
    : byLabel(labels[kind], (attributes) => Metric.withAttributes(kind === "calls" ? calls : errors, attributes), provider, model, name, value)

const refusals = new Map<string, Labelled>()
const refusalsBy = (dimension: string): Labelled => {
  let found = refusals.get(dimension)
  if (found === undefined) refusals.set(dimension, found = Metric.withAttributes(budgetRefusals, { dimension }))
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
    Effect.sync(() => recordSuccessUnsafe(context, provider, model, response, elapsedMs, costUsdOfCall))
  )

/**
 * {@link recordSuccess} as a synchronous update in a given context (the registry is the
 * context's `Metric.MetricRegistry`): for a layer that already holds its fiber, so that the
 * metrics cost no effect step of their own.
 *
 * @since 0.1.0
 * @category recording
 */
export const recordSuccessUnsafe = (
  context: Context.Context<never>,
  provider: string,
  model: string,
  response: LlmResponse,
  elapsedMs: number,
  costUsdOfCall: number | undefined
): void => {
  const labelModel = response.model || model
  const series = seriesOf(provider, labelModel)
  target(series, context)
  const labels = targetLabels!
  const into = targetContext
  labelled(labels, series, "calls", provider, labelModel, "outcome", "ok").updateUnsafe(1, into)
  labels.inputTokens.updateUnsafe(response.usage.inputTokens, into)
  labels.outputTokens.updateUnsafe(response.usage.outputTokens, into)
  labels.latencyMs.updateUnsafe(elapsedMs, into)
  if (costUsdOfCall !== undefined) labels.costUsd.updateUnsafe(costUsdOfCall, into)
}

/**
 * Records a call that succeeded without a response to read usage from (a stream that ended
 * without its final chunk).
 *
 * @since 0.1.0
 * @category recording
 */
export const recordCall = (provider: string, model: string, elapsedMs: number): Effect.Effect<void> =>
  Effect.contextWith((context: Context.Context<never>) => Effect.sync(() => recordCallUnsafe(context, provider, model, elapsedMs)))

/**
 * {@link recordCall} as a synchronous update in a given context.
 *
 * @since 0.1.0
 * @category recording
 */
export const recordCallUnsafe = (context: Context.Context<never>, provider: string, model: string, elapsedMs: number): void => {
  const series = seriesOf(provider, model)
  target(series, context)
  const labels = targetLabels!
  const into = targetContext
  labelled(labels, series, "calls", provider, model, "outcome", "ok").updateUnsafe(1, into)
  labels.latencyMs.updateUnsafe(elapsedMs, into)
}

/**
 * The outcome label of a call its caller cancelled (interrupted, or a stream it stopped reading
 * before the end): the same as the usage ledger's `outcome`.
 *
 * @since 0.1.0
 * @category recording
 */
export const INTERRUPTED = "Interrupted"

/**
 * Records a call its caller cancelled, as a synchronous update in a given context: it counts in
 * `llm_calls_total` with outcome `Interrupted` (as in the usage ledger; not in
 * `llm_errors_total`: the provider did not fail), with its latency and what it used by then
 * (the tokens and cost charged, or streamed so far), when known.
 *
 * @since 0.1.0
 * @category recording
 */
export const recordCancelledUnsafe = (
  context: Context.Context<never>,
  provider: string,
  model: string,
  elapsedMs: number,
  used?: {
    readonly usage: { readonly inputTokens: number; readonly outputTokens: number } | undefined
    readonly costUsd: number | undefined
  }
): void => {
  const series = seriesOf(provider, model)
  target(series, context)
  const labels = targetLabels!
  const into = targetContext
  labelled(labels, series, "calls", provider, model, "outcome", INTERRUPTED).updateUnsafe(1, into)
  labels.latencyMs.updateUnsafe(elapsedMs, into)
  if (used?.usage !== undefined) {
    labels.inputTokens.updateUnsafe(used.usage.inputTokens, into)
    labels.outputTokens.updateUnsafe(used.usage.outputTokens, into)
  }
  if (used?.costUsd !== undefined) labels.costUsd.updateUnsafe(used.costUsd, into)
}

const firstTokenSeries = new Map<string, Map<string, Labelled>>()

/**
 * Records the time to the first delta of a streamed call, as a synchronous update in a given
 * context (see {@link recordSuccessUnsafe}).
 *
 * @since 0.1.0
 * @category recording
 */
export const recordTimeToFirstTokenUnsafe = (
  context: Context.Context<never>,
  provider: string,
  model: string,
  elapsedMs: number
): void => {
  let models = firstTokenSeries.get(provider)
  if (models === undefined) firstTokenSeries.set(provider, models = new Map())
  let found = models.get(model)
  if (found === undefined) {
    found = Metric.withAttributes(timeToFirstTokenMs, { provider, model })
    if (models.size < 1_000) models.set(model, found)
  }
  found.updateUnsafe(elapsedMs, context)
}

/**
 * Records a failed call (all its metrics in one step).
 *
 * @since 0.1.0
 * @category recording
 */
export const recordFailure = (provider: string, model: string, error: LlmError.LlmError, elapsedMs: number): Effect.Effect<void> =>
  Effect.contextWith((context: Context.Context<never>) =>
    Effect.sync(() => recordFailureUnsafe(context, provider, model, error, elapsedMs))
  )

/**
 * {@link recordFailure} as a synchronous update in a given context.
 *
 * @since 0.1.0
 * @category recording
 */
export const recordFailureUnsafe = (
  context: Context.Context<never>,
  provider: string,
  model: string,
  error: LlmError.LlmError,
  elapsedMs: number
): void => {
  const series = seriesOf(provider, model)
  const reason = error.reason
  target(series, context)
  const labels = targetLabels!
  const into = targetContext
  labelled(labels, series, "calls", provider, model, "outcome", reason._tag).updateUnsafe(1, into)
  labelled(labels, series, "errors", provider, model, "reason", reason._tag).updateUnsafe(1, into)
  labels.latencyMs.updateUnsafe(elapsedMs, into)
  if (reason._tag === "BudgetExceeded") refusalsBy(reason.dimension).updateUnsafe(1, context)
}

/**
 * The metrics of the current registry in the Prometheus text exposition format (for a
 * `/metrics` endpoint or a scrape file).
 *
 * @since 0.1.0
 * @category exporting
 */
export const prometheusText = (options?: PrometheusMetrics.FormatOptions): Effect.Effect<string> =>
  PrometheusMetrics.format(options)
