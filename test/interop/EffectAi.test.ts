/**
 * effect/ai interop, both directions: effect/ai programs (generateText, streamText,
 * generateObject, Chat with a Toolkit) on our stack, and an effect/ai model (made with its own
 * `LanguageModel.make` over a scripted fake) as our provider, through the conformance suite and
 * the whole stack.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Duration, Effect, ExecutionPlan, Layer, Ref, Schema, Stream } from "effect"
import * as AiError from "effect/ai/AiError"
import * as Chat from "effect/ai/Chat"
import * as AiLanguageModel from "effect/ai/LanguageModel"
import type * as Response from "effect/ai/Response"
import * as AiTool from "effect/ai/Tool"
import * as Toolkit from "effect/ai/Toolkit"
import * as BudgetTracker from "../../src/budget/BudgetTracker.ts"
import * as EffectAi from "../../src/interop/EffectAi.ts"
import * as LanguageModel from "../../src/LanguageModel.ts"
import * as LlmError from "../../src/LlmError.ts"
import * as LlmRequest from "../../src/LlmRequest.ts"
import * as ModelFactory from "../../src/ModelFactory.ts"
import * as MockLanguageModel from "../../src/providers/mock/MockLanguageModel.ts"
import * as ProviderRegistry from "../../src/ProviderRegistry.ts"
import * as Stack from "../../src/Stack.ts"
import * as StreamPart from "../../src/StreamPart.ts"
import { ProviderConformance } from "../../src/testing/index.ts"
import * as Tokenizer from "../../src/Tokenizer.ts"
import * as Tool from "../../src/Tool.ts"
import * as Usage from "../../src/Usage.ts"

const registry = ProviderRegistry.layer([MockLanguageModel.provider])

/** Our model that records each request and answers with the stock reply (JSON when asked). */
const recording = () => {
  const requests: Array<LlmRequest.LlmRequest> = []
  const model = LanguageModel.make({
    provider: "recorder",
    defaultModel: "recorder-1",
    generate: (request) =>
      Effect.sync(() => {
        requests.push(request)
        const content = request.responseFormat !== undefined ? JSON.stringify({ name: "Nile", lengthKm: 6650 }) : "ok"
        return {
          content,
          model: request.model ?? "recorder-1",
          provider: "recorder",
          usage: Usage.make({ inputTokens: 7, outputTokens: 2, cachedInputTokens: 3 }),
          finishReason: "stop" as const,
          latencyMs: 1,
          requestId: "req-1",
          cost: { usd: 0.001, source: "table" as const }
        }
      })
  })
  return { requests, layer: Layer.provide(EffectAi.layer, Layer.succeed(LanguageModel.LanguageModel, model)) }
}

