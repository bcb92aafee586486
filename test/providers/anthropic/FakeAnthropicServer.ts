/**
 * A fake Anthropic Messages API on 127.0.0.1 (a random port) for the provider's tests: it records
 * every request and answers with a reply computed from it: a JSON body with any status, or a
 * server-sent event stream written chunk by chunk (with a pause between chunks), which can end
 * normally, drop the connection or hang after its last chunk. It reports when a client closed its
 * socket before the reply was complete (an interrupted stream).
 *
 * Built on node:http so that a test controls the socket itself.
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

export type Reply =
  | {
    readonly _tag: "Json"
    readonly status?: number
    readonly headers?: Readonly<Record<string, string>>
    /** An object is sent as JSON; a string as is. */
    readonly body: unknown
  }
  | {
    readonly _tag: "Sse"
    readonly headers?: Readonly<Record<string, string>>
    /** Written one by one, `pauseMs` apart. */
    readonly chunks: ReadonlyArray<string>
    readonly pauseMs?: number
    /** After the last chunk: end the response (default), drop the connection, or keep it open. */
    readonly then?: "end" | "destroy" | "hang"
    /**
     * Once `afterChunks` chunks are written, write nothing more (nor end, drop or hang) until
     * `until` resolves: a test that opens it when its client has shown what it read knows the
     * rest was not written yet, however slowly the machine delivers.
     */
    readonly hold?: { readonly afterChunks: number; readonly until: Promise<void> }
  }
  | { readonly _tag: "Destroy" }
  | { readonly _tag: "Hang" }

export type Handler = (request: Recorded) => Reply

export interface FakeServer {
  readonly origin: string
  readonly requests: ReadonlyArray<Recorded>
  /** Resolves when the next (or a pending) request arrives. */
  readonly nextRequest: Effect.Effect<Recorded>
  /** Resolves when a client closes its connection before its reply was complete. */
  readonly abandoned: Effect.Effect<void>
  /** How many replies were abandoned by their client so far. */
  readonly abandonedTotal: Effect.Effect<number>
  /** How many SSE chunks were written so far. */
  readonly chunksWritten: Effect.Effect<number>
  /** How many TCP connections clients opened so far (reused keep-alive connections count once). */
  readonly connections: Effect.Effect<number>
  readonly setHandler: (handler: Handler) => void
}

/** One server-sent event: `event: <type>` and the JSON data `{ type, ...data }`. */
export const event = (type: string, data: Record<string, unknown> = {}): string =>
  `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`

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
      let chunksWritten = 0
      let abandonWaiters: Array<() => void> = []
      const timers = new Set<NodeJS.Timeout>()
      const later = (ms: number, f: () => void) => {
        const timer = setTimeout(() => {
          timers.delete(timer)
          f()
        }, ms)
        timers.add(timer)
      }
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
          const recorded: Recorded = { method: request.method ?? "", url: request.url ?? "", headers: headerRecord(request), body, rawBody }
          requests.push(recorded)
          if (requestWaiters.length > 0) {
            const waiters = requestWaiters
            requestWaiters = []
            for (const waiter of waiters) waiter(recorded)
          } else unclaimed.push(recorded)
          let complete = false
          response.on("close", () => {
            if (complete) return
            abandonedCount++
            abandonedTotal++
            const waiters = abandonWaiters
            abandonWaiters = []
            for (const waiter of waiters) waiter()
          })
          const reply = handler(recorded)
          switch (reply._tag) {
            case "Hang":
              return
            case "Destroy":
              complete = true
              request.socket.destroy()
              return
            case "Json": {
              const text = typeof reply.body === "string" ? reply.body : JSON.stringify(reply.body)
              complete = true
              response.writeHead(reply.status ?? 200, { "content-type": "application/json", ...reply.headers })
              response.end(text)
              return
            }
            case "Sse": {
              response.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache", ...reply.headers })
              response.flushHeaders()
              let held = false
              const write = (index: number): void => {
                if (response.destroyed) return
                if (reply.hold !== undefined && index === reply.hold.afterChunks && !held) {
                  held = true
                  void reply.hold.until.then(() => write(index))
                  return
                }
                if (index >= reply.chunks.length) {
                  if (reply.then === "hang") return
                  complete = true
                  // A drop comes after what was written has left (destroy discards unsent data).
                  if (reply.then === "destroy") later(20, () => request.socket.destroy())
                  else response.end()
                  return
                }
                response.write(reply.chunks[index]!)
                chunksWritten++
                if (reply.pauseMs !== undefined && reply.pauseMs > 0) later(reply.pauseMs, () => write(index + 1))
                else write(index + 1)
              }
              write(0)
              return
            }
          }
        })
      })
      let connections = 0
      server.on("connection", () => void connections++)
      return new Promise<{ server: typeof server; fake: FakeServer; timers: Set<NodeJS.Timeout> }>((resolve) => {
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
            chunksWritten: Effect.sync(() => chunksWritten),
            connections: Effect.sync(() => connections),
            setHandler: (next) => {
              handler = next
              unclaimed = []
            }
          }
          resolve({ server, fake, timers })
        })
      })
    }),
    ({ server, timers }) =>
      Effect.promise(() =>
        new Promise<void>((resolve) => {
          for (const timer of timers) clearTimeout(timer)
          server.closeAllConnections()
          server.close(() => resolve())
        })
      )
  ).pipe(Effect.map(({ fake }) => fake))

