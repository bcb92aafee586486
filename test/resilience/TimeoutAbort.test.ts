/**
 * `Timeout.stream` over a stream that registers an abort for its scope (as the SSE adapters'
 * streamed request does, ADR 0045): no reader fiber (the consumer's own fiber reads the stream
 * below); a wait that runs out aborts the stream below first, and its read's failure becomes the
 * `Timeout` (scope `attempt` before the first part, `idle` after); the consumer's time between
 * reads does not count; a stream that registers nothing keeps the reader. All on TestClock.
 */
import { assert, describe, it } from "@effect/vitest"
import { Cause, type Duration, Effect, Fiber, Queue, Stream } from "effect"
import { TestClock } from "effect/testing"
import { registerAbort } from "../../src/internal/deadlines.ts"
import * as Streams from "../../src/internal/streams.ts"
import * as LlmError from "../../src/LlmError.ts"
import * as Timeout from "../../src/resilience/Timeout.ts"

const subject = { provider: "p", model: "m-1" }
const dropped = LlmError.make("p", new LlmError.Network({ description: "the request was aborted" }))

/**
 * A stream whose parts are offered by the test, which registers an abort for its scope as it
 * opens (an abort fails its pending read with `Network`, as undici's destroyed body does); it
 * records the fiber that runs each read, and what happened, in order.
 */
const abortable = (options: { readonly registers: boolean }) =>
  Effect.map(Queue.unbounded<string, LlmError.LlmError | Cause.Done>(), (queue) => {
    const events: Array<string> = []
    const readers = new Set<number>()
    const stream = Streams.fromScope<string, LlmError.LlmError, never>((scope) => {
      if (options.registers) {
        registerAbort(scope, () => {
          events.push("aborted")
          Queue.failCauseUnsafe(queue, Cause.fail(dropped))
        })
      }
      return Stream.fromQueue(queue).pipe(Stream.tap(() => Effect.withFiber((fiber) => Effect.sync(() => void readers.add(fiber.id)))))
    })
    return { queue, stream, events, readers }
  })

const bounded = (stream: Stream.Stream<string, LlmError.LlmError>, events: Array<string>, think?: Duration.Input) =>
  Effect.withFiber((consumer) =>
    Effect.map(
      Effect.result(
        Stream.runForEach(
          Timeout.stream(stream, { firstPartMs: 10_000, idleMs: 60_000, attempt: () => 1, subject }),
          (part) => Effect.andThen(Effect.sync(() => void events.push(`part ${part}`)), think === undefined ? Effect.void : Effect.sleep(think))
        )
      ),
      (result) => {
        events.push(`ended ${result._tag === "Failure" ? result.failure.reason._tag : "ok"}`)
        return { result, consumer: consumer.id }
      }
    )
  )

const timeoutOf = (result: { readonly _tag: string; readonly failure?: LlmError.LlmError }) =>
  result._tag === "Failure" && result.failure !== undefined && result.failure.reason._tag === "Timeout" ? result.failure.reason : undefined

describe("Timeout.stream over a stream that can abort its own read", () => {
  it.effect("idle: the wait that runs out aborts the stream below, then the stream fails with Timeout idle; the consumer's fiber read it", () =>
    Effect.gen(function*() {
      const a = yield* abortable({ registers: true })
      const run = yield* Effect.forkChild(bounded(a.stream, a.events))
      yield* Queue.offer(a.queue, "a1")
      yield* TestClock.adjust("59999 millis")
      assert.isUndefined(run.pollUnsafe())
      yield* TestClock.adjust("1 millis")
      const { consumer, result } = yield* Fiber.join(run)
      const timedOut = timeoutOf(result)
      assert.strictEqual(timedOut?.scope, "idle")
      assert.strictEqual(timedOut?.elapsedMs, 60_000)
      assert.deepStrictEqual(a.events, ["part a1", "aborted", "ended Timeout"])
      assert.deepStrictEqual([...a.readers], [consumer])
    }))

  it.effect("first part: the opening and the wait for the first part count; Timeout attempt after the abort", () =>
    Effect.gen(function*() {
      const a = yield* abortable({ registers: true })
      const run = yield* Effect.forkChild(bounded(a.stream, a.events))
      yield* TestClock.adjust("9999 millis")
      assert.isUndefined(run.pollUnsafe())
      yield* TestClock.adjust("1 millis")
      const timedOut = timeoutOf((yield* Fiber.join(run)).result)
      assert.strictEqual(timedOut?.scope, "attempt")
      assert.strictEqual(timedOut?.elapsedMs, 10_000)
      assert.strictEqual(timedOut?.attempts, 1)
      assert.deepStrictEqual(a.events, ["aborted", "ended Timeout"])
    }))

  it.effect("the consumer's time between reads does not count: parts 2 minutes apart, each read answered at once", () =>
    Effect.gen(function*() {
      const a = yield* abortable({ registers: true })
      yield* Queue.offerAll(a.queue, ["a1", "a2", "a3"])
      yield* Queue.end(a.queue)
      const run = yield* Effect.forkChild(bounded(a.stream, a.events, "2 minutes"))
      yield* TestClock.adjust("10 minutes")
      const { result } = yield* Fiber.join(run)
      assert.strictEqual(result._tag, "Success")
      assert.deepStrictEqual(a.events, ["part a1", "part a2", "part a3", "ended ok"])
      // Nothing left on the timers to fire later.
      yield* TestClock.adjust("10 minutes")
      assert.deepStrictEqual(a.events, ["part a1", "part a2", "part a3", "ended ok"])
    }))

  it.effect("a stream below that fails by itself fails with its own error; one the consumer stops early leaves no wait to fire", () =>
    Effect.gen(function*() {
      const a = yield* abortable({ registers: true })
      yield* Queue.offer(a.queue, "a1")
      yield* Queue.fail(a.queue, LlmError.make("p", new LlmError.ServerError({ description: "boom", status: 500 })))
      const { result } = yield* bounded(a.stream, a.events)
      assert.strictEqual(result._tag === "Failure" && result.failure.reason._tag, "ServerError")
      const b = yield* abortable({ registers: true })
      yield* Queue.offer(b.queue, "b1")
      const taken = yield* Stream.runCollect(
        Stream.take(Timeout.stream(b.stream, { firstPartMs: 1_000, idleMs: 1_000, attempt: () => 1, subject }), 1)
      )
      assert.deepStrictEqual(taken, ["b1"])
      yield* TestClock.adjust("1 minute")
      assert.deepStrictEqual(b.events, [])
    }))

  it.effect("a stream that registers no abort is read by a fiber of the timeouts' own, as before", () =>
    Effect.gen(function*() {
      const a = yield* abortable({ registers: false })
      const run = yield* Effect.forkChild(bounded(a.stream, a.events))
      yield* Queue.offer(a.queue, "a1")
      yield* TestClock.adjust("1 minute")
      const { consumer, result } = yield* Fiber.join(run)
      assert.strictEqual(timeoutOf(result)?.scope, "idle")
      assert.deepStrictEqual(a.events, ["part a1", "ended Timeout"])
      assert.strictEqual(a.readers.size, 1)
      assert.isFalse(a.readers.has(consumer))
    }))
})
