/**
 * Where the whole stack's cost per call goes over HTTP, layer by layer, in figures the machine's
 * load does not move (issue 13 item 11, stop 28). Each variant of `bench/stack-http.ts` (the bare
 * `openai-compatible` adapter, then the stack built up one layer at a time) runs alone in a
 * process of its own (V8's pretenuring and JIT decisions are per process), against the 0 ms mock
 * in a child process, at `--concurrency` calls in flight (default 100), after `--warmup` calls:
 *
 * - effect steps per call: every fiber's run loop counted (the HTTP client's fibers included);
 * - bytes allocated per call (V8's sampling heap profiler, collected objects included), in total
 *   and by the layer that allocated them: each sample given to the innermost frame of this
 *   repository's `src/` on its stack (observability, budget, retry, limits, rate limit, ...), else
 *   to the library it was allocated in (effect, undici, Node);
 * - garbage collection over `--calls x 4` calls (`v8.GCProfiler`): bytes promoted by scavenges per
 *   call, scavenges per 1,000 calls, GC pause per call, and the process's CPU per call;
 * - with `--profile`: a CPU profile of those calls (`node:inspector`), self time per call by the
 *   same attribution (`(garbage collector)` its own row).
 *
 * The rows below the bare adapter are differences from it (and `step` from the row above), so
 * each layer's share is read directly; the bytes and steps barely move between runs.
 *
 * `--save-profile PREFIX` writes each variant's profile to `PREFIX-<variant>.cpuprofile` (for
 * `bench/cpu-profile.ts FILE self`).
 *
 *   node bench/stack-attribution.ts [--only bare,whole] [--concurrency 100] [--calls 5000] [--warmup 3000] [--profile] [--runs 1] [--top 40]
 */
import { spawn } from "node:child_process"
import { writeFileSync } from "node:fs"
import { Session } from "node:inspector/promises"
import { heapProfile } from "./internal/allocation.ts"
import { PerformanceObserver } from "node:perf_hooks"
import v8 from "node:v8"
import { Effect } from "effect"
import * as Stack from "../src/Stack.ts"
import * as MockModel from "./internal/mockModel.ts"
import { argument, loadAverage, median } from "./internal/stats.ts"

const option = (name: string): string | undefined => {
  const index = process.argv.indexOf(`--${name}`)
  return index >= 0 ? process.argv[index + 1] : undefined
}
const CONCURRENCY = argument("concurrency", 100)
const CALLS = argument("calls", 5000)
const WARMUP = argument("warmup", 3000)
const RUNS = argument("runs", 1)
const PROFILE = process.argv.includes("--profile")
const CHILD = option("child")
const DETAIL = process.argv.includes("--detail")

const { budget, limits, rpm } = MockModel
// `bench/stack-http.ts`'s variants, by key (`undefined`: the bare adapter).
const variants: ReadonlyArray<readonly [string, string, Omit<Stack.StackConfig, "provider"> | undefined]> = [
  ["bare", "bare openai-compatible adapter", undefined],
  ["noobs", "stack without observability (retry)", { observability: { enabled: false } }],
  ["default", "default stack (observability, retry)", {}],
  ["concurrency", "+ concurrency limits", { resilience: { limits } }],
  ["rpm", "+ rate limit (rpm)", { resilience: { limits: { ...limits, rpm } } }],
  ["whole", "+ budget = whole stack", { budget, resilience: { limits: { ...limits, rpm } } }],
  ["timeout", "whole + attempt timeout 2m", { budget, resilience: { limits: { ...limits, rpm }, attemptTimeout: "2m" } }]
]

