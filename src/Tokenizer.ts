/**
 * Counting tokens locally.
 *
 * Used where a provider reports no usage (the response is then marked `estimated`), by the mock
 * provider to report realistic usage, and by budgets to size reservations. The count uses the
 * `o200k_base` BPE encoding (`gpt-tokenizer`), which matches current OpenAI models exactly and
 * other providers approximately.
 *
 * Chat framing: every message costs {@link MESSAGE_FRAMING_TOKENS} tokens besides its text,
 * and every request {@link REQUEST_FRAMING_TOKENS} (the assistant's reply priming), as in
 * OpenAI's published counting recipe.
 *
 * @since 0.1.0
 */
import { countTokens as countBpe } from "gpt-tokenizer"
import type { LlmRequest } from "./LlmRequest.ts"
import * as Message from "./Message.ts"

/**
 * Tokens each message costs besides its text (role and separators).
 *
 * @since 0.1.0
 * @category constants
 */
export const MESSAGE_FRAMING_TOKENS = 3

/**
 * Tokens each request costs besides its messages (the reply priming).
 *
 * @since 0.1.0
 * @category constants
 */
export const REQUEST_FRAMING_TOKENS = 3

/**
 * Counts the BPE tokens of a text.
 *
 * @since 0.1.0
 * @category counting
 */
export const countText = (text: string): number => (text.length === 0 ? 0 : countBpe(text))

/**
 * Counts the input tokens of a request: its system prompt and messages, with chat framing.
 *
 * @since 0.1.0
 * @category counting
 */
export const countRequest = (request: LlmRequest): number => {
  let total = REQUEST_FRAMING_TOKENS
  if (request.system !== undefined) total += MESSAGE_FRAMING_TOKENS + countText(request.system)
  for (const message of request.messages) total += MESSAGE_FRAMING_TOKENS + countText(Message.text(message))
  return total
}

/**
 * A cheap upper bound on the input tokens of a request, without running the tokenizer: a BPE
 * token is at least one UTF-8 byte, so the byte length bounds the token count.
 *
 * @since 0.1.0
 * @category counting
 */
export const boundRequest = (request: LlmRequest): number => {
  let total = REQUEST_FRAMING_TOKENS
  if (request.system !== undefined) total += MESSAGE_FRAMING_TOKENS + Buffer.byteLength(request.system, "utf8")
  for (const message of request.messages) {
    total += MESSAGE_FRAMING_TOKENS + Buffer.byteLength(Message.text(message), "utf8")
  }
  return total
}
