/**
 * Tool calls through the OpenAI- and Anthropic-compatible doors, with the vendors' official
 * clients over a fake OpenAI-compatible upstream: the tools and the tool choice a client declares
 * reach the upstream; the tool calls the upstream made reach the client intact (JSON and stream,
 * two calls with text before them); and a round trip — the client sends the call and its result
 * back — reaches the upstream as an assistant `tool_calls` message and `tool` messages.
 */
import Anthropic from "@anthropic-ai/sdk"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import OpenAI from "openai"
import * as Fake from "../providers/openai/FakeOpenAiServer.ts"
import { post, withServe } from "./support.ts"

// The upstream's two calls: ids, names and arguments as the model wrote them.
const calls = [
  { id: "call_weather_1", name: "get_weather", arguments: { city: "Paris", unit: "celsius" } },
  { id: "call_time_2", name: "get_time", arguments: { zone: "Europe/Paris" } }
] as const

const weatherSchema = {
  type: "object",
  properties: { city: { type: "string" }, unit: { type: "string", enum: ["celsius", "fahrenheit"] } },
  required: ["city"]
}
const timeSchema = { type: "object", properties: { zone: { type: "string" } } }

interface UpstreamBody {
  readonly stream?: boolean
  readonly messages: ReadonlyArray<{
    readonly role: string
    readonly content: string | null
    readonly tool_call_id?: string
    readonly tool_calls?: ReadonlyArray<{ id: string; type: string; function: { name: string; arguments: string } }>
  }>
  readonly tools?: ReadonlyArray<{ type: string; function: { name: string; description?: string; parameters: unknown } }>
  readonly tool_choice?: unknown
}

// Answers with text once the conversation holds tool results; otherwise "Let me check." and two
// tool calls (streamed: each call's arguments in two fragments).
const upstream = () =>
  Fake.start((recorded) => {
    const body = recorded.body as UpstreamBody
    const answered = body.messages.at(-1)?.role === "tool"
    if (body.stream === true) {
      if (answered) return Fake.sse(Fake.textStream({ texts: ["Sunny, ", "noon"] }))
      const fragments = calls.flatMap((call, index) => {
        const text = JSON.stringify(call.arguments)
        const half = Math.floor(text.length / 2)
        return [
          Fake.data(Fake.chunk({ delta: { tool_calls: [{ index, id: call.id, type: "function", function: { name: call.name, arguments: text.slice(0, half) } }] } })),
          Fake.data(Fake.chunk({ delta: { tool_calls: [{ index, function: { arguments: text.slice(half) } }] } }))
        ]
      })
      return Fake.sse([
        Fake.data(Fake.chunk({ delta: { role: "assistant", content: "" } })),
        Fake.data(Fake.chunk({ delta: { content: "Let me check." } })),
        ...fragments,
        Fake.data(Fake.chunk({ delta: {}, finish_reason: "tool_calls" })),
        Fake.data(Fake.chunk(undefined, { usage: Fake.usage })),
        Fake.DONE
      ])
    }
    const message = answered
      ? { role: "assistant", content: "Sunny, noon" }
      : {
        role: "assistant",
        content: "Let me check.",
        tool_calls: calls.map((call) => ({ id: call.id, type: "function", function: { name: call.name, arguments: JSON.stringify(call.arguments) } }))
      }
    return {
      _tag: "Json",
      body: {
        id: "chatcmpl-up",
        object: "chat.completion",
        created: 1_700_000_000,
        model: "up-model",
        choices: [{ index: 0, message, finish_reason: answered ? "stop" : "tool_calls" }],
        usage: Fake.usage
      }
    }
  })

const yamlFor = (origin: string) => ["ledger: false", "provider: openai-compatible", `baseUrl: ${origin}/v1`, "model: up-model"].join("\n")

const openAiTools: Array<OpenAI.Chat.Completions.ChatCompletionTool> = [
  { type: "function", function: { name: "get_weather", description: "The weather in a city", parameters: weatherSchema } },
  { type: "function", function: { name: "get_time", parameters: timeSchema } }
]

const anthropicTools: Array<Anthropic.Tool> = [
  { name: "get_weather", description: "The weather in a city", input_schema: weatherSchema as Anthropic.Tool.InputSchema },
  { name: "get_time", input_schema: timeSchema as Anthropic.Tool.InputSchema }
]

