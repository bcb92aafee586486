import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Logger } from "effect"
import { TestClock } from "effect/testing"
import * as BudgetTracker from "../../src/budget/BudgetTracker.ts"
import type { LlmError } from "../../src/LlmError.ts"
import type { LlmRequest } from "../../src/LlmRequest.ts"
import * as PriceTable from "../../src/pricing/PriceTable.ts"
import * as Tokenizer from "../../src/Tokenizer.ts"
import * as Usage from "../../src/Usage.ts"

const request = (text: string, maxTokens?: number): LlmRequest => ({
  messages: [{ role: "user", content: text }],
  ...(maxTokens !== undefined ? { maxTokens } : {})
})

const mockPrice = PriceTable.make().lookup("mock", "mock-1")

const ask = (text: string, maxTokens?: number): BudgetTracker.Ask => ({
  request: request(text, maxTokens),
  provider: "mock",
  model: "mock-1",
  price: mockPrice
})

const actual = (inputTokens: number, outputTokens: number, costUsd = 0): BudgetTracker.Actual => ({
  usage: Usage.make({ inputTokens, outputTokens }),
  costUsd
})

const budgetReason = (error: LlmError) => {
  assert.strictEqual(error.reason._tag, "BudgetExceeded")
  if (error.reason._tag !== "BudgetExceeded") throw new Error("unreachable")
  return error.reason
}

