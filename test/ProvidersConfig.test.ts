import { assert, describe, it } from "@effect/vitest"
import { Effect, Redacted, Schema } from "effect"
import * as ConfigSection from "../src/ConfigSection.ts"
import * as DurationText from "../src/DurationText.ts"
import type * as LlmError from "../src/LlmError.ts"
import * as ProvidersConfig from "../src/ProvidersConfig.ts"
import { loaderOf, loadSections } from "./support/loadSections.ts"

const typed = ProvidersConfig.makeSection({
  demo: Schema.Struct({ timeout: Schema.optionalKey(DurationText.DurationString) })
})
const composition = ConfigSection.compose([typed])
const DemoFile = Schema.Struct(composition.fields)
const loader = loaderOf(composition, DemoFile)

const failWith = (text: string) =>
  Effect.gen(function*() {
    const error: LlmError.LlmError = yield* Effect.flip(loadSections(loader, { files: { "demo.yaml": text } }))
    if (error.reason._tag !== "Configuration") return assert.fail(`expected Configuration, got ${error.reason._tag}`)
    return error.reason
  })

describe("ProvidersConfig", () => {
  it("without option Schemas, the section is the open one", () => {
    assert.strictEqual(ProvidersConfig.makeSection({}), ProvidersConfig.section)
  })

  it.effect("a provider's option Schema validates its options, with the file line", () =>
    Effect.gen(function*() {
      const bad = yield* failWith("providers:\n  demo:\n    options:\n      timeout: soon\n")
      assert.strictEqual(bad.setting, "providers.demo.options.timeout")
      assert.include(bad.description, "invalid providers.demo.options.timeout = \"soon\" (from demo.yaml line 4)")
      const unknown = yield* failWith("providers:\n  demo:\n    options:\n      timeuot: 30s\n")
      assert.include(unknown.description, "unknown setting \"timeuot\" in providers.demo.options at demo.yaml line 4")
      assert.include(unknown.fix, "known settings in providers.demo.options: timeout")
    }))

  it.effect("other providers keep open options; keys become Redacted", () =>
    Effect.gen(function*() {
      const { resolved } = yield* loadSections(loader, {
        files: { "demo.yaml": "providers:\n  demo:\n    apiKey: k-1\n    options: { timeout: 30s }\n  plugin:\n    options: { anything: [1, 2] }\n" }
      })
      const demo = resolved.providers.demo!
      assert.deepStrictEqual(demo.options, { timeout: "30s" })
      assert.isTrue(Redacted.isRedacted(demo.apiKey))
      assert.deepStrictEqual(resolved.providers.plugin, { options: { anything: [1, 2] } })
    }))

  it("the typed entries appear in the JSON Schema", () => {
    const document = Schema.toJsonSchemaDocument(DemoFile, { onExcessProperty: "error" })
    assert.property(document.definitions, "ProviderSection-demo")
    assert.property(document.definitions, "ProviderSection")
  })
})
