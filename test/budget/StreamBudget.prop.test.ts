/**
 * Property test of issue 14 (budgets that hold mid-stream): many concurrent streams through the
 * whole stack (observability, budget, retry + attempt and idle timeouts, concurrency limit, the
 * output cap, the send marker), against a streaming "billing" provider that at random answers,
 * ignores max_tokens, fails with 429 before its first part, drops the connection part-way or goes
 * silent, while consumers at random stop reading early or are interrupted from outside. On
 * `TestClock`.
 *
 * Whatever happens: nothing stays reserved (every stream was settled), the budget committed at
 * least every token the provider billed (what it generated, until the stream was aborted), and
 * the budget is never passed by more than one delta (one token here) per stream cut off at its
 * output cap.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Schema, Stream } from "effect"
import { TestClock } from "effect/testing"
import * as LanguageModel from "../../src/LanguageModel.ts"
import * as LlmError from "../../src/LlmError.ts"
import type { LlmRequest } from "../../src/LlmRequest.ts"
import * as ModelFactory from "../../src/ModelFactory.ts"
import * as ProviderRegistry from "../../src/ProviderRegistry.ts"
import * as Stack from "../../src/Stack.ts"
import * as StreamPart from "../../src/StreamPart.ts"
import * as Tokenizer from "../../src/Tokenizer.ts"
import * as Usage from "../../src/Usage.ts"

const between = (minimum: number, maximum: number) => Schema.Int.check(Schema.isBetween({ minimum, maximum }))

/** What the provider does with one stream it is asked for. */
const Behaviour = Schema.Struct({
  outcome: Schema.Literals(["answer", "answer", "ignoreCap", "429", "cut", "silent"]),
  words: between(1, 60),
  /** The pause before each delta. */
  delayMs: between(0, 30),
  /** For `cut` and `silent`: the deltas sent first. */
  after: between(0, 10)
})
type Behaviour = typeof Behaviour.Type

const Call = Schema.Struct({
  words: between(1, 40),
  maxTokens: Schema.optionalKey(between(1, 80)),
  startMs: between(0, 500),
  /** Interrupted from outside this long after it starts (never when absent). */
  interruptAfterMs: Schema.optionalKey(between(0, 600)),
  /** The consumer stops reading after this many parts (reads all when absent). */
  take: Schema.optionalKey(between(1, 20))
})

const Settings = Schema.Struct({
  totalTokens: between(300, 4_000),
  maxAttempts: between(1, 3),
  concurrency: between(1, 6),
  chargeAbandoned: Schema.Literals(["reserved", "input"])
})

interface Book {
  received: number
  /** Every token the provider billed: the input of each stream it began, and every delta it generated. */
  billed: number
  /**
   * Streams that generated a delta past the cap they were sent with: each may pass the budget by
   * that one delta (the output cap passes it on before it cuts the stream off), whether or not the
   * consumer was still reading to see the `BudgetExceeded`.
   */
  passedCap: number
}

const streamingProvider = (book: Book, behaviours: ReadonlyArray<Behaviour>): ProviderRegistry.Provider => {
  const stream = (request: LlmRequest) =>
    Stream.suspend(() => {
      const behaviour = behaviours[book.received % behaviours.length]!
      book.received += 1
      if (behaviour.outcome === "429") {
        return Stream.fail(LlmError.make("billing", new LlmError.RateLimited({ description: "scripted 429" }), { status: 429 }))
      }
      const input = Tokenizer.countRequest(request)
      const cap = request.maxTokens ?? behaviour.words
      const planned = behaviour.outcome === "ignoreCap" ? cap + 50 : Math.min(behaviour.words, cap)
      const sent = behaviour.outcome === "cut" || behaviour.outcome === "silent" ? Math.min(behaviour.after, planned) : planned
      let produced = 0
      book.billed += input
      const deltas = Stream.range(1, sent, 1).pipe(
        Stream.mapEffect(() =>
          Effect.as(
            Effect.andThen(Effect.sleep(behaviour.delayMs), Effect.sync(() => {
              produced += 1
              book.billed += 1
              if (produced === cap + 1) book.passedCap += 1
            })),
            StreamPart.textDelta(" w")
          )
        )
      )
      const end = behaviour.outcome === "cut"
        ? Stream.fail(LlmError.make("billing", new LlmError.Network({ description: "connection dropped mid-stream" })))
        : behaviour.outcome === "silent"
        ? Stream.never
        : Stream.suspend(() =>
          Stream.make(StreamPart.finish({
            content: " w".repeat(produced),
            model: request.model ?? "billing-1",
            provider: "billing",
            usage: Usage.make({ inputTokens: input, outputTokens: produced }),
            finishReason: "stop",
            latencyMs: 0
          }))
        )
      return Stream.concat(sent === 0 ? Stream.empty : deltas, end)
    })
  return {
    name: "billing",
    description: "streams, and bills every token it generated",
    defaultModel: "billing-1",
    keyEnv: [],
    requiresKey: false,
    make: () =>
      Effect.succeed(LanguageModel.make({ provider: "billing", defaultModel: "billing-1", generate: () => Effect.die("streams only"), stream }))
  }
}

