/**
 * What a new client connection costs a server (issue 16, stop 30). Each target is a process
 * answering the chat route's JSON: a bare `node:http` handler (`node`), Effect's `NodeHttpServer`
 * over a plain `node:http` server (`effect`), the same on serve's listener (`bare`: `NodeServe.listen`),
 * serve's HTTP core (`core`: `Server.make`, no model call; all four bench/serve-core-server.ts), and
 * `llm-connect serve` with the OpenAI-compatible mock behind it (`serve`). The targets take turns,
 * the order rotating every round, and each round gives each:
 *
 * - `kept`: K requests one at a time on one kept connection;
 * - `fresh`: K requests one at a time, each on a new connection (a new keep-alive pool per request,
 *   destroyed once the answer has ended: the client closes, as the bench's pools do at a window's end);
 * - `burst`: B requests sent at once, each on a new connection (one new pool: what a window of
 *   bench/serve.ts starts with) and their time to the answer's first byte (p50, p99, max), ms.
 *
 * The server's CPU is read from `/proc/<pid>/task/<tid>/schedstat` (ns on a CPU, every thread of the
 * process and of its children: serve runs in a child process, ADR 0042), so a new connection's
 * kernel work in the server's threads (accept, the socket's setup and close) counts. Per target:
 * CPU µs per request kept and fresh and their paired difference per round (what a new connection
 * costs), burst CPU µs per connection, and the burst's latencies (medians over rounds). CPU figures
 * hold on a loaded machine far better than latencies.
 *
 *   node bench/serve-connect.ts ['[{"name":"node","kind":"node"},{"name":"serve","kind":"serve","tree":"/tmp/t-base"}]']
 *     [--requests 500] [--burst 100] [--rounds 5] [--path chat|execute] [--cpu-prof DIR]
 *
 * `kind`: node | effect | bare | core | serve; `tree` (default `.`): the source tree to run it from;
 * `node`: node flags (e.g. `["--cpu-prof"]`). Without an argument: the five kinds on this tree.
 *
 * `--alloc`: instead, the bytes each server allocates per request, kept and fresh, and so what a new
 * connection adds: each server runs with a 256 MB young generation and a preload
 * (bench/internal/heapRecord.ts) that reports its used heap; each round measures 200 requests of
 * each kind, and a span in which a collection ran is dropped. Deterministic to about 1 % for the
 * core's kinds (serve's own varies by 2-3 KB a request: its ledger's and client's batches).
 */
import { spawn } from "node:child_process"
import { existsSync, mkdtempSync, readdirSync, readFileSync } from "node:fs"
import { Agent, request } from "node:http"
import { loadavg, tmpdir } from "node:os"
import { join } from "node:path"
import { createInterface } from "node:readline"
import { percentile } from "./internal/load.ts"
import { argument, median } from "./internal/stats.ts"

interface Variant {
  readonly name: string
  readonly kind: "node" | "effect" | "bare" | "core" | "serve"
  readonly tree?: string
  readonly node?: ReadonlyArray<string>
}
const positional = process.argv.slice(2).filter((arg, index, all) => !arg.startsWith("--") && !(all[index - 1] ?? "").startsWith("--"))
const variants: ReadonlyArray<Variant> = positional[0] !== undefined
  ? JSON.parse(positional[0])
  : (["node", "effect", "bare", "core", "serve"] as const).map((kind) => ({ name: kind, kind }))
const REQUESTS = argument("requests", 500)
const BURST = argument("burst", 100)
const ROUNDS = argument("rounds", 5)
const ALLOC = process.argv.includes("--alloc")
const PATH = process.argv.includes("--path") ? process.argv[process.argv.indexOf("--path") + 1]! : "chat"
const load = () => loadavg().map((value) => value.toFixed(1)).join(" / ")

// ns on a CPU of a process's threads and of its children's.
const cpuNs = (pid: number): number => {
  const tasks = `/proc/${pid}/task`
  if (!existsSync(tasks)) return 0
  let sum = 0
  for (const tid of readdirSync(tasks)) {
    try {
      sum += Number(readFileSync(`${tasks}/${tid}/schedstat`, "utf8").split(" ")[0])
      const children = readFileSync(`${tasks}/${tid}/children`, "utf8").trim().split(/\s+/).filter((field) => field !== "")
      for (const child of children) sum += cpuNs(Number(child))
    } catch {
      // a thread that ended meanwhile
    }
  }
  return sum
}

