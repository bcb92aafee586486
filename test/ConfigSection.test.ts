import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import * as ConfigSection from "../src/ConfigSection.ts"
import * as LlmConnectConfig from "../src/LlmConnectConfig.ts"
import type * as LlmError from "../src/LlmError.ts"
import { loaderOf, loadSections } from "./support/loadSections.ts"

const level = (name: string, env: string, flag: string) =>
  ConfigSection.make({
    name,
    fields: { [name]: Schema.optionalKey(Schema.Struct({ level: Schema.optionalKey(Schema.Int) })) },
    settings: {
      [`${name}.level`]: { env, flag: { name: flag, metavar: "N", description: "a level" }, kind: "integer", example: "3" }
    }
  })

describe("ConfigSection.compose", () => {
  it("composes the fields in list order and every setting with its path and section", () => {
    const composition = ConfigSection.compose([level("alpha", "ALPHA_LEVEL", "alpha-level"), level("beta", "BETA_LEVEL", "beta-level")])
    assert.deepStrictEqual(Object.keys(composition.fields), ["alpha", "beta"])
    assert.deepStrictEqual(composition.setting("beta.level")?.path, ["beta", "level"])
    assert.strictEqual(composition.setting("beta.level")?.section, "beta")
    assert.isUndefined(composition.setting("gamma.level"))
  })

  it("refuses two sections that declare the same file key", () => {
    const twin = ConfigSection.make({ name: "twin", fields: { alpha: Schema.optionalKey(Schema.String) } })
    assert.throws(
      () => ConfigSection.compose([level("alpha", "ALPHA_LEVEL", "alpha-level"), twin]),
      "config sections \"alpha\" and \"twin\" both declare the file key \"alpha\""
    )
  })

  it("refuses two sections that declare the same variable or the same flag", () => {
    assert.throws(
      () => ConfigSection.compose([level("alpha", "SHARED_LEVEL", "alpha-level"), level("beta", "SHARED_LEVEL", "beta-level")]),
      "both declare the variable SHARED_LEVEL"
    )
    assert.throws(
      () => ConfigSection.compose([level("alpha", "ALPHA_LEVEL", "level"), level("beta", "BETA_LEVEL", "level")]),
      "both declare the flag --level"
    )
  })

  it("refuses a setting outside the section's own keys, and a section listed twice", () => {
    const stray = ConfigSection.make({
      name: "stray",
      fields: { stray: Schema.optionalKey(Schema.String) },
      settings: { "model.name": { kind: "string", example: "x" } }
    })
    assert.throws(() => ConfigSection.compose([stray]), "declares the setting \"model.name\" outside its own keys")
    const alpha = level("alpha", "ALPHA_LEVEL", "alpha-level")
    assert.throws(() => ConfigSection.compose([alpha, alpha]), "both declare the section name \"alpha\"")
  })

  it("LlmConnectConfig's sections declare each key, variable and flag once", () => {
    const variables = LlmConnectConfig.settings.flatMap((setting) => setting.env !== undefined ? [setting.env] : [])
    const flags = LlmConnectConfig.settings.flatMap((setting) => setting.flag !== undefined ? [setting.flag.name] : [])
    assert.strictEqual(new Set(variables).size, variables.length)
    assert.strictEqual(new Set(flags).size, flags.length)
    assert.include(variables, "LLM_CONNECT_MOCK_FAULTS")
    assert.strictEqual(LlmConnectConfig.composition.setting("mock.faults")?.section, "mock")
  })
})

describe("ConfigSection finish", () => {
  const window = ConfigSection.make({
    name: "window",
    fields: { window: Schema.optionalKey(Schema.String), label: Schema.optionalKey(Schema.String) },
    settings: { window: { env: "DEMO_WINDOW", kind: "string", example: "5m" } },
    finish: ({ window, ...rest }, finishing) =>
      Effect.map(ConfigSection.millis(finishing, "window", window, { positive: true }), (windowMs) => ({ ...rest, windowMs }))
  })
  const alpha = ConfigSection.make({
    name: "alpha",
    fields: { alpha: Schema.optionalKey(Schema.Struct({ level: Schema.optionalKey(Schema.Int) })) }
  })
  const composition = ConfigSection.compose([window, alpha])
  const loader = loaderOf(composition, Schema.Struct(composition.fields))

  it.effect("each section's finish resolves its own keys; a section without one keeps its decoded values", () =>
    Effect.gen(function*() {
      const { resolved } = yield* loadSections(loader, { files: { "demo.yaml": "window: 2m\nlabel: x\nalpha:\n  level: 4\n" } })
      assert.deepStrictEqual(resolved, { label: "x", windowMs: 120_000, alpha: { level: 4 } })
    }))

  it.effect("a value a finish refuses names the setting, its source and a good value there", () =>
    Effect.gen(function*() {
      const error: LlmError.LlmError = yield* Effect.flip(loadSections(loader, { env: { DEMO_WINDOW: "0ms" } }))
      assert.strictEqual(error.reason._tag, "Configuration")
      if (error.reason._tag !== "Configuration") return
      assert.strictEqual(error.reason.setting, "window")
      assert.strictEqual(error.reason.description, "window must be longer than 0 (from DEMO_WINDOW)")
      assert.strictEqual(error.reason.fix, "set e.g. DEMO_WINDOW=5m")
    }))
})