// What the upstream must see on the round trip: the assistant's calls, then one tool message per result.
const assertRoundTrip = (body: UpstreamBody, results: ReadonlyArray<string>) => {
  const assistant = body.messages.find((message) => message.role === "assistant")
  assert.deepStrictEqual(
    assistant?.tool_calls?.map((call) => [call.id, call.type, call.function.name, JSON.parse(call.function.arguments)]),
    calls.map((call) => [call.id, "function", call.name, call.arguments])
  )
  assert.deepStrictEqual(
    body.messages.filter((message) => message.role === "tool").map((message) => [message.tool_call_id, message.content]),
    calls.map((call, index) => [call.id, results[index]])
  )
  assert.deepStrictEqual(body.messages.map((message) => message.role), ["user", "assistant", "tool", "tool"])
}

describe("tool calls through /v1/chat/completions with the official openai client", () => {
  it.live("JSON: tools and tool_choice reach the upstream, its tool_calls reach the client, a round trip reaches the upstream", () =>
    Effect.gen(function*() {
      const fake = yield* upstream()
      yield* withServe({ yaml: yamlFor(fake.origin) }, ({ url }) =>
        Effect.gen(function*() {
          const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: "unused", maxRetries: 0 })
          const user = { role: "user" as const, content: "Weather and time in Paris?" }
          const completion = yield* Effect.promise(() =>
            client.chat.completions.create({
              model: "up-model",
              messages: [user],
              tools: openAiTools,
              tool_choice: { type: "function", function: { name: "get_weather" } }
            })
          )
          const sent = fake.requests[0]!.body as UpstreamBody
          assert.deepStrictEqual(sent.tools?.map((tool) => [tool.type, tool.function.name, tool.function.parameters]), [
            ["function", "get_weather", weatherSchema],
            ["function", "get_time", timeSchema]
          ])
          assert.strictEqual(sent.tools?.[0]?.function.description, "The weather in a city")
          assert.deepStrictEqual(sent.tool_choice, { type: "function", function: { name: "get_weather" } })

          const choice = completion.choices[0]!
          assert.strictEqual(choice.finish_reason, "tool_calls")
          assert.strictEqual(choice.message.content, "Let me check.")
          const toolCalls = (choice.message.tool_calls ?? []).flatMap((call) => call.type === "function" ? [call] : [])
          assert.deepStrictEqual(
            toolCalls.map((call) => [call.id, call.function.name, JSON.parse(call.function.arguments)]),
            calls.map((call) => [call.id, call.name, call.arguments])
          )

          const results = ["18 degrees, sunny", "12:00"]
          const final = yield* Effect.promise(() =>
            client.chat.completions.create({
              model: "up-model",
              tools: openAiTools,
              messages: [
                user,
                choice.message,
                ...toolCalls.map((call, index) => ({ role: "tool" as const, tool_call_id: call.id, content: results[index]! }))
              ]
            })
          )
          assert.strictEqual(final.choices[0]?.message.content, "Sunny, noon")
          assert.strictEqual(final.choices[0]?.finish_reason, "stop")
          assertRoundTrip(fake.requests[1]!.body as UpstreamBody, results)
        }))
    }))

  it.live("stream: delta.tool_calls by index assemble to the upstream's calls; finish_reason tool_calls", () =>
    Effect.gen(function*() {
      const fake = yield* upstream()
      yield* withServe({ yaml: yamlFor(fake.origin) }, ({ url }) =>
        Effect.gen(function*() {
          const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: "unused", maxRetries: 0 })
          const stream = yield* Effect.promise(() =>
            client.chat.completions.create({
              model: "up-model",
              messages: [{ role: "user", content: "Weather and time in Paris?" }],
              tools: openAiTools,
              tool_choice: "required",
              stream: true
            })
          )
          const chunks = yield* Effect.promise(async () => {
            const all = []
            for await (const chunk of stream) all.push(chunk)
            return all
          })
          assert.strictEqual((fake.requests[0]!.body as UpstreamBody).tool_choice, "required")
          const assembled = new Map<number, { id: string; name: string; arguments: string }>()
          for (const chunk of chunks) {
            for (const delta of chunk.choices[0]?.delta.tool_calls ?? []) {
              const call = assembled.get(delta.index) ?? { id: "", name: "", arguments: "" }
              assembled.set(delta.index, {
                id: delta.id ?? call.id,
                name: delta.function?.name ?? call.name,
                arguments: call.arguments + (delta.function?.arguments ?? "")
              })
            }
          }
          assert.deepStrictEqual(
            [...assembled.entries()].map(([index, call]) => [index, call.id, call.name, JSON.parse(call.arguments)]),
            calls.map((call, index) => [index, call.id, call.name, call.arguments])
          )
          assert.strictEqual(chunks.map((chunk) => chunk.choices[0]?.delta.content ?? "").join(""), "Let me check.")
          assert.strictEqual(chunks.find((chunk) => chunk.choices[0]?.finish_reason)?.choices[0]?.finish_reason, "tool_calls")

          // The SDK's own stream helper assembles the same message.
          const helper = client.chat.completions.stream({
            model: "up-model",
            messages: [{ role: "user", content: "Weather and time in Paris?" }],
            tools: openAiTools
          })
          const final = yield* Effect.promise(() => helper.finalChatCompletion())
          const message = final.choices[0]!.message
          assert.deepStrictEqual(
            (message.tool_calls ?? []).flatMap((call) => call.type === "function" ? [[call.id, call.function.name, JSON.parse(call.function.arguments)]] : []),
            calls.map((call) => [call.id, call.name, call.arguments])
          )
        }))
    }))

  it.live("bad tool declarations are 400s naming the field", () =>
    Effect.gen(function*() {
      const fake = yield* upstream()
      yield* withServe({ yaml: yamlFor(fake.origin) }, ({ url }) =>
        Effect.gen(function*() {
          const user = [{ role: "user", content: "x" }]
          const cases: ReadonlyArray<[unknown, RegExp]> = [
            [{ messages: user, tools: [{ type: "custom", custom: { name: "x" } }] }, /tools\[0\] is not a function tool/],
            [{ messages: user, tools: [{ type: "function", function: { name: "1bad" } }] }, /tools\[0\]\.function\.name/],
            [{ messages: user, tools: [{ type: "function", function: { name: "ok", parameters: "x" } }] }, /^tools\[0\]\.function\.parameters must be a JSON Schema object/],
            [{ messages: user, tools: openAiTools, tool_choice: "sometimes" }, /tool_choice/],
            [{ messages: user, tools: openAiTools, tool_choice: { type: "function", function: { name: "nope" } } }, /tool_choice.*nope/],
            [{ messages: [...user, { role: "tool", content: "r" }] }, /tool_call_id/]
          ]
          for (const [body, pattern] of cases) {
            const reply = yield* post(`${url}/v1/chat/completions`, body)
            assert.strictEqual(reply.status, 400)
            assert.match((reply.json as { error: { message: string } }).error.message, pattern)
          }
          assert.strictEqual(fake.requests.length, 0)
        }))
    }))
})

