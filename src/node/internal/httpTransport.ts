/**
 * A lean `HttpClient` over `node:http` / `node:https` with keep-alive agents: the providers' HTTP
 * transport in `llm-connect serve` (issue 16, stop 30; ADR 0059).
 *
 * Effect's `HttpClient.make` does the client's part (the URL, the span and trace headers, the
 * `AbortController` aborted on interruption or when a scoped request's scope closes); this module
 * only sends the request on a `node:http` `ClientRequest` and wraps the `IncomingMessage` as an
 * `HttpClientResponse` whose body is read by `@effect/platform-node`'s `NodeHttpIncomingMessage`
 * (`text`, `json`, `arrayBuffer`, `stream`: chunks as they arrive). Compared with
 * `NodeHttpClient.layerUndici` it costs less CPU per call and leaves almost nothing for the
 * young generation's collections to promote (docs/performance.md stop 30); compared with
 * `NodeHttpClient.layerNodeHttp` it has no upload fiber and no race per request: a body the
 * providers send is bytes, written at once.
 *
 * - **Bodies**: empty, bytes (`HttpBody.text`, `HttpBody.uint8Array`, raw), a `Stream` (piped) and
 *   `FormData` (encoded by the global `Response`). Upgrades (`101`) are not supported: they fail
 *   with a `TransportError` (`NodeHttpClient.layerUndici` has them).
 * - **Aborting**: the request's `AbortSignal` (interruption, a closed request scope) destroys the
 *   `ClientRequest` until its response has ended: the socket is closed, the server sees it; a
 *   pending body read fails. Once the response has ended the connection is back in the pool and
 *   an abort does nothing.
 * - **Errors**: a failure before the response's head (refused, reset, DNS) is a `TransportError`;
 *   one while reading the body a `DecodeError` (as `NodeHttpClient` maps them).
 * - **No timeouts of its own**: Effect's timeouts (and the providers' idle timeouts) decide; the
 *   agents' `timeout` only closes connections left idle in the pool.
 *
 * @since 0.1.0
 * @internal
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { NodeHttpIncomingMessage } from "@effect/platform-node/NodeHttpIncomingMessage"
import * as NodeStream from "@effect/platform-node/NodeStream"
import { Effect, Layer, type Scope } from "effect"
import {
  Cookies,
  Headers,
  type HttpBody,
  HttpClient,
  HttpClientError,
  type HttpClientRequest,
  HttpClientResponse
} from "effect/http"
import { pipeArguments } from "effect/Pipeable"
import type * as Http from "node:http"
import type * as Https from "node:https"
import { createRequire } from "node:module"
import { Readable } from "node:stream"

// `node:http` through `require`: importing it as ESM evaluates its lazy WebSocket exports, which
// loads undici (as `@effect/platform-node` does for its own `node:http` client).
const require = createRequire(import.meta.url)
const http: typeof Http = require("node:http")
const https: typeof Https = require("node:https")

/**
 * The transport's options.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * How long a connection may sit idle in the pool before it is closed, ms (a server's shorter
   * `Keep-Alive: timeout=N` hint wins, less 1 s: `node:http`'s agent).
   */
  readonly keepAliveMs: number
  /** Further agent options (TLS: `ca`, `cert`, `key`, `rejectUnauthorized`; `maxSockets`, ...). */
  readonly agent?: Https.AgentOptions | undefined
}

