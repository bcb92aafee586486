/**
 * The HTTP server core of `llm-connect serve`: an Effect `HttpRouter` on `NodeHttpServer`, with
 * the protections every route gets, in this order around a route's handler:
 *
 * 1. draining: after {@link Server.drain} starts, a new request gets 503 (`connection: close`);
 * 2. load shedding: at most `maxInFlight` requests at once; one more gets 503 with `retry-after`
 *    (shed, not queued: memory stays bounded);
 * 3. body limit: a `content-length` over `maxBodyBytes` gets 413 unread; a chunked body is cut
 *    at the limit ({@link bodyJson});
 * 4. authentication: the {@link Authenticate} hook names the caller (an {@link Identity}, e.g.
 *    a virtual key's name) or refuses with 401; without keys every caller is `anonymous`;
 * 5. the per-request timeout (`requestTimeoutMs`, a stream included): 504, or the connection cut
 *    once a stream has started.
 *
 * A client that disconnects interrupts its handler's fiber (NodeHttpServer does this), so the
 * model call is aborted and its usage charged by the budget and ledger layers below. Each
 * request gets one JSON access-log line after its response is sent: method, path, status,
 * latency, tokens and the caller's name; never a key, a prompt or a query string.
 *
 * Routes are plain values ({@link Route}); a door adds its own (see `Serve.ts`). The platform's
 * server comes from a {@link Listen} function (on Node: `NodeServe.listen` in `llm-connect/node`,
 * a Node server with `requestTimeout: 0`, so long streams are not cut at 300 s), so this module
 * stays platform-neutral.
 *
 * @since 0.1.0
 */
import { ByteSize, Clock, Context, Data, Effect, Exit, Metric, Option, type Scope, Stream, SubscriptionRef } from "effect"
import { HttpRouter, type HttpServer, type HttpServerError, HttpServerRequest, HttpServerResponse } from "effect/http"
import type * as BridgeContract from "../bridge/BridgeContract.ts"
import * as BridgeContractModule from "../bridge/BridgeContract.ts"
import * as HttpErrors from "./HttpErrors.ts"

/**
 * Who is calling: the name of the caller's key (a virtual key, later), never the key itself.
 *
 * @since 0.1.0
 * @category models
 */
export interface Identity {
  readonly name: string
  /** An admin key: sees every key's usage (`GET /v1/usage`). */
  readonly admin?: boolean | undefined
  /** Wraps the route's handler (a virtual key's budget: sets it as the request's parent budget). */
  readonly provide?: (<A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>) | undefined
  /** Runs once after the response is sent, with the request's record (a key's tpm and concurrency). */
  readonly release?: ((record: RequestRecord) => Effect.Effect<void>) | undefined
  /**
   * Counts tokens spent for this caller after its request ended (a workflow run it started): they
   * count toward the key's tpm as a request's do.
   */
  readonly charge?: ((tokens: number) => Effect.Effect<void>) | undefined
}

/**
 * The identity of every caller when no keys are configured (loopback, or `--no-auth`).
 *
 * @since 0.1.0
 * @category constants
 */
export const ANONYMOUS: Identity = { name: "anonymous" }

/**
 * The authentication hook: names the caller of a request, or refuses it (401).
 *
 * @since 0.1.0
 * @category models
 */
export type Authenticate = (request: HttpServerRequest.HttpServerRequest) => Effect.Effect<Identity, BridgeContract.BridgeFailure>

/**
 * What one request did, filled in by its handler, read by the access log.
 *
 * @since 0.1.0
 * @category models
 */
export interface RequestRecord {
  identity: Identity
  tokensIn: number
  tokensOut: number
  model: string | undefined
}

/**
 * The current request's record.
 *
 * @since 0.1.0
 * @category services
 */
export class CurrentRequest extends Context.Service<CurrentRequest, RequestRecord>()("llm-connect/server/CurrentRequest") {}

/**
 * Adds a call's tokens (and its model) to the current request's access-log line.
 *
 * @since 0.1.0
 * @category recording
 */
