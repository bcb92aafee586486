/**
 * A preload for a benchmarked serve (`node --import=<this file>`, bench/serve-ab.ts `--contexts`):
 * counts the effect contexts each request makes (issue 13 item 11, stop 28), as
 * bench/stack-overlays.ts does in process: effect makes every context with `Object.create(Proto)`
 * and assigns its `base` and `overlay` fields, and an accessor put on that prototype sees every
 * assignment. Per request, from request {@link WARM_UP} to the last one started:
 *
 * - effect overlay records: `{ key, value, parent }` literals of effect's `Context.addUnsafe`
 *   (plain objects), the allocation site V8 may pretenure (ADR 0047);
 * - other overlay records (instances of a class, e.g. `internal/callContexts.ts`'s);
 * - map copies: a context given a map not seen before (a `Context.makeUnsafe` of a new map, a
 *   flattened context, an `add` on a context `maxDepth` deep) and the services those maps hold
 *   (the bytes a copy costs grow with them: about 4 words per entry and a table header).
 *
 * Written when the process exits to `$LLM_CONNECT_BENCH_CONTEXTS_DIR/contexts-<pid>.json` (nothing
 * without the variable, nothing from a process that served fewer requests). Deterministic; the
 * accessors slow the process, so never combine it with a CPU figure.
 */
import { subscribe } from "node:diagnostics_channel"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { loadEffect } from "./effectEntry.ts"

/** Requests served before counting starts. */
export const WARM_UP = 1_000

/** What the preload writes (totals over `requests`). */
export interface Record {
  readonly requests: number
  readonly effectRecords: number
  readonly otherRecords: number
  readonly mapCopies: number
  readonly mapEntries: number
  /** Contexts flattened into a new map (`mapUnsafe` read, effect's lookup heuristic): copies too. */
  readonly flattened: number
  readonly flattenedEntries: number
  /** Map copies by their number of services. */
  readonly copySizes: { readonly [size: string]: number }
  /** With `$LLM_CONNECT_BENCH_CONTEXTS_SITES=1`: map copies and effect records by size or key and the first frame of `src/` that made them. */
  readonly sites?: { readonly [site: string]: number }
}

const loaded = await loadEffect("LLM_CONNECT_BENCH_CONTEXTS_DIR")
if (loaded !== undefined) {
  const { dir } = loaded
  const { Context } = loaded.effect
  let requests = 0
  let counting = false
  let effectRecords = 0
  let otherRecords = 0
  let mapCopies = 0
  let mapEntries = 0
  let flattened = 0
  let flattenedEntries = 0
  const copySizes: { [size: string]: number } = {}
  const bySite = process.env.LLM_CONNECT_BENCH_CONTEXTS_SITES === "1"
  const sites: { [site: string]: number } = {}
  const siteOf = (what: string): void => {
    const holder: { stack?: string } = {}
    const limit = Error.stackTraceLimit
    Error.stackTraceLimit = 60
    Error.captureStackTrace(holder)
    Error.stackTraceLimit = limit
    const frames = (holder.stack ?? "").split("\n").slice(2).map((frame) => frame.trim())
    const own = frames.find((frame) => frame.includes("/src/") && !frame.includes("/node_modules/"))
    const effect = frames.find((frame) => frame.includes("/node_modules/effect/") && !frame.includes("/Context.js"))
    const site = `${what} <- ${own ?? "(no src frame)"} / ${effect ?? ""}`.replace(/\(?file:\/\/[^ ]*\/(src|node_modules)\//g, "$1/")
    sites[site] = (sites[site] ?? 0) + 1
  }
  const proto = Object.getPrototypeOf(Context.empty()) as object
  const overlayField = Symbol("overlay")
  const baseField = Symbol("base")
  const seen = new WeakSet<object>()
  const counted = new WeakSet<object>()
  Object.defineProperty(proto, "overlay", {
    configurable: true,
    get(this: { [key: symbol]: unknown }) {
      return this[overlayField]
    },
    set(this: { [key: symbol]: unknown }, value: unknown) {
      this[overlayField] = value
      if (!counting || typeof value !== "object" || value === null) return
      if (Object.getPrototypeOf(value) === Object.prototype) {
        effectRecords++
        if (bySite) siteOf(`record ${String((value as { readonly key?: unknown }).key)}`)
      } else {
        // (one assignment sets a chain of them over the caller's records: each new one counted)
        for (
          let record: unknown = value;
          typeof record === "object" && record !== null && Object.getPrototypeOf(record) !== Object.prototype && !counted.has(record);
          record = (record as { readonly parent?: unknown }).parent
        ) {
          counted.add(record)
          otherRecords++
        }
      }
    }
  })
  Object.defineProperty(proto, "base", {
    configurable: true,
    get(this: { [key: symbol]: unknown }) {
      return this[baseField]
    },
    set(this: { [key: symbol]: unknown }, value: unknown) {
      this[baseField] = value
      if (!counting || !(value instanceof Map) || seen.has(value)) return
      seen.add(value)
      mapCopies++
      mapEntries += value.size
      copySizes[value.size] = (copySizes[value.size] ?? 0) + 1
      if (bySite) siteOf(`copy of ${value.size}`)
      if (process.env.LLM_CONNECT_BENCH_CONTEXTS_STACKS === "1" && value.size > 20 && mapCopies < 8) {
        const holder: { stack?: string } = {}
        Error.stackTraceLimit = 30
        Error.captureStackTrace(holder)
        Error.stackTraceLimit = 10
        writeFileSync(join(dir, `stack-${process.pid}-${mapCopies}.txt`), holder.stack ?? "")
      }
    }
  })
  // A flattened context: `_flat` given a map other than its base (a new map: effect's `flatten`).
  const flatField = Symbol("_flat")
  Object.defineProperty(proto, "_flat", {
    configurable: true,
    get(this: { [key: symbol]: unknown }) {
      return this[flatField]
    },
    set(this: { [key: symbol]: unknown; readonly base?: unknown }, value: unknown) {
      this[flatField] = value
      if (!counting || !(value instanceof Map) || value === this.base) return
      seen.add(value)
      flattened++
      flattenedEntries += value.size
      copySizes[`flat ${value.size}`] = (copySizes[`flat ${value.size}`] ?? 0) + 1
      if (bySite) siteOf(`flattened ${value.size}`)
    }
  })
  subscribe("http.server.request.start", () => {
    requests++
    if (requests === WARM_UP) counting = true
  })
  process.on("exit", () => {
    if (requests <= WARM_UP) return
    const record: Record = { requests: requests - WARM_UP, effectRecords, otherRecords, mapCopies, mapEntries, flattened, flattenedEntries, copySizes, ...(bySite ? { sites } : {}) }
    writeFileSync(join(dir, `contexts-${process.pid}.json`), JSON.stringify(record))
  })
}