describe("our stack as effect/ai's LanguageModel", () => {
  it.effect("generateText on the whole stack: text, usage, finish reason; the budget is charged what the ledger says", () =>
    Effect.gen(function*() {
      const response = yield* AiLanguageModel.generateText({ prompt: [{ role: "system", content: "Be terse." }, { role: "user", content: [{ type: "text", text: "Name a river" }] }] })
      assert.strictEqual(response.text, "Name a river")
      assert.strictEqual(response.finishReason, "stop")
      const factory = yield* ModelFactory.ModelFactory
      const snapshot = yield* factory.budget!.snapshot
      assert.strictEqual(response.usage.inputTokens.total, snapshot.consumed.inputTokens)
      assert.strictEqual(response.usage.outputTokens.total, snapshot.consumed.outputTokens)
      assert.isAbove(snapshot.consumed.totalTokens, 0)
      const finish = response.content.find((part): part is Response.FinishPart => part.type === "finish")!
      assert.strictEqual((finish.metadata["llm-connect"] as { provider: string }).provider, "mock")
    }).pipe(Effect.provide(Layer.provideMerge(
      EffectAi.layer,
      Stack.layerFactory({ provider: { provider: "mock", options: { reply: "echo" } }, budget: { budget: { totalTokens: 10_000 } } })
    ).pipe(Layer.provide(registry)))))

  it.effect("the prompt's messages, system prompt and CallOptions reach our request; usage, cache reads and ids come back", () =>
    Effect.gen(function*() {
      const { layer, requests } = recording()
      const response = yield* AiLanguageModel.generateText({
        prompt: [
          { role: "system", content: "Be terse." },
          { role: "user", content: [{ type: "text", text: "Hi" }] },
          { role: "assistant", content: [{ type: "text", text: "Hello." }, { type: "reasoning", text: "hidden" }] },
          { role: "user", content: [{ type: "text", text: "Name a river" }] }
        ]
      }).pipe(
        EffectAi.withCallOptions({ maxTokens: 50, temperature: 0.2, model: "recorder-2" }),
        EffectAi.withCallOptions({ metadata: { taskType: "triage" } }),
        Effect.provide(layer)
      )
      assert.deepStrictEqual(requests[0], {
        system: "Be terse.",
        messages: [
          { role: "user", content: "Hi" },
          { role: "assistant", content: "Hello." },
          { role: "user", content: "Name a river" }
        ],
        model: "recorder-2",
        maxTokens: 50,
        temperature: 0.2,
        metadata: { taskType: "triage" }
      })
      assert.strictEqual(response.text, "ok")
      assert.deepStrictEqual(
        { total: response.usage.inputTokens.total, cacheRead: response.usage.inputTokens.cacheRead, uncached: response.usage.inputTokens.uncached },
        { total: 7, cacheRead: 3, uncached: 4 }
      )
      const metadata = response.content.find((part): part is Response.ResponseMetadataPart => part.type === "response-metadata")!
      assert.strictEqual(metadata.id, "req-1")
      assert.strictEqual(metadata.modelId, "recorder-2")
    }))

  it.effect("a file part is refused with InvalidUserInputError naming the prompt, and nothing is sent", () =>
    Effect.gen(function*() {
      const { layer, requests } = recording()
      const error = yield* Effect.flip(AiLanguageModel.generateText({
        prompt: [{ role: "user", content: [{ type: "file", mediaType: "image/png", data: new Uint8Array([1, 2]) }] }]
      }).pipe(Effect.provide(layer)))
      assert.strictEqual(error.reason._tag, "InvalidUserInputError")
      assert.include(error.message, "file parts are not supported")
      assert.strictEqual(requests.length, 0)
    }))

  it.effect("generateObject: the Schema goes as our responseFormat's JSON Schema and the answer decodes", () =>
    Effect.gen(function*() {
      const { layer, requests } = recording()
      const River = Schema.Struct({ name: Schema.String, lengthKm: Schema.Number })
      const response = yield* AiLanguageModel.generateObject({ prompt: "The longest river?", schema: River, objectName: "river answer" })
        .pipe(Effect.provide(layer))
      assert.deepStrictEqual(response.value, { name: "Nile", lengthKm: 6650 })
      const format = requests[0]!.responseFormat!
      assert.strictEqual(format.name, "river_answer")
      assert.deepStrictEqual(Object.keys((format.schema as { properties: object }).properties).sort(), ["lengthKm", "name"])
    }))

  it.effect("streamText: text-start, deltas, text-end, metadata, finish with usage", () =>
    Effect.gen(function*() {
      const parts = yield* Stream.runCollect(AiLanguageModel.streamText({ prompt: "one two three" }))
      const types = parts.map((part) => part.type)
      assert.strictEqual(types[0], "text-start")
      const text = parts.flatMap((part) => (part.type === "text-delta" ? [part.delta] : [])).join("")
      assert.strictEqual(text, "one two three")
      const finish = parts.at(-1) as Response.FinishPart
      assert.strictEqual(finish.type, "finish")
      assert.isAbove(finish.usage.outputTokens.total ?? 0, 0)
      assert.deepStrictEqual(types.slice(-3), ["text-end", "response-metadata", "finish"])
    }).pipe(Effect.provide(EffectAi.layerLanguageModel({ provider: { provider: "mock", options: { reply: "echo" } } })
      .pipe(Layer.provide(registry)))))

  it.effect("our errors become AiErrors: over budget is QuotaExhausted (not retryable) with our error document in metadata", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(AiLanguageModel.generateText({ prompt: "x ".repeat(500) }))
      assert.strictEqual(error.reason._tag, "QuotaExhaustedError")
      assert.isFalse(error.isRetryable)
      const document = (error.reason as AiError.QuotaExhaustedError).metadata["llm-connect"] as { errorType: string; dimension: string }
      assert.strictEqual(document.errorType, "BudgetExceeded")
      assert.strictEqual(document.dimension, "totalTokens")
    }).pipe(Effect.provide(EffectAi.layerLanguageModel({
      provider: { provider: "mock", options: { reply: "echo" } },
      budget: { budget: { totalTokens: 50 } }
    }).pipe(Layer.provide(registry)))))

  it.effect("authentication and rate limits keep their meaning (and retry hints) across", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<[LlmError.LlmErrorReason, string, boolean]> = [
        [new LlmError.Authentication({ description: "bad key" }), "AuthenticationError", false],
        [new LlmError.RateLimited({ description: "slow down", retryAfterMs: 2000 }), "RateLimitError", true],
        [new LlmError.ServerError({ description: "boom", status: 502 }), "InternalProviderError", true],
        [new LlmError.Timeout({ description: "late", scope: "call", attempts: 1, elapsedMs: 10 }), "NetworkError", true],
        [new LlmError.ContentFiltered({ description: "no" }), "ContentPolicyError", false],
        [new LlmError.InvalidOutput({ description: "not json" }), "InvalidOutputError", true]
      ]
      for (const [reason, tag, retryable] of cases) {
        const ai = EffectAi.toAiError(LlmError.make("openai", reason, { model: "gpt-4o-mini" }))
        assert.strictEqual(ai.reason._tag, tag)
        assert.strictEqual(ai.isRetryable, retryable, tag)
      }
      const limited = EffectAi.toAiError(LlmError.make("openai", new LlmError.RateLimited({ description: "slow", retryAfterMs: 2000 })))
      assert.strictEqual(Duration.toMillis(limited.retryAfter!), 2000)
    }))

  it.effect("Chat with a Toolkit: effect/ai runs the handler for our model's tool call, and the result goes back in the next turn", () =>
    Effect.gen(function*() {
      const GetTime = AiTool.make("get_time", {
        description: "The time now",
        parameters: Schema.Struct({ zone: Schema.String }),
        success: Schema.String
      })
      const tools = Toolkit.make(GetTime)
      const handled: Array<string> = []
      const toolkit = yield* tools.pipe(Effect.provide(tools.toLayer({
        get_time: ({ zone }) => Effect.sync(() => {
          handled.push(zone)
          return `12:00 ${zone}`
        })
      })))
      const chat = yield* Chat.empty
      const first = yield* chat.generateText({ prompt: "What time is it?", toolkit })
      assert.deepStrictEqual(first.toolCalls.map((call) => call.name), ["get_time"])
      assert.deepStrictEqual(handled, ["Paris"])
      assert.strictEqual(first.toolResults[0]!.result, "12:00 Paris")
      const second = yield* chat.generateText({ prompt: "Thanks", toolkit })
      assert.strictEqual(second.text, "It is noon.")
      const history = yield* Ref.get(chat.history)
      const roles = history.content.map((message) => message.role)
      assert.deepStrictEqual(roles, ["user", "assistant", "tool", "user", "assistant"])
    }).pipe(Effect.provide(EffectAi.layerLanguageModel({
      provider: {
        provider: "mock",
        options: { reply: "It is noon.", toolCalls: [[{ name: "get_time", arguments: { zone: "Paris" } }], []] }
      }
    }).pipe(Layer.provide(registry)))))

  it.effect("ExecutionPlan: a step on one of our stacks that fails for good hands over to the next stack", () =>
    Effect.gen(function*() {
      const failing = EffectAi.layerLanguageModel({ provider: { provider: "mock", options: { faults: "auth" } } })
        .pipe(Layer.provide(registry))
      const working = EffectAi.layerLanguageModel({ provider: { provider: "mock", options: { reply: "from the second" } } })
        .pipe(Layer.provide(registry))
      const plan = ExecutionPlan.make({ provide: failing }, { provide: working })
      const response = yield* Effect.withExecutionPlan(AiLanguageModel.generateText({ prompt: "hi" }), plan)
      assert.strictEqual(response.text, "from the second")
      const only = yield* Effect.flip(AiLanguageModel.generateText({ prompt: "hi" }).pipe(Effect.provide(failing)))
      assert.strictEqual(only.reason._tag, "AuthenticationError")
    }))
})

