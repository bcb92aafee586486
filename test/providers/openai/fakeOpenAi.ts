/**
 * Replies of a fake OpenAI chat-completions server, for the provider tests and the CLI test.
 */
import type { Recorded, Reply } from "../FakeHttpServer.ts"

export const lastUserText = (request: Recorded): string => {
  const body = request.body as { messages?: Array<{ role: string; content: string }> } | undefined
  const messages = body?.messages ?? []
  for (let index = messages.length - 1; index >= 0; index--) {
    if (messages[index]!.role === "user") return messages[index]!.content
  }
  return ""
}

export const completionBody = (request: Recorded, overrides: Record<string, unknown> = {}) => {
  const body = request.body as { model?: string } | undefined
  return {
    id: "chatcmpl-test-1",
    object: "chat.completion",
    created: 1_700_000_000,
    model: body?.model ?? "gpt-4o-mini",
    system_fingerprint: "fp_test",
    choices: [{
      index: 0,
      message: { role: "assistant", content: `echo: ${lastUserText(request)}`, refusal: null },
      logprobs: null,
      finish_reason: "stop"
    }],
    usage: {
      prompt_tokens: 21,
      completion_tokens: 7,
      total_tokens: 28,
      prompt_tokens_details: { cached_tokens: 5, audio_tokens: 0 },
      completion_tokens_details: { reasoning_tokens: 2, audio_tokens: 0 }
    },
    ...overrides
  }
}

/** A successful completion echoing the last user message, with a request id header. */
export const ok = (request: Recorded, overrides: Record<string, unknown> = {}): Reply => ({
  status: 200,
  headers: { "x-request-id": "req_test_123" },
  body: completionBody(request, overrides)
})
