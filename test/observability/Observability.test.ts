import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Fiber, Layer, Metric, References, Stream, type Tracer } from "effect"
import * as CallContext from "../../src/CallContext.ts"
import { TestClock } from "effect/testing"
import * as LanguageModel from "../../src/LanguageModel.ts"
import * as LlmError from "../../src/LlmError.ts"
import * as GenAiAttributes from "../../src/observability/GenAiAttributes.ts"
import * as LlmMetrics from "../../src/observability/LlmMetrics.ts"
import * as Logging from "../../src/observability/Logging.ts"
import * as Observability from "../../src/observability/Observability.ts"
import * as UsageLedger from "../../src/observability/UsageLedger.ts"
import * as MockFault from "../../src/providers/mock/MockFault.ts"
import * as MockLanguageModel from "../../src/providers/mock/MockLanguageModel.ts"
import { attributesOf, recordingTracer } from "./helpers.ts"
import * as StreamPart from "../../src/StreamPart.ts"

const faults = (script: string) => {
  const parsed = MockFault.parseScript(script)
  if (parsed._tag === "Failure") throw new Error(parsed.failure)
  return parsed.success
}

/** Observability over the mock, with an in-memory ledger the test can read. */
const observed = (mock: MockLanguageModel.Options = {}, options: Observability.Options = {}) =>
  Observability.layer(options).pipe(
    Layer.provideMerge(Layer.mergeAll(MockLanguageModel.layer(mock), UsageLedger.layerMemory()))
  )

/** Runs a test with its own logs, spans and metric registry. */
const instrumented = <A, E, R>(
  body: (captured: { lines: Array<string>; spans: Array<Tracer.Span> }) => Effect.Effect<A, E, R>
) => {
  const lines: Array<string> = []
  const spans: Array<Tracer.Span> = []
  return body({ lines, spans }).pipe(
    Effect.withTracer(recordingTracer(spans)),
    Effect.provide(Logging.layerCollect(lines, { level: "Debug" })),
    Effect.provideService(Metric.MetricRegistry, new Map())
  )
}

const parse = (line: string) => JSON.parse(line) as { message: unknown; level: string; annotations: Record<string, unknown> }
const ledgerEntries = UsageLedger.UsageLedger.use((ledger) => ledger.entries())

