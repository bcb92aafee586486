/**
 * The serve benchmark's "server core alone" target (issue 16): `llm-connect serve`'s HTTP core
 * (`Server.make` on `NodeServe.listen`: Effect's `NodeHttpServer` and `HttpRouter`, the
 * draining, load-shedding, body-limit, authentication and timeout guards, the in-flight gauge,
 * the request counter and an access-log record per request) around one route that reads the
 * JSON body and answers the mock's fixed completion, with no model call. Set beside the mock
 * (a bare `node:http` server answering the same JSON), it shows what the Effect HTTP server and
 * the core cost before any stack runs. Run in its own process; prints its port once it listens.
 *
 * With `--bare`, the same route on Effect's `HttpRouter` and `NodeHttpServer` alone (reading the
 * body as text, `JSON.parse`, `HttpServerResponse.jsonUnsafe`), without the core's guards,
 * gauge, counter and access log: what the core adds to Effect's HTTP server. With `--effect`
 * (stop 30), the `--bare` route on Effect's `NodeHttpServer` over a plain `node:http` server,
 * without serve's listener (`NodeServe.listen`: its connection cap, keep-alive settings, request
 * count and idle collection); with `--node`, the same answer from a bare `node:http` handler
 * (`JSON.parse` of the body, `JSON.stringify` of the reply): what Effect's server adds to Node's.
 *
 *   node bench/serve-core-server.ts [--access-log] [--bare | --effect | --node]   # --access-log: to stderr, as serve writes it
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { Effect, Layer } from "effect"
import { HttpRouter, HttpServerRequest, HttpServerResponse } from "effect/http"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import * as NodeServe from "../src/node/NodeServe.ts"
import * as Server from "../src/server/Server.ts"

const reply = {
  id: "chatcmpl-bench",
  object: "chat.completion",
  created: 1_700_000_000,
  model: "gpt-4o-mini",
  choices: [{ index: 0, message: { role: "assistant", content: "The Nile is the longest river in Africa.", refusal: null }, logprobs: null, finish_reason: "stop" }],
  usage: { prompt_tokens: 21, completion_tokens: 9, total_tokens: 30 }
}

const route: Server.Route = {
  method: "POST",
  path: "/v1/chat/completions",
  handler: Effect.gen(function*() {
    yield* Server.bodyJson
    yield* Server.noteUsage({ tokensIn: 21, tokensOut: 9, model: "gpt-4o-mini" })
    return Server.json(reply)
  }).pipe(Effect.catch((failure) => Effect.succeed(Server.failureResponse(failure))))
}

// Effect's HTTP server alone, the same route and answer: on serve's listener (`--bare`) or on a
// plain `node:http` server (`--effect`).
const bare = Effect.gen(function*() {
  const { server } = process.argv.includes("--effect")
    ? { server: yield* NodeHttpServer.make(() => createServer(), { host: "127.0.0.1", port: 0 }) }
    : yield* NodeServe.listen({ host: "127.0.0.1", port: 0 })
  const router = yield* HttpRouter.make
  yield* router.add(
    "POST",
    "/v1/chat/completions",
    Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      JSON.parse(yield* request.text)
      return HttpServerResponse.jsonUnsafe(reply)
    }).pipe(Effect.orDie)
  )
  yield* server.serve(router.asHttpEffect())
  const address = server.address
  yield* Effect.sync(() => process.stdout.write(`${address._tag === "UnixPathAddress" ? 0 : address.port}\n`))
  return yield* Effect.never
})

const core = Effect.gen(function*() {
  const server = yield* Server.make([route], {
    listen: NodeServe.listen,
    host: "127.0.0.1",
    port: 0,
    maxInFlight: 256,
    requestTimeoutMs: 10 * 60_000,
    maxBodyBytes: 4 * 1024 * 1024,
    // As `llm-connect serve` writes it (src/cli/commands/serve.ts).
    accessLog: process.argv.includes("--access-log")
      ? (line) => Effect.sync(() => void process.stderr.write(`${JSON.stringify(line)}\n`))
      : undefined
  })
  yield* Effect.sync(() => process.stdout.write(`${server.port}\n`))
  return yield* Effect.never
})

// Node's HTTP server alone, the same answer.
const node = () => {
  const server = createServer((request, response) => {
    let body = ""
    request.setEncoding("utf8")
    request.on("data", (chunk: string) => void (body += chunk))
    request.on("end", () => {
      JSON.parse(body)
      const text = JSON.stringify(reply)
      response.writeHead(200, { "content-type": "application/json", "content-length": String(Buffer.byteLength(text)) })
      response.end(text)
    })
  })
  server.listen(0, "127.0.0.1", () => process.stdout.write(`${(server.address() as AddressInfo).port}\n`))
}

if (process.argv.includes("--node")) node()
else Effect.runFork(Layer.launch(Layer.effectDiscard(process.argv.includes("--bare") || process.argv.includes("--effect") ? bare : core)))
process.on("SIGTERM", () => process.exit(0))
