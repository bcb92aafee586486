/**
 * Assertions for tests of pipelines built on llm-connect: the calls a model received, the usage
 * the ledger recorded, and failures with a given reason (budget refusals especially).
 *
 * Each assertion is an Effect that fails with {@link AssertionFailed} (a readable message of
 * expected versus actual), so it works in any test runner; with `@effect/vitest` a failed
 * assertion fails the test. Calls come from the `MockLanguageModel` control (provided by the mock
 * and by `TestModel`); usage from the `UsageLedger` (provided by `TestModel.layerObserved`, or
 * `UsageLedger.layerMemory` under the observability layer).
 *
 * @since 0.1.0
 */
import { Effect, Schema } from "effect"
import * as LlmError from "../LlmError.ts"
import type { LlmRequest } from "../LlmRequest.ts"
import * as UsageLedger from "../observability/UsageLedger.ts"
import { MockLanguageModel } from "../providers/mock/MockLanguageModel.ts"

/**
 * An assertion did not hold.
 *
 * @since 0.1.0
 * @category errors
 */
export class AssertionFailed extends Schema.TaggedError<AssertionFailed>()("AssertionFailed", {
  message: Schema.String
}) {}

const fail = (message: string) => Effect.fail(new AssertionFailed({ message }))

/**
 * The requests the mock (or `TestModel`) received, oldest first.
 *
 * @since 0.1.0
 * @category calls
 */
export const callsMade: Effect.Effect<ReadonlyArray<LlmRequest>, never, MockLanguageModel> = MockLanguageModel.use(
  (mock) => mock.calls
)

/**
 * Asserts how many calls the model received; returns them.
 *
 * @since 0.1.0
 * @category calls
 */
export const expectCalls = (count: number): Effect.Effect<ReadonlyArray<LlmRequest>, AssertionFailed, MockLanguageModel> =>
  Effect.flatMap(callsMade, (calls) =>
    calls.length === count ? Effect.succeed(calls) : fail(`expected ${count} model call(s), got ${calls.length}`))

/**
 * The ledger's totals (all entries, or those since an epoch-ms time).
 *
 * @since 0.1.0
 * @category usage
 */
export const usage = (
  options: { readonly since?: number | undefined } = {}
): Effect.Effect<UsageLedger.Summary, never, UsageLedger.UsageLedger> =>
  Effect.map(UsageLedger.UsageLedger.use((ledger) => ledger.entries(options)), (entries) =>
    UsageLedger.summarize(entries)[0] ?? {
      key: "all",
      calls: 0,
      errors: 0,
      inputTokens: 0,
      outputTokens: 0,
      totalTokens: 0,
      costUsd: 0,
      meanLatencyMs: 0
    })

/**
 * Asserts the ledger's totals: each field given must match exactly (cost to 1e-9 USD).
 *
 * @since 0.1.0
 * @category usage
 * @example
 * yield* TestAssertions.expectUsage({ calls: 2, errors: 1, outputTokens: 12 })
 */
export const expectUsage = (
  expected: Partial<Omit<UsageLedger.Summary, "key" | "meanLatencyMs">>
): Effect.Effect<UsageLedger.Summary, AssertionFailed, UsageLedger.UsageLedger> =>
  Effect.flatMap(usage(), (actual) => {
    const wrong = Object.entries(expected).filter(([field, value]) => {
      const got = actual[field as keyof typeof expected]
      return typeof got === "number" && typeof value === "number" && field === "costUsd" ? Math.abs(got - value) > 1e-9 : got !== value
    })
    if (wrong.length === 0) return Effect.succeed(actual)
    return fail(`usage differs: ${wrong.map(([field, value]) => `${field} expected ${value}, got ${actual[field as keyof typeof expected]}`).join("; ")}`)
  })

/**
 * Runs an effect that must fail with an `LlmError` of the given reason; returns the error.
 *
 * @since 0.1.0
 * @category failures
 */
export const expectFailure = <A, R>(
  effect: Effect.Effect<A, LlmError.LlmError, R>,
  reason: LlmError.ReasonTag
): Effect.Effect<LlmError.LlmError, AssertionFailed, R> =>
  Effect.matchEffect(effect, {
    onSuccess: () => fail(`expected a failure with reason ${reason}, but the call succeeded`),
    onFailure: (error) =>
      error.reason._tag === reason
        ? Effect.succeed(error)
        : fail(`expected a failure with reason ${reason}, got ${error.reason._tag}: ${error.message}`)
  })

/**
 * Runs an effect that a budget must refuse (optionally on a given dimension); returns the
 * refusal's details (limit, consumed, reserved, requested).
 *
 * @since 0.1.0
 * @category failures
 */
export const expectBudgetExceeded = <A, R>(
  effect: Effect.Effect<A, LlmError.LlmError, R>,
  dimension?: LlmError.BudgetDimension
): Effect.Effect<LlmError.BudgetExceeded, AssertionFailed, R> =>
  Effect.flatMap(expectFailure(effect, "BudgetExceeded"), (error) => {
    const reason = error.reason as LlmError.BudgetExceeded
    return dimension === undefined || reason.dimension === dimension
      ? Effect.succeed(reason)
      : fail(`expected a budget refusal on ${dimension}, got one on ${reason.dimension}`)
  })

/**
 * How many calls a budget refused, according to the ledger.
 *
 * @since 0.1.0
 * @category usage
 */
export const budgetRefusals: Effect.Effect<number, never, UsageLedger.UsageLedger> = Effect.map(
  UsageLedger.UsageLedger.use((ledger) => ledger.entries()),
  (entries) => entries.filter((entry) => entry.outcome === "BudgetExceeded").length
)
