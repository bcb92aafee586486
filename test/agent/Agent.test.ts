import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer, Ref, Schema, type Tracer } from "effect"
import { TestClock } from "effect/testing"
import * as Agent from "../../src/agent/Agent.ts"
import * as BudgetLanguageModel from "../../src/budget/BudgetLanguageModel.ts"
import * as BudgetTracker from "../../src/budget/BudgetTracker.ts"
import * as LanguageModel from "../../src/LanguageModel.ts"
import * as LlmError from "../../src/LlmError.ts"
import type { LlmRequest } from "../../src/LlmRequest.ts"
import * as Message from "../../src/Message.ts"
import * as Logging from "../../src/observability/Logging.ts"
import * as UsageLedger from "../../src/observability/UsageLedger.ts"
import { attributesOf, recordingTracer } from "../observability/helpers.ts"
import * as MockLanguageModel from "../../src/providers/mock/MockLanguageModel.ts"
import * as TestModel from "../../src/testing/TestModel.ts"
import * as Tool from "../../src/Tool.ts"
import * as Usage from "../../src/Usage.ts"

const weather = Tool.make("get_weather", {
  description: "The temperature in a city",
  parameters: Schema.Struct({ city: Schema.String })
})
const weatherHandler = Agent.handle(weather, ({ city }) => Effect.succeed({ city, celsius: 21 }))

const slow = Tool.make("slow", { parameters: Schema.Struct({ ms: Schema.Int }) })

/** The tool results of the last message of a request. */
const lastResults = (request: LlmRequest): ReadonlyArray<Message.ToolResultPart> => {
  const last = request.messages.at(-1)!
  return typeof last.content === "string" ? [] : last.content.filter((part) => part.type === "tool-result")
}

const budgeted = (script: ReadonlyArray<TestModel.Step>, limits: Parameters<typeof BudgetTracker.layer>[0], options?: BudgetTracker.Options) =>
  BudgetLanguageModel.layer.pipe(
    Layer.provideMerge(TestModel.layer(script)),
    Layer.provideMerge(BudgetTracker.layer(limits, options))
  )

const agentError = <A>(exit: Exit.Exit<A, Agent.AgentError>): Agent.AgentError => {
  assert.isTrue(Exit.isFailure(exit), "the run should have failed")
  if (Exit.isSuccess(exit)) throw new Error("unreachable")
  const failure = exit.cause.reasons.find((reason) => reason._tag === "Fail")
  assert.isDefined(failure)
  return (failure as { readonly error: Agent.AgentError }).error
}

