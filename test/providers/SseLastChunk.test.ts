/**
 * The SSE adapters' last chunk (issue 14, stop 29): once the answer is whole (`data: [DONE]`, or
 * Anthropic's `message_stop`) the last deltas and the finish part go out as one chunk, and the end
 * of the body is read on the next pull, before the stream ends: the connection is kept and nothing
 * is aborted. A server that keeps the body open after the end of the answer delays nothing: every
 * part arrives at once, and the stream ends when the body ends, or at the stack's idle timeout.
 * The adapter's own timeout bounds a stream's opening without a fiber of its own: it aborts the
 * request (the server sees the socket close) and the stream fails with `Timeout`.
 * Fakes on 127.0.0.1:0, real undici client.
 */
import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Deferred, type Duration, Effect, Exit, Fiber, Layer, Redacted, Stream } from "effect"
import type * as LlmError from "../../src/LlmError.ts"
import * as LlmRequest from "../../src/LlmRequest.ts"
import * as ModelFactory from "../../src/ModelFactory.ts"
import * as NodeProviders from "../../src/node/NodeProviders.ts"
import * as UsageLedger from "../../src/observability/UsageLedger.ts"
import * as AnthropicLanguageModel from "../../src/providers/anthropic/AnthropicLanguageModel.ts"
import * as OpenAiCompatibleLanguageModel from "../../src/providers/openai-compatible/OpenAiCompatibleLanguageModel.ts"
import * as Stack from "../../src/Stack.ts"
import type * as StreamPart from "../../src/StreamPart.ts"
import * as FakeAnthropic from "./anthropic/FakeAnthropicServer.ts"
import * as Fake from "./openai/FakeOpenAiServer.ts"

const openAiModel = (origin: string, timeout?: Duration.Input) =>
  OpenAiCompatibleLanguageModel.make({ baseUrl: `${origin}/v1`, defaultModel: "local-1", ...(timeout !== undefined ? { timeout } : {}) })
const anthropicModel = (origin: string, timeout?: Duration.Input) =>
  AnthropicLanguageModel.make({ apiKey: Redacted.make(FakeAnthropic.KEY), baseUrl: origin, ...(timeout !== undefined ? { timeout } : {}) })

/** The stream's failure, with the parts it emitted before. */
const failureOf = (stream: Stream.Stream<StreamPart.StreamPart, LlmError.LlmError>) =>
  Effect.gen(function*() {
    const parts: Array<StreamPart.StreamPart> = []
    const error = yield* Effect.flip(Stream.runForEach(stream, (part) => Effect.sync(() => void parts.push(part))))
    return { parts, error }
  })

const request = LlmRequest.make({ prompt: "hi", maxTokens: 50 })

const deltas = (texts: ReadonlyArray<string>): Array<StreamPart.StreamPart> => texts.map((text) => ({ type: "text-delta", text }))

/** The stream's chunks as the consumer pulls them. */
const chunksOf = (stream: Stream.Stream<StreamPart.StreamPart, LlmError.LlmError>) =>
  Effect.map(Stream.runCollect(Stream.chunks(stream)), (chunks) => chunks.map((chunk) => [...chunk]))

/** Runs a stream in a fiber, keeping its parts; `finished` completes when the finish part arrives. */
const started = (stream: Stream.Stream<StreamPart.StreamPart, LlmError.LlmError>) =>
  Effect.gen(function*() {
    const parts: Array<StreamPart.StreamPart> = []
    const finished = yield* Deferred.make<void>()
    const fiber = yield* Effect.forkChild(Effect.exit(Stream.runForEach(stream, (part) => {
      parts.push(part)
      return part.type === "finish" ? Deferred.succeed(finished, undefined) : Effect.void
    })))
    return { parts, fiber, finished: Deferred.await(finished).pipe(Effect.timeout("20 seconds")) }
  })

const typesOf = (parts: ReadonlyArray<StreamPart.StreamPart>) => parts.map((part) => part.type)

