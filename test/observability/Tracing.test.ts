import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Deferred, Duration, Effect, Layer, Redacted } from "effect"
import { HttpClient } from "effect/http"
import { TestClock } from "effect/testing"
import * as LanguageModel from "../../src/LanguageModel.ts"
import * as Observability from "../../src/observability/Observability.ts"
import * as Tracing from "../../src/observability/Tracing.ts"
import * as ProviderRegistry from "../../src/ProviderRegistry.ts"
import * as MockLanguageModel from "../../src/providers/mock/MockLanguageModel.ts"
import * as FakeHttpServer from "../providers/FakeHttpServer.ts"

const KEY = "sk-proj-OTLPplantedKEY0123456789abcdefghij"
const MARKER = "OTLP-PROMPT-MARKER-91ab"

interface OtlpValue {
  readonly stringValue?: string
  readonly intValue?: string | number
  readonly doubleValue?: number
  readonly arrayValue?: { readonly values: ReadonlyArray<OtlpValue> }
}
interface OtlpSpan {
  readonly name: string
  readonly attributes: ReadonlyArray<{ readonly key: string; readonly value: OtlpValue }>
}
interface TracesBody {
  readonly resourceSpans: ReadonlyArray<{ readonly scopeSpans: ReadonlyArray<{ readonly spans: ReadonlyArray<OtlpSpan> }> }>
}

const plain = (value: OtlpValue): unknown =>
  value.stringValue ?? (value.intValue !== undefined ? Number(value.intValue) : undefined) ?? value.doubleValue ??
    value.arrayValue?.values.map(plain)