describe("tool calls through /v1/messages with @anthropic-ai/sdk", () => {
  it.live("JSON: tools and tool_choice reach the upstream, tool_use blocks reach the client, a tool_result round trip reaches the upstream", () =>
    Effect.gen(function*() {
      const fake = yield* upstream()
      yield* withServe({ yaml: yamlFor(fake.origin) }, ({ url }) =>
        Effect.gen(function*() {
          const client = new Anthropic({ baseURL: url, apiKey: "unused", maxRetries: 0 })
          const user: Anthropic.MessageParam = { role: "user", content: "Weather and time in Paris?" }
          const message = yield* Effect.promise(() =>
            client.messages.create({ model: "up-model", max_tokens: 256, messages: [user], tools: anthropicTools, tool_choice: { type: "any" } })
          )
          const sent = fake.requests[0]!.body as UpstreamBody
          assert.deepStrictEqual(sent.tools?.map((tool) => [tool.function.name, tool.function.parameters]), [
            ["get_weather", weatherSchema],
            ["get_time", timeSchema]
          ])
          assert.strictEqual(sent.tool_choice, "required")

          assert.strictEqual(message.stop_reason, "tool_use")
          assert.deepStrictEqual(message.content.map((block) => block.type), ["text", "tool_use", "tool_use"])
          assert.deepStrictEqual(message.content[0]?.type === "text" ? message.content[0].text : "", "Let me check.")
          const uses = message.content.flatMap((block) => block.type === "tool_use" ? [block] : [])
          assert.deepStrictEqual(uses.map((use) => [use.id, use.name, use.input]), calls.map((call) => [call.id, call.name, call.arguments]))

          const results = ["18 degrees, sunny", "12:00"]
          const final = yield* Effect.promise(() =>
            client.messages.create({
              model: "up-model",
              max_tokens: 256,
              tools: anthropicTools,
              tool_choice: { type: "tool", name: "get_time" },
              messages: [
                user,
                { role: "assistant", content: message.content },
                {
                  role: "user",
                  content: uses.map((use, index) => ({
                    type: "tool_result" as const,
                    tool_use_id: use.id,
                    content: index === 0 ? results[0]! : [{ type: "text" as const, text: results[1]! }]
                  }))
                }
              ]
            })
          )
          assert.deepStrictEqual(final.content.map((block) => block.type === "text" ? block.text : block.type), ["Sunny, noon"])
          assert.strictEqual(final.stop_reason, "end_turn")
          const back = fake.requests[1]!.body as UpstreamBody
          assert.deepStrictEqual(back.tool_choice, { type: "function", function: { name: "get_time" } })
          assertRoundTrip(back, results)
        }))
    }))

  it.live("stream: a text block then tool_use blocks whose input_json_delta assemble to the upstream's calls", () =>
    Effect.gen(function*() {
      const fake = yield* upstream()
      yield* withServe({ yaml: yamlFor(fake.origin) }, ({ url }) =>
        Effect.gen(function*() {
          const client = new Anthropic({ baseURL: url, apiKey: "unused", maxRetries: 0 })
          const stream = client.messages.stream({
            model: "up-model",
            max_tokens: 256,
            messages: [{ role: "user", content: "Weather and time in Paris?" }],
            tools: anthropicTools
          })
          const deltas: Array<string> = []
          stream.on("inputJson", (partial) => void deltas.push(partial))
          const final = yield* Effect.promise(() => stream.finalMessage())
          assert.strictEqual(final.stop_reason, "tool_use")
          assert.deepStrictEqual(final.content.map((block) => block.type), ["text", "tool_use", "tool_use"])
          assert.strictEqual(final.content[0]?.type === "text" ? final.content[0].text : "", "Let me check.")
          assert.deepStrictEqual(
            final.content.flatMap((block) => block.type === "tool_use" ? [[block.id, block.name, block.input]] : []),
            calls.map((call) => [call.id, call.name, call.arguments])
          )
          // Each call's arguments came in two fragments, as the upstream sent them.
          assert.strictEqual(deltas.length, 4)
          assert.deepStrictEqual([final.usage.input_tokens, final.usage.output_tokens], [Fake.usage.prompt_tokens, Fake.usage.completion_tokens])
        }))
    }))

  it.live("server tools and bad tool_result blocks are 400s naming what is wrong", () =>
    Effect.gen(function*() {
      const fake = yield* upstream()
      yield* withServe({ yaml: yamlFor(fake.origin) }, ({ url }) =>
        Effect.gen(function*() {
          const user = [{ role: "user", content: "x" }]
          const cases: ReadonlyArray<[unknown, RegExp]> = [
            [{ max_tokens: 5, messages: user, tools: [{ type: "web_search_20250305", name: "web_search" }] }, /server tool "web_search_20250305"/],
            [{ max_tokens: 5, messages: user, tools: [{ name: "1bad" }] }, /^tools\[0\]\.name is "1bad"/],
            [{ max_tokens: 5, messages: user, tools: [{ name: "ok", input_schema: 3 }] }, /^tools\[0\]\.input_schema must be a JSON Schema object/],
            [{ max_tokens: 5, messages: user, tools: anthropicTools, tool_choice: { type: "sometimes" } }, /tool_choice/],
            [{ max_tokens: 5, messages: [{ role: "user", content: [{ type: "tool_result", content: "r" }] }] }, /tool_use_id/]
          ]
          for (const [body, pattern] of cases) {
            const reply = yield* post(`${url}/v1/messages`, body)
            assert.strictEqual(reply.status, 400)
            assert.match((reply.json as { error: { message: string } }).error.message, pattern)
          }
          assert.strictEqual(fake.requests.length, 0)
        }))
    }))
})
