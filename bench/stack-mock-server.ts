/**
 * An OpenAI chat-completions mock for bench/stack.ts: answers every request after a fixed
 * latency (`--latency 50`, in ms), keep-alive, one fixed reply. Runs in its own process so that
 * its CPU is not the client's. Prints the port on stdout once it listens.
 */
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"

const index = process.argv.indexOf("--latency")
const latencyMs = index >= 0 ? Number(process.argv[index + 1]) : 50

const reply = JSON.stringify({
  id: "chatcmpl-bench",
  object: "chat.completion",
  created: 1_700_000_000,
  model: "gpt-4o-mini",
  choices: [{ index: 0, message: { role: "assistant", content: "The Nile.", refusal: null }, finish_reason: "stop" }],
  usage: { prompt_tokens: 21, completion_tokens: 3, total_tokens: 24 }
})
const length = String(Buffer.byteLength(reply))

const server = createServer((request, response) => {
  request.resume()
  request.on("end", () => {
    setTimeout(() => {
      response.writeHead(200, { "content-type": "application/json", "content-length": length })
      response.end(reply)
    }, latencyMs)
  })
})
server.keepAliveTimeout = 60_000
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`${(server.address() as AddressInfo).port}\n`)
})
process.on("SIGTERM", () => server.close(() => process.exit(0)))
