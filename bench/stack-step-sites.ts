/**
 * Which effect steps a generate call runs, by site (issue 13 item 11, stop 29): each variant of
 * `bench/stack-http.ts` (`--only`, default the bare adapter and the whole stack) alone in a process,
 * over HTTP against the 0 ms mock, one call in flight, `--calls` calls after `--warmup`. Every step
 * the run loop of every fiber evaluates is keyed by the primitive (`OnSuccess`, `WithFiber`,
 * `Success`, ...) and the function it runs (for an exit, the continuation it resumes), named by
 * its function name and the start of its source, and counted per call; the rows of a variant over
 * the bare adapter are the stack's own steps. The hook is effect's per-step tracer hook
 * (`Tracer.context`) set on the native tracer before any fiber runs, so no span is made and the
 * layers take their untraced paths. Deterministic: the counts repeat exactly between runs.
 *
 *   node bench/stack-step-sites.ts [--only bare,whole] [--calls 2000] [--warmup 1000] [--all]
 */
import { spawn } from "node:child_process"
import { Layer, Tracer } from "effect"
import * as Stack from "../src/Stack.ts"
import * as MockModel from "./internal/mockModel.ts"
import { argument } from "./internal/stats.ts"
import { stepCounter } from "./internal/stepSites.ts"

const option = (name: string): string | undefined => {
  const index = process.argv.indexOf(`--${name}`)
  return index >= 0 ? process.argv[index + 1] : undefined
}
const CALLS = argument("calls", 2000)
const WARMUP = argument("warmup", 1000)
const CHILD = option("child")
const ALL = process.argv.includes("--all")

const { budget, limits, rpm } = MockModel
const variants: ReadonlyArray<readonly [string, Omit<Stack.StackConfig, "provider"> | undefined]> = [
  ["bare", undefined],
  ["noobs", { observability: { enabled: false } }],
  ["default", {}],
  ["whole", { budget, resilience: { limits: { ...limits, rpm } } }],
  ["timeout", { budget, resilience: { limits: { ...limits, rpm }, attemptTimeout: "2m" } }]
]

const child = async (key: string): Promise<Record<string, number>> => {
  const measure = stepCounter()
  const config = variants.find(([name]) => name === key)?.[1]
  // (the native tracer set as a service, so that fibers' caches read its hook: the same object, so
  // the layers still see no tracer installed)
  const mock = await MockModel.make(config, Layer.succeed(Tracer.Tracer, Tracer.nativeTracer))
  const run = (calls: number) => mock.run(calls, 1)
  await run(WARMUP)
  const perCall = await measure(CALLS, () => run(CALLS))
  await mock.dispose()
  return perCall
}

const runChild = (key: string): Promise<Record<string, number>> =>
  new Promise((resolve, reject) => {
    const args = process.argv.slice(2).filter((_, index, all) => all[index - 1] !== "--only" && all[index] !== "--only")
    const spawned = spawn(process.execPath, [...process.execArgv, new URL(import.meta.url).pathname, ...args, "--child", key], {
      stdio: ["ignore", "pipe", "inherit"]
    })
    let out = ""
    spawned.stdout!.on("data", (chunk) => void (out += chunk))
    spawned.on("exit", (code) => {
      if (code !== 0) return reject(new Error(`variant ${key} exited ${code}`))
      resolve(JSON.parse(out.trim().split("\n").at(-1)!) as Record<string, number>)
    })
  })

const main = async () => {
  if (CHILD !== undefined) {
    console.log(JSON.stringify(await child(CHILD)))
    return
  }
  const only = option("only")?.split(",") ?? ["whole"]
  const chosen = variants.filter(([key]) => key === "bare" || only.includes(key)).map(([key]) => key)
  const results = new Map<string, Record<string, number>>()
  for (const key of chosen) results.set(key, await runChild(key))
  const bare = results.get("bare")!
  const total = (record: Record<string, number>) => Object.values(record).reduce((sum, value) => sum + value, 0)
  console.log(`Effect steps per generate call over HTTP, one call in flight, ${CALLS} calls after ${WARMUP}; ${process.version}`)
  for (const key of chosen) console.log(`  ${key}: ${total(results.get(key)!).toFixed(2)} steps/call`)
  for (const key of chosen) {
    if (key === "bare") continue
    const record = results.get(key)!
    console.log(`\n${key}: steps per call by site${ALL ? "" : " over the bare adapter"} (${(total(record) - total(bare)).toFixed(2)} over bare)`)
    const sites = new Set([...Object.keys(record), ...Object.keys(bare)])
    const rows = [...sites].map((site) => [site, (record[site] ?? 0) - (ALL ? 0 : bare[site] ?? 0)] as const)
      .filter(([, count]) => Math.abs(count) > 0.001)
      .sort((a, b) => b[1] - a[1])
    for (const [site, count] of rows) console.log(`${count.toFixed(2).padStart(7)}  ${site}`)
  }
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