describe("Observability", () => {
  it.effect("a successful call: a log line with its ids, a GenAI span, metrics and an exact ledger entry", () =>
    instrumented(({ lines, spans }) =>
      Effect.gen(function*() {
        const response = yield* LanguageModel.generate({
          prompt: "Name three rivers",
          maxTokens: 50,
          temperature: 0.2,
          metadata: { correlationId: "corr-1", workflow: "geo", step: "rivers" }
        })

        const [line] = lines.map(parse)
        expect(line!.level).toBe("DEBUG")
        expect(line!.annotations).toMatchObject({
          correlationId: "corr-1",
          provider: "mock",
          model: "mock-1",
          workflow: "geo",
          step: "rivers"
        })
        expect(JSON.stringify(line!.message)).toContain(`"inputTokens":${response.usage.inputTokens}`)

        const span = spans.find((s) => s.name === "chat mock-1")!
        expect(span.kind).toBe("client")
        expect(attributesOf(span)).toMatchObject({
          "gen_ai.system": "mock",
          "gen_ai.request.model": "mock-1",
          "gen_ai.response.model": "mock-1",
          "gen_ai.request.max_tokens": 50,
          "gen_ai.request.temperature": 0.2,
          "gen_ai.usage.input_tokens": response.usage.inputTokens,
          "gen_ai.usage.output_tokens": response.usage.outputTokens,
          "gen_ai.response.finish_reasons": ["stop"],
          "llm_connect.correlation_id": "corr-1"
        })

        const [entry] = yield* ledgerEntries
        expect(entry).toMatchObject({
          provider: "mock",
          model: "mock-1",
          inputTokens: response.usage.inputTokens,
          outputTokens: response.usage.outputTokens,
          totalTokens: response.usage.totalTokens,
          outcome: "ok",
          workflow: "geo",
          step: "rivers",
          correlationId: "corr-1",
          requestId: response.requestId
        })

        const labels = { provider: "mock", model: "mock-1" }
        expect((yield* Metric.value(Metric.withAttributes(LlmMetrics.calls, { ...labels, outcome: "ok" }))).count).toBe(1)
        expect((yield* Metric.value(Metric.withAttributes(LlmMetrics.inputTokens, labels))).count)
          .toBe(response.usage.inputTokens)
        expect((yield* Metric.value(Metric.withAttributes(LlmMetrics.outputTokens, labels))).count)
          .toBe(response.usage.outputTokens)
        expect((yield* Metric.value(Metric.withAttributes(LlmMetrics.latencyMs, labels))).count).toBe(1)
      })
    ).pipe(Effect.provide(observed())))

  it.effect("a failed call: error.type on the span, errors by reason, outcome in the ledger", () =>
    instrumented(({ lines, spans }) =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(LanguageModel.generate("hello"))
        expect(error.reason._tag).toBe("RateLimited")
        const span = spans.find((s) => s.name === "chat mock-1")!
        expect(attributesOf(span)["error.type"]).toBe("RateLimited")
        expect(attributesOf(span)["http.response.status_code"]).toBe(429)
        const [entry] = yield* ledgerEntries
        expect(entry).toMatchObject({ outcome: "RateLimited", inputTokens: 0, outputTokens: 0 })
        const errors = Metric.withAttributes(LlmMetrics.errors, { provider: "mock", model: "mock-1", reason: "RateLimited" })
        expect((yield* Metric.value(errors)).count).toBe(1)
        expect(parse(lines[0]!).message).toEqual(["llm call failed", expect.objectContaining({ reason: "RateLimited" })])
      })
    ).pipe(Effect.provide(observed({ faults: faults("429:2s") }))))

  it.effect("an interrupted call: outcome Interrupted in llm_calls_total as in the ledger, not an error", () =>
    instrumented(() =>
      Effect.gen(function*() {
        const fiber = yield* Effect.forkChild(LanguageModel.generate("hello"))
        yield* TestClock.adjust("1 second")
        yield* Fiber.interrupt(fiber)
        const [entry] = yield* ledgerEntries
        expect(entry).toMatchObject({ outcome: "Interrupted", cancelled: true })
        const labels = { provider: "mock", model: "mock-1" }
        expect((yield* Metric.value(Metric.withAttributes(LlmMetrics.calls, { ...labels, outcome: "Interrupted" }))).count).toBe(1)
        expect((yield* Metric.value(Metric.withAttributes(LlmMetrics.calls, { ...labels, outcome: "ok" }))).count).toBe(0)
        expect((yield* Metric.value(Metric.withAttributes(LlmMetrics.errors, { ...labels, reason: "Interrupted" }))).count).toBe(0)
      })
    ).pipe(Effect.provide(observed({ latency: "10 seconds" }))))

  it.effect("without a tracer: the call's log line carries its ids, and the caller's context is back after it ends, however it ends", () => {
    const lines: Array<string> = []
    const callerContext = Effect.map(Effect.context<never>(), (context) => ({
      annotations: Context.get(context, References.CurrentLogAnnotations),
      totals: Context.get(context, CallContext.CurrentTotals)
    }))
    return Effect.gen(function*() {
      const before = yield* callerContext
      expect(before.annotations).toEqual({ caller: "outer" })
      const response = yield* LanguageModel.generate({ prompt: "one", metadata: { correlationId: "corr-9" } })
      expect(response.usage.outputTokens).toBeGreaterThan(0)
      expect(yield* callerContext).toEqual(before)
      const [line] = lines.map(parse)
      expect(line!.message).toEqual(["llm call succeeded", expect.objectContaining({ inputTokens: response.usage.inputTokens })])
      expect(line!.annotations).toMatchObject({ caller: "outer", correlationId: "corr-9", provider: "mock", model: "mock-1" })
      // a failure (the mock's second call fails)
      const error = yield* Effect.flip(LanguageModel.generate("two"))
      expect(error.reason._tag).toBe("RateLimited")
      expect(yield* callerContext).toEqual(before)
      expect(parse(lines[1]!).annotations).toMatchObject({ caller: "outer", provider: "mock" })
      // an interruption while the provider works
      const fiber = yield* Effect.forkChild(Effect.andThen(LanguageModel.generate("three"), callerContext))
      yield* TestClock.adjust("1 second")
      yield* Fiber.interrupt(fiber)
      expect(yield* callerContext).toEqual(before)
      expect((yield* ledgerEntries).map((entry) => entry.outcome)).toEqual(["ok", "RateLimited", "Interrupted"])
    }).pipe(
      Effect.annotateLogs({ caller: "outer" }),
      Effect.provide(Logging.layerCollect(lines, { level: "Debug" })),
      Effect.provideService(Metric.MetricRegistry, new Map()),
      Effect.provide(observed({ faults: faults("ok,429,hang") }))
    )
  })

  it.effect("with a tracer: the call is recorded inside its span, and the caller's context is back after it ends", () => {
    const callerAnnotations = Effect.map(Effect.context<never>(), (context) => Context.get(context, References.CurrentLogAnnotations))
    return instrumented(({ lines, spans }) =>
      Effect.gen(function*() {
        yield* LanguageModel.generate({ prompt: "one", metadata: { correlationId: "corr-7" } })
        expect(yield* callerAnnotations).toEqual({ caller: "outer" })
        expect(parse(lines[0]!).annotations).toMatchObject({ caller: "outer", correlationId: "corr-7" })
        expect(attributesOf(spans.find((span) => span.name === "chat mock-1")!)["gen_ai.usage.output_tokens"]).toBeGreaterThan(0)
        const fiber = yield* Effect.forkChild(LanguageModel.generate("two"))
        yield* TestClock.adjust("1 second")
        yield* Fiber.interrupt(fiber)
        expect(yield* callerAnnotations).toEqual({ caller: "outer" })
        expect((yield* ledgerEntries).map((entry) => entry.outcome)).toEqual(["ok", "Interrupted"])
        expect(spans.filter((span) => span.name === "chat mock-1")).toHaveLength(2)
      }).pipe(Effect.annotateLogs({ caller: "outer" }))
    ).pipe(Effect.provide(observed({ faults: faults("ok,hang") })))
  })

  it.effect("gives each call a correlation id and passes it down to the provider", () =>
    Effect.gen(function*() {
      yield* LanguageModel.generate("one")
      yield* LanguageModel.generate({ prompt: "two", metadata: { correlationId: "mine" } })
      const calls = yield* MockLanguageModel.MockLanguageModel.use((mock) => mock.calls)
      const ids = calls.map((call) => call.metadata?.correlationId)
      expect(ids[0]).toMatch(/^c-[0-9a-f]{16}$/)
      expect(ids[1]).toBe("mine")
      expect((yield* ledgerEntries).map((entry) => entry.correlationId)).toEqual(ids)
    }).pipe(Effect.provide(observed())))

  it.effect("stepSpan: calls inside a workflow step carry its workflow, step and correlation id", () =>
    instrumented(({ lines, spans }) =>
      Effect.gen(function*() {
        yield* Effect.logInfo("step starts")
        yield* LanguageModel.generate("summarise")
      }).pipe(
        Observability.stepSpan("summarise", { workflow: "digest", correlationId: "run-7" }),
        Effect.andThen(Effect.gen(function*() {
          expect(lines.length).toBe(2)
          for (const line of lines) {
            expect(parse(line).annotations).toMatchObject({ workflow: "digest", step: "summarise", correlationId: "run-7" })
          }
          const step = spans.find((s) => s.name === "step summarise")!
          const call = spans.find((s) => s.name === "chat mock-1")!
          expect(call.parent._tag === "Some" && call.parent.value.spanId).toBe(step.spanId)
          expect(attributesOf(call)[GenAiAttributes.Names.step]).toBe("summarise")
          const [entry] = yield* ledgerEntries
          expect(entry).toMatchObject({ workflow: "digest", step: "summarise", correlationId: "run-7" })
        }))
      )
    ).pipe(Effect.provide(observed())))

  it.effect("counts a budget refusal from a layer below it", () =>
    Effect.gen(function*() {
      const refuse = LanguageModel.layerWrap((inner) =>
        Effect.succeed(LanguageModel.wrap(inner, {
          request: () =>
            Effect.fail(LlmError.make("mock", new LlmError.BudgetExceeded({
              description: "over budget",
              dimension: "costUsd",
              limit: 1,
              consumed: 1,
              reserved: 0,
              requested: 0.1
            })))
        }))
      )
      const stackLayer = Observability.layer().pipe(
        Layer.provide(refuse),
        Layer.provideMerge(Layer.mergeAll(MockLanguageModel.layer(), UsageLedger.layerMemory()))
      )
      yield* Effect.gen(function*() {
        const error = yield* Effect.flip(LanguageModel.generate("x"))
        expect(error.reason._tag).toBe("BudgetExceeded")
        const refusals = Metric.withAttributes(LlmMetrics.budgetRefusals, { dimension: "costUsd" })
        expect((yield* Metric.value(refusals)).count).toBe(1)
        expect((yield* ledgerEntries)[0]!.outcome).toBe("BudgetExceeded")
        const text = yield* LlmMetrics.prometheusText()
        expect(text).toContain("# TYPE llm_calls_total counter")
        expect(text).toContain("# TYPE llm_call_latency_ms histogram")
        expect(text).toContain(`llm_budget_refusals_total{dimension="costUsd"} 1`)
        expect(text).toMatch(/llm_calls_total\{[^}]*outcome="BudgetExceeded"[^}]*\} 1/)
      }).pipe(Effect.provide(stackLayer), Effect.provideService(Metric.MetricRegistry, new Map()))
    }))

  it.effect("per-attempt spans (opt-in) number each attempt under the call span", () =>
    instrumented(({ spans }) =>
      Effect.gen(function*() {
        // A tiny retry between the call and the attempts: enough to see two attempts.
        const retryOnce = LanguageModel.layerWrap((inner) =>
          Effect.succeed(LanguageModel.wrap(inner, { generate: (request, next) => Effect.retry(next(request), { times: 1 }), stream: "unchanged" }))
        )
        const stackLayer = Observability.layer({ attempts: true }).pipe(
          Layer.provide(retryOnce),
          Layer.provide(Observability.layerAttempts),
          Layer.provideMerge(Layer.mergeAll(MockLanguageModel.layer({ faults: faults("500") }), UsageLedger.layerMemory()))
        )
        yield* LanguageModel.generate("hi").pipe(Effect.provide(stackLayer))
        const attempts = spans.filter((s) => s.name === "attempt mock-1")
        expect(attempts.map((s) => attributesOf(s)["llm_connect.attempt"])).toEqual([1, 2])
        expect(attributesOf(attempts[0]!)["error.type"]).toBe("ServerError")
        const call = spans.find((s) => s.name === "chat mock-1")!
        expect(attributesOf(call)["llm_connect.attempt"]).toBe(2)
      })
    ))

  it.effect("a streamed call is observed too: span, ledger entry from the last chunk, failures", () =>
    instrumented(({ spans }) =>
      Effect.gen(function*() {
        const response = {
          content: "ab",
          model: "s-1",
          provider: "streamer",
          usage: { inputTokens: 4, outputTokens: 2, totalTokens: 6 },
          finishReason: "stop" as const,
          latencyMs: 1
        }
        const streamer: LanguageModel.Service = LanguageModel.make({
          provider: "streamer",
          defaultModel: "s-1",
          generate: () => Effect.succeed(response),
          stream: (request) =>
            request.messages[0]!.content === "fail"
              ? Stream.fail(LlmError.make("streamer", new LlmError.Network({ description: "reset" })))
              : Stream.make(StreamPart.textDelta("a"), StreamPart.textDelta("b"), StreamPart.finish(response))
        })
        const model = Observability.layer().pipe(
          Layer.provide(Layer.succeed(LanguageModel.LanguageModel, streamer)),
          Layer.provideMerge(UsageLedger.layerMemory())
        )
        yield* Effect.gen(function*() {
          const chunks = yield* Stream.runCollect(LanguageModel.stream("hi"))
          expect(chunks.map((part) => (part.type === "text-delta" ? part.text : "")).join("")).toBe("ab")
          yield* Effect.flip(Stream.runCollect(LanguageModel.stream("fail")))
          const entries = yield* ledgerEntries
          expect(entries.map((entry) => [entry.outcome, entry.inputTokens, entry.outputTokens])).toEqual([
            ["ok", 4, 2],
            ["Network", 0, 0]
          ])
          const streamed = spans.filter((span) => span.name === "chat s-1")
          expect(streamed.length).toBe(2)
          expect(attributesOf(streamed[0]!)["gen_ai.usage.output_tokens"]).toBe(2)
          expect(attributesOf(streamed[1]!)["error.type"]).toBe("Network")
        }).pipe(Effect.provide(model))
      })
    ))

  it.effect("everything can be switched off", () =>
    instrumented(({ lines, spans }) =>
      Effect.gen(function*() {
        yield* LanguageModel.generate("quiet")
        expect(lines).toEqual([])
        expect(spans).toEqual([])
        expect(yield* ledgerEntries).toEqual([])
      })
    ).pipe(Effect.provide(observed({}, { spans: false, logCalls: false, ledger: false, metrics: false }))))
})
