import { assert, describe, it } from "@effect/vitest"
import { Effect, Redacted, Schema, Stream } from "effect"
import * as LlmRequest from "../../../src/LlmRequest.ts"
import * as Message from "../../../src/Message.ts"
import * as GeminiLanguageModel from "../../../src/providers/gemini/GeminiLanguageModel.ts"
import type * as StreamPart from "../../../src/StreamPart.ts"
import * as Tool from "../../../src/Tool.ts"
import * as FakeGemini from "./FakeGemini.ts"

const model = (origin: string) => GeminiLanguageModel.make({ apiKey: Redacted.make(FakeGemini.KEY), baseUrl: origin })

const weather = Tool.make("get_weather", {
  description: "The weather in a city now",
  parameters: Schema.Struct({ city: Schema.String })
})
const time = Tool.make("get_time")

const calls = (parts: ReadonlyArray<Record<string, unknown>>, extra: Record<string, unknown> = {}) =>
  FakeGemini.json({
    candidates: [{ content: { role: "model", parts }, finishReason: "STOP", index: 0 }],
    usageMetadata: { promptTokenCount: 30, candidatesTokenCount: 9, totalTokenCount: 39 },
    modelVersion: "gemini-2.5-flash",
    responseId: "resp-tools-1",
    ...extra
  })

const finishOf = (parts: ReadonlyArray<StreamPart.StreamPart>) => {
  const last = parts.at(-1)
  assert.strictEqual(last?.type, "finish")
  return (last as StreamPart.Finish).response
}

