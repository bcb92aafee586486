/**
 * The "Effect floor" of the serve benchmark (issue 16): the least a pass-through proxy built on
 * the Effect modules serve is mandated to use can cost. Effect's `NodeHttpServer` with an
 * `HttpRouter` route `POST /v1/chat/completions` that reads the request body as bytes (as serve
 * does; a streamed upload costs Effect's client more and answers slower at C=1) and forwards it,
 * unparsed, to `--upstream` with Effect's `HttpClient` (`NodeHttpClient.layerUndici`,
 * keep-alive), then streams the answer back with its status and content type: no parsing, no guards, no logging. Beside
 * the `node:http` floor (bench/passthrough-proxy.ts) it shows what the mandated stack itself
 * costs; beside serve, what our code adds on top. Run in its own process; prints its port on
 * stdout once it listens.
 *
 *   node bench/effect-floor-proxy.ts --upstream http://127.0.0.1:PORT [--buffered]
 */
import { NodeHttpClient, NodeHttpServer } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import { HttpBody, HttpClient, HttpClientRequest, HttpRouter, HttpServerRequest, HttpServerResponse } from "effect/http"
import { createServer } from "node:http"

const index = process.argv.indexOf("--upstream")
const upstream = index >= 0 ? process.argv[index + 1] : undefined
if (upstream === undefined) {
  console.error("--upstream is missing: pass the URL to forward to, e.g. --upstream http://127.0.0.1:8080")
  process.exit(2)
}

// `--buffered`: the answer read whole and sent as bytes (as serve answers a JSON call) instead of
// streamed through: Effect's streamed response costs more per request than the buffered one.
const buffered = process.argv.includes("--buffered")

const program = Effect.gen(function*() {
  const client = yield* HttpClient.HttpClient
  const nodeServer = createServer({ requestTimeout: 0 })
  nodeServer.keepAliveTimeout = 60_000
  const server = yield* NodeHttpServer.make(() => nodeServer, { host: "127.0.0.1", port: 0 })
  const router = yield* HttpRouter.make
  yield* router.add(
    "POST",
    "/v1/chat/completions",
    Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const answer = yield* client.execute(
        HttpClientRequest.post(`${upstream}${request.url}`, {
          body: HttpBody.uint8Array(new Uint8Array(yield* request.arrayBuffer), request.headers["content-type"] ?? "application/json")
        })
      )
      if (buffered) {
        return HttpServerResponse.uint8Array(new Uint8Array(yield* answer.arrayBuffer), {
          status: answer.status,
          contentType: answer.headers["content-type"] ?? "application/json"
        })
      }
      return HttpServerResponse.stream(answer.stream, {
        status: answer.status,
        contentType: answer.headers["content-type"] ?? "application/json"
      })
    }).pipe(Effect.catch(() => Effect.succeed(HttpServerResponse.text("upstream failed", { status: 502 }))))
  )
  yield* server.serve(router.asHttpEffect())
  const address = server.address
  yield* Effect.sync(() => process.stdout.write(`${address._tag === "UnixPathAddress" ? 0 : address.port}\n`))
  return yield* Effect.never
})

Effect.runFork(Layer.launch(Layer.effectDiscard(program).pipe(Layer.provide(NodeHttpClient.layerUndici))))
process.on("SIGTERM", () => process.exit(0))
