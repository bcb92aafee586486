/**
 * `llm-connect prompt --provider claude-code` as a real subprocess: the CLI runs the real
 * `claude` binary (through a recording wrapper), which calls a fake Anthropic API given as
 * `--base-url`. Nothing reaches the network.
 */
import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, FileSystem, Schema } from "effect"
import { LlmResponse } from "../../src/LlmResponse.ts"
import * as Harness from "../providers/claude-code/ClaudeCodeHarness.ts"
import * as FakeAnthropicApi from "../providers/claude-code/FakeAnthropicApi.ts"
import { runCli } from "./runCli.ts"

const TIMEOUT = 120_000

const setup = (mode?: FakeAnthropicApi.Mode) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const cwd = yield* Effect.orDie(fs.makeTempDirectoryScoped({ prefix: "llmc-claude-cli-" }))
    const api = yield* FakeAnthropicApi.start(mode)
    const wrapper = yield* Harness.makeWrapper()
    const { HOME: _home, ...wrapperEnv } = wrapper.env
    const env = { ...wrapperEnv, CLAUDE_CODE_PATH: wrapper.path }
    return { cwd, api, wrapper, env }
  }).pipe(Effect.provide(NodeServices.layer))

const argAfter = (args: ReadonlyArray<string>, flag: string): string | undefined => {
  const index = args.indexOf(flag)
  return index === -1 ? undefined : args[index + 1]
}

describe("llm-connect prompt --provider claude-code (subprocess)", () => {
  it.live("prints the answer of the real claude binary", () =>
    Effect.gen(function*() {
      const { api, cwd, env, wrapper } = yield* setup()
      const run = yield* runCli(["prompt", "--provider", "claude-code", "--base-url", api.origin, "hi"], {
        cwd,
        env: { ...env, OPENAI_API_KEY: "sk-other-provider-key", GEMINI_API_KEY: "other-provider-key" }
      })
      assert.strictEqual(run.exitCode, 0, run.stderr)
      assert.strictEqual(run.stdout.trim(), FakeAnthropicApi.defaultAnswer.text)
      assert.include(FakeAnthropicApi.userTexts(api.messageRequests()[0]!), "hi")
      const [started] = wrapper.runs()
      assert.strictEqual(argAfter(started!.args, "--model"), "sonnet")
      // other providers' keys are not handed to the CLI
      assert.isUndefined(started!.env.OPENAI_API_KEY)
      assert.isUndefined(started!.env.GEMINI_API_KEY)
    }), TIMEOUT)

  it.live("--json: usage with cache tokens, the CLI's own cost, and a warning for --temperature", () =>
    Effect.gen(function*() {
      const { api, cwd, env } = yield* setup()
      const run = yield* runCli(
        ["prompt", "--provider", "claude-code", "--base-url", api.origin, "--model", "haiku", "--temperature", "0.3", "--json", "hi"],
        { cwd, env }
      )
      assert.strictEqual(run.exitCode, 0, run.stderr)
      const response = Schema.decodeUnknownSync(LlmResponse)(JSON.parse(run.stdout))
      assert.strictEqual(response.provider, "claude-code")
      assert.match(response.model, /haiku/)
      assert.deepStrictEqual(response.usage, { inputTokens: 17, outputTokens: 7, totalTokens: 24, cachedInputTokens: 3 })
      assert.strictEqual(response.cost?.source, "provider")
      assert.isTrue(response.warnings?.some((warning) => warning.includes("temperature")))
      assert.include(run.stderr, "temperature")
    }), TIMEOUT)

  it.live("--max-cost-usd reaches the claude CLI as --max-budget-usd", () =>
    Effect.gen(function*() {
      const { api, cwd, env, wrapper } = yield* setup()
      const run = yield* runCli(
        ["prompt", "--provider", "claude-code", "--base-url", api.origin, "--max-cost-usd", "0.5", "--json", "hi"],
        { cwd, env }
      )
      assert.strictEqual(run.exitCode, 0, run.stderr)
      const handed = Number(argAfter(wrapper.runs()[0]!.args, "--max-budget-usd"))
      assert.isAbove(handed, 0)
      assert.isAtMost(handed, 0.5)
    }), TIMEOUT)

  it.live("an API 401 exits with the Authentication error document", () =>
    Effect.gen(function*() {
      const { api, cwd, env } = yield* setup({ _tag: "Status", status: 401, message: "invalid x-api-key" })
      const run = yield* runCli(["prompt", "--provider", "claude-code", "--base-url", api.origin, "--json", "hi"], { cwd, env })
      assert.notStrictEqual(run.exitCode, 0)
      const document = JSON.parse(run.stdout)
      assert.strictEqual(document.errorType, "Authentication")
      assert.strictEqual(document.provider, "claude-code")
      assert.strictEqual(document.status, 401)
      assert.isFalse(document.retryable)
    }), TIMEOUT)

  it.live("a missing binary says how to install it", () =>
    Effect.gen(function*() {
      const { cwd } = yield* setup()
      const run = yield* runCli(["prompt", "--provider", "claude-code", "hi"], {
        cwd,
        env: { CLAUDE_CODE_PATH: `${cwd}/no-such-claude` }
      })
      assert.notStrictEqual(run.exitCode, 0)
      assert.include(run.stderr, "npm i -g @anthropic-ai/claude-code")
      assert.include(run.stderr, "CLAUDE_CODE_PATH")
    }), TIMEOUT)
})
