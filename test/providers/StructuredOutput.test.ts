/**
 * Structured output per provider, against fakes on 127.0.0.1:0: the request bytes each provider
 * sends for `responseFormat`, and `generateObject` reading the object back from each provider's
 * answer (Anthropic's forced tool included, on both paths).
 */
import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Redacted, Schema, Stream } from "effect"
import * as LanguageModel from "../../src/LanguageModel.ts"
import * as LlmRequest from "../../src/LlmRequest.ts"
import * as AnthropicLanguageModel from "../../src/providers/anthropic/AnthropicLanguageModel.ts"
import * as GeminiLanguageModel from "../../src/providers/gemini/GeminiLanguageModel.ts"
import * as OpenAiLanguageModel from "../../src/providers/openai/OpenAiLanguageModel.ts"
import * as ResponseFormat from "../../src/ResponseFormat.ts"
import type * as StreamPart from "../../src/StreamPart.ts"
import * as Tool from "../../src/Tool.ts"
import * as FakeAnthropic from "./anthropic/FakeAnthropicServer.ts"
import * as FakeGemini from "./gemini/FakeGemini.ts"
import * as FakeOpenAi from "./openai/FakeOpenAiServer.ts"

const City = Schema.Struct({ city: Schema.String, population: Schema.Int })
const citySchema = ResponseFormat.jsonSchemaOf(City)
const format = ResponseFormat.fromSchema(City, { name: "city", description: "A city" })

const finishOf = (parts: ReadonlyArray<StreamPart.StreamPart>) => {
  const last = parts.at(-1)
  assert.strictEqual(last?.type, "finish")
  return (last as StreamPart.Finish).response
}

const completion = (content: string) => ({
  _tag: "Json" as const,
  status: 200,
  headers: { "x-request-id": "req_object_1" },
  body: {
    id: "chatcmpl-object-1",
    object: "chat.completion",
    created: 1_700_000_000,
    model: "gpt-4o-mini",
    choices: [{ index: 0, message: { role: "assistant", refusal: null, content }, logprobs: null, finish_reason: "stop" }],
    usage: { prompt_tokens: 40, completion_tokens: 12, total_tokens: 52 }
  }
})

const openai = (origin: string) =>
  OpenAiLanguageModel.make({
    provider: "openai",
    baseUrl: `${origin}/v1`,
    apiKey: Redacted.make("sk-test-secret-key-0123456789"),
    defaultModel: "gpt-4o-mini",
    maxTokensField: "max_completion_tokens"
  })

