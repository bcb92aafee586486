/**
 * A scriptable fake HTTP server on 127.0.0.1 (a random port) for provider tests: it records
 * every request, answers with a reply computed from it (status, headers, body, delay), can drop
 * the connection, and reports when a client closed its socket before the reply was sent.
 *
 * Built on node:http so that a test controls the socket itself (destroy it, hold it open).
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import { Effect, type Scope } from "effect"

export interface Recorded {
  readonly method: string
  readonly url: string
  readonly headers: Readonly<Record<string, string | undefined>>
  readonly body: unknown
  readonly rawBody: string
}

export interface Reply {
  readonly status?: number
  readonly headers?: Readonly<Record<string, string>>
  /** An object is sent as JSON; a string as is. */
  readonly body?: unknown
  /** Wait this long before answering. */
  readonly delayMs?: number
  /** Destroy the socket instead of answering. */
  readonly destroy?: boolean
  /** Never answer. */
  readonly hang?: boolean
  /**
   * Send `chunk` `count` times without a content-length (chunked), waiting for the client to
   * read each (or a `content-length` header may be given to declare a length); stops when the
   * client closes the connection.
   */
  readonly chunked?: { readonly chunk: string; readonly count: number }
}

export type Handler = (request: Recorded) => Reply

export interface FakeServer {
  readonly origin: string
  readonly requests: ReadonlyArray<Recorded>
  /** Resolves when the next (or a pending) request arrives. */
  readonly nextRequest: Effect.Effect<Recorded>
  /** Resolves when a client closes its connection before its reply was sent. */
  readonly abandoned: Effect.Effect<void>
  /** How many requests were abandoned by their client so far. */
  readonly abandonedTotal: Effect.Effect<number>
  /** Replaces the handler. */
  readonly setHandler: (handler: Handler) => void
  /** Body bytes written by chunked replies so far. */
  readonly chunkedBytesSent: () => number
}

const headerRecord = (request: IncomingMessage): Record<string, string | undefined> => {
  const out: Record<string, string | undefined> = {}
  for (const [key, value] of Object.entries(request.headers)) out[key] = Array.isArray(value) ? value.join(", ") : value
  return out
}

export const start = (initial: Handler): Effect.Effect<FakeServer, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(() => {
      let handler = initial
      const requests: Array<Recorded> = []
      let requestWaiters: Array<(request: Recorded) => void> = []
      let unclaimed: Array<Recorded> = []
      let abandonedCount = 0
      let abandonedTotal = 0
      let abandonWaiters: Array<() => void> = []
      let chunkedBytes = 0
      const server = createServer((request: IncomingMessage, response: ServerResponse) => {
        const chunks: Array<Buffer> = []
        request.on("data", (chunk: Buffer) => chunks.push(chunk))
        request.on("end", () => {
          const rawBody = Buffer.concat(chunks).toString("utf8")
          let body: unknown = rawBody
          try {
            body = rawBody === "" ? undefined : JSON.parse(rawBody)
          } catch {
            // not JSON: keep the text
          }
          const recorded: Recorded = {
            method: request.method ?? "",
            url: request.url ?? "",
            headers: headerRecord(request),
            body,
            rawBody
          }
          requests.push(recorded)
          if (requestWaiters.length > 0) {
            const waiters = requestWaiters
            requestWaiters = []
            for (const waiter of waiters) waiter(recorded)
          } else unclaimed.push(recorded)
          let answered = false
          response.on("close", () => {
            if (!answered) {
              abandonedCount++
              abandonedTotal++
              const waiters = abandonWaiters
              abandonWaiters = []
              for (const waiter of waiters) waiter()
            }
          })
          const reply = handler(recorded)
          if (reply.hang === true) return
          const send = () => {
            if (reply.destroy === true) {
              answered = true
              request.socket.destroy()
              return
            }
            if (response.destroyed) return
            const chunked = reply.chunked
            if (chunked !== undefined) {
              answered = true
              response.writeHead(reply.status ?? 200, { "content-type": "application/json", ...reply.headers })
              let left = chunked.count
              const pump = () => {
                while (left > 0 && !response.destroyed) {
                  left--
                  chunkedBytes += Buffer.byteLength(chunked.chunk)
                  if (!response.write(chunked.chunk)) return void response.once("drain", pump)
                }
                if (left === 0 && !response.destroyed) response.end()
              }
              pump()
              return
            }
            const text = reply.body === undefined ? "" : typeof reply.body === "string" ? reply.body : JSON.stringify(reply.body)
            answered = true
            response.writeHead(reply.status ?? 200, {
              "content-type": typeof reply.body === "string" ? "text/plain" : "application/json",
              ...reply.headers
            })
            response.end(text)
          }
          if (reply.delayMs !== undefined && reply.delayMs > 0) setTimeout(send, reply.delayMs)
          else send()
        })
      })
      return new Promise<{ server: typeof server; fake: FakeServer }>((resolve) => {
        server.listen(0, "127.0.0.1", () => {
          const port = (server.address() as AddressInfo).port
          const fake: FakeServer = {
            origin: `http://127.0.0.1:${port}`,
            requests,
            nextRequest: Effect.promise(() =>
              unclaimed.length > 0
                ? Promise.resolve(unclaimed.shift()!)
                : new Promise<Recorded>((resolve) => requestWaiters.push(resolve))
            ),
            abandoned: Effect.promise(() =>
              abandonedCount > 0
                ? Promise.resolve(void abandonedCount--)
                : new Promise<void>((resolve) => abandonWaiters.push(() => resolve(void abandonedCount--)))
            ),
            abandonedTotal: Effect.sync(() => abandonedTotal),
            setHandler: (next) => {
              handler = next
              unclaimed = []
            },
            chunkedBytesSent: () => chunkedBytes
          }
          resolve({ server, fake })
        })
      })
    }),
    ({ server }) =>
      Effect.promise(() =>
        new Promise<void>((resolve) => {
          server.closeAllConnections()
          server.close(() => resolve())
        })
      )
  ).pipe(Effect.map(({ fake }) => fake))
