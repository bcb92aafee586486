/**
 * The tool-calling tests every OpenAI-protocol provider runs (openai, openrouter,
 * openai-compatible) against the fake server: the request bytes (`tools`, `tool_choice`, an
 * assistant's `tool_calls` and `tool` messages), the parsed `tool_calls` of a completion, and
 * calls assembled from streamed `delta.tool_calls` fragments by index.
 */
import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import * as LlmRequest from "../../../src/LlmRequest.ts"
import * as Message from "../../../src/Message.ts"
import * as Tool from "../../../src/Tool.ts"
import * as ToolCall from "../../../src/ToolCall.ts"
import * as Fake from "./FakeOpenAiServer.ts"
import { collect, finishOf } from "./streamingSuite.ts"
import type { Flavour } from "./streamingSuite.ts"

const { chunk, data, DONE } = Fake

export const weather = Tool.make("get_weather", {
  description: "The weather in a city now",
  parameters: Schema.Struct({ city: Schema.String, units: Schema.optionalKey(Schema.Literals(["c", "f"])) })
})

const time = Tool.make("get_time", { description: "The time now" })

/** A conversation with a finished round of tool calls: the assistant's calls and their results. */
export const conversation: ReadonlyArray<Message.Message> = [
  Message.user("Weather in Paris and the time?"),
  Message.assistant([
    { type: "text", text: "Checking." },
    { type: "tool-call", id: "call_a", name: "get_weather", params: { city: "Paris" } },
    { type: "tool-call", id: "call_b", name: "get_time", params: {} }
  ]),
  Message.tool([
    { type: "tool-result", id: "call_a", name: "get_weather", result: { celsius: 21 } },
    { type: "tool-result", id: "call_b", name: "get_time", result: "12:00", isFailure: false }
  ])
]

const completion = (message: Record<string, unknown>, finishReason: string) => ({
  _tag: "Json" as const,
  status: 200,
  headers: { "x-request-id": "req_tools_1" },
  body: {
    id: "chatcmpl-tools-1",
    object: "chat.completion",
    created: 1_700_000_000,
    model: "gpt-4o-mini",
    choices: [{ index: 0, message: { role: "assistant", refusal: null, ...message }, logprobs: null, finish_reason: finishReason }],
    usage: { prompt_tokens: 40, completion_tokens: 12, total_tokens: 52 }
  }
})

