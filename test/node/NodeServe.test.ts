/**
 * Serve's providers' HTTP client (`NodeServe.platform`, ADR 0044; the lean `node:http` client since
 * ADR 0059, Effect's undici client as `NodeServe.platformUndici`): against an upstream that sends
 * no keep-alive hint, both keep their idle connection through a quiet spell longer than undici's
 * default 4 s, where the library's default client (`NodeProviders.platform`) opens a new one.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { HttpClient } from "effect/http"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { NodeProviders, NodeServe } from "../../src/node/index.ts"

// An upstream answering every request, counting the connections it accepted; with
// `keepAliveTimeout = 0` Node neither closes idle connections nor sends a `Keep-Alive` hint.
const upstream = Effect.acquireRelease(
  Effect.promise(() =>
    new Promise<{ readonly url: string; readonly connections: () => number; readonly close: () => void }>((resolve) => {
      let connections = 0
      const server = createServer((request, response) => {
        request.resume()
        request.on("end", () => response.end("{}"))
      })
      server.keepAliveTimeout = 0
      server.on("connection", () => void connections++)
      server.listen(0, "127.0.0.1", () =>
        resolve({
          url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
          connections: () => connections,
          close: () => void server.close(() => undefined).closeAllConnections()
        }))
    })
  ),
  (server) => Effect.sync(server.close)
)

// Two calls with `idleMs` of quiet between them; the upstream's connection count after them.
const twoCallsApart = (platform: typeof NodeProviders.platform, idleMs: number) =>
  Effect.scoped(Effect.gen(function*() {
    const server = yield* upstream
    const client = yield* HttpClient.HttpClient
    const call = Effect.flatMap(client.post(server.url, { body: undefined }), (response) => response.text)
    assert.strictEqual(yield* call, "{}")
    yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, idleMs)))
    assert.strictEqual(yield* call, "{}")
    return server.connections()
  }).pipe(Effect.provide(platform)))

describe("serve's providers' HTTP client", () => {
  it("keeps idle connections for PROVIDER_KEEP_ALIVE_MS when the upstream sends no hint", () => {
    assert.strictEqual(NodeServe.PROVIDER_KEEP_ALIVE_MS, 30_000)
    assert.deepStrictEqual(NodeServe.providerClientOptions, { keepAliveTimeout: 30_000 })
  })

  it.live("after 4.5 s without a call: serve's client reuses its connection, the library's default opens a new one", () =>
    Effect.gen(function*() {
      const [serve, serveUndici, library] = yield* Effect.all([
        twoCallsApart(NodeServe.platform, 4_500),
        twoCallsApart(NodeServe.platformUndici, 4_500),
        twoCallsApart(NodeProviders.platform, 4_500)
      ], { concurrency: 3 })
      assert.strictEqual(serve, 1)
      assert.strictEqual(serveUndici, 1)
      assert.strictEqual(library, 2)
    }), 30_000)
})
