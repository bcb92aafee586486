/**
 * A call's own services, set on a context of its own that shares its caller's services: no effect
 * overlay record and no copy of the caller's services per call.
 *
 * `Context.add` (and everything built on it: `Effect.provideService`, `Effect.updateContext` with
 * an `add`) records each service added as a `{ key, value, parent }` object literal made at one
 * place in effect's `Context.js`, for the whole program. When most of the records that place makes
 * outlive a young-generation collection, V8 *pretenures* it: every record made there from then on,
 * anywhere in the program, is born in the old generation and keeps the young value it holds (and
 * what that reaches) alive until a full collection. The records a call's layers add live as long
 * as the call, across its wait for the provider; measured over HTTP at 100 calls in flight, more
 * than one such record per call made V8 pretenure the place within the first 100 calls in every
 * run, and its garbage collection per call doubled (docs/performance.md, "stop 27"; ADR 0047).
 *
 * Stop 27 set the services on a copy of the caller's map of services instead: O(services) per
 * call, a map held across the wait; in serve, whose request context holds about 25 services, that
 * map was promoted by the scavenges and cost more CPU per request than the records it replaced
 * (docs/performance.md, "Stop 28: the call's context copies in serve"; ADR 0049). So the context
 * is made as effect's `Context.add` makes one (the caller's base map shared, a chain of records
 * over the caller's own), but each record is an instance of {@link Service}, a class: V8 keeps no
 * allocation site for the objects a constructor makes, so none can be pretenured. O(1) per call
 * whatever the size of the caller's context; reads in the call walk the chain (at most effect's
 * `maxDepth` records) then the base map, as they do in a context made by `Context.add`. When the
 * chain would pass `maxDepth` (where `Context.add` copies into a new map), the records go over the
 * caller's flattened map (made once per caller context and kept by it, as effect's own reads of
 * `mapUnsafe` keep it). With an effect whose contexts lack the fields read here, the services are
 * set on a copy of the caller's map (stop 27's way). The services set must not be fiber-cached
 * ones (see the cache root below).
 *
 * @internal
 */
import { Context } from "effect"

interface Key {
  readonly key: string
}

/**
 * One service set on a call's context: the overlay record effect's `Context.addUnsafe` makes (read
 * by effect's lookups and flattening as `key`, `value`, `parent`), as a class instance.
 *
 * @internal
 */
export class Service {
  readonly key: string
  readonly value: unknown
  readonly parent: unknown
  constructor(key: string, value: unknown, parent: unknown) {
    this.key = key
    this.value = value
    this.parent = parent
  }
}

// The fields of effect 4.1.0's context implementation (`Context.js`, `makeImpl`) read or written
// here. Guarded by `test/internal/callContexts.test.ts`.
interface Impl {
  cacheRoot: unknown
  base: ReadonlyMap<string, unknown>
  overlay: unknown
  depth: number
  maxDepth: number
  readonly _flat: ReadonlyMap<string, unknown> | undefined
}

const implOf = (context: Context.Context<never>): Impl | undefined => {
  const impl = context as unknown as Partial<Impl>
  return typeof impl.depth === "number" && typeof impl.maxDepth === "number" && impl.base instanceof Map && "overlay" in impl &&
      "_flat" in impl && typeof impl.cacheRoot === "object" && impl.cacheRoot !== null
    ? impl as Impl
    : undefined
}

/**
 * The caller's context with up to three services set (a `key` of `undefined` is skipped); the
 * caller's context itself when none is given. The caller's services are not changed (a caller
 * as deep as `maxDepth` is flattened, effect's own cache of its services).
 *
 * @internal
 */
export const withServices = (
  context: Context.Context<never>,
  key1: Key | undefined,
  value1: unknown,
  key2?: Key | undefined,
  value2?: unknown,
  key3?: Key | undefined,
  value3?: unknown,
  key4?: Key | undefined,
  value4?: unknown
): Context.Context<never> => {
  const count = (key1 === undefined ? 0 : 1) + (key2 === undefined ? 0 : 1) + (key3 === undefined ? 0 : 1) +
    (key4 === undefined ? 0 : 1)
  if (count === 0) return context
  const impl = implOf(context)
  if (impl !== undefined) {
    // Over the caller's chain when it has room (effect's `maxDepth`); else over the caller's map
    // of all its services: flattened once and kept by the caller (what any read of its
    // `mapUnsafe` does), so further calls from the same context copy nothing.
    let base = impl._flat
    let overlay: unknown = undefined
    let depth = 0
    if (base === undefined && impl.depth + count <= impl.maxDepth) {
      base = impl.base
      overlay = impl.overlay
      depth = impl.depth
    } else if (base === undefined) base = context.mapUnsafe
    if (key1 !== undefined) overlay = new Service(key1.key, value1, overlay)
    if (key2 !== undefined) overlay = new Service(key2.key, value2, overlay)
    if (key3 !== undefined) overlay = new Service(key3.key, value3, overlay)
    if (key4 !== undefined) overlay = new Service(key4.key, value4, overlay)
    const made: Context.Context<never> = Context.makeUnsafe<never>(base)
    const own = made as unknown as Impl
    own.overlay = overlay
    own.depth = depth + count
    own.maxDepth = impl.maxDepth
    // The caller's cache root, as `Context.add` keeps it for a service that is not fiber-cached
    // (`Context.js`: `cacheKeys.has(key) ? undefined : impl.cacheRoot`): a context of its own
    // root would make a fiber switching to it rebuild effect's per-root fiber cache (an object
    // literal of effect's, pretenured in turn when every call made two that lived across its
    // wait: stop 27). The services set here are never fiber-cached ones (the scheduler, the
    // tracer and its span, the log levels, the stack frame), so the caller's cache is right.
    own.cacheRoot = impl.cacheRoot
    return made
  }
  // (an effect whose contexts lack the fields read here: stop 27's copy)
  const map = new Map(context.mapUnsafe)
  if (key1 !== undefined) map.set(key1.key, value1)
  if (key2 !== undefined) map.set(key2.key, value2)
  if (key3 !== undefined) map.set(key3.key, value3)
  if (key4 !== undefined) map.set(key4.key, value4)
  return Context.makeUnsafe<never>(map)
}
