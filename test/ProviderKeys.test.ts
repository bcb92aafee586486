import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, FileSystem, Path, Redacted } from "effect"
import * as ProviderKeys from "../src/ProviderKeys.ts"

const gemini = { name: "gemini", keyEnv: ["GEMINI_API_KEY", "GOOGLE_API_KEY"], requiresKey: true }
const openai = { name: "openai", keyEnv: ["OPENAI_API_KEY"], requiresKey: true }
const local = { name: "local", keyEnv: ["LOCAL_API_KEY"], requiresKey: false }

/** Runs with an explicit environment and a temp directory holding the given key files. */
const withKeys = <A, E>(
  setup: { readonly env?: Record<string, string>; readonly keyFiles?: Record<string, string> },
  body: (dir: string) => Effect.Effect<A, E, FileSystem.FileSystem | Path.Path>
) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const dir = yield* Effect.orDie(fs.makeTempDirectoryScoped({ prefix: "llmc-keys-" }))
    for (const [name, text] of Object.entries(setup.keyFiles ?? {})) {
      yield* Effect.orDie(fs.writeFileString(path.join(dir, name), text))
    }
    const env = { LLM_CONNECT_KEY_DIR: dir, ...setup.env }
    return yield* body(dir).pipe(Effect.provide(ConfigProvider.layer(ConfigProvider.fromUnknown(env))))
  }).pipe(Effect.provide(NodeServices.layer))

describe("ProviderKeys", () => {
  it.effect("an explicit key wins over the environment", () =>
    withKeys({ env: { OPENAI_API_KEY: "sk-env" } }, () =>
      Effect.gen(function*() {
        const found = yield* ProviderKeys.resolve({ provider: openai, explicit: Redacted.make("sk-explicit") })
        assert.strictEqual(Redacted.value(found!.key), "sk-explicit")
        assert.deepStrictEqual(found!.source, { _tag: "Explicit" })
      })))

  it.effect("reads the provider's variables in order (gemini: GEMINI_API_KEY then GOOGLE_API_KEY)", () =>
    Effect.gen(function*() {
      const both = yield* withKeys(
        { env: { GEMINI_API_KEY: "g-first", GOOGLE_API_KEY: "g-second" } },
        () => ProviderKeys.resolve({ provider: gemini })
      )
      assert.strictEqual(Redacted.value(both!.key), "g-first")
      const second = yield* withKeys({ env: { GOOGLE_API_KEY: "g-second" } }, () => ProviderKeys.resolve({ provider: gemini }))
      assert.strictEqual(Redacted.value(second!.key), "g-second")
      assert.deepStrictEqual(second!.source, { _tag: "Env", variable: "GOOGLE_API_KEY" })
    }))

  it.effect("falls back to $LLM_CONNECT_KEY_DIR/<provider>.key, trimmed", () =>
    withKeys({ keyFiles: { "openai.key": "sk-from-file\n" } }, (dir) =>
      Effect.gen(function*() {
        const found = yield* ProviderKeys.resolve({ provider: openai })
        assert.strictEqual(Redacted.value(found!.key), "sk-from-file")
        assert.strictEqual(ProviderKeys.describe(found!), `found in ${dir}/openai.key`)
      })))

  it.effect("an explicit key file (providers.<name>.keyFile) replaces the default one", () =>
    withKeys({ keyFiles: { "custom.txt": "sk-custom", "openai.key": "sk-default" } }, (dir) =>
      Effect.gen(function*() {
        const found = yield* ProviderKeys.resolve({ provider: openai, keyFile: `${dir}/custom.txt` })
        assert.strictEqual(Redacted.value(found!.key), "sk-custom")
      })))

  it.effect("a key file may start with ~/ (the home directory)", () =>
    withKeys({ keyFiles: { "home-key": "sk-home" } }, (dir) =>
      Effect.gen(function*() {
        const found = yield* ProviderKeys.resolve({ provider: openai, keyFile: "~/home-key" }).pipe(
          Effect.provide(ConfigProvider.layer(ConfigProvider.fromUnknown({ HOME: dir })))
        )
        assert.strictEqual(Redacted.value(found!.key), "sk-home")
      })))

  it.effect("the default key directory is ~/.config/llm-connect", () =>
    Effect.gen(function*() {
      const dir = yield* ProviderKeys.keyDirectory.pipe(
        Effect.provide(ConfigProvider.layer(ConfigProvider.fromUnknown({ HOME: "/home/ada" })))
      )
      assert.strictEqual(dir, "/home/ada/.config/llm-connect")
    }).pipe(Effect.provide(NodeServices.layer)))

  it.effect("a missing key names all three places and how to fix it", () =>
    withKeys({ env: { GEMINI_API_KEY: "g-secret-should-not-leak" } }, (dir) =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(ProviderKeys.resolve({ provider: openai }))
        assert.strictEqual(error.reason._tag, "Configuration")
        assert.strictEqual(error.provider, "openai")
        assert.include(error.message, "providers.openai.apiKey")
        assert.include(error.message, "OPENAI_API_KEY")
        assert.include(error.message, `${dir}/openai.key`)
        assert.include(error.message, "export OPENAI_API_KEY=<your key>")
        assert.notInclude(error.message, "g-secret-should-not-leak")
      })))

  it.effect("find reports where without revealing the key", () =>
    withKeys({ env: { OPENAI_API_KEY: "sk-very-secret" } }, () =>
      Effect.gen(function*() {
        const found = yield* ProviderKeys.find({ provider: openai })
        assert.strictEqual(ProviderKeys.describe(found), "found in OPENAI_API_KEY")
        assert.notInclude(JSON.stringify(found), "sk-very-secret")
        assert.notInclude(String(ProviderKeys.isFound(found) ? found.key : ""), "sk-very-secret")
        const missing = yield* ProviderKeys.find({ provider: gemini })
        assert.strictEqual(ProviderKeys.describe(missing), "missing")
      })))

  it.effect("a provider that needs no key resolves to no key, or to one if present", () =>
    Effect.gen(function*() {
      const none = yield* withKeys({}, () => ProviderKeys.resolve({ provider: local }))
      assert.isUndefined(none)
      const notNeeded = yield* withKeys({}, () => ProviderKeys.find({ provider: local }))
      assert.strictEqual(ProviderKeys.describe(notNeeded), "not needed")
      const some = yield* withKeys({ env: { LOCAL_API_KEY: "k" } }, () => ProviderKeys.resolve({ provider: local }))
      assert.strictEqual(Redacted.value(some!.key), "k")
    }))

  it.effect("a blank variable or key file is not a key", () =>
    withKeys({ env: { OPENAI_API_KEY: "   " }, keyFiles: { "openai.key": "\n" } }, () =>
      Effect.gen(function*() {
        const result = yield* ProviderKeys.find({ provider: openai })
        assert.isFalse(ProviderKeys.isFound(result))
      })))
})
