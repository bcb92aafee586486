/**
 * `--provider anthropic` through the real CLI (a subprocess) against the fake Messages API: in
 * `prompt`, from a config file with a key file, and in `run` (a workflow whose steps use it).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { runCli } from "../../cli/runCli.ts"
import * as Fake from "./FakeAnthropicServer.ts"

const tempDir = () => mkdtempSync(join(tmpdir(), "llmc-cli-anthropic-"))

describe("llm-connect with --provider anthropic (fake Messages API)", () => {
  it.live("prompt --provider anthropic --base-url .../v1: prints the reply, sends the key from ANTHROPIC_API_KEY", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.start((request) => Fake.ok(request))
      const run = yield* runCli(
        ["prompt", "--json", "--provider", "anthropic", "--base-url", `${fake.origin}/v1`, "Name a river"],
        { cwd: tempDir(), env: { ANTHROPIC_API_KEY: Fake.KEY } }
      )
      assert.strictEqual(run.exitCode, 0, run.stderr)
      const printed = JSON.parse(run.stdout) as { content: string; provider: string; model: string; usage: Record<string, number> }
      assert.strictEqual(printed.content, "echo: Name a river")
      assert.strictEqual(printed.provider, "anthropic")
      assert.strictEqual(printed.model, "claude-haiku-4-5")
      assert.strictEqual(printed.usage.inputTokens, 35)
      assert.strictEqual(printed.usage.cacheWriteInputTokens, 4)
      assert.strictEqual(fake.requests.length, 1)
      assert.strictEqual(fake.requests[0]!.url, "/v1/messages")
      assert.strictEqual(fake.requests[0]!.headers["x-api-key"], Fake.KEY)
      assert.notInclude(run.stdout + run.stderr, Fake.KEY)
    }))

  it.live("a config file: provider anthropic, its base URL and options, the key from the key file", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.start((request) => Fake.ok(request))
      const cwd = tempDir()
      mkdirSync(join(cwd, "keys"))
      writeFileSync(join(cwd, "keys", "anthropic.key"), `${Fake.KEY}\n`)
      writeFileSync(
        join(cwd, "llm-connect.yaml"),
        [
          "provider: anthropic",
          "providers:",
          "  anthropic:",
          `    baseUrl: ${fake.origin}`,
          "    model: claude-sonnet-4-5",
          "    options: { timeout: 30s, maxTokens: 1000 }"
        ].join("\n")
      )
      const run = yield* runCli(["prompt", "Name a river"], { cwd })
      assert.strictEqual(run.exitCode, 0, run.stderr)
      assert.strictEqual(run.stdout.trim(), "echo: Name a river")
      const sent = fake.requests[0]!
      assert.strictEqual(sent.headers["x-api-key"], Fake.KEY)
      assert.deepStrictEqual(
        [(sent.body as { model: string }).model, (sent.body as { max_tokens: number }).max_tokens],
        ["claude-sonnet-4-5", 1000]
      )
    }))

  it.live("a bad option of providers.anthropic stops the run with exit 2, naming it", () =>
    Effect.gen(function*() {
      const cwd = tempDir()
      writeFileSync(join(cwd, "llm-connect.yaml"), "provider: anthropic\nproviders:\n  anthropic:\n    options: { maxTokens: -3 }\n")
      const run = yield* runCli(["prompt", "x"], { cwd, env: { ANTHROPIC_API_KEY: Fake.KEY } })
      assert.strictEqual(run.exitCode, 2)
      assert.include(run.stderr, "maxTokens")
    }))

  it.live("run: a workflow's steps call anthropic", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.start((request) => Fake.ok(request))
      const cwd = tempDir()
      writeFileSync(
        join(cwd, "flow.yaml"),
        ["name: rivers", "steps:", "  - id: one", "    prompt: Name a river", "  - id: two", "    needs: [one]", "    prompt: \"Describe {{steps.one.output}}\""].join("\n")
      )
      const run = yield* runCli(
        ["run", "flow.yaml", "--provider", "anthropic", "--base-url", fake.origin],
        { cwd, env: { ANTHROPIC_API_KEY: Fake.KEY } }
      )
      assert.strictEqual(run.exitCode, 0, run.stderr)
      assert.strictEqual(fake.requests.length, 2)
      assert.isTrue(fake.requests.every((request) => request.url === "/v1/messages"))
      assert.include(Fake.lastUserText(fake.requests[1]!), "Describe echo: Name a river")
    }))
})
