import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Layer, Redacted } from "effect"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as LlmRequest from "../../src/LlmRequest.ts"
import * as NodeProviders from "../../src/node/NodeProviders.ts"
import * as ProviderRegistry from "../../src/ProviderRegistry.ts"
import * as FakeHttpServer from "./FakeHttpServer.ts"
import { ok } from "./openai/fakeOpenAi.ts"

/** Only the given variables in the environment. */
const onlyEnv = (env: Record<string, string>) => Effect.provide(ConfigProvider.layer(ConfigProvider.fromUnknown(env)))

/** The built-in registry (alive for the whole test: models keep using its HTTP client) and an environment. */
const withEnv = (env: Record<string, string>) =>
  Effect.provide(Layer.merge(NodeProviders.layer, ConfigProvider.layer(ConfigProvider.fromUnknown(env))))

describe("BuiltinProviders: the HTTP providers", () => {
  it.live("lists the mock first, then openai, openrouter, openai-compatible and gemini with their key variables", () =>
    Effect.gen(function*() {
      const providers = yield* ProviderRegistry.ProviderRegistry.use((registry) => registry.list)
      const names = providers.map((provider) => provider.name)
      assert.strictEqual(names[0], "mock")
      for (const name of ["openai", "openrouter", "openai-compatible", "gemini"]) assert.include(names, name)
      const byName = new Map(providers.map((provider) => [provider.name, provider]))
      assert.deepStrictEqual(byName.get("openai")!.keyEnv, ["OPENAI_API_KEY"])
      assert.deepStrictEqual(byName.get("openrouter")!.keyEnv, ["OPENROUTER_API_KEY"])
      assert.deepStrictEqual(byName.get("gemini")!.keyEnv, ["GEMINI_API_KEY", "GOOGLE_API_KEY"])
      assert.isFalse(byName.get("openai-compatible")!.requiresKey)
      assert.strictEqual(byName.get("openrouter")!.defaultModel, "openai/gpt-4o-mini")
    }).pipe(withEnv({})))

  it.live("a missing key is a Configuration error naming the variable and the key file", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(ProviderRegistry.create({ provider: "openai" }))
      assert.strictEqual(error.reason._tag, "Configuration")
      assert.include(error.message, "OPENAI_API_KEY")
      assert.include(error.message, "openai.key")
      const gemini = yield* Effect.flip(ProviderRegistry.create({ provider: "gemini" }))
      assert.include(gemini.message, "GEMINI_API_KEY, GOOGLE_API_KEY")
    }).pipe(withEnv({})))

  it.live("openai-compatible without a base URL is a Configuration error with examples", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(ProviderRegistry.create({ provider: "openai-compatible" }))
      assert.strictEqual(error.reason._tag, "Configuration")
      assert.include(error.message, "--base-url http://localhost:11434/v1")
    }).pipe(withEnv({})))

  it.live("tool calls and tool results are sent by the HTTP providers; claude-code refuses them with Unsupported before anything is sent", () =>
    Effect.gen(function*() {
      const fake = yield* FakeHttpServer.start((request) => ok(request))
      const request = LlmRequest.make({
        messages: [
          { role: "user", content: "weather?" },
          { role: "assistant", content: [{ type: "tool-call", id: "c1", name: "weather", params: {} }] },
          { role: "tool", content: [{ type: "tool-result", id: "c1", name: "weather", result: "sunny" }] }
        ]
      })
      const openai = yield* ProviderRegistry.create({ provider: "openai", baseUrl: `${fake.origin}/v1`, apiKey: Redacted.make("sk-test-key-1234") })
      yield* openai.generate(request)
      const sent = (fake.requests[0]!.body as { messages: ReadonlyArray<Record<string, unknown>> }).messages
      assert.deepStrictEqual(sent.map((message) => message.role), ["user", "assistant", "tool"])
      assert.deepStrictEqual(sent[2], { role: "tool", tool_call_id: "c1", content: "sunny" })
      const claude = yield* ProviderRegistry.create({ provider: "claude-code", baseUrl: `${fake.origin}/v1`, apiKey: Redacted.make("sk-test-key-1234") })
      const error = yield* Effect.flip(claude.generate(request))
      assert.strictEqual(error.reason._tag, "Unsupported")
      assert.include(error.message, "messages[1]")
      assert.strictEqual(fake.requests.length, 1)
    }).pipe(withEnv({})))

  it.live("the key comes from the environment, the base URL from the config; the model is called", () =>
    Effect.gen(function*() {
      const fake = yield* FakeHttpServer.start((request) => ok(request))
      const model = yield* ProviderRegistry.create({ provider: "openai", baseUrl: `${fake.origin}/v1`, model: "gpt-4.1-mini" })
      const response = yield* model.generate(LlmRequest.make("from env"))
      assert.strictEqual(fake.requests[0]!.headers.authorization, "Bearer sk-from-env")
      assert.strictEqual((fake.requests[0]!.body as { model: string }).model, "gpt-4.1-mini")
      assert.strictEqual(response.content, "echo: from env")
    }).pipe(withEnv({ OPENAI_API_KEY: "sk-from-env" })))

  it.live("the key comes from $LLM_CONNECT_KEY_DIR/<provider>.key; an explicit key wins over it", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "llmc-keys-"))
      writeFileSync(join(dir, "openrouter.key"), "sk-or-from-file\n")
      const fake = yield* FakeHttpServer.start((request) => ok(request))
      const fromFile = yield* ProviderRegistry.create({ provider: "openrouter", baseUrl: `${fake.origin}/api/v1` }).pipe(
        onlyEnv({ LLM_CONNECT_KEY_DIR: dir })
      )
      yield* fromFile.generate(LlmRequest.make("x"))
      assert.strictEqual(fake.requests[0]!.headers.authorization, "Bearer sk-or-from-file")
      const explicit = yield* ProviderRegistry.create({
        provider: "openrouter",
        baseUrl: `${fake.origin}/api/v1`,
        apiKey: Redacted.make("sk-or-explicit"),
        options: { title: "From config" }
      }).pipe(onlyEnv({ LLM_CONNECT_KEY_DIR: dir }))
      yield* explicit.generate(LlmRequest.make("x"))
      assert.strictEqual(fake.requests[1]!.headers.authorization, "Bearer sk-or-explicit")
      assert.strictEqual(fake.requests[1]!.headers["x-title"], "From config")
    }).pipe(Effect.provide(NodeProviders.layer)))

  it.live("gemini through the registry: base URL and API version from the config", () =>
    Effect.gen(function*() {
      const fake = yield* FakeHttpServer.start(() => ({
        body: { candidates: [{ content: { parts: [{ text: "hi" }] }, finishReason: "STOP" }] }
      }))
      const model = yield* ProviderRegistry.create({
        provider: "gemini",
        baseUrl: fake.origin,
        options: { apiVersion: "v1" }
      })
      const response = yield* model.generate(LlmRequest.make("x"))
      assert.strictEqual(fake.requests[0]!.url, "/v1/models/gemini-2.5-flash:generateContent")
      assert.strictEqual(fake.requests[0]!.headers["x-goog-api-key"], "google-key")
      assert.strictEqual(response.content, "hi")
      assert.strictEqual(response.usage.estimated, true)
    }).pipe(withEnv({ GOOGLE_API_KEY: "google-key" })))

  it.live("options.timeout takes the documented duration form (30s, 2m, 500ms) on every HTTP provider", () =>
    Effect.gen(function*() {
      for (const provider of ["openai", "openrouter", "openai-compatible", "gemini"]) {
        for (const timeout of ["30s", "2m", "500ms", "1h30m"]) {
          const model = yield* ProviderRegistry.create({
            provider,
            baseUrl: "http://127.0.0.1:1/v1",
            apiKey: Redacted.make("sk-test-key-1234"),
            options: { timeout }
          })
          assert.strictEqual(model.provider, provider, `${provider} with timeout ${timeout}`)
        }
      }
    }).pipe(withEnv({})))

  it.live("a bad timeout setting is a Configuration error", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        ProviderRegistry.create({ provider: "openai", apiKey: Redacted.make("k"), options: { timeout: "soon" } })
      )
      assert.strictEqual(error.reason._tag, "Configuration")
      assert.include(error.message, "30s")
    }).pipe(withEnv({})))
})
