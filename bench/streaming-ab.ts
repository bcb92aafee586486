/**
 * An A/B of `bench/streaming.ts`'s adapter and whole-stack rows between this tree and another
 * (issue 14, stop 29), both trees in ONE process: each tree's own `src/` and its own copy of
 * effect (from its `node_modules`, e.g. `git worktree add --detach /tmp/base <commit>` with
 * node_modules linked in), each in a runtime of its own, against one SSE mock
 * (`openai-sse-mock-server.ts`, in a child process, so that only the client's CPU is counted).
 *
 * Rows, per tree: the OpenAI-compatible adapter's `generate` and `stream`, and `bench/streaming.ts`'s
 * whole default stack's `generate` and `stream` (3 content chunks + usage + `[DONE]`). Every round
 * runs every row once (`--calls` calls at `--concurrency`, CPU per call from `process.cpuUsage()`),
 * the order rotating round by round. Printed per concurrency: the medians per row and tree, the
 * paired medians (this tree - base, per round) and each tree's stream / generate ratios (medians of
 * the per-round ratios), with the load average; then, once, bytes allocated per call (V8's sampling
 * heap profiler) of every row.
 *
 *   node bench/streaming-ab.ts --base /tmp/e-base [--rounds 15] [--calls 500] [--concurrency 1|100] [--swap]
 *
 * `--swap` loads the base tree first (and lists its rows first in each rotation).
 */
import { existsSync } from "node:fs"
import { join, resolve } from "node:path"
import type * as LanguageModelType from "../src/LanguageModel.ts"
import type * as StreamPart from "../src/StreamPart.ts"
import { bytesAllocated } from "./internal/allocation.ts"
import { loadModules } from "./internal/otherTree.ts"
import { startMockServer } from "./internal/mockServer.ts"
import { answer } from "./internal/sseAnswer.ts"
import { argument, loadAverage, median, option } from "./internal/stats.ts"

const BASE = option("base", "")
const ROUNDS = argument("rounds", 15)
const CALLS = argument("calls", 500)
const CONCURRENCIES = process.argv.includes("--concurrency") ? [argument("concurrency", 1)] : [1, 100]
const WARMUP_ROUNDS = 2

if (BASE === "" || !existsSync(join(BASE, "src/Stack.ts"))) {
  console.error("--base: a tree with src/ and node_modules (e.g. git worktree add --detach /tmp/e-base <commit>, node_modules linked in)")
  process.exit(2)
}

const EXPECTED = answer(3)
const check = (text: string, usage: unknown) => {
  if (text !== EXPECTED) throw new Error(`unexpected reply: ${text}`)
  if (usage === undefined) throw new Error("no usage")
}

interface Row {
  readonly name: string
  readonly tree: string
  readonly run: (calls: number, concurrency: number) => Promise<void>
}

/** A tree's four rows, built with its own effect and src against the mock at `baseUrl`. */
const treeRows = async (tree: string, dir: string, baseUrl: string): Promise<{ rows: ReadonlyArray<Row>; dispose: () => Promise<void> }> => {
  const { effect, Stack: StackOf, ProviderRegistry: RegistryOf, LlmRequest: RequestOf, runtime, scope, dispose } = await loadModules(dir)
  const { Effect, Scope, Stream } = effect
  const request = RequestOf.make("Name the longest river in Africa.")
  const provider = { provider: "openai-compatible", baseUrl, model: "gpt-4o-mini" }
  type Made<A> = import("effect").Effect.Effect<A, unknown, import("effect").Scope.Scope | import("../src/ProviderRegistry.ts").ProviderRegistry>
  const inScope = <A>(made: Made<A>) => runtime.runPromise(made.pipe(Effect.provideService(Scope.Scope, scope), Effect.orDie))
  const adapter = await inScope(RegistryOf.create(provider))
  const stack = await inScope(Effect.map(
    StackOf.make({
      provider,
      budget: { budget: { totalTokens: 1_000_000_000_000 } },
      resilience: { limits: { concurrency: 1_000, providerConcurrency: 1_000, rpm: 100_000_000 } }
    }),
    (factory) => factory.model
  ))
  const many = (one: import("effect").Effect.Effect<void, unknown>) => (calls: number, concurrency: number) =>
    runtime.runPromise(Effect.forEach(Array.from({ length: calls }), () => one, { concurrency, discard: true }))
  // Each call asks the model anew (`Effect.suspend`), as a caller does: a row that built its effect
  // once would make its wire request once and rerun it (stop 31, helper A), while the stack's layers
  // ask the adapter per call.
  const generated = (model: LanguageModelType.Service) =>
    Effect.suspend(() => Effect.map(model.generate(request), (response) => check(response.content, response.usage)))
  const streamed = (model: LanguageModelType.Service) =>
    Effect.suspend(() => Effect.map(
      Stream.runFold(model.stream(request), () => ({ text: "", usage: undefined as unknown }), (read, part: StreamPart.StreamPart) => {
        if (part.type === "text-delta") read.text += part.text
        else if (part.type === "finish") read.usage = part.response.usage
        return read
      }),
      (read) => check(read.text, read.usage)
    ))
  return {
    rows: [
      { name: "adapter generate", tree, run: many(generated(adapter)) },
      { name: "adapter stream", tree, run: many(streamed(adapter)) },
      { name: "stack generate", tree, run: many(generated(stack)) },
      { name: "stack stream", tree, run: many(streamed(stack)) }
    ],
    dispose
  }
}

