/**
 * Effect context overlays per call through the stack's layers: how many contexts a call makes
 * (`Context.add` and everything built on it: `Effect.provideService`, `Effect.updateContext`,
 * `Effect.withSpan`'s parent span, a fiber reference set), each one a `{ key, value, parent }`
 * record allocated at one site of effect's `Context.js` for the whole program (the site V8 may
 * pretenure: docs/performance.md, stop 26), and how many of those copied the context into a new
 * map (a context already `maxDepth` deep). A deterministic count, insensitive to the machine's
 * load. The variants are `bench/stack-async.ts`'s, over its in-process provider (answering from
 * `setImmediate`), one call in flight.
 *
 * How (a diagnostic; nothing in `src/` does this): effect makes every context with
 * `Object.create(Proto)` and assigns its `overlay` field; an accessor put on that prototype sees
 * every assignment. `--by-site` also names, for each overlay, the first frame of this
 * repository's code on the stack that made it (the layer that asked for it).
 *
 * Since stop 28 the stack's layers chain records of a class of their own (`internal/callContexts.ts`
 * `Service`, made by a constructor: no allocation site V8 could pretenure) over the caller's
 * context: counted apart, in "class records/call"; "overlays/call" counts effect's literals only.
 * "contexts flattened/call": contexts whose services effect copied into a new map when read whole
 * (`mapUnsafe`: e.g. `Context.merge` in effect's HTTP client), copies too.
 *
 * `--http` counts over HTTP instead: the `openai-compatible` adapter against the 0 ms mock of
 * `bench/stack-http.ts` (the adapter's own overlays, its HTTP client's, then the stack's).
 *
 *   node bench/stack-overlays.ts [--calls 200] [--by-site] [--http]
 */
import { spawn } from "node:child_process"
import { createInterface } from "node:readline"
import { Context, Effect, Layer, ManagedRuntime, Scope } from "effect"
import * as LlmRequest from "../src/LlmRequest.ts"
import * as NodeProviders from "../src/node/NodeProviders.ts"
import * as ProviderRegistry from "../src/ProviderRegistry.ts"
import * as Stack from "../src/Stack.ts"
import { asyncProvider, generateVariants } from "./internal/inProcess.ts"
import { argument } from "./internal/stats.ts"

const CALLS = argument("calls", 200)
const BY_SITE = process.argv.includes("--by-site")
const HTTP = process.argv.includes("--http")

// Counters, on while `counting`.
let counting = false
let overlays = 0
let classRecords = 0
let flattenedContexts = 0
const counted = new WeakSet<object>()
let flattened = 0
const sites = new Map<string, number>()
const repoRoot = new URL("..", import.meta.url).pathname

const siteOf = (): string => {
  const holder: { stack?: string } = {}
  const limit = Error.stackTraceLimit
  Error.stackTraceLimit = 40
  Error.captureStackTrace(holder)
  Error.stackTraceLimit = limit
  const frames = (holder.stack ?? "").split("\n").slice(1)
  for (const frame of frames) {
    if (frame.includes(repoRoot) && !frame.includes("/node_modules/") && !frame.includes("/bench/")) {
      return frame.trim().replace("at ", "").replace(`file://${repoRoot}`, "").replace(repoRoot, "")
    }
  }
  return "(effect only: " + (frames[3] ?? "").trim() + ")"
}