export const noteUsage = (usage: { readonly tokensIn: number; readonly tokensOut: number; readonly model?: string | undefined }) =>
  Effect.serviceOption(CurrentRequest).pipe(
    Effect.map((current) => {
      if (Option.isNone(current)) return
      current.value.tokensIn += usage.tokensIn
      current.value.tokensOut += usage.tokensOut
      if (usage.model !== undefined) current.value.model = usage.model
    })
  )

/**
 * How a route renders a failure the core produced (503, 413, 401, 504) in its protocol.
 *
 * @since 0.1.0
 * @category models
 */
export type RenderFailure = (failure: BridgeContract.BridgeFailure) => unknown

/**
 * A route: method, path, handler, how its failures look, and whether load shedding applies
 * (not to `/health`, `/ready` and `/metrics`, which must answer when the server is busy).
 *
 * @since 0.1.0
 * @category models
 */
export interface Route {
  readonly method: "GET" | "POST" | "DELETE" | "PUT"
  readonly path: `/${string}`
  readonly handler: Effect.Effect<
    HttpServerResponse.HttpServerResponse,
    never,
    HttpServerRequest.HttpServerRequest | Scope.Scope | CurrentRequest | HttpRouter.RouteContext
  >
  readonly render?: RenderFailure | undefined
  readonly shed?: boolean | undefined
  /** Answered without a key even when virtual keys are on (`/health`, `/ready`: probes). */
  readonly open?: boolean | undefined
}

/**
 * One access-log line.
 *
 * @since 0.1.0
 * @category models
 */
export interface AccessLogLine {
  readonly time: string
  readonly method: string
  readonly path: string
  readonly status: number
  readonly latencyMs: number
  readonly key: string
  readonly tokensIn: number
  readonly tokensOut: number
  readonly model?: string | undefined
  readonly outcome: "ok" | "error" | "aborted"
}

/**
 * The server's settings.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly listen: Listen
  readonly host: string
  readonly port: number
  readonly maxInFlight: number
  readonly requestTimeoutMs: number
  readonly maxBodyBytes: number
  readonly authenticate?: Authenticate | undefined
  readonly accessLog?: ((line: AccessLogLine) => Effect.Effect<void>) | undefined
}

/**
 * A listening platform server, and how to stop accepting new connections (the drain's first step).
 *
 * @since 0.1.0
 * @category models
 */
export interface Listening {
  readonly server: HttpServer.HttpServer["Service"]
  readonly stopAccepting: Effect.Effect<void>
}

/**
 * Binds the platform's HTTP server to a host and port in the current scope.
 *
 * @since 0.1.0
 * @category models
 */
export type Listen = (address: { readonly host: string; readonly port: number }) => Effect.Effect<Listening, ServeError, Scope.Scope>

/**
 * A running server.
 *
 * @since 0.1.0
 * @category models
 */
export interface Server {
  readonly host: string
  readonly port: number
  /** `http://HOST:PORT` (IPv6 hosts in brackets). */
  readonly url: string
  /** Requests in flight now. */
  readonly inFlight: Effect.Effect<number>
  /**
   * Stops accepting (new connections refused, new requests on open ones 503), then waits up to
   * `timeoutMs` for the requests in flight; returns how many were still running at the end
   * (closing the scope stops them).
   */
  readonly drain: (timeoutMs: number) => Effect.Effect<number>
}

/**
 * The server could not start (the port is taken, the address cannot be bound).
 *
 * @since 0.1.0
 * @category errors
 */
export class ServeError extends Data.TaggedError("ServeError")<{ readonly message: string }> {}

/**
 * A JSON response.
 *
 * @since 0.1.0
 * @category responses
 */
export const json = (body: unknown, status = 200, headers: Record<string, string> = {}): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.jsonUnsafe(body, { status, headers })

/**
 * The failure of a request in the bridge's words, with its mapped status and `retry-after`.
 *
 * @since 0.1.0
 * @category responses
 */
export const failureResponse = (
  failure: BridgeContract.BridgeFailure,
  render: RenderFailure = (document) => document
): HttpServerResponse.HttpServerResponse => json(render(failure), HttpErrors.statusOf(failure), HttpErrors.retryAfterOf(failure))

