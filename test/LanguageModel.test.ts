import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Exit, Layer, Stream, Tracer } from "effect"
import * as BudgetLanguageModel from "../src/budget/BudgetLanguageModel.ts"
import * as BudgetTracker from "../src/budget/BudgetTracker.ts"
import * as LanguageModel from "../src/LanguageModel.ts"
import * as LlmError from "../src/LlmError.ts"
import type { LlmRequest } from "../src/LlmRequest.ts"
import type { LlmResponse } from "../src/LlmResponse.ts"
import * as Message from "../src/Message.ts"
import * as Observability from "../src/observability/Observability.ts"
import * as PiiGuard from "../src/pii/PiiGuard.ts"
import * as MockFault from "../src/providers/mock/MockFault.ts"
import * as MockLanguageModel from "../src/providers/mock/MockLanguageModel.ts"
import * as ProviderRegistry from "../src/ProviderRegistry.ts"
import * as CircuitBreaker from "../src/resilience/CircuitBreaker.ts"
import * as Fallback from "../src/resilience/Fallback.ts"
import * as StreamPart from "../src/StreamPart.ts"
import * as Usage from "../src/Usage.ts"

const hi: LlmRequest = { messages: [{ role: "user", content: "hi" }] }

const response = (content: string, extra: Partial<LlmResponse> = {}): LlmResponse => ({
  content,
  model: "m-1",
  provider: "p",
  usage: Usage.make({ inputTokens: 3, outputTokens: 2 }),
  finishReason: "stop",
  latencyMs: 0,
  ...extra
})

const textOf = (parts: ReadonlyArray<StreamPart.StreamPart>) =>
  parts.map((part) => (part.type === "text-delta" ? part.text : "")).join("")

const finishOf = (parts: ReadonlyArray<StreamPart.StreamPart>) => {
  const last = parts.at(-1)
  return last?.type === "finish" ? last.response : undefined
}

const faults = (script: string) => {
  const parsed = MockFault.parseScript(script)
  if (parsed._tag === "Failure") throw new Error(parsed.failure)
  return parsed.success
}

describe("LanguageModel.make", () => {
  it.effect("derives a stream from generate: the text as one delta, then the finish part with the response", () =>
    Effect.gen(function*() {
      const model = LanguageModel.make({ provider: "p", defaultModel: "m-1", generate: () => Effect.succeed(response("hello")) })
      const parts = yield* Stream.runCollect(model.stream(hi))
      assert.deepStrictEqual(parts.map((part) => part.type), ["text-delta", "finish"])
      assert.strictEqual(textOf(parts), "hello")
      assert.strictEqual(finishOf(parts)?.content, "hello")
      const empty = LanguageModel.make({ provider: "p", defaultModel: "m-1", generate: () => Effect.succeed(response("")) })
      assert.deepStrictEqual((yield* Stream.runCollect(empty.stream(hi))).map((part) => part.type), ["finish"])
    }))

  it.effect("a tool call in a response becomes a tool-call delta of the derived stream", () =>
    Effect.gen(function*() {
      const withCall = response("", {
        parts: [{ type: "tool-call", id: "call-1", name: "weather", params: { city: "Oslo" } }],
        finishReason: "tool-calls"
      })
      const parts = StreamPart.fromResponse(withCall)
      assert.deepStrictEqual(parts[0], {
        type: "tool-call-delta",
        index: 0,
        id: "call-1",
        name: "weather",
        argumentsDelta: "{\"city\":\"Oslo\"}"
      })
      assert.strictEqual(parts.at(-1)?.type, "finish")
    }))
})

describe("LanguageModel.layerWrap", () => {
  // A wrapper layer is a constant (e.g. Concurrency.layer): memoized by reference, a second
  // stack built with it inside a program given the first would get the first stack's model.
  it.effect("builds the wrapper anew around each model it wraps (no model taken from another stack)", () =>
    Effect.gen(function*() {
      const passThrough = LanguageModel.layerWrap((inner) => Effect.succeed(inner))
      const stackA = Layer.provide(passThrough, MockLanguageModel.layer({ reply: "from A" }))
      const stackB = Layer.provide(passThrough, MockLanguageModel.layer({ reply: "from B" }))
      const replies = yield* Effect.gen(function*() {
        const a = yield* LanguageModel.generate("x")
        const built = yield* Layer.build(stackB)
        const b = yield* Context.get(built, LanguageModel.LanguageModel).generate({ messages: Message.fromPrompt("x") })
        return [a.content, b.content]
      }).pipe(Effect.provide(stackA))
      assert.deepStrictEqual(replies, ["from A", "from B"])
    }))
})