const home = mkdtempSync(join(tmpdir(), "serve-connect-"))
const env = { ...process.env, HOME: home, XDG_STATE_HOME: join(home, "state"), LLM_CONNECT_KEY_DIR: join(home, "keys"), NO_COLOR: "1" }
// `--alloc`: the young generation large enough for a measured span, and the heap probe.
const heapProbe = new URL("./internal/heapRecord.ts", import.meta.url).pathname
const allocFlags = ["--max-semi-space-size=256", "--min-semi-space-size=256", `--import=${heapProbe}`]
const start = async (args: ReadonlyArray<string>, probed = false) => {
  const child = spawn(process.execPath, args, {
    // serve runs in one process when the semi-space size is the user's (ADR 0042).
    env: probed ? { ...env, NODE_OPTIONS: "--max-semi-space-size=256" } : env,
    stdio: ["ignore", "pipe", probed ? "pipe" : "ignore"]
  })
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once("line", resolve)
    child.once("exit", (code) => reject(new Error(`${args.join(" ")}: exited ${code}`)))
  })
  return { child, line: line.trim() }
}
const mock = await start([new URL("./openai-mock-server.ts", import.meta.url).pathname])
const mockUrl = `http://127.0.0.1:${mock.line}`
const chatBody = JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "system", content: "You are terse." }, { role: "user", content: "Name the longest river in Africa." }], max_tokens: 100, temperature: 0.2 })
const execBody = JSON.stringify({ provider: "openai-compatible", model: "gpt-4o-mini", systemPrompt: "You are terse.", prompt: "Name the longest river in Africa.", maxTokens: 100, temperature: 0.2 })

const servers = await Promise.all(variants.map(async (variant) => {
  const tree = variant.tree ?? "."
  const node = [...(variant.node ?? []), ...(ALLOC ? allocFlags : [])]
  if (variant.kind === "serve") {
    const { child, line } = await start([...node, join(tree, "src/cli/bin.ts"), "serve", "--port", "0", "--provider", "openai-compatible", "--base-url", `${mockUrl}/v1`, "--model", "gpt-4o-mini"], ALLOC)
    const url = new URL(line.slice("listening on ".length))
    return { ...variant, child, port: Number(url.port), path: PATH === "chat" ? "/v1/chat/completions" : "/execute", body: PATH === "chat" ? chatBody : execBody }
  }
  const { child, line } = await start([...node, join(tree, "bench/serve-core-server.ts"), ...(variant.kind === "core" ? [] : [`--${variant.kind}`])], ALLOC)
  return { ...variant, child, port: Number(line), path: "/v1/chat/completions", body: chatBody }
}))
type Target = (typeof servers)[number]
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    for (const server of servers) server.child.kill("SIGTERM")
    mock.child.kill("SIGTERM")
    process.exit(130)
  })
}

// One request; resolves with [time to the answer's first byte, ms; the status].
const post = (target: Target, agent: Agent) =>
  new Promise<readonly [number, number]>((resolve, reject) => {
    const sent = performance.now()
    let firstByte = 0
    const call = request({
      agent,
      host: "127.0.0.1",
      port: target.port,
      path: target.path,
      method: "POST",
      headers: { "content-type": "application/json", "content-length": String(Buffer.byteLength(target.body)) }
    }, (answer) => {
      firstByte = performance.now() - sent
      answer.resume()
      answer.on("end", () => resolve([firstByte, answer.statusCode ?? 0]))
    })
    call.on("error", reject)
    call.end(target.body)
  })
const check = (status: number) => {
  if (status !== 200) throw new Error(`status ${status}`)
}
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

// K requests one at a time: the server's CPU per request, µs.
const sequence = async (target: Target, fresh: boolean) => {
  const kept = new Agent({ keepAlive: true })
  const pid = target.child.pid!
  const before = cpuNs(pid)
  for (let index = 0; index < REQUESTS; index++) {
    const agent = fresh ? new Agent({ keepAlive: true }) : kept
    check((await post(target, agent))[1])
    if (fresh) agent.destroy()
  }
  // The closes of the last connections reach the server.
  await sleep(20)
  const us = (cpuNs(pid) - before) / 1000 / REQUESTS
  kept.destroy()
  return us
}
// B requests at once, each on a new connection.
const burst = async (target: Target) => {
  const agent = new Agent({ keepAlive: true, maxSockets: Infinity })
  const pid = target.child.pid!
  const before = cpuNs(pid)
  const answers = await Promise.all(Array.from({ length: BURST }, () => post(target, agent)))
  for (const [, status] of answers) check(status)
  agent.destroy()
  await sleep(20)
  const us = (cpuNs(pid) - before) / 1000 / BURST
  const firstBytes = Float64Array.from(answers.map(([ms]) => ms)).sort()
  return { us, p50: percentile(firstBytes, 50), p99: percentile(firstBytes, 99), max: firstBytes.at(-1)! }
}

// `--alloc`: the server's used heap and collection count, from its preload's answer to SIGUSR2.
const heapLines = new Map<number, Array<(line: string) => void>>()
if (ALLOC) {
  for (const server of servers) {
    createInterface({ input: server.child.stderr! }).on("line", (line) => {
      if (line.startsWith("@heap ")) heapLines.get(server.child.pid!)?.shift()?.(line)
    })
  }
}
const heap = (target: Target) =>
  new Promise<readonly [number, number]>((resolve) => {
    const waiting = heapLines.get(target.child.pid!) ?? []
    waiting.push((line) => {
      const [, used, collections] = line.split(" ")
      resolve([Number(used), Number(collections)])
    })
    heapLines.set(target.child.pid!, waiting)
    target.child.kill("SIGUSR2")
  })
