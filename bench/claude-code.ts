/**
 * What the Claude Code provider adds to one run of the `claude` binary: the same call made by
 * running the binary directly (`node:child_process.spawn`, the prompt on stdin, JSON parsed) and
 * through `ClaudeCodeLanguageModel.generate` (temporary directory, system prompt file, Effect
 * process handling, result decoding, usage mapping), both against a local fake Anthropic API
 * answering at once. The binary's own start-up dominates both; the ratio shows the adapter's
 * share. Wall time per call, median over repetitions, the two variants interleaved.
 *
 *   node bench/claude-code.ts [--reps 9]
 */
import { NodeServices } from "@effect/platform-node"
import { Effect } from "effect"
import { spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as LlmRequest from "../src/LlmRequest.ts"
import * as ClaudeCodeLanguageModel from "../src/providers/claude-code/ClaudeCodeLanguageModel.ts"
import { argument, median, time } from "./internal/stats.ts"

const REPS = argument("reps", 9)
const binary = join(import.meta.dirname, "../node_modules/@anthropic-ai/claude-code/bin/claude.exe")

const event = (type: string, data: Record<string, unknown>) => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`
const reply = [
  event("message_start", {
    message: { id: "m", type: "message", role: "assistant", model: "claude-haiku", content: [], usage: { input_tokens: 10, output_tokens: 1 } }
  }),
  event("content_block_start", { index: 0, content_block: { type: "text", text: "" } }),
  event("content_block_delta", { index: 0, delta: { type: "text_delta", text: "pong" } }),
  event("content_block_stop", { index: 0 }),
  event("message_delta", { delta: { stop_reason: "end_turn" }, usage: { output_tokens: 2 } }),
  event("message_stop", {})
].join("")

const server = createServer((request, response) => {
  request.resume()
  request.on("end", () => {
    if (request.url?.startsWith("/v1/messages") === true) {
      response.writeHead(200, { "content-type": "text/event-stream" })
      response.end(reply)
    } else {
      response.writeHead(200, { "content-type": "application/json" })
      response.end("{}")
    }
  })
})
await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
const home = mkdtempSync(join(tmpdir(), "llm-connect-bench-claude-"))
const env = {
  HOME: home,
  ANTHROPIC_API_KEY: "test",
  ANTHROPIC_BASE_URL: baseUrl,
  DISABLE_AUTOUPDATER: "1",
  CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
  CLAUDE_CODE_MAX_RETRIES: "0"
}

/** The baseline: the binary run directly, with the same flags, its JSON parsed. */
const direct = () =>
  new Promise<string>((resolve, reject) => {
    const child = spawn(
      binary,
      ["-p", "--output-format", "json", "--model", "haiku", "--tools", "", "--max-turns", "1", "--no-session-persistence"],
      { cwd: home, env: { ...process.env, ...env }, stdio: ["pipe", "pipe", "ignore"] }
    )
    let out = ""
    child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()))
    child.on("error", reject)
    child.on("close", () => resolve((JSON.parse(out) as { result: string }).result))
    child.stdin.end("ping")
  })

const model = await Effect.runPromise(
  ClaudeCodeLanguageModel.make({ binaryPath: binary, baseUrl, model: "haiku", env: { HOME: home, ANTHROPIC_API_KEY: "test" } })
    .pipe(Effect.provide(NodeServices.layer))
)
const viaAdapter = () => Effect.runPromise(model.generate(LlmRequest.make("ping")))

await direct() // warm the file cache
await viaAdapter()
const directTimes: Array<number> = []
const adapterTimes: Array<number> = []
for (let rep = 0; rep < REPS; rep++) {
  directTimes.push(await time(direct))
  adapterTimes.push(await time(viaAdapter))
}
server.close()
rmSync(home, { recursive: true, force: true })

const base = median(directTimes)
const ours = median(adapterTimes)
console.log(`claude-code: wall time per call, median of ${REPS} (machine shared: read the ratio, not the ms)`)
console.log(`  claude binary run directly   ${base.toFixed(0).padStart(6)} ms   1.00x`)
console.log(`  ClaudeCodeLanguageModel      ${ours.toFixed(0).padStart(6)} ms   ${(ours / base).toFixed(2)}x   (+${(ours - base).toFixed(0)} ms)`)
