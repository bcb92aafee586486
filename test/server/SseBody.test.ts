/**
 * The streamed answers' bodies (ADR 0066, stop 31): the events of one pull's parts go out as one
 * Uint8Array, the head with the first parts; the bytes are the
 * same events however the parts are chunked, in the order and shape each protocol sends them.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import * as BridgeContract from "../../src/bridge/BridgeContract.ts"
import type * as LlmResponse from "../../src/LlmResponse.ts"
import * as AnthropicCompat from "../../src/server/AnthropicCompat.ts"
import * as HttpErrors from "../../src/server/HttpErrors.ts"
import * as OpenAiCompat from "../../src/server/OpenAiCompat.ts"
import type * as StreamPart from "../../src/StreamPart.ts"

const response: LlmResponse.LlmResponse = {
  content: "Hello",
  model: "gpt-4o-mini-2024",
  provider: "openai",
  usage: { inputTokens: 3, outputTokens: 5, totalTokens: 8 },
  finishReason: "stop",
  latencyMs: 1
}
const parts: ReadonlyArray<StreamPart.StreamPart> = [
  { type: "text-delta", text: "Hel" },
  { type: "text-delta", text: "" },
  { type: "tool-call-delta", index: 0, id: "call_1", name: "look", argumentsDelta: "{\"q\"" },
  { type: "tool-call-delta", index: 0, argumentsDelta: ":1}" },
  { type: "text-delta", text: "lo" },
  { type: "finish", response }
]
const failure = BridgeContract.invalidInput("the provider went away", { fix: "retry" }).document

const decoder = new TextDecoder()
// The body's writes (one per Uint8Array) as text.
const writes = (body: Stream.Stream<Uint8Array>) =>
  Effect.map(Stream.runCollect(body), (chunks) => Array.from(chunks, (chunk) => decoder.decode(chunk)))
// The parts one per pull, or all in one pull; and the same failing after them.
const onePerPull = (xs: ReadonlyArray<StreamPart.StreamPart>) => Stream.rechunk(Stream.fromIterable(xs), 1)
const allInOne = (xs: ReadonlyArray<StreamPart.StreamPart>) => Stream.fromArray(xs)
const failing = (stream: Stream.Stream<StreamPart.StreamPart>) =>
  Stream.concat(stream, Stream.fail(failure))

const data = (value: unknown) => `data: ${JSON.stringify(value)}\n\n`

describe("OpenAiCompat.sseBody", () => {
  const options = { id: "chatcmpl-1", created: 7, model: "gpt-4o-mini", includeUsage: true }
  const chunk = (model: string, delta: object, finish: string | null) =>
    data({ id: "chatcmpl-1", object: "chat.completion.chunk", created: 7, model, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] })
  const events = [
    chunk("gpt-4o-mini", { role: "assistant", content: "" }, null),
    chunk("gpt-4o-mini", { content: "Hel" }, null),
    chunk("gpt-4o-mini", { tool_calls: [{ index: 0, id: "call_1", type: "function", function: { name: "look", arguments: "{\"q\"" } }] }, null),
    chunk("gpt-4o-mini", { tool_calls: [{ index: 0, function: { arguments: ":1}" } }] }, null),
    chunk("gpt-4o-mini", { content: "lo" }, null),
    chunk("gpt-4o-mini-2024", {}, "stop"),
    data({ id: "chatcmpl-1", object: "chat.completion.chunk", created: 7, model: "gpt-4o-mini-2024", choices: [], usage: { prompt_tokens: 3, completion_tokens: 5, total_tokens: 8 } }),
    "data: [DONE]\n\n"
  ]

  it.effect("the same events one part per pull (a write per pull that has events) or all in one pull (one write, then [DONE])", () =>
    Effect.gen(function*() {
      const apart = yield* writes(OpenAiCompat.sseBody(onePerPull(parts), options))
      // The head goes with the first part, [DONE] with the pull that finds the end; the empty text
      // delta gives no write.
      assert.deepStrictEqual(apart, [events[0]! + events[1]!, events[2]!, events[3]!, events[4]!, events[5]! + events[6]!, events[7]!])
      const together = yield* writes(OpenAiCompat.sseBody(allInOne(parts), options))
      assert.deepStrictEqual(together, [events.slice(0, 7).join(""), events[7]!])
    }))

  it.effect("a failure mid-stream: its error event then [DONE]; an empty stream: the role chunk and [DONE]", () =>
    Effect.gen(function*() {
      const error = data(HttpErrors.openAiBody(failure))
      const cut = yield* writes(OpenAiCompat.sseBody(failing(allInOne(parts.slice(0, 2))), { ...options, includeUsage: false }))
      assert.deepStrictEqual(cut.join(""), events[0]! + events[1]! + error + "data: [DONE]\n\n")
      const first = yield* writes(OpenAiCompat.sseBody(failing(Stream.empty), options))
      assert.deepStrictEqual(first, [events[0]! + error + "data: [DONE]\n\n"])
      const empty = yield* writes(OpenAiCompat.sseBody(Stream.empty, options))
      assert.deepStrictEqual(empty, [events[0]! + "data: [DONE]\n\n"])
    }))
})

describe("AnthropicCompat.sseBody", () => {
  const options = { id: "msg_1", model: "claude-x", estimatedInputTokens: 4 }
  const event = (type: string, value: object) => `event: ${type}\n${data({ type, ...value })}`

  it.effect("the same events however the parts are chunked, blocks opened and closed across pulls", () =>
    Effect.gen(function*() {
      const apart = yield* writes(AnthropicCompat.sseBody(onePerPull(parts), options))
      const together = yield* writes(AnthropicCompat.sseBody(allInOne(parts), options))
      assert.strictEqual(together.length, 1)
      assert.strictEqual(apart.join(""), together[0])
      const text = together[0]!
      assert.isTrue(text.startsWith(event("message_start", {
        message: { id: "msg_1", type: "message", role: "assistant", model: "claude-x", content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 4, output_tokens: 0 } }
      }) + event("ping", {}) + event("content_block_start", { index: 0, content_block: { type: "text", text: "" } })))
      // The text block closed by the tool call's, reopened as block 2 by the late text, all closed before the finish.
      assert.include(text, event("content_block_stop", { index: 0 }) + event("content_block_start", { index: 1, content_block: { type: "tool_use", id: "call_1", name: "look", input: {} } }))
      assert.include(text, event("content_block_stop", { index: 1 }) + event("content_block_start", { index: 2, content_block: { type: "text", text: "" } }))
      assert.isTrue(text.endsWith(event("content_block_stop", { index: 2 }) +
        event("message_delta", { delta: { stop_reason: "end_turn", stop_sequence: null }, usage: { input_tokens: 3, output_tokens: 5, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 } }) +
        event("message_stop", {})))
    }))

  it.effect("a failure mid-stream is its error event, last; nothing follows an empty stream's head", () =>
    Effect.gen(function*() {
      const cut = yield* writes(AnthropicCompat.sseBody(failing(onePerPull(parts.slice(0, 1))), options))
      assert.isTrue(cut.join("").endsWith(`event: error\n${data(HttpErrors.anthropicBody(failure))}`))
      const empty = yield* writes(AnthropicCompat.sseBody(Stream.empty, options))
      assert.strictEqual(empty.length, 1)
      assert.isTrue(empty[0]!.endsWith(event("ping", {})))
    }))
})