describe("LanguageModel.wrap", () => {
  it.effect("a request hook rewrites the request of both paths", () =>
    Effect.gen(function*() {
      const { control, model } = yield* MockLanguageModel.make({ reply: "echo" })
      const wrapped = LanguageModel.wrap(model, { request: (request) => ({ ...request, system: "be brief" }) })
      yield* wrapped.generate(hi)
      yield* Stream.runDrain(wrapped.stream(hi))
      assert.deepStrictEqual((yield* control.calls).map((request) => request.system), ["be brief", "be brief"])
    }))

  it.effect("a failing request hook fails both paths and nothing is sent", () =>
    Effect.gen(function*() {
      const { control, model } = yield* MockLanguageModel.make()
      const refusal = LlmError.make("guard", new LlmError.InvalidRequest({ description: "no" }))
      const wrapped = LanguageModel.wrap(model, { request: () => Effect.fail(refusal) })
      assert.strictEqual(yield* Effect.flip(wrapped.generate(hi)), refusal)
      assert.strictEqual(yield* Effect.flip(Stream.runDrain(wrapped.stream(hi))), refusal)
      assert.deepStrictEqual(yield* control.calls, [])
    }))

  it.effect("keeps the inner service's provider, model and candidates unless overridden", () =>
    Effect.gen(function*() {
      const inner = LanguageModel.make({
        provider: "p",
        defaultModel: "m-1",
        generate: () => Effect.succeed(response("x")),
        candidates: [{ provider: "p", model: "m-1" }, { provider: "q", model: "m-2" }]
      })
      const wrapped = LanguageModel.wrap(inner, { generate: "unchanged", stream: "unchanged" }, { defaultModel: "m-9" })
      assert.strictEqual(wrapped.provider, "p")
      assert.strictEqual(wrapped.defaultModel, "m-9")
      assert.deepStrictEqual(wrapped.candidates, inner.candidates)
    }))
})

describe("every wrapper handles streams", () => {
  it.effect("PiiGuard: a streamed prompt is redacted, or blocked before it is sent", () =>
    Effect.gen(function*() {
      const { control, model } = yield* MockLanguageModel.make({ reply: "echo" })
      const request: LlmRequest = { messages: [{ role: "user", content: "mail ada@example.com" }] }
      const redacted = yield* Stream.runCollect(PiiGuard.wrap(model, { mode: "redact" }).stream(request))
      assert.strictEqual(textOf(redacted), "mail [REDACTED:email]")
      const blocked = yield* Effect.flip(Stream.runDrain(PiiGuard.wrap(model, { mode: "block" }).stream(request)))
      assert.strictEqual(blocked.reason._tag, "InvalidRequest")
      assert.strictEqual((yield* control.calls).length, 1)
    }))

  it.effect("PiiGuard scans text inside content parts too", () =>
    Effect.gen(function*() {
      const { model } = yield* MockLanguageModel.make({ reply: "echo" })
      const request: LlmRequest = {
        messages: [{ role: "user", content: [{ type: "text", text: "call +1 415 555 0100 " }, { type: "text", text: "now" }] }]
      }
      const blocked = yield* Effect.flip(PiiGuard.wrap(model, { mode: "block" }).generate(request))
      assert.include(blocked.message, "phone")
      const redacted = PiiGuard.redactRequest(request)
      assert.strictEqual(Message.text(redacted.messages[0]!), "call [REDACTED:phone] now")
    }))

  it.effect("the registry's default model and system prompt apply to streams", () =>
    Effect.gen(function*() {
      const registry = yield* ProviderRegistry.make([MockLanguageModel.provider])
      const model = yield* registry.create({ provider: "mock", model: "mock-big", systemPrompt: "You are terse." })
      const parts = yield* Stream.runCollect(model.stream(hi))
      assert.strictEqual(finishOf(parts)?.model, "mock-big")
      assert.strictEqual(model.defaultModel, "mock-big")
    }))

  it.effect("Fallback: a stream that fails before its first part moves on; after a part it fails (no text twice)", () =>
    Effect.gen(function*() {
      const first = yield* MockLanguageModel.make({ reply: "from a", faults: faults("500") })
      const second = yield* MockLanguageModel.make({ reply: "from b" })
      const chain = Fallback.make([{ service: first.model, name: "a" }, { service: second.model, name: "b" }])
      const parts = yield* Stream.runCollect(chain.stream(hi))
      assert.strictEqual(textOf(parts), "from b")
      assert.deepStrictEqual(Fallback.servedBy(finishOf(parts)!), { candidate: "b", index: 1, failed: [{ candidate: "a", reason: "ServerError" }] })
      // A candidate that fails after its first part: the error reaches the caller, b is not tried.
      const broken = LanguageModel.make({
        provider: "a",
        defaultModel: "a-1",
        generate: () => Effect.die("not used"),
        stream: () =>
          Stream.concat(
            Stream.make(StreamPart.textDelta("partial")),
            Stream.fail(LlmError.make("a", new LlmError.Network({ description: "reset" })))
          )
      })
      const seen: Array<StreamPart.StreamPart> = []
      const cut = Fallback.make([{ service: broken }, { service: second.model }])
      const error = yield* Effect.flip(Stream.runForEach(cut.stream(hi), (part) => Effect.sync(() => seen.push(part))))
      assert.strictEqual(error.reason._tag, "Network")
      assert.strictEqual(textOf(seen), "partial")
      assert.strictEqual((yield* second.control.calls).length, 1)
    }))

  it.effect("CircuitBreaker: failed streams open the circuit; an open circuit refuses a stream before it opens", () =>
    Effect.gen(function*() {
      const { control, model } = yield* MockLanguageModel.make({ faults: faults("500,500") })
      const guarded = yield* CircuitBreaker.make(model, { failures: 2, cooldownMs: 10_000 })
      for (let index = 0; index < 2; index++) {
        assert.strictEqual((yield* Effect.flip(Stream.runDrain(guarded.stream(hi)))).reason._tag, "ServerError")
      }
      const refused = yield* Effect.flip(Stream.runDrain(guarded.stream(hi)))
      assert.strictEqual(refused.reason._tag, "CircuitOpen")
      assert.strictEqual((yield* control.calls).length, 2)
      assert.strictEqual((yield* Effect.flip(guarded.generate(hi))).reason._tag, "CircuitOpen")
    }).pipe(Effect.provide(CircuitBreaker.layerStoreMemory)))

  it.effect("CircuitBreaker: a stream the consumer stops early does not count as a failure", () =>
    Effect.gen(function*() {
      const { model } = yield* MockLanguageModel.make({ reply: "a b c" })
      const guarded = yield* CircuitBreaker.make(model, { failures: 1, cooldownMs: 10_000 })
      yield* Stream.runDrain(Stream.take(guarded.stream(hi), 1))
      yield* Stream.runDrain(Stream.take(guarded.stream(hi), 1))
      assert.strictEqual(yield* CircuitBreaker.state({ provider: "mock", model: "mock-1" }), "Closed")
    }).pipe(Effect.provide(CircuitBreaker.layerStoreMemory)))

  it.effect("per-attempt spans: a streamed attempt gets its span too", () =>
    Effect.gen(function*() {
      const spans: Array<Tracer.Span> = []
      const tracer = Tracer.make({
        span: (options) => {
          const span = new Tracer.NativeSpan(options)
          spans.push(span)
          return span
        }
      })
      const stack = Observability.layerAttempts.pipe(Layer.provide(MockLanguageModel.layer()))
      yield* Stream.runDrain(LanguageModel.stream("hi")).pipe(Effect.provide(stack), Effect.withTracer(tracer))
      assert.deepStrictEqual(spans.map((span) => span.name), ["attempt mock-1"])
    }))
})

