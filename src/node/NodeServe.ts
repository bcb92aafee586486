/**
 * `llm-connect serve` on Node: the platform's HTTP server for `Server.make` / `Serve.make`.
 *
 * {@link listen} binds a `node:http` server through `NodeHttpServer`, created with
 * `requestTimeout: 0` (long streams and slow uploads are not cut at Node's 300 s default; the
 * server's own per-request timeout applies), the keep-alive timeout of `serve.keepAliveTimeout`
 * (65 s by default, not Node's 5 s: the clients and load balancers in front close idle
 * connections first, ADR 0054), a headers timeout longer than that, and at most
 * `serve.maxConnections` client connections (at the cap the idle ones are closed; beyond it, all
 * busy, new ones are refused: what bounds the connections kept idle). Stopping accepting closes
 * the listening socket and the idle keep-alive connections; busy ones close once their response
 * has ended. It turns V8's memory reducer off for the process (`--no-memory-reducer`): its
 * idle-time collections stalled the server for 100-200 ms about once per 2 s under a steady
 * load (ADR 0039, docs/performance.md stop 25). In their place it runs one full collection when
 * the server goes idle (a whole second without a request, the old generation grown by 16 MB or
 * more, and still none once the input already arrived has been read): without it V8 ran the full
 * collection its load had earned at the first requests after the idle spell (ADR 0044,
 * docs/performance.md stop 27; the read first: ADR 0051, stop 28).
 *
 * {@link providers} is the built-in providers on serve's HTTP client: a lean `node:http` client with
 * keep-alive agents (ADR 0059: less garbage kept through the young generation's collections per
 * call than Effect's undici client), which keeps idle connections to a provider for 30 s when the
 * provider sends no shorter keep-alive hint (undici's default is 4 s). {@link providersUndici} is the
 * same on Effect's undici client (`LLM_CONNECT_SERVE_TRANSPORT=undici`).
 *
 * @since 0.1.0
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { Effect, Layer } from "effect"
import { createServer, type Server as NodeServer } from "node:http"
import type { Socket } from "node:net"
import { setFlagsFromString } from "node:v8"
import * as BuiltinProviders from "../providers/BuiltinProviders.ts"
import * as ServeConfig from "../server/ServeConfig.ts"
import * as Server from "../server/Server.ts"
import * as NodeProviders from "./NodeProviders.ts"
import * as HttpTransport from "./internal/httpTransport.ts"
import * as IdleCollection from "./internal/idleCollection.ts"

/**
 * The headers timeout when nothing asks for a longer one, ms (Node's default; it bounds how long a
 * client may take to send a request's headers).
 *
 * @since 0.1.0
 * @category constants
 */
export const HEADERS_TIMEOUT_MS = 60_000

/**
 * The `node:http` server options for a connection policy: no request timeout (serve's own
 * applies), the keep-alive timeout, and a headers timeout of at least {@link HEADERS_TIMEOUT_MS}
 * and more than the keep-alive timeout plus Node's 1 s buffer (a request arriving on a connection
 * just before its keep-alive timeout must not meet a shorter headers timeout).
 *
 * @since 0.1.0
 * @category listening
 */
export const serverOptions = (connections: Server.Connections) => ({
  requestTimeout: 0,
  keepAliveTimeout: connections.keepAliveTimeoutMs,
  headersTimeout: Math.max(HEADERS_TIMEOUT_MS, connections.keepAliveTimeoutMs + 2_000)
})

/**
 * Serve's connection policy when the caller gives none: `serve`'s defaults.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultConnections: Server.Connections = {
  keepAliveTimeoutMs: ServeConfig.DEFAULT_KEEP_ALIVE_TIMEOUT_MS,
  maxConnections: ServeConfig.DEFAULT_MAX_CONNECTIONS
}

/**
 * Holds a server to `maxConnections` client connections: Node refuses (closes at once) a new
 * one beyond the cap, and when the count reaches the cap the idle keep-alive connections are
 * closed, so that connections kept idle never lock new clients out (their own clients reconnect).
 *
 * @since 0.1.0
 * @category listening
 */
export const capConnections = (server: NodeServer, maxConnections: number): void => {
  server.maxConnections = maxConnections
  let open = 0
  const closed = () => void open--
  // Before Node's own listener registers the new connection: it is not among the idle ones closed.
  // `on`, not `once`: a socket closes once, and `once` allocated a wrapper and its bound function
  // per connection and removed the listener on close (about 400 bytes a connection; ADR 0061).
  server.prependListener("connection", (socket: Socket) => {
    open++
    socket.on("close", closed)
    if (open >= maxConnections) server.closeIdleConnections()
  })
}