describe("Agent.run", () => {
  it.effect("runs the tools the model asks for and feeds their results back by call id until a final answer", () =>
    Effect.gen(function*() {
      const seen: Array<ReadonlyArray<Message.ToolResultPart>> = []
      const result = yield* Agent.run({
        tools: [weatherHandler],
        system: "Be brief.",
        prompt: "Weather in Paris and Rome?"
      }).pipe(Effect.provide(TestModel.layer([
        { toolCalls: [{ name: "get_weather", arguments: { city: "Paris" }, id: "c1" }, { name: "get_weather", arguments: { city: "Rome" }, id: "c2" }] },
        (request) => {
          seen.push(lastResults(request))
          return "21°C in both."
        }
      ])))
      assert.strictEqual(result.text, "21°C in both.")
      assert.strictEqual(result.stopReason, "final-answer")
      assert.deepStrictEqual(seen, [[
        { type: "tool-result", id: "c1", name: "get_weather", result: { city: "Paris", celsius: 21 } },
        { type: "tool-result", id: "c2", name: "get_weather", result: { city: "Rome", celsius: 21 } }
      ]])
      assert.deepStrictEqual(result.messages.map((message) => message.role), ["user", "assistant", "tool", "assistant"])
      const toolCallParts = result.messages[1]!.content
      assert.isTrue(Array.isArray(toolCallParts) && toolCallParts.filter((part) => part.type === "tool-call").length === 2)
      assert.strictEqual(result.steps.length, 2)
      assert.deepStrictEqual(result.steps[0]!.tools.map((tool) => [tool.id, tool.isFailure]), [["c1", false], ["c2", false]])
      assert.deepStrictEqual(result.totalUsage, Usage.add(result.steps[0]!.usage, result.steps[1]!.usage))
      assert.deepStrictEqual(result.lastStepUsage, result.steps[1]!.usage)
      assert.isAbove(result.totalUsage.inputTokens, result.lastStepUsage.inputTokens)
      assert.match(result.conversationId, /^conv-[0-9a-f]{16}$/)
    }))

  it.effect("sends the conversation id, the system prompt and the tool declarations with every call", () =>
    Effect.gen(function*() {
      yield* Agent.run({ tools: [weatherHandler], system: "S", prompt: "hi", conversationId: "conv-test" })
      const calls = yield* (yield* MockLanguageModel.MockLanguageModel).calls
      assert.strictEqual(calls.length, 2)
      for (const call of calls) {
        assert.strictEqual(call.metadata?.conversationId, "conv-test")
        assert.strictEqual(call.system, "S")
        assert.deepStrictEqual(call.tools, [weather.definition])
      }
    }).pipe(Effect.provide(TestModel.layer([{ toolCalls: [{ name: "get_weather", arguments: { city: "Oslo" } }] }, "done"]))))

  it.effect("sends arguments that do not decode, unparseable arguments and unknown tools back as error results", () =>
    Effect.gen(function*() {
      let results: ReadonlyArray<Message.ToolResultPart> = []
      const result = yield* Agent.run({ tools: [weatherHandler], prompt: "go" }).pipe(Effect.provide(TestModel.layer([
        {
          toolCalls: [
            { name: "get_weather", arguments: { city: 3 }, id: "bad" },
            { name: "get_weather", rawArguments: "{\"city\":", id: "cut" },
            { name: "get_time", arguments: {}, id: "unknown" }
          ]
        },
        (request) => {
          results = lastResults(request)
          return "sorry"
        }
      ])))
      assert.strictEqual(result.stopReason, "final-answer")
      assert.deepStrictEqual(results.map((part) => [part.id, part.isFailure]), [["bad", true], ["cut", true], ["unknown", true]])
      const texts = results.map((part) => (part.result as { readonly error: string }).error)
      assert.match(texts[0]!, /do not match its parameters: Expected string\s+at \["city"\]/)
      assert.match(texts[1]!, /are not JSON/)
      assert.match(texts[2]!, /no tool named get_time; the tools are: get_weather/)
    }))

  it.effect("a failing tool goes back to the model by default, and fails the run with onToolError: fail", () =>
    Effect.gen(function*() {
      const failing = Agent.handle(weather, ({ city }) => Effect.fail(new Error(`no station in ${city}`)))
      let sent: ReadonlyArray<Message.ToolResultPart> = []
      const kept = yield* Agent.run({ tools: [failing], prompt: "go" }).pipe(Effect.provide(TestModel.layer([
        { toolCalls: [{ name: "get_weather", arguments: { city: "Nowhere" }, id: "c1" }] },
        (request) => {
          sent = lastResults(request)
          return "I could not find it."
        }
      ])))
      assert.strictEqual(kept.text, "I could not find it.")
      assert.deepStrictEqual(sent, [{ type: "tool-result", id: "c1", name: "get_weather", result: { error: "no station in Nowhere" }, isFailure: true }])

      const exit = yield* Effect.exit(Agent.run({ tools: [failing], prompt: "go", onToolError: "fail" }).pipe(
        Effect.provide(TestModel.layer([{ toolCalls: [{ name: "get_weather", arguments: { city: "Nowhere" }, id: "c1" }] }]))
      ))
      const error = agentError(exit)
      assert.strictEqual(error.stopReason, "tool-error")
      assert.strictEqual(error.error._tag, "ToolError")
      assert.match(error.message, /tool get_weather failed: no station in Nowhere/)
      assert.deepStrictEqual(error.result.messages.map((message) => message.role), ["user", "assistant"])
      assert.strictEqual(error.result.steps.length, 1)
    }))

  it.effect("runs at most toolConcurrency tools at once", () =>
    Effect.gen(function*() {
      const running = yield* Ref.make(0)
      const peak = yield* Ref.make(0)
      const handler = Agent.handle(slow, ({ ms }) =>
        Effect.gen(function*() {
          const now = yield* Ref.updateAndGet(running, (n) => n + 1)
          yield* Ref.update(peak, (p) => Math.max(p, now))
          yield* Effect.sleep(ms)
          yield* Ref.update(running, (n) => n - 1)
          return "ok"
        }))
      const calls = [1, 2, 3, 4, 5].map((i) => ({ name: "slow", arguments: { ms: 100 }, id: `c${i}` }))
      const fiber = yield* Effect.forkChild(
        Agent.run({ tools: [handler], prompt: "go", toolConcurrency: 2 }).pipe(Effect.provide(TestModel.layer([{ toolCalls: calls }, "done"])))
      )
      yield* TestClock.adjust("1 second")
      const result = yield* Fiber.join(fiber)
      assert.strictEqual(yield* Ref.get(peak), 2)
      assert.strictEqual(result.steps[0]!.tools.length, 5)
      // three rounds of 100 ms (2 + 2 + 1), on the Clock
      assert.strictEqual(result.steps[0]!.toolMillis, 300)
      assert.deepStrictEqual(result.steps[0]!.tools.map((tool) => tool.millis), [100, 100, 100, 100, 100])
    }))

  it.effect("stops at maxSteps without running the last step's tools", () =>
    Effect.gen(function*() {
      const ran = yield* Ref.make(0)
      const counted = Agent.handle(weather, () => Effect.as(Ref.update(ran, (n) => n + 1), "ok"))
      const call = { toolCalls: [{ name: "get_weather", arguments: { city: "X" } }] }
      const result = yield* Agent.run({ tools: [counted], prompt: "go", maxSteps: 2 }).pipe(
        Effect.provide(TestModel.layer([call, call, call]))
      )
      assert.strictEqual(result.stopReason, "max-steps")
      assert.strictEqual(result.steps.length, 2)
      assert.strictEqual(yield* Ref.get(ran), 1)
      assert.deepStrictEqual(result.messages.map((message) => message.role), ["user", "assistant", "tool", "assistant"])
    }))

  it.effect("refuses bad options with a typed error naming the option", () =>
    Effect.gen(function*() {
      const steps = agentError(yield* Effect.exit(Agent.run({ prompt: "x", maxSteps: 0 })))
      assert.strictEqual(steps.stopReason, "invalid-options")
      assert.match(steps.message, /maxSteps must be a whole number of model calls, at least 1, got 0/)
      const concurrency = agentError(yield* Effect.exit(Agent.run({ prompt: "x", toolConcurrency: 1.5 })))
      assert.match(concurrency.message, /toolConcurrency must be a whole number, at least 1, got 1.5/)
      const twice = agentError(yield* Effect.exit(Agent.run({ prompt: "x", tools: [weatherHandler, weatherHandler] })))
      assert.match(twice.message, /tool get_weather is given twice/)
      const empty = agentError(yield* Effect.exit(Agent.run({ messages: [] })))
      assert.match(empty.message, /the conversation is empty/)
      const mock = yield* MockLanguageModel.MockLanguageModel
      assert.strictEqual((yield* mock.calls).length, 0)
    }).pipe(Effect.provide(TestModel.layer([]))))
})

