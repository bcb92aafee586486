/**
 * `llm-connect prompt --tools FILE --tool-choice CHOICE` as a real subprocess: the mock with a
 * scripted or forced call, an OpenAI-protocol fake, claude-code refusing tools before its binary
 * starts, and the files and choices that exit 2.
 */
import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, FileSystem, Path, Schema } from "effect"
import { LlmResponse } from "../../src/LlmResponse.ts"
import * as FakeHttpServer from "../providers/FakeHttpServer.ts"
import * as Harness from "../providers/claude-code/ClaudeCodeHarness.ts"
import * as FakeAnthropicApi from "../providers/claude-code/FakeAnthropicApi.ts"
import { runCli } from "./runCli.ts"

const TIMEOUT = 120_000

const TOOLS_YAML = `
- name: get_weather
  description: The weather in a city now
  parameters:
    type: object
    properties:
      city: { type: string }
      units: { type: string, enum: [c, f] }
    required: [city, units]
- name: get_time
  description: The time now
  parameters: { type: object, properties: {} }
`

const workspace = (files: Record<string, string>) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const dir = yield* Effect.orDie(fs.makeTempDirectoryScoped({ prefix: "llmc-tools-" }))
    for (const [name, text] of Object.entries(files)) yield* Effect.orDie(fs.writeFileString(path.join(dir, name), text))
    return dir
  }).pipe(Effect.provide(NodeServices.layer))

