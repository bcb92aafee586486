/**
 * A streamed call, observed: one span from the opening to the end (finish, error or cancel), the
 * time to the first token (histogram, span attribute, log annotation), a log line and a ledger
 * row on finish, error and cancel (marked `cancelled`, with the usage so far), the prompt never in
 * logs or spans. Then the same through the whole stack against a fake SSE server: interrupting the
 * consumer aborts the request and commits the usage so far to the budget and the ledger.
 */
import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Layer, Metric, Stream, Tracer } from "effect"
import { TestClock } from "effect/testing"
import * as LanguageModel from "../../src/LanguageModel.ts"
import * as LlmError from "../../src/LlmError.ts"
import * as LlmRequest from "../../src/LlmRequest.ts"
import * as ModelFactory from "../../src/ModelFactory.ts"
import * as NodeProviders from "../../src/node/NodeProviders.ts"
import * as LlmMetrics from "../../src/observability/LlmMetrics.ts"
import * as Logging from "../../src/observability/Logging.ts"
import * as Observability from "../../src/observability/Observability.ts"
import * as UsageLedger from "../../src/observability/UsageLedger.ts"
import * as Stack from "../../src/Stack.ts"
import * as StreamPart from "../../src/StreamPart.ts"
import * as Tokenizer from "../../src/Tokenizer.ts"
import * as Usage from "../../src/Usage.ts"
import * as Fake from "../providers/openai/FakeOpenAiServer.ts"
import { attributesOf, recordingTracer, spanText } from "./helpers.ts"

const SECRET_PROMPT = "my card is 4111 1111 1111 1111 and key sk-proj-abcdefghijklmnopqrstuv"

const response = (content: string) => ({
  provider: "streamer",
  model: "s-1",
  content,
  finishReason: "stop" as const,
  usage: Usage.make({ inputTokens: 7, outputTokens: 2 }),
  latencyMs: 0
})

const after = (ms: number, part: StreamPart.StreamPart) => Stream.fromEffect(Effect.as(Effect.sleep(`${ms} millis`), part))

/** Streams by the request's last word: `ok` (deltas at 100 and 300 ms, finish at 500), `fail` (Network after a delta), `slow` (one delta, then silence). */
const streamer = LanguageModel.make({
  provider: "streamer",
  defaultModel: "s-1",
  generate: () => Effect.die("streams only"),
  stream: (request) => {
    const last = String(request.messages.at(-1)!.content).split(" ").at(-1)
    if (last === "fail") {
      return Stream.concat(after(100, StreamPart.textDelta("par")), Stream.fail(LlmError.make("streamer", new LlmError.Network({ description: "reset" }))))
    }
    if (last === "slow") return Stream.concat(after(100, StreamPart.textDelta("one two three")), Stream.never)
    return Stream.concat(
      Stream.concat(after(100, StreamPart.textDelta("Hel")), after(200, StreamPart.textDelta("lo"))),
      after(200, StreamPart.finish(response("Hello")))
    )
  }
})

const observed = Observability.layer().pipe(
  Layer.provide(Layer.succeed(LanguageModel.LanguageModel, streamer)),
  Layer.provideMerge(UsageLedger.layerMemory())
)

const instrumented = <A, E, R>(body: (captured: { lines: Array<string>; spans: Array<Tracer.Span> }) => Effect.Effect<A, E, R>) => {
  const lines: Array<string> = []
  const spans: Array<Tracer.Span> = []
  return body({ lines, spans }).pipe(
    Effect.withTracer(recordingTracer(spans)),
    Effect.provide(Logging.layerCollect(lines, { level: "Debug" })),
    Effect.provideService(Metric.MetricRegistry, new Map())
  )
}

const parse = (line: string) => JSON.parse(line) as { message: unknown; annotations: Record<string, unknown> }
const messageOf = (line: string) => {
  const message = parse(line).message
  return String(Array.isArray(message) ? message[0] : message)
}
const ledgerEntries = UsageLedger.UsageLedger.use((ledger) => ledger.entries())
const endedAfterMs = (span: Tracer.Span) =>
  span.status._tag === "Ended" ? Number((span.status.endTime - span.status.startTime) / 1_000_000n) : undefined

