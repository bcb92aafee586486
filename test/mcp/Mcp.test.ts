/**
 * MCP both ways, over real stdio subprocesses: an MCP server's tools in our agent loop
 * (`Mcp.tools`, against a fake MCP server built with effect/ai's McpServer: answers, a declared
 * failure, a hang, a crash, a server that never initialises), and `llm-connect mcp` driven by
 * effect/ai's real MCP client.
 */
import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Result, Schema } from "effect"
import * as McpClient from "effect/ai/McpClient"
import * as McpProtocol from "effect/ai/McpProtocol"
import * as ChildProcess from "effect/process/ChildProcess"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Agent from "../../src/agent/Agent.ts"
import * as BridgeContract from "../../src/bridge/BridgeContract.ts"
import * as Mcp from "../../src/mcp/Mcp.ts"
import * as MockLanguageModel from "../../src/providers/mock/MockLanguageModel.ts"
import * as ToolCall from "../../src/ToolCall.ts"
import { pinnedNode, repoRoot, sourceCondition } from "../support/runProcess.ts"

const fakeServer = `${repoRoot}test/fixtures/mcp/fake-mcp-server.ts`
const bin = `${repoRoot}src/cli/bin.ts`

const call = (name: string, args: unknown): ToolCall.ToolCall => ({ id: `c-${name}`, name, arguments: args })

const byName = (handlers: ReadonlyArray<Agent.ToolHandler>, name: string) => handlers.find((handler) => handler.tool.name === name)!

describe("Mcp.tools: an MCP server's tools for the agent loop", () => {
  it.live("lists the tools (names made valid for every provider) and runs them; failures are tool failures naming the server", () =>
    Effect.gen(function*() {
      const handlers = yield* Mcp.tools({ command: pinnedNode, args: [fakeServer] }, { name: "fake", timeout: "20 seconds" })
      assert.deepStrictEqual(handlers.map((handler) => handler.tool.name).sort(), [
        "crash",
        "get_weather",
        "odd_name_with_spaces",
        "refuse",
        "slow"
      ])
      assert.include(byName(handlers, "get_weather").tool.description, "(MCP server fake)")
      assert.deepStrictEqual(byName(handlers, "get_weather").tool.definition.parameters.required, ["city"])
      const weather = yield* byName(handlers, "get_weather").execute(call("get_weather", { city: "Paris" }))
      assert.strictEqual(weather, "sunny in Paris")
      const odd = yield* byName(handlers, "odd_name_with_spaces").execute(call("odd_name_with_spaces", {}))
      assert.strictEqual(odd, "odd")
      const refused = yield* Effect.flip(byName(handlers, "refuse").execute(call("refuse", {})))
      assert.strictEqual(refused._tag, "Failed")
      assert.include(refused.message, "not today")
      const unparsed = yield* Effect.flip(byName(handlers, "get_weather").execute({
        id: "c1",
        name: "get_weather",
        arguments: null,
        rawArguments: "{\"city\": \"Pa",
        argumentsError: "Unexpected end of JSON input"
      }))
      assert.strictEqual(unparsed._tag, "InvalidArguments")
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)), 60_000)

  it.live("a tool that hangs fails after the timeout; a server that dies fails its calls at once, never a stuck agent", () =>
    Effect.gen(function*() {
      const handlers = yield* Mcp.tools({ command: pinnedNode, args: [fakeServer] }, { name: "fake", timeout: "2 seconds" })
      const hung = yield* Effect.flip(byName(handlers, "slow").execute(call("slow", {})))
      assert.strictEqual(hung._tag, "Failed")
      assert.include(hung.message, "MCP server fake: call-tool failed")
      const crashed = yield* Effect.flip(byName(handlers, "crash").execute(call("crash", {})))
      assert.strictEqual(crashed._tag, "Failed")
      const after = yield* Effect.flip(byName(handlers, "get_weather").execute(call("get_weather", { city: "Rome" })))
      assert.strictEqual(after._tag, "Failed")
      assert.include(after.message, "MCP server fake")
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)), 60_000)

  it.live("a server that cannot start, or never answers, is a typed McpError from connect", () =>
    Effect.gen(function*() {
      const missing = yield* Effect.flip(Mcp.tools({ command: "/nonexistent/mcp-server" }, { timeout: "5 seconds" }))
      assert.instanceOf(missing, Mcp.McpError)
      assert.strictEqual(missing.operation, "connect")
      assert.strictEqual(missing.server, "/nonexistent/mcp-server")
      const silent = yield* Effect.flip(Mcp.tools({ command: pinnedNode, args: [fakeServer, "--hang-init"] }, { name: "silent", connectTimeout: "1 second" }))
      assert.strictEqual(silent.operation, "connect")
      assert.include(silent.message, "MCP server silent: connect failed")
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)), 60_000)

  it.live("in Agent.run: the model calls an MCP tool, gets its result, and answers; a dead tool's error goes back to the model", () =>
    Effect.gen(function*() {
      const handlers = yield* Mcp.tools({ command: pinnedNode, args: [fakeServer] }, { name: "fake", timeout: "20 seconds" })
      const model = MockLanguageModel.layer({
        reply: "It is sunny in Paris.",
        toolCalls: [[{ name: "get_weather", arguments: { city: "Paris" } }, { name: "refuse", arguments: {} }], []]
      })
      const result = yield* Agent.run({ prompt: "Weather in Paris?", tools: handlers }).pipe(Effect.provide(model))
      assert.strictEqual(result.text, "It is sunny in Paris.")
      assert.strictEqual(result.stopReason, "final-answer")
      const outcomes = result.steps.flatMap((step) => step.tools)
      assert.isFalse(outcomes.find((outcome) => outcome.name === "get_weather")!.isFailure)
      assert.isTrue(outcomes.find((outcome) => outcome.name === "refuse")!.isFailure)
      // The results went back to the model as tool messages.
      const results = result.messages.flatMap((message) =>
        message.role === "tool" && typeof message.content !== "string" ? message.content : []
      )
      assert.deepStrictEqual(results.map((part) => (part.type === "tool-result" ? part.result : undefined))[0], "sunny in Paris")
      assert.include(JSON.stringify(results[1]), "not today")
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)), 60_000)
})

