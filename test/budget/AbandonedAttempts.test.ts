/**
 * Budgets hold when attempts are abandoned (issue 13, items 1 and 1c), end to end: the whole
 * stack (observability, budget, retry with attempt timeouts, the OpenAI adapter on undici)
 * against a local server that bills every request it received, answered or not.
 *
 * The attempt timeouts run on `TestClock`: the server holds every request until its client goes
 * away, and the test moves the clock past the attempt timeout only once the server has received
 * the attempt. So every attempt sent reaches the server before it times out and no answer can
 * cross a timeout, however loaded the machine (on the live clock a 100 ms timeout could fire
 * before a starved event loop had delivered the request, and the budget then rightly charged an
 * attempt the server never saw).
 */
import { assert, describe, it } from "@effect/vitest"
import { type Duration, Effect, Exit, Fiber, Layer, Redacted, References } from "effect"
import { TestClock } from "effect/testing"
import * as Estimate from "../../src/budget/Estimate.ts"
import * as LanguageModel from "../../src/LanguageModel.ts"
import type * as LlmError from "../../src/LlmError.ts"
import type { LlmRequest } from "../../src/LlmRequest.ts"
import * as ModelFactory from "../../src/ModelFactory.ts"
import * as NodeProviders from "../../src/node/NodeProviders.ts"
import * as UsageLedger from "../../src/observability/UsageLedger.ts"
import * as PriceTable from "../../src/pricing/PriceTable.ts"
import * as Stack from "../../src/Stack.ts"
import * as BillingServer from "./billingServer.ts"

const request: LlmRequest = { messages: [{ role: "user", content: "Summarise the plot of Hamlet in one line." }], maxTokens: 100 }

const openai = (origin: string, model = "gpt-4o-mini") => ({
  provider: "openai",
  model,
  apiKey: Redacted.make("sk-test-billing"),
  baseUrl: `${origin}/v1`
})

/** The stack of a configuration, its factory (for the budget) and an in-memory ledger. */
const stackOf = (config: Stack.StackConfig) =>
  Stack.layerFactory(config).pipe(Layer.provide(NodeProviders.layer), Layer.provideMerge(UsageLedger.layerMemory()))

const failureOf = (exit: Exit.Exit<unknown, LlmError.LlmError>): LlmError.LlmError | undefined =>
  Exit.isFailure(exit) ? exit.cause.reasons.flatMap((reason) => (reason._tag === "Fail" ? [reason.error] : []))[0] : undefined

/**
 * Runs a call against a server that holds its requests: each time the server has received one
 * more attempt, the clock moves on by the attempt timeout, which abandons it; until the call ends
 * (all its attempts timed out, or the budget refused one before it was sent). Retries wait 0 ms,
 * so the attempt timeout is the only sleep the call makes.
 */
const timingOutEachAttempt = <A, E, R>(server: BillingServer.Billing, attemptTimeout: Duration.Input, call: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.forkChild(Effect.exit(call))
    // Counted from the call's start, not re-read after each move: an attempt that reached the
    // server while the clock was still moving is not waited for twice.
    for (let next = server.received() + 1;; next++) {
      const arrived = yield* Effect.raceFirst(
        Effect.as(Effect.promise(() => server.untilReceived(next)), true),
        Effect.as(Fiber.await(fiber), false)
      )
      if (!arrived) break
      yield* TestClock.adjust(attemptTimeout)
    }
    return yield* Fiber.join(fiber)
  })

