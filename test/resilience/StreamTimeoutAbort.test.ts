/**
 * The stream timeouts over a provider that can abort its own pending read (the SSE adapters'
 * streamed request, ADR 0045), through the whole stack built by `Stack`, against a fake
 * OpenAI-compatible SSE server on 127.0.0.1 that stalls: a stall mid-stream fails with `Timeout`
 * scope `idle` once the server has seen its socket close; a stall before the response headers
 * (the opening) is bounded by the attempt timeout (scope `attempt`) and retried; a consumer slow
 * between reads never runs the idle timeout down. The Anthropic adapter's stream (its own client,
 * the same streamed request) too. Real time, short timeouts.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer, Redacted, Stream } from "effect"
import * as LlmError from "../../src/LlmError.ts"
import * as LlmRequest from "../../src/LlmRequest.ts"
import * as ModelFactory from "../../src/ModelFactory.ts"
import * as NodeProviders from "../../src/node/NodeProviders.ts"
import * as UsageLedger from "../../src/observability/UsageLedger.ts"
import * as Stack from "../../src/Stack.ts"
import type * as StreamPart from "../../src/StreamPart.ts"
import * as FakeAnthropic from "../providers/anthropic/FakeAnthropicServer.ts"
import * as Fake from "../providers/openai/FakeOpenAiServer.ts"
import { textOf } from "../providers/openai/streamingSuite.ts"

const stackOf = (origin: string, resilience: Stack.StackConfig["resilience"]) =>
  Stack.layerFactory({
    provider: { provider: "openai-compatible", baseUrl: `${origin}/v1`, model: "local-1" },
    budget: { budget: { totalTokens: 10_000 } },
    resilience
  }).pipe(Layer.provide(NodeProviders.layer), Layer.provideMerge(UsageLedger.layerMemory()))

/** Runs a stream in a fiber, keeping its parts as they arrive. */
const started = (stream: Stream.Stream<StreamPart.StreamPart, LlmError.LlmError>) =>
  Effect.gen(function*() {
    const parts: Array<StreamPart.StreamPart> = []
    const fiber = yield* Effect.forkChild(Effect.exit(Stream.runForEach(stream, (part) => Effect.sync(() => void parts.push(part)))))
    return { parts, fiber }
  })

const timeoutOf = (exit: Exit.Exit<void, LlmError.LlmError>) => {
  assert.isTrue(Exit.isFailure(exit))
  const error = Exit.isFailure(exit) ? Exit.findErrorOption(exit) : undefined
  const failure = error !== undefined && error._tag === "Some" ? error.value : undefined
  assert.isDefined(failure)
  const reason = failure!.reason
  assert.strictEqual(reason._tag, "Timeout")
  return { error: failure!, reason: reason as LlmError.Timeout }
}

