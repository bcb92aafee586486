import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Logger, Stream } from "effect"
import * as BudgetLanguageModel from "../../src/budget/BudgetLanguageModel.ts"
import * as BudgetTracker from "../../src/budget/BudgetTracker.ts"
import * as LanguageModel from "../../src/LanguageModel.ts"
import * as ModelFactory from "../../src/ModelFactory.ts"
import * as ProviderRegistry from "../../src/ProviderRegistry.ts"
import * as Stack from "../../src/Stack.ts"
import * as StreamPart from "../../src/StreamPart.ts"
import * as Usage from "../../src/Usage.ts"

// A provider that streams a short answer and reports more output than it was allowed (150 tokens
// against a cap of 50): the budget commits the truth and logs the overshoot.
const overspending = (provider: string): LanguageModel.Service =>
  LanguageModel.make({
    provider,
    defaultModel: "over-1",
    generate: () => Effect.die("streams only"),
    stream: () =>
      Stream.make(
        StreamPart.textDelta("a"),
        StreamPart.textDelta("b"),
        StreamPart.finish({
          content: "ab",
          model: "over-1",
          provider,
          usage: Usage.make({ inputTokens: 5, outputTokens: 150 }),
          finishReason: "stop",
          latencyMs: 0
        })
      )
  })

const capture = () => {
  const lines: Array<string> = []
  const layer = Logger.layer([Logger.formatSimple.pipe(Logger.map((line) => void lines.push(line)))])
  return { lines, layer }
}

const finishOf = (parts: ReadonlyArray<StreamPart.StreamPart>) => {
  const last = parts.at(-1)
  return last?.type === "finish" ? last.response : undefined
}

describe("a stream whose provider overspends, on a memory store (its finish part committed in its step)", () => {
  it.effect("budget right above the provider: committed with the finish part, the overshoot logged by the end of the stream", () =>
    Effect.gen(function*() {
      const { lines, layer } = capture()
      const tracker = yield* BudgetTracker.make({ outputTokens: 1_000 })
      const wrapped = BudgetLanguageModel.wrap(tracker)(overspending("over"))
      let seenAtFinish: number | undefined
      const parts = yield* Stream.runCollect(
        Stream.tap(wrapped.stream({ messages: [{ role: "user", content: "hi" }], maxTokens: 50 }), (part) =>
          part.type === "finish" ? Effect.map(tracker.snapshot, (snapshot) => void (seenAtFinish = snapshot.consumed.outputTokens)) : Effect.void)
      ).pipe(Effect.provide(layer))
      assert.strictEqual(finishOf(parts)?.usage.outputTokens, 150)
      assert.strictEqual(seenAtFinish, 150) // committed before the finish part went on
      const snapshot = yield* tracker.snapshot
      assert.deepStrictEqual([snapshot.consumed.outputTokens, snapshot.reserved.outputTokens, snapshot.openReservations], [150, 0, 0])
      assert.strictEqual(snapshot.overshoots.length, 1)
      assert.deepStrictEqual(snapshot.overshoots.map((o) => [o.dimension, o.reserved, o.actual]), [["outputTokens", 50, 150]])
      assert.isTrue(lines.some((line) => line.includes("budget overshoot") && line.includes("outputTokens")))
    }))

  it.effect("through the stack (the retry layer's attempt takes the reservation): the same", () =>
    Effect.gen(function*() {
      const { lines, layer } = capture()
      const provider: ProviderRegistry.Provider = {
        name: "over",
        description: "streams, and reports more output than it was allowed",
        defaultModel: "over-1",
        keyEnv: [],
        requiresKey: false,
        make: () => Effect.succeed(overspending("over"))
      }
      const stack = Stack.layerFactory({
        provider: { provider: "over" },
        budget: { budget: { outputTokens: 1_000 } },
        observability: { logCalls: false }
      }).pipe(Layer.provide(ProviderRegistry.layer([provider])))
      yield* Effect.gen(function*() {
        const model = yield* LanguageModel.LanguageModel
        const tracker = (yield* ModelFactory.ModelFactory).budget!
        let seenAtFinish: number | undefined
        const parts = yield* Stream.runCollect(
          Stream.tap(model.stream({ messages: [{ role: "user", content: "hi" }], maxTokens: 50 }), (part) =>
            part.type === "finish" ? Effect.map(tracker.snapshot, (snapshot) => void (seenAtFinish = snapshot.consumed.outputTokens)) : Effect.void)
        ).pipe(Effect.provide(layer))
        assert.strictEqual(finishOf(parts)?.usage.outputTokens, 150)
        assert.strictEqual(seenAtFinish, 150)
        const snapshot = yield* tracker.snapshot
        assert.deepStrictEqual([snapshot.consumed.outputTokens, snapshot.reserved.outputTokens, snapshot.openReservations], [150, 0, 0])
        assert.strictEqual(snapshot.overshoots.length, 1)
        assert.isTrue(lines.some((line) => line.includes("budget overshoot") && line.includes("outputTokens")))
      }).pipe(Effect.provide(stack))
    }))
})
