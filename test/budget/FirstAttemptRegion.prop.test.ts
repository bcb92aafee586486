/**
 * Property test of the call's region and its first attempt (ADR 0058): on a memory store the first
 * attempt runs on the call's reservation with no uninterruptible region of its own, settled by its
 * handlers, and by the call's handler when an interruption skips them. Each call here is
 * interrupted just before a chosen effect step of its fiber (counted by a tracer's per-step hook),
 * so the interruption lands at every point of the call in turn: before the reservation, before the
 * send, while waiting, as the answer or the error comes back, between an attempt's settlement and
 * the next. Whatever the step, what the provider billed never passes the limit, the budget
 * committed at least that, nothing stays reserved, and every charge is in the call's one ledger
 * row. The same programs run on a store the budget layer only reaches through effects (a wrapper
 * around a memory store: the uninterruptible region per attempt), which must hold the same rules.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Layer, References, Schema, Tracer } from "effect"
import { TestClock } from "effect/testing"
import * as BudgetStore from "../../src/budget/BudgetStore.ts"
import * as LanguageModel from "../../src/LanguageModel.ts"
import * as LlmError from "../../src/LlmError.ts"
import type { LlmRequest } from "../../src/LlmRequest.ts"
import * as ModelFactory from "../../src/ModelFactory.ts"
import * as UsageLedger from "../../src/observability/UsageLedger.ts"
import * as ProviderRegistry from "../../src/ProviderRegistry.ts"
import * as Stack from "../../src/Stack.ts"
import * as Tokenizer from "../../src/Tokenizer.ts"
import * as Usage from "../../src/Usage.ts"

const between = (minimum: number, maximum: number) => Schema.Int.check(Schema.isBetween({ minimum, maximum }))

/** What the provider does with one request it receives. */
const Behaviour = Schema.Struct({
  outcome: Schema.Literals(["answer", "answer", "answer", "500", "reset", "spent"]),
  delayMs: between(0, 120)
})
type Behaviour = typeof Behaviour.Type

const Call = Schema.Struct({
  words: between(1, 40),
  maxTokens: Schema.optionalKey(between(1, 200)),
  startMs: between(0, 300),
  /** Interrupted just before this effect step of the call's fiber (never when absent or past its end). */
  interruptAtStep: Schema.optionalKey(between(1, 140))
})

const Settings = Schema.Struct({
  totalTokens: between(300, 4_000),
  maxAttempts: between(1, 3),
  /** An attempt timeout (the attempt in a fiber of its own), or none (the attempt in the call's fiber). */
  attemptTimeoutMs: Schema.optionalKey(between(20, 200)),
  concurrency: between(1, 4),
  /** `wrapped`: the store reached only through its effects (the budget layer's region per attempt). */
  store: Schema.Literals(["memory", "wrapped"])
})

interface Book {
  received: number
  billed: number
}

