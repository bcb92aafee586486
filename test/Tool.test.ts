import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Result, Schema } from "effect"
import * as AiTool from "effect/ai/Tool"
import * as Estimate from "../src/budget/Estimate.ts"
import * as EffectAiTool from "../src/interop/EffectAiTool.ts"
import * as LlmRequest from "../src/LlmRequest.ts"
import * as LlmResponse from "../src/LlmResponse.ts"
import * as Message from "../src/Message.ts"
import * as MockLanguageModel from "../src/providers/mock/MockLanguageModel.ts"
import * as RequestSize from "../src/RequestSize.ts"
import * as StreamPart from "../src/StreamPart.ts"
import * as Tokenizer from "../src/Tokenizer.ts"
import * as Tool from "../src/Tool.ts"
import * as ToolCall from "../src/ToolCall.ts"

class Place extends Schema.Class<Place>("Place")({ city: Schema.String, country: Schema.optionalKey(Schema.String) }) {}

const weather = Tool.make("get_weather", {
  description: "The weather in a city now",
  parameters: Schema.Struct({ place: Place, days: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 7 })) }),
  success: Schema.Struct({ celsius: Schema.Number })
})

describe("Tool", () => {
  it("make: the definition carries the JSON Schema generated from the parameters' Schema, definitions under $defs", () => {
    const definition = weather.definition
    assert.strictEqual(definition.name, "get_weather")
    assert.strictEqual(definition.description, "The weather in a city now")
    const parameters = definition.parameters as { type: string; properties: Record<string, unknown>; required: Array<string>; $defs: Record<string, unknown> }
    assert.strictEqual(parameters.type, "object")
    assert.deepStrictEqual(parameters.required, ["place", "days"])
    assert.deepStrictEqual(parameters.properties.place, { $ref: "#/$defs/PlaceEncoded" })
    assert.deepStrictEqual(Object.keys(parameters.$defs), ["PlaceEncoded"])
    assert.deepStrictEqual(parameters.properties.days, { type: "integer", minimum: 1, maximum: 7 })
    // A definition is plain data: it survives JSON and decodes as a request's tool.
    assert.deepStrictEqual(Schema.decodeUnknownSync(Tool.Definition)(JSON.parse(JSON.stringify(definition))), definition)
  })

  it("make: no parameters is an empty object schema; a name providers refuse or non-object parameters throw", () => {
    assert.deepStrictEqual(Tool.make("ping").definition.parameters, { type: "object", properties: {} })
    assert.throws(() => Tool.make("get weather"), /tool name "get weather"/)
    assert.throws(() => Tool.make("x".repeat(65)), /at most 64 characters/)
    assert.throws(() => Tool.make("count", { parameters: Schema.String }), /must be an object Schema/)
  })

  it.effect("decodeArguments reads a call with the tool's Schema: typed value, or every issue", () =>
    Effect.gen(function*() {
      const ok = yield* Tool.decodeArguments(weather, ToolCall.fromJsonText("c1", "get_weather", "{\"place\":{\"city\":\"Paris\"},\"days\":2}"))
      assert.instanceOf(ok.place, Place)
      assert.strictEqual(ok.days, 2)
      const bad = yield* Effect.exit(Tool.decodeArguments(weather, ToolCall.fromJsonText("c2", "get_weather", "{\"days\":9}")))
      assert.isTrue(Exit.isFailure(bad))
      const unparsed = yield* Effect.flip(Tool.decodeArguments(weather, ToolCall.fromJsonText("c3", "get_weather", "{\"days\":")))
      assert.include(unparsed.message, "Expected")
    }))

  it("EffectAiTool.definitionOf: an effect/ai tool's definition, its JSON Schema from effect/ai", () => {
    const aiTool = AiTool.make("search", {
      description: "Search the web",
      parameters: Schema.Struct({ query: Schema.String })
    })
    const definition = EffectAiTool.definitionOf(aiTool)
    assert.strictEqual(definition.name, "search")
    assert.strictEqual(definition.description, "Search the web")
    assert.deepStrictEqual(definition.parameters, AiTool.getJsonSchema(aiTool))
    assert.strictEqual((definition.parameters as { type: string }).type, "object")
    const request = LlmRequest.make({ prompt: "find rivers", tools: [definition, weather] })
    assert.deepStrictEqual(request.tools?.map((tool) => tool.name), ["search", "get_weather"])
  })

  it("fromDefinition converts JSON Schema with Effect's support; a keyword it cannot express is refused with its name", () => {
    const converted = Tool.fromDefinition({
      name: "pick",
      parameters: { type: "object", properties: { color: { type: "string", enum: ["red", "blue"] }, n: { type: "integer", minimum: 0 } }, required: ["color"] }
    })
    assert.isTrue(Result.isSuccess(converted))
    const schema = Result.getOrThrow(converted).parametersSchema
    assert.isTrue(Result.isSuccess(Schema.decodeUnknownResult(schema)({ color: "red", n: 2 })))
    assert.isTrue(Result.isFailure(Schema.decodeUnknownResult(schema)({ color: "green" })))
    const refused = Tool.fromDefinition({ name: "pick", parameters: { type: "object", contains: { type: "string" } } })
    assert.isTrue(Result.isFailure(refused))
    assert.include(Result.isFailure(refused) ? refused.failure : "", "contains")
    const notObject = Tool.fromDefinition({ name: "pick", parameters: { type: "string" } })
    assert.include(Result.isFailure(notObject) ? notObject.failure : "", "must be a JSON Schema object")
  })

  it("checkDeclarations: a name twice, a named choice not declared, required without tools", () => {
    const definitions = [weather.definition, Tool.make("ping").definition]
    assert.isUndefined(Tool.checkDeclarations(definitions, { tool: "ping" }))
    assert.isUndefined(Tool.checkDeclarations(undefined, "none"))
    assert.isUndefined(Tool.checkDeclarations(undefined, "auto"))
    assert.strictEqual(Tool.checkDeclarations([...definitions, weather.definition], "auto")?.parameter, "tools")
    assert.include(Tool.checkDeclarations(definitions, { tool: "pong" })?.description, "declared: get_weather, ping")
    assert.include(Tool.checkDeclarations([], "required")?.description, "declares no tools")
  })
})

