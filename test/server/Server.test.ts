/**
 * The HTTP core of serve (`Server.make`) on real HTTP at 127.0.0.1:0: the drain waits for the
 * requests in flight (a counter and a latch), returns as the last one ends, and gives up at its
 * timeout; the request's one timer (on the Clock: TestClock here) answers 504 in the route's
 * protocol and cuts a streamed body 1 s later; an incoming `traceparent` reaches the stack's spans (exported over OTLP), while a
 * request without one gets the stack's own root span (no server span in between).
 */
import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Deferred, Effect, Fiber, FileSystem, Layer, Path, Stream } from "effect"
import { HttpServerResponse } from "effect/http"
import { TestClock } from "effect/testing"
import * as LlmConnectConfig from "../../src/LlmConnectConfig.ts"
import * as BuiltinProviders from "../../src/providers/BuiltinProviders.ts"
import * as NodeProviders from "../../src/node/NodeProviders.ts"
import * as NodeServe from "../../src/node/NodeServe.ts"
import * as ProviderRegistry from "../../src/ProviderRegistry.ts"
import * as Serve from "../../src/server/Serve.ts"
import * as Server from "../../src/server/Server.ts"
import * as FakeHttpServer from "../providers/FakeHttpServer.ts"
import { post, steered } from "./support.ts"

// A core with one route held on a gate, counting the requests that reached it.
const held = Effect.gen(function*() {
  const gate = yield* Deferred.make<void>()
  let reached = 0
  const waiters: Array<() => void> = []
  const log: Array<Server.AccessLogLine> = []
  const route: Server.Route = {
    method: "POST",
    path: "/hold",
    handler: Effect.gen(function*() {
      reached++
      for (const wake of waiters.splice(0)) wake()
      yield* Deferred.await(gate)
      return Server.json({ ok: true })
    })
  }
  const server = yield* Server.make([route], {
    listen: NodeServe.listen,
    host: "127.0.0.1",
    port: 0,
    maxInFlight: 16,
    requestTimeoutMs: 60_000,
    maxBodyBytes: 1024,
    accessLog: (line) => Effect.sync(() => void log.push(line))
  })
  const reachedCount = (count: number) =>
    Effect.callback<void>((resume) => {
      const check = () => (reached >= count ? resume(Effect.void) : void waiters.push(check))
      check()
    })
  return { server, gate, reachedCount, log }
})

describe("Server.drain", () => {
  it.live("waits for the requests in flight and returns 0 as the last one ends; a new request meanwhile gets 503", () =>
    Effect.gen(function*() {
      const { server, gate, reachedCount, log } = yield* held
      const first = yield* Effect.forkChild(post(`${server.url}/hold`, {}))
      const second = yield* Effect.forkChild(post(`${server.url}/hold`, {}))
      yield* reachedCount(2)
      assert.strictEqual(yield* server.inFlight, 2)
      const drain = yield* Effect.forkChild(server.drain(30_000))
      yield* Effect.sleep("50 millis")
      assert.isUndefined(drain.pollUnsafe(), "the drain returned while requests were in flight")
      yield* Deferred.succeed(gate, undefined)
      assert.strictEqual((yield* Fiber.join(first)).status, 200)
      assert.strictEqual((yield* Fiber.join(second)).status, 200)
      assert.strictEqual(yield* Fiber.join(drain), 0)
      assert.strictEqual(yield* server.inFlight, 0)
      assert.deepStrictEqual(log.map((line) => [line.status, line.outcome]), [[200, "ok"], [200, "ok"]])
    }).pipe(Effect.scoped))

  it.live("a request the platform answers itself (an unknown route) is logged with the status sent, not as aborted", () =>
    Effect.gen(function*() {
      const { server, log } = yield* held
      const answer = yield* post(`${server.url}/nowhere`, {})
      assert.strictEqual(answer.status, 404)
      yield* loggedAtLeast(log, 1)
      assert.deepStrictEqual(log.map((line) => [line.path, line.status, line.outcome]), [["/nowhere", 404, "error"]])
      assert.strictEqual(yield* server.inFlight, 0)
    }).pipe(Effect.scoped))

  it.live("returns at once with nothing in flight", () =>
    Effect.gen(function*() {
      const { server } = yield* held
      assert.strictEqual(yield* server.drain(30_000), 0)
    }).pipe(Effect.scoped), 10_000)

  it.live("gives up at its timeout and says how many requests are still running", () =>
    Effect.gen(function*() {
      const { server, reachedCount } = yield* held
      yield* Effect.forkChild(post(`${server.url}/hold`, {}))
      yield* reachedCount(1)
      assert.strictEqual(yield* server.drain(100), 1)
      assert.strictEqual(yield* server.inFlight, 1)
    }).pipe(Effect.scoped))
})

