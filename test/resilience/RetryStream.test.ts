/**
 * Streams through the retry layer and the fallback chain: retried only before the first part (a
 * caller never sees text twice), the attempt timeout bounds the wait for the first part, the idle
 * timeout each later wait (Timeout scope idle, exit code 3), the call timeout the whole stream.
 * All on TestClock.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Stream } from "effect"
import { TestClock } from "effect/testing"
import * as ExitCode from "../../src/cli/ExitCode.ts"
import * as LanguageModel from "../../src/LanguageModel.ts"
import * as LlmError from "../../src/LlmError.ts"
import * as LlmRequest from "../../src/LlmRequest.ts"
import * as Fallback from "../../src/resilience/Fallback.ts"
import * as Retry from "../../src/resilience/Retry.ts"
import * as StreamPart from "../../src/StreamPart.ts"
import * as Usage from "../../src/Usage.ts"

const request = LlmRequest.make("hi")

const response = (provider: string, content: string) => ({
  provider,
  model: "m-1",
  content,
  finishReason: "stop" as const,
  usage: Usage.make({ inputTokens: 3, outputTokens: 2 }),
  latencyMs: 0
})

/** A streaming model whose n-th stream (from 0) is `script(n)`; counts the streams opened. */
const scripted = (provider: string, script: (n: number) => Stream.Stream<StreamPart.StreamPart, LlmError.LlmError>) => {
  let opened = 0
  const model = LanguageModel.make({
    provider,
    defaultModel: "m-1",
    generate: () => Effect.die("generate is not used here"),
    stream: () => Stream.suspend(() => script(opened++))
  })
  return { model, opened: () => opened }
}

const answer = (provider: string, texts: ReadonlyArray<string>) =>
  Stream.fromIterable([...texts.map(StreamPart.textDelta), StreamPart.finish(response(provider, texts.join("")))])

const rateLimited = (provider: string) => Stream.fail(LlmError.make(provider, new LlmError.RateLimited({ description: "slow down", retryAfterMs: 2_000 })))
const dropped = (provider: string) => LlmError.make(provider, new LlmError.Network({ description: "connection reset" }))

const texts = (parts: ReadonlyArray<StreamPart.StreamPart>) => parts.flatMap((part) => (part.type === "text-delta" ? [part.text] : []))

/** Runs a stream in a fiber, keeping the parts it emitted and its error, if any. */
const run = (stream: Stream.Stream<StreamPart.StreamPart, LlmError.LlmError>) =>
  Effect.gen(function*() {
    const parts: Array<StreamPart.StreamPart> = []
    const fiber = yield* Effect.forkChild(Effect.result(Stream.runForEach(stream, (part) => Effect.sync(() => void parts.push(part)))))
    return { parts, fiber }
  })

const policy = (extra: Partial<Retry.Policy> = {}): Retry.Policy => ({ ...Retry.defaultPolicy, jitter: false, ...extra })