describe("LlmRequest with tools", () => {
  it.effect("decode validates the declarations: a bad name, a name twice, an undeclared named choice", () =>
    Effect.gen(function*() {
      const base = { messages: [{ role: "user", content: "hi" }] }
      const good = yield* LlmRequest.decode({ ...base, tools: [weather.definition], toolChoice: { tool: "get_weather" } })
      assert.strictEqual(good.tools?.length, 1)
      const badName = yield* Effect.flip(LlmRequest.decode({ ...base, tools: [{ name: "get weather", parameters: {} }] }))
      assert.include(badName.message, "a tool name is a letter")
      const twice = yield* Effect.flip(LlmRequest.decode({ ...base, tools: [weather.definition, weather.definition] }))
      assert.include(twice.message, "declared twice")
      const undeclared = yield* Effect.flip(LlmRequest.decode({ ...base, tools: [weather.definition], toolChoice: { tool: "nope" } }))
      assert.include(undeclared.message, "toolChoice names tool \"nope\"")
      assert.include(undeclared.message, "toolChoice")
    }))

  it("make turns declared tools into definitions; a request of definitions is kept as it is", () => {
    const request = LlmRequest.make({ prompt: "hi", tools: [weather], toolChoice: "required" })
    assert.deepStrictEqual(request.tools, [weather.definition])
    assert.strictEqual(request.toolChoice, "required")
    const plain: LlmRequest.LlmRequest = { messages: [Message.user("hi")], tools: [weather.definition] }
    assert.strictEqual(LlmRequest.make(plain), plain)
  })

  it.effect("tool declarations count toward input tokens: exact, bound and the mock's usage agree; never under-reserved", () =>
    Effect.gen(function*() {
      const bare = LlmRequest.make("What is the weather in Paris?")
      const withTools = LlmRequest.make({ prompt: "What is the weather in Paris?", tools: [weather, Tool.make("ping")] })
      const declared = Tokenizer.countText(LlmRequest.toolsText(withTools))
      assert.isAbove(declared, 20)
      assert.strictEqual(Tokenizer.countRequest(withTools), Tokenizer.countRequest(bare) + Tokenizer.MESSAGE_FRAMING_TOKENS + declared)
      assert.isAtLeast(Tokenizer.boundRequest(withTools), Tokenizer.countRequest(withTools))
      const { model } = yield* MockLanguageModel.make({ reply: "ok" })
      const response = yield* model.generate(withTools)
      assert.strictEqual(response.usage.inputTokens, Tokenizer.countRequest(withTools))
      assert.strictEqual(Estimate.exact(withTools, "mock"), response.usage.inputTokens)
      for (const provider of ["openai", "anthropic", "gemini", "openrouter", "some-plugin"]) {
        const exact = Estimate.exact(withTools, provider)
        // The provider's tool framing comes on top of the declarations' text.
        assert.isAtLeast(exact, Tokenizer.countRequest(withTools) + Estimate.framingOf(withTools, Estimate.settingsFor(provider)))
        assert.isAtLeast(Estimate.bound(withTools, provider), exact)
        assert.isAbove(exact, Estimate.exact(bare, provider))
      }
      assert.isAtLeast(Estimate.framingOf(withTools, Estimate.settingsFor("anthropic")), 346)
    }))

  it("tool declarations count toward the request size guard", () => {
    const big = Tool.make("big", { description: "d".repeat(3000) })
    const request = LlmRequest.make({ prompt: "hi", tools: [big] })
    assert.strictEqual(RequestSize.measure(request), 2 + Buffer.byteLength(LlmRequest.toolsText(request), "utf8"))
    assert.isUndefined(RequestSize.excess(LlmRequest.make("hi"), 1000))
    assert.isAbove(RequestSize.excess(request, 1000) ?? 0, 3000)
  })

  it("tool calls and tool results in messages count too (through Message.text)", () => {
    const call = LlmRequest.make({
      messages: [
        Message.user("weather?"),
        Message.assistant([{ type: "tool-call", id: "c1", name: "get_weather", params: { place: { city: "Paris" }, days: 1 } }]),
        Message.tool([{ type: "tool-result", id: "c1", name: "get_weather", result: { celsius: 21, sky: "clear" } }])
      ]
    })
    assert.isAbove(Tokenizer.countRequest(call), Tokenizer.countRequest(LlmRequest.make("weather?")) + 20)
  })
})