// A core whose routes never answer on their own: one JSON, one stream sending a first event.
const stalled = (log: Array<Server.AccessLogLine>, reached: Deferred.Deferred<void>) =>
  Server.make([
    {
      method: "POST",
      path: "/json",
      render: (failure) => ({ error: { message: failure.error, type: failure.errorType } }),
      handler: Effect.andThen(Deferred.succeed(reached, undefined), Effect.never)
    },
    {
      method: "GET",
      path: "/stream",
      handler: Effect.as(
        Deferred.succeed(reached, undefined),
        HttpServerResponse.stream(Stream.concat(Stream.succeed(new TextEncoder().encode("data: first\n\n")), Stream.never), {
          contentType: "text/event-stream"
        })
      )
    }
  ], {
    listen: NodeServe.listen,
    host: "127.0.0.1",
    port: 0,
    maxInFlight: 16,
    requestTimeoutMs: 5_000,
    maxBodyBytes: 1024,
    accessLog: (line) => Effect.sync(() => void log.push(line))
  })

// Waits (in real time, whatever the clock) until the server has written `count` access-log lines.
const loggedAtLeast = (log: ReadonlyArray<Server.AccessLogLine>, count: number) =>
  Effect.promise(async () => {
    for (let tries = 0; tries < 500 && log.length < count; tries++) await new Promise((resolve) => setTimeout(resolve, 10))
  })

describe("Server: the request timeout (one timer per request, on the Clock)", () => {
  it.effect("a request not answered at requestTimeout gets 504 in its route's protocol; the access log says 504", () =>
    Effect.gen(function*() {
      const log: Array<Server.AccessLogLine> = []
      const reached = yield* Deferred.make<void>()
      const server = yield* stalled(log, reached)
      const reply = yield* Effect.forkChild(post(`${server.url}/json`, {}))
      yield* Deferred.await(reached)
      yield* TestClock.adjust("4999 millis")
      assert.isUndefined(reply.pollUnsafe())
      yield* TestClock.adjust("1 millis")
      const answered = yield* Fiber.join(reply)
      assert.strictEqual(answered.status, 504)
      assert.deepStrictEqual(Object.keys((answered.json as { error: object }).error), ["message", "type"])
      yield* loggedAtLeast(log, 1)
      assert.strictEqual(yield* server.inFlight, 0)
      assert.deepStrictEqual(log.map((line) => [line.status, line.outcome]), [[504, "error"]])
    }).pipe(Effect.scoped))

  it.effect("a streamed body still running at requestTimeout + 1 s is cut; the access log says aborted", () =>
    Effect.gen(function*() {
      const log: Array<Server.AccessLogLine> = []
      const reached = yield* Deferred.make<void>()
      const server = yield* stalled(log, reached)
      const firstEvent = yield* Deferred.make<string>()
      const reading = yield* Effect.forkChild(Effect.promise(async () => {
        const response = await fetch(`${server.url}/stream`)
        const reader = response.body!.getReader()
        const first = await reader.read()
        Effect.runSync(Deferred.succeed(firstEvent, new TextDecoder().decode(first.value)))
        try {
          while (!(await reader.read()).done) {
            // more events: none come
          }
          return "ended"
        } catch {
          return "cut"
        }
      }))
      assert.strictEqual(yield* Deferred.await(firstEvent), "data: first\n\n")
      yield* TestClock.adjust("5 seconds")
      assert.strictEqual(yield* server.inFlight, 1, "the stream runs on past requestTimeout")
      yield* TestClock.adjust("1 second")
      assert.strictEqual(yield* Fiber.join(reading), "cut")
      yield* loggedAtLeast(log, 1)
      assert.strictEqual(yield* server.inFlight, 0)
      assert.deepStrictEqual(log.map((line) => [line.status, line.outcome]), [[499, "aborted"]])
    }).pipe(Effect.scoped))
})

