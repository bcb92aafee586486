import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import * as LlmRequest from "../src/LlmRequest.ts"

const decodeAll = (input: unknown) =>
  Schema.decodeUnknownEffect(LlmRequest.LlmRequest)(input, { errors: "all" }).pipe(Effect.flip)

describe("LlmRequest", () => {
  it("a plain string is one user message", () => {
    assert.deepStrictEqual(LlmRequest.make("hi"), { messages: [{ role: "user", content: "hi" }] })
  })

  it("prompt is shorthand for messages and keeps the other fields", () => {
    assert.deepStrictEqual(LlmRequest.make({ prompt: "hi", maxTokens: 10, model: "m" }), {
      maxTokens: 10,
      model: "m",
      messages: [{ role: "user", content: "hi" }]
    })
  })

  it.effect("decodes a full request", () =>
    Effect.gen(function*() {
      const request = yield* LlmRequest.decode({
        model: "gpt-4o-mini",
        messages: [{ role: "system", content: "be brief" }, { role: "user", content: "hi" }],
        maxTokens: 100,
        temperature: 0.2,
        topP: 0.9,
        stop: ["\n\n"],
        timeoutMs: 30_000,
        metadata: { correlationId: "c-1", conversationId: "conv", taskType: "summary", tags: { team: "a" } }
      })
      assert.strictEqual(request.maxTokens, 100)
      assert.strictEqual(request.metadata?.tags?.team, "a")
    }))

  it.effect("reports every invalid field with its path", () =>
    Effect.gen(function*() {
      const error = yield* decodeAll({
        messages: [{ role: "robot", content: "hi" }],
        maxTokens: 0,
        temperature: 3
      })
      const message = error.message
      assert.include(message, `["messages"][0]["role"]`)
      assert.include(message, `["maxTokens"]`)
      assert.include(message, `["temperature"]`)
    }))

  it.effect("refuses an empty conversation", () =>
    Effect.gen(function*() {
      const error = yield* decodeAll({ messages: [] })
      assert.include(error.message, `["messages"]`)
    }))

  it("promptText joins the system prompt and messages", () => {
    assert.strictEqual(
      LlmRequest.promptText({ system: "s", messages: [{ role: "user", content: "u" }] }),
      "s\nu"
    )
  })
})
