/**
 * A fake Gemini API (`generateContent` and `streamGenerateContent?alt=sse`) for driving the real
 * `@google/genai` SDK offline. The server is the scriptable one of the Anthropic tests (JSON
 * replies with any status, or server-sent events written chunk by chunk with a pause, then an
 * end, a dropped connection or a hang; it reports sockets closed before the reply was complete);
 * this module writes Gemini's side of the wire.
 */
import * as FakeServer from "../anthropic/FakeAnthropicServer.ts"

export type { FakeServer as Server, Recorded, Reply } from "../anthropic/FakeAnthropicServer.ts"
export const start = FakeServer.start

export const KEY = "AIza-test-secret-key-0123456789"

/** Whether a request asked to stream (`:streamGenerateContent?alt=sse`). */
export const isStream = (request: FakeServer.Recorded): boolean => request.url.includes(":streamGenerateContent")

/** One server-sent event holding a chunk, framed as Google frames them (CRLF). */
export const event = (chunk: unknown): string => `data: ${JSON.stringify(chunk)}\r\n\r\n`

export interface UsageMetadata {
  readonly promptTokenCount?: number
  readonly candidatesTokenCount?: number
  readonly thoughtsTokenCount?: number
  readonly cachedContentTokenCount?: number
  readonly totalTokenCount?: number
}

/** A chunk of a streamed answer: the candidate's new parts, and what else is given. */
export const chunk = (options: {
  readonly parts?: ReadonlyArray<Record<string, unknown>>
  readonly finishReason?: string
  readonly usage?: UsageMetadata
  readonly modelVersion?: string
  readonly responseId?: string
  /** A checkpoint the SDK's automatic continuation would resume from. */
  readonly continuationToken?: string
}): Record<string, unknown> => ({
  candidates: [{
    content: { role: "model", parts: options.parts ?? [] },
    ...(options.finishReason !== undefined ? { finishReason: options.finishReason } : {}),
    ...(options.continuationToken !== undefined ? { continuationToken: options.continuationToken } : {}),
    index: 0
  }],
  ...(options.usage !== undefined ? { usageMetadata: options.usage } : {}),
  modelVersion: options.modelVersion ?? "gemini-2.5-flash",
  responseId: options.responseId ?? "resp-stream-1"
})

/**
 * The events of a streamed text answer, one per text: each chunk carries the running usage (as
 * Gemini sends it: the prompt count, and the output so far) unless `usage: false`; the last one
 * the finish reason.
 */
export const textStream = (
  texts: ReadonlyArray<string>,
  options: { readonly promptTokens?: number; readonly usage?: boolean; readonly finishReason?: string } = {}
): Array<string> => {
  const prompt = options.promptTokens ?? 12
  return texts.map((text, index) => {
    const last = index === texts.length - 1
    const output = (index + 1) * 2
    return event(chunk({
      parts: [{ text }],
      ...(last ? { finishReason: options.finishReason ?? "STOP" } : {}),
      ...(options.usage === false ? {} : {
        usage: { promptTokenCount: prompt, candidatesTokenCount: output, totalTokenCount: prompt + output }
      })
    }))
  })
}

/** An event stream reply. */
export const sse = (
  chunks: ReadonlyArray<string>,
  extra: Partial<Extract<FakeServer.Reply, { _tag: "Sse" }>> = {}
): FakeServer.Reply => ({ _tag: "Sse", chunks, ...extra })

/** A JSON reply. */
export const json = (body: unknown, status = 200, headers: Record<string, string> = {}): FakeServer.Reply => ({
  _tag: "Json",
  status,
  headers,
  body
})

/** Google's error body with its status. */
export const googleError = (
  status: number,
  code: string,
  message: string,
  details: ReadonlyArray<unknown> = [],
  headers: Record<string, string> = {}
): FakeServer.Reply => json({ error: { code: status, message, status: code, details } }, status, headers)

/** The text of the last user message of a request. */
export const lastUserText = (request: FakeServer.Recorded): string => {
  const contents = (request.body as { contents?: Array<{ role: string; parts: Array<{ text: string }> }> } | undefined)
    ?.contents ?? []
  return contents.at(-1)?.parts[0]?.text ?? ""
}