/**
 * The `http` and `https` keep-alive agents, destroyed (their sockets closed) when the scope closes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeAgents = (options: Options): Effect.Effect<NodeHttpClient.HttpAgent["Service"], never, Scope.Scope> =>
  NodeHttpClient.makeAgent({ ...options.agent, keepAlive: true, timeout: options.keepAliveMs })

/**
 * The client over the given agents.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (agents: NodeHttpClient.HttpAgent["Service"]): HttpClient.HttpClient =>
  HttpClient.make((request, url, signal) =>
    Effect.callback<HttpClientResponse.HttpClientResponse, HttpClientError.HttpClientError>((resume) => {
      if (request.headers.upgrade !== undefined) {
        resume(Effect.fail(transportError(request, undefined, "upgrades are not supported by this transport")))
        return
      }
      const secure = url.protocol === "https:"
      const hostname = url.hostname
      let nodeRequest: Http.ClientRequest
      try {
        nodeRequest = (secure ? https : http).request({
          agent: secure ? agents.https : agents.http,
          protocol: url.protocol,
          // An IPv6 literal without its brackets (as `node:http` takes it from a URL).
          hostname: hostname.charCodeAt(0) === 91 ? hostname.slice(1, -1) : hostname,
          port: url.port,
          path: url.pathname + url.search,
          method: request.method,
          headers: request.headers
        })
      } catch (cause) {
        // A header `node:http` refuses (a control character in a value, an invalid name).
        resume(Effect.fail(transportError(request, cause)))
        return
      }
      let settled = false
      const onAbort = () => nodeRequest.destroy(abortError(signal))
      const onError = (cause: Error) => {
        // After the response's head, a socket error also reaches the response (its body read fails).
        if (settled) return
        settled = true
        resume(Effect.fail(transportError(request, cause)))
      }
      // Until the response has ended (the request's `close`), an abort closes the socket.
      const onClose = () => signal.removeEventListener("abort", onAbort)
      nodeRequest.on("error", onError)
      nodeRequest.once("close", onClose)
      nodeRequest.once("response", (source: Http.IncomingMessage) => {
        if (settled) return void source.destroy()
        settled = true
        resume(Effect.succeed(new NodeHttpResponse(request, source, url.href.split("#")[0]!)))
      })
      if (signal.aborted) onAbort()
      else signal.addEventListener("abort", onAbort, { once: true })
      send(nodeRequest, request.body, onError)
      // Interrupted before the response's head: the request is destroyed (its socket closed).
      return Effect.sync(() => {
        settled = true
        nodeRequest.destroy()
      })
    })
  )

/**
 * The client as a layer: keep-alive agents with `options`, closed with the layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<HttpClient.HttpClient> =>
  Layer.effect(HttpClient.HttpClient, Effect.map(makeAgents(options), make))

const send = (nodeRequest: Http.ClientRequest, body: HttpBody.HttpBody, onError: (cause: Error) => void): void => {
  switch (body._tag) {
    case "Empty":
      nodeRequest.end()
      return
    case "Uint8Array":
    case "Raw":
      // One write: `node:http` sends a `content-length` for it when the request has none.
      nodeRequest.end(body.body as Uint8Array)
      return
    case "Stream":
      pipe(nodeRequest, NodeStream.toReadableNever(body.stream), onError)
      return
    case "FormData": {
      // The global `Response` encodes it (its boundary in the content type it gives).
      const encoded = new globalThis.Response(body.formData)
      nodeRequest.setHeader("content-type", encoded.headers.get("content-type")!)
      pipe(nodeRequest, Readable.fromWeb(encoded.body! as import("node:stream/web").ReadableStream<Uint8Array>), onError)
      return
    }
  }
}

const pipe = (nodeRequest: Http.ClientRequest, readable: Readable, onError: (cause: Error) => void): void => {
  readable.once("error", (cause) => {
    onError(cause)
    nodeRequest.destroy(cause)
  })
  nodeRequest.once("close", () => readable.destroy())
  readable.pipe(nodeRequest)
}

const abortError = (signal: AbortSignal): Error =>
  signal.reason instanceof Error ? signal.reason : new Error("The request was aborted")

const transportError = (request: HttpClientRequest.HttpClientRequest, cause: unknown, description?: string) =>
  new HttpClientError.HttpClientError({
    reason: new HttpClientError.TransportError({ request, cause, ...(description !== undefined ? { description } : {}) })
  })

const textDecoder = new TextDecoder()
const ignore = () => undefined

class NodeHttpResponse extends NodeHttpIncomingMessage<HttpClientError.HttpClientError> implements HttpClientResponse.HttpClientResponse {
  readonly [HttpClientResponse.TypeId]: typeof HttpClientResponse.TypeId
  readonly request: HttpClientRequest.HttpClientRequest
  readonly url: string
  private cachedHeaders: Headers.Headers | undefined
  private cachedCookies: Cookies.Cookies | undefined

  constructor(request: HttpClientRequest.HttpClientRequest, source: Http.IncomingMessage, url: string) {
    super(source, (cause) =>
      new HttpClientError.HttpClientError({
        reason: new HttpClientError.DecodeError({ request, response: this, cause })
      }))
    this[HttpClientResponse.TypeId] = HttpClientResponse.TypeId
    this.request = request
    this.url = url
    // A body nobody reads may still be cut (the server resets the connection): not a crash.
    source.on("error", ignore)
  }

  private body: Buffer | undefined
  private reading: Effect.Effect<Buffer, HttpClientError.HttpClientError> | undefined

  // The body whole: its chunks gathered until its end (a failure or a close before the end fails
  // the read; interrupting it destroys the response, closing the socket). Read once, kept.
  private get whole(): Effect.Effect<Buffer, HttpClientError.HttpClientError> {
    return this.reading ??= Effect.callback<Buffer, HttpClientError.HttpClientError>((resume) => {
      if (this.body !== undefined) return resume(Effect.succeed(this.body))
      const source = this.source
      // Aborted (or failed) before this read began: nothing more will come.
      if (source.destroyed && !source.complete) return resume(Effect.fail(this.onError(source.errored ?? new Error("the response was aborted"))))
      const chunks: Array<Buffer> = []
      const onData = (chunk: Buffer) => void chunks.push(chunk)
      const cleanup = () => {
        source.off("data", onData)
        source.off("end", onEnd)
        source.off("error", onFailure)
        source.off("close", onClose)
      }
      const onEnd = () => {
        cleanup()
        const body = this.body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)
        // After `node:http` has queued the connection's return to the pool (a tick of its own):
        // a next request made at once by the reader then reuses it rather than opening another.
        process.nextTick(resume, Effect.succeed(body))
      }
      const onFailure = (cause: unknown) => {
        cleanup()
        resume(Effect.fail(this.onError(cause)))
      }
      const onClose = () => onFailure(new Error("the response closed before its end"))
      source.on("data", onData)
      source.once("end", onEnd)
      source.once("error", onFailure)
      source.once("close", onClose)
      return Effect.sync(() => {
        cleanup()
        source.destroy()
      })
    })
  }

  override get arrayBuffer(): Effect.Effect<ArrayBuffer, HttpClientError.HttpClientError> {
    return Effect.map(this.whole, (body) =>
      (body.byteOffset === 0 && body.buffer.byteLength === body.byteLength
        ? body.buffer
        : body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength)) as ArrayBuffer)
  }

  override get text(): Effect.Effect<string, HttpClientError.HttpClientError> {
    return Effect.map(this.whole, (body) => textDecoder.decode(body))
  }

  get status(): number {
    return this.source.statusCode!
  }

  // Read several times per call by the providers (content length, request id, content type).
  override get headers(): Headers.Headers {
    return this.cachedHeaders ??= Headers.fromInput(this.source.headers)
  }

  get cookies(): Cookies.Cookies {
    if (this.cachedCookies !== undefined) return this.cachedCookies
    const header = this.source.headers["set-cookie"]
    return this.cachedCookies = header === undefined ? Cookies.empty : Cookies.fromSetCookie(header)
  }

  get formData(): Effect.Effect<FormData, HttpClientError.HttpClientError> {
    return Effect.flatMap(this.arrayBuffer, (bytes) =>
      Effect.tryPromise({
        try: () => new globalThis.Response(bytes, { headers: new globalThis.Headers(this.headers) }).formData(),
        catch: this.onError
      }))
  }

  get upgrade(): Effect.Effect<never, HttpClientError.HttpClientError> {
    return Effect.fail(
      new HttpClientError.HttpClientError({
        reason: new HttpClientError.StatusCodeError({
          request: this.request,
          response: this,
          description: "upgrades are not supported by this transport"
        })
      })
    )
  }

  toJSON(): unknown {
    return { _id: "effect/http/HttpClientResponse", request: this.request.toJSON(), status: this.status }
  }

  pipe() {
    return pipeArguments(this, arguments)
  }
}