describe("structured output: OpenAI protocol", () => {
  it.live("sends response_format json_schema (strict when the schema allows it) and decodes the message text", () =>
    Effect.gen(function*() {
      const answers = ["{\"city\":\"Paris\",\"population\":1}", "{}"]
      const fake = yield* FakeOpenAi.start(() => completion(answers.shift() ?? "{}"))
      const llm = yield* openai(fake.origin)
      const { object } = yield* LanguageModel.generateObject({ schema: City, prompt: "x", name: "city", description: "A city" }).pipe(
        Effect.provideService(LanguageModel.LanguageModel, llm)
      )
      assert.deepStrictEqual(object, { city: "Paris", population: 1 })
      const open = Schema.Struct({ a: Schema.optionalKey(Schema.String) })
      yield* llm.generate(LlmRequest.make({ prompt: "x", responseFormat: ResponseFormat.fromSchema(open) }))
      const bodies = fake.requests.map((request) => request.body as Record<string, unknown>)
      assert.deepStrictEqual(bodies[0]!.response_format, {
        type: "json_schema",
        json_schema: { name: "city", description: "A city", schema: citySchema, strict: true }
      })
      assert.deepStrictEqual(bodies[1]!.response_format, {
        type: "json_schema",
        json_schema: {
          name: "output",
          schema: { type: "object", properties: { a: { type: "string" } }, additionalProperties: false },
          strict: false
        }
      })
      assert.isUndefined(bodies[0]!.tools)
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.live("an explicit strict wins, and a request without responseFormat sends no response_format", () =>
    Effect.gen(function*() {
      const fake = yield* FakeOpenAi.start(() => completion("{}"))
      const llm = yield* openai(fake.origin)
      yield* llm.generate(LlmRequest.make({ prompt: "x", responseFormat: { ...format, strict: false } }))
      yield* llm.generate(LlmRequest.make({ prompt: "x" }))
      const bodies = fake.requests.map((request) => request.body as Record<string, unknown>)
      assert.strictEqual((bodies[0]!.response_format as { json_schema: { strict: boolean } }).json_schema.strict, false)
      assert.notProperty(bodies[1]!, "response_format")
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))
})

describe("structured output: Gemini", () => {
  it.live("sends responseMimeType application/json and responseJsonSchema, and decodes the text", () =>
    Effect.gen(function*() {
      const fake = yield* FakeGemini.start(() =>
        FakeGemini.json({
          candidates: [{ content: { role: "model", parts: [{ text: "{\"city\":\"Rome\",\"population\":3}" }] }, finishReason: "STOP", index: 0 }],
          usageMetadata: { promptTokenCount: 30, candidatesTokenCount: 9, totalTokenCount: 39 },
          modelVersion: "gemini-2.5-flash",
          responseId: "resp-object-1"
        })
      )
      const llm = yield* GeminiLanguageModel.make({ apiKey: Redacted.make(FakeGemini.KEY), baseUrl: fake.origin })
      const { object } = yield* LanguageModel.generateObject({ schema: City, prompt: "x" }).pipe(
        Effect.provideService(LanguageModel.LanguageModel, llm)
      )
      assert.deepStrictEqual(object, { city: "Rome", population: 3 })
      const body = fake.requests[0]!.body as { generationConfig?: Record<string, unknown> }
      assert.strictEqual(body.generationConfig?.responseMimeType, "application/json")
      assert.deepStrictEqual(body.generationConfig?.responseJsonSchema, citySchema)
      assert.notProperty(body.generationConfig!, "responseSchema")
    }))
})

const anthropic = (origin: string) => AnthropicLanguageModel.make({ apiKey: Redacted.make(FakeAnthropic.KEY), baseUrl: origin })

describe("structured output: Anthropic (a forced tool)", () => {
  it.live("declares the schema as a tool and forces it; the tool_use input is the answer's text", () =>
    Effect.gen(function*() {
      const fake = yield* FakeAnthropic.start((request) =>
        FakeAnthropic.ok(request, {
          content: [{ type: "tool_use", id: "toolu_1", name: "city", input: { city: "Oslo", population: 7 } }],
          stop_reason: "tool_use"
        })
      )
      const llm = yield* anthropic(fake.origin)
      const weather = Tool.make("get_weather", { parameters: Schema.Struct({ city: Schema.String }) })
      const result = yield* LanguageModel.generateObject({ schema: City, prompt: "x", name: "city", description: "A city", tools: [weather] }).pipe(
        Effect.provideService(LanguageModel.LanguageModel, llm)
      )
      assert.deepStrictEqual(result.object, { city: "Oslo", population: 7 })
      assert.strictEqual(result.response.content, "{\"city\":\"Oslo\",\"population\":7}")
      assert.strictEqual(result.response.finishReason, "stop")
      assert.isUndefined(result.response.toolCalls)
      const body = fake.requests[0]!.body as Record<string, unknown>
      assert.deepStrictEqual(body.tools, [
        { name: "get_weather", input_schema: weather.definition.parameters },
        { name: "city", description: "A city", input_schema: citySchema }
      ])
      assert.deepStrictEqual(body.tool_choice, { type: "tool", name: "city" })
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.live("streamed: the forced tool's input_json_delta fragments arrive as text deltas, the finish response holds the object", () =>
    Effect.gen(function*() {
      const { event } = FakeAnthropic
      const fake = yield* FakeAnthropic.start(() =>
        FakeAnthropic.sse([
          event("message_start", { message: { id: "msg_o", model: "claude-haiku-4-5", usage: { input_tokens: 30, output_tokens: 1 } } }),
          event("content_block_start", { index: 0, content_block: { type: "tool_use", id: "toolu_1", name: "output", input: {} } }),
          event("content_block_delta", { index: 0, delta: { type: "input_json_delta", partial_json: "{\"city\": \"Ba" } }),
          event("content_block_delta", { index: 0, delta: { type: "input_json_delta", partial_json: "ku\", \"population\": 2}" } }),
          event("content_block_stop", { index: 0 }),
          event("message_delta", { delta: { stop_reason: "tool_use", stop_sequence: null }, usage: { output_tokens: 20 } }),
          event("message_stop")
        ])
      )
      const llm = yield* anthropic(fake.origin)
      const parts = yield* Stream.runCollect(llm.stream(LlmRequest.make({ prompt: "x", responseFormat: ResponseFormat.fromSchema(City) })))
      const texts = parts.filter((part) => part.type === "text-delta").map((part) => (part as StreamPart.TextDelta).text)
      assert.deepStrictEqual(texts, ["{\"city\": \"Ba", "ku\", \"population\": 2}"])
      assert.isFalse(parts.some((part) => part.type === "tool-call-delta"))
      const response = finishOf(parts)
      assert.deepStrictEqual(JSON.parse(response.content), { city: "Baku", population: 2 })
      assert.strictEqual(response.finishReason, "stop")
      assert.isUndefined(response.toolCalls)
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))
})