describe("Stream timeouts: a provider that aborts its own read", () => {
  it.live("a stall mid-stream: the idle timeout aborts the request (the server sees the socket close), then Timeout idle, not retried", () =>
    Effect.gen(function*() {
      const [role, first] = Fake.textStream({ texts: ["Hel", "lo"] })
      const fake = yield* Fake.start(() => Fake.sse([role!, first!], { then: "hang" }))
      yield* Effect.gen(function*() {
        const factory = yield* ModelFactory.ModelFactory
        const startedAt = Date.now()
        const { fiber, parts } = yield* started(factory.model.stream(LlmRequest.make({ prompt: "hi", maxTokens: 50 })))
        // The server sees its socket close; the stream's failure comes after it.
        yield* fake.abandoned.pipe(Effect.timeout("20 seconds"))
        const exit = yield* Fiber.join(fiber)
        const { error, reason } = timeoutOf(exit)
        assert.strictEqual(reason.scope, "idle")
        assert.isAtLeast(reason.elapsedMs, 300)
        assert.isAtLeast(Date.now() - startedAt, 300)
        assert.isFalse(error.isRetryable)
        assert.strictEqual(textOf(parts), "Hel")
        assert.strictEqual(fake.requests.length, 1)
        assert.strictEqual(yield* fake.abandonedTotal, 1)
        const snapshot = yield* factory.budget!.snapshot
        assert.strictEqual(snapshot.openReservations, 0)
        assert.isAtLeast(snapshot.consumed.outputTokens, 1) // what streamed, at least: never lost
      }).pipe(Effect.provide(stackOf(fake.origin, { streamIdleTimeout: "300ms", retry: { maxRetries: 2, baseDelay: "10ms", jitter: false } })))
    }), 60_000)

  it.live("a stall before the response headers: the attempt timeout counts the opening, aborts it, and the attempt is retried", () =>
    Effect.gen(function*() {
      let calls = 0
      const fake = yield* Fake.start(() => (calls++ === 0 ? { _tag: "Hang" } : Fake.sse(Fake.textStream({ texts: ["Hel", "lo"] }))))
      yield* Effect.gen(function*() {
        const factory = yield* ModelFactory.ModelFactory
        const { fiber, parts } = yield* started(factory.model.stream(LlmRequest.make({ prompt: "hi", maxTokens: 50 })))
        yield* fake.abandoned.pipe(Effect.timeout("20 seconds"))
        const exit = yield* Fiber.join(fiber).pipe(Effect.timeout("20 seconds"))
        assert.isTrue(Exit.isSuccess(exit))
        assert.strictEqual(textOf(parts), "Hello")
        assert.strictEqual(fake.requests.length, 2)
        assert.strictEqual(yield* fake.abandonedTotal, 1)
        const snapshot = yield* factory.budget!.snapshot
        assert.strictEqual(snapshot.openReservations, 0)
        const [row] = yield* (yield* UsageLedger.UsageLedger).entries()
        assert.strictEqual(row!.outcome, "ok")
        assert.strictEqual(row!.attempts, 2)
      }).pipe(Effect.provide(stackOf(fake.origin, { attemptTimeout: "300ms", retry: { maxRetries: 2, baseDelay: "10ms", jitter: false } })))
    }), 60_000)

  it.live("a stall after the headers, before the first part: Timeout attempt, the request aborted before the retry sends another", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.start(() => Fake.sse([], { then: "hang" }))
      yield* Effect.gen(function*() {
        const factory = yield* ModelFactory.ModelFactory
        const { fiber, parts } = yield* started(factory.model.stream(LlmRequest.make({ prompt: "hi", maxTokens: 50 })))
        const exit = yield* Fiber.join(fiber).pipe(Effect.timeout("20 seconds"))
        const { error, reason } = timeoutOf(exit)
        assert.strictEqual(reason.scope, "attempt")
        assert.strictEqual(reason.attempts, 2)
        assert.isTrue(error.isRetryable)
        assert.deepStrictEqual(parts, [])
        assert.strictEqual(fake.requests.length, 2)
        // Each attempt's request was aborted: the server saw both sockets close.
        yield* fake.abandoned.pipe(Effect.timeout("20 seconds"))
        yield* fake.abandoned.pipe(Effect.timeout("20 seconds"))
        assert.strictEqual(yield* fake.abandonedTotal, 2)
        const snapshot = yield* factory.budget!.snapshot
        assert.strictEqual(snapshot.openReservations, 0)
      }).pipe(Effect.provide(stackOf(fake.origin, { attemptTimeout: "300ms", retry: { maxRetries: 1, baseDelay: "10ms", jitter: false } })))
    }), 60_000)

  it.live("a consumer slow between reads does not run the idle timeout down; nothing is aborted", () =>
    Effect.gen(function*() {
      // The server writes a chunk every 50 ms (at most 4 in a row without a part: 200 ms); the
      // consumer spends 400 ms on each part, longer than the 300 ms idle timeout.
      const fake = yield* Fake.start(() => Fake.sse(Fake.textStream({ texts: ["a", "b", "c"] }), { pauseMs: 50 }))
      yield* Effect.gen(function*() {
        const factory = yield* ModelFactory.ModelFactory
        const parts: Array<StreamPart.StreamPart> = []
        yield* Stream.runForEach(
          factory.model.stream(LlmRequest.make({ prompt: "hi", maxTokens: 50 })),
          (part) => Effect.andThen(Effect.sync(() => void parts.push(part)), Effect.sleep("400 millis"))
        )
        assert.strictEqual(textOf(parts), "abc")
        assert.strictEqual(yield* fake.abandonedTotal, 0)
      }).pipe(Effect.provide(stackOf(fake.origin, { attemptTimeout: "300ms", streamIdleTimeout: "300ms" })))
    }), 60_000)

  it.live("anthropic: a stall mid-stream fails with Timeout idle once the server has seen its socket close", () =>
    Effect.gen(function*() {
      const events = FakeAnthropic.textStream({ texts: ["Hel", "lo"] })
      // message_start, content_block_start, ping, the first delta; then silence.
      const fake = yield* FakeAnthropic.start(() => ({ _tag: "Sse", chunks: events.slice(0, 4), then: "hang" }))
      yield* Effect.gen(function*() {
        const factory = yield* ModelFactory.ModelFactory
        const { fiber, parts } = yield* started(factory.model.stream(LlmRequest.make({ prompt: "hi", maxTokens: 50 })))
        yield* fake.abandoned.pipe(Effect.timeout("20 seconds"))
        const { reason } = timeoutOf(yield* Fiber.join(fiber))
        assert.strictEqual(reason.scope, "idle")
        assert.strictEqual(textOf(parts), "Hel")
        assert.strictEqual(fake.requests.length, 1)
        assert.strictEqual(yield* fake.abandonedTotal, 1)
      }).pipe(Effect.provide(
        Stack.layerFactory({
          provider: { provider: "anthropic", baseUrl: fake.origin, model: "claude-haiku-4-5", apiKey: Redacted.make(FakeAnthropic.KEY) },
          budget: { budget: { totalTokens: 10_000 } },
          resilience: { streamIdleTimeout: "300ms" }
        }).pipe(Layer.provide(NodeProviders.layer), Layer.provideMerge(UsageLedger.layerMemory()))
      ))
    }), 60_000)

  it.live("anthropic: a stall before the response headers is bounded by the attempt timeout (Timeout attempt), the request aborted", () =>
    Effect.gen(function*() {
      const fake = yield* FakeAnthropic.start(() => ({ _tag: "Hang" }))
      yield* Effect.gen(function*() {
        const factory = yield* ModelFactory.ModelFactory
        const { fiber } = yield* started(factory.model.stream(LlmRequest.make({ prompt: "hi", maxTokens: 50 })))
        const exit = yield* Fiber.join(fiber).pipe(Effect.timeout("20 seconds"))
        const { reason } = timeoutOf(exit)
        assert.strictEqual(reason.scope, "attempt")
        yield* fake.abandoned.pipe(Effect.timeout("20 seconds"))
        assert.strictEqual(fake.requests.length, 1)
      }).pipe(Effect.provide(
        Stack.layerFactory({
          provider: { provider: "anthropic", baseUrl: fake.origin, model: "claude-haiku-4-5", apiKey: Redacted.make(FakeAnthropic.KEY) },
          resilience: { attemptTimeout: "300ms", retry: { maxRetries: 0 } }
        }).pipe(Layer.provide(NodeProviders.layer), Layer.provideMerge(UsageLedger.layerMemory()))
      ))
    }), 60_000)
})