describe("Observability: streams", () => {
  it.effect("finish: one span over the whole stream, the time to first token, one log line and one ledger row", () =>
    instrumented(({ lines, spans }) =>
      Effect.gen(function*() {
        const fiber = yield* Effect.forkChild(Stream.runCollect(LanguageModel.stream(`${SECRET_PROMPT} ok`)))
        yield* TestClock.adjust("500 millis")
        const parts = yield* Fiber.join(fiber)
        assert.strictEqual(parts.length, 3)
        const calls = spans.filter((span) => span.name === "chat s-1")
        assert.strictEqual(calls.length, 1)
        assert.strictEqual(endedAfterMs(calls[0]!), 500) // open -> finish
        const attributes = attributesOf(calls[0]!)
        assert.strictEqual(attributes["llm_connect.time_to_first_token_ms"], 100)
        assert.strictEqual(attributes["gen_ai.usage.output_tokens"], 2)
        const histogram = yield* Metric.value(Metric.withAttributes(LlmMetrics.timeToFirstTokenMs, { provider: "streamer", model: "s-1" }))
        assert.strictEqual(histogram.count, 1)
        assert.strictEqual(histogram.sum, 100)
        const done = lines.filter((line) => messageOf(line) === "llm call succeeded")
        assert.strictEqual(done.length, 1)
        assert.strictEqual(parse(done[0]!).annotations.timeToFirstTokenMs, 100)
        const [row] = yield* ledgerEntries
        assert.deepStrictEqual([row!.outcome, row!.outputTokens, row!.cancelled], ["ok", 2, undefined])
        for (const text of [...lines, ...spans.map(spanText)]) {
          assert.notInclude(text, "4111")
          assert.notInclude(text, "sk-proj")
        }
      }).pipe(Effect.provide(observed))
    ))

  it.effect("error after a delta: the span ends with error.type, a failure log line, a row with the usage streamed (estimated, no budget)", () =>
    instrumented(({ lines, spans }) =>
      Effect.gen(function*() {
        const fiber = yield* Effect.forkChild(Effect.flip(Stream.runCollect(LanguageModel.stream(`${SECRET_PROMPT} fail`))))
        yield* TestClock.adjust("100 millis")
        assert.strictEqual((yield* Fiber.join(fiber)).reason._tag, "Network")
        const [span] = spans.filter((span) => span.name === "chat s-1")
        assert.strictEqual(attributesOf(span!)["error.type"], "Network")
        assert.strictEqual(endedAfterMs(span!), 100)
        assert.strictEqual(lines.filter((line) => messageOf(line) === "llm call failed").length, 1)
        const [row] = yield* ledgerEntries
        assert.strictEqual(row!.outcome, "Network")
        assert.strictEqual(row!.outputTokens, Tokenizer.countText("par"))
        assert.isTrue(row!.estimated)
        assert.isTrue(row!.inputTokens > 0)
        for (const text of [...lines, ...spans.map(spanText)]) assert.notInclude(text, "4111")
      }).pipe(Effect.provide(observed))
    ))

  it.effect("cancel: interrupting the consumer, or stopping before the end, records the call as cancelled with the usage so far", () =>
    instrumented(({ lines, spans }) =>
      Effect.gen(function*() {
        const received = yield* Deferred.make<void>()
        const fiber = yield* Effect.forkChild(
          Stream.runForEach(LanguageModel.stream(`${SECRET_PROMPT} slow`), () => Deferred.succeed(received, undefined))
        )
        yield* TestClock.adjust("100 millis")
        yield* Deferred.await(received)
        yield* Fiber.interrupt(fiber)
        // A consumer that stops reading after the first part.
        const first = yield* Effect.forkChild(Stream.runCollect(Stream.take(LanguageModel.stream("hello ok"), 1)))
        yield* TestClock.adjust("100 millis")
        assert.strictEqual((yield* Fiber.join(first)).length, 1)

        const rows = yield* ledgerEntries
        assert.deepStrictEqual(rows.map((row) => [row.outcome, row.cancelled, row.estimated]), [
          ["Interrupted", true, true],
          ["Interrupted", true, true]
        ])
        assert.strictEqual(rows[0]!.outputTokens, Tokenizer.countText("one two three"))
        assert.strictEqual(rows[1]!.outputTokens, Tokenizer.countText("Hel"))
        const calls = spans.filter((span) => span.name === "chat s-1")
        assert.strictEqual(calls.length, 2)
        for (const span of calls) {
          assert.strictEqual(span.status._tag, "Ended")
          assert.strictEqual(attributesOf(span)["llm_connect.cancelled"], true)
        }
        assert.strictEqual(lines.filter((line) => messageOf(line) === "llm stream cancelled").length, 2)
        // In the metrics as in the ledger: two calls of outcome Interrupted (none ok, no error),
        // with the tokens used so far.
        const labels = { provider: "streamer", model: "s-1" }
        const callsBy = (outcome: string) => Metric.value(Metric.withAttributes(LlmMetrics.calls, { ...labels, outcome }))
        assert.strictEqual((yield* callsBy("Interrupted")).count, 2)
        assert.strictEqual((yield* callsBy("ok")).count, 0)
        assert.strictEqual((yield* Metric.value(Metric.withAttributes(LlmMetrics.errors, { ...labels, reason: "Interrupted" }))).count, 0)
        assert.strictEqual(
          (yield* Metric.value(Metric.withAttributes(LlmMetrics.outputTokens, labels))).count,
          rows[0]!.outputTokens + rows[1]!.outputTokens
        )
        assert.strictEqual((yield* Metric.value(Metric.withAttributes(LlmMetrics.latencyMs, labels))).count, 2)
        for (const text of [...lines, ...spans.map(spanText)]) assert.notInclude(text, "4111")
      }).pipe(Effect.provide(observed))
    ))
})

