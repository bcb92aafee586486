/**
 * `llm-connect prompt --provider openai|openrouter|openai-compatible|gemini --base-url URL`:
 * the real CLI, as a subprocess, against fake servers started by the test, with the key in the
 * environment (or none, for openai-compatible).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as FakeHttpServer from "../providers/FakeHttpServer.ts"
import { ok } from "../providers/openai/fakeOpenAi.ts"
import { runCli } from "./runCli.ts"

const tempDir = () => mkdtempSync(join(tmpdir(), "llmc-cli-http-"))

const openAiCases = [
  { provider: "openai", path: "/v1", env: { OPENAI_API_KEY: "sk-cli-openai" }, auth: "Bearer sk-cli-openai" },
  { provider: "openrouter", path: "/api/v1", env: { OPENROUTER_API_KEY: "sk-cli-or" }, auth: "Bearer sk-cli-or" },
  { provider: "openai-compatible", path: "/v1", env: {}, auth: undefined }
] as const

describe("llm-connect prompt against HTTP providers (fake servers)", () => {
  for (const testCase of openAiCases) {
    it.live(`--provider ${testCase.provider} --base-url: prints the reply, sends the key from the env`, () =>
      Effect.gen(function*() {
        const fake = yield* FakeHttpServer.start((request) => ok(request))
        const run = yield* runCli(
          ["prompt", "--json", "--provider", testCase.provider, "--base-url", `${fake.origin}${testCase.path}`, "Name a river"],
          { cwd: tempDir(), env: testCase.env }
        )
        assert.strictEqual(run.exitCode, 0, run.stderr)
        const printed = JSON.parse(run.stdout) as { content: string; provider: string; usage: { inputTokens: number } }
        assert.strictEqual(printed.content, "echo: Name a river")
        assert.strictEqual(printed.provider, testCase.provider)
        assert.strictEqual(printed.usage.inputTokens, 21)
        assert.strictEqual(fake.requests.length, 1)
        assert.strictEqual(fake.requests[0]!.url, `${testCase.path}/chat/completions`)
        assert.strictEqual(fake.requests[0]!.headers.authorization, testCase.auth)
      }))
  }

  it.live("--provider gemini --base-url: the real @google/genai SDK reaches the fake", () =>
    Effect.gen(function*() {
      const fake = yield* FakeHttpServer.start(() => ({
        body: {
          candidates: [{ content: { role: "model", parts: [{ text: "The Danube." }] }, finishReason: "STOP" }],
          usageMetadata: { promptTokenCount: 4, candidatesTokenCount: 3, totalTokenCount: 7 }
        }
      }))
      const run = yield* runCli(
        ["prompt", "--provider", "gemini", "--base-url", fake.origin, "Name a river"],
        { cwd: tempDir(), env: { GEMINI_API_KEY: "gemini-cli-key" } }
      )
      assert.strictEqual(run.exitCode, 0, run.stderr)
      assert.strictEqual(run.stdout.trim(), "The Danube.")
      assert.strictEqual(fake.requests[0]!.url, "/v1beta/models/gemini-2.5-flash:generateContent")
      assert.strictEqual(fake.requests[0]!.headers["x-goog-api-key"], "gemini-cli-key")
    }))

  it.live("a provider failure exits 1 with the reason; the key is not printed", () =>
    Effect.gen(function*() {
      // 401 is not retryable, so no layer above the adapter retries it.
      const fake = yield* FakeHttpServer.start(() => ({
        status: 401,
        body: { error: { message: "Incorrect API key provided: sk-cli-openai", code: "invalid_api_key" } }
      }))
      const run = yield* runCli(
        ["prompt", "--json", "--provider", "openai", "--base-url", `${fake.origin}/v1`, "x"],
        { cwd: tempDir(), env: { OPENAI_API_KEY: "sk-cli-openai" } }
      )
      assert.strictEqual(run.exitCode, 1)
      const output = run.stdout + run.stderr
      assert.include(output, "Authentication")
      assert.notInclude(output, "sk-cli-openai")
    }))

  it.live("openai-compatible without --base-url exits 2 and says how to give one", () =>
    Effect.gen(function*() {
      const run = yield* runCli(["prompt", "--provider", "openai-compatible", "x"], { cwd: tempDir() })
      assert.strictEqual(run.exitCode, 2)
      assert.include(run.stderr, "--base-url http://localhost:11434/v1")
    }))
})
