import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Schema } from "effect"
import * as BudgetLanguageModel from "../src/budget/BudgetLanguageModel.ts"
import * as BudgetTracker from "../src/budget/BudgetTracker.ts"
import * as Estimate from "../src/budget/Estimate.ts"
import * as LanguageModel from "../src/LanguageModel.ts"
import * as LlmError from "../src/LlmError.ts"
import * as LlmRequest from "../src/LlmRequest.ts"
import * as Message from "../src/Message.ts"
import * as MockLanguageModel from "../src/providers/mock/MockLanguageModel.ts"
import * as ResponseFormat from "../src/ResponseFormat.ts"
import * as TestModel from "../src/testing/TestModel.ts"
import * as Tokenizer from "../src/Tokenizer.ts"

const City = Schema.Struct({ city: Schema.String, population: Schema.Int })

const invalidOutput = (error: LlmError.LlmError): LlmError.InvalidOutput => {
  assert.strictEqual(error.reason._tag, "InvalidOutput")
  return error.reason as LlmError.InvalidOutput
}

describe("LanguageModel.generateObject", () => {
  it.effect("decodes the answer with the Schema and sends the Schema's JSON Schema as responseFormat", () =>
    Effect.gen(function*() {
      const result = yield* LanguageModel.generateObject({ schema: City, prompt: "Largest city of France?", name: "city" })
      const typed: { readonly city: string; readonly population: number } = result.object
      assert.deepStrictEqual(typed, { city: "Paris", population: 2_100_000 })
      assert.strictEqual(result.responses.length, 1)
      assert.deepStrictEqual(result.usage, result.response.usage)
      const [sent] = yield* (yield* MockLanguageModel.MockLanguageModel).calls
      assert.deepStrictEqual(sent!.responseFormat, {
        type: "json",
        name: "city",
        schema: {
          type: "object",
          properties: {
            city: { type: "string" },
            population: { type: "integer", minimum: -9007199254740991, maximum: 9007199254740991 }
          },
          required: ["city", "population"],
          additionalProperties: false
        }
      })
      assert.isTrue(ResponseFormat.strictOf(sent!.responseFormat!))
    }).pipe(Effect.provide(TestModel.layer(["{\"city\":\"Paris\",\"population\":2100000}"]))))

  it.effect("reads JSON inside a Markdown code fence", () =>
    Effect.gen(function*() {
      const { object } = yield* LanguageModel.generateObject({ schema: City, prompt: "x" })
      assert.deepStrictEqual(object, { city: "Lyon", population: 520000 })
    }).pipe(Effect.provide(TestModel.layer(["```json\n{\"city\":\"Lyon\",\"population\":520000}\n```"]))))

  it.effect("repairs once: the second request carries the invalid answer and its decode issues", () =>
    Effect.gen(function*() {
      const result = yield* LanguageModel.generateObject({ schema: City, prompt: "Largest city of France?" })
      assert.deepStrictEqual(result.object, { city: "Paris", population: 2 })
      assert.strictEqual(result.responses.length, 2)
      assert.strictEqual(result.usage.totalTokens, result.responses[0]!.usage.totalTokens + result.responses[1]!.usage.totalTokens)
      const calls = yield* (yield* MockLanguageModel.MockLanguageModel).calls
      assert.strictEqual(calls.length, 2)
      const repair = calls[1]!.messages
      assert.strictEqual(repair.length, 3)
      assert.deepStrictEqual(repair[0], Message.user("Largest city of France?"))
      assert.deepStrictEqual(repair[1], Message.assistant("{\"city\":\"Paris\",\"population\":\"many\"}"))
      const text = Message.text(repair[2]!)
      assert.include(text, "- $.population: Expected number")
      assert.include(text, "\"required\":[\"city\",\"population\"]")
      assert.deepStrictEqual(calls[1]!.responseFormat, calls[0]!.responseFormat)
    }).pipe(Effect.provide(TestModel.layer([
      "{\"city\":\"Paris\",\"population\":\"many\"}",
      "{\"city\":\"Paris\",\"population\":2}"
    ]))))

  it.effect("fails with InvalidOutput after the repair, carrying the raw text and every issue", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(LanguageModel.generateObject({ schema: City, prompt: "x" }))
      const reason = invalidOutput(error)
      assert.strictEqual(reason.raw, "{\"population\":1.5}")
      assert.deepStrictEqual(reason.issues, ["$.city: Missing key", "$.population: Expected an integer"])
      assert.include(error.message, "after 2 request(s)")
      assert.strictEqual(LlmError.toDocument(error).errorType, "InvalidOutput")
      assert.strictEqual((yield* (yield* MockLanguageModel.MockLanguageModel).calls).length, 2)
    }).pipe(Effect.provide(TestModel.layer(["not json at all", "{\"population\":1.5}"]))))

  it.effect("repairAttempts 0 makes one request; 2 makes three; an answer that is not JSON says so", () =>
    Effect.gen(function*() {
      const once = yield* Effect.flip(LanguageModel.generateObject({ schema: City, prompt: "x", repairAttempts: 0 }))
      assert.deepStrictEqual(invalidOutput(once).issues, [
        "$: the answer is not JSON (Unexpected token 'o', \"nope\" is not valid JSON)"
      ])
      const thrice = yield* LanguageModel.generateObject({ schema: City, prompt: "x", repairAttempts: 2 })
      assert.strictEqual(thrice.responses.length, 3)
      const bad = yield* Effect.flip(LanguageModel.generateObject({ schema: City, prompt: "x", repairAttempts: 1.5 }))
      assert.strictEqual(bad.reason._tag, "InvalidRequest")
      assert.strictEqual((yield* (yield* MockLanguageModel.MockLanguageModel).calls).length, 4)
    }).pipe(Effect.provide(TestModel.layer(["nope", "", "[]", "{\"city\":\"A\",\"population\":1}"]))))

  it.effect("bounds the raw text and the issues an InvalidOutput carries", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        LanguageModel.generateObject({ schema: Schema.Struct({ xs: Schema.Array(Schema.Int) }), prompt: "x", repairAttempts: 0 })
      )
      const reason = invalidOutput(error)
      assert.isAtMost(reason.raw!.length, ResponseFormat.MAX_RAW_CHARS + 40)
      assert.match(reason.raw!, /\.\.\. \(\d+ more characters\)$/)
      assert.strictEqual(reason.issues!.length, ResponseFormat.MAX_ISSUES + 1)
      assert.strictEqual(reason.issues![ResponseFormat.MAX_ISSUES], "... and 2980 more issues")
    }).pipe(Effect.provide(TestModel.layer([JSON.stringify({ xs: Array.from({ length: 3000 }, () => "s") })]))))

  it.effect("the mock with no reply answers the simplest object the schema accepts", () =>
    Effect.gen(function*() {
      const Shape = Schema.Struct({
        name: Schema.String,
        count: Schema.Int,
        kind: Schema.Literals(["a", "b"]),
        tags: Schema.Array(Schema.String),
        note: Schema.optionalKey(Schema.String)
      })
      const { object } = yield* LanguageModel.generateObject({ schema: Shape, prompt: "x" })
      assert.deepStrictEqual(object, { name: "", count: 0, kind: "a", tags: [] })
    }).pipe(Effect.provide(MockLanguageModel.layer())))

  it.effect("the mock with a reply returns it verbatim, so InvalidOutput is reachable", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(LanguageModel.generateObject({ schema: City, prompt: "x" }))
      assert.strictEqual(invalidOutput(error).raw, "hello")
    }).pipe(Effect.provide(MockLanguageModel.layer({ reply: "hello" }))))

  it.effect("a Schema whose root is not an object is refused before any request", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(LanguageModel.generateObject({ schema: Schema.Array(Schema.String), prompt: "x" }))
      assert.strictEqual(error.reason._tag, "InvalidRequest")
      assert.include(error.message, "must be a JSON Schema object")
      assert.strictEqual((yield* (yield* MockLanguageModel.MockLanguageModel).calls).length, 0)
    }).pipe(Effect.provide(TestModel.layer([]))))

  it.effect("each repair goes through the budget: reserved, and committed with its real usage", () =>
    Effect.gen(function*() {
      const result = yield* LanguageModel.generateObject({ schema: City, prompt: "x" })
      const snapshot = yield* BudgetTracker.snapshot
      assert.strictEqual(result.responses.length, 2)
      assert.strictEqual(snapshot.consumed.totalTokens, result.usage.totalTokens)
      assert.strictEqual(snapshot.reserved.totalTokens, 0)
    }).pipe(Effect.provide(
      BudgetLanguageModel.layer.pipe(
        Layer.provideMerge(TestModel.layer(["{}", "{\"city\":\"A\",\"population\":1}"])),
        Layer.provideMerge(BudgetTracker.layer({ totalTokens: 100_000 }))
      )
    )))

  it.effect("a repair the budget cannot afford fails with BudgetExceeded, after the first answer was counted", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(LanguageModel.generateObject({ schema: City, prompt: "x", maxTokens: 50 }))
      assert.strictEqual(error.reason._tag, "BudgetExceeded")
      const calls = yield* (yield* MockLanguageModel.MockLanguageModel).calls
      assert.strictEqual(calls.length, 1)
      const snapshot = yield* BudgetTracker.snapshot
      assert.isAbove(snapshot.consumed.totalTokens, 0)
      assert.strictEqual(snapshot.reserved.totalTokens, 0)
    }).pipe(Effect.provide(
      BudgetLanguageModel.layer.pipe(
        Layer.provideMerge(TestModel.layer(["{}", "{\"city\":\"A\",\"population\":1}"])),
        Layer.provideMerge(BudgetTracker.layer({ totalTokens: 150 }))
      )
    )))
})