// -----------------------------------------------------------------------------
// Anthropic replies
// -----------------------------------------------------------------------------

export const KEY = "sk-ant-api03-test-secret-0123456789abcdef"

export const lastUserText = (request: Recorded): string => {
  const body = request.body as { messages?: Array<{ role: string; content: unknown }> } | undefined
  const messages = body?.messages ?? []
  for (let index = messages.length - 1; index >= 0; index--) {
    const message = messages[index]!
    if (message.role !== "user") continue
    if (typeof message.content === "string") return message.content
    return (message.content as Array<{ type: string; text?: string }>).map((block) => block.text ?? "").join("")
  }
  return ""
}

export interface WireUsage {
  readonly input_tokens: number
  readonly output_tokens: number
  readonly cache_creation_input_tokens?: number
  readonly cache_read_input_tokens?: number
}

export const usage: WireUsage = { input_tokens: 21, output_tokens: 7, cache_creation_input_tokens: 4, cache_read_input_tokens: 10 }

/** A message (non-streaming) echoing the last user text. */
export const messageBody = (request: Recorded, overrides: Record<string, unknown> = {}) => ({
  id: "msg_test_1",
  type: "message",
  role: "assistant",
  model: (request.body as { model?: string } | undefined)?.model ?? "claude-haiku-4-5",
  content: [{ type: "text", text: `echo: ${lastUserText(request)}`, citations: null }],
  stop_reason: "end_turn",
  stop_sequence: null,
  usage: { ...usage, service_tier: "standard" },
  ...overrides
})

export const ok = (request: Recorded, overrides: Record<string, unknown> = {}): Reply => ({
  _tag: "Json",
  headers: { "request-id": "req_test_123" },
  body: messageBody(request, overrides)
})

/** An Anthropic error body with its status. */
export const apiError = (status: number, type: string, message: string, headers: Record<string, string> = {}): Reply => ({
  _tag: "Json",
  status,
  headers: { "request-id": `req_${status}`, ...headers },
  body: { type: "error", error: { type, message }, request_id: `req_${status}` }
})

export interface StreamScript {
  readonly model?: string
  readonly texts?: ReadonlyArray<string>
  /** `message_start`'s usage; `null` sends none. */
  readonly startUsage?: Record<string, unknown> | null
  /** `message_delta`'s usage; `null` sends none. */
  readonly deltaUsage?: Record<string, unknown> | null
  readonly stopReason?: string
}

/** The events of a streamed text answer, one chunk per event. */
export const textStream = (script: StreamScript = {}): Array<string> => {
  const texts = script.texts ?? ["Hel", "lo, ", "world"]
  const startUsage = script.startUsage === undefined
    ? { input_tokens: 21, output_tokens: 1, cache_creation_input_tokens: 4, cache_read_input_tokens: 10 }
    : script.startUsage
  const deltaUsage = script.deltaUsage === undefined ? { output_tokens: 9 } : script.deltaUsage
  return [
    event("message_start", {
      message: {
        id: "msg_stream_1",
        type: "message",
        role: "assistant",
        model: script.model ?? "claude-haiku-4-5",
        content: [],
        stop_reason: null,
        stop_sequence: null,
        ...(startUsage === null ? {} : { usage: startUsage })
      }
    }),
    event("content_block_start", { index: 0, content_block: { type: "text", text: "" } }),
    event("ping"),
    ...texts.map((text) => event("content_block_delta", { index: 0, delta: { type: "text_delta", text } })),
    event("content_block_stop", { index: 0 }),
    event("message_delta", {
      delta: { stop_reason: script.stopReason ?? "end_turn", stop_sequence: null },
      ...(deltaUsage === null ? {} : { usage: deltaUsage })
    }),
    event("message_stop")
  ]
}

export const sse = (chunks: ReadonlyArray<string>, extra: Partial<Extract<Reply, { _tag: "Sse" }>> = {}): Reply => ({
  _tag: "Sse",
  headers: { "request-id": "req_stream_1" },
  chunks,
  ...extra
})