describe("abandoned attempts are charged (real sockets)", () => {
  it.effect(
    "30 sequential calls, a server slower than attemptTimeout 100ms, 3 attempts, a 2,000-token budget: " +
      "what the server billed is what the budget committed, never past the limit",
    () =>
      Effect.gen(function*() {
        // The server took 150 ms; this one never answers: every attempt ends on its timeout.
        const server = yield* BillingServer.start({ delayMs: "never" })
        const layer = stackOf({
          provider: openai(server.origin),
          budget: { budget: { totalTokens: 2_000 } },
          resilience: { retry: { maxAttempts: 3, baseDelay: "0ms", jitter: false }, attemptTimeout: "100ms" }
        })
        yield* Effect.gen(function*() {
          const exits: Array<Exit.Exit<unknown, LlmError.LlmError>> = []
          for (let call = 0; call < 30; call++) exits.push(yield* timingOutEachAttempt(server, "100 millis", LanguageModel.generate(request)))
          yield* BillingServer.settledAll(server)
          const budget = (yield* ModelFactory.ModelFactory).budget!
          const snapshot = yield* budget.snapshot

          // Every request the server received was billed, and the budget committed exactly that.
          assert.strictEqual(server.abandoned(), server.received())
          assert.strictEqual(snapshot.consumed.totalTokens, server.billed())
          assert.isAtMost(server.billed(), 2_000)
          assert.deepStrictEqual([snapshot.reserved.totalTokens, snapshot.openReservations], [0, 0])
          // Each attempt cost its exact input and the output cap it was sent: a handful of
          // attempts fit, not 90.
          const perAttempt = Estimate.exact(request, "openai") + 100
          assert.strictEqual(server.billed(), server.received() * perAttempt)
          assert.strictEqual(server.received(), Math.floor(2_000 / perAttempt))

          // The calls that were sent failed on their attempt timeouts; the rest were refused
          // before anything was sent (at their first attempt or at a retry).
          const reasons = exits.map((exit) => failureOf(exit)?.reason._tag)
          assert.isTrue(reasons.every((reason) => reason === "Timeout" || reason === "BudgetExceeded"), reasons.join())
          const firstRefused = reasons.indexOf("BudgetExceeded")
          assert.isAbove(firstRefused, 0)
          assert.isTrue(reasons.slice(firstRefused).every((reason) => reason === "BudgetExceeded"))

          // One ledger row per logical call: the attempts, the abandoned ones, what they were charged (estimated).
          const rows = yield* UsageLedger.UsageLedger.use((ledger) => ledger.entries())
          assert.strictEqual(rows.length, 30)
          assert.deepStrictEqual(
            [rows[0]!.attempts, rows[0]!.abandonedAttempts, rows[0]!.totalTokens, rows[0]!.estimated, rows[0]!.outcome],
            [3, 3, 3 * perAttempt, true, "Timeout"]
          )
          assert.strictEqual(rows.reduce((sum, row) => sum + row.totalTokens, 0), server.billed())
        }).pipe(Effect.provide(layer))
      }).pipe(Effect.provideService(References.MinimumLogLevel, "None")),
    { timeout: 60_000 }
  )

  it.effect("a retry the budget cannot afford ends the call with BudgetExceeded, the attempt's Timeout as its cause", () =>
    Effect.gen(function*() {
      const server = yield* BillingServer.start({ delayMs: "never" })
      const perAttempt = Estimate.exact(request, "openai") + 100
      // Room for two attempts, not three: the third is refused before it is sent.
      const layer = stackOf({
        provider: openai(server.origin),
        budget: { budget: { totalTokens: 3 * perAttempt - 1 } },
        resilience: { retry: { maxAttempts: 3, baseDelay: "0ms", jitter: false }, attemptTimeout: "100ms" }
      })
      const exit = yield* timingOutEachAttempt(server, "100 millis", LanguageModel.generate(request)).pipe(Effect.provide(layer))
      const error = failureOf(exit)!
      assert.strictEqual(error.reason._tag, "BudgetExceeded")
      assert.include(error.message, "attempt 3 was not sent")
      const cause = (error as { readonly cause?: unknown }).cause as LlmError.LlmError
      assert.strictEqual(cause.reason._tag, "Timeout")
      yield* BillingServer.settledAll(server)
      assert.strictEqual(server.received(), 2)
    }).pipe(Effect.provideService(References.MinimumLogLevel, "None")), { timeout: 30_000 })

  it.live("a server answering another model is priced at the dearer of the two, both names recorded (1c)", () =>
    Effect.gen(function*() {
      // Asked gpt-4o, answered "gpt-4o-mini" (17x cheaper): a $0.01 budget admits a few calls, not 66.
      const server = yield* BillingServer.start({ delayMs: 0, answerModel: "gpt-4o-mini", outputTokens: 100 })
      const layer = stackOf({ provider: openai(server.origin, "gpt-4o"), budget: { budget: { costUsd: 0.01 } } })
      yield* Effect.gen(function*() {
        const gpt4o = PriceTable.make().lookup("openai", "gpt-4o")!
        let admitted = 0
        let refused: LlmError.LlmError | undefined
        while (admitted < 100 && refused === undefined) {
          const exit = yield* Effect.exit(LanguageModel.generate({ ...request, maxTokens: 200 }))
          if (Exit.isFailure(exit)) {
            refused = failureOf(exit)
            break
          }
          admitted++
          const response = exit.value
          assert.strictEqual(response.model, "gpt-4o-mini")
          assert.strictEqual(response.requestedModel, "gpt-4o")
          assert.strictEqual(response.cost?.usd, PriceTable.costOf(gpt4o, response.usage))
        }
        assert.strictEqual(refused?.reason._tag, "BudgetExceeded")
        const spent = (yield* (yield* ModelFactory.ModelFactory).budget!.snapshot).consumed.costUsd
        assert.isAtMost(spent, 0.01)
        // At gpt-4o's price a call costs ~$0.0011 of output alone: fewer than 10 fit.
        assert.isBelow(admitted, 10)
        assert.isAbove(admitted, 0)
        const rows = yield* UsageLedger.UsageLedger.use((ledger) => ledger.entries())
        assert.deepStrictEqual([rows[0]!.model, rows[0]!.requestedModel], ["gpt-4o-mini", "gpt-4o"])
      }).pipe(Effect.provide(layer))
    }).pipe(Effect.provideService(References.MinimumLogLevel, "None")), { timeout: 30_000 })

  it.live("an attempt that never reached the server (connection refused) is released, not charged", () =>
    Effect.gen(function*() {
      // A port nobody listens on: start a server, note its origin, close it.
      const origin = yield* Effect.scoped(Effect.map(BillingServer.start({ delayMs: 0 }), (server) => server.origin))
      const layer = stackOf({
        provider: openai(origin),
        budget: { budget: { totalTokens: 2_000 } },
        resilience: { retry: { maxAttempts: 3, baseDelay: "5ms", jitter: false } }
      })
      yield* Effect.gen(function*() {
        const exit = yield* Effect.exit(LanguageModel.generate(request))
        assert.strictEqual(failureOf(exit)?.reason._tag, "Network")
        const snapshot = yield* (yield* ModelFactory.ModelFactory).budget!.snapshot
        assert.deepStrictEqual([snapshot.consumed.totalTokens, snapshot.reserved.totalTokens, snapshot.openReservations], [0, 0, 0])
        const rows = yield* UsageLedger.UsageLedger.use((ledger) => ledger.entries())
        assert.deepStrictEqual([rows[0]!.attempts, rows[0]!.abandonedAttempts, rows[0]!.totalTokens], [3, 0, 0])
      }).pipe(Effect.provide(layer))
    }).pipe(Effect.provideService(References.MinimumLogLevel, "None")), { timeout: 30_000 })
})
