/**
 * llm-connect as an MCP server (`llm-connect mcp`): MCP hosts (Claude Code, IDEs, agents) call
 * our budgeted models through one tool, `prompt`, whose arguments are the bridge contract's
 * (prompt, system prompt, provider, model, maxTokens, temperature, and a per-call `budget`).
 * Every call goes through the bridge, so through the one config-to-stack path: the configured
 * provider, budget, retry, limits, timeouts, observability and ledger; a request's budget is a
 * fresh tracker per call, as on `/execute` and `bridge --jsonl`. A failure is the tool's error
 * result carrying the bridge's failure document (`error`, `errorType`, the reason's fields).
 *
 * With a folder of workflows (`--workflows`, else `serve.workflows`), one more tool per workflow,
 * `workflow_<name>`, whose arguments are `{ input, budget? }` (the workflow's declared inputs, as
 * JSON Schema), runs it through serve's workflow runs (the same registry, journal and limits as
 * `POST /v1/workflows/{name}/runs`) and answers with the run's state when it ends, or after
 * `waitMs` with its state so far; `workflow_status` reads a run's state by id.
 *
 * Built on `effect/ai`'s `McpServer` (stdio, newline-delimited JSON-RPC), speaking every MCP
 * revision it implements, so hosts that speak an older one still connect.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer, Schema } from "effect"
import * as McpProtocol from "effect/ai/McpProtocol"
import * as McpSchema from "effect/ai/McpSchema"
import * as McpServer from "effect/ai/McpServer"
import * as AiTool from "effect/ai/Tool"
import * as Toolkit from "effect/ai/Toolkit"
import type * as Bridge from "../bridge/Bridge.ts"
import * as BridgeContract from "../bridge/BridgeContract.ts"
import type * as WorkflowRunDocument from "../server/WorkflowRunDocument.ts"
import type * as WorkflowRuns from "../server/WorkflowRuns.ts"
import * as WorkflowFile from "../workflow/WorkflowFile.ts"

const PositiveInt = Schema.Int.check(Schema.isGreaterThan(0))

/**
 * The `prompt` tool's arguments: the bridge request without its `id` and `api_key` (keys come
 * from the server's environment or key file, never from the host).
 *
 * @since 0.1.0
 * @category schemas
 */
export const PromptParameters = Schema.Struct({
  prompt: Schema.String.annotate({ description: "The user's prompt." }),
  systemPrompt: Schema.optionalKey(Schema.String).annotate({ description: "A system prompt." }),
  provider: Schema.optionalKey(Schema.String.check(Schema.isNonEmpty())).annotate({
    description: "The provider; the server's configured one when absent."
  }),
  model: Schema.optionalKey(Schema.String.check(Schema.isNonEmpty())).annotate({
    description: "The model; the configured one, else the provider's default, when absent."
  }),
  maxTokens: Schema.optionalKey(PositiveInt).annotate({ description: "The most output tokens." }),
  temperature: Schema.optionalKey(Schema.Finite.check(Schema.isBetween({ minimum: 0, maximum: 2 }))),
  budget: Schema.optionalKey(BridgeContract.RequestBudget).annotate({
    description: "Limits for this call only (tokens, costUsd, deadline), over the server's configured ones."
  })
}).annotate({ identifier: "McpPromptParameters" })

/**
 * The `prompt` tool.
 *
 * @since 0.1.0
 * @category tools
 */
export const PromptTool = AiTool.make("prompt", {
  description: "Ask a language model through llm-connect (budgets, retries, limits and usage recorded): " +
    "one prompt in, one answer out with its token counts.",
  parameters: PromptParameters,
  success: BridgeContract.BridgeResponse,
  failure: BridgeContract.BridgeFailure
})

/**
 * The server's tools.
 *
 * @since 0.1.0
 * @category tools
 */
export const tools = Toolkit.make(PromptTool)

/**
 * The handlers of {@link tools}, answering through a bridge.
 *
 * @since 0.1.0
 * @category layers
 */
export const handlers = (bridge: Bridge.Service) =>
  tools.toLayer({
    prompt: (params) =>
      Effect.flatMap(
        bridge.answer({ ...params, systemPrompt: params.systemPrompt ?? null }),
        (answer) => (BridgeContract.isFailure(answer) ? Effect.fail(answer) : Effect.succeed(answer))
      )
  })

/**
 * The MCP revisions the server speaks, newest first.
 *
 * @since 0.1.0
 * @category constants
 */
export const protocols = [
  McpProtocol.v2025_11_25,
  McpProtocol.v2025_06_18,
  McpProtocol.v2025_03_26,
  McpProtocol.v2024_11_05
] as const

/** Every MCP run belongs to this owner (the host that started the server owns them all). */
const OWNER = "mcp"

