/**
 * The output cap held mid-stream: a provider that ignores max_tokens is cut off locally, in the
 * stack `Stack` builds, with or without a budget: the request is aborted (the fake server sees the
 * socket close), the text so far is kept, the usage committed and recorded, and the stream fails
 * with `BudgetExceeded` (outputTokens, overshoot at most one delta).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Stream } from "effect"
import * as OutputCap from "../../src/budget/OutputCap.ts"
import * as LanguageModel from "../../src/LanguageModel.ts"
import * as LlmError from "../../src/LlmError.ts"
import * as LlmRequest from "../../src/LlmRequest.ts"
import * as ModelFactory from "../../src/ModelFactory.ts"
import * as NodeProviders from "../../src/node/NodeProviders.ts"
import * as UsageLedger from "../../src/observability/UsageLedger.ts"
import * as Stack from "../../src/Stack.ts"
import * as StreamPart from "../../src/StreamPart.ts"
import * as Tokenizer from "../../src/Tokenizer.ts"
import * as Fake from "../providers/openai/FakeOpenAiServer.ts"
import { partsThenError, textOf } from "../providers/openai/streamingSuite.ts"

// 300 one-token deltas, then the server keeps the response open: a provider that ignores max_tokens.
const WORDS = Array.from({ length: 300 }, () => " word")
const ignoresMaxTokens = () =>
  Fake.sse([Fake.data(Fake.chunk({ delta: { role: "assistant", content: "" } })), ...WORDS.map((text) => Fake.data(Fake.chunk({ delta: { content: text } })))], {
    then: "hang"
  })

const stackOf = (origin: string, extra: Partial<Stack.StackConfig> = {}) =>
  Stack.layerFactory({
    provider: { provider: "openai-compatible", baseUrl: `${origin}/v1`, model: "local-1" },
    ...extra
  }).pipe(Layer.provide(NodeProviders.layer), Layer.provideMerge(UsageLedger.layerMemory()))

const cutOff = (error: LlmError.LlmError) => {
  assert.strictEqual(error.reason._tag, "BudgetExceeded")
  if (error.reason._tag !== "BudgetExceeded") throw new Error("not a cut-off")
  return error.reason
}

describe("OutputCap: a stream past its output cap is cut off locally", () => {
  it.live("without a budget: maxTokens 10 against a server that ignores it: aborted, text kept, BudgetExceeded with the overshoot", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.start(ignoresMaxTokens)
      yield* Effect.gen(function*() {
        const model = yield* LanguageModel.LanguageModel
        const { error, parts } = yield* partsThenError(model.stream(LlmRequest.make({ prompt: "talk forever", maxTokens: 10 })))
        const reason = cutOff(error)
        const text = textOf(parts)
        assert.strictEqual(text, " word".repeat(11)) // the 11th delta passed the cap: passed on, then the cut
        assert.isFalse(parts.some(StreamPart.isFinish))
        assert.strictEqual(reason.dimension, "outputTokens")
        assert.strictEqual(reason.limit, 10)
        assert.strictEqual(reason.consumed, Tokenizer.countText(text))
        assert.strictEqual(reason.overshoot, 1) // at most one delta
        assert.include(error.message, "max_tokens")
        assert.strictEqual((fake.requests[0]!.body as Record<string, unknown>).max_tokens, 10)
        // The upstream request was aborted: the server saw its client close the socket.
        yield* fake.abandoned
        // The ledger row says what was streamed (estimated), and the cut-off.
        const [row] = yield* (yield* UsageLedger.UsageLedger).entries()
        assert.strictEqual(row!.outcome, "BudgetExceeded")
        assert.strictEqual(row!.outputTokens, Tokenizer.countText(text))
        assert.isTrue(row!.estimated)
      }).pipe(Effect.provide(stackOf(fake.origin)))
    }))

  it.live("under a budget, with the cap derived from it: the usage streamed is committed, nothing left reserved, overshoot one delta", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.start(ignoresMaxTokens)
      yield* Effect.gen(function*() {
        const factory = yield* ModelFactory.ModelFactory
        const request = LlmRequest.make({ prompt: "talk forever" })
        const { error, parts } = yield* partsThenError(factory.model.stream(request))
        const reason = cutOff(error)
        const sentCap = (fake.requests[0]!.body as Record<string, unknown>).max_tokens
        assert.strictEqual(sentCap, 20) // the budget's defaultMaxTokens, sent as max_tokens
        assert.strictEqual(reason.limit, 20)
        assert.strictEqual(reason.overshoot, 1)
        yield* fake.abandoned
        const snapshot = yield* factory.budget!.snapshot
        assert.strictEqual(snapshot.openReservations, 0)
        assert.strictEqual(snapshot.consumed.outputTokens, Tokenizer.countText(textOf(parts)))
        assert.strictEqual(snapshot.consumed.outputTokens, 21)
        // The tracker records the overshoot against the reservation.
        assert.strictEqual(snapshot.overshoots.length, 1)
        // The ledger row holds what the budget charged.
        const [row] = yield* (yield* UsageLedger.UsageLedger).entries()
        assert.strictEqual(row!.outcome, "BudgetExceeded")
        assert.strictEqual(row!.attempts, 1)
        assert.strictEqual(row!.outputTokens, 21)
        assert.strictEqual(row!.inputTokens, snapshot.consumed.inputTokens)
      }).pipe(Effect.provide(stackOf(fake.origin, { budget: { budget: { outputTokens: 1000 }, defaultMaxTokens: 20 } })))
    }))

  it.live("a stream that stops at its cap is not cut, even when its deltas split words (the whole text is counted)", () =>
    Effect.gen(function*() {
      const texts = ["Hel", "lo, ", "wor", "ld"]
      const cap = Tokenizer.countText(texts.join(""))
      assert.isTrue(texts.reduce((sum, text) => sum + Tokenizer.countText(text), 0) > cap)
      const fake = yield* Fake.start(() => Fake.sse(Fake.textStream({ texts, finishReason: "length" })))
      const parts = yield* Effect.gen(function*() {
        const model = yield* LanguageModel.LanguageModel
        return yield* Stream.runCollect(model.stream(LlmRequest.make({ prompt: "hi", maxTokens: cap })))
      }).pipe(Effect.provide(stackOf(fake.origin)))
      const last = parts.at(-1)
      assert.strictEqual(last?.type, "finish")
      assert.strictEqual(textOf(parts), "Hello, world")
    }))
})

describe("OutputCap.guard", () => {
  it.effect("passes a stream without a cap through; counts tool-call fragments too", () =>
    Effect.gen(function*() {
      const parts: ReadonlyArray<StreamPart.StreamPart> = [
        { type: "tool-call-delta", index: 0, id: "c1", name: "lookup", argumentsDelta: "{\"q\": \"one two three four five six\"}" },
        StreamPart.textDelta(" more")
      ]
      const through = yield* Stream.runCollect(OutputCap.guard(Stream.fromIterable(parts), undefined, "p", "m"))
      assert.deepStrictEqual(through, parts)
      const error = yield* Effect.flip(Stream.runDrain(OutputCap.guard(Stream.fromIterable(parts), 3, "p", "m")))
      const reason = cutOff(error)
      assert.strictEqual(reason.limit, 3)
      assert.strictEqual(reason.consumed, Tokenizer.countText("lookup{\"q\": \"one two three four five six\"}"))
    }))

  it.effect("a chunk whose middle part passes the cap goes out up to that part; nothing after it is read", () =>
    Effect.gen(function*() {
      let pulls = 0
      // One chunk of five one-word deltas (as one socket read brings them), then a chunk never read.
      const words = [" one", " two", " three", " four", " five"].map((word) => StreamPart.textDelta(word))
      const upstream = Stream.concat(
        Stream.fromArray(words),
        Stream.fromEffect(Effect.sync(() => {
          pulls += 1
          return StreamPart.textDelta(" six")
        }))
      )
      const seen: Array<StreamPart.StreamPart> = []
      const error = yield* Effect.flip(Stream.runForEach(OutputCap.guard(upstream, 2, "p", "m"), (part) => Effect.sync(() => void seen.push(part))))
      assert.deepStrictEqual(seen, words.slice(0, 3))
      assert.strictEqual(pulls, 0)
      const reason = cutOff(error)
      assert.strictEqual(reason.limit, 2)
      assert.strictEqual(reason.consumed, Tokenizer.countText(" one two three"))
    }))
})
