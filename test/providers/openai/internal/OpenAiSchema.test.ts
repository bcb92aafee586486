import { assert, describe, it } from "@effect/vitest"
import { Exit, Schema } from "effect"
import * as OpenAiSchema from "../../../../src/providers/openai/internal/OpenAiSchema.ts"

// Chunk-like values: every field the Schema reads is absent, of its type, null, or (less often) of
// another JSON type, so that most values are chunks and each wrong field is met alone too.
const Loose = Schema.Union([Schema.String, Schema.Int, Schema.Null, Schema.Boolean])
const field = <S extends Schema.Top>(schema: S) =>
  Schema.optionalKey(Schema.Union([schema, Schema.NullOr(schema), Schema.Struct({ wrong: schema }), Schema.Boolean]))
const ToolCall = Schema.Struct({
  index: field(Schema.Int),
  id: field(Schema.String),
  type: field(Schema.String),
  function: field(Schema.Struct({ name: field(Schema.String), arguments: field(Schema.String) }))
})
const Delta = Schema.Struct({
  role: field(Schema.String),
  content: field(Schema.String),
  refusal: field(Schema.String),
  tool_calls: field(Schema.Array(Schema.Union([ToolCall, Loose])))
})
const Choice = Schema.Struct({ index: field(Schema.Int), delta: field(Delta), finish_reason: field(Schema.String), logprobs: field(Schema.Null) })
const Usage = Schema.Struct({
  prompt_tokens: field(Schema.Int),
  completion_tokens: field(Schema.Int),
  total_tokens: field(Schema.Int),
  cost: field(Schema.Finite),
  prompt_tokens_details: field(Schema.Struct({ cached_tokens: field(Schema.Int) })),
  completion_tokens_details: field(Schema.Struct({ reasoning_tokens: field(Schema.Int) }))
})
const ChunkLike = Schema.Union([
  Schema.Struct({
    id: field(Schema.String),
    model: field(Schema.String),
    object: field(Schema.String),
    created: field(Schema.Int),
    choices: field(Schema.Array(Schema.Union([Choice, Loose]))),
    usage: field(Usage),
    system_fingerprint: field(Schema.String)
  }),
  Loose,
  Schema.Array(Loose)
])

describe("OpenAiSchema.readChatCompletionChunk", () => {
  it.prop("accepts exactly what the ChatCompletionChunk Schema accepts, and gives the same value", [ChunkLike], ([value]) => {
    const json: unknown = JSON.parse(JSON.stringify(value))
    const decoded = OpenAiSchema.decodeChatCompletionChunk(json)
    const read = OpenAiSchema.readChatCompletionChunk(json)
    assert.strictEqual(read !== undefined, Exit.isSuccess(decoded), JSON.stringify(json))
    if (Exit.isSuccess(decoded)) assert.deepStrictEqual(read, decoded.value)
  }, { arbitrary: { runs: 3_000 } })

  it("agrees with the Schema on every field of real chunks replaced by each JSON type, null, or nothing", () => {
    const samples: ReadonlyArray<unknown> = [
      {
        id: "chatcmpl-1",
        object: "chat.completion.chunk",
        created: 1,
        model: "gpt-4o-mini",
        system_fingerprint: "fp",
        choices: [{
          index: 0,
          delta: {
            role: "assistant",
            content: "Hi",
            refusal: null,
            tool_calls: [{ index: 0, id: "call_1", type: "function", function: { name: "f", arguments: "{}" } }]
          },
          logprobs: null,
          finish_reason: "stop"
        }],
        usage: {
          prompt_tokens: 1,
          completion_tokens: 2,
          total_tokens: 3,
          cost: 0.5,
          prompt_tokens_details: { cached_tokens: 0 },
          completion_tokens_details: { reasoning_tokens: 0 }
        }
      }
    ]
    const replacements: ReadonlyArray<unknown> = [null, "text", 7, 1.5, true, {}, [], [1]]
    const variants: Array<unknown> = []
    const visit = (root: unknown, value: unknown, path: ReadonlyArray<string | number>) => {
      if (typeof value !== "object" || value === null) return
      for (const key of Object.keys(value)) {
        const here = [...path, Array.isArray(value) ? Number(key) : key]
        for (const replacement of [...replacements, undefined]) variants.push(replaceAt(root, here, replacement))
        visit(root, (value as Record<string, unknown>)[key], here)
      }
    }
    for (const sample of samples) {
      variants.push(sample)
      visit(sample, sample, [])
    }
    assert.isAbove(variants.length, 250)
    for (const variant of variants) {
      const decoded = OpenAiSchema.decodeChatCompletionChunk(variant)
      const read = OpenAiSchema.readChatCompletionChunk(variant)
      assert.strictEqual(read !== undefined, Exit.isSuccess(decoded), JSON.stringify(variant))
      if (Exit.isSuccess(decoded)) assert.deepStrictEqual(read, decoded.value)
    }
  })

  it("reads the chunks OpenAI sends, and refuses a chunk whose fields have the wrong types", () => {
    const chunk = {
      id: "chatcmpl-1",
      object: "chat.completion.chunk",
      created: 1,
      model: "gpt-4o-mini",
      choices: [{ index: 0, delta: { content: "Hi", tool_calls: [{ index: 0, function: { arguments: "{" } }] }, finish_reason: null }],
      usage: null
    }
    assert.strictEqual(OpenAiSchema.readChatCompletionChunk(chunk), chunk)
    assert.isUndefined(OpenAiSchema.readChatCompletionChunk({ ...chunk, choices: "none" }))
    assert.isUndefined(OpenAiSchema.readChatCompletionChunk({ ...chunk, choices: [{ delta: { content: 1 } }] }))
    assert.isUndefined(OpenAiSchema.readChatCompletionChunk({ ...chunk, usage: { prompt_tokens: "21" } }))
    assert.isUndefined(OpenAiSchema.readChatCompletionChunk([chunk]))
  })
})

