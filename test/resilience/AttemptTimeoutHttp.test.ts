/**
 * The attempt timeout of a generate call over a real HTTP adapter, against a fake
 * OpenAI-compatible server on 127.0.0.1 that stalls, on `TestClock` (ADR 0050): the provider's own
 * request timeout runs in the attempt timeout's fiber (no fiber of its own) when the attempt's
 * deadline comes first. Whether the stall is before the response headers or in the middle of the
 * body, the attempt's deadline aborts the request (the server sees its socket close) and the
 * attempt fails with `Timeout` scope `attempt`, retried with a new request; a provider timeout
 * shorter than the attempt's keeps its own fiber and error; a shorter call timeout wins; an
 * interruption from outside still aborts the request; the budget charges the abandoned attempt.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, type Duration, Effect, Exit, Fiber, Layer } from "effect"
import { HttpClient } from "effect/http"
import { TestClock } from "effect/testing"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as LlmError from "../../src/LlmError.ts"
import * as LlmRequest from "../../src/LlmRequest.ts"
import * as ModelFactory from "../../src/ModelFactory.ts"
import * as NodeProviders from "../../src/node/NodeProviders.ts"
import * as UsageLedger from "../../src/observability/UsageLedger.ts"
import * as OpenAiClient from "../../src/providers/openai/OpenAiClient.ts"
import * as Timeout from "../../src/resilience/Timeout.ts"
import * as Stack from "../../src/Stack.ts"
import * as Fake from "../providers/openai/FakeOpenAiServer.ts"

const completion = {
  id: "chatcmpl-1",
  model: "local-1",
  choices: [{ index: 0, message: { role: "assistant", content: "The Nile." }, finish_reason: "stop" }],
  usage: { prompt_tokens: 12, completion_tokens: 3, total_tokens: 15 }
}
const answer: Fake.Reply = { _tag: "Json", body: completion }
// A 200 whose JSON body stops half-way and never ends.
const halfBody: Fake.Reply = {
  _tag: "Sse",
  headers: { "content-type": "application/json" },
  chunks: ['{"id":"chatcmpl-1","choices":[{"index":0,'],
  then: "hang"
}

const stackOf = (origin: string, resilience: Stack.StackConfig["resilience"]) =>
  Stack.layerFactory({
    provider: { provider: "openai-compatible", baseUrl: `${origin}/v1`, model: "local-1" },
    budget: { budget: { totalTokens: 100_000 } },
    resilience
  }).pipe(Layer.provide(NodeProviders.layer), Layer.provideMerge(UsageLedger.layerMemory()))

const request = LlmRequest.make({ prompt: "Name the longest river in Africa.", maxTokens: 50 })

const failureOf = <A>(exit: Exit.Exit<A, LlmError.LlmError>): LlmError.LlmError => {
  assert.isTrue(Exit.isFailure(exit))
  const error = Exit.findErrorOption(exit)
  assert.strictEqual(error._tag, "Some")
  return (error as { readonly value: LlmError.LlmError }).value
}

const timeoutOf = (error: LlmError.LlmError): LlmError.Timeout => {
  assert.strictEqual(error.reason._tag, "Timeout")
  return error.reason as LlmError.Timeout
}

/**
 * The adapter's client over undici, with what the tests watch: the fiber that sent each request
 * and a signal once the response headers of the current request arrived.
 */
const watchedClient = (origin: string, timeout: Duration.Input) =>
  Effect.gen(function*() {
    const http = yield* HttpClient.HttpClient
    const headers = yield* Deferred.make<void>()
    const senders: Array<number> = []
    const watched = HttpClient.tap(
      HttpClient.transform(http, (effect) =>
        Effect.withFiber((fiber) => {
          senders.push(fiber.id)
          return effect
        })),
      () => Deferred.succeed(headers, undefined)
    )
    const client = OpenAiClient.fromHttpClient(watched, { provider: "openai-compatible", baseUrl: `${origin}/v1`, timeout })
    return { client, headers, senders }
  })