describe("Agent.run and the budget", () => {
  it.effect("a loop that cannot afford its next call stops with BudgetExceeded and keeps the transcript so far", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(Agent.run({ tools: [weatherHandler], prompt: "Weather in Paris?", maxTokens: 50 }))
      const error = agentError(exit)
      assert.strictEqual(error.stopReason, "budget-exceeded")
      assert.isTrue(LlmError.isLlmError(error.error) && error.error.reason._tag === "BudgetExceeded")
      // the first step and its tool results are kept
      assert.deepStrictEqual(error.result.messages.map((message) => message.role), ["user", "assistant", "tool"])
      assert.strictEqual(error.result.steps.length, 1)
      const snapshot = yield* BudgetTracker.snapshot
      assert.strictEqual(snapshot.consumed.totalTokens, error.result.totalUsage.totalTokens)
      assert.deepStrictEqual([snapshot.reserved.totalTokens, snapshot.openReservations], [0, 0])
      // the refused call never reached the model
      assert.strictEqual((yield* (yield* MockLanguageModel.MockLanguageModel).calls).length, 1)
    }).pipe(Effect.provide(budgeted([{ toolCalls: [{ name: "get_weather", arguments: { city: "Paris" } }] }, "never sent"], { totalTokens: 100 }))))

  it.effect("a deadline that passes during a slow tool interrupts it and stops the run", () =>
    Effect.gen(function*() {
      const interrupted = yield* Ref.make(false)
      const handler = Agent.handle(slow, ({ ms }) =>
        Effect.sleep(ms).pipe(Effect.as("done"), Effect.onInterrupt(() => Ref.set(interrupted, true))))
      const fiber = yield* Effect.forkChild(Effect.exit(Agent.run({ tools: [handler], prompt: "go" })))
      yield* TestClock.adjust("10 seconds")
      const error = agentError(yield* Fiber.join(fiber))
      assert.strictEqual(error.stopReason, "budget-exceeded")
      assert.isTrue(LlmError.isLlmError(error.error) && error.error.reason._tag === "BudgetExceeded" && error.error.reason.dimension === "deadline")
      assert.isTrue(yield* Ref.get(interrupted))
      assert.deepStrictEqual(error.result.messages.map((message) => message.role), ["user", "assistant"])
      const snapshot = yield* BudgetTracker.snapshot
      assert.strictEqual(snapshot.consumed.totalTokens, error.result.totalUsage.totalTokens)
    }).pipe(Effect.provide(budgeted([{ toolCalls: [{ name: "slow", arguments: { ms: 60_000 } }] }, "late"], { deadline: "5s" }))))

  it.effect("checks the budget after every tool call: a tool's sub-agent that spends the rest stops the parent", () =>
    Effect.gen(function*() {
      // The child's calls count in the parent budget; the parent's checkpoint after the tool refuses.
      const research = Tool.make("research", { parameters: Schema.Struct({ topic: Schema.String }) })
      const handler = Agent.handle(research, ({ topic }) => Effect.map(Agent.delegate({ totalTokens: 10_000 }, "research", { prompt: topic }), (r) => r.text))
      const exit = yield* Effect.exit(Agent.run({ tools: [handler], prompt: "go" }))
      const error = agentError(exit)
      assert.strictEqual(error.stopReason, "budget-exceeded")
      assert.deepStrictEqual(error.result.messages.map((message) => message.role), ["user", "assistant", "tool"])
    }).pipe(Effect.provide(budgeted([
      { toolCalls: [{ name: "research", arguments: { topic: "a long answer" } }] },
      "word ".repeat(200),
      "never"
    ], { totalTokens: 260 }))))

  it.effect("sub-agents run under their own limits and their usage rolls up into the parent's tracker", () =>
    Effect.gen(function*() {
      const children: Array<Agent.AgentResult> = []
      const research = Tool.make("research", { parameters: Schema.Struct({ topic: Schema.String }) })
      const handler = Agent.handle(research, ({ topic }) =>
        Agent.delegate({ totalTokens: 5_000 }, `research ${topic}`, { prompt: topic, tools: [weatherHandler] }).pipe(
          Effect.tap((child) => Effect.sync(() => children.push(child))),
          Effect.map((child) => child.text)
        ))
      const result = yield* Agent.run({ tools: [handler], prompt: "go", toolConcurrency: 2 })
      assert.strictEqual(result.stopReason, "final-answer")
      assert.strictEqual(children.length, 2)
      const snapshot = yield* BudgetTracker.snapshot
      const all = [result, ...children].reduce((sum, r) => sum + r.totalUsage.totalTokens, 0)
      assert.strictEqual(snapshot.consumed.totalTokens, all)
      assert.isAbove(all, result.totalUsage.totalTokens)
      // each conversation is counted on its own
      assert.strictEqual(snapshot.conversations[result.conversationId]!.totalTokens, result.totalUsage.totalTokens)
    }).pipe(Effect.provide(budgeted([
      { toolCalls: [{ name: "research", arguments: { topic: "a" } }, { name: "research", arguments: { topic: "b" } }] },
      // the two children (concurrently): each calls the weather tool, then answers
      { toolCalls: [{ name: "get_weather", arguments: { city: "A" } }] },
      { toolCalls: [{ name: "get_weather", arguments: { city: "B" } }] },
      "child answer",
      "child answer",
      "parent answer"
    ], { totalTokens: 100_000 }))))

  it.effect("a child whose own limit is too small stops with BudgetExceeded; the parent gets the error as a tool result", () =>
    Effect.gen(function*() {
      const research = Tool.make("research", { parameters: Schema.Struct({ topic: Schema.String }) })
      const handler = Agent.handle(research, ({ topic }) => Agent.delegate({ totalTokens: 5 }, "tiny", { prompt: topic }))
      let sent: ReadonlyArray<Message.ToolResultPart> = []
      const result = yield* Agent.run({ tools: [handler], prompt: "go" }).pipe(Effect.provide(budgeted([
        { toolCalls: [{ name: "research", arguments: { topic: "too much" } }] },
        (request) => {
          sent = lastResults(request)
          return "the research failed"
        }
      ], { totalTokens: 100_000 })))
      assert.strictEqual(result.text, "the research failed")
      assert.isTrue(sent[0]!.isFailure)
      assert.match((sent[0]!.result as { readonly error: string }).error, /budget|BudgetExceeded/i)
    }))

  it.effect("commits cache writes with the step's usage", () =>
    Effect.gen(function*() {
      const model = LanguageModel.make({
        provider: "cache",
        defaultModel: "m",
        generate: (request) =>
          Effect.succeed({
            content: request.messages.length === 1 ? "" : "done",
            ...(request.messages.length === 1
              ? { toolCalls: [{ id: "c1", name: "get_weather", arguments: { city: "P" } }], parts: [{ type: "tool-call" as const, id: "c1", name: "get_weather", params: { city: "P" } }] }
              : {}),
            model: "m",
            provider: "cache",
            usage: Usage.make({ inputTokens: 100, outputTokens: 10, cacheWriteInputTokens: 80 }),
            finishReason: request.messages.length === 1 ? "tool-calls" as const : "stop" as const,
            latencyMs: 1
          })
      })
      const layer = BudgetLanguageModel.layer.pipe(
        Layer.provideMerge(Layer.succeed(LanguageModel.LanguageModel, model)),
        Layer.provideMerge(BudgetTracker.layer({ totalTokens: 1000 }))
      )
      const { result, snapshot } = yield* Effect.gen(function*() {
        const result = yield* Agent.run({ tools: [weatherHandler], prompt: "go" })
        return { result, snapshot: yield* BudgetTracker.snapshot }
      }).pipe(Effect.provide(layer))
      assert.strictEqual(result.totalUsage.cacheWriteInputTokens, 160)
      assert.strictEqual(snapshot.consumed.inputTokens, 200)
      assert.strictEqual(snapshot.consumed.totalTokens, result.totalUsage.totalTokens)
    }))
})

