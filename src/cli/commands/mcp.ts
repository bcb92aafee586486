/**
 * `llm-connect mcp`: an MCP server over stdio exposing our budgeted models as the tool `prompt`,
 * and with `--workflows DIR` one tool per workflow (src/mcp/McpServe.ts), configured with the flags, environment and file the bridge takes.
 * stdout carries only MCP messages; logs go to stderr. It runs until the host closes stdin or
 * sends a signal. `effect/ai`'s MCP modules, the workflow runs and stdio load only when this
 * command runs.
 *
 * @since 0.1.0
 */
import { Effect, Layer, Option } from "effect"
import { Command, Flag } from "effect/cli"
import * as Bridge from "../../bridge/Bridge.ts"
import * as UsageLedger from "../../observability/UsageLedger.ts"
import * as GatewayFlags from "../flags/GatewayFlags.ts"

/** The package version the server announces (kept beside the CLI's). */
const VERSION = "0.1.0"

/**
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make(
  "mcp",
  {
    ...GatewayFlags.flags,
    workflows: Flag.String("workflows").pipe(
      Flag.withMetavar("DIR"),
      Flag.withDescription("a folder of workflow YAML files: one tool workflow_NAME each, and workflow_status (default serve.workflows)"),
      Flag.optional
    )
  },
  Effect.fn("cli.mcp")(function*(input) {
    // Loaded when the command runs, so other commands start without them.
    const [McpServe, WorkflowRuns, NodeStdio] = yield* Effect.promise(() =>
      Promise.all([import("../../mcp/McpServe.ts"), import("../../server/WorkflowRuns.ts"), import("@effect/platform-node/NodeStdio")])
    )
    yield* Effect.scoped(Effect.gen(function*() {
      const resolved = yield* GatewayFlags.load(input)
      // A long-lived server: a SQLite ledger writes from a thread of its own (ADR 0053).
      const bridge = yield* Bridge.make(resolved).pipe(Effect.provideService(UsageLedger.WriteOffThread, true))
      // The workflows of a folder, run as serve runs them (same registry, journal and limits).
      const folder = Option.getOrUndefined(input.workflows) ?? resolved.config.serve.workflows
      const runs = folder === undefined
        ? undefined
        : yield* WorkflowRuns.make({ bridge, workflows: yield* WorkflowRuns.load(folder), settings: resolved.config.serve.runs })
      // Until the host closes stdin (the server's protocol then ends) or a signal interrupts.
      yield* Layer.launch(McpServe.layerStdio(bridge, { version: VERSION, runs }).pipe(Layer.provide(NodeStdio.layer)))
    }))
  })
).pipe(
  Command.withDescription(
    "Serve budgeted model calls to MCP hosts over stdio (the tool `prompt`; docs/mcp.md). Takes the provider and budget flags"
  ),
  Command.withExamples([
    { command: "llm-connect mcp --provider openai --max-cost-usd 1", description: "an MCP server for Claude Code or an IDE" },
    { command: "llm-connect mcp --workflows ./workflows", description: "also one tool per workflow of a folder" },
    {
      command: "claude mcp add llm -- npx llm-connect mcp --provider openai",
      description: "register it with Claude Code"
    }
  ])
)
