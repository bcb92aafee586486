/**
 * How the budget settles each attempt of a call (issue 13, items 1 and 3), on `TestClock`: what
 * was never sent is released, what was abandoned after it was sent is charged by the policy, a
 * stream ended early is charged max(what it streamed, the policy), and a lowered output cap is
 * said out loud.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Logger, References, Stream } from "effect"
import { TestClock } from "effect/testing"
import * as BudgetLanguageModel from "../../src/budget/BudgetLanguageModel.ts"
import * as BudgetTracker from "../../src/budget/BudgetTracker.ts"
import * as Estimate from "../../src/budget/Estimate.ts"
import * as LanguageModel from "../../src/LanguageModel.ts"
import * as LlmError from "../../src/LlmError.ts"
import type { LlmRequest } from "../../src/LlmRequest.ts"
import * as ModelFactory from "../../src/ModelFactory.ts"
import * as UsageLedger from "../../src/observability/UsageLedger.ts"
import * as ProviderRegistry from "../../src/ProviderRegistry.ts"
import * as MockLanguageModel from "../../src/providers/mock/MockLanguageModel.ts"
import * as Fallback from "../../src/resilience/Fallback.ts"
import * as Retry from "../../src/resilience/Retry.ts"
import * as Stack from "../../src/Stack.ts"
import * as StreamPart from "../../src/StreamPart.ts"
import * as Tokenizer from "../../src/Tokenizer.ts"
import * as Usage from "../../src/Usage.ts"

const quiet = Effect.provideService(References.MinimumLogLevel, "None")

const mockStack = (config: Omit<Stack.StackConfig, "provider">, options: Record<string, unknown> = {}) =>
  Stack.layerFactory({ provider: { provider: "mock", options: { latency: "300ms", ...options } }, ...config }).pipe(
    Layer.provide(ProviderRegistry.layer([MockLanguageModel.provider])),
    Layer.provideMerge(UsageLedger.layerMemory())
  )

/** The mock registered under a second name, for a fallback chain of two providers. */
const backup: ProviderRegistry.Provider = {
  ...MockLanguageModel.provider,
  name: "backup",
  make: (config) => Effect.map(MockLanguageModel.provider.make(config), (model) => ({ ...model, provider: "backup" }))
}

const budgetOf = ModelFactory.ModelFactory.use((factory) => factory.budget!.snapshot)

