/**
 * Property test of issue 13, item 1: under random attempt timeouts, retries, concurrency waits,
 * provider failures and external interruptions, what a "billing" provider records as billed
 * (every request it received: the usage of an answer, else its input tokens plus the output cap
 * it was sent) never passes the budget's limit, the budget committed at least that much, and
 * nothing stays reserved. The provider is a double registered in the registry, so the whole
 * stack runs (observability, budget, retry + timeouts, concurrency limit, send marker), on
 * `TestClock`.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Schema } from "effect"
import { TestClock } from "effect/testing"
import * as LanguageModel from "../../src/LanguageModel.ts"
import * as LlmError from "../../src/LlmError.ts"
import type { LlmRequest } from "../../src/LlmRequest.ts"
import * as ModelFactory from "../../src/ModelFactory.ts"
import * as ProviderRegistry from "../../src/ProviderRegistry.ts"
import * as Stack from "../../src/Stack.ts"
import * as Tokenizer from "../../src/Tokenizer.ts"
import * as Usage from "../../src/Usage.ts"

const between = (minimum: number, maximum: number) => Schema.Int.check(Schema.isBetween({ minimum, maximum }))

/** What the provider does with one request it receives. */
const Behaviour = Schema.Struct({
  outcome: Schema.Literals(["answer", "answer", "answer", "500", "reset"]),
  delayMs: between(0, 300)
})
type Behaviour = typeof Behaviour.Type

const Call = Schema.Struct({
  words: between(1, 40),
  maxTokens: Schema.optionalKey(between(1, 200)),
  startMs: between(0, 500),
  /** Interrupted from outside this long after it starts (never when absent). */
  interruptAfterMs: Schema.optionalKey(between(0, 400))
})

const Settings = Schema.Struct({
  totalTokens: between(300, 6_000),
  maxAttempts: between(1, 4),
  attemptTimeoutMs: between(20, 250),
  concurrency: between(1, 6)
})

interface Book {
  received: number
  billed: number
}

/** A provider that bills every request it received, scripted by `behaviours` in turn. */
const billingProvider = (book: Book, behaviours: ReadonlyArray<Behaviour>): ProviderRegistry.Provider => {
  const generate = (request: LlmRequest) =>
    Effect.suspend(() => {
      const behaviour = behaviours[book.received % behaviours.length]!
      book.received += 1
      const input = Tokenizer.countRequest(request)
      const cap = request.maxTokens ?? 0
      const output = Math.min(5, cap === 0 ? 5 : cap)
      if (behaviour.outcome === "500") {
        return Effect.fail(LlmError.make("billing", new LlmError.ServerError({ description: "scripted 500", status: 500 }), { status: 500 }))
      }
      const answer = Effect.sleep(behaviour.delayMs).pipe(
        Effect.andThen(
          behaviour.outcome === "reset"
            ? Effect.fail(LlmError.make("billing", new LlmError.Network({ description: "connection reset after the request was written" })))
            : Effect.succeed({
              content: "ok",
              model: request.model ?? "billing-1",
              provider: "billing",
              usage: Usage.make({ inputTokens: input, outputTokens: output }),
              finishReason: "stop" as const,
              latencyMs: behaviour.delayMs
            })
        )
      )
      // Billed when it ends: an answer its usage; a request it dropped or that was abandoned by
      // the client, everything it could have cost.
      return Effect.onExit(answer, (exit) =>
        Effect.sync(() => {
          book.billed += exit._tag === "Success" ? input + output : input + cap
        }))
    })
  return {
    name: "billing",
    description: "bills every request it received",
    defaultModel: "billing-1",
    keyEnv: [],
    requiresKey: false,
    make: () => Effect.succeed(LanguageModel.make({ provider: "billing", defaultModel: "billing-1", generate }))
  }
}

describe("abandoned attempts under random timeouts and interruptions (property)", () => {
  it.effect.prop(
    "what the provider billed never passes the limit, the budget committed at least that, nothing stays reserved",
    [Settings, Schema.Array(Behaviour).check(Schema.isMinLength(1), Schema.isMaxLength(20)), Schema.Array(Call).check(Schema.isMinLength(10), Schema.isMaxLength(60))],
    ([settings, behaviours, calls]) =>
      Effect.gen(function*() {
        const book: Book = { received: 0, billed: 0 }
        const layer = Stack.layerFactory({
          provider: { provider: "billing" },
          budget: { budget: { totalTokens: settings.totalTokens }, defaultMaxTokens: 150 },
          observability: { logCalls: false },
          resilience: {
            retry: { maxAttempts: settings.maxAttempts, baseDelay: "10ms", jitter: false },
            attemptTimeout: `${settings.attemptTimeoutMs}ms`,
            limits: { concurrency: settings.concurrency }
          }
        }).pipe(Layer.provide(ProviderRegistry.layer([billingProvider(book, behaviours)])))
        yield* Effect.gen(function*() {
          const fibers = yield* Effect.forEach(calls, (call) =>
            Effect.forkChild(Effect.exit(
              Effect.sleep(call.startMs).pipe(Effect.andThen(LanguageModel.generate({
                prompt: "word ".repeat(call.words),
                ...(call.maxTokens !== undefined ? { maxTokens: call.maxTokens } : {})
              })))
            )))
          const interrupters = yield* Effect.forEach(calls, (call, index) =>
            call.interruptAfterMs === undefined
              ? Effect.succeed(undefined)
              : Effect.forkChild(Effect.andThen(Effect.sleep(call.startMs + call.interruptAfterMs), Fiber.interrupt(fibers[index]!))))
          for (let step = 0; step < 40; step++) yield* TestClock.adjust("250 millis")
          yield* Effect.forEach(fibers, Fiber.await, { discard: true })
          yield* Effect.forEach(interrupters, (fiber) => (fiber === undefined ? Effect.void : Fiber.interrupt(fiber)), { discard: true })

          const snapshot = yield* (yield* ModelFactory.ModelFactory).budget!.snapshot
          assert.isAtMost(book.billed, settings.totalTokens)
          assert.isAtLeast(snapshot.consumed.totalTokens, book.billed)
          assert.isAtMost(snapshot.consumed.totalTokens, settings.totalTokens)
          assert.deepStrictEqual([snapshot.reserved.totalTokens, snapshot.reserved.costUsd, snapshot.openReservations], [0, 0, 0])
        }).pipe(Effect.provide(layer))
      }),
    { timeout: 120_000, arbitrary: { runs: 40 } }
  )
})
