/**
 * Serve's client connections (ADR 0054, docs/performance.md, Serve, stop 29): kept idle
 * `serve.keepAliveTimeout` (65 s by default, not Node's 5 s), so a client's pool outlives a quiet
 * spell; at most `serve.maxConnections` (idle ones closed at the cap, new ones refused beyond it);
 * the settings' typed errors. Real servers on 127.0.0.1:0, real sockets.
 */
import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Fiber, FileSystem, Path } from "effect"
import { HttpServerResponse } from "effect/http"
import { Agent, createServer, request } from "node:http"
import { type AddressInfo, connect, type Socket } from "node:net"
import * as LlmConnectConfig from "../../src/LlmConnectConfig.ts"
import type * as LlmError from "../../src/LlmError.ts"
import { NodeServe } from "../../src/node/index.ts"
import * as ServeConfig from "../../src/server/ServeConfig.ts"

const loadWith = (yaml: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const dir = yield* Effect.orDie(fs.makeTempDirectoryScoped({ prefix: "llmc-conns-" }))
    yield* Effect.orDie(fs.writeFileString(path.join(dir, "llm-connect.yaml"), yaml))
    return yield* LlmConnectConfig.load({ cwd: dir }).pipe(Effect.provide(ConfigProvider.layer(ConfigProvider.fromUnknown({}))))
  }).pipe(Effect.scoped, Effect.provide(NodeServices.layer))

const refused = (yaml: string) =>
  Effect.gen(function*() {
    const error: LlmError.LlmError = yield* Effect.flip(loadWith(yaml))
    assert.strictEqual(error.reason._tag, "Configuration")
    return error.message
  })

describe("serve.keepAliveTimeout and serve.maxConnections", () => {
  it.effect("default to 65 s and 1,024; a file sets them", () =>
    Effect.gen(function*() {
      const defaults = (yield* loadWith("ledger: false\n")).config.serve
      assert.strictEqual(defaults.keepAliveTimeoutMs, 65_000)
      assert.strictEqual(defaults.maxConnections, 1024)
      const set = (yield* loadWith("serve:\n  keepAliveTimeout: 2m\n  maxConnections: 64\n")).config.serve
      assert.strictEqual(set.keepAliveTimeoutMs, 120_000)
      assert.strictEqual(set.maxConnections, 64)
    }))

  it.effect("a bad value is a Configuration error naming the key and what is accepted", () =>
    Effect.gen(function*() {
      assert.match(yield* refused("serve:\n  keepAliveTimeout: 0s\n"), /serve\.keepAliveTimeout.*longer than 0/)
      assert.match(yield* refused("serve:\n  keepAliveTimeout: 2h\n"), /serve\.keepAliveTimeout.*at most 1h/)
      assert.match(yield* refused("serve:\n  keepAliveTimeout: soon\n"), /serve\.keepAliveTimeout.*expected a duration/)
      assert.match(yield* refused("serve:\n  maxConnections: 0\n"), /maxConnections/)
    }))

  it("keepAliveTimeoutProblem: more than 0 and at most 1 h", () => {
    assert.isUndefined(ServeConfig.keepAliveTimeoutProblem(1))
    assert.isUndefined(ServeConfig.keepAliveTimeoutProblem(3_600_000))
    assert.match(ServeConfig.keepAliveTimeoutProblem(0) ?? "", /longer than 0/)
    assert.match(ServeConfig.keepAliveTimeoutProblem(3_600_001) ?? "", /at most 1h/)
  })

  it("the headers timeout stays above the keep-alive timeout and Node's 1 s buffer, and at least 60 s", () => {
    for (const keepAliveTimeoutMs of [1, 5_000, 65_000, 120_000, 3_600_000]) {
      const options = NodeServe.serverOptions({ keepAliveTimeoutMs, maxConnections: 1 })
      assert.strictEqual(options.keepAliveTimeout, keepAliveTimeoutMs)
      assert.strictEqual(options.requestTimeout, 0)
      assert.isAbove(options.headersTimeout, keepAliveTimeoutMs + 1_000)
      assert.isAtLeast(options.headersTimeout, 60_000)
    }
  })
})

// Two requests `idleMs` apart from one keep-alive client (Node's Agent, which also follows the
// server's `Keep-Alive: timeout` hint): the connections it used, and the first answer's hint.
const twoRequestsApart = (url: string, idleMs: number) =>
  Effect.promise(async () => {
    const agent = new Agent({ keepAlive: true })
    const sockets = new Set<Socket>()
    const one = () =>
      new Promise<string>((resolve, reject) => {
        const sent = request(url, { agent, method: "POST" }, (answer) => {
          answer.resume()
          answer.on("end", () => resolve(String(answer.headers["keep-alive"])))
        })
        sent.on("socket", (socket) => void sockets.add(socket))
        sent.on("error", reject)
        sent.end("{}")
      })
    const hint = await one()
    await new Promise((resolve) => setTimeout(resolve, idleMs))
    await one()
    agent.destroy()
    return { connections: sockets.size, hint }
  })

const listening = (keepAliveTimeoutMs?: number) =>
  Effect.gen(function*() {
    const { server } = yield* NodeServe.listen({
      host: "127.0.0.1",
      port: 0,
      ...(keepAliveTimeoutMs === undefined ? {} : { connections: { keepAliveTimeoutMs, maxConnections: 16 } })
    })
    yield* server.serve(Effect.succeed(HttpServerResponse.text("ok")))
    const address = server.address
    return `http://127.0.0.1:${address._tag === "UnixPathAddress" ? 0 : address.port}/`
  })

