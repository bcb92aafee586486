/**
 * A/B of serve's CPU per request (issue 16, stop 24): one OpenAI-compatible mock, several
 * `llm-connect serve` processes (variants: a source tree, flags, environment), each loaded in
 * turn closed loop at 100 connections (autocannon), the order rotating every round; the CPU per
 * request of each serve process (user + system, /proc, Linux) with its median, minimum and the
 * median of its paired differences to the first variant measured in the same round.
 *
 *   node bench/serve-ab.ts '[{"name":"before","tree":"/tmp/before","args":[]},{"name":"after","tree":".","args":[]}]' [rounds 5] [seconds 3] [chat|execute|chat-stream]
 *
 * `chat-stream` (stop 30): chat completions with `"stream": true`, answered as server-sent events by
 * `openai-sse-mock-server.ts` (3 content chunks and the usage chunk).
 *
 * A variant may add `"node": ["--cpu-prof", ...]` (node flags) and `"env": {...}`; with its own
 * `--provider` in `args` (e.g. `["--provider", "mock", "--model", "gpt-4o-mini"]`, the in-process mock
 * model) it does not get the mock's openai-compatible flags, so that serve with and without the
 * provider's HTTP call can be set side by side (issue 16, stop 25). To compare
 * with a base commit: `git worktree add /tmp/before <commit>` and link node_modules into it.
 *
 * Options (anywhere after the variants; issue 16, stop 27): `--steps` counts the effect steps each
 * serve process evaluates per request (bench/internal/stepsRecord.ts: from its 1,000th request on,
 * deterministic, so it holds on a loaded machine), `--gc` records each serve process's garbage
 * collections (bench/internal/gcRecord.ts: KB allocated and promoted per request); both print a
 * line per variant after the table. Each adds a preload to every variant (its own small cost).
 * `--contexts` (stop 28) counts the effect contexts each request makes (bench/internal/contextsRecord.ts:
 * effect's overlay records, other records, map copies and the services they hold; deterministic, but
 * its accessors slow serve: never read the CPU figures of a run with it).
 */