describe("the attempts of a call under a budget", () => {
  it.effect("an attempt that timed out waiting for a concurrency permit was never sent: released, not charged", () =>
    Effect.gen(function*() {
      // A holds the one permit for 300 ms; B's attempt times out after 100 ms while it waits.
      const first = yield* Effect.forkChild(LanguageModel.generate("first").pipe(Retry.withPolicy({ attemptTimeoutMs: 1_000 })))
      yield* TestClock.adjust("10 millis")
      const second = yield* Effect.forkChild(Effect.flip(LanguageModel.generate("second")))
      yield* TestClock.adjust("1 second")
      const answered = yield* Fiber.join(first)
      const error = yield* Fiber.join(second)
      assert.strictEqual(error.reason._tag, "Timeout")
      const snapshot = yield* budgetOf
      assert.strictEqual(snapshot.consumed.totalTokens, answered.usage.totalTokens)
      assert.deepStrictEqual([snapshot.reserved.totalTokens, snapshot.openReservations], [0, 0])
      const rows = yield* UsageLedger.UsageLedger.use((ledger) => ledger.entries())
      const refused = rows.find((row) => row.outcome === "Timeout")!
      assert.deepStrictEqual([refused.attempts, refused.abandonedAttempts, refused.totalTokens], [1, 0, 0])
    }).pipe(
      Effect.provide(mockStack({
        budget: { budget: { totalTokens: 100_000 } },
        resilience: { retry: { maxAttempts: 1 }, attemptTimeout: "100ms", limits: { concurrency: 1 } }
      })),
      quiet
    ))

  it.effect("an attempt timed out at the provider is charged its input and output cap; the retry reserves anew", () =>
    Effect.gen(function*() {
      const request: LlmRequest = { messages: [{ role: "user", content: "tell me" }], maxTokens: 50 }
      const fiber = yield* Effect.forkChild(LanguageModel.generate(request))
      yield* TestClock.adjust("5 seconds")
      const response = yield* Fiber.join(fiber)
      const snapshot = yield* budgetOf
      const abandoned = Estimate.exact(request, "mock") + 50
      assert.strictEqual(snapshot.consumed.totalTokens, abandoned + response.usage.totalTokens)
      const [row] = yield* UsageLedger.UsageLedger.use((ledger) => ledger.entries())
      assert.deepStrictEqual(
        [row!.attempts, row!.abandonedAttempts, row!.totalTokens, row!.estimated],
        [2, 1, abandoned + response.usage.totalTokens, true]
      )
      // the answer itself is what the provider reported
      assert.isUndefined(response.usage.estimated)
    }).pipe(
      Effect.provide(mockStack(
        { budget: { budget: { totalTokens: 100_000 } }, resilience: { retry: { maxAttempts: 2, baseDelay: "10ms" } } },
        { latency: "0ms", faults: "hang" }
      )),
      Retry.withPolicy({ attemptTimeoutMs: 1_000 }),
      quiet
    ))

  it.effect("a fallback candidate's attempt is an attempt: the first candidate's abandoned one is charged, the second reserves anew", () =>
    Effect.gen(function*() {
      const request: LlmRequest = { messages: [{ role: "user", content: "tell me" }], maxTokens: 50 }
      const fiber = yield* Effect.forkChild(LanguageModel.generate(request))
      yield* TestClock.adjust("5 seconds")
      const response = yield* Fiber.join(fiber)
      assert.strictEqual(Fallback.servedBy(response)?.index, 1)
      const snapshot = yield* budgetOf
      assert.strictEqual(snapshot.consumed.totalTokens, Estimate.exact(request, "mock") + 50 + response.usage.totalTokens)
      assert.deepStrictEqual([snapshot.reserved.totalTokens, snapshot.openReservations], [0, 0])
      const [row] = yield* UsageLedger.UsageLedger.use((ledger) => ledger.entries())
      assert.deepStrictEqual([row!.attempts, row!.abandonedAttempts, row!.estimated], [2, 1, true])
    }).pipe(
      Effect.provide(
        Stack.layerFactory({
          provider: { provider: "mock", options: { faults: "hang" } },
          budget: { budget: { totalTokens: 100_000 } },
          resilience: { retry: { maxAttempts: 1 }, attemptTimeout: "100ms", fallback: [{ provider: "backup" }] }
        }).pipe(Layer.provide(ProviderRegistry.layer([MockLanguageModel.provider, backup])), Layer.provideMerge(UsageLedger.layerMemory()))
      ),
      quiet
    ))

  it.effect("chargeAbandoned input charges the input tokens only; none charges nothing", () =>
    Effect.gen(function*() {
      const request: LlmRequest = { messages: [{ role: "user", content: "tell me" }], maxTokens: 50 }
      for (const [policy, expected] of [["input", Estimate.exact(request, "mock")], ["none", 0]] as const) {
        const tracker = yield* BudgetTracker.make({ totalTokens: 10_000 }, { chargeAbandoned: policy })
        const hanging = LanguageModel.make({ provider: "mock", defaultModel: "mock-1", generate: () => Effect.never })
        const fiber = yield* Effect.forkChild(BudgetLanguageModel.wrap(tracker)(hanging).generate(request))
        yield* TestClock.adjust("1 second")
        yield* Fiber.interrupt(fiber)
        const snapshot = yield* tracker.snapshot
        assert.deepStrictEqual([snapshot.consumed.totalTokens, snapshot.reserved.totalTokens], [expected, 0], policy)
      }
    }))

  it.effect("a failure answered with an error status, or marked not sent, is released; one with spent is committed", () =>
    Effect.gen(function*() {
      const tracker = yield* BudgetTracker.make({ totalTokens: 10_000 })
      const failWith = (error: LlmError.LlmError) =>
        BudgetLanguageModel.wrap(tracker)(LanguageModel.make({ provider: "mock", defaultModel: "mock-1", generate: () => Effect.fail(error) }))
      const request: LlmRequest = { messages: [{ role: "user", content: "hi" }], maxTokens: 20 }
      yield* Effect.flip(failWith(LlmError.make("mock", new LlmError.ServerError({ description: "boom", status: 500 }), { status: 500 })).generate(request))
      yield* Effect.flip(failWith(LlmError.make("mock", new LlmError.Network({ description: "refused" }), { sent: false })).generate(request))
      assert.strictEqual((yield* tracker.snapshot).consumed.totalTokens, 0)
      // a connection lost after the request was written: its outcome is unknown
      yield* Effect.flip(failWith(LlmError.make("mock", new LlmError.Network({ description: "reset" }))).generate(request))
      assert.strictEqual((yield* tracker.snapshot).consumed.totalTokens, Estimate.exact(request, "mock") + 20)
    }))

  it.effect("a stream stopped part-way is charged the most of what it streamed and the policy", () =>
    Effect.gen(function*() {
      const request: LlmRequest = { messages: [{ role: "user", content: "a story" }], maxTokens: 40 }
      const words = Array.from({ length: 10 }, (_, index) => `word${index} `)
      const streaming = LanguageModel.make({
        provider: "mock",
        defaultModel: "mock-1",
        generate: () => Effect.never,
        stream: () => Stream.fromIterable(words).pipe(Stream.map(StreamPart.textDelta), Stream.tap(() => Effect.sleep("10 millis")))
      })
      for (const [policy, expectedOutput] of [["reserved", 40], ["none", Tokenizer.countText(words.slice(0, 3).join(""))]] as const) {
        const tracker = yield* BudgetTracker.make({ totalTokens: 10_000 }, { chargeAbandoned: policy })
        const fiber = yield* Effect.forkChild(Stream.runCollect(Stream.take(BudgetLanguageModel.wrap(tracker)(streaming).stream(request), 3)))
        yield* TestClock.adjust("1 second")
        yield* Fiber.join(fiber)
        const snapshot = yield* tracker.snapshot
        assert.deepStrictEqual(
          [snapshot.consumed.outputTokens, snapshot.consumed.inputTokens, snapshot.reserved.totalTokens],
          [expectedOutput, Estimate.exact(request, "mock"), 0],
          policy
        )
      }
    }))

  it.effect("a budget that lowers the default output cap says so in a warning log line and in the response", () =>
    Effect.gen(function*() {
      const lines: Array<string> = []
      const capture = Logger.layer([Logger.formatSimple.pipe(Logger.map((line) => void lines.push(line)))])
      const tracker = yield* BudgetTracker.make({ totalTokens: 120 })
      const model = BudgetLanguageModel.wrap(tracker)(
        LanguageModel.make({
          provider: "mock",
          defaultModel: "mock-1",
          generate: (request) =>
            Effect.succeed({
              content: "ok",
              model: "mock-1",
              provider: "mock",
              usage: Usage.make({ inputTokens: 10, outputTokens: Math.min(5, request.maxTokens ?? 5) }),
              finishReason: "stop",
              latencyMs: 1
            })
        })
      )
      const response = yield* model.generate({ messages: [{ role: "user", content: "hi" }] }).pipe(Effect.provide(capture))
      const reservation = yield* tracker.reserve({ request: { messages: [{ role: "user", content: "hi" }] }, provider: "mock", model: "mock-1", price: undefined })
      yield* tracker.release(reservation)
      assert.strictEqual(reservation.loweredFrom, BudgetTracker.DEFAULT_MAX_TOKENS)
      assert.isTrue(response.warnings?.some((warning) => warning.includes("lowered the output cap from 4096")))
      assert.isTrue(lines.some((line) => line.includes("level=WARN") && line.includes("lowered the output cap from 4096")))
      // an explicit maxTokens is honoured as asked, with no warning
      const asked = yield* model.generate({ messages: [{ role: "user", content: "hi" }], maxTokens: 5 })
      assert.isUndefined(asked.warnings)
    }))
})
