/**
 * Spans for workflow steps, and export of spans and metrics over OTLP.
 *
 * The observability layer opens a span per call; {@link stepSpan} opens one per workflow step
 * and makes the step known to every call inside it (their spans, log lines and ledger entries
 * name the workflow and step). Spans always exist in-process (Effect's native tracer, cheap);
 * they leave the process only when an exporter is installed: {@link layerFromEnv} installs the
 * OTLP/HTTP JSON exporter for traces and metrics when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.
 * Logs are not exported over OTLP: they are written as scrubbed JSON lines (see `Logging`).
 *
 * @since 0.1.0
 */
import { Config, Context, type Duration, Effect, Layer, Option } from "effect"
import { FetchHttpClient } from "effect/http"
import { type OtlpExporter, OtlpMetrics, OtlpSerialization, OtlpTracer } from "effect/observability"
import * as GenAiAttributes from "./GenAiAttributes.ts"

/**
 * The workflow step a fiber is running, if any. Calls made inside take their workflow, step
 * and correlation id from here when their request's metadata names none.
 *
 * @since 0.1.0
 * @category models
 */
export interface Step {
  readonly workflow?: string | undefined
  readonly step?: string | undefined
  readonly correlationId?: string | undefined
}

/**
 * The current workflow step (empty outside one).
 *
 * @since 0.1.0
 * @category references
 */
export const CurrentStep = Context.Reference<Step>("llm-connect/Tracing/CurrentStep", { defaultValue: () => ({}) })

/**
 * Runs an effect as a workflow step: in a span `step <name>`, with `workflow`, `step` and
 * `correlationId` as log annotations and as the {@link CurrentStep} of every call inside.
 *
 * @since 0.1.0
 * @category spans
 * @example
 * const summary = yield* summarise(text).pipe(Tracing.stepSpan("summarise", { workflow: "digest" }))
 */
export const stepSpan = (
  name: string,
  options: { readonly workflow?: string | undefined; readonly correlationId?: string | undefined } = {}
) =>
<A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.flatMap(Effect.service(CurrentStep), (parent) => {
    const step: Step = {
      step: name,
      ...(options.workflow ?? parent.workflow) !== undefined ? { workflow: options.workflow ?? parent.workflow } : {},
      ...(options.correlationId ?? parent.correlationId) !== undefined
        ? { correlationId: options.correlationId ?? parent.correlationId }
        : {}
    }
    const annotations: Record<string, string> = { step: name }
    const attributes: Record<string, string> = { [GenAiAttributes.Names.step]: name }
    if (step.workflow !== undefined) {
      annotations.workflow = step.workflow
      attributes[GenAiAttributes.Names.workflow] = step.workflow
    }
    if (step.correlationId !== undefined) {
      annotations.correlationId = step.correlationId
      attributes[GenAiAttributes.Names.correlationId] = step.correlationId
    }
    return self.pipe(
      Effect.provideService(CurrentStep, step),
      Effect.annotateLogs(annotations),
      Effect.withSpan(`step ${name}`, { attributes }, { captureStackTrace: false })
    )
  })

/**
 * @since 0.1.0
 * @category models
 */
export interface OtlpOptions {
  /** The collector's base URL, e.g. `http://127.0.0.1:4318` (`/v1/traces` is appended). */
  readonly endpoint: string
  readonly serviceName?: string | undefined
  readonly serviceVersion?: string | undefined
  /** How often batches are sent (default 5 seconds); the rest is flushed on shutdown. */
  readonly exportInterval?: Duration.Input | undefined
}

/**
 * Exports spans and metrics to an OTLP/HTTP collector, JSON-encoded. Pending data is flushed
 * when the layer's scope closes.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerOtlp = (options: OtlpOptions): Layer.Layer<OtlpExporter.Flusher> => {
  const base = options.endpoint.replace(/\/+$/, "")
  const resource = {
    serviceName: options.serviceName ?? "llm-connect",
    ...(options.serviceVersion !== undefined ? { serviceVersion: options.serviceVersion } : {})
  }
  const interval = options.exportInterval ?? "5 seconds"
  return Layer.mergeAll(
    OtlpTracer.layer({ url: `${base}/v1/traces`, resource, exportInterval: interval }),
    OtlpMetrics.layer({ url: `${base}/v1/metrics`, resource, exportInterval: interval })
  ).pipe(Layer.provide([OtlpSerialization.layerJson, FetchHttpClient.layer]))
}

/**
 * The OTLP settings of the environment: `OTEL_EXPORTER_OTLP_ENDPOINT` (none when unset or
 * empty) and `OTEL_SERVICE_NAME`.
 *
 * @since 0.1.0
 * @category config
 */
export const otlpFromEnv: Effect.Effect<OtlpOptions | undefined, Config.ConfigError> = Effect.map(
  Config.all({
    endpoint: Config.option(Config.String("OTEL_EXPORTER_OTLP_ENDPOINT")),
    serviceName: Config.option(Config.String("OTEL_SERVICE_NAME"))
  }),
  ({ endpoint, serviceName }) =>
    Option.isNone(endpoint) || endpoint.value === ""
      ? undefined
      : { endpoint: endpoint.value, serviceName: Option.getOrUndefined(serviceName) }
)

/**
 * {@link layerOtlp} when settings are given, nothing otherwise. The exporter's `Flusher` stays
 * in context but is not part of this layer's contract.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerOptional = (options: OtlpOptions | undefined): Layer.Layer<never> =>
  options === undefined ? Layer.empty : layerOtlp(options) as Layer.Layer<unknown> as Layer.Layer<never>

/**
 * Installs {@link layerOtlp} when `OTEL_EXPORTER_OTLP_ENDPOINT` is set (service name from
 * `OTEL_SERVICE_NAME`), and nothing otherwise.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerFromEnv: Layer.Layer<never, Config.ConfigError> = Layer.unwrap(Effect.map(otlpFromEnv, layerOptional))