// 40 deltas, 10 ms apart, then the response stays open.
const slowStream = () =>
  Fake.sse(
    [
      Fake.data(Fake.chunk({ delta: { role: "assistant", content: "" } })),
      ...Array.from({ length: 40 }, (_, index) => Fake.data(Fake.chunk({ delta: { content: ` w${index}` } })))
    ],
    { pauseMs: 10, then: "hang" }
  )

const stackOf = (origin: string, extra: Partial<Stack.StackConfig> = {}) =>
  Stack.layerFactory({ provider: { provider: "openai-compatible", baseUrl: `${origin}/v1`, model: "local-1" }, ...extra }).pipe(
    Layer.provide(NodeProviders.layer),
    Layer.provideMerge(UsageLedger.layerMemory())
  )

/** Reads a stream until `count` deltas arrived, then interrupts its consumer; returns the text it saw. */
const interruptAfter = (stream: Stream.Stream<StreamPart.StreamPart, LlmError.LlmError>, count: number) =>
  Effect.gen(function*() {
    const seen: Array<string> = []
    const enough = yield* Deferred.make<void>()
    const fiber = yield* Effect.forkChild(Stream.runForEach(stream, (part) =>
      Effect.suspend(() => {
        if (part.type === "text-delta") seen.push(part.text)
        return seen.length >= count ? Deferred.succeed(enough, undefined) : Effect.void
      })))
    yield* Deferred.await(enough)
    yield* Fiber.interrupt(fiber)
    return seen.join("")
  })

describe("Cancellation through the stack", () => {
  it.live("under a budget: the request is aborted (the server sees the close), the usage so far committed and in a cancelled ledger row", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.start(slowStream)
      yield* Effect.gen(function*() {
        const factory = yield* ModelFactory.ModelFactory
        const streamed = yield* interruptAfter(factory.model.stream(LlmRequest.make({ prompt: "count", maxTokens: 100 })), 3)
        yield* fake.abandoned
        const snapshot = yield* factory.budget!.snapshot
        assert.strictEqual(snapshot.openReservations, 0)
        // chargeAbandoned "input": the input plus what streamed (at least: a part may have arrived after the third).
        assert.isAtLeast(snapshot.consumed.outputTokens, Tokenizer.countText(streamed))
        assert.isBelow(snapshot.consumed.outputTokens, 100)
        const [row] = yield* (yield* UsageLedger.UsageLedger).entries()
        assert.strictEqual(row!.outcome, "Interrupted")
        assert.isTrue(row!.cancelled)
        assert.isTrue(row!.estimated)
        assert.strictEqual(row!.outputTokens, snapshot.consumed.outputTokens)
        assert.strictEqual(row!.inputTokens, snapshot.consumed.inputTokens)
        assert.strictEqual(row!.attempts, 1)
      }).pipe(Effect.provide(stackOf(fake.origin, { budget: { budget: { totalTokens: 10_000 }, chargeAbandoned: "input" } })))
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.live("without a budget: the request is aborted and the ledger row holds what had streamed, estimated, marked cancelled", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.start(slowStream)
      yield* Effect.gen(function*() {
        const model = yield* LanguageModel.LanguageModel
        yield* interruptAfter(model.stream(LlmRequest.make("count")), 2)
        yield* fake.abandoned
        const [row] = yield* (yield* UsageLedger.UsageLedger).entries()
        assert.strictEqual(row!.outcome, "Interrupted")
        assert.isTrue(row!.cancelled)
        assert.isTrue(row!.estimated)
        assert.isAtLeast(row!.outputTokens, Tokenizer.countText(" w0 w1"))
        assert.isTrue(row!.inputTokens > 0)
      }).pipe(Effect.provide(stackOf(fake.origin)))
    }))
})
