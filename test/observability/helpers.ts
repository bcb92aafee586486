/**
 * Shared helpers for the observability tests: a recording tracer and a flattening of spans
 * into text, so a test can search every attribute, event and status for a secret.
 */
import { Cause, Tracer } from "effect"

export const recordingTracer = (spans: Array<Tracer.Span>) =>
  Tracer.make({
    span(options) {
      const span = new Tracer.NativeSpan(options)
      spans.push(span)
      return span
    }
  })

export const attributesOf = (span: Tracer.Span): Record<string, unknown> => Object.fromEntries(span.attributes)

/**
 * Everything a span exports, as text: name, attributes, events and, for a failure, the error
 * messages and stacks (what the OTLP exporter sends as the status and `exception` events).
 */
export const spanText = (span: Tracer.Span): string => {
  const exit = span.status._tag === "Ended" ? span.status.exit : undefined
  const status = exit !== undefined && exit._tag === "Failure"
    ? Cause.prettyErrors(exit.cause).map((error) => `${error.name}: ${error.message} ${error.stack ?? ""}`).join("\n")
    : ""
  const events = span instanceof Tracer.NativeSpan
    ? JSON.stringify(span.events, (_key, value) => (typeof value === "bigint" ? String(value) : value))
    : ""
  return `${span.name} ${JSON.stringify(attributesOf(span))} ${events} ${status}`
}