describe("BudgetTracker", () => {
  it.effect("refuses a reservation that would pass a limit, with the figures, before anything runs", () =>
    Effect.gen(function*() {
      const tracker = yield* BudgetTracker.make({ totalTokens: 100 })
      const first = yield* tracker.reserve(ask("hi", 50))
      assert.strictEqual(first.amounts.outputTokens, 50)
      const error = yield* Effect.flip(tracker.reserve(ask("hello", 60)))
      const reason = budgetReason(error)
      assert.strictEqual(reason.dimension, "totalTokens")
      assert.strictEqual(reason.limit, 100)
      assert.strictEqual(reason.consumed, 0)
      assert.strictEqual(reason.reserved, first.amounts.totalTokens)
      assert.isAbove(reason.requested, 60)
      assert.include(error.message, "--max-total-tokens")
    }))

  it.effect("commits the real usage and releases the rest of the reservation", () =>
    Effect.gen(function*() {
      const tracker = yield* BudgetTracker.make({ totalTokens: 1_000 })
      const reservation = yield* tracker.reserve(ask("hello there", 200))
      const held = yield* tracker.snapshot
      assert.strictEqual(held.reserved.totalTokens, reservation.amounts.totalTokens)
      assert.strictEqual(held.openReservations, 1)
      yield* tracker.commit(reservation, actual(9, 40))
      yield* tracker.commit(reservation, actual(9, 40)) // settles once
      const after = yield* tracker.snapshot
      assert.deepStrictEqual([after.consumed.totalTokens, after.reserved.totalTokens, after.openReservations], [49, 0, 0])
      assert.strictEqual(after.remaining.totalTokens, 951)
    }))

  it.effect("releases everything when the call fails or is interrupted", () =>
    Effect.gen(function*() {
      const tracker = yield* BudgetTracker.make({ totalTokens: 10_000 })
      const failed = yield* Effect.exit(tracker.withReservation(ask("a", 100), () => Effect.fail("boom"), () => actual(1, 1)))
      assert.isTrue(Exit.isFailure(failed))
      const fiber = yield* Effect.forkChild(tracker.withReservation(ask("b", 100), () => Effect.never, () => actual(1, 1)))
      yield* Effect.yieldNow
      assert.strictEqual((yield* tracker.snapshot).openReservations, 1)
      yield* Fiber.interrupt(fiber)
      const after = yield* tracker.snapshot
      assert.deepStrictEqual([after.reserved.totalTokens, after.consumed.totalTokens, after.openReservations], [0, 0, 0])
    }))

  it.effect("estimates with the byte bound while far from the limit and counts exactly only near it", () =>
    Effect.gen(function*() {
      const text = "日本語のテキスト".repeat(40) // 3 bytes per character, far fewer BPE tokens
      const exact = Tokenizer.countRequest(request(text))
      const bound = Tokenizer.boundRequest(request(text))
      assert.isAbove(bound, exact * 2)
      const far = yield* BudgetTracker.make({ inputTokens: bound * 10 })
      assert.strictEqual((yield* far.reserve(ask(text, 10))).estimate, "bound")
      const near = yield* BudgetTracker.make({ inputTokens: exact + 5 })
      const reservation = yield* near.reserve(ask(text, 10))
      assert.strictEqual(reservation.estimate, "exact")
      assert.strictEqual(reservation.amounts.inputTokens, exact)
    }))

  it.effect("sizes the default output cap to what the budget can still afford, and honours an explicit maxTokens", () =>
    Effect.gen(function*() {
      const tracker = yield* BudgetTracker.make({ totalTokens: 500 }, { defaultMaxTokens: 4096 })
      const reservation = yield* tracker.reserve(ask("hi"))
      assert.strictEqual(reservation.maxTokens, 500 - reservation.amounts.inputTokens)
      yield* tracker.release(reservation)
      const error = yield* Effect.flip(tracker.reserve(ask("hi", 1_000)))
      assert.strictEqual(budgetReason(error).dimension, "totalTokens")
      const onlyDeadline = yield* BudgetTracker.make({ deadline: "1m" })
      assert.isUndefined((yield* onlyDeadline.reserve(ask("hi"))).maxTokens)
    }))

  it.effect("records a provider overshoot, logs it, and refuses the next reservation once", () =>
    Effect.gen(function*() {
      const lines: Array<string> = []
      const capture = Logger.layer([Logger.formatSimple.pipe(Logger.map((line) => void lines.push(line)))])
      const tracker = yield* BudgetTracker.make({ outputTokens: 1_000 })
      const reservation = yield* tracker.reserve(ask("hi", 100))
      const overshoots = yield* tracker.commit(reservation, actual(5, 150)).pipe(Effect.provide(capture))
      assert.deepStrictEqual(overshoots.map((o) => [o.dimension, o.reserved, o.actual]), [["outputTokens", 100, 150]])
      const snapshot = yield* tracker.snapshot
      assert.strictEqual(snapshot.consumed.outputTokens, 150) // the truth is recorded
      assert.strictEqual(snapshot.overshoots.length, 1)
      assert.isTrue(lines.some((line) => line.includes("budget overshoot") && line.includes("outputTokens")))
      const refused = yield* Effect.flip(tracker.reserve(ask("hi", 10)))
      assert.strictEqual(budgetReason(refused).dimension, "outputTokens")
      assert.include(refused.message, "overshoot")
      const admitted = yield* tracker.reserve(ask("hi", 10))
      assert.strictEqual(admitted.maxTokens, 10)
    }))

  it.effect("keeps one cumulative record per conversation; consumed is their sum", () =>
    Effect.gen(function*() {
      const tracker = yield* BudgetTracker.make({ totalTokens: 10_000 })
      const record = (id: string, input: number, output: number) =>
        tracker.recordCumulative(id, Usage.make({ inputTokens: input, outputTokens: output }), { costUsd: 0, provider: "claude-code", model: "sonnet" })
      yield* record("a", 100, 50)
      yield* record("b", 10, 5)
      yield* record("a", 300, 120) // a running total replaces the previous figure
      const snapshot = yield* tracker.snapshot
      assert.strictEqual(snapshot.consumed.totalTokens, 420 + 15)
      assert.deepStrictEqual(snapshot.conversations["a"], { inputTokens: 300, outputTokens: 120, totalTokens: 420, costUsd: 0 })
      const reservation = yield* tracker.reserve(ask("x", 10))
      yield* tracker.commit(reservation, { ...actual(7, 3), conversationId: "b" })
      assert.strictEqual((yield* tracker.snapshot).conversations["b"]?.totalTokens, 25)
    }))

  it.effect("a delegation chain A -> B -> C counts every call toward all three and is bounded by each", () =>
    Effect.gen(function*() {
      const a = yield* BudgetTracker.make({ totalTokens: 1_000 }, { label: "A" })
      const b = yield* a.child({ totalTokens: 600 }, "B")
      const c = yield* b.child({ totalTokens: 5_000 }, "C") // larger than its parents: they still bind
      const reservation = yield* c.reserve(ask("hi", 100))
      yield* c.commit(reservation, actual(10, 90))
      const totals = yield* Effect.forEach([a, b, c], (t) => Effect.map(t.snapshot, (s) => s.consumed.totalTokens))
      assert.deepStrictEqual(totals, [100, 100, 100])
      assert.strictEqual((yield* c.snapshot).remaining.totalTokens, 500)
      const error = yield* Effect.flip(c.reserve(ask("hi", 520)))
      assert.strictEqual(budgetReason(error).limit, 600)
      assert.include(error.message, "budget \"B\"")
      const other = yield* a.child({ totalTokens: 2_000 }, "D")
      const fromRoot = yield* Effect.flip(other.reserve(ask("hi", 950)))
      assert.strictEqual(budgetReason(fromRoot).limit, 1_000)
    }))

  it.effect("four parallel sub-agents that together ask for more than the root allows never pass it", () =>
    Effect.gen(function*() {
      const root = yield* BudgetTracker.make({ totalTokens: 1_000 })
      const agent = (name: string) =>
        Effect.gen(function*() {
          const child = yield* root.child({ totalTokens: 400 }, name)
          let done = 0
          for (let step = 0; step < 10; step++) {
            const exit = yield* Effect.exit(child.withReservation(ask("work", 60), () => Effect.sleep("10 millis"), () => actual(8, 50)))
            if (Exit.isFailure(exit)) break
            done++
          }
          return done
        })
      const fiber = yield* Effect.forkChild(Effect.all(["a", "b", "c", "d"].map(agent), { concurrency: "unbounded" }))
      yield* TestClock.adjust("1 second")
      const calls = yield* Fiber.join(fiber)
      const snapshot = yield* root.snapshot
      assert.isAtMost(snapshot.consumed.totalTokens, 1_000)
      assert.strictEqual(snapshot.consumed.totalTokens, calls.reduce((sum, n) => sum + n, 0) * 58)
      assert.isBelow(calls.reduce((sum, n) => sum + n, 0), 4 * 6) // each alone could have done 6
      assert.strictEqual(snapshot.reserved.totalTokens, 0)
    }))

  it.effect("the deadline refuses new calls, bounds calls in flight and fails checkpoints (TestClock)", () =>
    Effect.gen(function*() {
      const tracker = yield* BudgetTracker.make({ deadline: "10s" })
      const slow = yield* Effect.forkChild(
        tracker.withReservation(ask("slow"), () => tracker.withinDeadline(Effect.sleep("1 minute")), () => actual(1, 1))
      )
      yield* tracker.checkpoint("step 1")
      yield* TestClock.adjust("10 seconds")
      const exit = yield* Fiber.await(slow)
      assert.isTrue(Exit.isFailure(exit))
      const refused = yield* Effect.flip(tracker.reserve(ask("late")))
      const reason = budgetReason(refused)
      assert.deepStrictEqual([reason.dimension, reason.limit, reason.consumed], ["deadline", 10_000, 10_000])
      const checkpoint = yield* Effect.flip(tracker.checkpoint("step 2"))
      assert.strictEqual(budgetReason(checkpoint).dimension, "deadline")
      assert.strictEqual((yield* tracker.snapshot).reserved.totalTokens, 0)
    }))

  it.effect("a deadline given as an instant holds at that instant (TestClock)", () =>
    Effect.gen(function*() {
      const tracker = yield* BudgetTracker.make({ deadline: new Date(90_000) })
      yield* TestClock.adjust("89 seconds")
      yield* tracker.reserve(ask("in time"))
      assert.strictEqual((yield* tracker.snapshot).deadline?.remainingMs, 1_000)
      yield* TestClock.adjust("1 second")
      const refused = yield* Effect.flip(tracker.reserve(ask("late")))
      assert.strictEqual(budgetReason(refused).dimension, "deadline")
    }))

  it.effect("a child deadline ends before its parent's", () =>
    Effect.gen(function*() {
      const root = yield* BudgetTracker.make({ deadline: "1m" })
      const child = yield* root.child({ deadline: "5s" }, "quick")
      yield* TestClock.adjust("6 seconds")
      assert.strictEqual(budgetReason(yield* Effect.flip(child.checkpoint())).limit, 5_000)
      yield* root.checkpoint()
    }))

  it.effect("a model with no price fails closed under a cost limit, unless onUnknownPrice is allow", () =>
    Effect.gen(function*() {
      const unknown: BudgetTracker.Ask = { ...ask("hi", 10), provider: "acme", model: "x-1", price: undefined }
      const strict = yield* BudgetTracker.make({ costUsd: 1 })
      const error = yield* Effect.flip(strict.reserve(unknown))
      assert.strictEqual(error.reason._tag, "Configuration")
      assert.include(error.message, "acme/x-1")
      const lenient = yield* BudgetTracker.make({ costUsd: 1 }, { onUnknownPrice: "allow" })
      assert.strictEqual((yield* lenient.reserve(unknown)).amounts.costUsd, 0)
      const tokensOnly = yield* BudgetTracker.make({ totalTokens: 100 })
      yield* tokensOnly.reserve(unknown)
    }))

  it.effect("reserves cost from the price and refuses when it would pass costUsd", () =>
    Effect.gen(function*() {
      // mock: $1 per million input, $2 per million output
      const tracker = yield* BudgetTracker.make({ costUsd: 0.001 })
      const reservation = yield* tracker.reserve(ask("hi"))
      const input = reservation.amounts.inputTokens
      assert.strictEqual(reservation.maxTokens, Math.floor((0.001 - input / 1e6) * 1e6 / 2))
      assert.isAtMost(reservation.amounts.costUsd, 0.001)
      const error = yield* Effect.flip(tracker.reserve(ask("hi", 10)))
      assert.strictEqual(budgetReason(error).dimension, "costUsd")
    }))

  it.effect("invalid child limits fail with Configuration", () =>
    Effect.gen(function*() {
      const root = yield* BudgetTracker.make({ totalTokens: 10 })
      const error = yield* Effect.flip(root.child({ totalTokens: -1 }))
      assert.strictEqual(error.reason._tag, "Configuration")
    }))
})
