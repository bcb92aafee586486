import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Layer } from "effect"
import * as LanguageModel from "../src/LanguageModel.ts"
import * as LlmError from "../src/LlmError.ts"
import * as ProviderRegistry from "../src/ProviderRegistry.ts"
import * as Mock from "../src/providers/mock/MockLanguageModel.ts"
import * as Message from "../src/Message.ts"

const request = { messages: [{ role: "user" as const, content: "hello there" }] }

describe("ProviderRegistry", () => {
  it.effect("create builds a model from a registered provider, with model and system prompt defaults", () =>
    Effect.gen(function*() {
      const model = yield* ProviderRegistry.create({ provider: "mock", model: "mock-2", systemPrompt: "be brief" })
      assert.strictEqual(model.defaultModel, "mock-2")
      const response = yield* model.generate(request)
      assert.strictEqual(response.model, "mock-2")
    }).pipe(Effect.provide(ProviderRegistry.layer([Mock.provider]))))

  it.effect("the system prompt default is applied unless the request has one", () =>
    Effect.gen(function*() {
      const seen: Array<string | undefined> = []
      const spy = ProviderRegistry.fromSync({ name: "spy", defaultModel: "s" }, (req) => {
        seen.push(req.system)
        return { content: "ok" }
      })
      const registry = yield* ProviderRegistry.make([spy])
      const model = yield* registry.create({ provider: "spy", systemPrompt: "default" })
      yield* model.generate(request)
      yield* model.generate({ ...request, system: "mine" })
      assert.deepStrictEqual(seen, ["default", "mine"])
    }))

  it.effect("an unknown provider fails with the list of known ones", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(ProviderRegistry.create({ provider: "opnai" }))
      assert.strictEqual(error.reason._tag, "Configuration")
      assert.include(error.message, `unknown provider "opnai"`)
      assert.include(error.message, "known providers: mock")
    }).pipe(Effect.provide(ProviderRegistry.layer([Mock.provider]))))

  it.effect("a model outside a closed list is refused before any call", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(ProviderRegistry.create({ provider: "closed", model: "gpt-9" }))
      assert.strictEqual(error.reason._tag, "NotFound")
      assert.include(error.message, "known models: mock-1")
    }).pipe(Effect.provide(ProviderRegistry.layer([{ ...Mock.provider, name: "closed", closedModelList: true }]))))

  it.effect("register adds third-party providers at run time; list shows them", () =>
    Effect.gen(function*() {
      const registry = yield* ProviderRegistry.ProviderRegistry
      yield* registry.register(ProviderRegistry.fromSync({ name: "upper", defaultModel: "u" }, (req) => ({
        content: Message.text(req.messages[0]!).toUpperCase()
      })))
      const names = (yield* registry.list).map((provider) => provider.name)
      assert.deepStrictEqual(names, ["mock", "upper"])
      const response = yield* LanguageModel.generate("shout").pipe(
        Effect.provide(ProviderRegistry.layerLanguageModel({ provider: "upper" }).pipe(
          Layer.provide(Layer.succeed(ProviderRegistry.ProviderRegistry, registry))
        ))
      )
      assert.strictEqual(response.content, "SHOUT")
    }).pipe(Effect.provide(ProviderRegistry.layer([Mock.provider]))))

  describe("plugins written without Effect", () => {
    it.effect("a sync plugin without usage gets an estimated count", () =>
      Effect.gen(function*() {
        const plugin = ProviderRegistry.fromSync({ name: "sync", defaultModel: "s1" }, () => ({ content: "four words right here" }))
        const model = yield* plugin.make({})
        const response = yield* model.generate(request)
        assert.strictEqual(response.provider, "sync")
        assert.strictEqual(response.model, "s1")
        assert.isTrue(response.usage.estimated)
        assert.isAbove(response.usage.outputTokens, 0)
        assert.strictEqual(response.usage.totalTokens, response.usage.inputTokens + response.usage.outputTokens)
      }))

    it.effect("a promise plugin keeps the usage it reports", () =>
      Effect.gen(function*() {
        const plugin = ProviderRegistry.fromPromise(
          { name: "async", defaultModel: "a1" },
          async () => ({ content: "hi", usage: { inputTokens: 7, outputTokens: 2 }, finishReason: "length" })
        )
        const response = yield* (yield* plugin.make({})).generate(request)
        assert.deepStrictEqual(response.usage, { inputTokens: 7, outputTokens: 2, totalTokens: 9 })
        assert.strictEqual(response.finishReason, "length")
      }))

    it.effect("with both forms, the synchronous one is used", () =>
      Effect.gen(function*() {
        const plugin = ProviderRegistry.fromFunctions({ name: "both", defaultModel: "b" }, {
          generate: async () => ({ content: "async" }),
          generateSync: () => ({ content: "sync" })
        })
        const response = yield* (yield* plugin.make({})).generate(request)
        assert.strictEqual(response.content, "sync")
      }))

    it.effect("a plugin that throws becomes a typed error, not a crash", () =>
      Effect.gen(function*() {
        const sync = ProviderRegistry.fromSync({ name: "boom", defaultModel: "b" }, () => {
          throw new Error("kaput")
        })
        const syncError = yield* Effect.flip((yield* sync.make({})).generate(request))
        assert.strictEqual(syncError.reason._tag, "Unknown")
        assert.include(syncError.message, "kaput")
        const rejecting = ProviderRegistry.fromPromise({ name: "reject", defaultModel: "r" }, () => Promise.reject(new TypeError("nope")))
        const asyncError = yield* Effect.flip((yield* rejecting.make({})).generate(request))
        assert.include(asyncError.message, "TypeError: nope")
        const badShape = ProviderRegistry.fromSync({ name: "bad", defaultModel: "b" }, () => JSON.parse("{\"text\":1}"))
        const shapeError = yield* Effect.flip((yield* badShape.make({})).generate(request))
        assert.strictEqual(shapeError.reason._tag, "ResponseMalformed")
      }))

    it.effect("a plugin may throw an LlmError to choose the reason", () =>
      Effect.gen(function*() {
        const plugin = ProviderRegistry.fromSync({ name: "limited", defaultModel: "l" }, () => {
          throw LlmError.make("limited", new LlmError.RateLimited({ description: "busy", retryAfterMs: 100 }))
        })
        const error = yield* Effect.flip((yield* plugin.make({})).generate(request))
        assert.strictEqual(error.retryAfterMs, 100)
      }))

    it.live("interrupting a promise plugin aborts its signal", () =>
      Effect.gen(function*() {
        let aborted = false
        const plugin = ProviderRegistry.fromPromise({ name: "slow", defaultModel: "s" }, (_req, { signal }) =>
          new Promise((_resolve, reject) => {
            signal.addEventListener("abort", () => {
              aborted = true
              reject(new Error("aborted"))
            })
          }))
        const model = yield* plugin.make({})
        const fiber = yield* Effect.forkChild(model.generate(request))
        yield* Effect.sleep("20 millis")
        yield* Fiber.interrupt(fiber)
        assert.isTrue(aborted)
      }))

    it("a plugin with no function is refused at registration", () => {
      assert.throws(() => ProviderRegistry.fromFunctions({ name: "empty", defaultModel: "e" }, {}), /generate or generateSync/)
    })
  })
})
