/**
 * The Claude Code provider's settings from a registry config's `options`
 * (src/providers/claude-code/internal/config.ts): good values read, wrong ones named.
 */
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import type * as LlmError from "../../../src/LlmError.ts"
import * as ProviderSettings from "../../../src/providers/claude-code/internal/config.ts"

describe("claude-code settings", () => {
  it.effect("reads binaryPath, timeout (text or milliseconds) and env", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* ProviderSettings.fromOptions(undefined), {})
      const settings = yield* ProviderSettings.fromOptions({ binaryPath: "/opt/claude", timeout: "2m", env: { HOME: "/tmp/h" } })
      assert.strictEqual(settings.binaryPath, "/opt/claude")
      assert.strictEqual(Duration.toMillis(settings.timeout!), 120_000)
      assert.deepStrictEqual(settings.env, { HOME: "/tmp/h" })
      const millis = yield* ProviderSettings.fromOptions({ timeout: 1500 })
      assert.strictEqual(Duration.toMillis(millis.timeout!), 1500)
    }))

  const wrong: Array<[string, Record<string, unknown>]> = [
    ["binaryPath", { binaryPath: "" }],
    ["binaryPath", { binaryPath: 42 }],
    ["timeout", { timeout: "soon" }],
    ["timeout", { timeout: 0 }],
    ["timeout", { timeout: "0s" }],
    ["env", { env: { HOME: 1 } }],
    ["env", { env: "HOME=/tmp" }]
  ]
  it.effect.each(wrong)("a wrong %s is a Configuration error naming it", ([setting, options]) =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(ProviderSettings.fromOptions(options))
      assert.strictEqual(error.reason._tag, "Configuration")
      assert.strictEqual((error.reason as LlmError.Configuration).setting, `providers.claude-code.${setting}`)
      assert.strictEqual(error.provider, "claude-code")
    }))
})
