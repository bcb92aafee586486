/**
 * Socket writes per streamed chat request of serve (issue 16, stop 31): for each tree, the SSE mock,
 * `llm-connect serve` under `strace -f -c -e trace=write,writev` (Linux, strace installed), a fixed
 * number of `"stream": true` chat requests (autocannon, `amount`, at C connections), then the
 * process stopped and strace's counts read: write and writev calls per request, both directions
 * (to the client, to the provider, and the access log's line on stderr: one per request in every
 * tree), start-up and shutdown included (enough requests, 2,000, that they do not matter).
 * Deterministic but for how the kernel splits the mock's events into reads (at C=1, hardly).
 *
 *   node bench/serve-stream-writes.ts TREE... [--requests 2000] [--connections 1] [--usage]
 */
import autocannon from "autocannon"
import { spawn } from "node:child_process"
import { mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { createInterface } from "node:readline"
import { argument } from "./internal/stats.ts"

const REQUESTS = argument("requests", 2000)
const CONNECTIONS = argument("connections", 1)
const USAGE = process.argv.includes("--usage")
const trees = process.argv.slice(2).filter((arg, i, all) => !arg.startsWith("--") && !(all[i - 1] ?? "").startsWith("--"))
const home = mkdtempSync(join(tmpdir(), "v-writes-"))
const env = { ...process.env, HOME: home, XDG_STATE_HOME: join(home, "state"), LLM_CONNECT_KEY_DIR: join(home, "keys"), NO_COLOR: "1" }
const start = async (command: string, args: Array<string>) => {
  const child = spawn(command, args, { env, stdio: ["ignore", "pipe", "ignore"] })
  const line = await new Promise<string>((res, rej) => { createInterface({ input: child.stdout! }).once("line", res); child.once("exit", (c) => rej(new Error(`exit ${c}`))) })
  return { child, line: line.trim() }
}
const mock = await start(process.execPath, [new URL("./openai-sse-mock-server.ts", import.meta.url).pathname])
const body = JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "Name the longest river in Africa." }], stream: true, ...(USAGE ? { stream_options: { include_usage: true } } : {}) })
for (const tree of trees) {
  const out = join(home, `strace-${trees.indexOf(tree)}.txt`)
  const serve = await start("strace", ["-f", "-c", "-e", "trace=write,writev", "-o", out, process.execPath, join(resolve(tree), "src/cli/bin.ts"), "serve", "--port", "0", "--provider", "openai-compatible", "--base-url", `http://127.0.0.1:${mock.line}/v1`, "--model", "gpt-4o-mini"])
  const url = serve.line.slice("listening on ".length)
  const r = await autocannon({ url: `${url}/v1/chat/completions`, method: "POST", headers: { "content-type": "application/json" }, body, connections: CONNECTIONS, amount: REQUESTS })
  // strace does not pass SIGTERM on: serve (strace's child) gets it.
  const traced = Number(readFileSync(`/proc/${serve.child.pid}/task/${serve.child.pid}/children`, "utf8").trim().split(/\s+/)[0])
  process.kill(traced, "SIGTERM")
  await new Promise((res) => serve.child.once("exit", res))
  const counts = Object.fromEntries(readFileSync(out, "utf8").split("\n").map((line) => line.trim().split(/\s+/)).filter((f) => f.length >= 5 && (f.at(-1) === "write" || f.at(-1) === "writev")).map((f) => [f.at(-1)!, Number(f[3])]))
  const per = (n: number | undefined) => ((n ?? 0) / r["2xx"]).toFixed(2)
  console.log(`${tree}: ${r["2xx"]} streamed requests (C=${CONNECTIONS}${USAGE ? ", usage" : ""}): write ${per(counts.write)}, writev ${per(counts.writev)} per request`)
}
mock.child.kill()
process.exit(0)
