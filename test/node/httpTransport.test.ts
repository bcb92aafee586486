/**
 * The lean `node:http` transport (`src/node/internal/httpTransport.ts`, ADR 0059): what it sends,
 * what it reads, and what it closes, on real sockets against a server on 127.0.0.1:0.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Scope, Stream } from "effect"
import { HttpBody, HttpClient, HttpClientRequest } from "effect/http"
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo, Socket } from "node:net"
import * as HttpTransport from "../../src/node/internal/httpTransport.ts"

interface Received {
  readonly method: string
  readonly url: string
  readonly headers: IncomingMessage["headers"]
  readonly body: string
}

/** A server whose handler a test gives; it counts connections and reports closed sockets. */
const server = (handler: (request: IncomingMessage, response: ServerResponse, received: Received) => void) =>
  Effect.acquireRelease(
    Effect.promise(() =>
      new Promise<{ readonly origin: string; readonly connections: () => number; readonly closed: () => number; readonly close: () => void }>((resolve) => {
        let connections = 0
        let closed = 0
        const node = createServer((request, response) => {
          const chunks: Array<Buffer> = []
          request.on("data", (chunk: Buffer) => chunks.push(chunk))
          request.on("end", () =>
            handler(request, response, { method: request.method!, url: request.url!, headers: request.headers, body: Buffer.concat(chunks).toString("utf8") }))
        })
        node.on("connection", (socket: Socket) => {
          connections++
          socket.once("close", () => void closed++)
        })
        node.listen(0, "127.0.0.1", () =>
          resolve({
            origin: `http://127.0.0.1:${(node.address() as AddressInfo).port}`,
            connections: () => connections,
            closed: () => closed,
            close: () => void node.close(() => undefined).closeAllConnections()
          }))
      })
    ),
    (running) => Effect.sync(running.close)
  )

const client = Effect.map(HttpTransport.makeAgents({ keepAliveMs: 30_000 }), HttpTransport.make)

/** Polls `check` on real time until it holds (sockets close asynchronously). */
const eventually = (check: () => boolean) =>
  Effect.gen(function*() {
    for (let attempt = 0; attempt < 200 && !check(); attempt++) yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 10)))
    assert.isTrue(check())
  })

