import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Clock, ConfigProvider, Deferred, Effect, Fiber, FileSystem, Layer, Path, Stream } from "effect"
import { TestClock } from "effect/testing"
import * as LanguageModel from "../src/LanguageModel.ts"
import * as LlmConnectConfig from "../src/LlmConnectConfig.ts"
import * as LlmRequest from "../src/LlmRequest.ts"
import * as ModelFactory from "../src/ModelFactory.ts"
import * as NodeProviders from "../src/node/NodeProviders.ts"
import * as MockLanguageModel from "../src/providers/mock/MockLanguageModel.ts"
import * as ProviderRegistry from "../src/ProviderRegistry.ts"
import * as Stack from "../src/Stack.ts"
import * as StreamPart from "../src/StreamPart.ts"

const stackConfigOf = (yaml: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const dir = yield* Effect.orDie(fs.makeTempDirectoryScoped({ prefix: "llmc-model-" }))
    yield* Effect.orDie(fs.writeFileString(path.join(dir, "llm-connect.yaml"), yaml))
    const resolved = yield* LlmConnectConfig.load({ cwd: dir })
    return yield* Stack.stackConfig(resolved)
  }).pipe(
    Effect.provide(ConfigProvider.layer(ConfigProvider.fromUnknown({}))),
    Effect.provide(NodeProviders.layer),
    Effect.provide(NodeServices.layer)
  )

describe("Stack.stackConfig", () => {
  it.effect("passes a provider's own options through to it", () =>
    Effect.gen(function*() {
      const config = yield* stackConfigOf(
        [
          "provider: openrouter",
          "providers:",
          "  openrouter:",
          "    apiKey: sk-or-test",
          "    options:",
          "      title: My App",
          "      referer: https://example.test"
        ].join("\n")
      )
      assert.deepStrictEqual(config.provider.options, { title: "My App", referer: "https://example.test" })
    }))

  it.effect("merges the mock's own section into its options", () =>
    Effect.gen(function*() {
      const config = yield* stackConfigOf(["mock:", "  reply: fixed", "  faults: \"500\""].join("\n"))
      assert.strictEqual(config.provider.provider, "mock")
      assert.strictEqual(config.provider.options?.reply, "fixed")
    }))

  it.effect("bounds each attempt at 2m by default; an explicit attemptTimeout wins; a call timeout replaces the default", () =>
    Effect.gen(function*() {
      assert.strictEqual((yield* stackConfigOf("provider: mock\n")).resilience?.attemptTimeout, "2m")
      assert.strictEqual((yield* stackConfigOf("attemptTimeout: 10m\n")).resilience?.attemptTimeout, "10m")
      assert.isUndefined((yield* stackConfigOf("timeout: 30m\n")).resilience?.attemptTimeout)
    }))

  it.effect("streamIdleTimeout: from the file, or the flag over it; an unreadable one is refused naming the setting; a stream silent for the default 60s fails with Timeout idle", () =>
    Effect.gen(function*() {
      assert.isUndefined((yield* stackConfigOf("provider: mock\n")).resilience?.streamIdleTimeout)
      assert.strictEqual((yield* stackConfigOf("streamIdleTimeout: 5s\n")).resilience?.streamIdleTimeout, "5s")
      const fs = yield* FileSystem.FileSystem
      const dir = yield* Effect.orDie(fs.makeTempDirectoryScoped({ prefix: "llmc-idle-" }))
      const flagged = yield* Stack.stackConfig(yield* LlmConnectConfig.load({ cwd: dir, flags: { streamIdleTimeout: "90s" } }))
      assert.strictEqual(flagged.resilience?.streamIdleTimeout, "90s")
      const refused = yield* Effect.flip(stackConfigOf("streamIdleTimeout: soon\n"))
      assert.include(refused.message, "streamIdleTimeout")
      // The default applies to every stack: one part, then silence.
      const waiting = yield* Deferred.make<void>()
      const silent = LanguageModel.make({
        provider: "silent",
        defaultModel: "s-1",
        generate: () => Effect.die("streams only"),
        stream: () =>
          Stream.concat(Stream.make(StreamPart.textDelta("Hel")), Stream.fromEffect(Effect.andThen(Deferred.succeed(waiting, undefined), Effect.never)))
      })
      const registry = ProviderRegistry.layer([{ ...MockLanguageModel.provider, name: "silent", make: () => Effect.succeed(silent) }])
      const error = yield* Effect.gen(function*() {
        const fiber = yield* Effect.forkChild(Effect.flip(Stream.runDrain(LanguageModel.stream("hi"))))
        yield* Deferred.await(waiting)
        yield* TestClock.adjust("59999 millis")
        assert.isUndefined(fiber.pollUnsafe())
        yield* TestClock.adjust("1 millis")
        return yield* Fiber.join(fiber)
      }).pipe(Effect.provide(Stack.layer({ provider: { provider: "silent" } }).pipe(Layer.provide(registry))))
      assert.strictEqual(error.reason._tag === "Timeout" ? error.reason.scope : error.reason._tag, "idle")
    }).pipe(
      Effect.provide(ConfigProvider.layer(ConfigProvider.fromUnknown({}))),
      Effect.provide(NodeProviders.layer),
      Effect.provide(NodeServices.layer)
    ))

  it.effect("refuses an options entry that is not a mapping", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(stackConfigOf(["providers:", "  gemini:", "    options: 3"].join("\n")))
      assert.strictEqual(error.reason._tag, "Configuration")
      assert.include(error.message, "options")
    }))
})

const countingRegistry = () => {
  let made = 0
  const provider: ProviderRegistry.Provider = {
    ...MockLanguageModel.provider,
    make: (config) => Effect.andThen(Effect.sync(() => void made++), MockLanguageModel.provider.make(config))
  }
  return { layer: ProviderRegistry.layer([provider]), made: () => made }
}