describe("ToolCall", () => {
  it("fromJsonText parses, keeps what does not parse with the error, treats empty text as {}", () => {
    assert.deepStrictEqual(ToolCall.fromJsonText("a", "f", "{\"x\":1}"), { id: "a", name: "f", arguments: { x: 1 } })
    assert.deepStrictEqual(ToolCall.fromJsonText("a", "f", "  "), { id: "a", name: "f", arguments: {} })
    const broken = ToolCall.fromJsonText("a", "f", "{\"x\":")
    assert.isTrue(ToolCall.isUnparsed(broken))
    assert.deepInclude(broken, { arguments: null, rawArguments: "{\"x\":" })
    assert.strictEqual(ToolCall.argumentsText(broken), "{\"x\":")
    assert.deepStrictEqual(ToolCall.toPart(broken), { type: "tool-call", id: "a", name: "f", params: "{\"x\":" })
    // Both shapes decode with the public Schema, and an unparsed call stays unparsed.
    assert.deepStrictEqual(Schema.decodeUnknownSync(ToolCall.ToolCall)(broken), broken)
    assert.deepStrictEqual(Schema.decodeUnknownSync(ToolCall.ToolCall)({ id: "b", name: "g", arguments: null }), { id: "b", name: "g", arguments: null })
  })

  it("the assembler puts fragments back together by index, in index order", () => {
    const assembler = ToolCall.assembler()
    assembler.add({ index: 1, id: "b", name: "g", argumentsDelta: "{\"y\"" })
    assembler.add({ index: 0, id: "a", name: "f", argumentsDelta: "" })
    assembler.add({ index: 1, argumentsDelta: ":2}" })
    assembler.add({ index: 0, argumentsDelta: "{}" })
    assembler.add({ index: 2, name: "h", argumentsDelta: "{" })
    const calls = assembler.calls()
    assert.deepStrictEqual(calls.slice(0, 2), [{ id: "a", name: "f", arguments: {} }, { id: "b", name: "g", arguments: { y: 2 } }])
    assert.strictEqual(calls[2]!.id, "call_2")
    assert.isTrue(ToolCall.isUnparsed(calls[2]!))
  })

  it("the assembler gives the same calls however the arguments are cut into fragments (every cut of two calls)", () => {
    const first = "{\"place\":{\"city\":\"Zürich\"},\"days\":3,\"note\":\"🌧 \\\"rain\\\"\"}"
    const second = "{\"q\":[1,2,{\"x\":null}]}"
    const expected = [ToolCall.fromJsonText("a", "f", first), ToolCall.fromJsonText("b", "g", second)]
    for (let cut = 0; cut <= first.length; cut++) {
      for (const secondCut of [0, 5, second.length]) {
        const assembler = ToolCall.assembler()
        assembler.add({ index: 0, id: "a", name: "f", argumentsDelta: first.slice(0, cut) })
        assembler.add({ index: 1, id: "b", name: "g", argumentsDelta: second.slice(0, secondCut) })
        assembler.add({ index: 0, argumentsDelta: first.slice(cut) })
        assembler.add({ index: 1, argumentsDelta: second.slice(secondCut) })
        assert.deepStrictEqual(assembler.calls(), expected)
      }
    }
  })

  it("a response derived as a stream sends each call as one delta, with the raw text of an unparsed one", () => {
    const calls = [ToolCall.fromValue("a", "f", { x: 1 }), ToolCall.fromJsonText("b", "g", "{oops")]
    const response: LlmResponse.LlmResponse = {
      ...LlmResponse.withToolCalls("", calls, "stop"),
      model: "m",
      provider: "p",
      usage: { inputTokens: 1, outputTokens: 1, totalTokens: 2 },
      latencyMs: 0
    }
    assert.strictEqual(response.finishReason, "tool-calls")
    assert.deepStrictEqual(StreamPart.fromResponse(response).slice(0, -1), [
      { type: "tool-call-delta", index: 0, id: "a", name: "f", argumentsDelta: "{\"x\":1}" },
      { type: "tool-call-delta", index: 1, id: "b", name: "g", argumentsDelta: "{oops" }
    ])
    assert.deepStrictEqual(LlmResponse.toolCallsOf(response), calls)
    assert.deepStrictEqual(LlmResponse.toolCallsOf({}), [])
  })
})
