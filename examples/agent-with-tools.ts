// An agent with tools and a sub-agent, under one budget: the model calls a weather tool and a
// research tool; the research tool runs a child agent under a budget of its own, inside the
// parent's. The loop feeds the results back until the model answers, and checks the budget after
// every model response and every tool call.
// Runs offline: the mock makes the tool calls, then answers. npm run example examples/agent-with-tools.ts
// expect: answer: Paris is at 21°C; notes: Paris sits on the Seine.
// expect: stop: final-answer after 2 steps (tools: get_weather ok, research ok)
// expect: child: final-answer after 1 step
// expect: budget: committed = parent + child usage: true; reserved now: 0
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Layer, Schema } from "effect"
import { Agent, BudgetLanguageModel, BudgetTracker, Message, MockLanguageModel, Tool } from "llm-connect"
import type { LlmRequest } from "llm-connect/LlmRequest"

const weather = Tool.make("get_weather", {
  description: "The current temperature in a city, in °C",
  parameters: Schema.Struct({ city: Schema.String })
})
const research = Tool.make("research", {
  description: "Asks a research assistant for notes on a topic",
  parameters: Schema.Struct({ topic: Schema.String })
})

const children: Array<Agent.AgentResult> = []

const tools = [
  Agent.handle(weather, ({ city }) => Effect.succeed({ city, celsius: 21 })),
  // A sub-agent: its own 2,000-token budget, inside the parent's.
  Agent.handle(research, ({ topic }) =>
    Agent.delegate({ totalTokens: 2_000 }, "research", { system: "You research.", prompt: `Notes on ${topic}`, maxTokens: 200 }).pipe(
      Effect.tap((child) => Effect.sync(() => children.push(child))),
      Effect.map((child) => child.text)
    ))
]

// The mock plays both models (a real provider goes here instead).
const toolCalls = (request: LlmRequest) =>
  request.system === "You research." || request.messages.length > 1
    ? undefined
    : [{ name: "get_weather", arguments: { city: "Paris" } }, { name: "research", arguments: { topic: "Paris" } }]
const reply = (request: LlmRequest): string => {
  if (request.system === "You research.") return "Paris sits on the Seine."
  const results = request.messages.at(-1)!
  if (results.role !== "tool" || typeof results.content === "string") return "" // the turn that calls the tools
  const parts = results.content
  const [temperature, notes] = parts.map((part) => (part.type === "tool-result" ? part.result : undefined))
  return `Paris is at ${(temperature as { readonly celsius: number }).celsius}°C; notes: ${String(notes)}`
}

const Model = BudgetLanguageModel.layer.pipe(
  Layer.provide(MockLanguageModel.layer({ reply, toolCalls })),
  Layer.provideMerge(BudgetTracker.layer({ totalTokens: 10_000, deadline: "1m" }))
)

const program = Effect.gen(function*() {
  const result = yield* Agent.run({ tools, system: "You answer travel questions.", prompt: "Weather and notes for Paris?", toolConcurrency: 2, maxTokens: 200 })
  yield* Console.log(`answer: ${result.text}`)
  const used = result.steps[0]!.tools.map((tool) => `${tool.name} ${tool.isFailure ? "failed" : "ok"}`).join(", ")
  yield* Console.log(`stop: ${result.stopReason} after ${result.steps.length} steps (tools: ${used})`)
  for (const child of children) yield* Console.log(`child: ${child.stopReason} after ${child.steps.length} step`)
  yield* Console.log(`usage: ${result.totalUsage.totalTokens} tokens over the steps, ${result.lastStepUsage.totalTokens} in the last (conversation ${result.conversationId})`)
  const snapshot = yield* BudgetTracker.snapshot
  const all = result.totalUsage.totalTokens + children.reduce((sum, child) => sum + child.totalUsage.totalTokens, 0)
  yield* Console.log(`budget: committed = parent + child usage: ${snapshot.consumed.totalTokens === all}; reserved now: ${snapshot.reserved.totalTokens}`)
  yield* Console.log(`transcript: ${result.messages.map((message) => `${message.role}(${Message.text(message).length})`).join(" ")}`)
})

program.pipe(Effect.provide(Model), NodeRuntime.runMain)
