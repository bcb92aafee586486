import { assert, describe, it } from "@effect/vitest"
import { Effect, Result, Schema, Stream } from "effect"
import * as LanguageModel from "../../../src/LanguageModel.ts"
import * as LlmRequest from "../../../src/LlmRequest.ts"
import * as Message from "../../../src/Message.ts"
import * as MockLanguageModel from "../../../src/providers/mock/MockLanguageModel.ts"
import * as MockToolCalls from "../../../src/providers/mock/MockToolCalls.ts"
import type * as StreamPart from "../../../src/StreamPart.ts"
import * as TestModel from "../../../src/testing/TestModel.ts"
import * as Tokenizer from "../../../src/Tokenizer.ts"
import * as Tool from "../../../src/Tool.ts"
import * as ToolCall from "../../../src/ToolCall.ts"

const weather = Tool.make("get_weather", {
  description: "The weather in a city now",
  parameters: Schema.Struct({
    city: Schema.String,
    days: Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)),
    units: Schema.Literals(["c", "f"]),
    note: Schema.optionalKey(Schema.String)
  })
})
const time = Tool.make("get_time")

const finishOf = (parts: ReadonlyArray<StreamPart.StreamPart>) => (parts.at(-1) as StreamPart.Finish).response

describe("mock: scripted tool calls", () => {
  it.effect("requests that declare tools take the script's turns in order; an empty turn is a text answer", () =>
    Effect.gen(function*() {
      const { model } = yield* MockLanguageModel.make({
        reply: "All done.",
        toolCalls: [
          [{ name: "get_weather", arguments: { city: "Paris", days: 1, units: "c" } }, { name: "get_time", id: "t-1" }],
          [],
          [{ name: "get_weather", rawArguments: "{\"city\": \"Ro" }]
        ]
      })
      const request = LlmRequest.make({ prompt: "weather?", tools: [weather, time] })
      // A request without tools does not take a turn.
      assert.strictEqual((yield* model.generate(LlmRequest.make("hi"))).content, "All done.")
      const first = yield* model.generate(request)
      assert.strictEqual(first.finishReason, "tool-calls")
      assert.strictEqual(first.content, "")
      assert.deepStrictEqual(first.toolCalls, [
        { id: "mock-call-2-0", name: "get_weather", arguments: { city: "Paris", days: 1, units: "c" } },
        { id: "t-1", name: "get_time", arguments: {} }
      ])
      assert.deepStrictEqual(first.usage.inputTokens, Tokenizer.countRequest(request))
      const second = yield* model.generate(request)
      assert.strictEqual(second.content, "All done.")
      assert.isUndefined(second.toolCalls)
      const parts = yield* Stream.runCollect(model.stream(request))
      const third = finishOf(parts)
      assert.isTrue(ToolCall.isUnparsed(third.toolCalls![0]!))
      assert.deepStrictEqual(parts.filter((part) => part.type === "tool-call-delta"), [
        { type: "tool-call-delta", index: 0, id: "mock-call-4-0", name: "get_weather", argumentsDelta: "{\"city\": \"Ro" }
      ])
      assert.include(third.warnings?.[0], "not whole JSON")
    }))

  it.effect("toolChoice none takes no turn; a scripted call to an undeclared tool is InvalidRequest naming it", () =>
    Effect.gen(function*() {
      const { model } = yield* MockLanguageModel.make({ toolCalls: [[{ name: "get_time" }]] })
      const none = yield* model.generate(LlmRequest.make({ prompt: "hi", tools: [time], toolChoice: "none" }))
      assert.isUndefined(none.toolCalls)
      const error = yield* Effect.flip(model.generate(LlmRequest.make({ prompt: "hi", tools: [weather] })))
      assert.strictEqual(error.reason._tag, "InvalidRequest")
      assert.include(error.message, "calls get_time, which the request does not declare (declared: get_weather)")
    }))

  it.effect("with nothing scripted, a required or named tool choice gets a call with the simplest valid arguments", () =>
    Effect.gen(function*() {
      const { model } = yield* MockLanguageModel.make()
      const auto = yield* model.generate(LlmRequest.make({ prompt: "hi", tools: [weather] }))
      assert.isUndefined(auto.toolCalls)
      const named = yield* model.generate(LlmRequest.make({ prompt: "hi", tools: [time, weather], toolChoice: { tool: "get_weather" } }))
      const call = named.toolCalls![0]!
      assert.strictEqual(call.name, "get_weather")
      assert.deepStrictEqual(call.arguments, { city: "", days: 1, units: "c" })
      // The arguments decode with the tool's own Schema.
      const decoded = yield* Tool.decodeArguments(weather, call)
      assert.strictEqual(decoded.units, "c")
      const required = yield* model.generate(LlmRequest.make({ prompt: "hi", tools: [time, weather], toolChoice: "required" }))
      assert.strictEqual(required.toolCalls![0]!.name, "get_time")
    }))

  it("a script file's two shapes decode to turns; a bad one names every issue", () => {
    const flat = MockToolCalls.decodeTurns([{ name: "a" }, { name: "b", arguments: { x: 1 } }])
    assert.deepStrictEqual(MockToolCalls.toTurns(Result.getOrThrow(flat)), [[{ name: "a" }, { name: "b", arguments: { x: 1 } }]])
    const turns = MockToolCalls.decodeTurns([[{ name: "a" }], []])
    assert.deepStrictEqual(MockToolCalls.toTurns(Result.getOrThrow(turns)), [[{ name: "a" }], []])
    const bad = MockToolCalls.decodeTurns([{ arguments: {} }])
    assert.isTrue(Result.isFailure(bad))
  })

  it("minimalValue follows $refs, enums, minimums and nested objects", () => {
    assert.deepStrictEqual(
      MockToolCalls.minimalValue({
        type: "object",
        properties: {
          a: { $ref: "#/$defs/A" },
          b: { type: "array", items: { type: "boolean" }, minItems: 2 },
          c: { type: "number", exclusiveMinimum: 1.5 },
          d: { anyOf: [{ type: "null" }, { type: "string" }] },
          skipped: { type: "string" }
        },
        required: ["a", "b", "c", "d"],
        $defs: { A: { type: "object", properties: { k: { const: "K" } }, required: ["k"] } }
      }),
      { a: { k: "K" }, b: [false, false], c: 2.5, d: null }
    )
  })

  it.effect("the provider options take a script (a flat list is one turn)", () =>
    Effect.gen(function*() {
      const options = MockLanguageModel.optionsFromConfig({ toolCalls: [{ name: "get_time" }] })
      assert.isTrue(Result.isSuccess(options))
      const { model } = yield* MockLanguageModel.make(Result.getOrThrow(options))
      const response = yield* model.generate(LlmRequest.make({ prompt: "time?", tools: [time] }))
      assert.deepStrictEqual(response.toolCalls, [{ id: "mock-call-1-0", name: "get_time", arguments: {} }])
      const refused = MockLanguageModel.optionsFromConfig({ toolCalls: [{ arguments: {} }] })
      assert.isTrue(Result.isFailure(refused))
    }))
})