import autocannon from "autocannon"
import { spawn } from "node:child_process"
import { existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync } from "node:fs"
import { createInterface } from "node:readline"
import { loadavg, tmpdir } from "node:os"
import { join } from "node:path"
import * as GcRecord from "./internal/gcRecord.ts"
import type * as ContextsRecord from "./internal/contextsRecord.ts"
import type * as StepsRecord from "./internal/stepsRecord.ts"
const positional = process.argv.slice(2).filter((arg) => !arg.startsWith("--"))
const STEPS = process.argv.includes("--steps"), GC = process.argv.includes("--gc"), CONTEXTS = process.argv.includes("--contexts")
const variants: Array<{ name: string; tree: string; args: Array<string>; node?: Array<string>; env?: Record<string, string> }> = JSON.parse(positional[0]!)
const REPS = Number(positional[1] ?? 5), SECONDS = Number(positional[2] ?? 3), PATH = positional[3] ?? "chat"
// A process and the processes it started (serve runs in a child process of its own, ADR 0042).
const cpuOf = (pid: number): number => {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")
  const kids = existsSync(`/proc/${pid}/task/${pid}/children`) ? readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter((x) => x !== "").map(Number) : []
  return kids.reduce((sum, kid) => sum + cpuOf(kid), (Number(f[11]) + Number(f[12])) * 10_000)
}
const start = async (args: Array<string>, env?: Record<string, string>, stderr?: number) => {
  const child = spawn(process.execPath, args, { env: env ?? process.env, stdio: ["ignore", "pipe", stderr ?? "inherit"] })
  const line = await new Promise<string>((res, rej) => { createInterface({ input: child.stdout! }).once("line", res); child.once("exit", (c) => rej(new Error(`exit ${c}`))) })
  return { child, line: line.trim() }
}
const home = mkdtempSync(join(tmpdir(), "v-ab-"))
const env = { ...process.env, HOME: home, XDG_STATE_HOME: join(home, "state"), LLM_CONNECT_KEY_DIR: join(home, "keys"), NO_COLOR: "1" }
// `chat-stream` (stop 30): chat with `"stream": true` against the SSE mock (3 content chunks, then the usage).
const STREAM = PATH === "chat-stream"
const mock = await start([new URL(STREAM ? "./openai-sse-mock-server.ts" : "./openai-mock-server.ts", import.meta.url).pathname])
const mockUrl = `http://127.0.0.1:${mock.line}`
const chatBody = JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "system", content: "You are terse." }, { role: "user", content: "Name the longest river in Africa." }], max_tokens: 100, temperature: 0.2, ...(STREAM ? { stream: true } : {}) })
const execBody = JSON.stringify({ provider: "openai-compatible", model: "gpt-4o-mini", systemPrompt: "You are terse.", prompt: "Name the longest river in Africa.", maxTokens: 100, temperature: 0.2 })
const servers: Array<(typeof variants)[number] & { child: ReturnType<typeof spawn>; url: string; records: string }> = []
for (const v of variants) {
  // A variant naming its own provider (e.g. `"args": ["--provider", "mock", "--model", "gpt-4o-mini"]`: the
  // in-process mock model, no HTTP call) replaces the mock's openai-compatible flags.
  const provider = v.args.includes("--provider") ? [] : ["--provider", "openai-compatible", "--base-url", `${mockUrl}/v1`, "--model", "gpt-4o-mini"]
  // `--steps` / `--gc`: a preload per process, writing into a folder of this variant's.
  const records = join(home, `records-${servers.length}`)
  mkdirSync(records)
  const preloads = [
    ...(STEPS ? [`--import=${join(import.meta.dirname, "internal/stepsRecord.ts")}`] : []),
    ...(GC ? [`--import=${join(import.meta.dirname, "internal/gcRecord.ts")}`] : []),
    ...(CONTEXTS ? [`--import=${join(import.meta.dirname, "internal/contextsRecord.ts")}`] : [])
  ]
  const recordEnv = {
    ...(STEPS ? { LLM_CONNECT_BENCH_STEPS_DIR: records } : {}),
    ...(GC ? { LLM_CONNECT_BENCH_GC_DIR: records } : {}),
    ...(CONTEXTS ? { LLM_CONNECT_BENCH_CONTEXTS_DIR: records } : {})
  }
  const s = await start([...(v.node ?? []), ...preloads, join(v.tree, "src/cli/bin.ts"), "serve", "--port", "0", ...provider, ...v.args], { ...env, ...v.env, ...recordEnv }, openSync(join(home, `${servers.length}.log`), "w"))
  servers.push({ ...v, child: s.child, url: s.line.slice("listening on ".length), records })
}
const cannon = (url: string, seconds: number) => autocannon({ url: url + (PATH === "execute" ? "/execute" : "/v1/chat/completions"), method: "POST", headers: { "content-type": "application/json" }, body: PATH === "execute" ? execBody : chatBody, connections: 100, duration: seconds })
for (const s of servers) await cannon(s.url, 3)
const cpu = new Map<string, number[]>(), rps = new Map<string, number[]>()
for (let rep = 0; rep < REPS; rep++) {
  for (let i = 0; i < servers.length; i++) {
    const s = servers[(i + rep) % servers.length]!
    const before = cpuOf(s.child.pid!)
    const r = await cannon(s.url, SECONDS)
    if (r.non2xx + r.errors > 0) console.error(`${s.name}: ${r.non2xx} non2xx ${r.errors} errors`)
    cpu.set(s.name, [...(cpu.get(s.name) ?? []), (cpuOf(s.child.pid!) - before) / r["2xx"]])
    rps.set(s.name, [...(rps.get(s.name) ?? []), r["2xx"] / r.duration])
  }
}
const med = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]! }
const base = cpu.get(servers[0]!.name)!
console.log(`path ${PATH}, ${REPS} rounds x ${SECONDS}s, C=100, load ${loadavg().map((x) => x.toFixed(1)).join(" ")}`)
console.log(`| variant | CPU µs/req median (min) | paired diff vs first | req/s |`)
for (const s of servers) {
  const xs = cpu.get(s.name)!
  console.log(`| ${s.name} | ${med(xs).toFixed(0)} (${Math.min(...xs).toFixed(0)}) | ${med(xs.map((x, i) => x - base[i]!)).toFixed(0)} | ${med(rps.get(s.name)!).toFixed(0)} |`)
}
const exited = servers.map((s) => new Promise<void>((res) => s.child.exitCode !== null ? res() : s.child.once("exit", () => res())))
for (const s of servers) s.child.kill("SIGTERM")
await Promise.race([Promise.all(exited), new Promise((r) => setTimeout(r, 30_000))])
mock.child.kill()
if (STEPS || GC || CONTEXTS) {
  for (const s of servers) {
    for (const file of readdirSync(s.records)) {
      const text = readFileSync(join(s.records, file), "utf8")
      if (file.startsWith("steps-")) {
        const record = JSON.parse(text) as StepsRecord.Record
        console.log(`${s.name}: ${(record.steps / record.requests).toFixed(1)} effect steps per request (${record.requests} requests)`)
      } else if (file.startsWith("gc-")) {
        const record = JSON.parse(text) as GcRecord.Record
        if (record.requests > 0) for (const line of GcRecord.summarize(record)) console.log(`${s.name}: ${line}`)
      } else if (file.startsWith("contexts-")) {
        const record = JSON.parse(text) as ContextsRecord.Record
        const per = (n: number) => (n / record.requests).toFixed(2)
        const sizes = Object.entries(record.copySizes).sort((a, b) => b[1] - a[1]).slice(0, 8).map(([size, n]) => `${size} services: ${per(n)}`).join(", ")
        if (record.sites !== undefined) {
          for (const [site, n] of Object.entries(record.sites).sort((a, b) => b[1] - a[1]).slice(0, 30)) console.log(`${s.name}:   ${per(n)} ${site}`)
        }
        console.log(`${s.name}: per request: effect overlay records ${per(record.effectRecords)}, other records ${per(record.otherRecords)}, map copies ${per(record.mapCopies)} holding ${per(record.mapEntries)} services, contexts flattened ${per(record.flattened)} holding ${per(record.flattenedEntries)} (by size: ${sizes}); ${record.requests} requests`)
      }
    }
  }
}
await new Promise((r) => setTimeout(r, 500))
process.exit(0)