describe("streams under a budget, with random cut-offs, faults and interruptions (property)", () => {
  it.effect.prop(
    "nothing stays reserved, every billed token is committed, the limit is passed by at most one delta per cut-off stream",
    [
      Settings,
      Schema.Array(Behaviour).check(Schema.isMinLength(1), Schema.isMaxLength(20)),
      Schema.Array(Call).check(Schema.isMinLength(15), Schema.isMaxLength(40))
    ],
    ([settings, behaviours, calls]) =>
      Effect.gen(function*() {
        const book: Book = { received: 0, billed: 0, passedCap: 0 }
        const layer = Stack.layerFactory({
          provider: { provider: "billing" },
          budget: { budget: { totalTokens: settings.totalTokens }, defaultMaxTokens: 60, chargeAbandoned: settings.chargeAbandoned },
          observability: { logCalls: false },
          resilience: {
            retry: { maxAttempts: settings.maxAttempts, baseDelay: "10ms", jitter: false },
            attemptTimeout: "200ms",
            streamIdleTimeout: "150ms",
            limits: { concurrency: settings.concurrency }
          }
        }).pipe(Layer.provide(ProviderRegistry.layer([streamingProvider(book, behaviours)])))
        yield* Effect.gen(function*() {
          const model = yield* LanguageModel.LanguageModel
          const fibers = yield* Effect.forEach(calls, (call) => {
            const parts = model.stream({
              messages: [{ role: "user", content: "word ".repeat(call.words) }],
              ...(call.maxTokens !== undefined ? { maxTokens: call.maxTokens } : {})
            })
            return Effect.forkChild(Effect.exit(
              Effect.andThen(Effect.sleep(call.startMs), Stream.runDrain(call.take === undefined ? parts : Stream.take(parts, call.take)))
            ))
          })
          const interrupters = yield* Effect.forEach(calls, (call, index) =>
            call.interruptAfterMs === undefined
              ? Effect.succeed(undefined)
              : Effect.forkChild(Effect.andThen(Effect.sleep(call.startMs + call.interruptAfterMs), Fiber.interrupt(fibers[index]!))))
          // Virtual time runs until every stream has ended (some seeds need more than 10 s: retries,
          // waits for permits, idle timeouts in turn), bounded so that a stream that never ends
          // fails the run below instead of hanging it.
          for (let step = 0; step < 2_400 && fibers.some((fiber) => fiber.pollUnsafe() === undefined); step++) {
            yield* TestClock.adjust("250 millis")
          }
          assert.isTrue(fibers.every((fiber) => fiber.pollUnsafe() !== undefined), "every stream ended within 10 minutes of virtual time")
          const exits = yield* Effect.forEach(fibers, Fiber.await)
          yield* Effect.forEach(interrupters, (fiber) => (fiber === undefined ? Effect.void : Fiber.interrupt(fiber)), { discard: true })

          let cutOff = 0
          for (const exit of exits) {
            if (exit._tag !== "Success" || exit.value._tag !== "Failure") continue
            const reason = exit.value.cause.reasons[0]
            if (reason?._tag === "Fail" && LlmError.isLlmError(reason.error) && reason.error.reason._tag === "BudgetExceeded") {
              if (reason.error.reason.overshoot !== undefined) {
                cutOff += 1
                assert.strictEqual(reason.error.reason.overshoot, 1)
              }
            }
          }
          const snapshot = yield* (yield* ModelFactory.ModelFactory).budget!.snapshot
          assert.deepStrictEqual([snapshot.reserved.totalTokens, snapshot.openReservations], [0, 0])
          assert.isAtLeast(snapshot.consumed.totalTokens, book.billed)
          assert.isAtMost(cutOff, book.passedCap)
          assert.isAtMost(snapshot.consumed.totalTokens, settings.totalTokens + book.passedCap)
          assert.isAtMost(book.billed, settings.totalTokens + book.passedCap)
        }).pipe(Effect.provide(layer))
      }),
    { timeout: 120_000, arbitrary: { runs: 30 } }
  )
})
