import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Redacted, Schema, Stream } from "effect"
import * as LlmRequest from "../../../src/LlmRequest.ts"
import * as AnthropicLanguageModel from "../../../src/providers/anthropic/AnthropicLanguageModel.ts"
import type * as StreamPart from "../../../src/StreamPart.ts"
import * as Tool from "../../../src/Tool.ts"
import * as ToolCall from "../../../src/ToolCall.ts"
import * as Fake from "./FakeAnthropicServer.ts"

const { KEY, event } = Fake

const model = (origin: string) => AnthropicLanguageModel.make({ apiKey: Redacted.make(KEY), baseUrl: origin })

const weather = Tool.make("get_weather", {
  description: "The weather in a city now",
  parameters: Schema.Struct({ city: Schema.String })
})
const time = Tool.make("get_time")

const finishOf = (parts: ReadonlyArray<StreamPart.StreamPart>) => {
  const last = parts.at(-1)
  assert.strictEqual(last?.type, "finish")
  return (last as StreamPart.Finish).response
}

describe("AnthropicLanguageModel: tools", () => {
  it.live("sends tools as { name, description, input_schema } and each tool choice as Anthropic spells it", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.start((request) => Fake.ok(request))
      const llm = yield* model(fake.origin)
      for (const toolChoice of ["auto", "required", "none", { tool: "get_time" }] as const) {
        yield* llm.generate(LlmRequest.make({ prompt: "weather?", tools: [weather, time], toolChoice }))
      }
      yield* llm.generate(LlmRequest.make({ prompt: "weather?", tools: [weather] }))
      const bodies = fake.requests.map((request) => request.body as Record<string, unknown>)
      assert.deepStrictEqual(bodies[0]!.tools, [
        {
          name: "get_weather",
          description: "The weather in a city now",
          input_schema: { type: "object", properties: { city: { type: "string" } }, required: ["city"], additionalProperties: true }
        },
        { name: "get_time", input_schema: { type: "object", properties: {} } }
      ])
      assert.deepStrictEqual(bodies.map((body) => body.tool_choice), [
        { type: "auto" },
        { type: "any" },
        { type: "none" },
        { type: "tool", name: "get_time" },
        undefined
      ])
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.live("tool_use blocks become toolCalls (in order, with parts); the finish reason is tool-calls", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.start((request) =>
        Fake.ok(request, {
          content: [
            { type: "text", text: "Let me look." },
            { type: "tool_use", id: "toolu_1", name: "get_weather", input: { city: "Oslo" } },
            { type: "tool_use", id: "toolu_2", name: "get_time", input: {} }
          ],
          stop_reason: "tool_use"
        })
      )
      const response = yield* (yield* model(fake.origin)).generate(LlmRequest.make({ prompt: "weather?", tools: [weather, time] }))
      assert.strictEqual(response.finishReason, "tool-calls")
      assert.deepStrictEqual(response.toolCalls, [
        { id: "toolu_1", name: "get_weather", arguments: { city: "Oslo" } },
        { id: "toolu_2", name: "get_time", arguments: {} }
      ])
      assert.strictEqual(response.content, "Let me look.")
      assert.deepStrictEqual(response.parts?.map((part) => part.type), ["text", "tool-call", "tool-call"])
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.live("a stream's input_json_delta fragments assemble into toolCalls; a cut input is kept raw with its error", () =>
    Effect.gen(function*() {
      const chunks = [
        event("message_start", { message: { id: "msg_t", model: "claude-haiku-4-5", usage: { input_tokens: 30, output_tokens: 1 } } }),
        event("content_block_start", { index: 0, content_block: { type: "tool_use", id: "toolu_1", name: "get_weather", input: {} } }),
        event("content_block_delta", { index: 0, delta: { type: "input_json_delta", partial_json: "{\"city\": " } }),
        event("content_block_delta", { index: 0, delta: { type: "input_json_delta", partial_json: "\"Paris\"}" } }),
        event("content_block_stop", { index: 0 }),
        event("content_block_start", { index: 1, content_block: { type: "tool_use", id: "toolu_2", name: "get_weather", input: {} } }),
        event("content_block_delta", { index: 1, delta: { type: "input_json_delta", partial_json: "{\"city\": \"Ro" } }),
        event("content_block_stop", { index: 1 }),
        event("message_delta", { delta: { stop_reason: "max_tokens", stop_sequence: null }, usage: { output_tokens: 40 } }),
        event("message_stop")
      ]
      const fake = yield* Fake.start(() => Fake.sse(chunks))
      const parts = yield* Stream.runCollect((yield* model(fake.origin)).stream(LlmRequest.make({ prompt: "weather?", tools: [weather] })))
      const response = finishOf(parts)
      assert.strictEqual(response.finishReason, "length")
      const [first, second] = response.toolCalls!
      assert.deepStrictEqual(first, { id: "toolu_1", name: "get_weather", arguments: { city: "Paris" } })
      assert.isTrue(ToolCall.isUnparsed(second!))
      assert.deepInclude(second, { id: "toolu_2", arguments: null, rawArguments: "{\"city\": \"Ro" })
      assert.include(response.warnings?.[0], "toolu_2 (get_weather) are not whole JSON")
      const assembler = ToolCall.assembler()
      for (const part of parts) if (part.type === "tool-call-delta") assembler.add(part)
      assert.deepStrictEqual(assembler.calls(), response.toolCalls)
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.live("a named tool choice that is not declared fails with InvalidRequest before anything is sent", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.start((request) => Fake.ok(request))
      const llm = yield* model(fake.origin)
      const error = yield* Effect.flip(llm.generate(LlmRequest.make({ prompt: "hi", tools: [weather], toolChoice: { tool: "nope" } })))
      assert.strictEqual(error.reason._tag, "InvalidRequest")
      const streamed = yield* Effect.flip(Stream.runDrain(llm.stream(LlmRequest.make({ prompt: "hi", toolChoice: "required" }))))
      assert.strictEqual(streamed.reason._tag, "InvalidRequest")
      assert.strictEqual(fake.requests.length, 0)
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))
})
