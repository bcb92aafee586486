import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer, Stream } from "effect"
import { TestClock } from "effect/testing"
import * as BudgetLanguageModel from "../../src/budget/BudgetLanguageModel.ts"
import * as BudgetTracker from "../../src/budget/BudgetTracker.ts"
import * as CallContext from "../../src/CallContext.ts"
import * as LanguageModel from "../../src/LanguageModel.ts"
import * as LlmError from "../../src/LlmError.ts"
import type { LlmResponse } from "../../src/LlmResponse.ts"
import * as PriceTable from "../../src/pricing/PriceTable.ts"
import * as NodeProviders from "../../src/node/NodeProviders.ts"
import * as MockLanguageModel from "../../src/providers/mock/MockLanguageModel.ts"
import * as Stack from "../../src/Stack.ts"
import * as Usage from "../../src/Usage.ts"
import * as StreamPart from "../../src/StreamPart.ts"

/** The mock under the budget layer, with the mock's control and the tracker exposed. */
const budgeted = (limits: Parameters<typeof BudgetTracker.layer>[0], options: MockLanguageModel.Options = {}) =>
  BudgetLanguageModel.layer.pipe(
    Layer.provideMerge(MockLanguageModel.layer(options)),
    Layer.provideMerge(BudgetTracker.layer(limits))
  )

const reason = (error: { readonly reason: { readonly _tag: string } }) => error.reason._tag