const allocated = async (target: Target, fresh: boolean) => {
  const [usedBefore, collectionsBefore] = await heap(target)
  const kept = new Agent({ keepAlive: true })
  for (let index = 0; index < 200; index++) {
    const agent = fresh ? new Agent({ keepAlive: true }) : kept
    check((await post(target, agent))[1])
    if (fresh) agent.destroy()
  }
  await sleep(20)
  kept.destroy()
  const [usedAfter, collectionsAfter] = await heap(target)
  return collectionsAfter === collectionsBefore ? (usedAfter - usedBefore) / 200 : undefined
}
if (ALLOC) {
  console.log(`serve-connect --alloc: ${servers.map((server) => `${server.name} (${server.kind}${server.tree !== undefined ? ` ${server.tree}` : ""})`).join(", ")}; ${ROUNDS} rounds of 200 requests each way; load ${load()}`)
  const bytes = new Map(servers.map((server) => [server.name, { kept: [] as Array<number>, fresh: [] as Array<number> }]))
  for (const server of servers) {
    for (let index = 0; index < 4; index++) {
      await sequence(server, false)
      await sequence(server, true)
    }
  }
  for (let round = 0; round < ROUNDS; round++) {
    for (const server of servers) {
      const kept = await allocated(server, false)
      const fresh = await allocated(server, true)
      if (kept !== undefined) bytes.get(server.name)!.kept.push(kept)
      if (fresh !== undefined) bytes.get(server.name)!.fresh.push(fresh)
    }
  }
  console.log(["target", "kept B", "fresh B", "new conn B", "spans"].map((cell, index) => index === 0 ? cell.padEnd(12) : cell.padStart(11)).join(""))
  for (const [name, b] of bytes) {
    console.log([name.padEnd(12), ...[median(b.kept), median(b.fresh), median(b.fresh) - median(b.kept)].map((x) => x.toFixed(0).padStart(11)), `${b.kept.length}/${b.fresh.length}`.padStart(11)].join(""))
  }
  for (const server of servers) server.child.kill("SIGTERM")
  mock.child.kill("SIGTERM")
  await sleep(300)
  process.exit(0)
}

interface Figures {
  kept: Array<number>
  fresh: Array<number>
  added: Array<number>
  burstUs: Array<number>
  p50: Array<number>
  p99: Array<number>
  max: Array<number>
}
const figures = new Map<string, Figures>(servers.map((server) => [server.name, { kept: [], fresh: [], added: [], burstUs: [], p50: [], p99: [], max: [] }]))
console.log(`serve-connect: ${servers.map((server) => `${server.name} (${server.kind}${server.tree !== undefined ? ` ${server.tree}` : ""})`).join(", ")}; ${REQUESTS} requests one at a time, bursts of ${BURST}, ${ROUNDS} rounds, ${PATH}; load ${load()}`)
// Warm-up: each target's code paths compiled before the first measured round.
for (const server of servers) {
  await sequence(server, false)
  await sequence(server, true)
  await burst(server)
}
for (let round = 0; round < ROUNDS; round++) {
  const order = servers.map((_, index) => servers[(index + round) % servers.length]!)
  const parts: Array<string> = []
  for (const server of order) {
    const f = figures.get(server.name)!
    const kept = await sequence(server, false)
    const fresh = await sequence(server, true)
    const b = await burst(server)
    f.kept.push(kept)
    f.fresh.push(fresh)
    f.added.push(fresh - kept)
    f.burstUs.push(b.us)
    f.p50.push(b.p50)
    f.p99.push(b.p99)
    f.max.push(b.max)
    parts.push(`${server.name} ${kept.toFixed(0)}/${fresh.toFixed(0)} µs, burst ${b.us.toFixed(0)} µs p99 ${b.p99.toFixed(1)} ms`)
    await sleep(200)
  }
  console.log(`round ${round + 1} (load ${load()}): ${parts.join("; ")}`)
}
console.log(`\nmedians over ${ROUNDS} rounds (server CPU µs per request: kept connection, new connection each, paired difference; burst: CPU µs per connection, time to first byte ms)`)
console.log(["target", "kept µs", "fresh µs", "added µs", "burst µs", "burst p50", "burst p99", "burst max"].map((cell, index) => index === 0 ? cell.padEnd(12) : cell.padStart(10)).join(""))
for (const [name, f] of figures) {
  console.log([name.padEnd(12), ...[f.kept, f.fresh, f.added, f.burstUs].map((xs) => median(xs).toFixed(0).padStart(10)), ...[f.p50, f.p99, f.max].map((xs) => median(xs).toFixed(1).padStart(10))].join(""))
}
console.log(`load ${load()}`)
for (const server of servers) server.child.kill("SIGTERM")
mock.child.kill("SIGTERM")
await sleep(300)
process.exit(0)