// ---------------------------------------------------------------------------------------------
// An effect/ai model as ours
// ---------------------------------------------------------------------------------------------

type Fault = ProviderConformance.Fault

/** The fake effect/ai provider's own max-tokens setting, set per call by `configure`. */
const FakeMaxTokens = Context.Reference<number | undefined>("test/FakeMaxTokens", { defaultValue: () => undefined })

const WORDS = "The river runs past the old mill and on to the sea".split(" ")

const aiFault = (fault: Exclude<Fault, "hang">): AiError.AiErrorReason => {
  switch (fault) {
    case "rate-limited":
      return new AiError.RateLimitError({ retryAfter: Duration.seconds(2) })
    case "server-error":
      return new AiError.InternalProviderError({ description: "scripted 500", http: { response: { status: 500, headers: {} } } })
    case "unavailable":
      return new AiError.InternalProviderError({ description: "scripted 503", http: { response: { status: 503, headers: {} } } })
    case "authentication":
      return new AiError.AuthenticationError({ kind: "InvalidKey", http: { response: { status: 401, headers: {} } } })
    case "invalid-request":
      return new AiError.InvalidRequestError({ description: "scripted 400", http: { response: { status: 400, headers: {} } } })
    case "network":
      return new AiError.NetworkError({ reason: "TransportError", method: "POST", url: "http://fake/v1", description: "reset" })
    case "malformed":
      return new AiError.InvalidResponseError({ description: "not the provider's JSON" })
  }
}