describe("Server: one timer for the requests in flight, in the order of their deadlines", () => {
  it.effect("requests started 2 s apart time out 5 s after each one's start; one answered in between leaves the others' deadlines as they were", () =>
    Effect.gen(function*() {
      const log: Array<Server.AccessLogLine> = []
      let reached = 0
      const server = yield* Server.make([
        { method: "POST", path: "/json", handler: Effect.andThen(Effect.sync(() => void reached++), Effect.never) },
        { method: "POST", path: "/ok", handler: Effect.succeed(Server.json({ ok: true })) }
      ], {
        listen: NodeServe.listen,
        host: "127.0.0.1",
        port: 0,
        maxInFlight: 16,
        requestTimeoutMs: 5_000,
        maxBodyBytes: 1024,
        accessLog: (line) => Effect.sync(() => void log.push(line))
      })
      const reachedAtLeast = (count: number) =>
        Effect.promise(async () => {
          for (let tries = 0; tries < 500 && reached < count; tries++) await new Promise((resolve) => setTimeout(resolve, 10))
        })
      const first = yield* Effect.forkChild(post(`${server.url}/json`, {}))
      yield* reachedAtLeast(1)
      yield* TestClock.adjust("1 second")
      // Answered at once: it leaves the list of deadlines before its own comes.
      assert.strictEqual((yield* post(`${server.url}/ok`, {})).status, 200)
      yield* TestClock.adjust("1 second")
      const second = yield* Effect.forkChild(post(`${server.url}/json`, {}))
      yield* reachedAtLeast(2)
      yield* TestClock.adjust("2999 millis")
      assert.isUndefined(first.pollUnsafe())
      yield* TestClock.adjust("1 millis")
      assert.strictEqual((yield* Fiber.join(first)).status, 504)
      yield* TestClock.adjust("1999 millis")
      assert.isUndefined(second.pollUnsafe())
      assert.strictEqual(yield* server.inFlight, 1)
      yield* TestClock.adjust("1 millis")
      assert.strictEqual((yield* Fiber.join(second)).status, 504)
      yield* loggedAtLeast(log, 3)
      assert.strictEqual(yield* server.inFlight, 0)
      assert.deepStrictEqual(log.map((line) => [line.path, line.status]), [["/ok", 200], ["/json", 504], ["/json", 504]])
    }).pipe(Effect.scoped))
})

const consumer = { provider: "steered", model: null, systemPrompt: null, prompt: "Say hi", maxTokens: 10, temperature: 0 }

