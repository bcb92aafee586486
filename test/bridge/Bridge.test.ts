/**
 * Bridge.make in process: one stack per provider and key (built once, also when asked
 * concurrently), request > flags > environment > file, a fresh budget per request (its deadline
 * from the request's start), the key's three sources, and no key in any answer.
 */
import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Fiber, FileSystem, Layer, Path, Redacted } from "effect"
import { TestClock } from "effect/testing"
import * as Bridge from "../../src/bridge/Bridge.ts"
import * as BudgetStore from "../../src/budget/BudgetStore.ts"
import * as BudgetTracker from "../../src/budget/BudgetTracker.ts"
import * as BridgeContract from "../../src/bridge/BridgeContract.ts"
import * as LanguageModel from "../../src/LanguageModel.ts"
import * as LlmConnectConfig from "../../src/LlmConnectConfig.ts"
import * as LlmError from "../../src/LlmError.ts"
import type * as LlmRequest from "../../src/LlmRequest.ts"
import type * as Message from "../../src/Message.ts"
import * as MockLanguageModel from "../../src/providers/mock/MockLanguageModel.ts"
import * as ProviderRegistry from "../../src/ProviderRegistry.ts"

/** A provider that records what it was built with and every request it got. */
const recorder = () => {
  const made: Array<{ readonly apiKey: string | undefined; readonly model: string | undefined }> = []
  const seen: Array<LlmRequest.LlmRequest> = []
  const state = { delayMs: 0, failWith: undefined as LlmError.LlmError | undefined }
  const provider: ProviderRegistry.Provider = {
    name: "recorder",
    description: "records its builds and requests",
    defaultModel: "rec-1",
    keyEnv: ["RECORDER_API_KEY"],
    requiresKey: true,
    make: (config) =>
      Effect.sync(() => {
        made.push({ apiKey: config.apiKey === undefined ? undefined : Redacted.value(config.apiKey), model: config.model })
        return LanguageModel.make({
          provider: "recorder",
          defaultModel: config.model ?? "rec-1",
          generate: (request) =>
            Effect.gen(function*() {
              seen.push(request)
              if (state.delayMs > 0) yield* Effect.sleep(state.delayMs)
              if (state.failWith !== undefined) return yield* Effect.fail(state.failWith)
              return {
                content: "ok",
                model: request.model ?? config.model ?? "rec-1",
                provider: "recorder",
                usage: { inputTokens: 5, outputTokens: 3, totalTokens: 8 },
                finishReason: "stop" as const,
                latencyMs: state.delayMs
              }
            })
        })
      })
  }
  return { provider, made, seen, state }
}

const withBridge = <A, E>(
  options: {
    readonly yaml?: string
    readonly env?: Record<string, string>
    readonly flags?: Record<string, unknown>
    readonly providers: ReadonlyArray<ProviderRegistry.Provider>
    readonly options?: Bridge.Options
  },
  use: (bridge: Bridge.Service) => Effect.Effect<A, E>
) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const dir = yield* Effect.orDie(fs.makeTempDirectoryScoped({ prefix: "llmc-bridge-" }))
    yield* Effect.orDie(fs.writeFileString(path.join(dir, "llm-connect.yaml"), options.yaml ?? "ledger: false\n"))
    const resolved = yield* LlmConnectConfig.load({ cwd: dir, flags: options.flags ?? {} })
    const bridge = yield* Bridge.make(resolved, options.options)
    return yield* use(bridge)
  }).pipe(
    Effect.scoped,
    Effect.provide(ConfigProvider.layer(ConfigProvider.fromUnknown({ LLM_CONNECT_KEY_DIR: "/nonexistent-keys", ...options.env }))),
    Effect.provide(Layer.mergeAll(ProviderRegistry.layer(options.providers), NodeServices.layer))
  )

const request = (fields: Record<string, unknown>) => ({
  provider: "recorder",
  model: null,
  systemPrompt: null,
  prompt: "Hi",
  maxTokens: 100,
  temperature: 0.2,
  ...fields
})

const success = (answer: BridgeContract.BridgeAnswer): BridgeContract.BridgeResponse => {
  if (BridgeContract.isFailure(answer)) assert.fail(`expected a response, got ${JSON.stringify(answer)}`)
  return answer as BridgeContract.BridgeResponse
}