describe("llm-connect prompt --tools (subprocess)", () => {
  it.live("mock: a scripted call is printed, one line per call (human) and in toolCalls (--json); the tools reach the request", () =>
    Effect.gen(function*() {
      const cwd = yield* workspace({
        "tools.yaml": TOOLS_YAML,
        "calls.json": JSON.stringify([{ name: "get_weather", arguments: { city: "Paris", units: "c" } }, { name: "get_time", id: "t1" }])
      })
      const human = yield* runCli(["prompt", "Weather in Paris?", "--tools", "tools.yaml", "--mock-tool-calls", "calls.json"], { cwd })
      assert.strictEqual(human.exitCode, 0, human.stderr)
      assert.deepStrictEqual(human.stdout.trim().split("\n"), [
        "tool call get_weather {\"city\":\"Paris\",\"units\":\"c\"} (id mock-call-1-0)",
        "tool call get_time {} (id t1)"
      ])
      const json = yield* runCli(["prompt", "Weather in Paris?", "--json", "--tools", "tools.yaml"], {
        cwd,
        env: { LLM_CONNECT_MOCK_TOOL_CALLS: "calls.json" }
      })
      assert.strictEqual(json.exitCode, 0, json.stderr)
      const response = Schema.decodeUnknownSync(LlmResponse)(JSON.parse(json.stdout))
      assert.strictEqual(response.finishReason, "tool-calls")
      assert.deepStrictEqual(response.toolCalls, [
        { id: "mock-call-1-0", name: "get_weather", arguments: { city: "Paris", units: "c" } },
        { id: "t1", name: "get_time", arguments: {} }
      ])
    }), TIMEOUT)

  it.live("mock: --tool-choice NAME without a script gets the simplest valid call; --tool-choice none none", () =>
    Effect.gen(function*() {
      const cwd = yield* workspace({ "tools.yaml": TOOLS_YAML })
      const forced = yield* runCli(["prompt", "hi", "--json", "--tools", "tools.yaml", "--tool-choice", "get_weather"], { cwd })
      assert.strictEqual(forced.exitCode, 0, forced.stderr)
      assert.deepStrictEqual(JSON.parse(forced.stdout).toolCalls, [{ id: "mock-call-1-0", name: "get_weather", arguments: { city: "", units: "c" } }])
      const none = yield* runCli(["prompt", "hi", "--json", "--tools", "tools.yaml", "--tool-choice", "none", "--mock-reply", "plain"], { cwd })
      assert.strictEqual(none.exitCode, 0, none.stderr)
      const document = JSON.parse(none.stdout)
      assert.strictEqual(document.content, "plain")
      assert.isUndefined(document.toolCalls)
    }), TIMEOUT)

  it.live("openai: the file's tools and the choice are sent; the model's tool_calls come back in toolCalls, none executed", () =>
    Effect.gen(function*() {
      const cwd = yield* workspace({ "tools.json": JSON.stringify([{ name: "get_time", parameters: { type: "object", properties: {} } }]) })
      const fake = yield* FakeHttpServer.start(() => ({
        body: {
          id: "chatcmpl-1",
          object: "chat.completion",
          model: "gpt-4o-mini",
          choices: [{
            index: 0,
            message: { role: "assistant", content: null, tool_calls: [{ id: "call_x", type: "function", function: { name: "get_time", arguments: "{}" } }] },
            finish_reason: "tool_calls"
          }],
          usage: { prompt_tokens: 30, completion_tokens: 5, total_tokens: 35 }
        }
      }))
      const run = yield* runCli(
        ["prompt", "--json", "--provider", "openai", "--base-url", `${fake.origin}/v1`, "--tools", "tools.json", "--tool-choice", "required", "time?"],
        { cwd, env: { OPENAI_API_KEY: "sk-cli-tools" } }
      )
      assert.strictEqual(run.exitCode, 0, run.stderr)
      const body = fake.requests[0]!.body as Record<string, unknown>
      assert.deepStrictEqual(body.tools, [{ type: "function", function: { name: "get_time", parameters: { type: "object", properties: {} } } }])
      assert.strictEqual(body.tool_choice, "required")
      assert.deepStrictEqual(JSON.parse(run.stdout).toolCalls, [{ id: "call_x", name: "get_time", arguments: {} }])
      assert.strictEqual(fake.requests.length, 1)
    }), TIMEOUT)

  it.live("a keyword Effect's JSON Schema support cannot express exits 2 naming the tool and the keyword", () =>
    Effect.gen(function*() {
      const cwd = yield* workspace({
        "tools.yaml": "- name: pick\n  parameters:\n    type: object\n    properties: { a: { type: string } }\n    dependentRequired: { a: [b] }\n"
      })
      const run = yield* runCli(["prompt", "hi", "--json", "--tools", "tools.yaml"], { cwd })
      assert.strictEqual(run.exitCode, 2)
      const document = JSON.parse(run.stdout)
      assert.strictEqual(document.errorType, "Configuration")
      assert.include(document.error, "tool pick")
      assert.include(document.error, "dependentRequired")
    }), TIMEOUT)

  it.live("a bad file, a missing file, an undeclared --tool-choice NAME, or a choice without tools exit 2 before any call", () =>
    Effect.gen(function*() {
      const cwd = yield* workspace({ "tools.yaml": TOOLS_YAML, "bad.yaml": "- description: no name\n  parameters: {}\n" })
      const bad = yield* runCli(["prompt", "hi", "--tools", "bad.yaml"], { cwd })
      assert.strictEqual(bad.exitCode, 2)
      assert.include(bad.stderr, "bad.yaml")
      assert.include(bad.stderr, "name")
      const missing = yield* runCli(["prompt", "hi", "--tools", "nope.yaml"], { cwd })
      assert.strictEqual(missing.exitCode, 2)
      assert.include(missing.stderr, "no such file")
      const undeclared = yield* runCli(["prompt", "hi", "--tools", "tools.yaml", "--tool-choice", "get_news"], { cwd })
      assert.strictEqual(undeclared.exitCode, 2)
      assert.include(undeclared.stderr, "declared: get_weather, get_time")
      const alone = yield* runCli(["prompt", "hi", "--tool-choice", "required"], { cwd })
      assert.strictEqual(alone.exitCode, 2)
      assert.include(alone.stderr, "--tools")
      const badScript = yield* runCli(["prompt", "hi", "--tools", "tools.yaml", "--mock-tool-calls", "bad.yaml"], { cwd })
      assert.strictEqual(badScript.exitCode, 2)
      assert.include(badScript.stderr, "--mock-tool-calls")
    }), TIMEOUT)

  it.live("claude-code with --tools exits 2 with Unsupported; the claude binary is never started", () =>
    Effect.gen(function*() {
      const cwd = yield* workspace({ "tools.yaml": TOOLS_YAML })
      const api = yield* FakeAnthropicApi.start()
      const wrapper = yield* Harness.makeWrapper()
      const { HOME: _home, ...wrapperEnv } = wrapper.env
      const run = yield* runCli(["prompt", "--provider", "claude-code", "--base-url", api.origin, "--json", "--tools", "tools.yaml", "hi"], {
        cwd,
        env: { ...wrapperEnv, CLAUDE_CODE_PATH: wrapper.path }
      })
      assert.strictEqual(run.exitCode, 2, run.stderr)
      const document = JSON.parse(run.stdout)
      assert.strictEqual(document.errorType, "Unsupported")
      assert.strictEqual(document.feature, "tools")
      assert.strictEqual(wrapper.runs().length, 0)
      assert.strictEqual(api.messageRequests().length, 0)
    }), TIMEOUT)
})
