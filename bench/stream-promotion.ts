/**
 * What a streamed call through the whole stack promotes to V8's old generation (issue 14, stop 29,
 * "the promotion"): `--calls` streamed calls (default 3,500) over the in-process `async` provider
 * (`bench/internal/inProcess.ts`), plain or abort-capable not distinguished: the plain one, at
 * `--concurrency` (default 1), through the stack of `--tree` (default this tree: its own `src/` and
 * its own copy of effect), after a warm-up of as many calls. Run it under `--trace-gc-nvp` and add
 * up the scavenges' `promoted=` to compare trees; the script prints the heap's size at the end.
 *
 *   node --trace-gc-nvp bench/stream-promotion.ts [--tree /tmp/base] [--calls 3500] [--concurrency 1]
 */
import { join, resolve } from "node:path"
import { Session } from "node:inspector/promises"
import { loadInProcessModules } from "./internal/otherTree.ts"
import { argument } from "./internal/stats.ts"

interface ProfileNode {
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number }
  readonly selfSize: number
  readonly children: ReadonlyArray<ProfileNode>
}

const CALLS = argument("calls", 3_500)
const CONCURRENCY = argument("concurrency", 1)
const TOP = argument("top", 25)
const flag = process.argv.indexOf("--tree")
const root = resolve(flag === -1 ? join(import.meta.dirname, "..") : process.argv[flag + 1]!)

const { effect, inProcess: inProcessOf, LlmRequest: RequestOf } = await loadInProcessModules(root)
const { Effect, Stream } = effect
const { runtime, model } = await inProcessOf.inProcess(inProcessOf.asyncProvider())
const whole = await model({ budget: inProcessOf.budget, resilience: { limits: { ...inProcessOf.limits, rpm: inProcessOf.rpm } } })
const request = RequestOf.make({ messages: [{ role: "user", content: "Which is the longest river in Africa?" }] })
// `--major-every N` (with --expose-gc): a full collection after every N calls, which frees the old
// generation's dead objects (and whatever young objects only they reached).
const MAJOR_EVERY = argument("major-every", 0)
const full = (globalThis as { gc?: () => void }).gc
const run = async (calls: number): Promise<void> => {
  if (MAJOR_EVERY > 0 && full !== undefined) {
    for (let done = 0; done < calls; done += MAJOR_EVERY) {
      await runOnce(Math.min(MAJOR_EVERY, calls - done))
      full()
    }
    return
  }
  await runOnce(calls)
}
const runOnce = (calls: number) =>
  runtime.runPromise(Effect.forEach(
    Array.from({ length: calls }),
    () => Stream.runFold(whole.stream(request), () => 0, (count) => count + 1),
    { concurrency: CONCURRENCY, discard: true }
  ))
await run(CALLS)
// The objects of the measured calls that survived a scavenge (promoted, or still in the young
// generation): sampled objects collected by a scavenge are left out, those collected by a mark-sweep kept.
const session = new Session()
session.connect()
await session.post("HeapProfiler.startSampling", {
  samplingInterval: 256,
  includeObjectsCollectedByMajorGC: true,
  includeObjectsCollectedByMinorGC: false
})
console.error("=== measured ===")
await run(CALLS)
// With --expose-gc: a scavenge, so that the objects still in the young generation and dead are left out.
const collect = (globalThis as { gc?: (options: { type: "minor" }) => void }).gc
collect?.({ type: "minor" })
console.error("=== end ===")
const { profile } = await session.post("HeapProfiler.stopSampling")
session.disconnect()
const sites = new Map<string, number>()
const walk = (node: ProfileNode, path: string): void => {
  const frame = node.callFrame
  const here = `${frame.functionName || "(anonymous)"} ${frame.url.replace(/^.*\/(node_modules|src|bench)\//, "$1/")}:${frame.lineNumber + 1}`
  if (node.selfSize > 0) sites.set(`${here}  <- ${path}`, (sites.get(`${here}  <- ${path}`) ?? 0) + node.selfSize)
  for (const child of node.children) walk(child, here)
}
walk(profile.head as ProfileNode, "")
const all = [...sites.values()].reduce((a, b) => a + b, 0)
console.error(`survivors: ${(all / 1e6).toFixed(2)} MB, ${(all / CALLS).toFixed(0)} B per call`)
for (const [site, bytes] of [...sites].sort((a, b) => b[1] - a[1]).slice(0, TOP)) {
  console.error(`${(bytes / CALLS).toFixed(0).padStart(7)} B/call  ${site}`)
}
console.log(JSON.stringify({ tree: root, calls: CALLS, concurrency: CONCURRENCY, heapUsed: process.memoryUsage().heapUsed }))
await runtime.dispose()