describe("Agent.run interrupted", () => {
  it.effect("interrupting during a tool stops it and keeps the usage of the finished step", () =>
    Effect.gen(function*() {
      const finished: Array<Agent.Step> = []
      const interrupted = yield* Ref.make(false)
      const handler = Agent.handle(slow, ({ ms }) => Effect.sleep(ms).pipe(Effect.onInterrupt(() => Ref.set(interrupted, true))))
      const fiber = yield* Effect.forkChild(Agent.run({
        tools: [handler],
        prompt: "go",
        onStep: (step) => Effect.sync(() => finished.push(step))
      }))
      yield* TestClock.adjust("1 second")
      yield* Fiber.interrupt(fiber)
      assert.isTrue(yield* Ref.get(interrupted))
      const snapshot = yield* BudgetTracker.snapshot
      const mock = yield* MockLanguageModel.MockLanguageModel
      assert.strictEqual((yield* mock.calls).length, 1)
      assert.isAbove(snapshot.consumed.totalTokens, 0)
      assert.deepStrictEqual([snapshot.reserved.totalTokens, snapshot.openReservations], [0, 0])
      assert.strictEqual(finished.length, 0)
    }).pipe(Effect.provide(budgeted([{ toolCalls: [{ name: "slow", arguments: { ms: 60_000 } }] }], { totalTokens: 10_000 }))))

  it.effect("interrupting during a model call charges that call by the abandon policy and keeps the finished steps'", () =>
    Effect.gen(function*() {
      const finished: Array<Agent.Step> = []
      const fiber = yield* Effect.forkChild(Agent.run({
        tools: [weatherHandler],
        prompt: "go",
        onStep: (step) => Effect.sync(() => finished.push(step))
      }))
      yield* TestClock.adjust("1 second")
      yield* Fiber.interrupt(fiber)
      const snapshot = yield* BudgetTracker.snapshot
      assert.strictEqual(finished.length, 1)
      // the finished step, plus the abandoned call charged (chargeAbandoned: input)
      assert.isAbove(snapshot.consumed.totalTokens, finished[0]!.usage.totalTokens)
      assert.deepStrictEqual([snapshot.reserved.totalTokens, snapshot.openReservations], [0, 0])
    }).pipe(Effect.provide(budgeted([
      { toolCalls: [{ name: "get_weather", arguments: { city: "P" } }] },
      { reply: "slow answer", delay: "1 minute" }
    ], { totalTokens: 10_000 }, { chargeAbandoned: "input" }))))
})

