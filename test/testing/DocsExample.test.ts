/**
 * The 10-line example of docs/testing.md, as written there (with a `summarise` of its own).
 */
import { expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as LanguageModel from "../../src/LanguageModel.ts"
import { TestAssertions, TestModel } from "../../src/testing/index.ts"

// The user's code under test: one call, retried once on a retryable failure.
const summarise = (text: string) =>
  LanguageModel.generate(`Summarise: ${text}`).pipe(
    Effect.retry({ times: 1, while: (error) => error.isRetryable }),
    Effect.map((response) => response.content)
  )

it.effect("summarise retries once on a rate limit", () =>
  Effect.gen(function*() {
    expect(yield* summarise("long text...")).toBe("Short.")      // your code, calling LanguageModel
    yield* TestAssertions.expectCalls(2)                           // the 429, then the retry
    yield* TestAssertions.expectUsage({ calls: 2, errors: 1 })     // what the ledger recorded
  }).pipe(Effect.provide(TestModel.layerObserved([{ fault: "429:1s" }, "Short."]))))