/** An effect/ai model made with effect/ai's own `LanguageModel.make` over a scripted fake. */
const makeFake = Effect.gen(function*() {
  const state = { pending: [] as Array<Fault>, calls: 0, aborts: 0, seen: [] as Array<AiLanguageModel.ProviderOptions> }
  const answer = (options: AiLanguageModel.ProviderOptions) =>
    Effect.gen(function*() {
      state.calls++
      state.seen.push(options)
      const fault = state.pending.shift()
      if (fault === "hang") {
        return yield* Effect.never.pipe(Effect.onInterrupt(() => Effect.sync(() => void state.aborts++)))
      }
      if (fault !== undefined) return yield* AiError.make({ module: "Fake", method: "generateText", reason: aiFault(fault) })
      const maxTokens = yield* Effect.service(FakeMaxTokens)
      const prompt = options.prompt.content.map((message) =>
        typeof message.content === "string"
          ? message.content
          : message.content.map((part) => (part.type === "text" ? part.text : "")).join("")
      ).join("\n")
      if (options.tools.length > 0 && options.toolChoice !== "none") {
        const tool = options.tools[0]!
        return [
          { type: "response-metadata", id: "fake-1", modelId: "fake-model" },
          { type: "tool-call", id: "call-1", name: tool.name, params: { city: "Paris" } },
          { type: "finish", reason: "tool-calls", usage: { inputTokens: { total: 11 }, outputTokens: { total: 4 } } }
        ] satisfies Array<Response.PartEncoded>
      }
      const truncated = maxTokens !== undefined && maxTokens < WORDS.length
      const words = truncated ? WORDS.slice(0, maxTokens) : WORDS
      return [
        { type: "response-metadata", id: "fake-1", modelId: "fake-model" },
        { type: "text", text: words.join(" ") },
        {
          type: "finish",
          reason: truncated ? "length" : "stop",
          usage: { inputTokens: { total: Tokenizer.countText(prompt) + 3 }, outputTokens: { total: words.length } }
        }
      ] satisfies Array<Response.PartEncoded>
    })
  const ai = yield* AiLanguageModel.make({
    generateText: answer,
    streamText: (options) =>
      Stream.unwrap(Effect.map(answer(options), (parts) =>
        Stream.fromIterable(parts.flatMap((part): Array<Response.StreamPartEncoded> =>
          part.type === "text"
            ? part.text.split(/(?= )/).map((delta) => ({ type: "text-delta", id: "t", delta }))
            : [part]
        ))))
  })
  return { ai, state }
})

const configure = <A, E, R>(request: LlmRequest.LlmRequest, call: Effect.Effect<A, E, R>) =>
  Effect.provideService(call, FakeMaxTokens, request.maxTokens)

