import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as LanguageModel from "../../src/LanguageModel.ts"
import * as LlmError from "../../src/LlmError.ts"
import type { LlmRequest } from "../../src/LlmRequest.ts"
import * as Mock from "../../src/providers/mock/MockLanguageModel.ts"
import * as MockFault from "../../src/providers/mock/MockFault.ts"
import * as CircuitBreaker from "../../src/resilience/CircuitBreaker.ts"
import * as Fallback from "../../src/resilience/Fallback.ts"

/** A named mock provider with a fault script; `seen` records the requests it received. */
const candidate = (provider: string, script: string, seen: Array<LlmRequest>) =>
  Effect.map(Mock.make({ reply: `from ${provider}`, faults: MockFault.parseScript(script).pipe((r) => (r._tag === "Success" ? r.success : [])) }), ({ model }) => ({
    ...model,
    provider,
    generate: (request: LlmRequest) => Effect.andThen(Effect.sync(() => seen.push(request)), model.generate(request))
  }))

describe("Fallback", () => {
  it.effect("tries the candidates in order on retryable failures; the response says which one served it", () =>
    Effect.gen(function*() {
      const seen: Record<string, Array<LlmRequest>> = { a: [], b: [], c: [] }
      const chain = Fallback.make([
        { service: yield* candidate("a", "500", seen.a!) },
        { service: yield* candidate("b", "network", seen.b!), model: "b-large" },
        { service: yield* candidate("c", "", seen.c!) }
      ])
      const response = yield* chain.generate({ messages: [{ role: "user", content: "hi" }], model: "a-model" })
      assert.strictEqual(response.content, "from c")
      assert.strictEqual(response.model, "mock-1")
      assert.deepStrictEqual(response.metadata?.fallback, {
        candidate: "c/mock-1",
        index: 2,
        failed: [{ candidate: "a/mock-1", reason: "ServerError" }, { candidate: "b/b-large", reason: "Network" }]
      })
      assert.deepStrictEqual(Fallback.servedBy(response), response.metadata?.fallback)
      // The first candidate got the request's model, a pinned one its own, the others their default.
      assert.strictEqual(seen.a![0]!.model, "a-model")
      assert.strictEqual(seen.b![0]!.model, "b-large")
      assert.isUndefined(seen.c![0]!.model)
    }))

  it.effect("the first healthy candidate serves: later ones are never called", () =>
    Effect.gen(function*() {
      const seen: Record<string, Array<LlmRequest>> = { a: [], b: [] }
      const chain = Fallback.make([{ service: yield* candidate("a", "", seen.a!) }, { service: yield* candidate("b", "", seen.b!) }])
      const response = yield* chain.generate({ messages: [{ role: "user", content: "hi" }] })
      assert.strictEqual(response.content, "from a")
      assert.deepStrictEqual(response.metadata?.fallback, { candidate: "a/mock-1", index: 0, failed: [] })
      assert.isUndefined(Fallback.servedBy({ ...response, metadata: {} }))
      assert.strictEqual(seen.b!.length, 0)
    }))

  it.effect("a non-retryable error (400) is returned at once, without trying the others", () =>
    Effect.gen(function*() {
      const seen: Record<string, Array<LlmRequest>> = { a: [], b: [] }
      const chain = Fallback.make([{ service: yield* candidate("a", "400", seen.a!) }, { service: yield* candidate("b", "", seen.b!) }])
      const error = yield* Effect.flip(chain.generate({ messages: [{ role: "user", content: "hi" }] }))
      assert.strictEqual(error.reason._tag, "InvalidRequest")
      assert.strictEqual(seen.b!.length, 0)
    }))

  it.effect("when every candidate fails, the last error is returned", () =>
    Effect.gen(function*() {
      const seen: Record<string, Array<LlmRequest>> = { a: [], b: [] }
      const chain = Fallback.make([{ service: yield* candidate("a", "500", seen.a!) }, { service: yield* candidate("b", "503", seen.b!) }])
      const error = yield* Effect.flip(chain.generate({ messages: [{ role: "user", content: "hi" }] }))
      assert.strictEqual(error.reason._tag, "Unavailable")
      assert.deepStrictEqual([seen.a!.length, seen.b!.length], [1, 1])
    }))

  it.effect("an open circuit sends calls straight to the next candidate (layer form, each candidate its own stack)", () =>
    Effect.gen(function*() {
      const first = Effect.map(Mock.make({ faults: [{ _tag: "ServerError", status: 500 }, { _tag: "ServerError", status: 500 }] }), ({ model }) => ({
        ...model,
        provider: "primary"
      }))
      const primary = CircuitBreaker.layer({ failures: 1, cooldownMs: 60_000 }).pipe(
        Layer.provide(Layer.effect(LanguageModel.LanguageModel, first))
      )
      const backup = Layer.effect(LanguageModel.LanguageModel, Effect.map(Mock.make({ reply: "from backup" }), ({ model }) => ({ ...model, provider: "backup" })))
      const chain = Fallback.layer([{ layer: primary }, { layer: backup, name: "backup" }]).pipe(
        Layer.provide(CircuitBreaker.layerStoreMemory)
      )
      const [one, two] = yield* Effect.all([LanguageModel.generate("1"), LanguageModel.generate("2")]).pipe(Effect.provide(chain))
      assert.deepStrictEqual(one!.metadata?.fallback, { candidate: "backup", index: 1, failed: [{ candidate: "primary/mock-1", reason: "ServerError" }] })
      assert.deepStrictEqual(two!.metadata?.fallback, { candidate: "backup", index: 1, failed: [{ candidate: "primary/mock-1", reason: "CircuitOpen" }] })
      assert.strictEqual(two!.content, "from backup")
    }))

  it("shouldFallBack: retryable errors, call timeouts and open circuits", () => {
    const error = (reason: LlmError.LlmErrorReason) => LlmError.make("p", reason)
    assert.isTrue(Fallback.shouldFallBack(error(new LlmError.RateLimited({ description: "x" }))))
    assert.isTrue(Fallback.shouldFallBack(error(new LlmError.Timeout({ description: "x", scope: "call", attempts: 2, elapsedMs: 9 }))))
    assert.isTrue(Fallback.shouldFallBack(error(new LlmError.CircuitOpen({ description: "x" }))))
    assert.isFalse(Fallback.shouldFallBack(error(new LlmError.Authentication({ description: "x" }))))
    assert.isFalse(Fallback.shouldFallBack(error(new LlmError.ContentFiltered({ description: "x" }))))
  })
})
