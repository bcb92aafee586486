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
 * What the exporter sends passes through the one scrubber first ({@link scrubExport}:
 * `Redaction.scrubText` on every attribute value, status message and span name, and
 * `Redaction.redactQuery` on `url.query`), so Effect's own HTTP client spans (`url.full`,
 * `url.query`) and the exception events built from an error's message and stack never carry a
 * key or a URL's credentials. The final flush when the layer closes is bounded (default 1 second,
 * `OTEL_EXPORTER_OTLP_TIMEOUT` in milliseconds): an unreachable collector does not hold a
 * program's exit.
 *
 * @since 0.1.0
 */
import { Config, Context, Duration, Effect, Layer, Option } from "effect"
import { FetchHttpClient, type HttpClient } from "effect/http"
import { type OtlpExporter, OtlpMetrics, OtlpSerialization, OtlpTracer } from "effect/observability"
import * as GenAiAttributes from "./GenAiAttributes.ts"
import * as Redaction from "./Redaction.ts"

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
  /**
   * How long the final flush may take when the layer closes (default {@link DEFAULT_FLUSH_TIMEOUT});
   * what is still unsent then is dropped, so an unreachable collector does not hold the exit.
   */
  readonly flushTimeout?: Duration.Input | undefined
}

/**
 * The default bound on the final flush: long enough for a reachable collector, short enough
 * that an unreachable one (refused, or silent) costs a command at most this at exit.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_FLUSH_TIMEOUT: Duration.Duration = Duration.seconds(1)

// OTLP JSON: `{ key, value: { stringValue } }` attributes, `status.message`, span `name`.
const FREE_TEXT: ReadonlySet<string> = new Set(["stringValue", "message", "name"])

const scrubNode = (node: unknown, field: string | undefined, query: boolean): unknown => {
  if (typeof node === "string") {
    if (field === undefined || !FREE_TEXT.has(field)) return node
    return query ? Redaction.redactQuery(node) : Redaction.scrubText(node)
  }
  if (node === null || typeof node !== "object") return node
  if (Array.isArray(node)) return node.map((item) => scrubNode(item, field, false))
  const record = node as Record<string, unknown>
  // OpenTelemetry's `url.query` has no `?`: it is read as a query string on its own.
  const isQuery = record.key === "url.query"
  const out: Record<string, unknown> = {}
  for (const key in record) out[key] = scrubNode(record[key], key, query || (isQuery && key === "value"))
  return out
}

/**
 * Scrubs OTLP data before it is serialized: every attribute value, status message and span
 * name goes through `Redaction.scrubText` (keys, bearer tokens, URL credentials), and
 * `url.query` through `Redaction.redactQuery`. Returns a new value.
 *
 * @since 0.1.0
 * @category exporting
 */
export const scrubExport = <A>(data: A): A => scrubNode(data, undefined, false) as A

/**
 * The OTLP JSON serialization with {@link scrubExport} applied to traces, metrics and logs.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerScrubbedJson: Layer.Layer<OtlpSerialization.OtlpSerialization> = Layer.effect(
  OtlpSerialization.OtlpSerialization,
  Effect.map(Effect.service(OtlpSerialization.OtlpSerialization), (json) => ({
    traces: (data) => json.traces(scrubExport(data)),
    metrics: (data) => json.metrics(scrubExport(data)),
    logs: (data) => json.logs(scrubExport(data))
  }))
).pipe(Layer.provide(OtlpSerialization.layerJson))

/**
 * Exports spans and metrics to an OTLP/HTTP collector, JSON-encoded and scrubbed
 * ({@link scrubExport}), over the `HttpClient` in context. Pending data is flushed when the
 * layer's scope closes, for at most `flushTimeout`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerOtlpClient = (options: OtlpOptions): Layer.Layer<OtlpExporter.Flusher, never, HttpClient.HttpClient> => {
  const base = options.endpoint.replace(/\/+$/, "")
  const resource = {
    serviceName: options.serviceName ?? "llm-connect",
    ...(options.serviceVersion !== undefined ? { serviceVersion: options.serviceVersion } : {})
  }
  const interval = options.exportInterval ?? "5 seconds"
  const shutdownTimeout = options.flushTimeout ?? DEFAULT_FLUSH_TIMEOUT
  return Layer.mergeAll(
    OtlpTracer.layer({ url: `${base}/v1/traces`, resource, exportInterval: interval, shutdownTimeout }),
    OtlpMetrics.layer({ url: `${base}/v1/metrics`, resource, exportInterval: interval, shutdownTimeout })
  ).pipe(Layer.provide(layerScrubbedJson))
}

/**
 * {@link layerOtlpClient} over `fetch` (`FetchHttpClient`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerOtlp = (options: OtlpOptions): Layer.Layer<OtlpExporter.Flusher> =>
  layerOtlpClient(options).pipe(Layer.provide(FetchHttpClient.layer))

/**
 * The OTLP settings of the environment: `OTEL_EXPORTER_OTLP_ENDPOINT` (none when unset or
 * empty), `OTEL_SERVICE_NAME` and `OTEL_EXPORTER_OTLP_TIMEOUT` (milliseconds, the bound on the
 * final flush; default {@link DEFAULT_FLUSH_TIMEOUT}).
 *
 * @since 0.1.0
 * @category config
 */
export const otlpFromEnv: Effect.Effect<OtlpOptions | undefined, Config.ConfigError> = Effect.map(
  Config.all({
    endpoint: Config.option(Config.String("OTEL_EXPORTER_OTLP_ENDPOINT")),
    serviceName: Config.option(Config.String("OTEL_SERVICE_NAME")),
    timeoutMs: Config.option(Config.Int("OTEL_EXPORTER_OTLP_TIMEOUT"))
  }),
  ({ endpoint, serviceName, timeoutMs }) =>
    Option.isNone(endpoint) || endpoint.value === ""
      ? undefined
      : {
        endpoint: endpoint.value,
        serviceName: Option.getOrUndefined(serviceName),
        ...(Option.isSome(timeoutMs) && timeoutMs.value >= 0 ? { flushTimeout: Duration.millis(timeoutMs.value) } : {})
      }
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