describe("an effect/ai model as our provider", () => {
  ProviderConformance.register(it, {
    name: "effect/ai LanguageModel.make over a fake",
    faults: ProviderConformance.allFaults,
    make: Effect.gen(function*() {
      const { ai, state } = yield* makeFake
      return {
        model: EffectAi.fromAiLanguageModel(ai, { provider: "fake-ai", defaultModel: "fake-model", configure }),
        provoke: (fault: Fault) => Effect.sync(() => void state.pending.push(fault)),
        calls: Effect.sync(() => state.calls),
        aborts: Effect.sync(() => state.aborts)
      }
    })
  })

  it.effect("our tools reach it as dynamic tools with their JSON Schema; its call comes back unresolved as our toolCalls", () =>
    Effect.gen(function*() {
      const { ai, state } = yield* makeFake
      const model = EffectAi.fromAiLanguageModel(ai, { provider: "fake-ai", defaultModel: "fake-model" })
      const weather = Tool.make("get_weather", {
        description: "The weather in a city",
        parameters: Schema.Struct({ city: Schema.String })
      })
      const response = yield* model.generate(LlmRequest.make({ prompt: "Weather in Paris?", tools: [weather], toolChoice: "required" }))
      assert.deepStrictEqual(response.toolCalls, [{ id: "call-1", name: "get_weather", arguments: { city: "Paris" } }])
      assert.strictEqual(response.finishReason, "tool-calls")
      assert.deepStrictEqual(response.usage, Usage.make({ inputTokens: 11, outputTokens: 4 }))
      const seen = state.seen[0]!
      assert.deepStrictEqual(seen.tools.map((tool) => tool.name), ["get_weather"])
      assert.strictEqual(seen.toolChoice, "required")
      assert.deepStrictEqual(AiTool.getJsonSchema(seen.tools[0]!), Tool.definitionOf(weather).parameters)
      // Streamed: one tool-call delta, then the finish with the call.
      const parts = yield* Stream.runCollect(model.stream(LlmRequest.make({ prompt: "Weather?", tools: [weather] })))
      assert.deepStrictEqual(parts.filter((part) => part.type === "tool-call-delta"), [
        { type: "tool-call-delta", index: 0, id: "call-1", name: "get_weather", argumentsDelta: "{\"city\":\"Paris\"}" }
      ])
      assert.deepStrictEqual((parts.at(-1) as StreamPart.Finish).response.toolCalls?.map((call) => call.name), ["get_weather"])
    }))

  it.effect("without configure, settings it cannot take are named in warnings; a history with tool results maps across", () =>
    Effect.gen(function*() {
      const { ai, state } = yield* makeFake
      const model = EffectAi.fromAiLanguageModel(ai, { provider: "fake-ai", defaultModel: "fake-model" })
      const response = yield* model.generate({
        system: "Be terse.",
        maxTokens: 3,
        messages: [
          { role: "user", content: "Weather?" },
          { role: "assistant", content: [{ type: "tool-call", id: "c1", name: "get_weather", params: { city: "Paris" } }] },
          { role: "tool", content: [{ type: "tool-result", id: "c1", name: "get_weather", result: { sky: "clear" } }] }
        ]
      })
      assert.strictEqual(response.content, WORDS.join(" "))
      assert.include(response.warnings?.[0], "maxTokens not honoured")
      const roles = state.seen[0]!.prompt.content.map((message) => message.role)
      assert.deepStrictEqual(roles, ["system", "user", "assistant", "tool"])
    }))

  it.effect("registered as a provider it gets the whole stack: the budget refuses before sending and charges its usage", () =>
    Effect.gen(function*() {
      const { ai, state } = yield* makeFake
      const provider = yield* EffectAi.provider({ provider: "fake-ai", defaultModel: "fake-model", configure }).pipe(
        Effect.provideService(AiLanguageModel.LanguageModel, ai)
      )
      yield* Effect.gen(function*() {
        const answered = yield* LanguageModel.generate({ prompt: "Name a river", maxTokens: 20 })
        assert.strictEqual(answered.provider, "fake-ai")
        const factory = yield* ModelFactory.ModelFactory
        const budget = factory.budget as BudgetTracker.Service
        const snapshot = yield* budget.snapshot
        assert.strictEqual(snapshot.consumed.totalTokens, answered.usage.totalTokens)
        const calls = state.calls
        const refused = yield* Effect.flip(LanguageModel.generate({ prompt: "x ".repeat(400), maxTokens: 20 }))
        assert.strictEqual(refused.reason._tag, "BudgetExceeded")
        assert.strictEqual(state.calls, calls)
      }).pipe(Effect.provide(Stack.layerFactory({
        provider: { provider: "fake-ai" },
        budget: { budget: { totalTokens: 200 } }
      }).pipe(Layer.provide(ProviderRegistry.layer([provider])))))
    }))
})
