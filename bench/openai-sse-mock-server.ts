/**
 * A minimal OpenAI chat-completions mock for the streaming benchmark: 0 ms latency, keep-alive,
 * one fixed answer. A request with `"stream": true` gets it as server-sent events (three content
 * chunks, the last with `finish_reason`, then the usage chunk and `data: [DONE]`, each event
 * written as its own write); any other request gets it as one JSON completion, as
 * bench/openai-mock-server.ts answers. A path starting `/c<N>/` (base URL `.../c51/v1`) gets an
 * answer in N content chunks instead (`internal/sseAnswer.ts`), for the per-chunk cost. Run in its own process (bench/streaming.ts spawns it) so
 * that its CPU is not counted as the client's. Prints the port on stdout once it listens.
 */
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { chunksOfPath, contentChunks } from "./internal/sseAnswer.ts"

const USAGE = {
  prompt_tokens: 21,
  completion_tokens: 9,
  total_tokens: 30,
  prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
  completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0 }
}

const common = { id: "chatcmpl-bench", created: 1_700_000_000, model: "gpt-4o-mini", system_fingerprint: "fp_bench" }

const json = JSON.stringify({
  ...common,
  object: "chat.completion",
  choices: [{
    index: 0,
    message: { role: "assistant", content: contentChunks(3).join(""), refusal: null },
    logprobs: null,
    finish_reason: "stop"
  }],
  usage: USAGE
})
const jsonLength = String(Buffer.byteLength(json))

const event = (chunk: Record<string, unknown>) => `data: ${JSON.stringify({ ...common, object: "chat.completion.chunk", ...chunk })}\n\n`

/** The events of an answer in `chunks` content chunks (built once per chunk count). */
const eventsOf = (chunks: number): ReadonlyArray<string> => {
  const content = contentChunks(chunks)
  return [
    ...content.map((text, index) =>
      event({
        choices: [{
          index: 0,
          delta: index === 0 ? { role: "assistant", content: text, refusal: null } : { content: text },
          logprobs: null,
          finish_reason: index === content.length - 1 ? "stop" : null
        }]
      })
    ),
    event({ choices: [], usage: USAGE }),
    "data: [DONE]\n\n"
  ]
}
const eventsByChunks = new Map<number, ReadonlyArray<string>>()

const server = createServer((request, response) => {
  const chunks: Array<Buffer> = []
  request.on("data", (chunk: Buffer) => chunks.push(chunk))
  request.on("end", () => {
    const streamed = Buffer.concat(chunks).includes("\"stream\":true")
    if (!streamed) {
      response.writeHead(200, { "content-type": "application/json", "content-length": jsonLength, "x-request-id": "req_bench" })
      response.end(json)
      return
    }
    response.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache", "x-request-id": "req_bench" })
    const count = chunksOfPath(request.url)
    let events = eventsByChunks.get(count)
    if (events === undefined) eventsByChunks.set(count, events = eventsOf(count))
    for (const text of events) response.write(text)
    response.end()
  })
})
server.keepAliveTimeout = 60_000
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`${(server.address() as AddressInfo).port}\n`)
})
process.on("SIGTERM", () => server.close(() => process.exit(0)))
