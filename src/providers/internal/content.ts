/**
 * What a provider without tool support can send: text messages only.
 *
 * Until a provider maps tool calls and tool results (the tools issue), a request holding them is
 * refused with `Unsupported` before anything is sent, never silently flattened into text.
 *
 * @since 0.1.0
 * @internal
 */
import * as LlmError from "../../LlmError.ts"
import type { LlmRequest } from "../../LlmRequest.ts"
import * as Message from "../../Message.ts"

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