describe("budgets and streams", () => {
  it.effect("without a tracker the budget layer passes calls through, and enforces a budget set on the fiber", () =>
    Effect.gen(function*() {
      const { control, model } = yield* MockLanguageModel.make({ reply: "a reply of several tokens" })
      const budgeted = BudgetLanguageModel.wrap(undefined)(model)
      yield* budgeted.generate(hi)
      assert.isUndefined((yield* control.calls)[0]!.maxTokens)
      const tracker = yield* BudgetTracker.make({ totalTokens: 12 })
      const error = yield* Effect.flip(budgeted.generate({ ...hi, maxTokens: 50 }).pipe(BudgetTracker.withTracker(tracker)))
      assert.strictEqual(error.reason._tag, "BudgetExceeded")
      yield* Stream.runDrain(budgeted.stream({ ...hi, maxTokens: 2 })).pipe(BudgetTracker.withTracker(tracker))
      assert.isAbove((yield* tracker.snapshot).consumed.totalTokens, 0)
    }))

  it.effect("a stream stopped early is charged what it streamed, not released", () =>
    Effect.gen(function*() {
      const tracker = yield* BudgetTracker.make({ totalTokens: 10_000 })
      const words = LanguageModel.make({
        provider: "mock",
        defaultModel: "mock-1",
        generate: () => Effect.die("not used"),
        stream: () =>
          Stream.make(
            StreamPart.textDelta("one two three "),
            StreamPart.textDelta("four five six "),
            StreamPart.finish(response("one two three four five six ", { provider: "mock", model: "mock-1" }))
          )
      })
      const model = BudgetLanguageModel.wrap(tracker)(words)
      const taken = yield* Stream.runCollect(Stream.take(model.stream({ ...hi, maxTokens: 100 }), 1))
      assert.strictEqual(textOf(taken), "one two three ")
      const snapshot = yield* tracker.snapshot
      assert.deepStrictEqual([snapshot.reserved.totalTokens, snapshot.openReservations], [0, 0])
      assert.isAbove(snapshot.consumed.outputTokens, 0)
      assert.isAbove(snapshot.consumed.inputTokens, 0)
    }))

  it.effect("a stream that fails before any part is released (nothing was streamed)", () =>
    Effect.gen(function*() {
      const tracker = yield* BudgetTracker.make({ totalTokens: 10_000 })
      const { model } = yield* MockLanguageModel.make({ faults: faults("500") })
      const exit = yield* Effect.exit(Stream.runDrain(BudgetLanguageModel.wrap(tracker)(model).stream(hi)))
      assert.isTrue(Exit.isFailure(exit))
      const snapshot = yield* tracker.snapshot
      assert.deepStrictEqual([snapshot.consumed.totalTokens, snapshot.reserved.totalTokens, snapshot.openReservations], [0, 0, 0])
    }))
})
