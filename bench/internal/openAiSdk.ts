/**
 * The `openai` SDK as a reference client of the HTTP benchmarks (bench/openai-adapter.ts,
 * bench/stack-http.ts, bench/streaming.ts): `chat.completions.create` against a local mock
 * (maxRetries 0), `calls` calls with `concurrency` in flight (a pool of workers), each reply checked.
 */
import OpenAI from "openai"
import type { ChatCompletionMessageParam } from "openai/resources/chat/completions"
import { pool } from "./load.ts"

/** The request's body: the model and its messages. */
export interface SdkBody {
  readonly model: string
  readonly messages: Array<ChatCompletionMessageParam>
}

const sdkOf = (baseUrl: string) => new OpenAI({ baseURL: baseUrl, apiKey: "test", maxRetries: 0 })

/** Non-streamed calls; `check` receives each reply's content (and throws on a wrong one). */
export const sdkChat = (baseUrl: string, body: SdkBody, check: (content: unknown) => void) => {
  const sdk = sdkOf(baseUrl)
  return (calls: number, concurrency: number): Promise<void> =>
    pool(calls, concurrency, async () => {
      const completion = await sdk.chat.completions.create(body)
      check(completion.choices[0]?.message.content)
    })
}

/**
 * Streamed calls (`stream: true` with the usage chunk), each read to its end: `check` receives the
 * text put together and the usage.
 */
export const sdkChatStream = (baseUrl: string, body: SdkBody, check: (text: string, usage: unknown) => void) => {
  const sdk = sdkOf(baseUrl)
  return (calls: number, concurrency: number): Promise<void> =>
    pool(calls, concurrency, async () => {
      const stream = await sdk.chat.completions.create({ ...body, stream: true, stream_options: { include_usage: true } })
      let text = ""
      let usage: unknown
      for await (const chunk of stream) {
        text += chunk.choices[0]?.delta.content ?? ""
        if (chunk.usage !== undefined && chunk.usage !== null) usage = chunk.usage
      }
      check(text, usage)
    })
}
