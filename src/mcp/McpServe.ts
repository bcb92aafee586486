/**
 * llm-connect as an MCP server (`llm-connect mcp`): MCP hosts (Claude Code, IDEs, agents) call
 * our budgeted models through one tool, `prompt`, whose arguments are the bridge contract's
 * (prompt, system prompt, provider, model, maxTokens, temperature, and a per-call `budget`).
 * Every call goes through the bridge, so through the one config-to-stack path: the configured
 * provider, budget, retry, limits, timeouts, observability and ledger; a request's budget is a
 * fresh tracker per call, as on `/execute` and `bridge --jsonl`. A failure is the tool's error
 * result carrying the bridge's failure document (`error`, `errorType`, the reason's fields).
 *
 * Built on `effect/ai`'s `McpServer` (stdio, newline-delimited JSON-RPC), speaking every MCP
 * revision it implements, so hosts that speak an older one still connect.
 *
 * @since 0.1.0
 */
import { Effect, Layer, Schema } from "effect"
import * as McpProtocol from "effect/ai/McpProtocol"
import * as McpServer from "effect/ai/McpServer"
import * as AiTool from "effect/ai/Tool"
import * as Toolkit from "effect/ai/Toolkit"
import type * as Bridge from "../bridge/Bridge.ts"
import * as BridgeContract from "../bridge/BridgeContract.ts"

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

/**
 * The MCP server over stdio (requires `Stdio`), with the tools of {@link tools}.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerStdio = (bridge: Bridge.Service, options: { readonly version: string }) =>
  McpServer.layerStdio({
    name: "llm-connect",
    version: options.version,
    description: "Budgeted LLM calls through llm-connect",
    protocols,
    registrations: McpServer.toolkit(tools).pipe(Layer.provide(handlers(bridge)))
  })