const main = async () => {
  const { origin, child } = await startMockServer("./openai-sse-mock-server.ts")
  const baseUrl = `${origin}/v1`
  // `--swap`: the base tree loaded (and its rows listed) first, to see whether the order matters.
  const SWAP = process.argv.includes("--swap")
  const base = SWAP ? await treeRows("base", BASE, baseUrl) : undefined
  const mine = await treeRows("this", resolve(import.meta.dirname, ".."), baseUrl)
  const other = base ?? await treeRows("base", BASE, baseUrl)
  const rows = SWAP ? [...other.rows, ...mine.rows] : [...mine.rows, ...other.rows]
  const names = mine.rows.map((row) => row.name)
  const key = (row: Row) => `${row.tree}: ${row.name}`
  console.log(`node ${process.version}; this tree vs ${BASE}, both in one process; ${CALLS} calls per measurement, ${ROUNDS} rounds (+${WARMUP_ROUNDS} warm-up), rows rotated`)
  for (const concurrency of CONCURRENCIES) {
    const cpu = new Map<string, Array<number>>()
    const loads: Array<string> = []
    for (let round = 0; round < WARMUP_ROUNDS + ROUNDS; round++) {
      for (let index = 0; index < rows.length; index++) {
        const row = rows[(index + round) % rows.length]!
        const start = process.cpuUsage()
        await row.run(CALLS, concurrency)
        const used = process.cpuUsage(start)
        if (round >= WARMUP_ROUNDS) cpu.set(key(row), [...(cpu.get(key(row)) ?? []), (used.user + used.system) / CALLS])
      }
      if (round >= WARMUP_ROUNDS) loads.push(loadAverage())
    }
    const of = (tree: string, name: string) => cpu.get(`${tree}: ${name}`)!
    const paired = (a: ReadonlyArray<number>, b: ReadonlyArray<number>, f: (x: number, y: number) => number) => median(a.map((value, round) => f(value, b[round]!)))
    console.log(`\nconcurrency ${concurrency} (load average per round: ${loads.join(" | ")})`)
    console.log("row                   this (µs/call)   base (µs/call)   this - base (paired)   this / base (paired)")
    for (const name of names) {
      const a = of("this", name)
      const b = of("base", name)
      console.log(
        `${name.padEnd(20)} ${median(a).toFixed(1).padStart(15)} ${median(b).toFixed(1).padStart(16)} ${paired(a, b, (x, y) => x - y).toFixed(1).padStart(22)} ${
          paired(a, b, (x, y) => x / y).toFixed(3).padStart(22)
        }`
      )
    }
    console.log("ratio (median of the per-round ratios)          this     base")
    for (const [label, top, bottom] of [
      ["adapter stream / adapter generate", "adapter stream", "adapter generate"],
      ["stack stream / stack generate", "stack stream", "stack generate"],
      ["stack stream - stack generate (µs)", "stack stream", "stack generate"],
      ["adapter stream - adapter generate (µs)", "adapter stream", "adapter generate"]
    ] as const) {
      const difference = label.endsWith("(µs)")
      const value = (tree: string) => paired(of(tree, top), of(tree, bottom), difference ? (x, y) => x - y : (x, y) => x / y)
      console.log(`${label.padEnd(44)} ${value("this").toFixed(difference ? 1 : 3).padStart(8)} ${value("base").toFixed(difference ? 1 : 3).padStart(8)}`)
    }
  }
  console.log("\nKB allocated per call (C=1, 1,000 calls; V8's sampling heap profiler)")
  for (const row of rows) console.log(`${key(row).padEnd(26)} ${((await bytesAllocated(() => row.run(1_000, 1))) / 1_000 / 1024).toFixed(1).padStart(8)}`)
  await mine.dispose()
  await other.dispose()
  child.kill("SIGTERM")
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