/**
 * The tool name of a workflow: `workflow_` and its name, with characters tool names may not have
 * replaced by `_` (at most 64 characters).
 *
 * @since 0.1.0
 * @category tools
 */
export const workflowToolName = (name: string): string => `workflow_${name}`.replace(/[^A-Za-z0-9_-]/g, "_").slice(0, 64)

const budgetJsonSchema = Schema.toJsonSchemaDocument(BridgeContract.RequestBudget).schema

/** The arguments of a workflow's tool: its declared inputs (those without a default required). */
const workflowInputSchema = (file: WorkflowFile.WorkflowFile): McpSchema.ToolJson => {
  const properties: Record<string, Record<string, unknown>> = {}
  const required: Array<string> = []
  for (const [key, declared] of Object.entries(file.inputs ?? {})) {
    const spec = WorkflowFile.inputSpec(declared)
    properties[key] = {
      type: spec.type,
      ...(spec.description !== undefined ? { description: spec.description } : {}),
      ...(spec.default !== undefined ? { default: spec.default } : {})
    }
    if (spec.default === undefined) required.push(key)
  }
  return {
    type: "object",
    properties: {
      input: { type: "object", description: "The workflow's inputs.", properties, required, additionalProperties: false },
      budget: { ...budgetJsonSchema, description: "Limits for this run only, over the configured ones." }
    },
    ...(required.length > 0 ? { required: ["input"] } : {})
  }
}

const runResult = (run: WorkflowRunDocument.RunDocument): McpSchema.CallToolResult =>
  new McpSchema.CallToolResult({
    isError: run.status === "failed" || run.status === "cancelled",
    structuredContent: run,
    content: [{ type: "text", text: JSON.stringify(run) }]
  })

const failureResult = (failure: WorkflowRuns.RunFailure): McpSchema.CallToolResult =>
  new McpSchema.CallToolResult({ isError: true, content: [{ type: "text", text: JSON.stringify(failure.document) }] })

/**
 * Registers one tool per workflow of `runs`, and `workflow_status`, with the `McpServer`.
 *
 * @since 0.1.0
 * @category layers
 */
export const workflowTools = (runs: WorkflowRuns.Service, options: { readonly waitMs: number }) =>
  Layer.effectDiscard(Effect.gen(function*() {
    if (runs.workflows.size === 0) return
    const server = yield* McpServer.McpServer
    for (const [name, loaded] of runs.workflows) {
      yield* server.addTool({
        tool: new McpSchema.Tool({
          name: workflowToolName(name),
          description: `${loaded.file.description ?? `Runs the workflow ${name}`} (an llm-connect workflow: ${loaded.steps.length} steps, ` +
            "budgeted; answers with the run's state when it ends)",
          inputSchema: workflowInputSchema(loaded.file)
        }),
        annotations: Context.empty(),
        handle: (payload) =>
          runs.start(name, payload ?? {}, { name: OWNER }).pipe(
            Effect.flatMap((run) => runs.wait(run.runId, OWNER, options.waitMs)),
            Effect.map(({ run }) => runResult(run)),
            Effect.catch((failure) => Effect.succeed(failureResult(failure)))
          )
      })
    }
    yield* server.addTool({
      tool: new McpSchema.Tool({
        name: "workflow_status",
        description: "The state of a workflow run started by a workflow_ tool (status, steps done, outputs, usage)",
        inputSchema: { type: "object", properties: { runId: { type: "string" } }, required: ["runId"] }
      }),
      annotations: Context.empty(),
      handle: (payload: { readonly runId?: unknown } | undefined) =>
        runs.status(typeof payload?.runId === "string" ? payload.runId : "", OWNER).pipe(
          Effect.map(runResult),
          Effect.catch((failure) => Effect.succeed(failureResult(failure)))
        )
    })
  }))

/**
 * The MCP server over stdio (requires `Stdio`), with the tools of {@link tools} and, given
 * workflow runs, {@link workflowTools}.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerStdio = (
  bridge: Bridge.Service,
  options: { readonly version: string; readonly runs?: WorkflowRuns.Service | undefined; readonly waitMs?: number | undefined }
) =>
  McpServer.layerStdio({
    name: "llm-connect",
    version: options.version,
    description: "Budgeted LLM calls through llm-connect",
    protocols,
    registrations: Layer.mergeAll(
      McpServer.toolkit(tools).pipe(Layer.provide(handlers(bridge))),
      options.runs === undefined ? Layer.empty : workflowTools(options.runs, { waitMs: options.waitMs ?? DEFAULT_WAIT_MS })
    )
  })

/**
 * How long a workflow tool waits for its run by default before answering with the state so far
 * (10 minutes).
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_WAIT_MS = 10 * 60 * 1000
