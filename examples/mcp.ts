// MCP both ways, offline: `llm-connect mcp` (our budgeted models as an MCP server on stdio) is
// started as a subprocess, its tools are listed with Mcp.tools, and an agent on the mock calls
// its `prompt` tool — an MCP host delegating to another budgeted model. A per-call budget the
// call cannot fit comes back as the tool's failure, not a stuck agent.
// Runs offline: npm run example examples/mcp.ts
// expect: tools: llm_prompt
// expect: answer: The other model says: relay this
// expect: tool llm_prompt ok
// expect: refused: BudgetExceeded
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Console, Effect } from "effect"
import { fileURLToPath } from "node:url"
import { Agent, Mcp, MockLanguageModel } from "llm-connect"

// In an installed package: { command: "npx", args: ["llm-connect", "mcp", "--provider", "openai"] }.
const server = {
  command: process.execPath,
  args: ["--conditions=llm-connect-source", fileURLToPath(new URL("../src/cli/bin.ts", import.meta.url)), "mcp", "--provider", "mock", "--mock-reply", "echo", "--no-ledger"]
}

const program = Effect.gen(function*() {
  const tools = yield* Mcp.tools(server, { name: "llm", prefix: "llm_", connectTimeout: "60 seconds", timeout: "30 seconds" })
  yield* Console.log(`tools: ${tools.map((tool) => tool.tool.name).join(", ")}`)

  // The mock asks for the MCP tool once, then answers with what it returned.
  const agent = MockLanguageModel.layer({
    toolCalls: [[{ name: "llm_prompt", arguments: { prompt: "relay this" } }], []],
    reply: (request) => {
      const result = request.messages.flatMap((message) =>
        message.role === "tool" && typeof message.content !== "string" ? message.content : []
      )[0]
      const content = result?.type === "tool-result" ? (result.result as { content?: string }).content : undefined
      return `The other model says: ${content ?? "nothing"}`
    }
  })
  const result = yield* Agent.run({ prompt: "Ask the other model to relay this", tools }).pipe(Effect.provide(agent))
  yield* Console.log(`answer: ${result.text}`)
  for (const step of result.steps) {
    for (const tool of step.tools) yield* Console.log(`tool ${tool.name} ${tool.isFailure ? "failed" : "ok"}`)
  }

  // A per-call budget of 3 tokens: the server refuses before sending, as the tool's failure.
  const refused = yield* Effect.flip(tools[0]!.execute({ id: "c1", name: "llm_prompt", arguments: { prompt: "hello", budget: { totalTokens: 3 } } }))
  yield* Console.log(`refused: ${/"errorType":"(\w+)"/.exec(refused.message)?.[1]}`)
}).pipe(Effect.scoped, Effect.provide(NodeServices.layer))

program.pipe(NodeRuntime.runMain)
