/**
 * The floor of the serve benchmark (issue 16): the least an HTTP hop in Node can cost. A minimal
 * `node:http` pass-through proxy that forwards every request to `--upstream` (method, path,
 * headers minus the hop-by-hop ones) with `http.request` over a keep-alive agent, streaming the
 * body through in both directions: no parsing, no routing, no logging. Run in its own process;
 * prints its port on stdout once it listens.
 *
 *   node bench/passthrough-proxy.ts --upstream http://127.0.0.1:PORT [--port 0]
 */
import { Agent, createServer, type IncomingHttpHeaders, request } from "node:http"
import type { AddressInfo } from "node:net"

const option = (name: string): string | undefined => {
  const index = process.argv.indexOf(`--${name}`)
  return index >= 0 ? process.argv[index + 1] : undefined
}

const upstreamText = option("upstream")
if (upstreamText === undefined) {
  console.error("--upstream is missing: pass the URL to forward to, e.g. --upstream http://127.0.0.1:8080")
  process.exit(2)
}
const upstream = new URL(upstreamText)
const port = Number(option("port") ?? "0")

// RFC 9110 section 7.6.1: meaningful for one connection only, never forwarded.
const hopByHop = new Set(["connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"])
const forwardable = (headers: IncomingHttpHeaders): IncomingHttpHeaders => {
  const kept: IncomingHttpHeaders = {}
  for (const [name, value] of Object.entries(headers)) if (!hopByHop.has(name)) kept[name] = value
  return kept
}

const agent = new Agent({ keepAlive: true, maxSockets: Infinity })

const server = createServer((incoming, outgoing) => {
  const forwarded = request({
    agent,
    host: upstream.hostname,
    port: upstream.port,
    method: incoming.method,
    path: incoming.url,
    headers: forwardable(incoming.headers)
  }, (answer) => {
    outgoing.writeHead(answer.statusCode ?? 502, forwardable(answer.headers))
    answer.pipe(outgoing)
  })
  forwarded.on("error", () => {
    if (!outgoing.headersSent) outgoing.writeHead(502, { "content-type": "text/plain" })
    outgoing.end("upstream failed")
  })
  incoming.pipe(forwarded)
})
server.keepAliveTimeout = 60_000
server.listen(port, "127.0.0.1", () => {
  process.stdout.write(`${(server.address() as AddressInfo).port}\n`)
})
process.on("SIGTERM", () => {
  server.close(() => process.exit(0))
  server.closeAllConnections()
})
