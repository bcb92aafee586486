/**
 * Shared helpers for the observability tests: a recording tracer and a flattening of spans
 * into text, so a test can search every attribute, event and status for a secret.
 */
import { Tracer } from "effect"

export const recordingTracer = (spans: Array<Tracer.Span>) =>
  Tracer.make({
    span(options) {
      const span = new Tracer.NativeSpan(options)
      spans.push(span)
      return span
    }
  })

export const attributesOf = (span: Tracer.Span): Record<string, unknown> => Object.fromEntries(span.attributes)

/** Everything a span would export, as text: name, attributes, events and its exit. */
export const spanText = (span: Tracer.Span): string => {
  const status = span.status._tag === "Ended" ? String(span.status.exit) : ""
  const events = span instanceof Tracer.NativeSpan
    ? JSON.stringify(span.events, (_key, value) => (typeof value === "bigint" ? String(value) : value))
    : ""
  return `${span.name} ${JSON.stringify(attributesOf(span))} ${events} ${status}`
}
