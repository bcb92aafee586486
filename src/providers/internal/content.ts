/**
 * What every provider checks about a request's content and tools before sending it.
 *
 * A provider without tool support (claude-code) refuses a request holding tool calls or tool
 * results ({@link nonText}) or declaring tools ({@link noTools}) with `Unsupported` before
 * anything is sent, never silently flattening it into text or dropping the tools. Every provider
 * refuses tools that cannot be sent ({@link invalidTools}) with `InvalidRequest`.
 *
 * @since 0.1.0
 * @internal
 */
import * as LlmError from "../../LlmError.ts"
import type { LlmRequest } from "../../LlmRequest.ts"
import * as Message from "../../Message.ts"
import * as Tool from "../../Tool.ts"

/**
 * The `Unsupported` error for a request with non-text content, or `undefined` when every message
 * is text.
 *
 * @since 0.1.0
 * @internal
 */
export const nonText = (provider: string, request: LlmRequest, model: string): LlmError.LlmError | undefined => {
  for (let index = 0; index < request.messages.length; index++) {
    const message = request.messages[index]!
    if (message.role !== "tool" && Message.isText(message)) continue
    return LlmError.make(
      provider,
      new LlmError.Unsupported({
        description: `messages[${index}] holds ${message.role === "tool" ? "tool results" : "tool calls"}, which ${provider} ` +
          `cannot send yet; send text content only`,
        feature: "tool-calls"
      }),
      { model }
    )
  }
  return undefined
}

/**
 * The `InvalidRequest` error for a request whose tools cannot be sent (a name declared twice, a
 * tool choice naming an undeclared tool, `required` with no tools), or `undefined`.
 *
 * @since 0.1.0
 * @internal
 */
export const invalidTools = (provider: string, request: LlmRequest, model: string): LlmError.LlmError | undefined => {
  if (request.tools === undefined && request.toolChoice === undefined) return undefined
  const problem = Tool.checkDeclarations(request.tools, request.toolChoice)
  if (problem === undefined) return undefined
  return LlmError.make(
    provider,
    new LlmError.InvalidRequest({ description: problem.description, parameter: problem.parameter }),
    { model }
  )
}

/**
 * The `Unsupported` error of a provider that offers no tools, for a request that declares some
 * (or sets a tool choice other than `none`), or `undefined`.
 *
 * @since 0.1.0
 * @internal
 */
export const noTools = (provider: string, request: LlmRequest, model: string): LlmError.LlmError | undefined => {
  const declared = request.tools !== undefined && request.tools.length > 0
  const choice = request.toolChoice !== undefined && request.toolChoice !== "none" && request.toolChoice !== "auto"
  if (!declared && !choice) return undefined
  return LlmError.make(
    provider,
    new LlmError.Unsupported({
      description: `${provider} does not offer tool calling: the request declares ` +
        (declared ? `${request.tools!.length} tool(s)` : `toolChoice ${JSON.stringify(request.toolChoice)}`) +
        `; send it without tools, or use a provider with tools (openai, anthropic, gemini, openrouter, openai-compatible, mock)`,
      feature: "tools"
    }),
    { model }
  )
}

/**
 * The `Unsupported` error of a provider that offers no structured output, for a request that
 * asks for it (`responseFormat`), or `undefined`.
 *
 * @since 0.1.0
 * @internal
 */
export const noResponseFormat = (provider: string, request: LlmRequest, model: string): LlmError.LlmError | undefined =>
  request.responseFormat === undefined ? undefined : LlmError.make(
    provider,
    new LlmError.Unsupported({
      description: `${provider} does not offer structured output: the request asks for a JSON object (responseFormat); ` +
        `send it without a schema, or use a provider with structured output (openai, anthropic, gemini, openrouter, openai-compatible, mock)`,
      feature: "structured-output"
    }),
    { model }
  )