const instrument = () => {
  const proto = Object.getPrototypeOf(Context.empty()) as object
  const field = Symbol("overlay")
  Object.defineProperty(proto, "overlay", {
    configurable: true,
    get(this: Record<symbol, unknown>) {
      return this[field]
    },
    set(this: Record<symbol, unknown>, value: unknown) {
      this[field] = value
      if (!counting) return
      if (typeof value === "object" && value !== null && Object.getPrototypeOf(value) !== Object.prototype) {
        // (one assignment sets a chain of them over the caller's records: each new one counted)
        for (
          let record: unknown = value;
          typeof record === "object" && record !== null && Object.getPrototypeOf(record) !== Object.prototype && !counted.has(record);
          record = (record as { readonly parent?: unknown }).parent
        ) {
          counted.add(record)
          classRecords++
        }
      } else if (value !== undefined) {
        overlays++
        if (BY_SITE) {
          const site = `${String((value as { readonly key?: unknown }).key)} <- ${siteOf()}`
          sites.set(site, (sites.get(site) ?? 0) + 1)
        }
      }
    }
  })
  // A context copied into a new map on `add` (its depth reached `maxDepth`): `makeImpl` with a
  // fresh base and no overlay, seen as a `base` assignment of a map not seen before.
  const baseField = Symbol("base")
  const seen = new WeakSet<object>()
  Object.defineProperty(proto, "base", {
    configurable: true,
    get(this: Record<symbol, unknown>) {
      return this[baseField]
    },
    set(this: Record<symbol, unknown>, value: unknown) {
      this[baseField] = value
      if (!counting || typeof value !== "object" || value === null) return
      if (!seen.has(value)) {
        seen.add(value)
        flattened++
        if (BY_SITE) {
          const site = "map copy: " + siteOf()
          sites.set(site, (sites.get(site) ?? 0) + 1)
        }
      }
    }
  })
  // A context flattened into a new map (`mapUnsafe` read, e.g. by `Context.merge` in effect's HTTP
  // client, or effect's lookup heuristic): `_flat` given a map other than its base.
  const flatField = Symbol("_flat")
  Object.defineProperty(proto, "_flat", {
    configurable: true,
    get(this: Record<symbol, unknown>) {
      return this[flatField]
    },
    set(this: Record<symbol, unknown> & { readonly base?: unknown }, value: unknown) {
      this[flatField] = value
      if (!counting || !(value instanceof Map) || value === this.base) return
      seen.add(value)
      flattenedContexts++
      if (BY_SITE) {
        const site = "flattened: " + siteOf()
        sites.set(site, (sites.get(site) ?? 0) + 1)
      }
    }
  })
}

const variants = generateVariants

const main = async () => {
  instrument()
  let provider: ProviderRegistry.CreateOptions = { provider: "async", model: "gpt-4o-mini" }
  let stop = () => {}
  let registry: Layer.Layer<ProviderRegistry.ProviderRegistry, unknown> = ProviderRegistry.layer([asyncProvider()])
  if (HTTP) {
    const child = spawn(process.execPath, [new URL("./openai-mock-server.ts", import.meta.url).pathname], { stdio: ["ignore", "pipe", "inherit"] })
    const line = await new Promise<string>((resolve) => createInterface({ input: child.stdout! }).once("line", resolve))
    provider = { provider: "openai-compatible", baseUrl: `http://127.0.0.1:${line.trim()}/v1`, model: "gpt-4o-mini" }
    registry = NodeProviders.layer
    stop = () => child.kill("SIGTERM")
  }
  const runtime = ManagedRuntime.make(registry)
  const scope = await runtime.runPromise(Scope.make())
  const request = LlmRequest.make({
    system: "You are terse.",
    messages: [{ role: "user", content: "Name the longest river in Africa." }]
  })
  const rows: Array<Record<string, string>> = []
  let bare = 0
  for (const [name, config] of variants) {
    const made = config === undefined
      ? ProviderRegistry.create(provider)
      : Effect.map(Stack.make({ provider, ...config }), (factory) => factory.model)
    const model = await runtime.runPromise(made.pipe(Effect.provideService(Scope.Scope, scope), Effect.orDie))
    // Each call its own `runPromise`, as a caller makes them (no fiber shared between calls).
    const run = async (calls: number) => {
      for (let index = 0; index < calls; index++) await runtime.runPromise(model.generate(request))
    }
    await run(100)
    overlays = 0
    classRecords = 0
    flattenedContexts = 0
    flattened = 0
    sites.clear()
    counting = true
    await run(CALLS)
    counting = false
    const perCall = overlays / CALLS
    if (config === undefined) bare = perCall
    rows.push({
      variant: name,
      "overlays/call": perCall.toFixed(2),
      "over bare": (perCall - bare).toFixed(2),
      "map copies/call": (flattened / CALLS).toFixed(2),
      "class records/call": (classRecords / CALLS).toFixed(2),
      "contexts flattened/call": (flattenedContexts / CALLS).toFixed(2)
    })
    if (BY_SITE && sites.size > 0) {
      console.log(`\n${name}: overlays per call by the first frame of this repository's code`)
      for (const [site, count] of [...sites].sort((a, b) => b[1] - a[1])) console.log(`  ${(count / CALLS).toFixed(2)}  ${site}`)
    }
  }
  console.log(`\nEffect context overlays per call (${HTTP ? "over HTTP, openai-compatible adapter" : "in-process provider"}, one call in flight, ${CALLS} calls, each its own runPromise); ${process.version}`)
  console.table(rows)
  stop()
  await runtime.dispose()
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
