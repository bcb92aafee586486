import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, FileSystem, Path } from "effect"
import * as ToolsFile from "../../src/cli/ToolsFile.ts"
import * as ToolCall from "../../src/ToolCall.ts"

const TOOLS = `
- name: get_weather
  parameters:
    type: object
    properties:
      city: { type: string, minLength: 1 }
      units: { type: string, enum: [c, f] }
    required: [city]
`

const withFile = (text: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const dir = yield* fs.makeTempDirectoryScoped({ prefix: "llmc-toolsfile-" })
    const file = (yield* Path.Path).join(dir, "tools.yaml")
    yield* fs.writeFileString(file, text)
    return file
  })

describe("ToolsFile (in process)", () => {
  it.effect("loads the definitions as written, with the choice; a call is checked against the converted parameters", () =>
    Effect.gen(function*() {
      const file = yield* withFile(TOOLS)
      const loaded = yield* ToolsFile.load({ file, choice: "get_weather" })
      assert.deepStrictEqual(loaded.request.toolChoice, { tool: "get_weather" })
      assert.deepStrictEqual(loaded.request.tools?.[0]?.parameters, {
        type: "object",
        properties: { city: { type: "string", minLength: 1 }, units: { type: "string", enum: ["c", "f"] } },
        required: ["city"]
      })
      const tool = loaded.tools.get("get_weather")
      assert.strictEqual(
        ToolsFile.callLine(ToolCall.fromValue("c1", "get_weather", { city: "Paris", units: "c" }), tool),
        "tool call get_weather {\"city\":\"Paris\",\"units\":\"c\"} (id c1)"
      )
      const mismatch = ToolsFile.callLine(ToolCall.fromValue("c2", "get_weather", { city: "", units: "k" }), tool)
      assert.include(mismatch, "(id c2; arguments do not match its parameters: ")
      const unparsed = ToolsFile.callLine(ToolCall.fromJsonText("c3", "get_weather", "{\"city\""))
      assert.include(unparsed, "tool call get_weather {\"city\" (id c3; arguments are not JSON: ")
    }).pipe(Effect.provide(NodeServices.layer)))

  it.effect("no file and no choice is nothing; each choice keyword parses; an empty choice is refused", () =>
    Effect.gen(function*() {
      const none = yield* ToolsFile.load({ file: undefined, choice: undefined })
      assert.deepStrictEqual(none.request, {})
      assert.deepStrictEqual(["auto", "none", "required", "x"].map(ToolsFile.parseChoice), ["auto", "none", "required", { tool: "x" }])
      const auto = yield* ToolsFile.load({ file: undefined, choice: "auto" })
      assert.deepStrictEqual(auto.request, { toolChoice: "auto" })
      const empty = yield* Effect.flip(ToolsFile.load({ file: undefined, choice: " " }))
      assert.strictEqual(empty.reason._tag, "Configuration")
    }).pipe(Effect.provide(NodeServices.layer)))

  it.effect("a file that is not YAML names its line; a name providers refuse is refused", () =>
    Effect.gen(function*() {
      const broken = yield* Effect.flip(ToolsFile.load({ file: yield* withFile("- name: a\n  parameters: {\n"), choice: undefined }))
      assert.include(broken.message, "is not valid YAML or JSON")
      const badName = yield* Effect.flip(ToolsFile.load({ file: yield* withFile("- name: get weather\n  parameters: { type: object }\n"), choice: undefined }))
      assert.include(badName.message, "a tool name is a letter")
    }).pipe(Effect.provide(NodeServices.layer)))
})