describe("Tracing", () => {
  it.live("exports call and step spans over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set, without key or prompt", () =>
    Effect.gen(function*() {
      const collector = yield* FakeHttpServer.start(() => ({ status: 200, body: {} }))
      const model = Observability.layer().pipe(
        Layer.provide(ProviderRegistry.layerLanguageModel({ provider: "mock", apiKey: Redacted.make(KEY) })),
        Layer.provide(ProviderRegistry.layer([MockLanguageModel.provider]))
      )
      const exporter = Tracing.layerFromEnv.pipe(
        Layer.provide(ConfigProvider.layer(ConfigProvider.fromUnknown({
          OTEL_EXPORTER_OTLP_ENDPOINT: collector.origin,
          OTEL_SERVICE_NAME: "otlp-test"
        })))
      )
      // The exporter's scope closes at the end of this block, which flushes the spans.
      yield* Effect.gen(function*() {
        yield* LanguageModel.generate({ prompt: `Explain ${MARKER}`, maxTokens: 30, temperature: 0.5 }).pipe(
          Observability.stepSpan("explain", { workflow: "docs" })
        )
        yield* Effect.ignore(LanguageModel.generate({ prompt: `again ${MARKER}`, model: "" }))
      }).pipe(Effect.provide(Layer.merge(model, exporter)))

      const traces = collector.requests.filter((request) => request.url === "/v1/traces")
      expect(traces.length).toBeGreaterThan(0)
      const spans = traces.flatMap((request) =>
        (request.body as TracesBody).resourceSpans.flatMap((resource) => resource.scopeSpans.flatMap((scope) => scope.spans))
      )
      const call = spans.find((span) => span.name === "chat mock-1")!
      const attributes = Object.fromEntries(call.attributes.map((attribute) => [attribute.key, plain(attribute.value)]))
      expect(attributes).toMatchObject({
        "gen_ai.system": "mock",
        "gen_ai.request.model": "mock-1",
        "gen_ai.response.model": "mock-1",
        "gen_ai.request.max_tokens": 30,
        "gen_ai.request.temperature": 0.5,
        "gen_ai.response.finish_reasons": ["length"], // the mock's reply is cut at maxTokens
        "llm_connect.workflow": "docs",
        "llm_connect.step": "explain"
      })
      expect(attributes["gen_ai.usage.input_tokens"]).toBeGreaterThan(0)
      expect(attributes["gen_ai.usage.output_tokens"]).toBeGreaterThan(0)
      expect(spans.some((span) => span.name === "step explain")).toBe(true)
      for (const request of collector.requests) {
        expect(request.rawBody).not.toContain("OTLPplantedKEY")
        expect(request.rawBody).not.toContain(MARKER)
      }
      expect(traces[0]!.rawBody).toContain("otlp-test")
    }))

  it("scrubExport: attribute values, status messages and url.query lose their secrets; the rest is kept", () => {
    const data = {
      resourceSpans: [{
        scopeSpans: [{
          spans: [{
            name: "http.client POST",
            traceId: "0af7651916cd43dd8448eb211c80319c",
            attributes: [
              { key: "url.full", value: { stringValue: "http://u:pw1@h/v1/chat/completions?key=QS1" } },
              { key: "url.query", value: { stringValue: "key=QS2&alt=sse" } },
              { key: "http.response.status_code", value: { intValue: 404 } }
            ],
            events: [{ name: "exception", attributes: [{ key: "exception.message", value: { stringValue: `refused ${KEY}` } }] }],
            status: { code: 2, message: "404 POST http://h/v1?token=QS3" }
          }]
        }]
      }]
    }
    const text = JSON.stringify(Tracing.scrubExport(data))
    for (const secret of ["pw1", "QS1", "QS2", "QS3", "OTLPplantedKEY"]) expect(text).not.toContain(secret)
    expect(text).toContain("key=<redacted>&alt=sse")
    expect(text).toContain("0af7651916cd43dd8448eb211c80319c")
    expect(text).toContain("\"intValue\":404")
    expect(data.resourceSpans[0]!.scopeSpans[0]!.spans[0]!.attributes[1]!.value.stringValue).toBe("key=QS2&alt=sse")
  })

  it.effect("the final flush is bounded: a collector that never answers holds the exit 1 second, not 3", () =>
    Effect.gen(function*() {
      const silent = HttpClient.make(() => Effect.never)
      const closed = yield* Deferred.make<void>()
      const exporter = Tracing.layerOtlpClient({ endpoint: "http://127.0.0.1:9" }).pipe(
        Layer.provide(Layer.succeed(HttpClient.HttpClient, silent))
      )
      // Detached: a flush that never ends must not hold the test's own scope.
      yield* Effect.forkDetach(
        Effect.scoped(Effect.andThen(Layer.build(exporter), Effect.withSpan("work")(Effect.void))).pipe(
          Effect.andThen(Deferred.succeed(closed, undefined))
        )
      )
      yield* TestClock.adjust("999 millis")
      expect(yield* Deferred.isDone(closed)).toBe(false)
      yield* TestClock.adjust("1 millis")
      // The flush's timeout has fired; let the scope's finalizers finish.
      for (let tick = 0; tick < 50 && !(yield* Deferred.isDone(closed)); tick++) yield* Effect.yieldNow
      expect(yield* Deferred.isDone(closed)).toBe(true)
    }))

  it.effect("OTEL_EXPORTER_OTLP_TIMEOUT (milliseconds) sets the flush bound", () =>
    Effect.gen(function*() {
      const options = yield* Tracing.otlpFromEnv.pipe(
        Effect.provide(ConfigProvider.layer(ConfigProvider.fromUnknown({
          OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4318",
          OTEL_EXPORTER_OTLP_TIMEOUT: "250"
        })))
      )
      expect(options?.flushTimeout).toEqual(Duration.millis(250))
    }))

  it.effect("installs nothing when OTEL_EXPORTER_OTLP_ENDPOINT is not set", () =>
    Effect.gen(function*() {
      const response = yield* LanguageModel.generate("hello")
      expect(response.provider).toBe("mock")
    }).pipe(Effect.provide(Layer.mergeAll(
      MockLanguageModel.layer(),
      Tracing.layerFromEnv.pipe(Layer.provide(ConfigProvider.layer(ConfigProvider.fromUnknown({}))))
    ))))
})