/**
 * The largest body the current request may have (set by the core from `maxBodyBytes`).
 *
 * @since 0.1.0
 * @category services
 */
export const MaxBody = Context.Reference<number>("llm-connect/server/MaxBody", { defaultValue: () => 4 * 1024 * 1024 })

/**
 * Reads the request's body as JSON: fails with a 413 failure past the limit, `InvalidInput`
 * when it is not JSON.
 *
 * @since 0.1.0
 * @category requests
 */
export const bodyJson: Effect.Effect<unknown, BridgeContract.BridgeFailure, HttpServerRequest.HttpServerRequest> = Effect.gen(
  function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const limit = yield* MaxBody
    const text = yield* request.text.pipe(
      Effect.provideService(HttpServerRequest.MaxBodySize, ByteSize.bytes(limit)),
      Effect.mapError((error: HttpServerError.HttpServerError) =>
        error.reason._tag === "RequestParseError" && error.reason.reason === "BodyTooLarge"
          ? HttpErrors.tooLarge(limit)
          : BridgeContractModule.invalidInput(`cannot read the request body: ${error.message}`).document
      )
    )
    const parsed = BridgeContractModule.parseJson(text)
    if (parsed._tag === "Failure") return yield* Effect.fail(parsed.failure.document)
    return parsed.success
  }
)

/**
 * The requests in flight now (a Prometheus gauge on `/metrics`).
 *
 * @since 0.1.0
 * @category metrics
 */
export const requestsInFlight = Metric.gauge("llm_connect_serve_requests_in_flight", {
  description: "HTTP requests the server is handling now (responses being streamed included)"
})

/**
 * The requests answered, by status.
 *
 * @since 0.1.0
 * @category metrics
 */
export const requestsTotal = Metric.counter("llm_connect_serve_requests_total", {
  description: "HTTP requests answered, by status",
  incremental: true
})

const isLoopback = (host: string): boolean => host === "localhost" || host === "::1" || /^127\./.test(host)

/**
 * Whether a host is a loopback address (served without keys).
 *
 * @since 0.1.0
 * @category auth
 */
export const loopback = isLoopback

const formatUrl = (host: string, port: number): string => `http://${host.includes(":") ? `[${host}]` : host}:${port}`

const pathOf = (url: string): string => {
  const index = url.indexOf("?")
  return index === -1 ? url : url.slice(0, index)
}