/**
 * The Node listener.
 *
 * @since 0.1.0
 * @category listening
 * @example
 * const running = yield* Serve.make(resolved, { listen: NodeServe.listen, port: 0 })
 */
export const listen: Server.Listen = (address) =>
  Effect.gen(function*() {
    // A server's process: V8's memory reducer (collections it schedules when the allocation rate
    // looks low) stalled requests for 100-200 ms under a steady open-loop load; the heap's
    // ordinary collections still run (ADR 0039).
    setFlagsFromString("--no-memory-reducer")
    const connections = address.connections ?? defaultConnections
    const nodeServer = createServer(serverOptions(connections))
    capConnections(nodeServer, connections.maxConnections)
    // The full collection the memory reducer would have run while idle, and only then (ADR 0044).
    let requestsStarted = 0
    let requestsInFlight = 0
    // Once serve stops accepting (the drain), a connection whose response ends is closed as soon
    // as it is idle, and answers say `Connection: close`: kept-alive connections would otherwise
    // hold the process for the keep-alive timeout (65 s) after the last call.
    let closing = false
    const closeIdle = () => nodeServer.closeIdleConnections()
    const ended = () => {
      requestsInFlight--
      if (closing) setImmediate(closeIdle)
    }
    nodeServer.on("request", (_request, response) => {
      requestsStarted++
      requestsInFlight++
      if (closing) response.shouldKeepAlive = false
      // A response closes once (`on`: no wrapper per request, ADR 0061).
      response.on("close", ended)
    })
    const collect = IdleCollection.processCollector()
    yield* Effect.forkScoped(IdleCollection.run({
      requestsStarted: () => requestsStarted,
      requestsInFlight: () => requestsInFlight,
      oldGenerationUsed: IdleCollection.oldSpaceUsed,
      collect,
      // A request already waiting in a socket when the check's timer fires is read first (stop 28).
      settle: IdleCollection.settleIo
    }))
    const server = yield* NodeHttpServer.make(() => nodeServer, { host: address.host, port: address.port }).pipe(
      Effect.mapError((error) => new Server.ServeError({ message: `cannot listen on ${address.host}:${address.port}: ${String(error.cause)}` }))
    )
    const stopAccepting = Effect.sync(() => {
      closing = true
      nodeServer.close()
      nodeServer.closeIdleConnections()
    })
    return { server, stopAccepting }
  })

/**
 * How long serve keeps an idle connection to a provider open when the provider's answers carry no
 * keep-alive hint, ms. Undici's default is 4 s: after a quiet spell longer than that, a gateway's
 * first request paid a new connection (TCP and TLS, tens of ms to a provider over the internet).
 * A provider's own shorter hint (`Keep-Alive: timeout=N`) still decides when it sends one (less
 * 1 s, `node:http`'s agent; on undici the hint decides, capped at 10 minutes); servers that send
 * none usually keep idle connections longer (nginx 75 s, AWS load balancers 60 s by default; ADR
 * 0044, docs/performance.md stop 27).
 *
 * @since 0.1.0
 * @category constants
 */
export const PROVIDER_KEEP_ALIVE_MS = 30_000

/**
 * Serve's options for its providers' HTTP client when it runs on undici ({@link platformUndici}: undici's `Agent`).
 *
 * @since 0.1.0
 * @category layers
 */
export const providerClientOptions = { keepAliveTimeout: PROVIDER_KEEP_ALIVE_MS } as const

/**
 * `NodeProviders.platform` with serve's HTTP client: the lean `node:http` transport with
 * keep-alive agents that keep idle connections {@link PROVIDER_KEEP_ALIVE_MS} (ADR 0059).
 *
 * @since 0.1.0
 * @category layers
 */
export const platform = NodeProviders.platformWith(HttpTransport.layer({ keepAliveMs: PROVIDER_KEEP_ALIVE_MS }))

/**
 * `NodeProviders.platform` with serve's previous HTTP client, Effect's undici one with
 * {@link providerClientOptions} (ADR 0059: what serve ran on before stop 30).
 *
 * @since 0.1.0
 * @category layers
 */
export const platformUndici = NodeProviders.platformWith(NodeHttpClient.layerUndiciOptions(providerClientOptions))

/**
 * The built-in providers on serve's platform ({@link platform}): what `llm-connect serve` runs with.
 *
 * @since 0.1.0
 * @category layers
 */
export const providers = BuiltinProviders.layer.pipe(Layer.provide(platform))

/**
 * The built-in providers on {@link platformUndici}: serve's providers on Effect's undici client, as
 * before stop 30 (`LLM_CONNECT_SERVE_TRANSPORT=undici llm-connect serve`, ADR 0059).
 *
 * @since 0.1.0
 * @category layers
 */
export const providersUndici = BuiltinProviders.layer.pipe(Layer.provide(platformUndici))
