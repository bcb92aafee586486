/**
 * A live call through the real `claude` CLI: run with `npm run test:live`. Runs only when
 * `ANTHROPIC_API_KEY` is set (skipped otherwise). The binary is `$CLAUDE_CODE_PATH`, else the
 * devDependency's. One short call with the cheapest alias (`haiku`, or `CLAUDE_CODE_MODEL`),
 * held to $0.05 by `--max-budget-usd`. The CLI gets a temporary HOME, so the developer's own
 * Claude Code settings and sessions are neither used nor touched.
 * Not part of `npm test` (vitest.config.ts excludes test/live/).
 */
import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, FileSystem, Redacted } from "effect"
import * as CallContext from "../../src/CallContext.ts"
import * as LlmRequest from "../../src/LlmRequest.ts"
import * as ClaudeCodeLanguageModel from "../../src/providers/claude-code/ClaudeCodeLanguageModel.ts"
import { claudeBinary } from "../providers/claude-code/ClaudeCodeHarness.ts"

const env = (name: string): string | undefined => {
  const value = process.env[name]
  return value === undefined || value.trim() === "" ? undefined : value
}

const key = env("ANTHROPIC_API_KEY")

describe("live claude-code", () => {
  it.live.skipIf(key === undefined)("a short real call returns text, usage and the CLI's cost", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const home = yield* fs.makeTempDirectoryScoped({ prefix: "llm-connect-claude-live-" })
      const model = yield* ClaudeCodeLanguageModel.make({
        binaryPath: env("CLAUDE_CODE_PATH") ?? claudeBinary(),
        apiKey: Redacted.make(key!),
        model: env("CLAUDE_CODE_MODEL") ?? "haiku",
        env: { HOME: home },
        timeout: "3 minutes"
      })
      const response = yield* model.generate(LlmRequest.make({ prompt: "Reply with the single word: pong" })).pipe(
        Effect.provideService(CallContext.RemainingBudget, { costUsd: 0.05 })
      )
      assert.strictEqual(response.provider, "claude-code")
      assert.isAbove(response.content.trim().length, 0)
      assert.isAbove(response.usage.inputTokens, 0)
      assert.isAbove(response.usage.outputTokens, 0)
      assert.strictEqual(response.cost?.source, "provider")
      assert.isAbove(response.cost?.usd ?? 0, 0)
      console.log(`claude-code: ${JSON.stringify(response.content)} (${response.model}, ${response.usage.totalTokens} tokens, $${response.cost?.usd})`)
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)), 240_000)
})
