import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import * as LlmError from "../src/LlmError.ts"

const reasons: ReadonlyArray<readonly [LlmError.LlmErrorReason, boolean]> = [
  [new LlmError.Authentication({ description: "bad key" }), false],
  [new LlmError.PermissionDenied({ description: "no" }), false],
  [new LlmError.InvalidRequest({ description: "bad" }), false],
  [new LlmError.NotFound({ description: "no model", model: "x" }), false],
  [new LlmError.RateLimited({ description: "slow down", retryAfterMs: 2000 }), true],
  [new LlmError.Timeout({ description: "late", scope: "attempt", attempts: 1, elapsedMs: 10 }), true],
  [new LlmError.Timeout({ description: "late", scope: "call", attempts: 3, elapsedMs: 10 }), false],
  [new LlmError.ServerError({ description: "boom", status: 502 }), true],
  [new LlmError.Network({ description: "reset" }), true],
  [new LlmError.ContentFiltered({ description: "filtered" }), false],
  [new LlmError.ResponseMalformed({ description: "not json" }), false],
  [new LlmError.Configuration({ description: "no key", setting: "OPENAI_API_KEY", fix: "export it" }), false],
  [new LlmError.Unavailable({ description: "overloaded" }), true],
  [
    new LlmError.BudgetExceeded({
      description: "over",
      dimension: "totalTokens",
      limit: 10,
      consumed: 5,
      reserved: 0,
      requested: 6
    }),
    false
  ],
  [new LlmError.CircuitOpen({ description: "open", untilMs: 1 }), false],
  [new LlmError.Unsupported({ description: "no tools", feature: "tool-calls" }), false],
  [new LlmError.InvalidOutput({ description: "not the schema", raw: "{", issues: ["Expected an object"] }), false],
  [new LlmError.PolicyDenied({ description: "not allowed" }), false],
  [new LlmError.Interrupted({ description: "interrupted" }), false],
  [new LlmError.Timeout({ description: "stalled", scope: "idle", attempts: 1, elapsedMs: 60_000 }), false],
  [new LlmError.Unknown({ description: "?" }), false]
]

describe("LlmError", () => {
  it("covers every reason of the union", () => {
    const tags = new Set(reasons.map(([reason]) => reason._tag))
    assert.strictEqual(tags.size, LlmError.LlmErrorReason.members.length)
  })

  for (const [reason, retryable] of reasons) {
    const label = reason._tag === "Timeout" ? `Timeout/${reason.scope}` : reason._tag
    it(`${label} is ${retryable ? "" : "not "}retryable`, () => {
      const error = LlmError.make("openai", reason, { model: "gpt-4o-mini" })
      assert.strictEqual(error.isRetryable, retryable)
      assert.include(error.message, reason._tag)
      assert.include(error.message, "openai/gpt-4o-mini")
    })
  }

  it("the message of a Configuration error says how to fix it", () => {
    const error = LlmError.make(
      "openai",
      new LlmError.Configuration({ description: "no API key", setting: "OPENAI_API_KEY", fix: "export OPENAI_API_KEY=sk-..." })
    )
    assert.include(error.message, "Fix: export OPENAI_API_KEY")
  })

  it("retryAfterMs comes from a RateLimited reason only", () => {
    assert.strictEqual(LlmError.make("p", new LlmError.RateLimited({ description: "", retryAfterMs: 1500 })).retryAfterMs, 1500)
    assert.isUndefined(LlmError.make("p", new LlmError.Network({ description: "" })).retryAfterMs)
  })

  it("toDocument flattens the reason's fields next to errorType", () => {
    const doc = LlmError.toDocument(
      LlmError.make(
        "mock",
        new LlmError.BudgetExceeded({
          description: "over",
          dimension: "totalTokens",
          limit: 10,
          consumed: 5,
          reserved: 1,
          requested: 6
        }),
        { status: 400 }
      )
    )
    assert.deepStrictEqual(doc, {
      error: "BudgetExceeded (mock): over",
      errorType: "BudgetExceeded",
      retryable: false,
      provider: "mock",
      status: 400,
      description: "over",
      dimension: "totalTokens",
      limit: 10,
      consumed: 5,
      reserved: 1,
      requested: 6
    })
    assert.isTrue(Schema.is(LlmError.ErrorDocument)(doc))
  })

  it("toDocument scrubs secrets: a key, a URL's credentials", () => {
    const doc = LlmError.toDocument(
      LlmError.make(
        "openai-compatible",
        new LlmError.Network({ description: "nothing is listening at http://u:pw123@h:1/v1?key=AIzaQuery0 (Bearer abcdefgh12345678)" })
      )
    )
    const text = JSON.stringify(doc)
    for (const secret of ["pw123", "AIzaQuery0", "abcdefgh12345678"]) assert.notInclude(text, secret)
    assert.strictEqual(doc.description, "nothing is listening at http://u:<redacted>@h:1/v1?key=<redacted> (Bearer <redacted>)")
  })

  it.effect("is a yieldable, catchable error", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Effect.fail(LlmError.make("p", new LlmError.Network({ description: "reset" }))))
      assert.strictEqual(error._tag, "LlmError")
      assert.isTrue(LlmError.isLlmError(error))
    }))
})
