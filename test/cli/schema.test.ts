/**
 * `llm-connect prompt --schema FILE.json` as a real subprocess: the mock's minimal object and a
 * scripted invalid reply (InvalidOutput, exit 1, after the repair), an OpenAI-protocol fake
 * receiving the file's JSON Schema as `response_format`, claude-code refusing before its binary
 * starts, and the inputs that exit 2.
 */
import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, FileSystem, Path, Schema } from "effect"
import * as SchemaFile from "../../src/cli/SchemaFile.ts"
import * as FakeHttpServer from "../providers/FakeHttpServer.ts"
import * as Harness from "../providers/claude-code/ClaudeCodeHarness.ts"
import * as FakeAnthropicApi from "../providers/claude-code/FakeAnthropicApi.ts"
import { runCli } from "./runCli.ts"

const TIMEOUT = 120_000

const CITY = {
  title: "city",
  type: "object",
  properties: { city: { type: "string" }, population: { type: "integer" } },
  required: ["city", "population"],
  additionalProperties: false
}

const workspace = (files: Record<string, string>) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const dir = yield* Effect.orDie(fs.makeTempDirectoryScoped({ prefix: "llmc-schema-" }))
    for (const [name, text] of Object.entries(files)) yield* Effect.orDie(fs.writeFileString(path.join(dir, name), text))
    return dir
  }).pipe(Effect.provide(NodeServices.layer))