// The layer a frame belongs to, by its file; `undefined` for a frame outside this repository's `src/`.
const LAYERS: ReadonlyArray<readonly [string, RegExp]> = [
  ["observability", /\/src\/observability\//],
  ["budget", /\/src\/budget\/|\/src\/pricing\//],
  ["retry", /\/src\/resilience\/Retry\.ts/],
  ["limits", /\/src\/resilience\/Concurrency\.ts/],
  ["rate limit", /\/src\/resilience\/RateLimit\.ts|\/src\/resilience\/internal\/|\/src\/resilience\/RateLimit/],
  ["other resilience", /\/src\/resilience\//],
  ["provider adapter", /\/src\/providers\//],
  ["call contexts, deadlines (src/internal)", /\/src\/internal\//],
  ["LanguageModel.wrap, RequestSize, other src", /\/src\//]
]
const layerOf = (url: string): string | undefined => {
  if (!url.includes("/src/") || url.includes("/node_modules/")) return undefined
  for (const [layer, pattern] of LAYERS) if (pattern.test(url)) return layer
  return undefined
}
const libraryOf = (functionName: string, url: string): string => {
  if (functionName === "(garbage collector)") return "(garbage collector)"
  if (url.includes("/effect/dist/")) return "effect (no caller of ours on the stack)"
  if (url.includes("undici")) return "undici"
  if (url.startsWith("node:")) return "Node internals"
  if (url === "") return functionName.startsWith("(") ? functionName : "V8 builtins / native"
  return "other"
}

const RUN_LOOP = "effect's run loop (the steps themselves)"
const isRunLoop = (node: Node): boolean =>
  node.callFrame.url.includes("/effect/dist/internal/effect.js") && (node.callFrame.functionName === "runLoop" || node.callFrame.functionName === "evaluate")
const frameName = (node: Node): string =>
  `${node.callFrame.functionName || "(anonymous)"} ${node.callFrame.url.replace(/.*\/src\//, "src/")}:${(node.callFrame.lineNumber ?? 0) + 1}`

interface Node {
  readonly id: number
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber?: number }
  readonly children?: ReadonlyArray<number | Node>
  readonly selfSize?: number
}

interface Result {
  readonly key: string
  readonly steps: number
  readonly bytes: number
  readonly bytesBy: Record<string, number>
  readonly promoted: number
  readonly scavenges: number
  readonly gcUs: number
  readonly cpuUs: number
  readonly selfBy: Record<string, number>
  readonly bytesByFunction: Record<string, number>
  readonly selfByFunction: Record<string, number>
}

const child = async (key: string): Promise<Result> => {
  const config = variants.find(([name]) => name === key)?.[2]
  const mock = await MockModel.make(config)
  const run = (calls: number) => mock.run(calls, CONCURRENCY)
  await run(WARMUP)

  // Effect steps: every fiber's run loop, counted while `counting`.
  let steps = 0
  let counting = false
  const fiber = await Effect.runPromise(Effect.withFiber((current) => Effect.succeed(current)))
  const proto = Object.getPrototypeOf(fiber) as { currentOpCount: number; runLoop: (effect: unknown) => unknown }
  const runLoop = proto.runLoop
  proto.runLoop = function(this: { currentOpCount: number }, effect: unknown) {
    const result = runLoop.call(this, effect)
    if (counting) steps += this.currentOpCount
    return result
  }
  counting = true
  await run(CALLS)
  counting = false
  proto.runLoop = runLoop

  // Bytes allocated, by layer.
  const heap = await heapProfile(() => run(CALLS), 256)
  const bytesBy: Record<string, number> = {}
  let bytes = 0
  const bytesByFunction: Record<string, number> = {}
  // `owner`: the innermost src/ frame above this one since the last run-loop frame (a run loop
  // starts a new owner: what it runs was asked for by the effect, not by the frame that resumed it).
  const walk = (node: Node, owner: string | undefined, site: string | undefined) => {
    const layer = layerOf(node.callFrame.url)
    const loop = isRunLoop(node)
    const own = layer ?? (loop ? undefined : owner)
    const at = layer !== undefined ? frameName(node) : loop ? undefined : site
    const size = node.selfSize ?? 0
    if (size > 0) {
      const where = own ?? (loop ? RUN_LOOP : libraryOf(node.callFrame.functionName, node.callFrame.url))
      bytesBy[where] = (bytesBy[where] ?? 0) + size / CALLS
      if (at !== undefined) {
        const leaf = DETAIL && layer === undefined ? `${at}  <-  ${frameName(node).replace(/.*node_modules\//, "")}` : at
        bytesByFunction[leaf] = (bytesByFunction[leaf] ?? 0) + size / CALLS
      }
      bytes += size
    }
    for (const next of node.children ?? []) walk(next as Node, own, at)
  }
  walk(heap as Node, undefined, undefined)

  // GC and CPU (and a CPU profile with `--profile`).
  const session = new Session()
  session.connect()
  const profiler = new v8.GCProfiler()
  let gcMs = 0
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) gcMs += entry.duration
  })
  observer.observe({ entryTypes: ["gc"] })
  if (PROFILE) {
    await session.post("Profiler.enable")
    await session.post("Profiler.setSamplingInterval", { interval: 100 })
    await session.post("Profiler.start")
  }
  profiler.start()
  const cpu = process.cpuUsage()
  await run(CALLS * 4)
  const used = process.cpuUsage(cpu)
  const stats = (profiler.stop()?.statistics ?? []) as unknown as ReadonlyArray<{
    readonly gcType: string
    readonly beforeGC: { readonly heapSpaceStatistics: ReadonlyArray<{ readonly spaceName: string; readonly spaceUsedSize: number }> }
    readonly afterGC: { readonly heapSpaceStatistics: ReadonlyArray<{ readonly spaceName: string; readonly spaceUsedSize: number }> }
  }>
  const selfBy: Record<string, number> = {}
  const selfByFunction: Record<string, number> = {}
  if (PROFILE) {
    const { profile } = await session.post("Profiler.stop")
    const saveTo = option("save-profile")
    if (saveTo !== undefined) writeFileSync(`${saveTo}-${key}.cpuprofile`, JSON.stringify(profile))
    const nodes = profile.nodes as unknown as ReadonlyArray<Node>
    const byId = new Map(nodes.map((node) => [node.id, node]))
    const parentOf = new Map<number, number>()
    for (const node of nodes) for (const next of node.children ?? []) parentOf.set(next as number, node.id)
    // The innermost src/ frame itself (function, file and line), for `--top`.
    const siteOf = new Map<number, string>()
    const site = (id: number): string => {
      const known = siteOf.get(id)
      if (known !== undefined) return known
      let found = "(no src/ frame)"
      for (let at: number | undefined = id; at !== undefined; at = parentOf.get(at)) {
        const node = byId.get(at)!
        if (layerOf(node.callFrame.url) !== undefined) {
          found = frameName(node)
          break
        }
        if (isRunLoop(node)) break
      }
      siteOf.set(id, found)
      return found
    }
    const ownerOf = new Map<number, string>()
    const owner = (id: number): string => {
      const known = ownerOf.get(id)
      if (known !== undefined) return known
      let found: string | undefined
      for (let at: number | undefined = id; at !== undefined && found === undefined; at = parentOf.get(at)) {
        const node = byId.get(at)!
        found = layerOf(node.callFrame.url) ?? (isRunLoop(node) ? RUN_LOOP : undefined)
      }
      const leaf = byId.get(id)!.callFrame
      const result = leaf.functionName === "(garbage collector)" ? "(garbage collector)" : found ?? libraryOf(leaf.functionName, leaf.url)
      ownerOf.set(id, result)
      return result
    }
    profile.samples!.forEach((id, index) => {
      const where = owner(id)
      if (where === "(idle)") return
      selfBy[where] = (selfBy[where] ?? 0) + (profile.timeDeltas![index] ?? 0) / (CALLS * 4)
      const at = site(id)
      selfByFunction[at] = (selfByFunction[at] ?? 0) + (profile.timeDeltas![index] ?? 0) / (CALLS * 4)
    })
  }
  observer.disconnect()
  session.disconnect()
  const old = (spaces: ReadonlyArray<{ readonly spaceName: string; readonly spaceUsedSize: number }>) =>
    spaces.find((space) => space.spaceName === "old_space")?.spaceUsedSize ?? 0
  const scavenges = stats.filter((collection) => collection.gcType === "Scavenge")
  const promoted = scavenges.reduce((sum, collection) => sum + old(collection.afterGC.heapSpaceStatistics) - old(collection.beforeGC.heapSpaceStatistics), 0)
  await mock.dispose()
  return {
    key,
    steps: steps / CALLS,
    bytes: bytes / CALLS,
    bytesBy,
    promoted: promoted / (CALLS * 4),
    scavenges: scavenges.length * 1000 / (CALLS * 4),
    gcUs: gcMs * 1000 / (CALLS * 4),
    cpuUs: (used.user + used.system) / (CALLS * 4),
    selfBy,
    bytesByFunction,
    selfByFunction
  }
}

const runChild = (key: string): Promise<Result> =>
  new Promise((resolve, reject) => {
    const args = process.argv.slice(2).filter((_, index, all) => all[index - 1] !== "--only" && all[index] !== "--only")
    const spawned = spawn(process.execPath, [...process.execArgv, new URL(import.meta.url).pathname, ...args, "--child", key], {
      stdio: ["ignore", "pipe", "inherit"]
    })
    let out = ""
    spawned.stdout!.on("data", (chunk) => void (out += chunk))
    spawned.on("exit", (code) => {
      if (code !== 0) return reject(new Error(`variant ${key} exited ${code}`))
      resolve(JSON.parse(out.trim().split("\n").at(-1)!) as Result)
    })
  })

const main = async () => {
  if (CHILD !== undefined) {
    console.log(JSON.stringify(await child(CHILD)))
    return
  }
  const only = option("only")?.split(",")
  const chosen = variants.filter(([key]) => key === "bare" || only === undefined || only.includes(key))
  console.log(
    `Per call over HTTP, each variant alone in a process, C=${CONCURRENCY}, ${CALLS} calls (x4 for GC/CPU) after ${WARMUP}; ${RUNS} run(s), medians; ${process.version}; load ${loadAverage()}`
  )
  const results = new Map<string, Array<Result>>()
  for (let round = 0; round < RUNS; round++) {
    for (const [key] of chosen) results.set(key, [...(results.get(key) ?? []), await runChild(key)])
  }
  const med = (key: string, pick: (result: Result) => number) => median(results.get(key)!.map(pick))
  const rows = chosen.map(([key, name], index) => {
    const previous = index === 0 ? key : chosen[index - 1]![0]
    return {
      variant: name,
      "steps/call": med(key, (r) => r.steps).toFixed(1),
      "steps over bare": (med(key, (r) => r.steps) - med("bare", (r) => r.steps)).toFixed(1),
      "steps over row above": (med(key, (r) => r.steps) - med(previous, (r) => r.steps)).toFixed(1),
      "KB/call": (med(key, (r) => r.bytes) / 1024).toFixed(2),
      "KB over bare": ((med(key, (r) => r.bytes) - med("bare", (r) => r.bytes)) / 1024).toFixed(2),
      "promoted KB/call": (med(key, (r) => r.promoted) / 1024).toFixed(2),
      "scavenges/1k calls": med(key, (r) => r.scavenges).toFixed(2),
      "GC µs/call": med(key, (r) => r.gcUs).toFixed(1),
      "CPU µs/call": med(key, (r) => r.cpuUs).toFixed(1)
    }
  })
  console.table(rows)
  // By layer: bytes (and self time) per call, the median run of each variant.
  const places = new Set<string>()
  for (const list of results.values()) for (const result of list) for (const place of [...Object.keys(result.bytesBy), ...Object.keys(result.selfBy)]) places.add(place)
  const table = (title: string, pick: (result: Result) => Record<string, number>, unit: (value: number) => string) => {
    console.log(`\n${title}`)
    console.table([...places].map((place) => {
      const row: Record<string, string> = { where: place }
      for (const [key] of chosen) row[key] = unit(med(key, (result) => pick(result)[place] ?? 0))
      return row
    }).filter((row) => chosen.some(([key]) => row[key] !== unit(0))))
  }
  table("KB allocated per call, by the innermost src/ frame on the stack (else the library)", (r) => r.bytesBy, (value) => (value / 1024).toFixed(2))
  const top = argument("top", 0)
  if (top > 0) {
    for (const [key] of chosen) {
      const list = results.get(key)!
      const by = list[Math.floor(list.length / 2)]!.bytesByFunction
      console.log(`\n${key}: bytes per call by the innermost src/ frame (top ${top})`)
      for (const [site, size] of Object.entries(by).sort((a, b) => b[1] - a[1]).slice(0, top)) {
        console.log(`${size.toFixed(0).padStart(6)} B  ${site}`)
      }
      if (PROFILE) {
        const self = list[Math.floor(list.length / 2)]!.selfByFunction
        const busy = Object.values(self).reduce((sum, value) => sum + value, 0)
        console.log(`\n${key}: CPU self time by the innermost src/ frame (top ${top}; share of the profile's busy time)`)
        for (const [site, time] of Object.entries(self).sort((a, b) => b[1] - a[1]).slice(0, top)) {
          console.log(`${(100 * time / busy).toFixed(2).padStart(6)} %  ${site}`)
        }
      }
    }
  }
  if (PROFILE) table("CPU µs per call (self time), by the innermost src/ frame on the stack (else the library)", (r) => r.selfBy, (value) => value.toFixed(1))
  console.log(`load ${loadAverage()}`)
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