/**
 * Starts the server in the current scope (closing the scope stops it and the requests in flight).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  routes: ReadonlyArray<Route>,
  options: Options
): Effect.Effect<Server, ServeError, Scope.Scope> =>
  Effect.gen(function*() {
    const inFlight = yield* SubscriptionRef.make(0)
    let draining = false
    // The record of each request, by its Node request (the router hands handlers the same one).
    const records = new WeakMap<object, RequestRecord>()
    const authenticate: Authenticate = options.authenticate ?? (() => Effect.succeed(ANONYMOUS))

    const guard = (route: Route) => {
      const render = route.render ?? ((document: BridgeContract.BridgeFailure) => document)
      const fail = (failure: BridgeContract.BridgeFailure) => Effect.succeed(failureResponse(failure, render))
      return Effect.gen(function*() {
        const request = yield* HttpServerRequest.HttpServerRequest
        if (draining) {
          return HttpServerResponse.setHeader(failureResponse(HttpErrors.shuttingDown, render), "connection", "close")
        }
        const length = Number(request.headers["content-length"] ?? "0")
        if (Number.isFinite(length) && length > options.maxBodyBytes) {
          return HttpServerResponse.setHeader(failureResponse(HttpErrors.tooLarge(options.maxBodyBytes), render), "connection", "close")
        }
        const identity = yield* (route.open === true ? Effect.succeed(ANONYMOUS) : authenticate(request)).pipe(Effect.result)
        if (identity._tag === "Failure") return yield* fail(identity.failure)
        const record = records.get(request.source as object) ?? { identity: ANONYMOUS, tokensIn: 0, tokensOut: 0, model: undefined }
        record.identity = identity.success
        const provide = identity.success.provide
        return yield* (provide === undefined ? route.handler : provide(route.handler)).pipe(
          Effect.provideService(CurrentRequest, record),
          Effect.provideService(MaxBody, options.maxBodyBytes),
          Effect.timeoutOrElse({
            duration: options.requestTimeoutMs,
            orElse: () => fail(HttpErrors.requestTimedOut(options.requestTimeoutMs))
          })
        )
      })
    }

    const router = yield* HttpRouter.make
    for (const route of routes) {
      const shed = route.shed ?? true
      const render = route.render ?? ((document: BridgeContract.BridgeFailure) => document)
      const handler = shed
        ? Effect.flatMap(
          SubscriptionRef.get(inFlight),
          (count) =>
            // The outer wrapper counted this request already.
            count > options.maxInFlight
              ? Effect.succeed(failureResponse(HttpErrors.overloaded(options.maxInFlight), render))
              : guard(route)
        )
        : guard(route)
      yield* router.add(route.method, route.path, handler)
    }
    const app = router.asHttpEffect()

    // Around sending the response too: counts the request while its body streams, cuts a
    // stream at the request timeout, writes the access-log line once it is sent.
    const { server, stopAccepting } = yield* options.listen({ host: options.host, port: options.port })
    const log = options.accessLog
    yield* server.serve(
      app,
      (self) =>
        Effect.gen(function*() {
          const request = yield* HttpServerRequest.HttpServerRequest
          const start = yield* Clock.currentTimeMillis
          const record: RequestRecord = { identity: ANONYMOUS, tokensIn: 0, tokensOut: 0, model: undefined }
          records.set(request.source as object, record)
          const written = (exit: Exit.Exit<HttpServerResponse.HttpServerResponse, unknown>) =>
            Effect.gen(function*() {
              yield* Metric.update(requestsInFlight, yield* SubscriptionRef.updateAndGet(inFlight, (count) => count - 1))
              const status = Exit.isSuccess(exit) ? exit.value.status : 499
              if (record.identity.release !== undefined) yield* record.identity.release(record)
              yield* Metric.update(Metric.withAttributes(requestsTotal, { status: String(status) }), 1)
              if (log === undefined) return
              const end = yield* Clock.currentTimeMillis
              yield* log({
                time: new Date(end).toISOString(),
                method: request.method,
                path: pathOf(request.url),
                status,
                latencyMs: end - start,
                key: record.identity.name,
                tokensIn: record.tokensIn,
                tokensOut: record.tokensOut,
                ...(record.model !== undefined ? { model: record.model } : {}),
                outcome: Exit.isSuccess(exit) ? (status < 400 ? "ok" : "error") : "aborted"
              })
            })
          return yield* Effect.acquireUseRelease(
            Effect.flatMap(SubscriptionRef.updateAndGet(inFlight, (count) => count + 1), (count) => Metric.update(requestsInFlight, count)),
            // The request fiber starts uninterruptible (HttpEffect); the router makes only the
            // handler interruptible, and the timeout races on another fiber: make the wait here
            // interruptible so that a client's disconnect reaches the call.
            () => Effect.interruptible(Effect.timeout(self, options.requestTimeoutMs + 1_000)),
            (_, exit) => written(exit)
          )
        })
    )
    const address = server.address
    const port = address._tag === "UnixPathAddress" ? options.port : address.port
    return {
      host: options.host,
      port,
      url: formatUrl(options.host, port),
      inFlight: SubscriptionRef.get(inFlight),
      drain: (timeoutMs) =>
        Effect.gen(function*() {
          draining = true
          yield* stopAccepting
          yield* SubscriptionRef.changes(inFlight).pipe(
            Stream.takeUntil((count) => count === 0),
            Stream.runDrain,
            Effect.timeoutOrElse({ duration: timeoutMs, orElse: () => Effect.void })
          )
          return yield* SubscriptionRef.get(inFlight)
        })
    } satisfies Server
  })