describe("llm-connect prompt --schema (subprocess)", () => {
  it.live("mock: the decoded object as pretty JSON (human), and the response document with object (--json)", () =>
    Effect.gen(function*() {
      const cwd = yield* workspace({ "city.json": JSON.stringify(CITY) })
      const human = yield* runCli(["prompt", "France?", "--schema", "city.json"], { cwd })
      assert.strictEqual(human.exitCode, 0, human.stderr)
      assert.strictEqual(human.stdout, "{\n  \"city\": \"\",\n  \"population\": 0\n}\n")
      const json = yield* runCli(["prompt", "France?", "--schema", "city.json", "--json", "--mock-reply", "{\"city\":\"Paris\",\"population\":2}"], { cwd })
      assert.strictEqual(json.exitCode, 0, json.stderr)
      const document = Schema.decodeUnknownSync(SchemaFile.ObjectDocument)(JSON.parse(json.stdout))
      assert.deepStrictEqual(document.object, { city: "Paris", population: 2 })
      assert.strictEqual(document.requests, 1)
      assert.deepStrictEqual(document.totalUsage, document.usage)
    }), TIMEOUT)

  it.live("mock: a reply that does not decode is repaired once, then exits 1 with InvalidOutput (raw text and issues)", () =>
    Effect.gen(function*() {
      const cwd = yield* workspace({ "city.json": JSON.stringify(CITY) })
      const run = yield* runCli(["prompt", "France?", "--schema", "city.json", "--json", "--mock-reply", "{\"city\":\"Paris\"}"], { cwd })
      assert.strictEqual(run.exitCode, 1, run.stderr)
      const document = JSON.parse(run.stdout)
      assert.strictEqual(document.errorType, "InvalidOutput")
      assert.strictEqual(document.raw, "{\"city\":\"Paris\"}")
      assert.deepStrictEqual(document.issues, ["$.population: Missing key"])
      assert.include(document.error, "after 2 request(s)")
      const once = yield* runCli(["prompt", "France?", "--schema", "city.json", "--mock-reply", "no", "--repair-attempts", "0"], { cwd })
      assert.strictEqual(once.exitCode, 1)
      assert.include(once.stderr, "after 1 request(s)")
      const fromEnv = yield* runCli(["prompt", "France?", "--schema", "city.json", "--mock-reply", "no"], {
        cwd,
        env: { LLM_CONNECT_REPAIR_ATTEMPTS: "2" }
      })
      assert.include(fromEnv.stderr, "after 3 request(s)")
      const tooMany = yield* runCli(["prompt", "France?", "--schema", "city.json", "--repair-attempts", "9"], { cwd })
      assert.strictEqual(tooMany.exitCode, 2)
      assert.include(tooMany.stderr, "repair")
    }), TIMEOUT)

  it.live("openai: the file's JSON Schema is sent as response_format (strict), the answer decoded; a repair is a second request", () =>
    Effect.gen(function*() {
      const cwd = yield* workspace({ "city.json": JSON.stringify(CITY) })
      const answers = ["{\"city\":\"Paris\",\"population\":\"lots\"}", "{\"city\":\"Paris\",\"population\":2100000}"]
      const fake = yield* FakeHttpServer.start(() => ({
        body: {
          id: "chatcmpl-1",
          object: "chat.completion",
          model: "gpt-4o-mini",
          choices: [{ index: 0, message: { role: "assistant", content: answers.shift() ?? "" }, finish_reason: "stop" }],
          usage: { prompt_tokens: 30, completion_tokens: 5, total_tokens: 35 }
        }
      }))
      const run = yield* runCli(
        ["prompt", "--json", "--provider", "openai", "--base-url", `${fake.origin}/v1`, "--schema", "city.json", "France?"],
        { cwd, env: { OPENAI_API_KEY: "sk-cli-schema" } }
      )
      assert.strictEqual(run.exitCode, 0, run.stderr)
      assert.strictEqual(fake.requests.length, 2)
      const body = fake.requests[0]!.body as Record<string, unknown>
      assert.deepStrictEqual(body.response_format, { type: "json_schema", json_schema: { name: "city", schema: CITY, strict: true } })
      const repair = (fake.requests[1]!.body as { messages: ReadonlyArray<{ role: string; content: string }> }).messages
      assert.deepStrictEqual(repair.map((message) => message.role), ["user", "assistant", "user"])
      assert.include(repair[2]!.content, "$.population")
      const document = JSON.parse(run.stdout)
      assert.deepStrictEqual(document.object, { city: "Paris", population: 2100000 })
      assert.strictEqual(document.requests, 2)
      assert.strictEqual(document.totalUsage.totalTokens, 70)
    }), TIMEOUT)

  it.live("a keyword Effect cannot express, a root that is not an object, a missing file, or --stream exit 2 before any call", () =>
    Effect.gen(function*() {
      const cwd = yield* workspace({
        "if.json": JSON.stringify({ type: "object", properties: { a: { type: "string" } }, if: { required: ["a"] }, then: { required: ["b"] } }),
        "array.json": JSON.stringify({ type: "array", items: { type: "string" } }),
        "city.json": JSON.stringify(CITY)
      })
      const keyword = yield* runCli(["prompt", "hi", "--json", "--schema", "if.json"], { cwd })
      assert.strictEqual(keyword.exitCode, 2)
      const document = JSON.parse(keyword.stdout)
      assert.strictEqual(document.errorType, "Configuration")
      assert.include(document.error, "if.json")
      assert.include(document.error, "\"if\"")
      const array = yield* runCli(["prompt", "hi", "--schema", "array.json"], { cwd })
      assert.strictEqual(array.exitCode, 2)
      assert.include(array.stderr, "must be a JSON Schema object")
      const missing = yield* runCli(["prompt", "hi", "--schema", "nope.json"], { cwd })
      assert.strictEqual(missing.exitCode, 2)
      assert.include(missing.stderr, "no such file")
      const streamed = yield* runCli(["prompt", "hi", "--schema", "city.json", "--stream"], { cwd })
      assert.strictEqual(streamed.exitCode, 2)
      assert.include(streamed.stderr, "--schema cannot be combined with --stream")
    }), TIMEOUT)

  it.live("claude-code with --schema exits 2 with Unsupported; the claude binary is never started", () =>
    Effect.gen(function*() {
      const cwd = yield* workspace({ "city.json": JSON.stringify(CITY) })
      const api = yield* FakeAnthropicApi.start()
      const wrapper = yield* Harness.makeWrapper()
      const { HOME: _home, ...wrapperEnv } = wrapper.env
      const run = yield* runCli(["prompt", "--provider", "claude-code", "--base-url", api.origin, "--json", "--schema", "city.json", "hi"], {
        cwd,
        env: { ...wrapperEnv, CLAUDE_CODE_PATH: wrapper.path }
      })
      assert.strictEqual(run.exitCode, 2, run.stderr)
      const document = JSON.parse(run.stdout)
      assert.strictEqual(document.errorType, "Unsupported")
      assert.strictEqual(document.feature, "structured-output")
      assert.strictEqual(wrapper.runs().length, 0)
      assert.strictEqual(api.messageRequests().length, 0)
    }), TIMEOUT)
})