// Completion-like values (stop 31): the same, with `message` (tool calls without `index`) for `delta`.
const MessageToolCall = Schema.Struct({
  id: field(Schema.String),
  type: field(Schema.String),
  function: field(Schema.Struct({ name: field(Schema.String), arguments: field(Schema.String) }))
})
const MessageLike = Schema.Struct({
  role: field(Schema.String),
  content: field(Schema.String),
  refusal: field(Schema.String),
  tool_calls: field(Schema.Array(Schema.Union([MessageToolCall, Loose])))
})
const CompletionChoice = Schema.Struct({
  index: field(Schema.Int),
  message: field(MessageLike),
  finish_reason: field(Schema.String),
  logprobs: field(Schema.Null)
})
const CompletionLike = Schema.Union([
  Schema.Struct({
    id: field(Schema.String),
    model: field(Schema.String),
    object: field(Schema.String),
    created: field(Schema.Int),
    choices: field(Schema.Array(Schema.Union([CompletionChoice, Loose]))),
    usage: field(Usage),
    system_fingerprint: field(Schema.String)
  }),
  Loose,
  Schema.Array(Loose)
])

describe("OpenAiSchema.readChatCompletion", () => {
  it.prop("accepts exactly what the ChatCompletion Schema accepts, and gives the same value", [CompletionLike], ([value]) => {
    const json: unknown = JSON.parse(JSON.stringify(value))
    const decoded = OpenAiSchema.decodeChatCompletion(json)
    const read = OpenAiSchema.readChatCompletion(json)
    assert.strictEqual(read !== undefined, Exit.isSuccess(decoded), JSON.stringify(json))
    if (Exit.isSuccess(decoded)) assert.deepStrictEqual(read, decoded.value)
  }, { arbitrary: { runs: 3_000 } })

  it("agrees with the Schema on every field of a real completion replaced by each JSON type, null, or nothing", () => {
    const sample: unknown = {
      id: "chatcmpl-1",
      object: "chat.completion",
      created: 1,
      model: "gpt-4o-mini",
      system_fingerprint: "fp",
      choices: [{
        index: 0,
        message: {
          role: "assistant",
          content: "Hi",
          refusal: null,
          tool_calls: [{ id: "call_1", type: "function", function: { name: "f", arguments: "{}" } }]
        },
        logprobs: null,
        finish_reason: "stop"
      }],
      usage: {
        prompt_tokens: 1,
        completion_tokens: 2,
        total_tokens: 3,
        cost: 0.5,
        prompt_tokens_details: { cached_tokens: 0 },
        completion_tokens_details: { reasoning_tokens: 0 }
      }
    }
    const replacements: ReadonlyArray<unknown> = [null, "text", 7, 1.5, true, {}, [], [1]]
    const variants: Array<unknown> = [sample]
    const visit = (value: unknown, path: ReadonlyArray<string | number>) => {
      if (typeof value !== "object" || value === null) return
      for (const key of Object.keys(value)) {
        const here = [...path, Array.isArray(value) ? Number(key) : key]
        for (const replacement of [...replacements, undefined]) variants.push(replaceAt(sample, here, replacement))
        visit((value as Record<string, unknown>)[key], here)
      }
    }
    visit(sample, [])
    assert.isAbove(variants.length, 250)
    for (const variant of variants) {
      const decoded = OpenAiSchema.decodeChatCompletion(variant)
      const read = OpenAiSchema.readChatCompletion(variant)
      assert.strictEqual(read !== undefined, Exit.isSuccess(decoded), JSON.stringify(variant))
      if (Exit.isSuccess(decoded)) assert.deepStrictEqual(read, decoded.value)
    }
  })

  it("reads the completion OpenAI sends as it is, and refuses one whose fields have the wrong types", () => {
    const completion = {
      id: "chatcmpl-1",
      object: "chat.completion",
      created: 1,
      model: "gpt-4o-mini",
      choices: [{ index: 0, message: { role: "assistant", content: "Hi", refusal: null }, logprobs: null, finish_reason: "stop" }],
      usage: { prompt_tokens: 21, completion_tokens: 9, total_tokens: 30 }
    }
    assert.strictEqual(OpenAiSchema.readChatCompletion(completion), completion)
    assert.isUndefined(OpenAiSchema.readChatCompletion({ ...completion, choices: undefined }))
    assert.isUndefined(OpenAiSchema.readChatCompletion({ ...completion, choices: null }))
    assert.isUndefined(OpenAiSchema.readChatCompletion({ ...completion, choices: [{ message: { content: 1 } }] }))
    assert.isUndefined(OpenAiSchema.readChatCompletion({ ...completion, usage: { prompt_tokens: "21" } }))
    assert.isUndefined(OpenAiSchema.readChatCompletion([completion]))
  })
})

/** A copy of `root` with the value at `path` replaced (`undefined`: removed). */
const replaceAt = (root: unknown, path: ReadonlyArray<string | number>, replacement: unknown): unknown => {
  if (path.length === 0) return replacement
  const [head, ...rest] = path
  if (Array.isArray(root)) {
    const copy = [...root]
    copy[head as number] = replaceAt(root[head as number], rest, replacement)
    return copy
  }
  const copy: Record<string, unknown> = { ...(root as Record<string, unknown>) }
  const next = replaceAt(copy[head as string], rest, replacement)
  if (next === undefined) delete copy[head as string]
  else copy[head as string] = next
  return copy
}
