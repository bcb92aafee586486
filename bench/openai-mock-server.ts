/**
 * A minimal OpenAI chat-completions mock for the benchmarks: 0 ms latency, keep-alive, one fixed
 * reply. Run in its own process (bench/openai-adapter.ts spawns it) so that its CPU is not
 * counted as the client's. Prints the port on stdout once it listens.
 */
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"

const reply = JSON.stringify({
  id: "chatcmpl-bench",
  object: "chat.completion",
  created: 1_700_000_000,
  model: "gpt-4o-mini",
  system_fingerprint: "fp_bench",
  choices: [{
    index: 0,
    message: { role: "assistant", content: "The Nile is the longest river in Africa.", refusal: null },
    logprobs: null,
    finish_reason: "stop"
  }],
  usage: {
    prompt_tokens: 21,
    completion_tokens: 9,
    total_tokens: 30,
    prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0 }
  }
})
const length = String(Buffer.byteLength(reply))

const server = createServer((request, response) => {
  request.resume()
  request.on("end", () => {
    response.writeHead(200, {
      "content-type": "application/json",
      "content-length": length,
      "x-request-id": "req_bench"
    })
    response.end(reply)
  })
})
server.keepAliveTimeout = 60_000
// `--log-connections` (bench/serve-idle.ts): one stderr line per connection accepted, with its time (ms since the epoch).
if (process.argv.includes("--log-connections")) {
  server.on("connection", () => void process.stderr.write(`@event ${(performance.timeOrigin + performance.now()).toFixed(1)} mock-connection\n`))
}
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`${(server.address() as AddressInfo).port}\n`)
})
process.on("SIGTERM", () => server.close(() => process.exit(0)))