/** A failure with the reason's own fields (`dimension`, `limit`...). */
const failure = (answer: BridgeContract.BridgeAnswer): BridgeContract.BridgeFailure & Readonly<Record<string, unknown>> => {
  if (!BridgeContract.isFailure(answer)) assert.fail(`expected a failure, got ${JSON.stringify(answer)}`)
  return answer as BridgeContract.BridgeFailure & Readonly<Record<string, unknown>>
}

describe("Bridge.make", () => {
  it.effect("answers the consumer's exact request (systemPrompt null) with the five fields", () => {
    const rec = recorder()
    return withBridge({ providers: [rec.provider], env: { RECORDER_API_KEY: "env-key-1234" } }, (bridge) =>
      Effect.gen(function*() {
        const answer = yield* bridge.answer(request({}))
        assert.deepStrictEqual(answer, { content: "ok", model: "rec-1", tokensIn: 5, tokensOut: 3, finishReason: "stop" })
        const sent = rec.seen[0]!
        assert.isUndefined(sent.system)
        assert.strictEqual(sent.maxTokens, 100)
        assert.strictEqual(sent.temperature, 0.2)
        assert.deepStrictEqual(sent.messages, [{ role: "user", content: "Hi" }])
        assert.deepStrictEqual(rec.made, [{ apiKey: "env-key-1234", model: undefined }])
      }))
  })

  it.effect("builds one stack per provider and key, once, also when asked concurrently; another model reuses it", () => {
    const rec = recorder()
    const mock = MockLanguageModel.provider
    let mockBuilds = 0
    const countedMock: ProviderRegistry.Provider = { ...mock, make: (config) => Effect.andThen(Effect.sync(() => void mockBuilds++), mock.make(config)) }
    return withBridge({ providers: [rec.provider, countedMock], env: { RECORDER_API_KEY: "env-key-1234" } }, (bridge) =>
      Effect.gen(function*() {
        yield* Effect.all([bridge.answer(request({})), bridge.answer(request({})), bridge.answer(request({}))], { concurrency: 3 })
        assert.strictEqual(rec.made.length, 1)
        yield* Effect.all([bridge.answer(request({ api_key: "key-one-1234" })), bridge.answer(request({ api_key: "key-one-1234" }))], {
          concurrency: 2
        })
        yield* bridge.answer(request({ api_key: "key-two-1234" }))
        yield* bridge.answer(request({ api_key: "key-one-1234" }))
        assert.deepStrictEqual(rec.made.map((made) => made.apiKey), ["env-key-1234", "key-one-1234", "key-two-1234"])
        const other = success(yield* bridge.answer(request({ model: "rec-2" })))
        assert.strictEqual(other.model, "rec-2")
        assert.strictEqual(rec.made.length, 3)
        yield* bridge.answer(request({ provider: "mock" }))
        yield* bridge.answer(request({ provider: "mock", model: "mock-2" }))
        assert.strictEqual(mockBuilds, 1)
      }))
  })

  it.effect("request > flags > environment > file, for every field; null means absent", () => {
    const rec = recorder()
    const yaml = ["ledger: false", "provider: recorder", "model: file-model", "system: file system", "maxTokens: 11", "temperature: 1.1"].join("\n")
    return withBridge(
      {
        providers: [rec.provider],
        yaml,
        env: { RECORDER_API_KEY: "env-key-1234", LLM_CONNECT_MODEL: "env-model", LLM_CONNECT_SYSTEM: "env system" },
        flags: { model: "flag-model" }
      },
      (bridge) =>
        Effect.gen(function*() {
          // Everything null: the flag's model, the environment's system prompt, the file's cap and temperature.
          const defaults = success(
            yield* bridge.answer({ provider: null, model: null, systemPrompt: null, prompt: "Hi", maxTokens: null, temperature: null })
          )
          assert.strictEqual(defaults.model, "flag-model")
          assert.strictEqual(rec.seen[0]!.system, "env system")
          assert.strictEqual(rec.seen[0]!.maxTokens, 11)
          assert.strictEqual(rec.seen[0]!.temperature, 1.1)
          // The request's own values win.
          const own = success(
            yield* bridge.answer({ provider: "recorder", model: "req-model", systemPrompt: "req system", prompt: "Hi", maxTokens: 7, temperature: 0 })
          )
          assert.strictEqual(own.model, "req-model")
          assert.strictEqual(rec.seen[1]!.system, "req system")
          assert.strictEqual(rec.seen[1]!.maxTokens, 7)
          assert.strictEqual(rec.seen[1]!.temperature, 0)
        })
    )
  })

  it.effect("messages instead of prompt; both, neither, a bad field or a non-object are InvalidInput naming the problem", () => {
    const rec = recorder()
    return withBridge({ providers: [rec.provider], env: { RECORDER_API_KEY: "env-key-1234" } }, (bridge) =>
      Effect.gen(function*() {
        const messages: ReadonlyArray<Message.Message> = [{ role: "user", content: "one" }, { role: "assistant", content: "two" }, { role: "user", content: "three" }]
        success(yield* bridge.answer(request({ prompt: null, messages })))
        assert.deepStrictEqual(rec.seen[0]!.messages, messages)
        const neither = failure(yield* bridge.answer({ id: 7, provider: "recorder", prompt: null }))
        assert.strictEqual(neither.errorType, "InvalidInput")
        assert.strictEqual(neither.id, 7)
        assert.include(neither.error, "missing prompt")
        const both = failure(yield* bridge.answer(request({ messages })))
        assert.include(both.error, "both")
        const bad = failure(yield* bridge.answer(request({ maxTokens: -1, temperature: "hot" })))
        assert.strictEqual(bad.errorType, "InvalidInput")
        assert.include(bad.error, "maxTokens")
        assert.include(bad.error, "temperature")
        const notObject = failure(yield* bridge.answer([1, 2]))
        assert.include(notObject.error, "JSON object")
        assert.strictEqual(notObject.id, null)
        const notJson = failure(yield* bridge.answerText("{\"prompt\":"))
        assert.strictEqual(notJson.errorType, "InvalidInput")
        assert.strictEqual(notJson.id, null)
        const unknown = failure(yield* bridge.answer(request({ provider: "nope" })))
        assert.strictEqual(unknown.errorType, "InvalidInput")
        assert.include(unknown.error, "unknown provider")
        assert.strictEqual(rec.seen.length, 1)
      }))
  })

  it.effect("the key: the request's api_key, else the environment, else the key file, else an error naming all three", () => {
    const rec = recorder()
    return withBridge({ providers: [rec.provider] }, (bridge) =>
      Effect.gen(function*() {
        const missing = failure(yield* bridge.answer(request({})))
        assert.strictEqual(missing.errorType, "InvalidInput")
        assert.include(missing.error, "api_key")
        assert.include(missing.error, "RECORDER_API_KEY")
        assert.include(missing.error, "key file")
        assert.strictEqual(BridgeContract.exitCode(missing), 2)
        success(yield* bridge.answer(request({ api_key: "req-key-1234" })))
        assert.deepStrictEqual(rec.made.map((made) => made.apiKey), ["req-key-1234"])
      }))
  })

  it.effect("a request's api_key never appears in its answer, even when the provider's error quotes it", () => {
    const rec = recorder()
    const key = "plain-secret-value-98765"
    rec.state.failWith = LlmError.make("recorder", new LlmError.Authentication({ description: `key ${key} was refused` }), {
      status: 401
    })
    return withBridge({ providers: [rec.provider] }, (bridge) =>
      Effect.gen(function*() {
        const answer = failure(yield* bridge.answer(request({ api_key: key })))
        assert.strictEqual(answer.errorType, "Authentication")
        assert.strictEqual(BridgeContract.exitCode(answer), 1)
        assert.notInclude(JSON.stringify(answer), key)
        assert.include(answer.error, "refused")
      }))
  })

  it.effect("the budget holds per request: a fresh tracker each (the flag's and the request's limits), nothing shared", () => {
    const rec = recorder()
    return withBridge(
      { providers: [rec.provider], env: { RECORDER_API_KEY: "env-key-1234" }, flags: { "budget.totalTokens": 110 } },
      (bridge) =>
        Effect.gen(function*() {
          // Each call reserves 5 in + its cap and spends 8: with one shared tracker of 110 the
          // second would be refused; per request, every one passes.
          for (let index = 0; index < 4; index++) success(yield* bridge.answer(request({ maxTokens: 100 })))
          const refused = failure(yield* bridge.answer(request({ maxTokens: 100, budget: { totalTokens: 50, costUsd: null } })))
          assert.strictEqual(refused.errorType, "BudgetExceeded")
          assert.strictEqual(refused.dimension, "totalTokens")
          assert.strictEqual(refused.limit, 50)
          assert.strictEqual(rec.seen.length, 4)
          const badBudget = failure(yield* bridge.answer(request({ budget: { totalTokens: -3 } })))
          assert.strictEqual(badBudget.errorType, "InvalidInput")
        })
    )
  })

  it.effect("a deadline counts from each request's start", () => {
    const rec = recorder()
    return withBridge(
      { providers: [rec.provider], env: { RECORDER_API_KEY: "env-key-1234" }, flags: { "budget.deadline": "1s" } },
      (bridge) =>
        Effect.gen(function*() {
          // The stack is built (key looked up on disk) by a first call, so that the timed calls
          // below start their clocks at once.
          success(yield* bridge.answer(request({})))
          rec.state.delayMs = 600
          const first = yield* Effect.forkChild(bridge.answer(request({})))
          yield* TestClock.adjust("600 millis")
          success(yield* Fiber.join(first))
          // 1.2s after the bridge started: still within this request's own second.
          const second = yield* Effect.forkChild(bridge.answer(request({})))
          yield* TestClock.adjust("600 millis")
          success(yield* Fiber.join(second))
          // A call longer than its deadline fails with the deadline dimension.
          rec.state.delayMs = 5_000
          const third = yield* Effect.forkChild(bridge.answer(request({})))
          yield* TestClock.adjust("2 seconds")
          const late = failure(yield* Fiber.join(third))
          assert.strictEqual(late.errorType, "BudgetExceeded")
          assert.strictEqual(late.dimension, "deadline")
        })
    )
  })

  it.effect("a stack nobody used for idleTimeToLive is closed and built again on demand; at most maxStacks at once", () => {
    const rec = recorder()
    return withBridge(
      { providers: [rec.provider], env: { RECORDER_API_KEY: "env-key-1234" }, options: { idleTimeToLive: "1 minute", maxStacks: 2 } },
      (bridge) =>
        Effect.gen(function*() {
          success(yield* bridge.answer(request({})))
          success(yield* bridge.answer(request({})))
          assert.strictEqual(rec.made.length, 1)
          yield* TestClock.adjust("30 seconds")
          success(yield* bridge.answer(request({ api_key: "second-key-1" })))
          assert.strictEqual(rec.made.length, 2)
          // Two stacks exist: a third key is refused (retryable), not built.
          const full = failure(yield* bridge.answer(request({ api_key: "third-key-12" })))
          assert.strictEqual(full.errorType, "Unavailable")
          assert.strictEqual(full.retryable, true)
          assert.notInclude(JSON.stringify(full), "third-key-12")
          assert.strictEqual(rec.made.length, 2)
          // A minute after its last use the first stack is closed, which makes room for the third.
          yield* TestClock.adjust("31 seconds")
          // (The closing runs in its own fiber once the clock passes the expiry.)
          yield* Effect.yieldNow
          success(yield* bridge.answer(request({ api_key: "third-key-12" })))
          // And once the second is idle for a minute too, the first is built again.
          yield* TestClock.adjust("30 seconds")
          yield* Effect.yieldNow
          success(yield* bridge.answer(request({})))
          assert.deepStrictEqual(rec.made.map((made) => made.apiKey), ["env-key-1234", "second-key-1", "third-key-12", "env-key-1234"])
        })
    )
  })

  it.effect("a request's budget under a key's leaves the store with the request, failed ones too; the key keeps the totals", () => {
    const rec = recorder()
    return withBridge({ providers: [rec.provider], env: { RECORDER_API_KEY: "env-key-1234" } }, (bridge) =>
      Effect.gen(function*() {
        const store = yield* BudgetStore.makeMemory
        const key = yield* BudgetTracker.make({ totalTokens: 1_000_000 }).pipe(Effect.provideService(BudgetStore.BudgetStore, store))
        const asKey = <A, E>(effect: Effect.Effect<A, E>) => Effect.provideService(effect, BudgetTracker.CurrentBudget, key)
        let answered = 0
        for (let call = 0; call < 300; call++) {
          rec.state.failWith = call % 5 === 4 ? LlmError.make("recorder", new LlmError.Authentication({ description: "refused" })) : undefined
          const answer = yield* asKey(bridge.answer(request({ budget: { totalTokens: 500 } })))
          if (!BridgeContract.isFailure(answer)) answered++
        }
        rec.state.failWith = undefined
        yield* asKey(Effect.scoped(Effect.flatMap(bridge.requestBudget({ totalTokens: 500 }), (tracker) => Effect.sync(() => assert.isDefined(tracker)))))
        assert.strictEqual(answered, 240)
        assert.strictEqual(yield* store.size, 1)
        assert.strictEqual((yield* key.snapshot).consumed.totalTokens, 8 * answered)
      }))
  })
})
