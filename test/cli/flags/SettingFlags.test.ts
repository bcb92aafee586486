import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Ref, Schema } from "effect"
import { Command } from "effect/cli"
import { TestConsole } from "effect/testing"
import * as ConfigSection from "../../../src/ConfigSection.ts"
import * as ConfigFlags from "../../../src/cli/flags/ConfigFlags.ts"
import * as ModelFlags from "../../../src/cli/flags/ModelFlags.ts"
import * as SettingFlags from "../../../src/cli/flags/SettingFlags.ts"
import type * as LlmError from "../../../src/LlmError.ts"
import { loaderOf, loadSections } from "../../support/loadSections.ts"

// One row declares the setting: its file key (demo.level), its variable and its flag.
const demo = ConfigSection.make({
  name: "demo",
  fields: { demo: Schema.optionalKey(Schema.Struct({ level: Schema.optionalKey(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 9 }))) })) },
  settings: {
    "demo.level": {
      env: "DEMO_LEVEL",
      flag: { name: "demo-level", metavar: "N", description: "how loud the demo is, 1 to 9" },
      kind: "integer",
      example: "3",
      expected: "a whole number from 1 to 9"
    }
  }
})
const composition = ConfigSection.compose([demo])
const DemoFile = Schema.Struct(composition.fields)
const loader = loaderOf(composition, DemoFile)
const flags = SettingFlags.group(demo.settings)

/** Parses `argv` with a command offering the section's flags, and returns the overrides given. */
const parse = (argv: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const given = yield* Ref.make<Record<string, unknown>>({})
    const command = Command.make("demo", { settings: flags }, (input) => Ref.set(given, ConfigFlags.overrides(input.settings)))
    yield* Command.runWith(command, { version: "0.0.0" })(argv)
    return yield* Ref.get(given)
  }).pipe(Effect.provide(NodeServices.layer))

describe("SettingFlags", () => {
  it.effect("one setting row gives its file key, its variable and its flag", () =>
    Effect.gen(function*() {
      const fromFile = yield* loadSections(loader, { files: { "demo.yaml": "demo:\n  level: 2\n" } })
      assert.deepStrictEqual(fromFile.resolved, { demo: { level: 2 } })
      assert.deepStrictEqual(fromFile.sources["demo.level"], { _tag: "File", path: "demo.yaml", line: 2 })

      const fromEnv = yield* loadSections(loader, { files: { "demo.yaml": "demo:\n  level: 2\n" }, env: { DEMO_LEVEL: "5" } })
      assert.deepStrictEqual(fromEnv.resolved, { demo: { level: 5 } })
      assert.deepStrictEqual(fromEnv.sources["demo.level"], { _tag: "Env", variable: "DEMO_LEVEL" })

      const overrides = yield* parse(["--demo-level", "7"])
      assert.deepStrictEqual(overrides, { "demo.level": 7 })
      const fromFlag = yield* loadSections(loader, { env: { DEMO_LEVEL: "5" }, flags: overrides })
      assert.deepStrictEqual(fromFlag.resolved, { demo: { level: 7 } })
      assert.deepStrictEqual(fromFlag.sources["demo.level"], { _tag: "Flag", flag: "--demo-level" })

      const schema = JSON.stringify(Schema.toJsonSchemaDocument(DemoFile).schema)
      assert.include(schema, "\"demo\"")
      assert.include(schema, "\"level\"")
    }))

  it.effect("the flag's kind, metavar and help line come from the row", () =>
    Effect.gen(function*() {
      yield* parse(["--help"])
      const help = (yield* TestConsole.logLines).join("\n")
      assert.match(help, /--demo-level N\s+how loud the demo is, 1 to 9/)
      // kind "integer" is a Flag.Int: a fraction is refused by the parser, before any loading
      const refused = yield* Effect.flip(parse(["--demo-level", "2.5"]))
      assert.strictEqual(refused._tag, "ShowHelp")
    }))

  it.effect("a bad value from the flag names the flag and shows the row's example", () =>
    Effect.gen(function*() {
      const overrides = yield* parse(["--demo-level", "12"])
      const error: LlmError.LlmError = yield* Effect.flip(loadSections(loader, { flags: overrides }))
      assert.strictEqual(error.reason._tag, "Configuration")
      if (error.reason._tag !== "Configuration") return
      assert.strictEqual(error.reason.description, "invalid demo.level = 12 (from --demo-level): expected a whole number from 1 to 9")
      assert.strictEqual(error.reason.fix, "pass e.g. --demo-level 3")
    }))

  it("a group holds only the settings with a flag, in the order they are declared", () => {
    assert.deepStrictEqual(Object.keys(ModelFlags.flags), [
      "provider",
      "model",
      "baseUrl",
      "system",
      "maxTokens",
      "temperature",
      "timeout"
    ])
  })
})
