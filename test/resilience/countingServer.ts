/**
 * A fake OpenAI chat-completions server on 127.0.0.1 (random port) that answers after a delay
 * and records how many requests it held at once.
 */
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { Effect, type Scope } from "effect"

export interface CountingServer {
  readonly origin: string
  /** Requests received so far. */
  readonly received: () => number
  /** The most requests held at the same time. */
  readonly maxInFlight: () => number
}

export const completion = (model: string, content: string) => ({
  id: "chatcmpl-bench",
  object: "chat.completion",
  created: 1_700_000_000,
  model,
  choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "stop" }],
  usage: { prompt_tokens: 12, completion_tokens: 5, total_tokens: 17 }
})

export const start = (delayMs: number): Effect.Effect<CountingServer, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(() => {
      let inFlight = 0
      let max = 0
      let received = 0
      const body = JSON.stringify(completion("gpt-4o-mini", "ok"))
      const server = createServer((request, response) => {
        received++
        inFlight++
        max = Math.max(max, inFlight)
        request.resume()
        request.on("end", () => {
          setTimeout(() => {
            inFlight--
            response.writeHead(200, { "content-type": "application/json" })
            response.end(body)
          }, delayMs)
        })
      })
      return new Promise<{ server: typeof server; counting: CountingServer }>((resolve) =>
        server.listen(0, "127.0.0.1", () =>
          resolve({
            server,
            counting: {
              origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
              received: () => received,
              maxInFlight: () => max
            }
          }))
      )
    }),
    ({ server }) =>
      Effect.promise(() =>
        new Promise<void>((resolve) => {
          server.closeAllConnections()
          server.close(() => resolve())
        })
      )
  ).pipe(Effect.map(({ counting }) => counting))