const body = { model: "local-1", messages: [{ role: "user" as const, content: "hi" }] }
const subject = { provider: "openai-compatible", model: "local-1" }

describe("The attempt timeout of a generate call over HTTP (TestClock)", () => {
  it.effect("headers never come: the attempt's deadline aborts the request (the server sees it), Timeout attempt, and the retry sends a new request", () =>
    Effect.gen(function*() {
      let calls = 0
      const fake = yield* Fake.start(() => (calls++ === 0 ? { _tag: "Hang" } : answer))
      yield* Effect.gen(function*() {
        const factory = yield* ModelFactory.ModelFactory
        const fiber = yield* Effect.forkChild(Effect.exit(factory.model.generate(request)))
        yield* fake.nextRequest
        yield* TestClock.adjust("1999 millis")
        assert.strictEqual(yield* fake.abandonedTotal, 0)
        yield* TestClock.adjust("1 millis")
        // The request was aborted at the deadline: the server saw its socket close.
        yield* fake.abandoned
        // The retry (after its 10 ms backoff) sends a new request, which is answered.
        yield* TestClock.adjust("10 millis")
        const exit = yield* Fiber.join(fiber)
        assert.isTrue(Exit.isSuccess(exit))
        assert.strictEqual(Exit.isSuccess(exit) ? exit.value.content : "", "The Nile.")
        assert.strictEqual(fake.requests.length, 2)
        assert.strictEqual(yield* fake.abandonedTotal, 1)
        const [row] = yield* (yield* UsageLedger.UsageLedger).entries()
        assert.strictEqual(row!.outcome, "ok")
        assert.strictEqual(row!.attempts, 2)
        assert.strictEqual(row!.abandonedAttempts, 1)
        const snapshot = yield* factory.budget!.snapshot
        assert.strictEqual(snapshot.openReservations, 0)
        // The abandoned attempt is charged (chargeAbandoned: reserved, its output cap of 50) on top of the answer's 15.
        assert.isAtLeast(snapshot.consumed.outputTokens, 50 + 3)
      }).pipe(Effect.provide(stackOf(fake.origin, { attemptTimeout: "2s", retry: { maxRetries: 1, baseDelay: "10ms", jitter: false } })))
    }), 60_000)

  it.effect("every attempt stalls: each is aborted before the next is sent; the call fails with Timeout attempt (retryable, attempts, elapsed)", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.start(() => ({ _tag: "Hang" }))
      yield* Effect.gen(function*() {
        const factory = yield* ModelFactory.ModelFactory
        const fiber = yield* Effect.forkChild(Effect.exit(factory.model.generate(request)))
        yield* fake.nextRequest
        yield* TestClock.adjust("2 seconds")
        yield* fake.abandoned
        assert.strictEqual(fake.requests.length, 1)
        yield* TestClock.adjust("10 millis")
        yield* fake.nextRequest
        yield* TestClock.adjust("2 seconds")
        yield* fake.abandoned
        const error = failureOf(yield* Fiber.join(fiber))
        const reason = timeoutOf(error)
        assert.strictEqual(reason.scope, "attempt")
        assert.strictEqual(reason.attempts, 2)
        assert.strictEqual(reason.elapsedMs, 2000)
        assert.isTrue(error.isRetryable)
        assert.strictEqual(fake.requests.length, 2)
        assert.strictEqual(yield* fake.abandonedTotal, 2)
        assert.strictEqual((yield* factory.budget!.snapshot).openReservations, 0)
      }).pipe(Effect.provide(stackOf(fake.origin, { attemptTimeout: "2s", retry: { maxRetries: 1, baseDelay: "10ms", jitter: false } })))
    }), 60_000)

  it.effect("the body stalls half-way: the attempt's deadline bounds the body read too, aborts it, Timeout attempt; the request ran in the attempt's fiber", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.start(() => halfBody)
      const { client, headers, senders } = yield* watchedClient(fake.origin, "10 minutes")
      let attemptFiber = -1
      const fiber = yield* Effect.forkChild(Effect.exit(Timeout.attempt(
        Effect.withFiber((current) => {
          attemptFiber = current.id
          return client.createChatCompletion(body)
        }),
        { timeoutMs: 2_000, attempt: 1, subject }
      )))
      // The response headers arrived: the stall is in the body.
      yield* Deferred.await(headers)
      yield* TestClock.adjust("2 seconds")
      yield* fake.abandoned
      const error = failureOf(yield* Fiber.join(fiber))
      const reason = timeoutOf(error)
      assert.strictEqual(reason.scope, "attempt")
      assert.strictEqual(reason.elapsedMs, 2000)
      assert.strictEqual(yield* fake.abandonedTotal, 1)
      // No fiber of the provider's own: its request was sent from the attempt's fiber.
      assert.deepStrictEqual(senders, [attemptFiber])
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)), 60_000)

  it.effect("a provider timeout shorter than the attempt's keeps its own fiber and its own error, and aborts the request", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.start(() => halfBody)
      const { client, headers, senders } = yield* watchedClient(fake.origin, "1 second")
      let attemptFiber = -1
      const fiber = yield* Effect.forkChild(Effect.exit(Timeout.attempt(
        Effect.withFiber((current) => {
          attemptFiber = current.id
          return client.createChatCompletion(body)
        }),
        { timeoutMs: 120_000, attempt: 1, subject }
      )))
      yield* Deferred.await(headers)
      yield* TestClock.adjust("1 second")
      yield* fake.abandoned
      const error = failureOf(yield* Fiber.join(fiber))
      const reason = timeoutOf(error)
      // The provider's own error (its timeout, its words), not the attempt timeout's.
      assert.include(reason.description, "no response from")
      assert.notInclude(reason.description, "attempt timeout")
      assert.strictEqual(senders.length, 1)
      assert.notStrictEqual(senders[0], attemptFiber)
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)), 60_000)

  it.effect("a call timeout shorter than the attempt timeout wins: Timeout call, the request aborted", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.start(() => ({ _tag: "Hang" }))
      yield* Effect.gen(function*() {
        const factory = yield* ModelFactory.ModelFactory
        const fiber = yield* Effect.forkChild(Effect.exit(factory.model.generate(LlmRequest.make({ prompt: "hi", maxTokens: 50, timeoutMs: 1_000 }))))
        yield* fake.nextRequest
        yield* TestClock.adjust("1 second")
        yield* fake.abandoned
        const error = failureOf(yield* Fiber.join(fiber))
        const reason = timeoutOf(error)
        assert.strictEqual(reason.scope, "call")
        assert.isFalse(error.isRetryable)
        assert.strictEqual(fake.requests.length, 1)
        assert.strictEqual((yield* factory.budget!.snapshot).openReservations, 0)
      }).pipe(Effect.provide(stackOf(fake.origin, { attemptTimeout: "2s", retry: { maxRetries: 2, baseDelay: "10ms", jitter: false } })))
    }), 60_000)

  it.effect("an interruption from outside aborts the request of an attempt under the attempt timeout", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.start(() => halfBody)
      yield* Effect.gen(function*() {
        const factory = yield* ModelFactory.ModelFactory
        const fiber = yield* Effect.forkChild(factory.model.generate(request))
        yield* fake.nextRequest
        yield* Fiber.interrupt(fiber)
        yield* fake.abandoned
        assert.strictEqual(yield* fake.abandonedTotal, 1)
        assert.strictEqual(fake.requests.length, 1)
        assert.strictEqual((yield* factory.budget!.snapshot).openReservations, 0)
      }).pipe(Effect.provide(stackOf(fake.origin, { attemptTimeout: "2s", retry: { maxRetries: 2, baseDelay: "10ms", jitter: false } })))
    }), 60_000)
})
