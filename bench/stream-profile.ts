/**
 * A CPU profile's subject for issue 14 (stop 31): `bench/streaming.ts`'s streamed call over HTTP,
 * the OpenAI-compatible adapter alone or the whole default stack (one of them per process), run
 * `--calls` times at `--concurrency` against the SSE mock (in a child process) after a warm-up;
 * prints the CPU µs per call. Run under `node --cpu-prof` and read the profile with
 * `bench/cpu-profile.ts FILE self`, or by source (`--by-file`, below).
 *
 *   node --cpu-prof --cpu-prof-dir /tmp/prof bench/stream-profile.ts adapter|stack [--calls 20000] [--concurrency 1]
 *   node bench/stream-profile.ts --by-file FILE
 *   node bench/stream-profile.ts adapter|stack --heap [--calls 3000] [--top 30] [--fresh]
 *
 * `--fresh-ab`: the adapter's stream made once and run every call (as the benches' adapter rows do)
 * against made per call (as the stack's layers make it), interleaved rounds in one process, the
 * CPU µs per call of each and the paired difference (median of `--rounds`).
 *
 *   node bench/stream-profile.ts adapter --fresh-ab [--rounds 15] [--calls 500] [--concurrency 1]
 *
 * `--heap`: instead of the CPU, the bytes allocated per call (V8's sampling heap profiler, collected
 * objects included), each sample given to the innermost frame of this tree's `src/` on its stack
 * (else its innermost frame), the top `--top` sites printed.
 */
import { readFileSync } from "node:fs"
import { NodeHttpClient } from "@effect/platform-node"
import { Effect, Layer, ManagedRuntime, Redacted, Stream } from "effect"
import * as LanguageModel from "../src/LanguageModel.ts"
import * as LlmRequest from "../src/LlmRequest.ts"
import * as NodeProviders from "../src/node/NodeProviders.ts"
import * as OpenAiCompatibleLanguageModel from "../src/providers/openai-compatible/OpenAiCompatibleLanguageModel.ts"
import * as Stack from "../src/Stack.ts"
import { startMockServer } from "./internal/mockServer.ts"
import { answer } from "./internal/sseAnswer.ts"
import { heapProfile } from "./internal/allocation.ts"
import { argument, loadAverage, median } from "./internal/stats.ts"

const CALLS = argument("calls", 20_000)
const CONCURRENCY = argument("concurrency", 1)
const HEAP = process.argv.includes("--heap")
// `--fresh`: the stream made per call (\`Stream.suspend\`), as the stack's layers make the adapter's;
// without it, \`model.stream(request)\` is made once and run every call, as the benches do.
const FRESH = process.argv.includes("--fresh")
const TOP = argument("top", 30)

interface HeapNode {
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number }
  readonly selfSize: number
  readonly children: ReadonlyArray<HeapNode>
}
const frameName = (frame: HeapNode["callFrame"]) =>
  `${frame.functionName || "(anonymous)"} ${frame.url.replace(/.*\/(node_modules|src)\//, "$1/")}:${frame.lineNumber + 1}`
const bySite = (head: HeapNode): Map<string, number> => {
  const sites = new Map<string, number>()
  const walk = (node: HeapNode, inSrc: string | undefined) => {
    const here = node.callFrame.url.includes("/src/") ? frameName(node.callFrame) : inSrc
    if (node.selfSize > 0) {
      const key = here ?? frameName(node.callFrame)
      sites.set(key, (sites.get(key) ?? 0) + node.selfSize)
    }
    for (const child of node.children) walk(child, here)
  }
  walk(head, undefined)
  return sites
}

