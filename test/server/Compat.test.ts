/**
 * The OpenAI- and Anthropic-compatible doors with the vendors' official clients, unchanged:
 * `openai` against /v1/chat/completions (JSON and stream, usage equal to the upstream fake's),
 * `@anthropic-ai/sdk` against /v1/messages (JSON and stream, Claude Code's request shape),
 * errors in each vendor's error JSON with the right status, and the model router.
 */
import Anthropic from "@anthropic-ai/sdk"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import OpenAI from "openai"
import * as LlmError from "../../src/LlmError.ts"
import * as Fake from "../providers/openai/FakeOpenAiServer.ts"
import { post, request, steered, withServe } from "./support.ts"

// The upstream: a fake OpenAI-compatible server answering JSON, or SSE when asked to stream.
const upstream = () =>
  Fake.start((recorded) => {
    const body = recorded.body as { stream?: boolean; model?: string }
    if (body.stream === true) return Fake.sse(Fake.textStream({ texts: ["Hel", "lo, ", "world"] }))
    return {
      _tag: "Json",
      body: {
        id: "chatcmpl-up",
        object: "chat.completion",
        created: 1_700_000_000,
        model: body.model ?? "up-model",
        choices: [{ index: 0, message: { role: "assistant", content: `echo: ${Fake.lastUserText(recorded)}` }, finish_reason: "stop" }],
        usage: Fake.usage
      }
    }
  })

const yamlFor = (origin: string) => (_dir: string) =>
  [
    "ledger: false",
    "provider: openai-compatible",
    `baseUrl: ${origin}/v1`,
    "model: up-model",
    "serve:",
    "  models:",
    "    fast:",
    "      provider: openai-compatible",
    "      model: routed-model",
    `      baseUrl: ${origin}/v1`
  ].join("\n")

describe("OpenAI-compatible /v1/chat/completions with the official openai client", () => {
  it.live("non-stream and stream: content, finish reason and usage equal to the upstream's", () =>
    Effect.gen(function*() {
      const fake = yield* upstream()
      yield* withServe({ yaml: yamlFor(fake.origin) }, ({ url }) =>
        Effect.gen(function*() {
          const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: "sk-client-unused", maxRetries: 0 })
          const completion = yield* Effect.promise(() =>
            client.chat.completions.create({
              model: "up-model",
              messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "Hi there" }],
              max_tokens: 50
            })
          )
          assert.strictEqual(completion.object, "chat.completion")
          assert.strictEqual(completion.choices[0]?.message.content, "echo: Hi there")
          assert.strictEqual(completion.choices[0]?.finish_reason, "stop")
          assert.deepStrictEqual(
            [completion.usage?.prompt_tokens, completion.usage?.completion_tokens, completion.usage?.total_tokens],
            [Fake.usage.prompt_tokens, Fake.usage.completion_tokens, Fake.usage.total_tokens]
          )
          const sent = fake.requests[0]!.body as { messages: ReadonlyArray<{ role: string }>; max_tokens?: number; max_completion_tokens?: number }
          assert.deepStrictEqual(sent.messages.map((message) => message.role), ["system", "user"])

          const stream = yield* Effect.promise(() =>
            client.chat.completions.create({
              model: "up-model",
              messages: [{ role: "user", content: "Stream please" }],
              stream: true,
              stream_options: { include_usage: true }
            })
          )
          const chunks = yield* Effect.promise(async () => {
            const all = []
            for await (const chunk of stream) all.push(chunk)
            return all
          })
          const text = chunks.map((chunk) => chunk.choices[0]?.delta.content ?? "").join("")
          assert.strictEqual(text, "Hello, world")
          assert.strictEqual(chunks.find((chunk) => chunk.choices[0]?.finish_reason)?.choices[0]?.finish_reason, "stop")
          const usage = chunks.at(-1)?.usage
          assert.deepStrictEqual(
            [usage?.prompt_tokens, usage?.completion_tokens, usage?.total_tokens],
            [Fake.usage.prompt_tokens, Fake.usage.completion_tokens, Fake.usage.total_tokens]
          )
          assert.deepStrictEqual(chunks.at(-1)?.choices, [])

          const models = yield* Effect.promise(() => client.models.list())
          assert.deepStrictEqual(models.data.map((model) => model.id), ["fast"])
        }))
    }))

  it.live("an exposed model name routes to its provider/model; the request's model otherwise passes through", () =>
    Effect.gen(function*() {
      const fake = yield* upstream()
      yield* withServe({ yaml: yamlFor(fake.origin) }, ({ url }) =>
        Effect.gen(function*() {
          const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: "unused", maxRetries: 0 })
          yield* Effect.promise(() => client.chat.completions.create({ model: "fast", messages: [{ role: "user", content: "a" }] }))
          yield* Effect.promise(() => client.chat.completions.create({ model: "other-model", messages: [{ role: "user", content: "b" }] }))
          assert.deepStrictEqual(fake.requests.map((sent) => (sent.body as { model: string }).model), ["routed-model", "other-model"])
        }))
    }))

  it.live("errors are OpenAI error JSON with the right status: the client raises its own error classes", () => {
    const fake = steered()
    return withServe({ providers: [fake.provider], yaml: "ledger: false\nprovider: steered\nretry:\n  maxRetries: 0\n" }, ({ url }) =>
      Effect.gen(function*() {
        const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: "unused", maxRetries: 0 })
        const call = () => client.chat.completions.create({ model: "m", messages: [{ role: "user", content: "x" }] }).then(() => undefined, (error: unknown) => error)
        fake.state.failWith = LlmError.make("steered", new LlmError.RateLimited({ description: "slow down", retryAfterMs: 1000 }))
        const limited = yield* Effect.promise(call)
        assert.instanceOf(limited, OpenAI.RateLimitError)
        assert.strictEqual((limited as InstanceType<typeof OpenAI.RateLimitError>).headers.get("retry-after"), "1")
        fake.state.failWith = LlmError.make("steered", new LlmError.Authentication({ description: "bad key" }))
        assert.instanceOf(yield* Effect.promise(call), OpenAI.AuthenticationError)
        fake.state.failWith = LlmError.make("steered", new LlmError.ServerError({ description: "upstream down", status: 500 }))
        const upstreamDown = yield* Effect.promise(call)
        assert.instanceOf(upstreamDown, OpenAI.InternalServerError)
        assert.strictEqual((upstreamDown as InstanceType<typeof OpenAI.APIError>).status, 502)
        fake.state.failWith = undefined
        const bad = yield* post(`${url}/v1/chat/completions`, { model: "m", messages: [] })
        assert.strictEqual(bad.status, 400)
        assert.strictEqual((bad.json as { error: { type: string } }).error.type, "invalid_request_error")
        // A stream refused before its first part is an HTTP error too, not a 200 event stream.
        fake.state.failWith = LlmError.make("steered", new LlmError.RateLimited({ description: "slow down" }))
        const streamed = yield* post(`${url}/v1/chat/completions`, { model: "m", stream: true, messages: [{ role: "user", content: "x" }] })
        assert.strictEqual(streamed.status, 429)
      }))
  })
})