describe("Agent.run in logs and spans", () => {
  it.effect("annotates every log line of the run (tools' too) with the conversation id; the run's span and each call's carry it", () =>
    Effect.gen(function*() {
      const lines: Array<string> = []
      const spans: Array<Tracer.Span> = []
      const logging = Agent.handle(weather, ({ city }) => Effect.as(Effect.logInfo(`looking up ${city}`), "sunny"))
      yield* Agent.run({ tools: [logging], prompt: "go", conversationId: "conv-logs" }).pipe(
        Effect.provide(TestModel.layerObserved([{ toolCalls: [{ name: "get_weather", arguments: { city: "Oslo" } }] }, "done"])),
        Effect.withTracer(recordingTracer(spans)),
        Effect.provide(Logging.layerCollect(lines, { level: "Debug" }))
      )
      const parsed = lines.map((line) => JSON.parse(line) as { readonly message: unknown; readonly annotations: Record<string, unknown> })
      const toolLine = parsed.find((line) => JSON.stringify(line.message).includes("looking up Oslo"))
      assert.strictEqual(toolLine?.annotations.conversationId, "conv-logs")
      assert.isAtLeast(parsed.length, 3)
      for (const line of parsed) assert.strictEqual(line.annotations.conversationId, "conv-logs")
      const run = spans.find((span) => span.name === "Agent.run")!
      assert.strictEqual(attributesOf(run)["gen_ai.conversation.id"], "conv-logs")
      const calls = spans.filter((span) => span.name === "chat mock-1")
      assert.strictEqual(calls.length, 2)
      for (const call of calls) assert.strictEqual(attributesOf(call)["gen_ai.conversation.id"], "conv-logs")
    }))
})

describe("Agent.run and the ledger", () => {
  it.effect("every call of a run is written to the ledger with the conversation id", () =>
    Effect.gen(function*() {
      const result = yield* Agent.run({ tools: [weatherHandler], prompt: "go" })
      const entries = yield* (yield* UsageLedger.UsageLedger).entries()
      assert.strictEqual(entries.length, 2)
      for (const entry of entries) assert.strictEqual(entry.conversationId, result.conversationId)
      const [summary] = UsageLedger.summarize(entries, "conversation")
      assert.strictEqual(summary!.key, result.conversationId)
      assert.strictEqual(summary!.totalTokens, result.totalUsage.totalTokens)
    }).pipe(Effect.provide(TestModel.layerObserved([{ toolCalls: [{ name: "get_weather", arguments: { city: "P" } }] }, "done"]))))
})