describe("NodeServe.listen's client connections", () => {
  it.live("a client's connection outlives 6.5 s without a request (Node's default closes it at 5 s + 1 s)", () =>
    Effect.scoped(Effect.gen(function*() {
      const [serve, nodeDefault] = yield* Effect.all([
        Effect.flatMap(listening(), (url) => twoRequestsApart(url, 6_500)),
        Effect.flatMap(listening(5_000), (url) => twoRequestsApart(url, 6_500))
      ], { concurrency: 2 })
      assert.deepStrictEqual(serve, { connections: 1, hint: "timeout=65" })
      assert.deepStrictEqual(nodeDefault, { connections: 2, hint: "timeout=5" })
    })), 30_000)

  it.live("a short keep-alive timeout closes an idle connection; the client reconnects", () =>
    Effect.scoped(Effect.gen(function*() {
      const url = yield* listening(200)
      assert.deepStrictEqual(yield* twoRequestsApart(url, 2_500), { connections: 2, hint: "timeout=0" })
    })), 30_000)
})

// A raw connection to `port`; `closed` resolves when the server closes it, with whatever it sent.
const open = (port: number) =>
  new Promise<{ readonly socket: Socket; readonly closed: Promise<string> }>((resolve) => {
    const socket = connect(port, "127.0.0.1")
    let received = ""
    socket.on("data", (chunk) => void (received += chunk.toString("latin1")))
    socket.on("error", () => undefined)
    const closed = new Promise<string>((done) => socket.once("close", () => done(received)))
    socket.once("connect", () => resolve({ socket, closed }))
  })
const answered = (connection: { readonly socket: Socket }, text: string) =>
  new Promise<string>((resolve) => {
    let received = ""
    const onData = (chunk: Buffer) => {
      received += chunk.toString("latin1")
      if (received.includes("\r\n\r\nok")) {
        connection.socket.off("data", onData)
        resolve(received)
      }
    }
    connection.socket.on("data", onData)
    connection.socket.write(text)
  })
const GET = "GET / HTTP/1.1\r\nHost: x\r\n\r\n"

describe("NodeServe.listen's drain", () => {
  it.live("after stopAccepting, a kept-alive connection whose response ends is closed at once, not after the keep-alive timeout", () =>
    Effect.scoped(Effect.gen(function*() {
      const { server, stopAccepting } = yield* NodeServe.listen({ host: "127.0.0.1", port: 0 })
      yield* server.serve(Effect.as(Effect.sleep("300 millis"), HttpServerResponse.text("ok")))
      const address = server.address
      const connection = yield* Effect.promise(() => open(address._tag === "UnixPathAddress" ? 0 : address.port))
      const answer = Effect.promise(() => answered(connection, GET))
      const fiber = yield* Effect.forkChild(answer)
      yield* Effect.sleep("100 millis")
      yield* stopAccepting
      const started = Date.now()
      const text = yield* Effect.promise(() => connection.closed)
      assert.match(text, /^HTTP\/1\.1 200[^]*[Cc]onnection: keep-alive[^]*ok$/, "the call in flight was answered")
      assert.isBelow(Date.now() - started, 5_000, "closed once its response ended, not after 65 s")
      assert.match(yield* Fiber.join(fiber), /^HTTP\/1\.1 200/)
    })), 30_000)
})

describe("NodeServe.capConnections", () => {
  it.live("at the cap the idle connections are closed; beyond it, all busy, a new one is refused", () =>
    Effect.acquireUseRelease(
      Effect.promise(() =>
        new Promise<ReturnType<typeof createServer>>((resolve) => {
          const server = createServer(NodeServe.serverOptions({ keepAliveTimeoutMs: 65_000, maxConnections: 2 }), (_request, response) => response.end("ok"))
          NodeServe.capConnections(server, 2)
          server.listen(0, "127.0.0.1", () => resolve(server))
        })
      ),
      (server) =>
        Effect.promise(async () => {
          const port = (server.address() as AddressInfo).port
          const idle = await open(port)
          assert.match(await answered(idle, GET), /^HTTP\/1\.1 200/)
          // The second connection reaches the cap: the idle one is closed, the new one served.
          const second = await open(port)
          assert.match(await idle.closed, /^HTTP\/1\.1 200[^]*ok$/, "the idle connection was closed after its one answer")
          assert.match(await answered(second, GET), /^HTTP\/1\.1 200/)
          // Two busy connections (a request's headers half sent): a third is refused at once.
          second.socket.write("GET / HTTP/1.1\r\nHost: x\r\n")
          const busy = await open(port)
          busy.socket.write("GET / HTTP/1.1\r\nHost: x\r\n")
          const third = await open(port)
          third.socket.write(GET)
          assert.strictEqual(await third.closed, "", "refused: closed without an answer")
          assert.isFalse(second.socket.destroyed, "a busy connection is kept")
          assert.isFalse(busy.socket.destroyed, "a busy connection is kept")
          second.socket.destroy()
          busy.socket.destroy()
        }),
      (server) => Effect.sync(() => void server.close().closeAllConnections())
    ), 30_000)
})
