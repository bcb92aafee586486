/**
 * The bridge request's common shape read without the Schema (stop 31): it accepts only what the
 * `BridgeRequest` Schema accepts and gives the same value with nulls dropped, and
 * `BridgeContract.decode` answers exactly as the Schema alone did.
 */
import { assert, describe, it } from "@effect/vitest"
import { Result, Schema } from "effect"
import * as BridgeContract from "../../../src/bridge/BridgeContract.ts"
import * as CommonRequest from "../../../src/bridge/internal/commonRequest.ts"

// Request-like values: each field absent, of its type (edge values included), null, or of another
// JSON type, so that most values are common requests and each wrong field is met alone too.
const Other = Schema.Union([Schema.String, Schema.Int, Schema.Boolean, Schema.Struct({ x: Schema.Int }), Schema.Array(Schema.Int)])
const field = <S extends Schema.Top>(schema: S) => Schema.optionalKey(Schema.Union([schema, Schema.Null, Other]))
const Edge = Schema.Literals([0, -1, 1, 2, 2.5, 1.5, 0.2, 1e300, 9007199254740993, ""])
const RequestLike = Schema.Union([
  Schema.Struct({
    id: field(Schema.Union([Schema.String, Schema.Finite, Edge])),
    provider: field(Schema.Union([Schema.String, Edge])),
    model: field(Schema.Union([Schema.String, Edge])),
    systemPrompt: field(Schema.String),
    prompt: field(Schema.String),
    messages: field(Schema.Array(Schema.Struct({ role: Schema.Literals(["user", "assistant", "system", "robot"]), content: Schema.String }))),
    maxTokens: field(Schema.Union([Schema.Int, Edge])),
    temperature: field(Schema.Union([Schema.Finite, Edge])),
    api_key: field(Schema.Union([Schema.String, Edge])),
    budget: field(Schema.Struct({ totalTokens: field(Schema.Int) })),
    extra: field(Schema.String)
  }),
  Other
])

const decodeSchema = Schema.decodeUnknownResult(BridgeContract.BridgeRequest)
const withoutNulls = (value: object): object => Object.fromEntries(Object.entries(value).filter(([, field]) => field !== null))

describe("CommonRequest.read", () => {
  it("knows every field of the BridgeRequest Schema, in its order", () => {
    assert.deepStrictEqual([...CommonRequest.FIELDS], Object.keys(BridgeContract.BridgeRequest.fields))
  })

  it.prop("accepts only what the BridgeRequest Schema accepts, and gives its value without nulls", [RequestLike], ([value]) => {
    const json: unknown = JSON.parse(JSON.stringify(value))
    if (typeof json !== "object" || json === null) return
    const read = CommonRequest.read(json)
    if (read === undefined) return
    const decoded = decodeSchema(json)
    assert.isTrue(Result.isSuccess(decoded), JSON.stringify(json))
    if (Result.isSuccess(decoded)) {
      const expected = withoutNulls(decoded.success)
      assert.deepStrictEqual(read, expected)
      // The same field order as the Schema's copy.
      assert.deepStrictEqual(Object.keys(read), Object.keys(expected))
    }
  }, { arbitrary: { runs: 3_000 } })

  it("reads the consumer's request, and leaves messages, a budget and every wrong field to the Schema", () => {
    const request = {
      provider: "openai-compatible",
      model: "gpt-4o-mini",
      systemPrompt: null,
      prompt: "Name the longest river in Africa.",
      maxTokens: 100,
      temperature: 0.2,
      unknown: true
    }
    assert.deepStrictEqual(CommonRequest.read(request), {
      provider: "openai-compatible",
      model: "gpt-4o-mini",
      prompt: "Name the longest river in Africa.",
      maxTokens: 100,
      temperature: 0.2
    })
    assert.deepStrictEqual(CommonRequest.read({ id: 7, prompt: "p", budget: null, messages: null }), { id: 7, prompt: "p" })
    assert.isUndefined(CommonRequest.read({ messages: [{ role: "user", content: "Hi" }] }))
    assert.isUndefined(CommonRequest.read({ prompt: "p", budget: { totalTokens: 10 } }))
    assert.isUndefined(CommonRequest.read({ prompt: "p", maxTokens: 0 }))
    assert.isUndefined(CommonRequest.read({ prompt: "p", maxTokens: 1.5 }))
    assert.isUndefined(CommonRequest.read({ prompt: "p", temperature: 2.01 }))
    assert.isUndefined(CommonRequest.read({ prompt: "p", provider: "" }))
    assert.isUndefined(CommonRequest.read({ prompt: "p", api_key: "" }))
    assert.isUndefined(CommonRequest.read({ prompt: "p", id: true }))
    assert.isUndefined(CommonRequest.read({ prompt: 1 }))
    assert.isUndefined(CommonRequest.read({ prompt: "p", model: undefined }))
    assert.isUndefined(CommonRequest.read(Object.assign(Object.create({ prompt: "inherited" }), { model: "m" })))
  })

  it("agrees with the Schema on every field of a request replaced by each JSON type, an edge value, null, or nothing", () => {
    const sample: Record<string, unknown> = {
      id: "r-1",
      provider: "openai-compatible",
      model: "gpt-4o-mini",
      systemPrompt: "You are terse.",
      prompt: "Hi",
      maxTokens: 100,
      temperature: 0.2,
      api_key: "sk-test",
      extra: 1
    }
    const replacements: ReadonlyArray<unknown> = [null, "", "text", 0, -0, -1, 1, 0.5, 1.5, 2, 2.000001, 1e21, 9007199254740993, true, {}, [], [1]]
    const variants: Array<Record<string, unknown>> = [sample]
    for (const key of [...Object.keys(sample), "messages", "budget"]) {
      for (const replacement of replacements) variants.push({ ...sample, [key]: replacement })
      const { [key]: _, ...without } = sample
      variants.push(without)
    }
    let read = 0
    for (const variant of variants) {
      const json = JSON.parse(JSON.stringify(variant)) as Record<string, unknown>
      const decoded = decodeSchema(json)
      const fast = CommonRequest.read(json)
      if (fast === undefined) continue
      read++
      assert.isTrue(Result.isSuccess(decoded), JSON.stringify(json))
      if (Result.isSuccess(decoded)) assert.deepStrictEqual(fast, withoutNulls(decoded.success))
    }
    // Most variants are common requests (the others are refused, or messages and budgets).
    assert.isAbove(read, 60)
  })

  it.prop("BridgeContract.decode answers as the Schema alone: the same request, or the same refusal", [RequestLike], ([value]) => {
    const json: unknown = JSON.parse(JSON.stringify(value))
    const answer = BridgeContract.decode(json)
    if (typeof json !== "object" || json === null || Array.isArray(json)) {
      assert.isTrue(Result.isFailure(answer))
      return
    }
    const decoded = decodeSchema(json, { errors: "all" })
    assert.strictEqual(Result.isFailure(decoded) ? "refused" : "decoded", Result.isFailure(answer) && answer.failure.document.error.startsWith("invalid request:") ? "refused" : "decoded", JSON.stringify(json))
    if (Result.isSuccess(decoded) && Result.isSuccess(answer)) {
      const expected: Record<string, unknown> = { ...withoutNulls(decoded.success) }
      if (typeof expected.budget === "object" && expected.budget !== null) expected.budget = withoutNulls(expected.budget)
      assert.deepStrictEqual(answer.success, expected)
    }
  }, { arbitrary: { runs: 2_000 } })
})
