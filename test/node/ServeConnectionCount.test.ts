/**
 * `NodeServe.capConnections`' count of open connections (ADR 0061): a closed connection stops
 * counting, so connections that came and went never make a later one look like the cap and close
 * the idle ones. Real server on 127.0.0.1:0, real sockets.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { createServer, type Server } from "node:http"
import { type AddressInfo, connect, type Socket } from "node:net"
import { NodeServe } from "../../src/node/index.ts"

// A raw connection to `port`; `closed` resolves when the server closes it.
const open = (port: number) =>
  new Promise<{ readonly socket: Socket; readonly closed: Promise<"closed"> }>((resolve) => {
    const socket = connect(port, "127.0.0.1")
    socket.on("error", () => undefined)
    const closed = new Promise<"closed">((done) => socket.once("close", () => done("closed")))
    socket.once("connect", () => resolve({ socket, closed }))
  })
// One request on the connection: "answered" once the answer's body arrived, or "closed" if the
// server closed the connection first.
const ask = (connection: { readonly socket: Socket; readonly closed: Promise<"closed"> }) =>
  Promise.race([
    new Promise<"answered">((resolve) => {
      let received = ""
      const onData = (chunk: Buffer) => {
        received += chunk.toString("latin1")
        if (received.endsWith("\r\n\r\nok")) {
          connection.socket.off("data", onData)
          resolve("answered")
        }
      }
      connection.socket.on("data", onData)
      connection.socket.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    }),
    connection.closed
  ])
// Until the server has seen every client connection close (its own count, `getConnections`).
const drained = async (server: Server) => {
  for (;;) {
    const count = await new Promise<number>((resolve, reject) => server.getConnections((error, n) => (error ? reject(error) : resolve(n))))
    if (count === 0) return
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

describe("NodeServe.capConnections' count", () => {
  it.live("connections that closed no longer count toward the cap", () =>
    Effect.acquireUseRelease(
      Effect.promise(() =>
        new Promise<Server>((resolve) => {
          const server = createServer(NodeServe.serverOptions({ keepAliveTimeoutMs: 65_000, maxConnections: 3 }), (_request, response) => response.end("ok"))
          NodeServe.capConnections(server, 3)
          server.listen(0, "127.0.0.1", () => resolve(server))
        })
      ),
      (server) =>
        Effect.promise(async () => {
          const port = (server.address() as AddressInfo).port
          // Five connections, each answered and closed by the client.
          for (let index = 0; index < 5; index++) {
            const gone = await open(port)
            assert.strictEqual(await ask(gone), "answered")
            gone.socket.destroy()
          }
          await drained(server)
          // Two open connections, under the cap of 3: the idle one is kept when the second arrives.
          const idle = await open(port)
          assert.strictEqual(await ask(idle), "answered")
          const second = await open(port)
          assert.strictEqual(await ask(second), "answered")
          assert.strictEqual(await ask(idle), "answered", "the idle connection was kept: the closed ones no longer count")
          // The third reaches the cap: the idle ones are closed.
          const third = await open(port)
          assert.strictEqual(await idle.closed, "closed")
          assert.strictEqual(await ask(third), "answered")
          second.socket.destroy()
          third.socket.destroy()
        }),
      (server) => Effect.sync(() => void server.close().closeAllConnections())
    ), 30_000)
})