describe("llm-connect mcp: our budgeted models for MCP hosts", () => {
  const serverLayer = (args: ReadonlyArray<string>) =>
    McpClient.layerStdio({
      name: "test-host",
      version: "1.0.0",
      timeout: "60 seconds",
      command: ChildProcess.make(pinnedNode, [sourceCondition, bin, "mcp", "--no-ledger", ...args], {
        // Run journals and state go to a temp dir, not the repository.
        cwd: mkdtempSync(join(tmpdir(), "llmc-mcp-"))
      }),
      protocol: McpProtocol.v2025_11_25
    }).pipe(Layer.provide(NodeServices.layer))

  it.live("lists `prompt` and answers it through the stack; a per-call budget refuses with the bridge's failure document", () =>
    Effect.gen(function*() {
      const client = yield* McpClient.McpClient
      const tools = yield* client.listTools()
      const prompt = tools.find((tool) => tool.name === "prompt")!
      assert.includeMembers(Object.keys(prompt.inputSchema.properties ?? {}), ["prompt", "systemPrompt", "model", "maxTokens", "budget"])
      const answered = yield* client.callTool({ tool: prompt, arguments: { prompt: "hello there", maxTokens: 20 } })
      assert.notStrictEqual(answered.isError, true)
      const response = Schema.decodeUnknownSync(BridgeContract.BridgeResponse)(answered.structuredContent)
      assert.strictEqual(response.content, "hello there")
      assert.isAbove(response.tokensIn, 0)
      const refused = yield* client.callTool({ tool: prompt, arguments: { prompt: "hello there", budget: { totalTokens: 3 } } })
      assert.isTrue(refused.isError)
      const text = refused.content.flatMap((part) => (part.type === "text" ? [part.text] : [])).join("")
      const failure = Schema.decodeUnknownSync(Schema.fromJsonString(BridgeContract.BridgeFailure))(text)
      assert.strictEqual(failure.errorType, "BudgetExceeded")
      // Arguments outside the contract are refused before anything is sent.
      const invalid = yield* Effect.result(client.callTool({ tool: prompt, arguments: { prompt: 42 } }))
      const refusedArgs = Result.isFailure(invalid) || invalid.success.isError === true
      assert.isTrue(refusedArgs)
    }).pipe(Effect.provide(serverLayer(["--provider", "mock", "--mock-reply", "echo"]))), 90_000)

  it.live("Mcp.tools on `llm-connect mcp`: an agent delegates to another budgeted model through MCP", () =>
    Effect.gen(function*() {
      const handlers = yield* Mcp.tools(
        {
          command: pinnedNode,
          args: [sourceCondition, bin, "mcp", "--no-ledger", "--provider", "mock", "--mock-reply", "echo"],
          cwd: mkdtempSync(join(tmpdir(), "llmc-mcp-"))
        },
        { name: "llm", prefix: "llm_", timeout: "60 seconds" }
      )
      assert.deepStrictEqual(handlers.map((handler) => handler.tool.name), ["llm_prompt"])
      const answer = yield* handlers[0]!.execute(call("llm_prompt", { prompt: "relay this" }))
      assert.strictEqual((answer as { content: string }).content, "relay this")
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)), 90_000)

  it.live("--workflows: one tool per workflow with its inputs as JSON Schema, answering with the run's state; workflow_status reads it", () =>
    Effect.gen(function*() {
      const client = yield* McpClient.McpClient
      const tools = yield* client.listTools()
      assert.deepStrictEqual(tools.map((tool) => tool.name).sort(), ["prompt", "workflow_demo", "workflow_status"])
      const demo = tools.find((tool) => tool.name === "workflow_demo")!
      const input = (demo.inputSchema.properties as Record<string, { properties: Record<string, { type: string; description?: string; default?: unknown }> }>).input!
      assert.deepStrictEqual(input.properties.topic, { type: "string", description: "What the article is about", default: "the tides" })
      const ran = yield* client.callTool({ tool: demo, arguments: { input: { topic: "rivers" } } })
      assert.notStrictEqual(ran.isError, true)
      const run = ran.structuredContent as { runId: string; status: string; stepsDone: ReadonlyArray<string>; usage: { totalTokens: number } }
      assert.strictEqual(run.status, "succeeded")
      assert.deepStrictEqual([...run.stepsDone].sort(), ["draft_plain", "draft_vivid", "outline"])
      assert.isAbove(run.usage.totalTokens, 0)
      const status = tools.find((tool) => tool.name === "workflow_status")!
      const read = yield* client.callTool({ tool: status, arguments: { runId: run.runId } })
      assert.strictEqual((read.structuredContent as { status: string }).status, "succeeded")
      // A run's budget below what one step needs: the run fails, as an error result with its state.
      const starved = yield* client.callTool({ tool: demo, arguments: { input: {}, budget: { totalTokens: 5 } } })
      assert.isTrue(starved.isError)
      assert.strictEqual((starved.structuredContent as { status: string }).status, "failed")
      const unknown = yield* client.callTool({ tool: status, arguments: { runId: "20260101-abcdef" } })
      assert.isTrue(unknown.isError)
      assert.include(unknown.content.flatMap((part) => (part.type === "text" ? [part.text] : [])).join(""), "NotFound")
    }).pipe(Effect.provide(serverLayer([
      "--provider",
      "mock",
      "--workflows",
      `${repoRoot}examples/workflows`
    ]))), 90_000)
})