describe("LlmRequest.responseFormat", () => {
  it.effect("decode refuses a schema whose root is not an object, naming the field", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(LlmRequest.decode({
        messages: [{ role: "user", content: "x" }],
        responseFormat: { type: "json", schema: { type: "array" } }
      }))
      assert.include(String(error), "responseFormat.schema must be a JSON Schema object")
    }))

  it("the schema counts as input: prompt text, the token count, and Anthropic's forced-tool framing in the estimate", () => {
    const plain = LlmRequest.make({ prompt: "x" })
    const request = LlmRequest.make({ prompt: "x", responseFormat: ResponseFormat.fromSchema(City, { name: "city" }) })
    assert.include(LlmRequest.promptText(request), "\"population\"")
    assert.include(LlmRequest.toolsText(request), "city\n")
    assert.isAbove(Tokenizer.countRequest(request), Tokenizer.countRequest(plain) + 20)
    assert.strictEqual(
      Estimate.framingOf(request, Estimate.settingsFor("anthropic")) - Estimate.framingOf(plain, Estimate.settingsFor("anthropic")),
      400 + Estimate.TOOL_FRAMING_PER_TOOL
    )
    assert.strictEqual(Estimate.framingOf(request, Estimate.settingsFor("mock")), 0)
  })

  it("strict is the request's, else whether every object is closed with every property required", () => {
    assert.isTrue(ResponseFormat.strictOf(ResponseFormat.fromSchema(City)))
    assert.isFalse(ResponseFormat.strictOf(ResponseFormat.fromSchema(City, { strict: false })))
    const optional = ResponseFormat.fromSchema(Schema.Struct({ a: Schema.optionalKey(Schema.String) }))
    assert.isFalse(ResponseFormat.strictOf(optional))
    assert.isFalse(ResponseFormat.isStrictCompatible({ type: "object", properties: { a: { type: "string" } }, required: ["a"] }))
    assert.isFalse(ResponseFormat.isStrictCompatible({
      type: "object",
      properties: { a: { type: "array", items: { type: "object", properties: {}, additionalProperties: true } } },
      required: ["a"],
      additionalProperties: false
    }))
  })

  it("a Schema with an identifier is inlined at the root, its nested definitions kept under $defs", () => {
    const Inner = Schema.Struct({ v: Schema.String }).annotate({ identifier: "Inner" })
    const Outer = Schema.Struct({ inner: Inner, again: Inner }).annotate({ identifier: "Outer" })
    const schema = ResponseFormat.jsonSchemaOf(Outer)
    assert.strictEqual(schema.type, "object")
    assert.deepStrictEqual(Object.keys(schema.$defs as object), ["Inner"])
  })
})