describe("openai-compatible: the last chunk", () => {
  // The role and the first deltas one write each; the last delta, the finish_reason, the usage
  // and [DONE] in one write (one read for the client).
  const [role, hel, lo, world, finish, usage, done] = Fake.textStream()
  const lastWrite = [world, finish, usage, done].join("")

  it.live("the last delta and the finish part arrive in one chunk; the body's end is read before the stream ends (connection kept, nothing aborted)", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.start(() => Fake.sse([role!, hel!, lo!, lastWrite], { pauseMs: 5 }))
      const model = yield* openAiModel(fake.origin)
      for (let call = 0; call < 3; call++) {
        const chunks = yield* chunksOf(model.stream(request))
        const last = chunks.at(-1)!
        assert.deepStrictEqual(typesOf(last), ["text-delta", "finish"])
        assert.deepStrictEqual(last[0], { type: "text-delta", text: "world" })
        const parts = chunks.flat()
        assert.deepStrictEqual(parts.slice(0, -1), deltas(["Hel", "lo, ", "world"]))
        const response = (last[1] as StreamPart.Finish).response
        assert.strictEqual(response.content, "Hello, world")
        assert.strictEqual(response.usage.outputTokens, 7)
        assert.isUndefined(response.usage.estimated)
      }
      assert.isAtMost(yield* fake.connections, 2)
      assert.strictEqual(yield* fake.abandonedTotal, 0)
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.live("a server that keeps the body open after [DONE]: every part arrives at once; the stream ends when the body ends, nothing aborted", () =>
    Effect.gen(function*() {
      let release!: () => void
      const until = new Promise<void>((resolve) => {
        release = resolve
      })
      const written = [role!, hel!, lo!, lastWrite]
      // The end of the body (after a comment line, counted, not parsed) is held until released.
      const fake = yield* Fake.start(() => Fake.sse([...written, ": after the end\n\n"], { hold: { afterChunks: written.length, until } }))
      const { parts, fiber, finished } = yield* started((yield* openAiModel(fake.origin)).stream(request))
      yield* finished
      assert.deepStrictEqual(typesOf(parts), ["text-delta", "text-delta", "text-delta", "finish"])
      assert.strictEqual((parts[3] as StreamPart.Finish).response.content, "Hello, world")
      // The body is still open: the stream waits for its end.
      assert.strictEqual(yield* fake.chunksWritten, written.length)
      assert.isUndefined(fiber.pollUnsafe())
      release()
      const exit = yield* Fiber.join(fiber)
      assert.isTrue(Exit.isSuccess(exit))
      assert.strictEqual(parts.length, 4)
      assert.strictEqual(yield* fake.abandonedTotal, 0)
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.live("through the stack, a body held open after [DONE]: the parts and the finish at once, then the idle timeout ends the stream (the server sees the socket close); the usage sent is what is committed", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.start(() => Fake.sse([role!, hel!, lo!, lastWrite], { then: "hang" }))
      yield* Effect.gen(function*() {
        const factory = yield* ModelFactory.ModelFactory
        const { parts, fiber, finished } = yield* started(factory.model.stream(request))
        yield* finished
        assert.deepStrictEqual(typesOf(parts), ["text-delta", "text-delta", "text-delta", "finish"])
        yield* fake.abandoned.pipe(Effect.timeout("20 seconds"))
        const exit = yield* Fiber.join(fiber)
        assert.isTrue(Exit.isFailure(exit))
        const error = Exit.isFailure(exit) ? Exit.findErrorOption(exit) : undefined
        assert.strictEqual(error?._tag === "Some" ? error.value.reason._tag : undefined, "Timeout")
        assert.strictEqual(parts.length, 4)
        assert.strictEqual(fake.requests.length, 1)
        const snapshot = yield* factory.budget!.snapshot
        assert.strictEqual(snapshot.openReservations, 0)
        assert.strictEqual(snapshot.consumed.outputTokens, 7) // the provider's usage, not an estimate
      }).pipe(Effect.provide(
        Stack.layerFactory({
          provider: { provider: "openai-compatible", baseUrl: `${fake.origin}/v1`, model: "local-1" },
          budget: { budget: { totalTokens: 10_000 } },
          resilience: { streamIdleTimeout: "300ms", retry: { maxRetries: 2, baseDelay: "10ms", jitter: false } }
        }).pipe(Layer.provide(NodeProviders.layer), Layer.provideMerge(UsageLedger.layerMemory()))
      ))
    }), 60_000)
})

describe("anthropic: the last chunk", () => {
  const events = FakeAnthropic.textStream()
  // message_start ... the first two deltas one write each; the last delta, content_block_stop,
  // message_delta and message_stop in one write.
  const head = events.slice(0, 5)
  const lastWrite = events.slice(5).join("")

  it.live("the last delta and the finish part arrive in one chunk; the body's end is read before the stream ends (connection kept, nothing aborted)", () =>
    Effect.gen(function*() {
      const fake = yield* FakeAnthropic.start(() => FakeAnthropic.sse([...head, lastWrite], { pauseMs: 5 }))
      const model = yield* anthropicModel(fake.origin)
      for (let call = 0; call < 3; call++) {
        const chunks = yield* chunksOf(model.stream(request))
        const last = chunks.at(-1)!
        assert.deepStrictEqual(typesOf(last), ["text-delta", "finish"])
        assert.deepStrictEqual(last[0], { type: "text-delta", text: "world" })
        assert.deepStrictEqual(chunks.flat().slice(0, -1), deltas(["Hel", "lo, ", "world"]))
        assert.strictEqual((last[1] as StreamPart.Finish).response.content, "Hello, world")
      }
      assert.isAtMost(yield* fake.connections, 2)
      assert.strictEqual(yield* fake.abandonedTotal, 0)
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.live("a server that keeps the body open after message_stop: every part arrives at once; the stream ends when the body ends, nothing aborted", () =>
    Effect.gen(function*() {
      let release!: () => void
      const until = new Promise<void>((resolve) => {
        release = resolve
      })
      const written = [...head, lastWrite]
      const fake = yield* FakeAnthropic.start(() =>
        FakeAnthropic.sse([...written, ": after the end\n\n"], { hold: { afterChunks: written.length, until } })
      )
      const { parts, fiber, finished } = yield* started((yield* anthropicModel(fake.origin)).stream(request))
      yield* finished
      assert.deepStrictEqual(typesOf(parts), ["text-delta", "text-delta", "text-delta", "finish"])
      assert.strictEqual(yield* fake.chunksWritten, written.length)
      assert.isUndefined(fiber.pollUnsafe())
      release()
      assert.isTrue(Exit.isSuccess(yield* Fiber.join(fiber)))
      assert.strictEqual(parts.length, 4)
      assert.strictEqual(yield* fake.abandonedTotal, 0)
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

})

describe("the adapters' opening timeout (no fiber of its own)", () => {
  it.live("openai-compatible: a server that never sends its headers: Timeout (retryable) at the timeout, the request aborted; a server that answers in time is read whole", () =>
    Effect.gen(function*() {
      let hang = true
      const fake = yield* Fake.start(() => (hang ? { _tag: "Hang" } : Fake.sse(Fake.textStream())))
      const model = yield* openAiModel(fake.origin, "300 millis")
      const startedAt = Date.now()
      const { error, parts } = yield* failureOf(model.stream(request))
      assert.strictEqual(error.reason._tag, "Timeout")
      assert.isTrue(error.isRetryable)
      assert.isAtLeast(Date.now() - startedAt, 250)
      assert.deepStrictEqual(parts, [])
      yield* fake.abandoned.pipe(Effect.timeout("10 seconds"))
      assert.strictEqual(yield* fake.abandonedTotal, 1)
      // Within the timeout: the same stream, whole, and its deadline gone with its opening.
      hang = false
      for (let call = 0; call < 3; call++) {
        const chunks = yield* chunksOf(model.stream(request))
        assert.strictEqual(chunks.flat().at(-1)?.type, "finish")
      }
      yield* Effect.sleep("400 millis")
      assert.strictEqual(yield* fake.abandonedTotal, 1)
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)), 60_000)

  it.live("anthropic: a server that never sends its headers: Timeout at the timeout, the request aborted", () =>
    Effect.gen(function*() {
      const fake = yield* FakeAnthropic.start(() => ({ _tag: "Hang" }))
      const { error, parts } = yield* failureOf((yield* anthropicModel(fake.origin, "300 millis")).stream(request))
      assert.strictEqual(error.reason._tag, "Timeout")
      assert.deepStrictEqual(parts, [])
      yield* fake.abandoned.pipe(Effect.timeout("10 seconds"))
      assert.strictEqual(yield* fake.abandonedTotal, 1)
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)), 60_000)
})
