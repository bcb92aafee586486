/**
 * What setting a call's services costs on a caller's context of a given size (issue 13 item 11,
 * stop 28): `internal/callContexts.ts`'s `withServices` of this tree and of another tree (e.g. the
 * code before stop 28, `git worktree add /tmp/before <commit>`), one after the other in one
 * process: bytes retained per call context (what a call holds across its wait for the provider:
 * 10,000 contexts kept, the heap measured after full collections, `--expose-gc`), nanoseconds per
 * call (the fastest of 7 batches), and the effect overlay records made (a deterministic count). The caller's context is built
 * like serve's request context (stop 28: about 17 services in a map and 7 added per request, then
 * merged: 23-25 services) or like a `NodeProviders` runtime's (2 services).
 *
 *   node --expose-gc bench/call-contexts.ts [other-tree ...] [--services 24] [--keys 2]
 */
import { pathToFileURL } from "node:url"
import { join, resolve } from "node:path"
import { Context } from "effect"
import { argument } from "./internal/stats.ts"

const SERVICES = argument("services", 24)
const KEYS = argument("keys", 2)
const trees = [".", ...process.argv.slice(2).filter((arg, index, all) => !arg.startsWith("--") && !all[index - 1]?.startsWith("--"))]
const gc = (globalThis as { gc?: () => void }).gc
if (gc === undefined) throw new Error("run with node --expose-gc")

type WithServices = (context: Context.Context<never>, ...services: Array<unknown>) => Context.Context<never>
interface Key { readonly key: string }
const keys: Array<Key> = Array.from({ length: 3 }, (_, index) => Context.Service<unknown>(`bench/callContexts/Call${index}`))

// A caller's context: SERVICES services in all, the last 7 (or fewer) added one by one as a server adds its request's.
const caller = (() => {
  const added = Math.min(7, SERVICES)
  let context = Context.makeUnsafe<never>(new Map(Array.from({ length: SERVICES - added }, (_, index) => [`bench/service/${index}`, { index }])))
  for (let index = 0; index < added; index++) context = Context.add(context, Context.Service<unknown>(`bench/request/${index}`), { index })
  return context
})()

const args = (value: unknown): Array<unknown> => {
  const given: Array<unknown> = []
  for (let index = 0; index < 3; index++) given.push(index < KEYS ? keys[index] : undefined, value)
  return given
}

const measure = (withServices: WithServices) => {
  const kept: Array<Context.Context<never>> = []
  for (let index = 0; index < 2_000; index++) kept.push(withServices(caller, ...args(index)))
  kept.length = 0
  gc()
  gc()
  const before = process.memoryUsage().heapUsed
  for (let index = 0; index < 10_000; index++) kept.push(withServices(caller, ...args(index)))
  gc()
  gc()
  const retained = (process.memoryUsage().heapUsed - before) / kept.length
  const check = kept[0]!
  const reads = Context.getUnsafe(check, keys[0] as Context.Key<never, unknown>)
  kept.length = 0
  // (the fastest of 7 batches: the least disturbed by the machine's load)
  let last: Context.Context<never> = caller
  let ns = Number.POSITIVE_INFINITY
  const given = args(1)
  for (let batch = 0; batch < 7; batch++) {
    const start = process.hrtime.bigint()
    for (let index = 0; index < 100_000; index++) last = withServices(caller, ...given)
    ns = Math.min(ns, Number(process.hrtime.bigint() - start) / 100_000)
  }
  const own = last as unknown as { readonly overlay?: unknown }
  const record = own.overlay
  const effectRecord = typeof record === "object" && record !== null && Object.getPrototypeOf(record) === Object.prototype
  return { retained, ns, reads, effectRecord }
}

const rows: Array<Record<string, string>> = []
for (const tree of trees) {
  const module = (await import(pathToFileURL(join(resolve(tree), "src/internal/callContexts.ts")).href)) as { readonly withServices: WithServices }
  const result = measure(module.withServices)
  rows.push({
    tree,
    "bytes retained per call context": result.retained.toFixed(0),
    "ns per call": result.ns.toFixed(0),
    "head record is effect's literal": String(result.effectRecord),
    "first key reads back": String(result.reads === 0)
  })
}
console.log(`withServices of ${KEYS} service(s) on a caller's context of ${SERVICES} services (${Math.min(7, SERVICES)} of them added one by one); ${process.version}`)
console.table(rows)
