// A fake OpenAI chat-completions server on 127.0.0.1:0 that counts the requests it receives and
// answers each after `delayMs` with a fixed usage (5 input + 20 output tokens), or, with `hang`,
// never answers (calls stay in flight). `onRequest` runs as each request arrives, before its answer.
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"

export interface FakeProvider {
  readonly origin: string
  readonly received: () => number
  readonly close: () => Promise<void>
}

export const usagePerCall = { prompt_tokens: 5, completion_tokens: 20, total_tokens: 25 }

export const startFakeProvider = async (options: {
  readonly delayMs: number
  readonly hang?: boolean
  /** Runs as each request arrives, before it is answered (e.g. to pause Redis). */
  readonly onRequest?: () => Promise<void>
}): Promise<FakeProvider> => {
  let received = 0
  const server = createServer((request, response) => {
    const chunks: Array<Buffer> = []
    request.on("data", (chunk: Buffer) => chunks.push(chunk))
    request.on("end", () => {
      received++
      if (options.hang === true) return
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { model: string }
      const arrived = options.onRequest === undefined ? Promise.resolve() : options.onRequest()
      void arrived.then(() => setTimeout(() => {
        response.writeHead(200, { "content-type": "application/json" })
        response.end(JSON.stringify({
          id: `chatcmpl-${received}`,
          object: "chat.completion",
          created: 0,
          model: body.model,
          choices: [{ index: 0, message: { role: "assistant", content: "ok" }, finish_reason: "stop" }],
          usage: usagePerCall
        }))
      }, options.delayMs))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const { port } = server.address() as AddressInfo
  return {
    origin: `http://127.0.0.1:${port}`,
    received: () => received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
  }
}
