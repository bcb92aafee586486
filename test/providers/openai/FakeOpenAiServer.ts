/**
 * A fake OpenAI chat-completions server on 127.0.0.1 (a random port) for the streaming tests of
 * the OpenAI-protocol providers: it records every request and answers with a reply computed from
 * it: a JSON body with any status, or a server-sent event stream written chunk by chunk (with a
 * pause between chunks), which can end normally, drop the connection or hang after its last
 * chunk. It reports when a client closed its socket before the reply was complete (an
 * interrupted stream), and how many bytes of event stream it wrote.
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
     * Holds the reply after `afterChunks` chunks until `until` resolves (with `afterChunks` equal to
     * the number of chunks: holds the end of the body): a test that releases it once its client has
     * shown what it read knows the rest was not written yet.
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
  /** How many connections clients opened so far (one, for calls that reuse theirs). */
  readonly connections: Effect.Effect<number>
  readonly setHandler: (handler: Handler) => void
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
      let chunksWritten = 0
      let connections = 0
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
              response.writeHead(reply.status ?? 200, {
                "content-type": typeof reply.body === "string" ? "text/plain" : "application/json",
                ...reply.headers
              })
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
// OpenAI chat-completion chunks
// -----------------------------------------------------------------------------

/** One server-sent event carrying `data` as JSON (or as is, for `[DONE]` and broken lines). */
export const data = (value: unknown): string => `data: ${typeof value === "string" ? value : JSON.stringify(value)}\n\n`

export const DONE = data("[DONE]")

export interface WireUsage {
  readonly prompt_tokens: number
  readonly completion_tokens: number
  readonly total_tokens: number
  readonly [extra: string]: unknown
}

export const usage: WireUsage = {
  prompt_tokens: 21,
  completion_tokens: 7,
  total_tokens: 28,
  prompt_tokens_details: { cached_tokens: 5, audio_tokens: 0 },
  completion_tokens_details: { reasoning_tokens: 2, audio_tokens: 0 }
}

/** A chunk as OpenAI sends it: `chat.completion.chunk` with one choice (or none, for the usage chunk). */
export const chunk = (
  choice: { readonly delta?: Record<string, unknown>; readonly finish_reason?: string | null } | undefined,
  extra: Record<string, unknown> = {}
) => ({
  id: "chatcmpl-stream-1",
  object: "chat.completion.chunk",
  created: 1_700_000_000,
  model: "gpt-4o-mini-2024-07-18",
  system_fingerprint: "fp_test",
  choices: choice === undefined ? [] : [{ index: 0, delta: choice.delta ?? {}, logprobs: null, finish_reason: choice.finish_reason ?? null }],
  ...extra
})

export interface StreamScript {
  readonly texts?: ReadonlyArray<string>
  readonly finishReason?: string
  /** The usage chunk's usage; `null` sends no usage chunk (a server that never reports it). */
  readonly usage?: Record<string, unknown> | null
  /** Whether `data: [DONE]` ends the stream (default true). */
  readonly done?: boolean
}

/** The events of a streamed text answer as OpenAI sends them: role, content deltas, finish, usage, [DONE]. */
export const textStream = (script: StreamScript = {}): Array<string> => {
  const texts = script.texts ?? ["Hel", "lo, ", "world"]
  const streamUsage = script.usage === undefined ? usage : script.usage
  return [
    data(chunk({ delta: { role: "assistant", content: "", refusal: null } })),
    ...texts.map((text) => data(chunk({ delta: { content: text } }))),
    data(chunk({ delta: {}, finish_reason: script.finishReason ?? "stop" })),
    ...(streamUsage === null ? [] : [data(chunk(undefined, { usage: streamUsage }))]),
    ...(script.done === false ? [] : [DONE])
  ]
}

export const sse = (chunks: ReadonlyArray<string>, extra: Partial<Extract<Reply, { _tag: "Sse" }>> = {}): Reply => ({
  _tag: "Sse",
  headers: { "x-request-id": "req_stream_1" },
  chunks,
  ...extra
})

/** An OpenAI error body with its status. */
export const apiError = (status: number, message: string, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}): Reply => ({
  _tag: "Json",
  status,
  headers: { "x-request-id": `req_${status}`, ...headers },
  body: { error: { message, type: "test", param: null, code: null, ...extra } }
})

export const lastUserText = (request: Recorded): string => {
  const body = request.body as { messages?: Array<{ role: string; content: string }> } | undefined
  const messages = body?.messages ?? []
  for (let index = messages.length - 1; index >= 0; index--) {
    if (messages[index]!.role === "user") return messages[index]!.content
  }
  return ""
}