describe("the lean node:http transport", () => {
  it.live("sends the method, path, query, headers and body bytes; reads status, headers and JSON", () =>
    Effect.gen(function*() {
      const received: Array<Received> = []
      const upstream = yield* server((_, response, request) => {
        received.push(request)
        response.writeHead(201, { "content-type": "application/json", "x-request-id": "req_1", "set-cookie": ["a=1", "b=2"] })
        response.end(JSON.stringify({ ok: true }))
      })
      const http = yield* client
      const response = yield* http.execute(
        HttpClientRequest.post(`${upstream.origin}/v1/chat?x=1`, {
          headers: { authorization: "Bearer k" },
          body: HttpBody.text(JSON.stringify({ model: "m" }), "application/json")
        })
      )
      assert.strictEqual(response.status, 201)
      assert.strictEqual(response.headers["x-request-id"], "req_1")
      assert.strictEqual(response.cookies.cookies.a?.value, "1")
      assert.deepStrictEqual(yield* response.json, { ok: true })
      assert.strictEqual(received[0]!.method, "POST")
      assert.strictEqual(received[0]!.url, "/v1/chat?x=1")
      assert.strictEqual(received[0]!.headers.authorization, "Bearer k")
      assert.strictEqual(received[0]!.headers["content-type"], "application/json")
      assert.strictEqual(received[0]!.headers["content-length"], String(Buffer.byteLength(JSON.stringify({ model: "m" }))))
      assert.strictEqual(received[0]!.body, JSON.stringify({ model: "m" }))
    }))

  it.live("sends a streamed body and an empty one", () =>
    Effect.gen(function*() {
      const received: Array<Received> = []
      const upstream = yield* server((_, response, request) => {
        received.push(request)
        response.end("ok")
      })
      const http = yield* client
      const streamed = HttpClientRequest.post(`${upstream.origin}/up`).pipe(
        HttpClientRequest.setBody(HttpBody.stream(Stream.make(new TextEncoder().encode("a"), new TextEncoder().encode("b")), "text/plain"))
      )
      assert.strictEqual(yield* Effect.flatMap(http.execute(streamed), (response) => response.text), "ok")
      assert.strictEqual(yield* Effect.flatMap(http.get(`${upstream.origin}/down`), (response) => response.text), "ok")
      assert.deepStrictEqual(received.map((request) => [request.method, request.url, request.body]), [["POST", "/up", "ab"], ["GET", "/down", ""]])
    }))

  it.live("keeps the connection alive: sequential calls share one", () =>
    Effect.gen(function*() {
      const upstream = yield* server((_, response) => response.end("{}"))
      const http = yield* client
      for (let call = 0; call < 3; call++) assert.strictEqual(yield* Effect.flatMap(http.get(`${upstream.origin}/`), (response) => response.text), "{}")
      assert.strictEqual(upstream.connections(), 1)
    }))

  it.live("streams the body: a chunk arrives before the body ends", () =>
    Effect.gen(function*() {
      const second = yield* Deferred.make<void>()
      const upstream = yield* server((_, response) => {
        response.writeHead(200, { "content-type": "text/event-stream" })
        response.write("data: 1\n\n")
        // The second chunk and the end only once the client has read the first.
        Effect.runFork(Effect.andThen(Deferred.await(second), Effect.sync(() => response.end("data: 2\n\n"))))
      })
      const http = yield* client
      const response = yield* http.get(`${upstream.origin}/sse`)
      const chunks = yield* response.stream.pipe(
        Stream.decodeText(),
        Stream.tap((text) => text === "data: 1\n\n" ? Deferred.succeed(second, undefined) : Effect.void),
        Stream.runCollect
      )
      assert.deepStrictEqual(chunks, ["data: 1\n\n", "data: 2\n\n"])
    }))

  it.live("interrupted before the answer: the request is aborted, closing the socket", () =>
    Effect.gen(function*() {
      const arrived = yield* Deferred.make<void>()
      const upstream = yield* server(() => Effect.runFork(Deferred.succeed(arrived, undefined)))
      const http = yield* client
      const fiber = yield* Effect.forkChild(http.get(`${upstream.origin}/hang`))
      yield* Deferred.await(arrived)
      yield* Fiber.interrupt(fiber)
      yield* eventually(() => upstream.closed() === 1)
    }))

  it.live("interrupted while reading the body: the socket is closed; a body read to its end leaves it open", () =>
    Effect.gen(function*() {
      const upstream = yield* server((request, response) => {
        if (request.url === "/whole") return void response.end("done")
        response.writeHead(200, { "content-type": "text/event-stream" })
        response.write("data: 1\n\n")
      })
      const http = yield* client
      assert.strictEqual(yield* Effect.flatMap(http.get(`${upstream.origin}/whole`), (response) => response.text), "done")
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 20)))
      assert.strictEqual(upstream.closed(), 0)
      const response = yield* http.get(`${upstream.origin}/endless`)
      const fiber = yield* Effect.forkChild(response.text)
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 50)))
      yield* Fiber.interrupt(fiber)
      yield* eventually(() => upstream.closed() === 1)
      // The second call reused the first's connection, and closed it.
      assert.strictEqual(upstream.connections(), 1)
    }))

  it.live("a request tied to a scope (HttpClient.withScope) is aborted when the scope closes before its body's end", () =>
    Effect.gen(function*() {
      const upstream = yield* server((_, response) => {
        response.writeHead(200, { "content-type": "text/event-stream" })
        response.write("data: 1\n\n")
      })
      const http = HttpClient.withScope(yield* client)
      const scope = yield* Scope.make()
      const response = yield* Effect.provideService(http.get(`${upstream.origin}/sse`), Scope.Scope, scope)
      assert.strictEqual(response.status, 200)
      yield* Scope.close(scope, Exit.void)
      yield* eventually(() => upstream.closed() === 1)
      const read = yield* Effect.exit(response.text)
      assert.isTrue(Exit.isFailure(read))
    }))

  it.live("errors: a refused connection or a refused header is a TransportError, a body cut short a DecodeError", () =>
    Effect.gen(function*() {
      const upstream = yield* server((request, response) => {
        response.writeHead(200, { "content-length": "100" })
        response.write("partial")
        setTimeout(() => request.socket.destroy(), 10)
      })
      const http = yield* client
      const refused = yield* Effect.flip(http.get("http://127.0.0.1:1/"))
      assert.strictEqual(refused.reason._tag, "TransportError")
      const cut = yield* Effect.flip(Effect.flatMap(http.get(`${upstream.origin}/cut`), (response) => response.text))
      assert.strictEqual(cut.reason._tag, "DecodeError")
      // A body nobody reads, cut the same way: the process goes on (no unhandled 'error').
      const unread = yield* http.get(`${upstream.origin}/cut`)
      assert.strictEqual(unread.status, 200)
      yield* eventually(() => upstream.closed() >= 2)
      // A header node:http refuses is a TransportError, not a defect.
      const refusedHeader = yield* Effect.flip(http.execute(HttpClientRequest.get(`${upstream.origin}/`, { headers: { "x-bad": "a\nb" } })))
      assert.strictEqual(refusedHeader.reason._tag, "TransportError")
    }))
})
