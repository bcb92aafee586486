/**
 * The observability layer in the real stack (`Stack.layer`): outermost, per-attempt spans below
 * the retry layer, and the retry layer's `llm_retries_total` in the same registry.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Metric, type Tracer } from "effect"
import { TestClock } from "effect/testing"
import * as LanguageModel from "../../src/LanguageModel.ts"
import * as LlmMetrics from "../../src/observability/LlmMetrics.ts"
import * as ObservabilityConfig from "../../src/observability/ObservabilityConfig.ts"
import * as UsageLedger from "../../src/observability/UsageLedger.ts"
import * as ProviderRegistry from "../../src/ProviderRegistry.ts"
import * as MockLanguageModel from "../../src/providers/mock/MockLanguageModel.ts"
import * as Stack from "../../src/Stack.ts"
import { attributesOf, recordingTracer } from "./helpers.ts"

describe("observability in the Stack", () => {
  it.effect("one call span over numbered attempt spans; retries counted; one ledger entry", () =>
    Effect.gen(function*() {
      const spans: Array<Tracer.Span> = []
      const model = Stack.layer({
        provider: { provider: "mock", options: { faults: "500" } },
        observability: ObservabilityConfig.observabilityOptions({ tracing: { spans: "always", attempts: true } })
      }).pipe(
        Layer.provide(ProviderRegistry.layer([MockLanguageModel.provider])),
        Layer.provideMerge(UsageLedger.layerMemory())
      )
      yield* Effect.gen(function*() {
        const fiber = yield* Effect.forkChild(LanguageModel.generate("hello"))
        yield* TestClock.adjust("1 minute")
        const response = yield* Fiber.join(fiber)
        const call = spans.find((span) => span.name === "chat mock-1")!
        const attempts = spans.filter((span) => span.name === "attempt mock-1")
        expect(attempts.map((span) => attributesOf(span)["llm_connect.attempt"])).toEqual([1, 2])
        expect(attributesOf(attempts[0]!)["error.type"]).toBe("ServerError")
        expect(attributesOf(call)["llm_connect.attempt"]).toBe(2)
        expect(attributesOf(call)["gen_ai.usage.output_tokens"]).toBe(response.usage.outputTokens)
        const retries = Metric.withAttributes(LlmMetrics.retries, { provider: "mock", reason: "ServerError" })
        expect((yield* Metric.value(retries)).count).toBe(1)
        const entries = yield* UsageLedger.UsageLedger.use((ledger) => ledger.entries())
        expect(entries.map((entry) => entry.outcome)).toEqual(["ok"])
      }).pipe(
        Effect.provide(model),
        Effect.withTracer(recordingTracer(spans)),
        Effect.provideService(Metric.MetricRegistry, new Map())
      )
    }))

  it("config sections map to the layer's options", () => {
    expect(ObservabilityConfig.observabilityOptions({})).toEqual({})
    expect(ObservabilityConfig.observabilityOptions({
      ledger: { path: "u.db" },
      tracing: { spans: "never", attempts: false }
    })).toEqual({ ledgerPath: "u.db", spans: false, attempts: false })
    expect(ObservabilityConfig.observabilityOptions({ tracing: { spans: "auto" } })).toEqual({ spans: "auto" })
  })
})