/**
 * A provider that bills every request it received, scripted by `behaviours` in turn: an answer its
 * usage; a request it failed with a 500 nothing; one that failed after it had spent (`spent`), what
 * it reports; one abandoned or reset, its input and the output cap it was sent.
 */
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
            : behaviour.outcome === "spent"
            ? Effect.fail(LlmError.make("billing", new LlmError.ServerError({ description: "failed after spending", status: 500 }), {
              status: 500,
              spent: { usage: Usage.make({ inputTokens: input, outputTokens: output }), costUsd: 0 }
            }))
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
      return Effect.onExit(answer, (exit) =>
        Effect.sync(() => {
          book.billed += exit._tag === "Success" || behaviour.outcome === "spent" ? input + output : input + cap
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

/**
 * A tracer whose per-step hook interrupts one fiber just before its `step`-th effect step (the
 * fiber is set when the call starts), as an interruption that arrives while the step before runs
 * (or while the fiber waits) does: the step is handed back unevaluated, so an interruptible fiber
 * never runs it (the run loop replaces it by the interruption) and an uninterruptible one runs it
 * next, the interruption kept for when it is interruptible again. Its spans are the native tracer's.
 */
const interruptAt = (step: number) => {
  const target: { fiber: Fiber.Fiber<unknown, unknown> | undefined; steps: number } = { fiber: undefined, steps: 0 }
  const tracer: Tracer.Tracer = {
    span: (options) => Tracer.nativeTracer.span(options),
    context: (primitive, fiber) => {
      if (fiber === target.fiber && ++target.steps === step) {
        fiber.interruptUnsafe()
        return primitive as never
      }
      return primitive["~effect/Effect/evaluate"](fiber)
    }
  }
  return { target, tracer }
}

describe("the call's region and its first attempt, interrupted at every step (property)", () => {
  it.effect.prop(
    "what the provider billed never passes the limit, the budget committed at least that, nothing stays reserved, every charge in the call's row",
    [Settings, Schema.Array(Behaviour).check(Schema.isMinLength(1), Schema.isMaxLength(12)), Schema.Array(Call).check(Schema.isMinLength(5), Schema.isMaxLength(30))],
    ([settings, behaviours, calls]) =>
      Effect.gen(function*() {
        const book: Book = { received: 0, billed: 0 }
        const stack = Stack.layerFactory({
          provider: { provider: "billing" },
          budget: { budget: { totalTokens: settings.totalTokens }, defaultMaxTokens: 150 },
          observability: { logCalls: false, spans: false },
          resilience: {
            retry: { maxAttempts: settings.maxAttempts, baseDelay: "10ms", jitter: false },
            ...(settings.attemptTimeoutMs !== undefined ? { attemptTimeout: `${settings.attemptTimeoutMs}ms` } : {}),
            limits: { concurrency: settings.concurrency }
          }
        }).pipe(Layer.provide(ProviderRegistry.layer([billingProvider(book, behaviours)])), Layer.provideMerge(UsageLedger.layerMemory()))
        const store = settings.store === "memory"
          ? BudgetStore.layerMemory
          : Layer.effect(BudgetStore.BudgetStore, Effect.map(BudgetStore.makeMemory, (memory) => ({ ...memory })))
        yield* Effect.gen(function*() {
          const fibers = yield* Effect.forEach(calls, (call) => {
            const generate = LanguageModel.generate({
              prompt: "word ".repeat(call.words),
              ...(call.maxTokens !== undefined ? { maxTokens: call.maxTokens } : {})
            })
            if (call.interruptAtStep === undefined) return Effect.forkChild(Effect.exit(Effect.andThen(Effect.sleep(call.startMs), generate)))
            const { target, tracer } = interruptAt(call.interruptAtStep)
            const started = Effect.withFiber((fiber) => {
              target.fiber = fiber
              return generate
            })
            return Effect.forkChild(Effect.exit(Effect.andThen(Effect.sleep(call.startMs), Effect.provideService(started, Tracer.Tracer, tracer))))
          })
          for (let step = 0; step < 24; step++) yield* TestClock.adjust("100 millis")
          yield* Effect.forEach(fibers, Fiber.await, { discard: true })

          const snapshot = yield* (yield* ModelFactory.ModelFactory).budget!.snapshot
          assert.isAtMost(book.billed, settings.totalTokens)
          assert.isAtLeast(snapshot.consumed.totalTokens, book.billed)
          assert.isAtMost(snapshot.consumed.totalTokens, settings.totalTokens)
          assert.deepStrictEqual([snapshot.reserved.totalTokens, snapshot.reserved.costUsd, snapshot.openReservations], [0, 0, 0])
          const rows = yield* UsageLedger.UsageLedger.use((ledger) => ledger.entries())
          assert.isAtMost(rows.length, calls.length)
          assert.strictEqual(rows.reduce((sum, row) => sum + row.totalTokens, 0), snapshot.consumed.totalTokens)
        }).pipe(Effect.provide(stack), Effect.provide(store))
      }).pipe(Effect.provideService(References.MinimumLogLevel, "None")),
    { timeout: 120_000, arbitrary: { runs: 150 } }
  )
})
