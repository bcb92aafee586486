/**
 * The real `claude` binary as an MCP host of `llm-connect mcp`: `claude -p --mcp-config` against a
 * fake Anthropic API that asks for our `prompt` tool; Claude Code starts our server over stdio,
 * calls the tool (our mock provider answers through the stack), and sends the tool's result
 * back to the fake, which checks it and answers with it.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as FakeAnthropicServer from "../providers/anthropic/FakeAnthropicServer.ts"
import { pinnedNode, repoRoot, runProcess, sourceCondition } from "../support/runProcess.ts"

const TOOL = "mcp__llm__prompt"

interface WireMessage {
  readonly role: string
  readonly content: string | ReadonlyArray<{ readonly type: string; readonly content?: unknown; readonly text?: string }>
}

const toolResultText = (body: { readonly messages?: ReadonlyArray<WireMessage> }): string | undefined => {
  for (const message of body.messages ?? []) {
    if (typeof message.content === "string") continue
    for (const block of message.content) {
      if (block.type !== "tool_result") continue
      const content = block.content
      return typeof content === "string"
        ? content
        : Array.isArray(content)
        ? content.map((part: { text?: string }) => part.text ?? "").join("")
        : JSON.stringify(content)
    }
  }
  return undefined
}

const toolUseStream = (input: Record<string, unknown>): Array<string> => [
  FakeAnthropicServer.event("message_start", {
    message: {
      id: "msg_tool_1",
      type: "message",
      role: "assistant",
      model: "claude-haiku-4-5",
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: { input_tokens: 30, output_tokens: 1 }
    }
  }),
  FakeAnthropicServer.event("content_block_start", { index: 0, content_block: { type: "tool_use", id: "toolu_1", name: TOOL, input: {} } }),
  FakeAnthropicServer.event("content_block_delta", { index: 0, delta: { type: "input_json_delta", partial_json: JSON.stringify(input) } }),
  FakeAnthropicServer.event("content_block_stop", { index: 0 }),
  FakeAnthropicServer.event("message_delta", { delta: { stop_reason: "tool_use", stop_sequence: null }, usage: { output_tokens: 12 } }),
  FakeAnthropicServer.event("message_stop")
]

describe("claude as an MCP host of llm-connect mcp", () => {
  it.live("claude -p calls our prompt tool over MCP and gets the stack's answer", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "llmc-claude-mcp-"))
      const fake = yield* FakeAnthropicServer.start((request) => {
        const body = request.body as { readonly messages?: ReadonlyArray<WireMessage>; readonly tools?: ReadonlyArray<{ name: string }>; readonly stream?: boolean }
        const result = toolResultText(body)
        const text = result !== undefined
          ? `relayed: ${result}`
          : (body.tools ?? []).some((tool) => tool.name === TOOL)
          ? undefined
          : "ok"
        if (text === undefined) return FakeAnthropicServer.sse(toolUseStream({ prompt: "ping through llm-connect" }))
        return body.stream === true
          ? FakeAnthropicServer.sse(FakeAnthropicServer.textStream({ texts: [text] }))
          : FakeAnthropicServer.ok(request, { content: [{ type: "text", text }] })
      })
      const config = join(dir, "mcp.json")
      writeFileSync(config, JSON.stringify({
        mcpServers: {
          llm: {
            command: pinnedNode,
            args: [sourceCondition, join(repoRoot, "src/cli/bin.ts"), "mcp", "--provider", "mock", "--mock-reply", "echo", "--no-ledger"]
          }
        }
      }))
      const claude = yield* runProcess(join(repoRoot, "node_modules/.bin/claude"), [
        "-p",
        "use the llm tool",
        "--mcp-config",
        config,
        "--strict-mcp-config",
        "--allowedTools",
        TOOL
      ], {
        cwd: dir,
        env: {
          PATH: process.env.PATH ?? "",
          HOME: dir,
          XDG_STATE_HOME: join(dir, "state"),
          ANTHROPIC_BASE_URL: fake.origin,
          ANTHROPIC_API_KEY: "sk-ant-test-not-a-key",
          CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
          DISABLE_TELEMETRY: "1",
          DISABLE_AUTOUPDATER: "1",
          MCP_TIMEOUT: "60000",
          // MCP tools in the request's tool list (not deferred behind ToolSearch), so the fake can call one.
          ENABLE_TOOL_SEARCH: "false"
        }
      })
      assert.strictEqual(claude.exitCode, 0, claude.stderr)
      // The tool's result (the bridge response from our mock, echoing the prompt) reached the fake.
      const relayed = fake.requests.map((request) => toolResultText(request.body as { messages?: ReadonlyArray<WireMessage> }))
        .find((text) => text !== undefined)
      assert.isDefined(relayed, `no tool_result reached the fake API; claude said: ${claude.stdout} ${claude.stderr}`)
      assert.include(relayed, "ping through llm-connect")
      assert.include(relayed, "tokensIn")
      assert.include(claude.stdout, "relayed:")
    }).pipe(Effect.scoped), 180_000)
})
