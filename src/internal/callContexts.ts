/**
 * A call's own services, set on a copy of its caller's context: one new map per call instead of
 * one effect overlay per service.
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
 * A context made from a map (`Context.makeUnsafe`) makes no such record: the map is copied by
 * `new Map`, which V8 does not pretenure. The copy costs O(services) of the caller's context once
 * per call (2 in a `NodeProviders` runtime; more in a server's request context), and reads in the
 * call are flat map lookups. The services set must not be fiber-cached ones (see `shareCache`).
 *
 * @internal
 */
import { Context } from "effect"

interface Key {
  readonly key: string
}

/**
 * The caller's context with up to three services set (a `key` of `undefined` is skipped), in one
 * new map; the caller's context itself when none is given.
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
  value3?: unknown
): Context.Context<never> => {
  if (key1 === undefined && key2 === undefined && key3 === undefined) return context
  const map = new Map(context.mapUnsafe)
  if (key1 !== undefined) map.set(key1.key, value1)
  if (key2 !== undefined) map.set(key2.key, value2)
  if (key3 !== undefined) map.set(key3.key, value3)
  const copy: Context.Context<never> = Context.makeUnsafe<never>(map)
  shareCache(context, copy)
  return copy
}

// A context made from a map is a root of its own: effect rebuilds its per-root fiber cache (an
// object literal of effect's, which V8 pretenured in turn once every call made two that lived
// across its wait) when a fiber switches to it. The copy resolves every fiber-cached service (the
// scheduler, the tracer and its span, the log levels, the stack frame) as its caller does, since
// none of the services set here is one, so it shares the caller's root, as `Context.add` does for
// such services (`Context.js`: `cacheKeys.has(key) ? undefined : impl.cacheRoot`). Effect 4.1.0
// keeps the root in the context's `cacheRoot` field; without that field the copy stays a root of
// its own (correct, one cache more). Guarded by `test/internal/callContexts.test.ts`.
const shareCache = (caller: Context.Context<never>, copy: Context.Context<never>): void => {
  const from = caller as unknown as { readonly cacheRoot?: unknown }
  const to = copy as unknown as { cacheRoot?: unknown }
  if (typeof from.cacheRoot === "object" && from.cacheRoot !== null && "cacheRoot" in to) to.cacheRoot = from.cacheRoot
}
