import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Schema } from "effect"
import { TestClock } from "effect/testing"
import * as BudgetTracker from "../../src/budget/BudgetTracker.ts"
import * as PriceTable from "../../src/pricing/PriceTable.ts"
import * as Usage from "../../src/Usage.ts"

const between = (minimum: number, maximum: number) => Schema.Int.check(Schema.isBetween({ minimum, maximum }))

/** One fiber's call: its prompt size, output cap, what the provider does, and when. */
const Call = Schema.Struct({
  promptChars: between(1, 400),
  maxTokens: Schema.optionalKey(between(1, 300)),
  usedInputPercent: between(10, 100),
  usedOutput: between(0, 300),
  outcome: Schema.Literals(["ok", "ok", "ok", "fail", "timeout", "interrupt", "overshoot"]),
  delayMs: between(0, 50)
})
type Call = typeof Call.Type

const Calls = Schema.Array(Call).check(Schema.isMinLength(200), Schema.isMaxLength(400))
const Limits = Schema.Struct({
  totalTokens: between(2_000, 20_000),
  outputTokens: between(1_000, 10_000),
  costUsd: between(5, 40) // thousandths of a dollar
})

const price = PriceTable.make().lookup("mock", "mock-1")!

const dimensions = ["inputTokens", "outputTokens", "totalTokens", "costUsd"] as const

describe("BudgetTracker under concurrency (property)", () => {
  it.effect.prop(
    "hundreds of concurrent calls with random usage, failures and interruptions never commit past a limit and leave nothing reserved",
    [Limits, Calls, Schema.Boolean],
    ([limits, calls, delegated]) =>
      Effect.gen(function*() {
        const root = yield* BudgetTracker.make({
          totalTokens: limits.totalTokens,
          outputTokens: limits.outputTokens,
          costUsd: limits.costUsd / 1_000
        }, { defaultMaxTokens: 200 })
        // Half of the runs go through a child budget, to exercise the chain as well.
        const tracker = delegated ? yield* root.child({ totalTokens: limits.totalTokens * 2 }, "agent") : root
        const violations: Array<string> = []

        const observe = Effect.gen(function*() {
          const snapshot = yield* root.snapshot
          const excess = { inputTokens: 0, outputTokens: 0, totalTokens: 0, costUsd: 0 }
          for (const overshoot of snapshot.overshoots) excess[overshoot.dimension] += overshoot.actual - overshoot.reserved
          for (const dimension of dimensions) {
            const limit = root.limits[dimension]
            if (limit === undefined) continue
            const held = snapshot.consumed[dimension] + snapshot.reserved[dimension] - excess[dimension]
            if (held > limit + 1e-9) violations.push(`${dimension}: ${held} > ${limit}`)
          }
        })

        const run = (call: Call) => {
          const ask: BudgetTracker.Ask = {
            request: {
              messages: [{ role: "user", content: "x".repeat(call.promptChars) }],
              ...(call.maxTokens !== undefined ? { maxTokens: call.maxTokens } : {})
            },
            provider: "mock",
            model: "mock-1",
            price
          }
          let cap = 0
          const use = (reservation: BudgetTracker.Reservation) =>
            Effect.gen(function*() {
              cap = reservation.maxTokens ?? 0
              yield* observe
              yield* Effect.sleep(call.delayMs)
              if (call.outcome === "fail") return yield* Effect.fail("provider failed")
              if (call.outcome === "timeout" || call.outcome === "interrupt") return yield* Effect.never
              const inputTokens = Math.max(1, Math.floor((reservation.amounts.inputTokens * call.usedInputPercent) / 100))
              const outputTokens = call.outcome === "overshoot" ? cap + 1 + call.usedOutput : Math.min(call.usedOutput, cap)
              return Usage.make({ inputTokens, outputTokens })
            })
          const tracked = tracker.withReservation(ask, use, (usage) => ({ usage, costUsd: PriceTable.costOf(price, usage) })).pipe(
            Effect.tap(() => observe)
          )
          return call.outcome === "timeout" ? Effect.timeout(tracked, call.delayMs + 5) : tracked
        }

        const fibers = yield* Effect.forEach(calls, (call) => Effect.forkChild(Effect.exit(run(call))))
        yield* TestClock.adjust(20)
        yield* Effect.forEach(
          fibers.filter((_, index) => calls[index]!.outcome === "interrupt"),
          (fiber) => Fiber.interrupt(fiber),
          { concurrency: "unbounded", discard: true }
        )
        yield* TestClock.adjust(100)
        yield* Effect.forEach(fibers, (fiber, index) => (calls[index]!.outcome === "interrupt" ? Effect.void : Fiber.join(fiber)), {
          discard: true
        })
        yield* observe

        const snapshot = yield* root.snapshot
        assert.deepStrictEqual(violations, [])
        assert.strictEqual(snapshot.openReservations, 0)
        for (const dimension of dimensions) assert.closeTo(snapshot.reserved[dimension], 0, 1e-9)
        const overshootCalls = calls.filter((call) => call.outcome === "overshoot").length
        assert.isAtMost(snapshot.overshoots.length, overshootCalls * dimensions.length)
        if (delegated) {
          const child = yield* tracker.snapshot
          assert.deepStrictEqual(child.consumed, snapshot.consumed)
        }
      }),
    { timeout: 120_000, arbitrary: { runs: 25 } }
  )
})