describe("TestModel: tool-call steps", () => {
  it.effect("a toolCalls step answers with those calls; the conversation goes on with their results", () =>
    Effect.gen(function*() {
      const request = LlmRequest.make({ prompt: "weather in Paris?", tools: [weather] })
      const first = yield* LanguageModel.generate(request)
      assert.strictEqual(first.finishReason, "tool-calls")
      assert.strictEqual(first.content, "Let me check.")
      const [call] = first.toolCalls!
      assert.deepStrictEqual(call, { id: "w1", name: "get_weather", arguments: { city: "Paris", days: 1, units: "c" } })
      const followUp = yield* LanguageModel.generate({
        messages: [
          ...request.messages,
          Message.assistant(first.parts!),
          Message.tool([{ type: "tool-result", id: call!.id, name: call!.name, result: { celsius: 21 } }])
        ],
        tools: [weather]
      })
      assert.strictEqual(followUp.content, "21°C in Paris.")
      assert.strictEqual(followUp.finishReason, "stop")
      const parts = yield* Stream.runCollect(LanguageModel.stream(request))
      assert.deepStrictEqual(finishOf(parts).toolCalls, [{ id: "mock-call-3-0", name: "get_time", arguments: {} }])
    }).pipe(Effect.provide(TestModel.layer([
      { toolCalls: [{ id: "w1", name: "get_weather", arguments: { city: "Paris", days: 1, units: "c" } }], reply: "Let me check." },
      "21°C in Paris.",
      { toolCalls: [{ name: "get_time" }] }
    ]))))
})