describe("Stack.make: the ModelFactory", () => {
  it.effect("builds each distinct target once, even when asked concurrently; the configured provider alone is the configured model", () =>
    Effect.gen(function*() {
      const registry = countingRegistry()
      yield* Effect.gen(function*() {
        const factory = yield* ModelFactory.ModelFactory
        assert.strictEqual(registry.made(), 1)
        const target = { provider: "mock", options: { reply: "other" } }
        const [a, b] = yield* Effect.all([factory.forProvider(target), factory.forProvider(target)], { concurrency: 2 })
        assert.strictEqual(a, b)
        assert.strictEqual(yield* factory.forProvider({ provider: "mock", options: { reply: "other" } }), a)
        assert.strictEqual(registry.made(), 2)
        assert.strictEqual(yield* factory.forProvider({ provider: "mock" }), factory.model)
        assert.strictEqual(yield* LanguageModel.LanguageModel, factory.model)
        const named = yield* Stack.forProvider({ provider: "mock", model: "mock-7" })
        assert.strictEqual((yield* named.generate(LlmRequest.make("hi"))).model, "mock-7")
        assert.strictEqual((yield* a.generate(LlmRequest.make("hi"))).content, "other")
        assert.strictEqual(registry.made(), 2)
      }).pipe(Effect.provide(Stack.layerFactory({ provider: { provider: "mock", options: { reply: "echo" } } }).pipe(Layer.provide(registry.layer))))
    }))

  it.effect("its stacks share the configuration's limits and budget: one call at a time across providers, one budget", () =>
    Effect.gen(function*() {
      const config: Stack.StackConfig = {
        provider: { provider: "mock", options: { latency: "100ms" } },
        budget: { budget: { totalTokens: 100_000 } },
        resilience: { limits: { concurrency: 1 } }
      }
      yield* Effect.gen(function*() {
        const factory = yield* ModelFactory.ModelFactory
        const other = yield* factory.forProvider({ provider: "mock", options: { latency: "100ms", reply: "other" } })
        const timed = (model: LanguageModel.Service) =>
          Effect.andThen(model.generate(LlmRequest.make("hi")), Clock.currentTimeMillis)
        const fiber = yield* Effect.forkChild(Effect.all([timed(factory.model), timed(other)], { concurrency: 2 }))
        yield* TestClock.adjust("200 millis")
        assert.deepStrictEqual([...(yield* Fiber.join(fiber))].sort(), [100, 200])
        const spent = (yield* factory.budget!.snapshot).consumed.totalTokens
        assert.isTrue(spent > 0)
        yield* other.generate(LlmRequest.make("hi")).pipe(Effect.forkChild, Effect.andThen(TestClock.adjust("100 millis")))
        assert.isTrue((yield* factory.budget!.snapshot).consumed.totalTokens > spent)
      }).pipe(Effect.provide(Stack.layerFactory(config).pipe(Layer.provide(ProviderRegistry.layer([MockLanguageModel.provider])))))
    }))

  it.effect("fromConfig: a mock target keeps the file's mock settings under its own options", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      const dir = yield* Effect.orDie(fs.makeTempDirectoryScoped({ prefix: "llmc-stack-" }))
      yield* Effect.orDie(fs.writeFileString(path.join(dir, "llm-connect.yaml"), "mock: { reply: from the file }\n"))
      const stack = yield* Stack.fromConfig(yield* LlmConnectConfig.load({ cwd: dir }))
      const [own, configured] = yield* Effect.gen(function*() {
        const model = yield* Stack.forProvider({ provider: "mock", options: { latency: "1ms" } })
        const fiber = yield* Effect.forkChild(model.generate(LlmRequest.make("hi")))
        yield* TestClock.adjust("1 millis")
        return [yield* Fiber.join(fiber), yield* LanguageModel.generate("hi")] as const
      }).pipe(Effect.provide(stack))
      assert.strictEqual(own.content, "from the file")
      assert.strictEqual(configured.content, "from the file")
    }).pipe(
      Effect.provide(ConfigProvider.layer(ConfigProvider.fromUnknown({}))),
      Effect.provide(NodeProviders.layer),
      Effect.provide(NodeServices.layer)
    ))

  it.effect("fromConfig: a server that never answers fails after the default 2m per attempt, not 10 minutes", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      const dir = yield* Effect.orDie(fs.makeTempDirectoryScoped({ prefix: "llmc-stack-" }))
      yield* Effect.orDie(fs.writeFileString(path.join(dir, "llm-connect.yaml"), "mock: { faults: hang }\nretry: { maxRetries: 0 }\n"))
      const stack = yield* Stack.fromConfig(yield* LlmConnectConfig.load({ cwd: dir }))
      const error = yield* Effect.gen(function*() {
        const fiber = yield* Effect.forkChild(Effect.flip(LanguageModel.generate("hi")))
        yield* TestClock.adjust("119999 millis")
        assert.isUndefined(fiber.pollUnsafe())
        yield* TestClock.adjust("1 millis")
        return yield* Fiber.join(fiber)
      }).pipe(Effect.provide(stack))
      assert.strictEqual(error.reason._tag, "Timeout")
      if (error.reason._tag === "Timeout") {
        assert.strictEqual(error.reason.scope, "attempt")
        assert.strictEqual(error.reason.elapsedMs, 120_000)
      }
      assert.include(error.message, "--attempt-timeout")
    }).pipe(
      Effect.provide(ConfigProvider.layer(ConfigProvider.fromUnknown({}))),
      Effect.provide(NodeProviders.layer),
      Effect.provide(NodeServices.layer)
    ))
})