describe("BudgetLanguageModel", () => {
  it.effect("a refused call never reaches the provider", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(LanguageModel.generate({ prompt: "hello", maxTokens: 500 }))
      assert.strictEqual(reason(error), "BudgetExceeded")
      const mock = yield* MockLanguageModel.MockLanguageModel
      assert.deepStrictEqual(yield* mock.calls, [])
      const snapshot = yield* BudgetTracker.snapshot
      assert.deepStrictEqual([snapshot.consumed.totalTokens, snapshot.reserved.totalTokens], [0, 0])
    }).pipe(Effect.provide(budgeted({ totalTokens: 100 }))))

  it.effect("sends the reserved output cap as maxTokens and commits the real usage", () =>
    Effect.gen(function*() {
      const response = yield* LanguageModel.generate("hello there")
      const mock = yield* MockLanguageModel.MockLanguageModel
      const [sent] = yield* mock.calls
      assert.isDefined(sent?.maxTokens)
      assert.isAtMost(sent!.maxTokens!, 300)
      const snapshot = yield* BudgetTracker.snapshot
      assert.strictEqual(snapshot.consumed.totalTokens, response.usage.totalTokens)
      assert.strictEqual(snapshot.reserved.totalTokens, 0)
    }).pipe(Effect.provide(budgeted({ totalTokens: 300 }))))

  it.effect("fills the cost from the price table; a cost the provider reports wins", () =>
    Effect.gen(function*() {
      const tracker = yield* BudgetTracker.make({ costUsd: 1 })
      const usage = Usage.make({ inputTokens: 1_000, outputTokens: 500 })
      const reply = (cost?: LlmResponse["cost"]): LanguageModel.Service => LanguageModel.make({
        provider: "openai",
        defaultModel: "gpt-4o-mini",
        generate: (request) =>
          Effect.succeed({ content: "x", model: request.model ?? "gpt-4o-mini", provider: "openai", usage, finishReason: "stop", latencyMs: 1, ...(cost !== undefined ? { cost } : {}) })
      })
      const request = { messages: [{ role: "user" as const, content: "x".repeat(2_000) }], maxTokens: 600 }
      const table = yield* BudgetLanguageModel.wrap(tracker)(reply()).generate(request)
      const price = PriceTable.make().lookup("openai", "gpt-4o-mini")!
      assert.deepStrictEqual(table.cost, { usd: PriceTable.costOf(price, usage), source: "table" })
      const reported = yield* BudgetLanguageModel.wrap(tracker)(reply({ usd: 0.25, source: "provider" })).generate(request)
      assert.deepStrictEqual(reported.cost, { usd: 0.25, source: "provider" })
      assert.closeTo((yield* tracker.snapshot).consumed.costUsd, 0.25 + PriceTable.costOf(price, usage), 1e-12)
    }))

  it.effect("a failed call that still cost something (LlmError.spent) is committed, not released", () =>
    Effect.gen(function*() {
      const tracker = yield* BudgetTracker.make({ costUsd: 1 })
      const spent = { usage: Usage.make({ inputTokens: 40, outputTokens: 10 }), costUsd: 0.2 }
      const failing: LanguageModel.Service = LanguageModel.make({
        provider: "claude-code",
        defaultModel: "sonnet",
        generate: () =>
          Effect.fail(LlmError.make("claude-code", new LlmError.Unknown({ description: "stopped after paying" }), { spent }))
      })
      const error = yield* Effect.flip(BudgetLanguageModel.wrap(tracker)(failing).generate({ messages: [{ role: "user", content: "x" }], maxTokens: 10 }))
      assert.deepStrictEqual(error.spent, spent)
      const snapshot = yield* tracker.snapshot
      assert.closeTo(snapshot.consumed.costUsd, 0.2, 1e-12)
      assert.strictEqual(snapshot.consumed.totalTokens, 50)
      assert.strictEqual(snapshot.reserved.costUsd, 0)
    }))

  it.effect("a fallback chain is reserved at its highest price and charged at the model that served", () =>
    Effect.gen(function*() {
      const tracker = yield* BudgetTracker.make({ costUsd: 1 })
      const usage = Usage.make({ inputTokens: 100, outputTokens: 100 })
      const chain: LanguageModel.Service = LanguageModel.make({
        provider: "openai",
        defaultModel: "gpt-4o-mini",
        candidates: [{ provider: "openai", model: "gpt-4o-mini" }, { provider: "gemini", model: "gemini-2.5-pro" }],
        generate: () =>
          Effect.gen(function*() {
            const held = yield* tracker.snapshot
            // gemini-2.5-pro ($10/M output) is dearer than gpt-4o-mini ($0.60/M): 500 output tokens at $10/M
            assert.isAtLeast(held.reserved.costUsd, 500 * 10 / 1e6)
            return { content: "x", model: "gemini-2.5-pro", provider: "gemini", usage, finishReason: "stop" as const, latencyMs: 1 }
          })
      })
      const response = yield* BudgetLanguageModel.wrap(tracker)(chain).generate({ messages: [{ role: "user", content: "x".repeat(200) }], maxTokens: 500 })
      const served = PriceTable.make().lookup("gemini", "gemini-2.5-pro")!
      assert.deepStrictEqual(response.cost, { usd: PriceTable.costOf(served, usage), source: "table" })
      const unpriced = { ...chain, candidates: [...chain.candidates!, { provider: "acme", model: "x" }] }
      const error = yield* Effect.flip(BudgetLanguageModel.wrap(tracker)(unpriced).generate({ messages: [{ role: "user", content: "hi" }] }))
      assert.strictEqual(reason(error), "Configuration")
    }))

  it.effect("running totals reported per conversation replace the previous figure", () =>
    Effect.gen(function*() {
      const tracker = yield* BudgetTracker.make({ totalTokens: 10_000 })
      let total = 0
      const session: LanguageModel.Service = LanguageModel.make({
        provider: "mock",
        defaultModel: "mock-1",
        generate: () =>
          Effect.sync(() => {
            total += 40 // the provider reports the conversation's running total
            return {
              content: "x",
              model: "mock-1",
              provider: "mock",
              usage: Usage.make({ inputTokens: total - 10, outputTokens: 10 }),
              finishReason: "stop" as const,
              latencyMs: 0,
              metadata: { cumulativeUsage: true }
            }
          })
      })
      const model = BudgetLanguageModel.wrap(tracker)(session)
      const turn = { messages: [{ role: "user" as const, content: "x".repeat(100) }], maxTokens: 50, metadata: { conversationId: "c1" } }
      yield* model.generate(turn)
      yield* model.generate(turn)
      yield* model.generate({ ...turn, metadata: { conversationId: "c2" } })
      const snapshot = yield* tracker.snapshot
      assert.strictEqual(snapshot.conversations["c1"]?.totalTokens, 80)
      assert.strictEqual(snapshot.conversations["c2"]?.totalTokens, 120)
      assert.strictEqual(snapshot.consumed.totalTokens, 200)
    }))

  it.effect("an unknown model under a cost limit fails closed before the provider is called", () =>
    Effect.gen(function*() {
      const tracker = yield* BudgetTracker.make({ costUsd: 1 })
      let called = 0
      const plugin: LanguageModel.Service = LanguageModel.make({
        provider: "acme",
        defaultModel: "acme-1",
        generate: () => Effect.sync(() => called++).pipe(Effect.andThen(Effect.die("not reached")))
      })
      const error = yield* Effect.flip(BudgetLanguageModel.wrap(tracker)(plugin).generate({ messages: [{ role: "user", content: "hi" }] }))
      assert.strictEqual(reason(error), "Configuration")
      assert.include(error.message, "acme/acme-1")
      assert.strictEqual(called, 0)
    }))

  it.effect("the provider sees the deadline and the remaining budget in CallContext", () =>
    Effect.gen(function*() {
      const tracker = yield* BudgetTracker.make({ costUsd: 0.5, deadline: "30s" })
      const seen: Array<[number | undefined, CallContext.Remaining | undefined]> = []
      const probe: LanguageModel.Service = LanguageModel.make({
        provider: "mock",
        defaultModel: "mock-1",
        generate: () =>
          Effect.gen(function*() {
            seen.push([yield* CallContext.Deadline, yield* CallContext.RemainingBudget])
            return { content: "", model: "mock-1", provider: "mock", usage: Usage.make({ inputTokens: 1, outputTokens: 0 }), finishReason: "stop" as const, latencyMs: 0 }
          })
      })
      yield* BudgetLanguageModel.wrap(tracker)(probe).generate({ messages: [{ role: "user", content: "hi" }], maxTokens: 10 })
      assert.strictEqual(seen[0]![0], 30_000)
      assert.strictEqual(seen[0]![1]?.costUsd, 0.5)
      assert.isUndefined(yield* CallContext.Deadline) // only around the admitted call
    }))

  it.effect("the call context is the call's only: the caller's is back after an answer and after a failure", () =>
    Effect.gen(function*() {
      const tracker = yield* BudgetTracker.make({ costUsd: 0.5 })
      let fail = false
      const seen: Array<boolean> = []
      const probe: LanguageModel.Service = LanguageModel.make({
        provider: "mock",
        defaultModel: "mock-1",
        generate: () =>
          Effect.gen(function*() {
            seen.push((yield* CallContext.AttemptBudget) !== undefined && (yield* CallContext.RemainingBudget) !== undefined)
            if (fail) return yield* Effect.fail(LlmError.make("mock", new LlmError.InvalidRequest({ description: "no" })))
            return { content: "", model: "mock-1", provider: "mock", usage: Usage.make({ inputTokens: 1, outputTokens: 0 }), finishReason: "stop" as const, latencyMs: 0 }
          })
      })
      const model = BudgetLanguageModel.wrap(tracker)(probe)
      const request = { messages: [{ role: "user" as const, content: "hi" }], maxTokens: 10 }
      yield* model.generate(request)
      assert.isUndefined(yield* CallContext.AttemptBudget)
      assert.isUndefined(yield* CallContext.RemainingBudget)
      fail = true
      const error = yield* Effect.flip(model.generate(request))
      assert.strictEqual(error.reason._tag, "InvalidRequest")
      assert.isUndefined(yield* CallContext.AttemptBudget)
      assert.isUndefined(yield* CallContext.RemainingBudget)
      assert.deepStrictEqual(seen, [true, true])
      assert.strictEqual((yield* tracker.snapshot).openReservations, 0)
    }))

  it.effect("a call still running at the deadline is interrupted and fails with BudgetExceeded (deadline)", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.forkChild(LanguageModel.generate("slow"))
      yield* TestClock.adjust("5 seconds")
      const exit = yield* Fiber.await(fiber)
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isFailure(exit)) {
        const error = exit.cause.reasons.find((r) => r._tag === "Fail")
        assert.strictEqual(error?._tag === "Fail" ? (error.error as { reason: { dimension: string } }).reason.dimension : "", "deadline")
      }
      assert.strictEqual((yield* BudgetTracker.snapshot).openReservations, 0)
    }).pipe(Effect.provide(budgeted({ deadline: "5s" }, { latency: "1 minute" }))))

  it.effect("sub-agents under BudgetTracker.delegate are charged to their child budget and to the root", () =>
    Effect.gen(function*() {
      const agent = (name: string) =>
        BudgetTracker.delegate(
          { totalTokens: 120 },
          name,
          Effect.gen(function*() {
            let answered = 0
            while (true) {
              const exit = yield* Effect.exit(LanguageModel.generate({ prompt: `${name} step`, maxTokens: 20 }))
              if (Exit.isFailure(exit)) return answered
              answered++
            }
          })
        )
      const answered = yield* Effect.all(["a", "b", "c", "d"].map(agent), { concurrency: "unbounded" })
      const root = yield* BudgetTracker.snapshot
      assert.isAtMost(root.consumed.totalTokens, 300)
      assert.isAbove(answered.reduce((sum, n) => sum + n, 0), 0)
      const mock = yield* MockLanguageModel.MockLanguageModel
      assert.strictEqual((yield* mock.calls).length, answered.reduce((sum, n) => sum + n, 0))
    }).pipe(Effect.provide(budgeted({ totalTokens: 300 }, { reply: "twelve tokens of reply text that is long enough to be cut" }))))

  it.effect("streams are held to the budget too: committed on the last chunk", () =>
    Effect.gen(function*() {
      const tracker = yield* BudgetTracker.make({ totalTokens: 1_000 })
      const usage = Usage.make({ inputTokens: 5, outputTokens: 7 })
      const streaming: LanguageModel.Service = LanguageModel.make({
        provider: "mock",
        defaultModel: "mock-1",
        generate: () => Effect.die("not used"),
        stream: () =>
          Stream.make(
            StreamPart.textDelta("a"),
            StreamPart.textDelta("b"),
            StreamPart.finish({ content: "ab", model: "mock-1", provider: "mock", usage, finishReason: "stop", latencyMs: 0 })
          )
      })
      const wrapped = BudgetLanguageModel.wrap(tracker)(streaming)
      const parts = yield* Stream.runCollect(wrapped.stream({ messages: [{ role: "user", content: "hi" }], maxTokens: 50 }))
      const last = parts.at(-1)
      assert.strictEqual(last?.type === "finish" ? last.response.cost?.source : undefined, "table")
      const snapshot = yield* tracker.snapshot
      assert.deepStrictEqual([snapshot.consumed.totalTokens, snapshot.reserved.totalTokens, snapshot.openReservations], [12, 0, 0])
    }))

  it.effect("Stack adds the budget when the config has one", () =>
    Effect.gen(function*() {
      const model = yield* LanguageModel.LanguageModel
      const error = yield* Effect.flip(model.generate({ messages: [{ role: "user", content: "hi" }], maxTokens: 100 }))
      assert.strictEqual(reason(error), "BudgetExceeded")
    }).pipe(
      Effect.provide(
        Stack.layer({ provider: { provider: "mock" }, observability: { enabled: false }, budget: { budget: { totalTokens: 50 } } }).pipe(
          Layer.provide(NodeProviders.layer)
        )
      )
    ))

  it.effect("Stack: a fallback chain under a cost limit is reserved at its dearest candidate", () =>
    Effect.gen(function*() {
      const request = { messages: [{ role: "user" as const, content: "hi" }], maxTokens: 100 }
      const prices = { "mock/mock-gold": { inputPerMillion: 1_000, outputPerMillion: 1_000 } }
      const build = (fallback: ReadonlyArray<{ provider: string; model: string }>) =>
        Stack.layer({
          provider: { provider: "mock" },
          observability: { enabled: false },
          budget: { budget: { costUsd: 0.001 }, prices },
          resilience: { fallback }
        }).pipe(Layer.provide(NodeProviders.layer))
      const alone = yield* LanguageModel.generate(request).pipe(Effect.provide(build([])))
      assert.strictEqual(alone.provider, "mock")
      // With mock-gold as a fallback, 100 output tokens could cost $0.1: refused up front.
      const error = yield* Effect.flip(
        LanguageModel.generate(request).pipe(Effect.provide(build([{ provider: "mock", model: "mock-gold" }])))
      )
      assert.strictEqual(reason(error), "BudgetExceeded")
      assert.strictEqual(error.reason._tag === "BudgetExceeded" && error.reason.dimension, "costUsd")
    }))
})
