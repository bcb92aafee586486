/**
 * What one bridge call costs its consumer (issue 16): a process per call (`llm-connect bridge`,
 * the request on stdin, as the Haskell consumer runs it today) against one long-lived
 * `llm-connect bridge --jsonl` process, both answering from the mock provider at 0 ms with the
 * usage ledger on (the CLI's default: a SQLite file in the state directory). Three ways of
 * calling it:
 *
 * - process per call: spawn, write the request, read the answer, wait for the exit; sequential;
 * - `--jsonl`, one at a time: write a line, wait for its answer, then the next (latency);
 * - `--jsonl`, pipelined: `--calls` lines written at once, answers read as they come
 *   (`--concurrency 16`; wall time per call, i.e. 1 / throughput);
 *
 * and, as the floor under the first, a bare `node -e ""` spawn. The sources run through
 * Node's type stripping (`node src/cli/bin.ts`), as in a clone; wall time per call in ms,
 * median over `--reps` rounds, variants interleaved.
 *
 *   node bench/bridge.ts [--reps 3] [--spawns 8] [--calls 1000]
 */
import { spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { argument, median, time } from "./internal/stats.ts"

const REPS = argument("reps", 3)
const SPAWNS = argument("spawns", 8)
const CALLS = argument("calls", 1000)
const bin = join(import.meta.dirname, "../src/cli/bin.ts")
const home = mkdtempSync(join(tmpdir(), "llm-connect-bench-bridge-"))
const env = { HOME: home, XDG_STATE_HOME: join(home, "state"), LLM_CONNECT_KEY_DIR: join(home, "keys"), NO_COLOR: "1" }

const request = (id: number) =>
  JSON.stringify({ id, provider: "mock", model: "mock-1", systemPrompt: null, prompt: `Name river ${id}`, maxTokens: 100, temperature: 0.2 })

const bareNode = () =>
  new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, ["-e", ""], { env, stdio: "ignore" })
    child.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`node -e exited ${code}`))))
  })

const processPerCall = (id: number) =>
  new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, [bin, "bridge"], { env, stdio: ["pipe", "pipe", "inherit"] })
    let stdout = ""
    child.stdout.on("data", (chunk) => (stdout += String(chunk)))
    child.on("close", (code) => {
      const answer = JSON.parse(stdout) as { content?: string }
      return code === 0 && answer.content !== undefined ? resolve() : reject(new Error(`bridge exited ${code}: ${stdout}`))
    })
    child.stdin.end(request(id))
  })

// One long-lived --jsonl bridge; `call` writes lines and resolves when their answers came.
const startJsonl = async () => {
  const child = spawn(process.execPath, [bin, "bridge", "--jsonl", "--concurrency", "16"], { env, stdio: ["pipe", "pipe", "inherit"] })
  let buffered = ""
  let waiting: { count: number; resolve: () => void } | undefined
  child.stdout.on("data", (chunk) => {
    buffered += String(chunk)
    const lines = buffered.split("\n")
    buffered = lines.pop()!
    for (const line of lines) {
      if ((JSON.parse(line) as { content?: string }).content === undefined) throw new Error(`failed: ${line}`)
      if (waiting !== undefined && --waiting.count === 0) {
        const done = waiting.resolve
        waiting = undefined
        done()
      }
    }
  })
  const call = (ids: ReadonlyArray<number>) =>
    new Promise<void>((resolve) => {
      waiting = { count: ids.length, resolve }
      child.stdin.write(ids.map((id) => `${request(id)}\n`).join(""))
    })
  const started = await time(() => call([0]))
  const stop = () =>
    new Promise<void>((resolve) => {
      child.on("close", () => resolve())
      child.stdin.end()
    })
  return { call, started, stop }
}

const rows: Record<string, Array<number>> = { node: [], spawn: [], startup: [], sequential: [], pipelined: [] }
for (let rep = 0; rep < REPS; rep++) {
  rows.node!.push(await time(async () => {
    for (let index = 0; index < SPAWNS; index++) await bareNode()
  }) / SPAWNS)
  rows.spawn!.push(await time(async () => {
    for (let index = 0; index < SPAWNS; index++) await processPerCall(index)
  }) / SPAWNS)
  const jsonl = await startJsonl()
  rows.startup!.push(jsonl.started)
  // Warm-up, then one at a time.
  for (let index = 0; index < 50; index++) await jsonl.call([index])
  rows.sequential!.push(await time(async () => {
    for (let index = 0; index < CALLS; index++) await jsonl.call([index])
  }) / CALLS)
  const ids = Array.from({ length: CALLS }, (_, index) => index)
  rows.pipelined!.push(await time(() => jsonl.call(ids)) / CALLS)
  await jsonl.stop()
}
rmSync(home, { recursive: true, force: true })

const jsonlSequential = median(rows.sequential!)
const table: Array<[string, number]> = [
  ["bare `node -e \"\"` spawn (floor of a process per call)", median(rows.node!)],
  ["process per call (`llm-connect bridge`)", median(rows.spawn!)],
  ["--jsonl: start-up to first answer (once per process)", median(rows.startup!)],
  ["--jsonl: one at a time", jsonlSequential],
  ["--jsonl: pipelined (16 in flight)", median(rows.pipelined!)]
]
console.log(`bridge cost per call, mock provider at 0 ms, ledger on (medians of ${REPS} rounds; ${SPAWNS} spawns, ${CALLS} jsonl calls per round)`)
console.log("| variant | ms per call | x --jsonl one at a time |")
console.log("| --- | ---: | ---: |")
for (const [name, ms] of table) console.log(`| ${name} | ${ms.toFixed(3)} | ${(ms / jsonlSequential).toFixed(1)} |`)
