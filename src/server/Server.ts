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
 * 5. the per-request timeout (`requestTimeoutMs` from the request's start, a stream included):
 *    504, or the connection cut 1 s later once a stream has started.
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
import { ByteSize, Cause, Clock, Context, Data, Deferred, Effect, Exit, Fiber, Metric, Option, Scope, Tracer } from "effect"
import {
  HttpEffect,
  HttpMiddleware,
  HttpRouter,
  type HttpServer,
  type HttpServerError,
  HttpServerRequest,
  HttpServerResponse,
  HttpTraceContext
} from "effect/http"
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
  Effect.withFiber<void>((fiber) => {
    const current = Context.getOption(fiber.context, CurrentRequest)
    if (Option.isSome(current)) {
      current.value.tokensIn += usage.tokensIn
      current.value.tokensOut += usage.tokensOut
      if (usage.model !== undefined) current.value.model = usage.model
    }
    return Effect.void
  })

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
  /** Client connections' keep-alive timeout and cap, passed to `listen`. */
  readonly connections?: Connections | undefined
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
export type Listen = (
  address: { readonly host: string; readonly port: number; readonly connections?: Connections | undefined }
) => Effect.Effect<Listening, ServeError, Scope.Scope>

/**
 * How the listener treats client connections (`serve.keepAliveTimeout`, `serve.maxConnections`):
 * how long an idle one is kept open, and the most at once (at the cap idle ones are closed; beyond
 * it new ones are refused). A listener given none keeps the platform's defaults.
 *
 * @since 0.1.0
 * @category models
 */
export interface Connections {
  readonly keepAliveTimeoutMs: number
  readonly maxConnections: number
}

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
export const json = (body: unknown, status = 200, headers?: Record<string, string>): HttpServerResponse.HttpServerResponse =>
  // Without extra headers none are parsed (the platform's empty headers are shared).
  HttpServerResponse.jsonUnsafe(body, headers === undefined || Object.keys(headers).length === 0 ? { status } : { status, headers })

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
export const bodyJson: Effect.Effect<unknown, BridgeContract.BridgeFailure, HttpServerRequest.HttpServerRequest> = Effect.withFiber<
  unknown,
  BridgeContract.BridgeFailure,
  HttpServerRequest.HttpServerRequest
>((fiber) => {
  const request = Context.getUnsafe(fiber.context, HttpServerRequest.HttpServerRequest)
  const limit = fiber.getRef(MaxBody)
  // The server sets the platform's body limit with MaxBody (`make`): then nothing to provide per request.
  const sized = fiber.getRef(HttpServerRequest.MaxBodySize)
  const text = sized !== undefined && sized === BigInt(limit)
    ? request.text
    : Effect.provideService(request.text, HttpServerRequest.MaxBodySize, ByteSize.bytes(limit))
  return Effect.matchEffect(text, {
    onFailure: (error: HttpServerError.HttpServerError) =>
      Effect.fail(
        error.reason._tag === "RequestParseError" && error.reason.reason === "BodyTooLarge"
          ? HttpErrors.tooLarge(limit)
          : BridgeContractModule.invalidInput(`cannot read the request body: ${error.message}`).document
      ),
    onSuccess: (body) => {
      const parsed = BridgeContractModule.parseJson(body)
      return parsed._tag === "Failure" ? Effect.fail(parsed.failure.document) : Effect.succeed(parsed.success)
    }
  })
})

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

// One counter per status, built with its label (`Metric.withAttributes` builds a new metric and
// key on every call): made on a status's first answer, at most 100 statuses kept.
const requestsByStatus = new Map<number, Metric.Metric<number, unknown>>()
const requestsTotalOf = (status: number): Metric.Metric<number, unknown> => {
  let found = requestsByStatus.get(status)
  if (found === undefined) {
    found = Metric.counter("llm_connect_serve_requests_total", {
      description: "HTTP requests answered, by status",
      incremental: true,
      attributes: { status: String(status) }
    })
    if (requestsByStatus.size < 100) requestsByStatus.set(status, found)
  }
  return found
}

/**
 * Starts the server in the current scope (closing the scope stops it and the requests in flight).
 *
 * Per request, in as few effect steps as the behaviour allows (ADR 0033): the in-flight count is
 * a plain counter (the drain awaits a `Deferred` completed when it reaches 0); the request's end
 * (count, gauge, counter, the key's release, the access log) is one finalizer of the request's
 * scope, which the platform closes once the response is sent, a streamed body included; one timer
 * fiber per server for every request's deadline (ADR 0048: the requests in flight in the order of
 * their deadlines, no fiber for the handler): at `requestTimeoutMs` from a request's start it
 * interrupts a request not yet answered and has it answered 504 in the route's protocol, and cuts
 * a streamed body still running 1 s later; the body limit is set once, not per request. No server
 * span of our own:
 * with a tracer installed at the server's level, Effect's server traces every request itself;
 * without one (the stack's OTLP tracer is built inside each stack's layer), a request's trace
 * header (`traceparent`, `b3`) becomes the parent span of the stack's spans, which then hang
 * directly under the caller's span.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  routes: ReadonlyArray<Route>,
  options: Options
): Effect.Effect<Server, ServeError, Scope.Scope> =>
  Effect.gen(function*() {
    let inFlight = 0
    let draining = false
    // Completed when the count reaches 0 after the drain started.
    let drained: Deferred.Deferred<void> | undefined
    const authenticate = options.authenticate
    const timeoutMs = options.requestTimeoutMs

    const guard = (route: Route, shed: boolean) => {
      const render = route.render ?? ((document: BridgeContract.BridgeFailure) => document)
      const respond = (record: RecordWithStart, provide: Identity["provide"]) => {
        record.render = render
        return Effect.provideService(provide === undefined ? route.handler : provide(route.handler), CurrentRequest, record)
      }
      const open = route.open === true || authenticate === undefined
      return Effect.withFiber<
        HttpServerResponse.HttpServerResponse,
        never,
        HttpServerRequest.HttpServerRequest | Scope.Scope | HttpRouter.RouteContext
      >((fiber) => {
        const request = Context.getUnsafe(fiber.context, HttpServerRequest.HttpServerRequest)
        if (draining) {
          return Effect.succeed(HttpServerResponse.setHeader(failureResponse(HttpErrors.shuttingDown, render), "connection", "close"))
        }
        // The wrapper counted this request already.
        if (shed && inFlight > options.maxInFlight) {
          return Effect.succeed(failureResponse(HttpErrors.overloaded(options.maxInFlight), render))
        }
        const length = Number(request.headers["content-length"] ?? "0")
        if (Number.isFinite(length) && length > options.maxBodyBytes) {
          return Effect.succeed(
            HttpServerResponse.setHeader(failureResponse(HttpErrors.tooLarge(options.maxBodyBytes), render), "connection", "close")
          )
        }
        const record = records.get(request.source as object) ?? newRecord(fiber.getRef(Clock.Clock).currentTimeMillisUnsafe())
        if (open) return respond(record, undefined)
        return Effect.matchEffect(authenticate(request), {
          onFailure: (failure) => Effect.succeed(failureResponse(failure, render)),
          onSuccess: (identity) => {
            record.identity = identity
            return respond(record, identity.provide)
          }
        })
      })
    }

    // The requests' one timer (Clock's, so TestClock drives it): at `requestTimeoutMs` from its
    // start, a request not answered yet is interrupted (its call is aborted) and answered 504 in its
    // route's protocol (the pre-response hook swaps the platform's answer to an interrupted
    // request); one whose streamed body is still running gets 1 s more, then its connection is cut.
    // Every request has the same timeout, so deadlines come in the order requests start: the
    // requests in flight are a list in that order (a request's end unlinks it), and one fiber per
    // server sleeps until the first deadline, acts on every request due, and sleeps again (a
    // fiber and a timer per server instead of per request; stop 27). It ends when no request is
    // left, and with the server.
    const waiting = new Deadlines()
    const cutting = new Deadlines()
    let sweeping = false
    let sweeper: Fiber.Fiber<void> | undefined
    const sweep: Effect.Effect<void> = Effect.clockWith((clock) => {
      const now = monotonicMillis(clock)
      for (let record = waiting.head; record !== undefined && record.due <= now; record = waiting.head) {
        waiting.unlink(record)
        if (!record.responded) {
          record.timedOut = true
          record.fiber?.interruptUnsafe()
        } else {
          record.due += 1_000
          cutting.append(record)
        }
      }
      for (let record = cutting.head; record !== undefined && record.due <= now; record = cutting.head) {
        cutting.unlink(record)
        record.cut = true
        record.fiber?.interruptUnsafe()
      }
      const next = Math.min(waiting.head?.due ?? Infinity, cutting.head?.due ?? Infinity)
      if (next === Infinity) {
        sweeping = false
        sweeper = undefined
        return Effect.void
      }
      return Effect.flatMap(Effect.sleep(next - now), () => sweep)
    })
    yield* Effect.addFinalizer(() => Effect.sync(() => sweeper?.interruptUnsafe()))
    const beforeSend = (record: RecordWithStart): HttpEffect.PreResponseHandler => (_request, response) => {
      record.responded = true
      const sent = record.timedOut ? failureResponse(HttpErrors.requestTimedOut(timeoutMs), record.render) : response
      record.status = sent.status
      return Effect.succeed(sent)
    }

    // The record of each request, by its Node request (the router hands handlers the same one).
    const records = new WeakMap<object, RecordWithStart>()
    const router = yield* HttpRouter.make
    for (const route of routes) yield* router.add(route.method, route.path, guard(route, route.shed ?? true))
    const app = router.asHttpEffect()
    const tracerAtServer = (yield* Effect.tracer) !== Tracer.nativeTracer
    // The metrics are updated in a context holding only the server's registry (a lookup in the
    // request fiber's larger context costs more than the update), unless the server's fiber sets
    // metric attributes of its own, which then merge as before. Request fibers run in the context
    // the server was started in, so both are the requests' too.
    const serverContext = yield* Effect.context<never>()
    const metricsContext = Object.keys(Context.get(serverContext, Metric.CurrentMetricAttributes)).length > 0
      ? serverContext
      : Context.make(Metric.MetricRegistry, Context.get(serverContext, Metric.MetricRegistry))
    const log = options.accessLog

    // When the response has been sent (the request's scope closes), a streamed body included.
    const finish = (request: HttpServerRequest.HttpServerRequest, record: RecordWithStart, clock: Clock.Clock) =>
    (exit: Exit.Exit<unknown, unknown>): Effect.Effect<void> => {
      record.fiber = undefined
      if (record.list !== undefined) record.list.unlink(record)
      inFlight--
      requestsInFlight.updateUnsafe(inFlight, metricsContext)
      if (inFlight === 0 && drained !== undefined) Deferred.doneUnsafe(drained, Exit.void)
      // A failure the platform answered itself (an unknown route's 404, a 405) was sent with its
      // status; an interruption (the client gone, a stream cut) is 499.
      const status = record.timedOut
        ? 504
        : record.cut
        ? 499
        : Exit.isSuccess(exit)
        ? (HttpServerResponse.isHttpServerResponse(exit.value) ? exit.value.status : record.status ?? 499)
        : record.status !== undefined && !Cause.hasInterrupts(exit.cause)
        ? record.status
        : 499
      requestsTotalOf(status).updateUnsafe(1, metricsContext)
      const release = record.identity.release === undefined ? undefined : record.identity.release(record)
      if (log === undefined) return release ?? Effect.void
      const end = clock.currentTimeMillisUnsafe()
      const written = log({
        time: new Date(end).toISOString(),
        method: request.method,
        path: pathOf(request.url),
        status,
        latencyMs: end - record.start,
        key: record.identity.name,
        tokensIn: record.tokensIn,
        tokensOut: record.tokensOut,
        ...(record.model !== undefined ? { model: record.model } : {}),
        outcome: status === 499 ? "aborted" : status < 400 ? "ok" : "error"
      })
      return release === undefined ? written : Effect.andThen(release, written)
    }

    // Around the router, on the request's fiber: counts the request until its response is sent
    // and registers its end (no middleware: Effect's server keeps its one-frame path).
    const handle = Effect.withFiber<HttpServerResponse.HttpServerResponse, unknown, HttpServerRequest.HttpServerRequest | Scope.Scope>(
      (fiber) => {
        const context = fiber.context
        const request = Context.getUnsafe(context, HttpServerRequest.HttpServerRequest)
        const clock = fiber.getRef(Clock.Clock)
        const record = newRecord(clock.currentTimeMillisUnsafe())
        records.set(request.source as object, record)
        inFlight++
        requestsInFlight.updateUnsafe(inFlight, metricsContext)
        HttpEffect.appendPreResponseHandlerUnsafe(context, beforeSend(record))
        record.fiber = fiber
        record.due = monotonicMillis(clock) + timeoutMs
        waiting.append(record)
        if (!sweeping) {
          sweeping = true
          sweeper = Effect.runForkWith(serverContext)(sweep)
        }
        const registered = Scope.addFinalizerExit(Context.getUnsafe(context, Scope.Scope), finish(request, record, clock))
        if (tracerAtServer) return Effect.andThen(registered, app)
        const parent = HttpTraceContext.fromHeaders(request.headers)
        return Effect.andThen(
          registered,
          Option.isNone(parent) || fiber.getRef(HttpMiddleware.TracerDisabledWhen)(request) ? app : Effect.withParentSpan(app, parent.value)
        )
      }
    )

    const { server, stopAccepting } = yield* options.listen({ host: options.host, port: options.port, connections: options.connections })
    yield* server.serve(handle).pipe(
      Effect.provideService(MaxBody, options.maxBodyBytes),
      Effect.provideService(HttpServerRequest.MaxBodySize, ByteSize.bytes(options.maxBodyBytes))
    )
    const address = server.address
    const port = address._tag === "UnixPathAddress" ? options.port : address.port
    return {
      host: options.host,
      port,
      url: formatUrl(options.host, port),
      inFlight: Effect.sync(() => inFlight),
      drain: (timeoutMs) =>
        Effect.gen(function*() {
          draining = true
          yield* stopAccepting
          if (inFlight > 0) {
            drained ??= Deferred.makeUnsafe<void>()
            yield* Deferred.await(drained).pipe(Effect.timeoutOrElse({ duration: timeoutMs, orElse: () => Effect.void }))
          }
          return inFlight
        })
    } satisfies Server
  })

interface RecordWithStart extends RequestRecord {
  readonly start: number
  /** How the route renders a failure (the 504 of a timeout). */
  render: RenderFailure
  /** The response is being sent. */
  responded: boolean
  /** Not answered at the timeout: answered 504. */
  timedOut: boolean
  /** The streamed body was cut at the timeout + 1 s. */
  cut: boolean
  /** The status of the response sent, once it is (the platform's own answers to failures included). */
  status: number | undefined
  /** The request's fiber, until its end (what the timer interrupts). */
  fiber: Fiber.Fiber<unknown, unknown> | undefined
  /** When the timer acts on the request (monotonic ms): its timeout, then the stream's cut. */
  due: number
  /** The list of the requests the timer waits for that holds this one, and its neighbours there. */
  list: Deadlines | undefined
  previous: RecordWithStart | undefined
  next: RecordWithStart | undefined
}

