/**
 * Runs every `examples/providers/*.ts` as a subprocess: with no key in the environment each
 * must say it falls back to the mock, print its `// expect:` lines and exit 0; with a key (and
 * a base URL pointing at a fake server) the OpenAI-protocol ones must reach the server.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import * as FakeAnthropicServer from "../providers/anthropic/FakeAnthropicServer.ts"
import * as FakeHttpServer from "../providers/FakeHttpServer.ts"
import { ok } from "../providers/openai/fakeOpenAi.ts"
import { pinnedNode, repoRoot as root, runProcess, sourceCondition } from "../support/runProcess.ts"

const dir = join(root, "examples", "providers")
const examples = readdirSync(dir).filter((file) => file.endsWith(".ts")).sort()

const cleanEnv: Record<string, string> = Object.fromEntries(
  ["PATH", "HOME", "TMPDIR", "LANG"].flatMap((name) => {
    const value = process.env[name]
    return value === undefined ? [] : [[name, value]]
  })
)

const expectations = (file: string): ReadonlyArray<string> =>
  readFileSync(join(dir, file), "utf8").split("\n").flatMap((line) => {
    const match = /^\/\/ expect: (.+)$/.exec(line.trim())
    return match === null ? [] : [match[1]!]
  })

const run = (file: string, env: Record<string, string> = {}) =>
  runProcess(pinnedNode, [sourceCondition, join(dir, file)], { cwd: root, env: { ...cleanEnv, ...env } })

describe("examples/providers/", () => {
  it("has one example per built-in provider, and a plugin written with the provider kit", () => {
    assert.deepStrictEqual(examples, ["anthropic.ts", "claude-code.ts", "gemini.ts", "openai-compatible.ts", "openai.ts", "openrouter.ts", "plugin.ts"])
  })

  for (const file of examples) {
    it.live(`${file} without a key falls back to the mock and says so`, () =>
      Effect.gen(function*() {
        const result = yield* run(file)
        assert.strictEqual(result.exitCode, 0, result.stderr)
        assert.strictEqual(result.stderr, "")
        for (const text of expectations(file)) assert.include(result.stdout, text)
        assert.include(result.stdout, "using the mock provider instead")
      }))
  }

  it.live("openai.ts and openai-compatible.ts reach a real server when configured", () =>
    Effect.gen(function*() {
      const fake = yield* FakeHttpServer.start((request) => ok(request))
      const openai = yield* run("openai.ts", { OPENAI_API_KEY: "sk-example", OPENAI_BASE_URL: `${fake.origin}/v1` })
      assert.strictEqual(openai.exitCode, 0, openai.stderr)
      assert.include(openai.stdout, "echo: Name three rivers in Europe")
      assert.notInclude(openai.stdout, "mock provider")
      const compatible = yield* run("openai-compatible.ts", {
        OPENAI_COMPATIBLE_BASE_URL: `${fake.origin}/v1`,
        OPENAI_COMPATIBLE_MODEL: "qwen2.5"
      })
      assert.strictEqual(compatible.exitCode, 0, compatible.stderr)
      assert.include(compatible.stdout, "echo: Name three rivers in Africa")
      assert.strictEqual((fake.requests[1]!.body as { model: string }).model, "qwen2.5")
    }))

  it.live("anthropic.ts streams from a real server when configured (base URL with /v1)", () =>
    Effect.gen(function*() {
      const fake = yield* FakeAnthropicServer.start(() => FakeAnthropicServer.sse(FakeAnthropicServer.textStream()))
      const result = yield* run("anthropic.ts", { ANTHROPIC_API_KEY: "sk-ant-example", ANTHROPIC_BASE_URL: `${fake.origin}/v1` })
      assert.strictEqual(result.exitCode, 0, result.stderr)
      assert.include(result.stdout, "Hello, world\ntokens: 35 in (cache: 10 read, 4 written), 9 out (anthropic/claude-haiku-4-5)")
      assert.notInclude(result.stdout, "mock provider")
      const sent = fake.requests[0]!
      assert.strictEqual(sent.url, "/v1/messages")
      assert.strictEqual(sent.headers["x-api-key"], "sk-ant-example")
      assert.strictEqual((sent.body as { stream: boolean }).stream, true)
    }))

  it.live("plugin.ts (a provider written with ProviderKit) reaches its server with the key from the environment", () =>
    Effect.gen(function*() {
      const fake = yield* FakeHttpServer.start((request) => ({
        body: { text: `acme says: ${(request.body as { prompt: string }).prompt}`, usage: { input_tokens: 7, output_tokens: 5 } }
      }))
      const result = yield* run("plugin.ts", { ACME_API_KEY: "sk-acme-example-key", ACME_BASE_URL: `${fake.origin}/v1` })
      assert.strictEqual(result.exitCode, 0, result.stderr)
      assert.include(result.stdout, "acme says: Name three rivers in Asia")
      assert.include(result.stdout, "tokens: 7 in, 5 out (acme/acme-small)")
      const sent = fake.requests[0]!
      assert.strictEqual(sent.url, "/v1/generate")
      assert.strictEqual(sent.headers.authorization, "Bearer sk-acme-example-key")
      assert.strictEqual(sent.headers["x-acme-region"], "eu")
      assert.deepStrictEqual(sent.body, { model: "acme-small", prompt: "Name three rivers in Asia", max_tokens: 60 })
    }))
})
