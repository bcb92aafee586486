// Retries, a fallback chain, a batch that keeps every answer, and a graceful stop.
// Runs offline against the mock provider (scripted failures): npm run example examples/resilience.ts
// expect: retried: answered after 3 attempts (429, then 500, then ok)
// expect: fallback: served by backup/mock-1 (index 1) after primary/mock-1 failed with Unavailable
// expect: batch: ok, InvalidRequest, ok
// expect: shutdown: refused with Unavailable, 0 calls in flight
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Layer, References, Result } from "effect"
import { Batch, Fallback, GracefulShutdown, LanguageModel, MockLanguageModel, Retry } from "llm-connect"

// A mock that fails with the given script first (a real provider goes here instead).
const mock = (name: string, faults: MockLanguageModel.Options["faults"]) =>
  Effect.map(MockLanguageModel.make({ faults, reply: `hello from ${name}` }), ({ model }) => ({ ...model, provider: name }))

// 1. Retry: 429 (Retry-After 50 ms), then 500, then success; waits are short for the example.
const retried = Effect.gen(function*() {
  const inner = yield* mock("mock", [{ _tag: "RateLimited", retryAfterMs: 50 }, { _tag: "ServerError", status: 500 }])
  let attempts = 0
  const counting: LanguageModel.Service = LanguageModel.make({
    ...inner,
    generate: (request) => Effect.suspend(() => {
      attempts++
      return inner.generate(request)
    })
  })
  const model = Retry.make(counting, { ...Retry.defaultPolicy, baseDelayMs: 20 })
  yield* model.generate({ messages: [{ role: "user", content: "hi" }] })
  yield* Console.log(`retried: answered after ${attempts} attempts (429, then 500, then ok)`)
})

// 2. Fallback: the primary is down (503 twice: its own retry gives up), the backup answers.
const fallback = Effect.gen(function*() {
  const primary = Retry.make(yield* mock("primary", [{ _tag: "ServerError", status: 503 }, { _tag: "ServerError", status: 503 }]), {
    ...Retry.defaultPolicy,
    maxAttempts: 2,
    baseDelayMs: 20
  })
  const chain = Fallback.make([{ service: primary }, { service: yield* mock("backup", []) }])
  const response = yield* chain.generate({ messages: [{ role: "user", content: "hi" }] })
  const served = Fallback.servedBy(response)
  yield* Console.log(
    `fallback: served by ${served?.candidate} (index ${served?.index}) after ${served?.failed[0]?.candidate} failed with ${
      served?.failed[0]?.reason
    }`
  )
})

// 3. Batch: three requests, the second one is refused (400); the others still answer.
const batch = Effect.gen(function*() {
  const results = yield* Batch.generateAll(["one", "two", "three"], { concurrency: 2 }).pipe(
    Effect.provide(Layer.effect(LanguageModel.LanguageModel, mock("mock", [{ _tag: "Ok" }, { _tag: "InvalidRequest" }])))
  )
  yield* Console.log(`batch: ${results.map((result) => (Result.isSuccess(result) ? "ok" : result.failure.reason._tag)).join(", ")}`)
})

// 4. Graceful shutdown: calls in flight finish, new ones are refused.
const shutdown = Effect.gen(function*() {
  const control = yield* GracefulShutdown.GracefulShutdown
  yield* control.shutdown
  const refused = yield* Effect.flip(LanguageModel.generate("too late"))
  yield* Console.log(`shutdown: refused with ${refused.reason._tag}, ${yield* control.inFlight} calls in flight`)
}).pipe(
  Effect.provide(
    GracefulShutdown.layer.pipe(
      Layer.provide(MockLanguageModel.layer({})),
      Layer.provideMerge(GracefulShutdown.layerService)
    )
  )
)

Effect.all([retried, fallback, batch, shutdown], { discard: true }).pipe(
  // The retry and fallback warnings are logged; keep this example's output to its results.
  Effect.provideService(References.MinimumLogLevel, "Error"),
  NodeRuntime.runMain
)