describe("GeminiLanguageModel: tools", () => {
  it.live("sends functionDeclarations (parametersJsonSchema), toolConfig per choice, functionCall and functionResponse parts", () =>
    Effect.gen(function*() {
      const fake = yield* FakeGemini.start(() => calls([{ text: "Done." }]))
      const llm = yield* model(fake.origin)
      const conversation = [
        Message.user("Weather in Paris and the time?"),
        Message.assistant([
          { type: "tool-call", id: "call_0_0", name: "get_weather", params: { city: "Paris" } },
          { type: "tool-call", id: "fc-7", name: "get_time", params: {} }
        ]),
        Message.tool([{ type: "tool-result", id: "call_0_0", name: "get_weather", result: { celsius: 21 } }]),
        Message.tool([{ type: "tool-result", id: "fc-7", name: "get_time", result: "unavailable", isFailure: true }])
      ]
      for (const toolChoice of ["auto", "none", "required", { tool: "get_time" }] as const) {
        yield* llm.generate(LlmRequest.make({ messages: conversation, tools: [weather, time], toolChoice }))
      }
      const bodies = fake.requests.map((request) => request.body as Record<string, unknown>)
      assert.deepStrictEqual(bodies[0]!.tools, [{
        functionDeclarations: [
          {
            name: "get_weather",
            description: "The weather in a city now",
            parametersJsonSchema: { type: "object", properties: { city: { type: "string" } }, required: ["city"], additionalProperties: true }
          },
          { name: "get_time", parametersJsonSchema: { type: "object", properties: {} } }
        ]
      }])
      assert.deepStrictEqual(bodies.map((body) => body.toolConfig), [
        { functionCallingConfig: { mode: "AUTO" } },
        { functionCallingConfig: { mode: "NONE" } },
        { functionCallingConfig: { mode: "ANY" } },
        { functionCallingConfig: { mode: "ANY", allowedFunctionNames: ["get_time"] } }
      ])
      // Ids this adapter made up are not sent back; Gemini's own are. The two tool messages are one user turn.
      assert.deepStrictEqual(bodies[0]!.contents, [
        { role: "user", parts: [{ text: "Weather in Paris and the time?" }] },
        {
          role: "model",
          parts: [
            { functionCall: { name: "get_weather", args: { city: "Paris" } } },
            { functionCall: { id: "fc-7", name: "get_time", args: {} } }
          ]
        },
        {
          role: "user",
          parts: [
            { functionResponse: { name: "get_weather", response: { celsius: 21 } } },
            { functionResponse: { id: "fc-7", name: "get_time", response: { error: "unavailable" } } }
          ]
        }
      ])
    }))

  it.live("functionCall parts become toolCalls; calls without an id get stable ids from the turn and position", () =>
    Effect.gen(function*() {
      const fake = yield* FakeGemini.start(() =>
        calls([
          { functionCall: { name: "get_weather", args: { city: "Paris" } } },
          { functionCall: { name: "get_weather", args: { city: "Rome" } } }
        ])
      )
      const llm = yield* model(fake.origin)
      const first = yield* llm.generate(LlmRequest.make({ prompt: "weather?", tools: [weather] }))
      assert.strictEqual(first.finishReason, "tool-calls")
      assert.deepStrictEqual(first.toolCalls, [
        { id: "call_0_0", name: "get_weather", arguments: { city: "Paris" } },
        { id: "call_0_1", name: "get_weather", arguments: { city: "Rome" } }
      ])
      // The same request gets the same ids; a later turn (one more assistant message) other ones.
      const again = yield* llm.generate(LlmRequest.make({ prompt: "weather?", tools: [weather] }))
      assert.deepStrictEqual(again.toolCalls, first.toolCalls)
      const later = yield* llm.generate(LlmRequest.make({
        messages: [
          Message.user("weather?"),
          Message.assistant(first.parts!),
          Message.tool([
            { type: "tool-result", id: "call_0_0", name: "get_weather", result: { celsius: 21 } },
            { type: "tool-result", id: "call_0_1", name: "get_weather", result: { celsius: 24 } }
          ])
        ],
        tools: [weather]
      }))
      assert.deepStrictEqual(later.toolCalls?.map((call) => call.id), ["call_1_0", "call_1_1"])
    }))

  it.live("a thinking model's thoughtSignature is kept on the call's part and sent back with it next turn", () =>
    Effect.gen(function*() {
      const fake = yield* FakeGemini.start(() =>
        calls([{ functionCall: { name: "get_weather", args: { city: "Oslo" } }, thoughtSignature: "c2lnLTE=" }])
      )
      const llm = yield* model(fake.origin)
      const first = yield* llm.generate(LlmRequest.make({ prompt: "weather?", tools: [weather] }))
      assert.deepStrictEqual(first.parts, [{
        type: "tool-call",
        id: "call_0_0",
        name: "get_weather",
        params: { city: "Oslo" },
        providerMetadata: { gemini: { thoughtSignature: "c2lnLTE=" } }
      }])
      yield* llm.generate(LlmRequest.make({
        messages: [
          Message.user("weather?"),
          Message.assistant(first.parts!),
          Message.tool([{ type: "tool-result", id: "call_0_0", name: "get_weather", result: { celsius: 3 } }])
        ],
        tools: [weather]
      }))
      const contents = (fake.requests[1]!.body as { contents: ReadonlyArray<{ parts: ReadonlyArray<unknown> }> }).contents
      assert.deepStrictEqual(contents[1]!.parts, [
        { thoughtSignature: "c2lnLTE=", functionCall: { name: "get_weather", args: { city: "Oslo" } } }
      ])
    }))

  it.live("a stream's functionCall parts come whole: the finish part carries the same toolCalls as generate", () =>
    Effect.gen(function*() {
      const fake = yield* FakeGemini.start(() =>
        FakeGemini.sse([
          FakeGemini.event(FakeGemini.chunk({ parts: [{ text: "Checking. " }] })),
          FakeGemini.event(FakeGemini.chunk({
            parts: [{ functionCall: { name: "get_weather", args: { city: "Oslo" } } }, { functionCall: { id: "fc-1", name: "get_time", args: {} } }],
            finishReason: "STOP",
            usage: { promptTokenCount: 20, candidatesTokenCount: 8, totalTokenCount: 28 }
          }))
        ])
      )
      const parts = yield* Stream.runCollect((yield* model(fake.origin)).stream(LlmRequest.make({ prompt: "weather?", tools: [weather, time] })))
      const response = finishOf(parts)
      assert.strictEqual(response.finishReason, "tool-calls")
      assert.deepStrictEqual(response.toolCalls, [
        { id: "call_0_0", name: "get_weather", arguments: { city: "Oslo" } },
        { id: "fc-1", name: "get_time", arguments: {} }
      ])
      assert.deepStrictEqual(parts.filter((part) => part.type === "tool-call-delta"), [
        { type: "tool-call-delta", index: 0, id: "call_0_0", name: "get_weather", argumentsDelta: "{\"city\":\"Oslo\"}" },
        { type: "tool-call-delta", index: 1, id: "fc-1", name: "get_time", argumentsDelta: "{}" }
      ])
    }))
})