describe("Retry: streams", () => {
  it.effect("a 429 before the first part is retried after its Retry-After; the caller sees the text once", () =>
    Effect.gen(function*() {
      const { model, opened } = scripted("p", (n) => (n === 0 ? rateLimited("p") : answer("p", ["Hel", "lo"])))
      const { fiber, parts } = yield* run(Retry.make(model, policy()).stream(request))
      yield* TestClock.adjust("1999 millis")
      assert.strictEqual(opened(), 1) // the Retry-After is waited out
      yield* TestClock.adjust("1 millis")
      const result = yield* Fiber.join(fiber)
      assert.strictEqual(result._tag, "Success")
      assert.strictEqual(opened(), 2)
      assert.deepStrictEqual(texts(parts), ["Hel", "lo"])
      assert.strictEqual(parts.filter(StreamPart.isFinish).length, 1)
    }))

  it.effect("a failure after the first part is not retried: the stream ends with the typed error, the text shown once", () =>
    Effect.gen(function*() {
      const { model, opened } = scripted("p", () => Stream.concat(Stream.make(StreamPart.textDelta("Hel")), Stream.fail(dropped("p"))))
      const { fiber, parts } = yield* run(Retry.make(model, policy()).stream(request))
      yield* TestClock.adjust("1 minute")
      const result = yield* Fiber.join(fiber)
      assert.strictEqual(result._tag, "Failure")
      if (result._tag === "Failure") assert.strictEqual(result.failure.reason._tag, "Network")
      assert.strictEqual(opened(), 1)
      assert.deepStrictEqual(texts(parts), ["Hel"])
    }))

  it.effect("retries before the first part stop after maxAttempts with the last error; a non-retryable error is not retried", () =>
    Effect.gen(function*() {
      const failing = scripted("p", () => rateLimited("p"))
      const { fiber } = yield* run(Retry.make(failing.model, policy({ maxAttempts: 3 })).stream(request))
      yield* TestClock.adjust("1 minute")
      const result = yield* Fiber.join(fiber)
      assert.strictEqual(result._tag, "Failure")
      assert.strictEqual(failing.opened(), 3)
      const refused = scripted("p", () => Stream.fail(LlmError.make("p", new LlmError.Authentication({ description: "bad key" }))))
      const second = yield* run(Retry.make(refused.model, policy({ maxAttempts: 3 })).stream(request))
      yield* TestClock.adjust("1 minute")
      assert.strictEqual((yield* Fiber.join(second.fiber))._tag, "Failure")
      assert.strictEqual(refused.opened(), 1)
    }))

  it.effect("the attempt timeout bounds the wait for the first part (then retried), not the whole stream", () =>
    Effect.gen(function*() {
      // Attempt 1 is silent for 5 s; attempt 2 sends a part every 800 ms, 2.4 s in all.
      const { model, opened } = scripted("p", (n) =>
        n === 0
          ? Stream.fromEffect(Effect.as(Effect.sleep("5 seconds"), StreamPart.textDelta("late")))
          : answer("p", ["a", "b", "c"]).pipe(Stream.tap(() => Effect.sleep("800 millis"))))
      const { fiber, parts } = yield* run(Retry.make(model, policy({ attemptTimeoutMs: 1_000, baseDelayMs: 100 })).stream(request))
      yield* TestClock.adjust("1 second")
      assert.strictEqual(opened(), 1)
      yield* TestClock.adjust("100 millis")
      assert.strictEqual(opened(), 2)
      yield* TestClock.adjust("5 seconds")
      const result = yield* Fiber.join(fiber)
      assert.strictEqual(result._tag, "Success")
      assert.deepStrictEqual(texts(parts), ["a", "b", "c"])
    }))

  it.effect("the idle timeout: a stream silent for longer than streamIdleTimeout after its first part fails with Timeout idle (exit 3), not retried", () =>
    Effect.gen(function*() {
      // The provider says when it is waiting for its second part (at t = 0), then is silent for 2 minutes.
      const waiting = yield* Deferred.make<void>()
      const { model, opened } = scripted("p", () =>
        Stream.concat(
          Stream.make(StreamPart.textDelta("Hel")),
          Stream.fromEffect(Effect.andThen(Deferred.succeed(waiting, undefined), Effect.as(Effect.sleep("2 minutes"), StreamPart.textDelta("lo"))))
        ))
      const { fiber, parts } = yield* run(Retry.make(model, policy({ streamIdleTimeoutMs: 60_000 })).stream(request))
      yield* Deferred.await(waiting)
      yield* TestClock.adjust("59999 millis")
      assert.isUndefined(fiber.pollUnsafe())
      yield* TestClock.adjust("1 millis")
      const result = yield* Fiber.join(fiber)
      assert.strictEqual(result._tag, "Failure")
      if (result._tag !== "Failure") return
      const reason = result.failure.reason
      assert.strictEqual(reason._tag, "Timeout")
      if (reason._tag === "Timeout") {
        assert.strictEqual(reason.scope, "idle")
        assert.strictEqual(reason.elapsedMs, 60_000)
        assert.strictEqual(reason.attempts, 1)
      }
      assert.isFalse(result.failure.isRetryable)
      assert.include(result.failure.message, "--stream-idle-timeout")
      assert.strictEqual(ExitCode.fromLlmError(result.failure), ExitCode.TimedOut)
      assert.strictEqual(opened(), 1)
      assert.deepStrictEqual(texts(parts), ["Hel"])
    }))

  it.effect("the idle timeout applies after a first part that came late, with an attempt timeout (as in a stack built from configuration)", () =>
    Effect.gen(function*() {
      // First part after 10 s (within the 2-minute attempt timeout), then silence.
      const waiting = yield* Deferred.make<void>()
      const { model } = scripted("p", () =>
        Stream.concat(
          Stream.fromEffect(Effect.as(Effect.sleep("10 seconds"), StreamPart.textDelta("Hel"))),
          Stream.fromEffect(Effect.andThen(Deferred.succeed(waiting, undefined), Effect.as(Effect.sleep("10 minutes"), StreamPart.textDelta("lo"))))
        ))
      const { fiber, parts } = yield* run(
        Retry.make(model, policy({ attemptTimeoutMs: 120_000, streamIdleTimeoutMs: 1_000 })).stream(request)
      )
      yield* TestClock.adjust("10 seconds")
      yield* Deferred.await(waiting)
      yield* TestClock.adjust("999 millis")
      assert.isUndefined(fiber.pollUnsafe())
      yield* TestClock.adjust("1 millis")
      const result = yield* Fiber.join(fiber)
      assert.strictEqual(result._tag, "Failure")
      if (result._tag !== "Failure") return
      const reason = result.failure.reason
      assert.strictEqual(reason._tag, "Timeout")
      if (reason._tag === "Timeout") {
        assert.strictEqual(reason.scope, "idle")
        assert.strictEqual(reason.elapsedMs, 1_000)
      }
      assert.deepStrictEqual(texts(parts), ["Hel"])
    }))

  it.effect("the idle timeout counts only the wait for the provider: a consumer slow to read does not run it down", () =>
    Effect.gen(function*() {
      const { model } = scripted("p", () => answer("p", ["a", "b", "c"]))
      const parts: Array<StreamPart.StreamPart> = []
      const slowReader = Stream.runForEach(
        Retry.make(model, policy({ streamIdleTimeoutMs: 1_000 })).stream(request),
        (part) => Effect.andThen(Effect.sync(() => void parts.push(part)), Effect.sleep("5 seconds"))
      )
      const fiber = yield* Effect.forkChild(Effect.result(slowReader))
      yield* TestClock.adjust("30 seconds")
      assert.strictEqual((yield* Fiber.join(fiber))._tag, "Success")
      assert.deepStrictEqual(texts(parts), ["a", "b", "c"])
    }))

  it.effect("the call timeout bounds the whole stream (Timeout call)", () =>
    Effect.gen(function*() {
      const { model } = scripted("p", () => answer("p", ["a", "b", "c", "d"]).pipe(Stream.tap(() => Effect.sleep("1 second"))))
      const { fiber, parts } = yield* run(Retry.make(model, policy({ callTimeoutMs: 2_500 })).stream(request))
      yield* TestClock.adjust("10 seconds")
      const result = yield* Fiber.join(fiber)
      assert.strictEqual(result._tag, "Failure")
      if (result._tag === "Failure" && result.failure.reason._tag === "Timeout") assert.strictEqual(result.failure.reason.scope, "call")
      else assert.fail("expected a call timeout")
      assert.deepStrictEqual(texts(parts), ["a", "b"])
    }))
})