export const toolsSuite = (flavour: Flavour): void => {
  describe(`${flavour.provider}: tools`, () => {
    it.live("sends tools (JSON Schema from the Schema), tool_choice, the assistant's tool_calls and tool messages by call id", () =>
      Effect.gen(function*() {
        const fake = yield* Fake.start(() => completion({ content: "It is 21°C and noon." }, "stop"))
        const llm = yield* flavour.make(fake.origin)
        const response = yield* llm.generate(LlmRequest.make({ messages: conversation, tools: [weather, time], toolChoice: "auto" }))
        assert.strictEqual(response.content, "It is 21°C and noon.")
        assert.isUndefined(response.toolCalls)
        const body = fake.requests[0]!.body as Record<string, unknown>
        assert.deepStrictEqual(body.tools, [
          {
            type: "function",
            function: {
              name: "get_weather",
              description: "The weather in a city now",
              parameters: {
                type: "object",
                properties: { city: { type: "string" }, units: { type: "string", enum: ["c", "f"] } },
                required: ["city"],
                additionalProperties: true
              }
            }
          },
          { type: "function", function: { name: "get_time", description: "The time now", parameters: { type: "object", properties: {} } } }
        ])
        assert.strictEqual(body.tool_choice, "auto")
        assert.deepStrictEqual(body.messages, [
          { role: "user", content: "Weather in Paris and the time?" },
          {
            role: "assistant",
            content: "Checking.",
            tool_calls: [
              { id: "call_a", type: "function", function: { name: "get_weather", arguments: "{\"city\":\"Paris\"}" } },
              { id: "call_b", type: "function", function: { name: "get_time", arguments: "{}" } }
            ]
          },
          { role: "tool", tool_call_id: "call_a", content: "{\"celsius\":21}" },
          { role: "tool", tool_call_id: "call_b", content: "12:00" }
        ])
      }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

    it.live("tool_choice: none, required, and a named tool as { type: function, function: { name } }", () =>
      Effect.gen(function*() {
        const fake = yield* Fake.start(() => completion({ content: "ok" }, "stop"))
        const llm = yield* flavour.make(fake.origin)
        for (const choice of ["none", "required", { tool: "get_time" }] as const) {
          yield* llm.generate(LlmRequest.make({ prompt: "time?", tools: [weather, time], toolChoice: choice }))
        }
        assert.deepStrictEqual(fake.requests.map((request) => (request.body as Record<string, unknown>).tool_choice), [
          "none",
          "required",
          { type: "function", function: { name: "get_time" } }
        ])
      }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

    it.live("a completion's tool_calls become toolCalls (arguments parsed; unparseable kept raw with the error) and parts; finish tool-calls", () =>
      Effect.gen(function*() {
        const fake = yield* Fake.start(() =>
          completion({
            content: null,
            tool_calls: [
              { id: "call_1", type: "function", function: { name: "get_weather", arguments: "{\"city\":\"Paris\"}" } },
              { id: "call_2", type: "function", function: { name: "get_weather", arguments: "{\"city\": \"Ro" } },
              { id: "call_3", type: "function", function: { name: "get_time", arguments: "" } }
            ]
          }, "tool_calls")
        )
        const llm = yield* flavour.make(fake.origin)
        const response = yield* llm.generate(LlmRequest.make({ prompt: "weather?", tools: [weather, time] }))
        assert.strictEqual(response.finishReason, "tool-calls")
        assert.strictEqual(response.rawFinishReason, "tool_calls")
        assert.strictEqual(response.content, "")
        const calls = response.toolCalls!
        assert.deepStrictEqual(calls[0], { id: "call_1", name: "get_weather", arguments: { city: "Paris" } })
        assert.strictEqual(calls[1]!.arguments, null)
        assert.isTrue(ToolCall.isUnparsed(calls[1]!))
        assert.deepInclude(calls[1], { rawArguments: "{\"city\": \"Ro" })
        assert.isString((calls[1] as ToolCall.UnparsedToolCall).argumentsError)
        assert.deepStrictEqual(calls[2], { id: "call_3", name: "get_time", arguments: {} })
        assert.deepStrictEqual(response.parts?.map((part) => part.type), ["tool-call", "tool-call", "tool-call"])
        assert.include(response.warnings?.[0], "call_2 (get_weather) are not whole JSON")
        // The response decodes with the public Schema (what --json prints).
        const decoded = Schema.decodeUnknownSync(Schema.Array(ToolCall.ToolCall))(calls)
        assert.deepStrictEqual(decoded, calls)
        const typed = yield* Tool.decodeArguments(weather, calls[0]!)
        assert.strictEqual(typed.city, "Paris")
      }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

    it.live("a forced call answered with finish_reason stop is still tool-calls", () =>
      Effect.gen(function*() {
        const fake = yield* Fake.start(() =>
          completion({
            content: null,
            tool_calls: [{ id: "call_9", type: "function", function: { name: "get_time", arguments: "{}" } }]
          }, "stop")
        )
        const llm = yield* flavour.make(fake.origin)
        const response = yield* llm.generate(LlmRequest.make({ prompt: "time?", tools: [time], toolChoice: { tool: "get_time" } }))
        assert.strictEqual(response.finishReason, "tool-calls")
        assert.deepStrictEqual(response.toolCalls, [{ id: "call_9", name: "get_time", arguments: {} }])
      }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

    it.live("a stream assembles calls from delta.tool_calls fragments by index (interleaved); the finish part carries toolCalls", () =>
      Effect.gen(function*() {
        const fake = yield* Fake.start(() =>
          Fake.sse([
            data(chunk({ delta: { role: "assistant", content: null } })),
            data(chunk({ delta: { tool_calls: [{ index: 0, id: "call_w", type: "function", function: { name: "get_weather", arguments: "" } }] } })),
            data(chunk({ delta: { tool_calls: [{ index: 1, id: "call_t", type: "function", function: { name: "get_time", arguments: "{" } }] } })),
            data(chunk({ delta: { tool_calls: [{ index: 0, function: { arguments: "{\"city\":" } }] } })),
            data(chunk({ delta: { tool_calls: [{ index: 1, function: { arguments: "}" } }] } })),
            data(chunk({ delta: { tool_calls: [{ index: 0, function: { arguments: "\"Paris\"}" } }] } })),
            data(chunk({ delta: {}, finish_reason: "tool_calls" })),
            data(chunk(undefined, { usage: Fake.usage })),
            DONE
          ])
        )
        const llm = yield* flavour.make(fake.origin)
        const parts = yield* collect(llm.stream(LlmRequest.make({ prompt: "weather and time?", tools: [weather, time], toolChoice: "required" })))
        assert.strictEqual((fake.requests[0]!.body as Record<string, unknown>).tool_choice, "required")
        const response = finishOf(parts)
        assert.strictEqual(response.finishReason, "tool-calls")
        assert.deepStrictEqual(response.toolCalls, [
          { id: "call_w", name: "get_weather", arguments: { city: "Paris" } },
          { id: "call_t", name: "get_time", arguments: {} }
        ])
        // A consumer putting the deltas back together gets the same calls.
        const assembler = ToolCall.assembler()
        for (const part of parts) if (part.type === "tool-call-delta") assembler.add(part)
        assert.deepStrictEqual(assembler.calls(), response.toolCalls)
      }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

    it.live("a tool choice naming an undeclared tool, or a tool declared twice, is refused with InvalidRequest before anything is sent", () =>
      Effect.gen(function*() {
        const fake = yield* Fake.start(() => completion({ content: "ok" }, "stop"))
        const llm = yield* flavour.make(fake.origin)
        const undeclared = yield* Effect.flip(llm.generate(LlmRequest.make({ prompt: "hi", tools: [weather], toolChoice: { tool: "get_time" } })))
        assert.strictEqual(undeclared.reason._tag, "InvalidRequest")
        assert.include(undeclared.message, "get_time")
        assert.include(undeclared.message, "declared: get_weather")
        const twice = yield* Effect.flip(llm.generate(LlmRequest.make({ prompt: "hi", tools: [weather, weather] })))
        assert.include(twice.message, "declared twice")
        const required = yield* Effect.flip(llm.generate(LlmRequest.make({ prompt: "hi", toolChoice: "required" })))
        assert.include(required.message, "declares no tools")
        assert.strictEqual(fake.requests.length, 0)
      }).pipe(Effect.provide(NodeHttpClient.layerUndici)))
  })
}