// Serve in process with the stack's spans exported to a fake OTLP collector.
const withTracedServe = <A, E>(use: (url: string, collector: FakeHttpServer.FakeServer) => Effect.Effect<A, E>) => {
  const fake = steered()
  return Effect.gen(function*() {
    const collector = yield* FakeHttpServer.start(() => ({ status: 200, body: {} }))
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const dir = yield* Effect.orDie(fs.makeTempDirectoryScoped({ prefix: "llmc-server-" }))
    yield* Effect.orDie(fs.writeFileString(path.join(dir, "llm-connect.yaml"), "ledger: false\n"))
    const result = yield* Effect.gen(function*() {
      const resolved = yield* Effect.orDie(LlmConnectConfig.load({ cwd: dir, flags: {} }))
      const running = yield* Effect.orDie(Serve.make(resolved, { listen: NodeServe.listen, port: 0 }))
      return yield* use(running.server.url, collector)
    }).pipe(
      // Closing serve's scope flushes the stacks' exporters.
      Effect.scoped,
      Effect.provide(ConfigProvider.layer(ConfigProvider.fromUnknown({
        LLM_CONNECT_KEY_DIR: "/nonexistent-keys",
        OTEL_EXPORTER_OTLP_ENDPOINT: collector.origin,
        OTEL_SERVICE_NAME: "serve-trace-test"
      })))
    )
    return { result, collector }
  }).pipe(
    Effect.scoped,
    Effect.provide(
      Layer.mergeAll(
        Layer.effect(
          ProviderRegistry.ProviderRegistry,
          Effect.flatMap(BuiltinProviders.make, (builtins) => ProviderRegistry.make([...builtins, fake.provider]))
        ).pipe(Layer.provide(NodeProviders.platform)),
        NodeServices.layer
      )
    )
  )
}

interface OtlpSpan {
  readonly traceId: string
  readonly spanId: string
  readonly parentSpanId?: string | undefined
  readonly name: string
}

const exportedSpans = (collector: FakeHttpServer.FakeServer): Array<OtlpSpan> =>
  collector.requests
    .filter((recorded) => recorded.url === "/v1/traces")
    .flatMap((recorded) => {
      const body = JSON.parse(recorded.rawBody) as {
        resourceSpans: Array<{ scopeSpans: Array<{ spans: Array<OtlpSpan> }> }>
      }
      return body.resourceSpans.flatMap((resource) => resource.scopeSpans.flatMap((scope) => scope.spans))
    })

describe("trace context through serve", () => {
  const traceId = "4bf92f3577b34da6a3ce929d0e0e4736"
  const parentId = "00f067aa0ba902b7"

  it.live("an incoming traceparent reaches the stack's spans: same trace, under the caller's span", () =>
    Effect.gen(function*() {
      const { result, collector } = yield* withTracedServe((url) =>
        post(`${url}/execute`, consumer, { traceparent: `00-${traceId}-${parentId}-01` })
      )
      assert.strictEqual(result.status, 200)
      const spans = exportedSpans(collector)
      assert.isAbove(spans.length, 0, "no span exported")
      for (const span of spans) assert.strictEqual(span.traceId, traceId)
      // The stack's root span hangs directly under the caller's span; the others under it.
      const ids = new Set(spans.map((span) => span.spanId))
      const roots = spans.filter((span) => !ids.has(span.parentSpanId ?? ""))
      assert.strictEqual(roots.length, 1, JSON.stringify(spans))
      assert.strictEqual(roots[0]!.parentSpanId, parentId)
    }), 60_000)

  it.live("a request without a trace header gets the stack's own root span (a new trace, no parent)", () =>
    Effect.gen(function*() {
      const { result, collector } = yield* withTracedServe((url) => post(`${url}/execute`, consumer))
      assert.strictEqual(result.status, 200)
      const spans = exportedSpans(collector)
      assert.isAbove(spans.length, 0, "no span exported")
      const roots = spans.filter((span) => span.parentSpanId === undefined || span.parentSpanId === "")
      assert.strictEqual(roots.length, 1, `one root span: ${JSON.stringify(spans)}`)
      const ids = new Set(spans.map((span) => span.spanId))
      for (const span of spans) {
        assert.strictEqual(span.traceId, roots[0]!.traceId)
        if (span !== roots[0]) assert.isTrue(ids.has(span.parentSpanId ?? ""), "a span's parent was not exported")
      }
    }), 60_000)
})
