import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, FileSystem, Path } from "effect"
import * as LlmConnectConfig from "../../src/LlmConnectConfig.ts"
import * as ModelFromConfig from "../../src/cli/ModelFromConfig.ts"
import * as NodeProviders from "../../src/node/NodeProviders.ts"

const stackConfigOf = (yaml: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const dir = yield* Effect.orDie(fs.makeTempDirectoryScoped({ prefix: "llmc-model-" }))
    yield* Effect.orDie(fs.writeFileString(path.join(dir, "llm-connect.yaml"), yaml))
    const resolved = yield* LlmConnectConfig.load({ cwd: dir })
    return yield* ModelFromConfig.stackConfig(resolved)
  }).pipe(
    Effect.provide(ConfigProvider.layer(ConfigProvider.fromUnknown({}))),
    Effect.provide(NodeProviders.layer),
    Effect.provide(NodeServices.layer)
  )

describe("ModelFromConfig", () => {
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

  it.effect("refuses an options entry that is not a mapping", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(stackConfigOf(["providers:", "  gemini:", "    options: 3"].join("\n")))
      assert.strictEqual(error.reason._tag, "Configuration")
      assert.include(error.message, "options")
    }))
})
