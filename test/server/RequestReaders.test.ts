/**
 * The OpenAI- and Anthropic-compatible doors' request readers (`toLlmRequest`), read synchronously
 * since stop 27 (docs/performance.md): what a valid body becomes, and the field each bad one names.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Result } from "effect"
import * as AnthropicCompat from "../../src/server/AnthropicCompat.ts"
import * as OpenAiCompat from "../../src/server/OpenAiCompat.ts"

const failureOf = <A>(effect: Effect.Effect<A, { readonly error: string; readonly errorType: string }>) =>
  Effect.map(Effect.result(effect), (result) => {
    assert.isTrue(Result.isFailure(result), "expected the body to be refused")
    if (Result.isSuccess(result)) return ""
    assert.strictEqual(result.failure.errorType, "InvalidInput")
    return result.failure.error
  })

const user = [{ role: "user", content: "Hi" }]

describe("OpenAiCompat.toLlmRequest", () => {
  it.effect("a full body: the system prompts joined, max_completion_tokens over max_tokens, stop, model, stream options", () =>
    Effect.gen(function*() {
      const chat = yield* OpenAiCompat.toLlmRequest({
        model: "gpt-4o-mini",
        messages: [
          { role: "system", content: "Be terse." },
          { role: "developer", content: [{ type: "text", text: "Answer in English." }] },
          { role: "user", content: "Hi" }
        ],
        max_completion_tokens: 50,
        max_tokens: 100,
        temperature: 0.2,
        top_p: 0.9,
        stop: "END",
        stream: true,
        stream_options: { include_usage: true },
        unknown_field: 1
      })
      assert.deepStrictEqual(chat, {
        model: "gpt-4o-mini",
        request: {
          messages: [{ role: "user", content: "Hi" }],
          system: "Be terse.\n\nAnswer in English.",
          maxTokens: 50,
          temperature: 0.2,
          topP: 0.9,
          stop: ["END"]
        },
        stream: true,
        includeUsage: true
      })
    }))

  it.effect("a minimal body: max_tokens when max_completion_tokens is absent, nulls as absent, no optional field set", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* OpenAiCompat.toLlmRequest({ messages: user, max_tokens: 7, temperature: null, model: null }), {
        model: undefined,
        request: { messages: [{ role: "user", content: "Hi" }], maxTokens: 7 },
        stream: false,
        includeUsage: false
      })
    }))

  it.effect("tool calls and consecutive tool results: one assistant message with its calls, one tool message of results named by the call", () =>
    Effect.gen(function*() {
      const chat = yield* OpenAiCompat.toLlmRequest({
        messages: [
          { role: "user", content: "Weather and time?" },
          {
            role: "assistant",
            content: null,
            tool_calls: [
              { id: "c1", type: "function", function: { name: "weather", arguments: "{\"city\":\"Paris\"}" } },
              { id: "c2", type: "function", function: { name: "time", arguments: "{}" } }
            ]
          },
          { role: "tool", tool_call_id: "c1", content: "sunny" },
          { role: "tool", tool_call_id: "c2", content: "noon" }
        ],
        tools: [{ type: "function", function: { name: "weather" } }, { type: "function", function: { name: "time" } }],
        tool_choice: "auto"
      })
      assert.deepStrictEqual(chat.request.messages.map((message) => message.role), ["user", "assistant", "tool"])
      const results = chat.request.messages[2]!.content
      assert.deepStrictEqual(typeof results === "string" ? [] : results.map((part) => part.type === "tool-result" ? [part.id, part.name, part.result] : []), [
        ["c1", "weather", "sunny"],
        ["c2", "time", "noon"]
      ])
      assert.deepStrictEqual(chat.request.tools?.map((tool) => tool.name), ["weather", "time"])
      assert.strictEqual(chat.request.toolChoice, "auto")
    }))

  it.effect("each bad body names what is wrong", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [unknown, string]> = [
        [[1], "the body must be a JSON object"],
        [{ messages: [] }, "\"messages\" must be a non-empty array"],
        [{ messages: ["Hi"] }, "messages[0] must be an object"],
        [{ messages: [{ role: "robot", content: "Hi" }] }, "messages[0].role is \"robot\""],
        [{ messages: [{ role: "user", content: 5 }] }, "messages[0].content must be a string or an array of content blocks"],
        [{ messages: [{ role: "system", content: "Be terse." }] }, "\"messages\" has no user message"],
        [{ messages: [...user, { role: "tool", content: "x" }] }, "messages[1].tool_call_id is missing"],
        [{ messages: user, temperature: "hot" }, "\"temperature\" must be a number, got \"hot\""],
        [{ messages: user, max_completion_tokens: "many" }, "\"max_completion_tokens\" must be a number, got \"many\""],
        [{ messages: user, model: 5 }, "\"model\" must be a string"],
        [{ messages: user, tools: {} }, "\"tools\" must be an array"],
        [{ messages: user, tool_choice: "sometimes" }, "\"tool_choice\" is \"sometimes\""]
      ]
      for (const [body, expected] of cases) assert.strictEqual(yield* failureOf(OpenAiCompat.toLlmRequest(body)), expected)
    }))
})

describe("AnthropicCompat.toLlmRequest", () => {
  it.effect("a full body: system blocks and system messages joined, max_tokens floored, temperature capped at 1, stop sequences", () =>
    Effect.gen(function*() {
      const messages = yield* AnthropicCompat.toLlmRequest({
        model: "claude-sonnet",
        system: [{ type: "text", text: "Be terse.", cache_control: { type: "ephemeral" } }],
        messages: [{ role: "system", content: "Answer in English." }, { role: "user", content: [{ type: "text", text: "Hi" }] }],
        max_tokens: 100.7,
        temperature: 1.5,
        top_p: 0.5,
        stop_sequences: ["END", 3],
        stream: true,
        thinking: { type: "enabled" }
      })
      assert.deepStrictEqual(messages, {
        model: "claude-sonnet",
        request: {
          messages: [{ role: "user", content: "Hi" }],
          system: "Be terse.\n\nAnswer in English.",
          maxTokens: 100,
          temperature: 1,
          topP: 0.5,
          stop: ["END"]
        },
        stream: true
      })
    }))

  it.effect("max_tokens 0 sets none (count_tokens has none); tool_choice without tools says nothing upstream", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* AnthropicCompat.toLlmRequest({ messages: user, max_tokens: 0, tool_choice: { type: "none" } }), {
        model: undefined,
        request: { messages: [{ role: "user", content: "Hi" }] },
        stream: false
      })
    }))

  it.effect("each bad body names what is wrong", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [unknown, string]> = [
        ["Hi", "the body must be a JSON object"],
        [{ messages: {} }, "\"messages\" must be a non-empty array"],
        [{ messages: [{ role: "tool", content: "x" }] }, "messages[0] must have role \"user\" or \"assistant\""],
        [{ messages: user, system: 5 }, "system must be a string or an array of content blocks"],
        [{ messages: [{ role: "system", content: "Be terse." }] }, "\"messages\" has no user message"],
        [{ messages: user, max_tokens: "many" }, "\"max_tokens\" must be a number, got \"many\""],
        [{ messages: user, model: [] }, "\"model\" must be a string"],
        [{ messages: user, tools: [{ type: "web_search_20250305", name: "web" }] }, "tools[0] is Anthropic's server tool \"web_search_20250305\", which runs only at Anthropic and cannot pass through"],
        [{ messages: [...user, { role: "assistant", content: [{ type: "tool_use", name: "x" }] }] }, "a tool_use block of messages[1].content has no \"id\" or \"name\""]
      ]
      for (const [body, expected] of cases) assert.strictEqual(yield* failureOf(AnthropicCompat.toLlmRequest(body)), expected)
    }))
})
