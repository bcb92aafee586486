import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer, Result, Schema } from "effect"
import { TestClock } from "effect/testing"
import * as Agent from "../../src/agent/Agent.ts"
import * as BudgetLanguageModel from "../../src/budget/BudgetLanguageModel.ts"
import * as BudgetTracker from "../../src/budget/BudgetTracker.ts"
import * as LanguageModel from "../../src/LanguageModel.ts"
import type { LlmRequest } from "../../src/LlmRequest.ts"
import * as MockFault from "../../src/providers/mock/MockFault.ts"
import * as MockLanguageModel from "../../src/providers/mock/MockLanguageModel.ts"
import * as Tool from "../../src/Tool.ts"
import * as Usage from "../../src/Usage.ts"

const between = (minimum: number, maximum: number) => Schema.Int.check(Schema.isBetween({ minimum, maximum }))

const Call = Schema.Struct({
  kind: Schema.Literals(["work", "work", "child"]),
  fail: Schema.Boolean,
  ms: between(0, 50),
  childLimit: between(20, 3_000)
})

const Scenario = Schema.Struct({
  rounds: Schema.Array(Schema.Array(Call).check(Schema.isMinLength(1), Schema.isMaxLength(4))).check(
    Schema.isMinLength(1),
    Schema.isMaxLength(3)
  ),
  faults: Schema.Array(Schema.Literals(["ok", "ok", "ok", "500", "network"])).check(Schema.isMaxLength(30)),
  totalTokens: between(100, 6_000),
  toolConcurrency: between(1, 4),
  chargeAbandoned: Schema.Literals(["reserved", "input", "none"])
})

const work = Tool.make("work", { parameters: Schema.Struct({ fail: Schema.Boolean, ms: Schema.Int }) })
const child = Tool.make("child", { parameters: Schema.Struct({ limit: Schema.Int }) })

// The mock counts a tool call's arguments as output but does not cut them at `maxTokens`, as a
// provider does (finish reason `length`): this layer does, so that the budget's output cap holds.
const capToolCallOutput = LanguageModel.layerWrap((inner) =>
  Effect.succeed(LanguageModel.wrap(inner, {
    generate: (request, next) =>
      Effect.map(next(request), (response) =>
        request.maxTokens === undefined || response.toolCalls === undefined || response.usage.outputTokens <= request.maxTokens
          ? response
          : {
            content: "",
            model: response.model,
            provider: response.provider,
            usage: Usage.make({ inputTokens: response.usage.inputTokens, outputTokens: request.maxTokens }),
            finishReason: "length" as const,
            latencyMs: response.latencyMs
          }),
    stream: "unchanged"
  }))
)

const assistantTurns = (request: LlmRequest) => request.messages.filter((message) => message.role === "assistant").length

describe("Agent.run under random faults (property)", () => {
  it.effect.prop(
    "the steps' usage (parent and sub-agents) equals what the tracker committed, with no overshoot and nothing left reserved",
    [Scenario],
    ([scenario]) =>
      Effect.gen(function*() {
        const faults = Result.getOrThrow(MockFault.parseScript(scenario.faults))
        // The parent follows the scenario's rounds; a child calls one tool, then answers.
        const toolCalls = (request: LlmRequest) => {
          const turn = assistantTurns(request)
          if (request.system === "child") return turn === 0 ? [{ name: "work", arguments: { fail: false, ms: 5 } }] : undefined
          const round = scenario.rounds[turn]
          return round?.map((call) =>
            call.kind === "work"
              ? { name: "work", arguments: { fail: call.fail, ms: call.ms } }
              : { name: "child", arguments: { limit: call.childLimit } }
          )
        }
        const layer = BudgetLanguageModel.layer.pipe(
          Layer.provideMerge(capToolCallOutput),
          Layer.provideMerge(MockLanguageModel.layer({ latency: "10 millis", faults, reply: "an answer of a few words", toolCalls })),
          Layer.provideMerge(BudgetTracker.layer({ totalTokens: scenario.totalTokens }, { chargeAbandoned: scenario.chargeAbandoned }))
        )
        yield* Effect.gen(function*() {
          const results: Array<Agent.AgentResult> = []
          const keep = <A, R>(effect: Effect.Effect<Agent.AgentResult, A, R>) =>
            effect.pipe(
              Effect.tap((result) => Effect.sync(() => results.push(result))),
              Effect.tapError((error) =>
                Effect.sync(() => {
                  if (error instanceof Agent.AgentError) results.push(error.result)
                })
              )
            )
          const workHandler = Agent.handle(work, ({ fail, ms }) =>
            Effect.sleep(ms).pipe(Effect.andThen(fail ? Effect.fail("tool fault") : Effect.succeed("done"))))
          const childHandler = Agent.handle(child, ({ limit }) =>
            keep(Agent.delegate({ totalTokens: limit }, "child", { system: "child", prompt: "sub task", tools: [workHandler] })).pipe(
              Effect.map((result) => result.text)
            ))
          const fiber = yield* Effect.forkChild(Effect.exit(keep(Agent.run({
            system: "parent",
            prompt: "main task",
            tools: [workHandler, childHandler],
            toolConcurrency: scenario.toolConcurrency,
            maxSteps: 4
          }))))
          yield* TestClock.adjust("10 seconds")
          const exit = yield* Fiber.join(fiber)
          // the run ends: with an answer, max-steps, or a typed AgentError (never a defect)
          if (Exit.isFailure(exit)) assert.isTrue(exit.cause.reasons.every((reason) => reason._tag === "Fail" && reason.error instanceof Agent.AgentError))
          const snapshot = yield* BudgetTracker.snapshot
          const stepped = results.reduce((sum, result) => sum + result.totalUsage.totalTokens, 0)
          assert.strictEqual(snapshot.consumed.totalTokens, stepped)
          assert.isAtMost(snapshot.consumed.totalTokens, scenario.totalTokens)
          assert.deepStrictEqual([snapshot.reserved.totalTokens, snapshot.openReservations, snapshot.overshoots.length], [0, 0, 0])
          for (const result of results) {
            for (const step of result.steps) assert.isAtLeast(step.usage.totalTokens, 0)
          }
        }).pipe(Effect.provide(layer))
      }),
    { timeout: 120_000, arbitrary: { runs: 100 } }
  )
})