describe("Fallback: streams", () => {
  it.effect("a candidate failing before its first part hands over to the next; one failing after it ends the stream", () =>
    Effect.gen(function*() {
      const first = scripted("a", () => rateLimited("a"))
      const second = scripted("b", () => answer("b", ["from ", "b"]))
      const chain = Fallback.make([{ service: first.model }, { service: second.model }])
      const handed = yield* Stream.runCollect(chain.stream(request))
      assert.deepStrictEqual(texts(handed), ["from ", "b"])
      const finish = handed.at(-1)
      assert.strictEqual(finish?.type === "finish" ? Fallback.servedBy(finish.response)?.candidate : undefined, "b/m-1")

      const cut = scripted("a", () => Stream.concat(Stream.make(StreamPart.textDelta("from a")), Stream.fail(dropped("a"))))
      const untouched = scripted("b", () => answer("b", ["from ", "b"]))
      const { fiber, parts } = yield* run(Fallback.make([{ service: cut.model }, { service: untouched.model }]).stream(request))
      const result = yield* Fiber.join(fiber)
      assert.strictEqual(result._tag, "Failure")
      if (result._tag === "Failure") assert.strictEqual(result.failure.reason._tag, "Network")
      assert.deepStrictEqual(texts(parts), ["from a"])
      assert.strictEqual(untouched.opened(), 0)
    }))
})
