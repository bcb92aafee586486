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

  it("the copy makes no effect overlay record", () => {
    const caller = Context.make(Caller, { name: "caller" })
    const copy = CallContexts.withServices(caller, CallContext.Deadline, 9, undefined, undefined)
    assert.isUndefined((copy as unknown as { readonly overlay?: unknown }).overlay)
  })

  // A guard for effect upgrades: the copy shares its caller's fiber cache (see `shareCache`), so a
  // fiber switching to it does not rebuild effect's per-root cache, and the fiber-cached services
  // (here the log level) still read as the caller's.
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