interface Node {
  readonly id: number
  readonly callFrame: { readonly functionName: string; readonly url: string }
}
// Self time by source: this tree's src/ files one by one, the rest by package (effect by file).
const byFile = (file: string) => {
  const profile = JSON.parse(readFileSync(file, "utf8")) as { nodes: Array<Node>; samples: Array<number>; timeDeltas: Array<number> }
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]))
  const totals = new Map<string, number>()
  let all = 0
  profile.samples.forEach((id, index) => {
    const { functionName, url } = nodes.get(id)!.callFrame
    if (functionName === "(idle)" || functionName === "(program)") return
    const delta = profile.timeDeltas[index] ?? 0
    const key = url.includes("/src/") ? url.replace(/.*\/src\//, "src/")
      : url.includes("node_modules/effect/") ? url.replace(/.*node_modules\/effect\/dist\//, "effect/")
      : url.includes("node_modules/@effect/") ? url.replace(/.*node_modules\/(@effect\/[^/]+)\/.*/, "$1")
      : url.includes("node_modules/undici") ? "undici"
      : url.startsWith("node:") ? `node:${url.slice(5).split("/")[0]}`
      : url === "" ? `(native) ${functionName}` : url.replace(/.*\//, "")
    totals.set(key, (totals.get(key) ?? 0) + delta)
    all += delta
  })
  console.log(`busy ${(all / 1e6).toFixed(2)} s`)
  for (const [key, us] of [...totals].sort((a, b) => b[1] - a[1]).slice(0, 40)) {
    console.log(`${((us / all) * 100).toFixed(1).padStart(5)} %  ${key}`)
  }
}

const main = async () => {
  const which = process.argv[2]
  if (which === "--by-file") return byFile(process.argv[3]!)
  const { origin, child } = await startMockServer("./openai-sse-mock-server.ts")
  const baseUrl = `${origin}/v1`
  const request = LlmRequest.make("Name the longest river in Africa.")
  const expected = answer(3)
  const stackRuntime = () =>
    ManagedRuntime.make(Stack.layer({
      provider: { provider: "openai-compatible", baseUrl, model: "gpt-4o-mini" },
      budget: { budget: { totalTokens: 1_000_000_000_000 } },
      resilience: { limits: { concurrency: 1_000, providerConcurrency: 1_000, rpm: 100_000_000 } }
    }).pipe(Layer.provide(NodeProviders.layer)))
  const made = async (): Promise<readonly [ManagedRuntime.ManagedRuntime<never, unknown>, LanguageModel.Service]> => {
    if (which === "stack") {
      const runtime = stackRuntime()
      return [runtime, await runtime.runPromise(LanguageModel.LanguageModel.use(Effect.succeed))]
    }
    const runtime = ManagedRuntime.make(NodeHttpClient.layerUndici)
    return [
      runtime,
      await runtime.runPromise(OpenAiCompatibleLanguageModel.make({ baseUrl, apiKey: Redacted.make("test"), defaultModel: "gpt-4o-mini" }))
    ]
  }
  const [runtime, model] = await made()
  const one = Effect.flatMap(
    Stream.runFold(FRESH ? Stream.suspend(() => model.stream(request)) : model.stream(request), () => "", (text, part) => (part.type === "text-delta" ? text + part.text : text)),
    (text) => (text === expected ? Effect.void : Effect.die(new Error(`unexpected reply: ${text}`)))
  )
  const run = (calls: number) =>
    runtime.runPromise(Effect.forEach(Array.from({ length: calls }), () => one, { discard: true, concurrency: CONCURRENCY }))
  if (process.argv.includes("--fresh-ab")) {
    const fresh = Effect.flatMap(
      Stream.runFold(Stream.suspend(() => model.stream(request)), () => "", (text, part) => (part.type === "text-delta" ? text + part.text : text)),
      (text) => (text === expected ? Effect.void : Effect.die(new Error(`unexpected reply: ${text}`)))
    )
    const timed = async (effect: Effect.Effect<void, unknown>) => {
      const before = process.cpuUsage()
      await runtime.runPromise(Effect.forEach(Array.from({ length: CALLS }), () => effect, { discard: true, concurrency: CONCURRENCY }))
      const used = process.cpuUsage(before)
      return (used.user + used.system) / CALLS
    }
    await timed(one)
    await timed(fresh)
    const onces: Array<number> = []
    const freshes: Array<number> = []
    const diffs: Array<number> = []
    for (let round = 0; round < argument("rounds", 15); round++) {
      const [a, b] = round % 2 === 0 ? [await timed(one), await timed(fresh)] : (([y, x]) => [x, y])([await timed(fresh), await timed(one)])
      onces.push(a!)
      freshes.push(b!)
      diffs.push(b! - a!)
    }
    console.log(`adapter stream, C=${CONCURRENCY}, load ${loadAverage()}: made once ${median(onces).toFixed(1)} µs, made per call ${median(freshes).toFixed(1)} µs, paired ${median(diffs).toFixed(1)} µs`)
    await runtime.dispose()
    child.kill("SIGTERM")
    return
  }
  await run(2_000)
  if (HEAP) {
    const sites = bySite(await heapProfile(() => run(CALLS), 256) as HeapNode)
    const all = [...sites.values()].reduce((sum, bytes) => sum + bytes, 0)
    console.log(`${which}: ${(all / CALLS / 1024).toFixed(1)} KB allocated per stream, C=${CONCURRENCY}`)
    for (const [site, bytes] of [...sites].sort((a, b) => b[1] - a[1]).slice(0, TOP)) {
      console.log(`${(bytes / CALLS).toFixed(0).padStart(7)} B  ${site}`)
    }
    await runtime.dispose()
    child.kill("SIGTERM")
    return
  }
  const before = process.cpuUsage()
  await run(CALLS)
  const used = process.cpuUsage(before)
  console.log(`${which}: ${((used.user + used.system) / CALLS).toFixed(1)} µs CPU per stream, C=${CONCURRENCY}`)
  await runtime.dispose()
  child.kill("SIGTERM")
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
