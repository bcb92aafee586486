/**
 * The Claude Code provider's `providers.claude-code.options` (ClaudeCodeLanguageModel.ProviderOptions,
 * decoded by the provider kit): good values read, wrong ones named.
 */
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import type * as LlmError from "../../../src/LlmError.ts"
import * as ClaudeCodeLanguageModel from "../../../src/providers/claude-code/ClaudeCodeLanguageModel.ts"
import * as ProviderKit from "../../../src/providers/ProviderKit.ts"

const decode = (options: unknown) => ProviderKit.decodeOptions("claude-code", ClaudeCodeLanguageModel.ProviderOptions, options)

describe("claude-code options", () => {
  it.effect("reads binaryPath, timeout (text or milliseconds) and env", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* decode(undefined), {})
      const settings = yield* decode({ binaryPath: "/opt/claude", timeout: "2m", env: { HOME: "/tmp/h" } })
      assert.strictEqual(settings.binaryPath, "/opt/claude")
      assert.strictEqual(Duration.toMillis(settings.timeout!), 120_000)
      assert.deepStrictEqual(settings.env, { HOME: "/tmp/h" })
      const millis = yield* decode({ timeout: 1500 })
      assert.strictEqual(Duration.toMillis(millis.timeout!), 1500)
    }))

  const wrong: Array<[string, Record<string, unknown>]> = [
    ["binaryPath", { binaryPath: "" }],
    ["binaryPath", { binaryPath: "  " }],
    ["binaryPath", { binaryPath: 42 }],
    ["timeout", { timeout: "soon" }],
    ["timeout", { timeout: 0 }],
    ["timeout", { timeout: "0s" }],
    ["timeout", { timeout: "5 minutes" }],
    ["env", { env: { HOME: 1 } }],
    ["env", { env: "HOME=/tmp" }]
  ]
  it.effect.each(wrong)("a wrong %s is a Configuration error naming it, with an example", ([setting, options]) =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(decode(options))
      assert.strictEqual(error.reason._tag, "Configuration")
      const reason = error.reason as LlmError.Configuration
      assert.strictEqual(reason.setting, `providers.claude-code.options.${setting}`)
      assert.include(reason.fix, `providers.claude-code.options.${setting}:`)
      assert.strictEqual(error.provider, "claude-code")
    }))
})
