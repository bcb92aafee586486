import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, References } from "effect"
import * as CallContext from "../../src/CallContext.ts"
import * as CallContexts from "../../src/internal/callContexts.ts"

const Caller = Context.Service<{ readonly name: string }>("test/callContexts/Caller")

describe("internal/callContexts", () => {
  it("sets the call's services on a copy: the caller's context is unchanged, its services kept", () => {
    const caller = Context.make(Caller, { name: "caller" }).pipe(Context.add(CallContext.Deadline, 5))
    const copy = CallContexts.withServices(caller, CallContext.Deadline, 9, CallContext.RemainingBudget, { costUsd: 1 }, undefined, undefined)
    assert.strictEqual(Context.getUnsafe(copy, Caller).name, "caller")
    assert.strictEqual(Context.get(copy, CallContext.Deadline), 9)
    assert.deepStrictEqual(Context.get(copy, CallContext.RemainingBudget), { costUsd: 1 })
    assert.strictEqual(Context.get(caller, CallContext.Deadline), 5)
    assert.isUndefined(Context.get(caller, CallContext.RemainingBudget))
  })

  it("gives back the caller's context when there is nothing to set", () => {
    const caller = Context.make(Caller, { name: "caller" })
    assert.strictEqual(CallContexts.withServices(caller, undefined, 1, undefined, 2, undefined, 3), caller)
  })

  // A guard for effect upgrades: the call's services are records of `CallContexts.Service` (a
  // class, never effect's object literal) chained over the caller's, on the caller's base map
  // (no copy of it). (An effect whose contexts lack the fields read falls back to a map copy:
  // correct, but this test fails, so that the change is seen.)
  it("the call's context makes no effect overlay record and shares the caller's map", () => {
    const caller = Context.make(Caller, { name: "caller" }).pipe(Context.add(CallContext.Deadline, 5))
    const copy = CallContexts.withServices(caller, CallContext.Deadline, 9, CallContext.RemainingBudget, { costUsd: 1 })
    const impl = copy as unknown as { readonly overlay?: unknown; readonly base: unknown; readonly depth: number }
    const records: Array<unknown> = []
    for (let record = impl.overlay; record !== undefined; record = (record as { readonly parent?: unknown }).parent) records.push(record)
    assert.strictEqual(records.length, 3)
    assert.isTrue(records[0] instanceof CallContexts.Service && records[1] instanceof CallContexts.Service)
    assert.strictEqual(records[2], (caller as unknown as { readonly overlay: unknown }).overlay)
    assert.strictEqual(impl.base, (caller as unknown as { readonly base: unknown }).base)
    assert.strictEqual(impl.depth, 3)
    // effect's full view of it, its flattening included
    assert.deepStrictEqual(
      [...copy.mapUnsafe].sort((a, b) => a[0].localeCompare(b[0])),
      [[CallContext.Deadline.key, 9], [CallContext.RemainingBudget.key, { costUsd: 1 }], [Caller.key, { name: "caller" }]]
    )
    // a service added on top reads through it
    const above = Context.add(copy, CallContext.AttemptBudget, undefined)
    assert.strictEqual(Context.get(above, CallContext.Deadline), 9)
    assert.strictEqual(Context.getUnsafe(above, Caller).name, "caller")
  })

  it("a caller read many times (effect flattens it) or flattened before gives the same services", () => {
    const caller = Context.make(Caller, { name: "caller" }).pipe(Context.add(CallContext.Deadline, 5))
    const copy = CallContexts.withServices(caller, CallContext.Deadline, 9)
    for (let index = 0; index < 20; index++) assert.strictEqual(Context.getUnsafe(copy, Caller).name, "caller")
    assert.strictEqual(Context.get(copy, CallContext.Deadline), 9)
    const flattened = Context.make(Caller, { name: "flat" }).pipe(Context.add(CallContext.Deadline, 5))
    assert.strictEqual(flattened.mapUnsafe.size, 2)
    const over = CallContexts.withServices(flattened, CallContext.RemainingBudget, { costUsd: 2 })
    assert.strictEqual(Context.get(over, CallContext.Deadline), 5)
    assert.deepStrictEqual(Context.get(over, CallContext.RemainingBudget), { costUsd: 2 })
    assert.strictEqual(Context.getUnsafe(over, Caller).name, "flat")
  })

  it("a caller as deep as effect's maxDepth is flattened once (kept by it), the call's records over its map", () => {
    let caller: Context.Context<never> = Context.make(Caller, { name: "deep" }) as Context.Context<never>
    for (let index = 0; index < 8; index++) caller = Context.add(caller, CallContext.Deadline, index)
    const copy = CallContexts.withServices(caller, CallContext.RemainingBudget, { costUsd: 3 })
    const impl = copy as unknown as { readonly overlay?: unknown; readonly base: unknown; readonly depth: number; readonly cacheRoot: unknown }
    const flat = (caller as unknown as { readonly _flat?: unknown })._flat
    assert.isTrue(impl.overlay instanceof CallContexts.Service)
    assert.isTrue(flat instanceof Map)
    assert.strictEqual(impl.base, flat)
    assert.strictEqual(impl.depth, 1)
    assert.strictEqual(Context.get(copy, CallContext.Deadline), 7)
    assert.deepStrictEqual(Context.get(copy, CallContext.RemainingBudget), { costUsd: 3 })
    assert.strictEqual(Context.getUnsafe(copy, Caller).name, "deep")
    assert.strictEqual(impl.cacheRoot, (caller as unknown as { readonly cacheRoot: unknown }).cacheRoot)
    // a second call from the same context copies nothing
    const again = CallContexts.withServices(caller, CallContext.RemainingBudget, { costUsd: 4 })
    assert.strictEqual((again as unknown as { readonly base: unknown }).base, flat)
    assert.deepStrictEqual(Context.get(again, CallContext.RemainingBudget), { costUsd: 4 })
    assert.deepStrictEqual(Context.get(copy, CallContext.RemainingBudget), { costUsd: 3 })
  })

  // A guard for effect upgrades: the call's context shares its caller's fiber cache (its cache
  // root), so a fiber switching to it does not rebuild effect's per-root cache, and the
  // fiber-cached services (here the log level) still read as the caller's.
  it.effect("a fiber switching to the copy keeps its fiber cache and reads the caller's fiber-cached services", () =>
    Effect.gen(function*() {
      const seen = yield* Effect.withFiber((fiber) => {
        const internal = fiber as unknown as { readonly cache: unknown }
        const before = internal.cache
        const caller = fiber.context
        const copy = CallContexts.withServices(caller, References.CurrentLogAnnotations, { call: "c-1" }, CallContext.Deadline, 7)
        fiber.setContext(copy)
        const after = internal.cache
        const annotations = fiber.getRef(References.CurrentLogAnnotations)
        const level = fiber.getRef(References.CurrentLogLevel)
        fiber.setContext(caller)
        return Effect.succeed({ same: before === after, annotations, level, back: fiber.getRef(CallContext.Deadline) })
      }).pipe(Effect.provideService(References.CurrentLogLevel, "Warn"))
      assert.isTrue(seen.same)
      assert.deepStrictEqual(seen.annotations, { call: "c-1" })
      assert.strictEqual(seen.level, "Warn")
      assert.isUndefined(seen.back)
    }))
})
