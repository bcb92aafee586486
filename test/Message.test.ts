import { assert, describe, it } from "@effect/vitest"
import { Schema } from "effect"
import * as LlmRequest from "../src/LlmRequest.ts"
import * as LlmResponse from "../src/LlmResponse.ts"
import * as Message from "../src/Message.ts"
import * as Tokenizer from "../src/Tokenizer.ts"

const parts: Message.Message = {
  role: "assistant",
  content: [
    { type: "text", text: "Let me check. " },
    { type: "tool-call", id: "c1", name: "weather", params: { city: "Oslo" } }
  ]
}

describe("Message", () => {
  it("text: a string as it is; parts joined, tool calls as name + JSON arguments", () => {
    assert.strictEqual(Message.text({ content: "plain" }), "plain")
    assert.strictEqual(Message.text(parts), "Let me check. weather{\"city\":\"Oslo\"}")
    assert.strictEqual(Message.text(Message.tool([{ type: "tool-result", id: "c1", name: "weather", result: { temp: 3 } }])), "{\"temp\":3}")
  })

  it("isText: strings and text parts only", () => {
    assert.isTrue(Message.isText({ content: "x" }))
    assert.isTrue(Message.isText({ content: [{ type: "text", text: "a" }] }))
    assert.isFalse(Message.isText(parts))
  })

  it("mapText rewrites text parts and string tool results, and keeps the same object when nothing changes", () => {
    const upper = Message.mapText(parts, (text) => text.toUpperCase())
    assert.strictEqual(Message.text(upper), "LET ME CHECK. weather{\"city\":\"Oslo\"}")
    assert.strictEqual(Message.mapText(parts, (text) => text), parts)
    const result = Message.tool([{ type: "tool-result", id: "c1", name: "lookup", result: "secret" }])
    assert.strictEqual(Message.text(Message.mapText(result, () => "[x]")), "[x]")
  })

  it("the request Schema accepts string and part content, and the tool role", () => {
    const decode = Schema.decodeUnknownSync(LlmRequest.LlmRequest)
    const request = decode({ messages: [{ role: "user", content: "hi" }, parts, Message.tool([{ type: "tool-result", id: "c1", name: "weather", result: 3 }])] })
    assert.strictEqual(request.messages.length, 3)
    assert.throws(() => decode({ messages: [{ role: "user", content: [{ type: "image", url: "x" }] }] }))
  })

  it("token bounds and counts read parts through the one helper", () => {
    const text = LlmRequest.make({ messages: [{ role: "user", content: "Let me check. weather{\"city\":\"Oslo\"}" }] })
    const withParts = LlmRequest.make({ messages: [{ ...parts, role: "user" }] })
    assert.strictEqual(Tokenizer.countRequest(withParts), Tokenizer.countRequest(text))
    assert.strictEqual(Tokenizer.boundRequest(withParts), Tokenizer.boundRequest(text))
  })
})

describe("LlmResponse.partsOf", () => {
  it("is the parts when present, else the content as one text part", () => {
    const base = { content: "hi" }
    assert.deepStrictEqual(LlmResponse.partsOf(base), [{ type: "text", text: "hi" }])
    assert.deepStrictEqual(LlmResponse.partsOf({ content: "" }), [])
    const call = { type: "tool-call" as const, id: "c1", name: "f", params: {} }
    assert.deepStrictEqual(LlmResponse.partsOf({ content: "", parts: [call] }), [call])
  })
})