// The clock's monotonic time in ms (deadlines do not move with the wall clock; TestClock's moves
// with `adjust`).
const monotonicMillis = (clock: Clock.Clock): number => Number(clock.monotonicTimeNanosUnsafe() / 1_000_000n)

// Requests in the order of their deadlines (an intrusive doubly linked list: append, unlink O(1)).
class Deadlines {
  head: RecordWithStart | undefined = undefined
  tail: RecordWithStart | undefined = undefined
  append(record: RecordWithStart): void {
    record.list = this
    record.previous = this.tail
    record.next = undefined
    if (this.tail === undefined) this.head = record
    else this.tail.next = record
    this.tail = record
  }
  unlink(record: RecordWithStart): void {
    if (record.previous === undefined) this.head = record.next
    else record.previous.next = record.next
    if (record.next === undefined) this.tail = record.previous
    else record.next.previous = record.previous
    record.list = undefined
    record.previous = undefined
    record.next = undefined
  }
}

const identity: RenderFailure = (document) => document

const newRecord = (start: number): RecordWithStart => ({
  identity: ANONYMOUS,
  tokensIn: 0,
  tokensOut: 0,
  model: undefined,
  start,
  render: identity,
  responded: false,
  timedOut: false,
  cut: false,
  status: undefined,
  fiber: undefined,
  due: 0,
  list: undefined,
  previous: undefined,
  next: undefined
})
