// The Redis store's scripts against the memory store's rules (internal/ledger.ts): the same
// random programs run on both, in lockstep; every outcome (granted amounts and output cap, or the
// refused dimension) and every budget's figures after every step are the same. A `CommitLater`
// step commits as the budget layer does after an answer (ADR 0030): the memory store at once,
// Redis in the background, the next step running while that commit is in flight (its figures are
// read only after the next step): its outcome must still be the memory store's.
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Schema } from "effect"
import * as BudgetStore from "../../src/budget/BudgetStore.ts"
import * as BudgetTracker from "../../src/budget/BudgetTracker.ts"
import * as Background from "../../src/budget/internal/background.ts"
import * as RedisBudgetStore from "../../src/budget/RedisBudgetStore.ts"
import * as PriceTable from "../../src/pricing/PriceTable.ts"
import * as Usage from "../../src/Usage.ts"
import { redisForFile } from "../support/redis.ts"

const { enabled, server } = redisForFile("test/store/RedisBudgetStore.prop.test.ts")

const between = (minimum: number, maximum: number) => Schema.Int.check(Schema.isBetween({ minimum, maximum }))

const Step = Schema.Union([
  Schema.TaggedStruct("Reserve", { budget: between(0, 9), chars: between(1, 300), maxTokens: Schema.optionalKey(between(1, 400)) }),
  Schema.TaggedStruct("Commit", {
    reservation: between(0, 99),
    input: between(0, 300),
    output: between(0, 500),
    conversation: Schema.optionalKey(between(0, 2))
  }),
  Schema.TaggedStruct("CommitLater", { reservation: between(0, 99), input: between(0, 300), output: between(0, 500) }),
  Schema.TaggedStruct("Release", { reservation: between(0, 99) }),
  Schema.TaggedStruct("Child", { budget: between(0, 9), totalTokens: between(100, 5_000) }),
  Schema.TaggedStruct("Cumulative", { budget: between(0, 9), conversation: between(0, 2), tokens: between(0, 600) })
])
type Step = typeof Step.Type
const Steps = Schema.Array(Step).check(Schema.isMinLength(1), Schema.isMaxLength(40))

const price = PriceTable.make().lookup("mock", "mock-1")!
let runs = 0

interface Side {
  readonly budgets: Array<BudgetTracker.Service>
  readonly reservations: Array<{ readonly tracker: BudgetTracker.Service; readonly reservation: BudgetTracker.Reservation }>
}

const figures = (side: Side) =>
  Effect.forEach(side.budgets, (tracker) =>
    Effect.map(tracker.snapshot, (snapshot) => ({
      consumed: snapshot.consumed,
      reserved: snapshot.reserved,
      open: snapshot.openReservations,
      remaining: snapshot.remaining
    })))

const outcome = (exit: Exit.Exit<BudgetTracker.Reservation, { reason: { _tag: string } }>) =>
  Exit.isSuccess(exit)
    ? { granted: exit.value.amounts, maxTokens: exit.value.maxTokens, remaining: exit.value.remaining }
    : { refused: Exit.isFailure(exit) ? String(exit.cause.reasons.map((reason) => ("error" in reason ? String((reason.error as unknown as { message: string }).message) : "")).join()) : "" }

// Overshoots without their instant: the memory store's comes from the TestClock, Redis's from the server.
const withoutTimes = (overshoots: ReadonlyArray<BudgetTracker.Overshoot>) =>
  overshoots.map(({ atMillis: _at, ...rest }) => ({ ...rest }))

const step = (side: Side, current: Step) => {
  const tracker = side.budgets[("budget" in current ? current.budget : 0) % side.budgets.length]!
  switch (current._tag) {
    case "Reserve":
      return Effect.map(
        Effect.exit(tracker.reserve({
          request: {
            messages: [{ role: "user", content: "x".repeat(current.chars) }],
            ...(current.maxTokens !== undefined ? { maxTokens: current.maxTokens } : {})
          },
          provider: "mock",
          model: "mock-1",
          price
        })),
        (exit) => {
          if (Exit.isSuccess(exit)) side.reservations.push({ tracker, reservation: exit.value })
          return outcome(exit)
        }
      )
    case "Commit": {
      const entry = side.reservations[current.reservation % Math.max(1, side.reservations.length)]
      if (entry === undefined) return Effect.succeed("none")
      const usage = Usage.make({ inputTokens: current.input, outputTokens: current.output })
      return Effect.map(entry.tracker.commit(entry.reservation, {
        usage,
        costUsd: PriceTable.costOf(price, usage),
        ...(current.conversation !== undefined ? { conversationId: `c${current.conversation}` } : {})
      }), withoutTimes)
    }
    case "CommitLater": {
      const entry = side.reservations[current.reservation % Math.max(1, side.reservations.length)]
      if (entry === undefined) return Effect.succeed("none")
      const usage = Usage.make({ inputTokens: current.input, outputTokens: current.output })
      const actual = { usage, costUsd: PriceTable.costOf(price, usage) }
      const later = Background.commitLaterOf(entry.tracker)
      return Effect.as(later === undefined ? entry.tracker.commit(entry.reservation, actual) : later(entry.reservation, actual), "committed")
    }
    case "Release": {
      const entry = side.reservations[current.reservation % Math.max(1, side.reservations.length)]
      if (entry === undefined) return Effect.succeed("none")
      return Effect.as(entry.tracker.release(entry.reservation), "released")
    }
    case "Child":
      return Effect.map(Effect.exit(tracker.child({ totalTokens: current.totalTokens }, `child${side.budgets.length}`)), (exit) => {
        if (Exit.isSuccess(exit)) side.budgets.push(exit.value)
        return Exit.isSuccess(exit)
      })
    case "Cumulative": {
      const usage = Usage.make({ inputTokens: current.tokens, outputTokens: current.tokens })
      return Effect.map(
        tracker.recordCumulative(`c${current.conversation}`, usage, { costUsd: PriceTable.costOf(price, usage), provider: "mock", model: "mock-1" }),
        withoutTimes
      )
    }
  }
}

describe.runIf(enabled)("RedisBudgetStore (property)", () => {
  it.effect.prop(
    "runs every program exactly as the memory store does",
    [Steps],
    ([steps]) =>
      Effect.gen(function*() {
        const limits = { totalTokens: 20_000, outputTokens: 8_000, costUsd: 0.05 }
        const options = { defaultMaxTokens: 200 }
        const memory: Side = { budgets: [yield* BudgetTracker.make(limits, options)], reservations: [] }
        const store = yield* RedisBudgetStore.make({ url: server().url, prefix: `{prop${++runs}}:` })
        const redis: Side = {
          budgets: [yield* BudgetTracker.make(limits, options).pipe(Effect.provideService(BudgetStore.BudgetStore, store))],
          reservations: []
        }
        for (const current of steps) {
          const expected = yield* step(memory, current)
          const actual = yield* step(redis, current)
          assert.deepStrictEqual(actual, expected, `step ${JSON.stringify(current)}`)
          if (current._tag === "CommitLater") continue
          assert.deepStrictEqual(yield* figures(redis), yield* figures(memory), `figures after ${JSON.stringify(current)}`)
        }
      }).pipe(Effect.scoped),
    { arbitrary: { runs: 25 } }
  )
})