describe("Anthropic-compatible /v1/messages with @anthropic-ai/sdk", () => {
  it.live("JSON and stream, with Claude Code's request shape (?beta=true, system blocks, cache_control, thinking)", () =>
    Effect.gen(function*() {
      const fake = yield* upstream()
      yield* withServe({ yaml: yamlFor(fake.origin) }, ({ url }) =>
        Effect.gen(function*() {
          const client = new Anthropic({ baseURL: url, apiKey: "sk-ant-unused", maxRetries: 0 })
          const message = yield* Effect.promise(() =>
            client.messages.create({
              model: "up-model",
              max_tokens: 64,
              system: [{ type: "text", text: "You are terse.", cache_control: { type: "ephemeral" } }],
              messages: [{ role: "user", content: [{ type: "text", text: "Hello" }] }]
            })
          )
          assert.strictEqual(message.type, "message")
          assert.deepStrictEqual(message.content.map((block) => [block.type, block.type === "text" ? block.text : ""]), [["text", "echo: Hello"]])
          assert.strictEqual(message.stop_reason, "end_turn")
          assert.deepStrictEqual([message.usage.input_tokens, message.usage.output_tokens], [Fake.usage.prompt_tokens, Fake.usage.completion_tokens])
          const sent = fake.requests[0]!.body as { messages: ReadonlyArray<{ role: string; content: string }> }
          assert.deepStrictEqual(sent.messages[0], { role: "system", content: "You are terse." })

          const stream = client.beta.messages.stream({
            model: "up-model",
            max_tokens: 64,
            thinking: { type: "enabled", budget_tokens: 1024 },
            messages: [{ role: "user", content: "Stream please" }],
            betas: ["claude-code-20250219"]
          })
          const final = yield* Effect.promise(() => stream.finalMessage())
          assert.deepStrictEqual(final.content.map((block) => block.type === "text" ? block.text : ""), ["Hello, world"])
          assert.strictEqual(final.stop_reason, "end_turn")
          assert.deepStrictEqual([final.usage.input_tokens, final.usage.output_tokens], [Fake.usage.prompt_tokens, Fake.usage.completion_tokens])
          assert.match(fake.requests.at(-1)!.url, /chat\/completions/)

          const counted = yield* Effect.promise(() =>
            client.messages.countTokens({ model: "up-model", messages: [{ role: "user", content: "count these words please" }] })
          )
          assert.isAbove(counted.input_tokens, 4)
        }))
    }))

  it.live("errors are Anthropic error JSON: the client raises its own error classes", () => {
    const fake = steered()
    return withServe({ providers: [fake.provider], yaml: "ledger: false\nprovider: steered\nretry:\n  maxRetries: 0\n" }, ({ url }) =>
      Effect.gen(function*() {
        const client = new Anthropic({ baseURL: url, apiKey: "unused", maxRetries: 0 })
        const call = () =>
          client.messages.create({ model: "m", max_tokens: 5, messages: [{ role: "user", content: "x" }] }).then(() => undefined, (error: unknown) => error)
        fake.state.failWith = LlmError.make("steered", new LlmError.BudgetExceeded({
          description: "over budget",
          dimension: "costUsd",
          limit: 1,
          consumed: 1,
          reserved: 0,
          requested: 0.1
        }))
        assert.instanceOf(yield* Effect.promise(call), Anthropic.RateLimitError)
        fake.state.failWith = LlmError.make("steered", new LlmError.Unavailable({ description: "overloaded" }))
        const overloaded = yield* Effect.promise(call)
        assert.instanceOf(overloaded, Anthropic.APIError)
        assert.strictEqual((overloaded as InstanceType<typeof Anthropic.APIError>).status, 503)
        const raw = yield* post(`${url}/v1/messages`, { model: "m", messages: "nope" })
        assert.strictEqual(raw.status, 400)
        assert.deepStrictEqual((raw.json as { type: string; error: { type: string } }).type, "error")
        assert.strictEqual((raw.json as { error: { type: string } }).error.type, "invalid_request_error")
        const unknownRoute = yield* request(`${url}/v1/nothing`)
        assert.strictEqual(unknownRoute.status, 404)
      }))
  })
})
