import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Result, Schema } from "effect"
import * as Agent from "../../src/agent/Agent.ts"
import * as AgentStep from "../../src/agent/AgentStep.ts"
import type { LlmRequest } from "../../src/LlmRequest.ts"
import * as ProviderRegistry from "../../src/ProviderRegistry.ts"
import * as MockLanguageModel from "../../src/providers/mock/MockLanguageModel.ts"
import * as Tool from "../../src/Tool.ts"
import * as StepType from "../../src/workflow/StepType.ts"
import * as Workflow from "../../src/workflow/Workflow.ts"
import * as WorkflowYaml from "../../src/workflow/WorkflowYaml.ts"

const lookup = Tool.make("lookup", { parameters: Schema.Struct({ key: Schema.String }) })
const clock = Tool.make("clock", {})
const researcher = AgentStep.make({
  name: "researcher",
  tools: [
    Agent.handle(lookup, ({ key }) => Effect.succeed(`${key} = 42`)),
    Agent.handle(clock, () => Effect.succeed("noon"))
  ],
  system: "You research."
})

// The model asks for one lookup, then answers with the result it read.
const toolCalls = (request: LlmRequest) =>
  request.messages.some((message) => message.role === "tool") ? undefined : [{ name: "lookup", arguments: { key: "tides" } }]
const reply = (request: LlmRequest) => {
  const last = request.messages.at(-1)!
  if (last.role !== "tool" || typeof last.content === "string") return ""
  const part = last.content[0]!
  return part.type === "tool-result" ? `found: ${String(part.result)}` : ""
}

const registry = ProviderRegistry.layer([MockLanguageModel.provider])

const runYaml = (source: string) =>
  Effect.gen(function*() {
    const parsed = WorkflowYaml.parse(source, yield* WorkflowYaml.environment, "t.yaml")
    if (Result.isFailure(parsed)) return yield* Effect.die(parsed.failure)
    const definition = yield* WorkflowYaml.compile(parsed.success)
    return yield* Workflow.runDefinition(definition, { runId: "r1", input: { topic: "tides" } })
  })

const layer = Layer.mergeAll(MockLanguageModel.layer({ reply, toolCalls }), registry, StepType.layer([researcher]))

describe("AgentStep", () => {
  it.effect("a YAML step of an agent type runs the loop with the tools registered in code", () =>
    Effect.gen(function*() {
      const result = yield* runYaml(`name: research
inputs: { topic: string }
steps:
  - { id: notes, type: researcher, with: { prompt: "Notes on {{input.topic}}", maxSteps: 3 } }
  - { id: summary, needs: [notes], prompt: "Summarise {{steps.notes.output}}" }
`)
      assert.strictEqual(result.state, "completed")
      assert.strictEqual(result.outputs.notes, "found: tides = 42")
      const step = result.steps.find((s) => s.id === "notes")!
      const calls = yield* MockLanguageModel.MockLanguageModel.use((control) => control.calls)
      // the summary step read the agent's answer
      assert.include(JSON.stringify(calls.at(-1)!.messages), "Summarise found: tides = 42")
      const agentCalls = calls.filter((call) => call.metadata?.conversationId === "r1/notes")
      assert.strictEqual(agentCalls.length, 2)
      for (const call of agentCalls) {
        assert.strictEqual(call.system, "You research.")
        assert.deepStrictEqual(call.tools?.map((tool) => tool.name), ["lookup", "clock"])
        assert.strictEqual(call.metadata?.workflow, "research")
        assert.strictEqual(call.metadata?.step, "notes")
      }
      // the step's usage counts the loop's calls
      assert.isAbove(step.usage!.totalTokens, 0)
    }).pipe(Effect.provide(layer)))

  it.effect("with.tools offers a subset; an unknown tool name is reported before the run, naming the registered ones", () =>
    Effect.gen(function*() {
      const result = yield* runYaml(`name: subset
steps:
  - { id: notes, type: researcher, with: { prompt: "go", tools: [lookup] } }
`)
      assert.strictEqual(result.outputs.notes, "found: tides = 42")
      const calls = yield* MockLanguageModel.MockLanguageModel.use((control) => control.calls)
      assert.deepStrictEqual(calls[0]!.tools?.map((tool) => tool.name), ["lookup"])

      const parsed = WorkflowYaml.parse(`name: bad
steps:
  - { id: notes, type: researcher, with: { prompt: "go", tools: [search], maxSteps: 0 } }
`, yield* WorkflowYaml.environment, "t.yaml")
      assert.isTrue(Result.isFailure(parsed))
      if (Result.isFailure(parsed)) {
        const text = parsed.failure.map((problem) => problem.message).join("\n")
        assert.match(text, /"lookup" \| "clock"/)
        assert.match(text, /maxSteps/)
      }
    }).pipe(Effect.provide(layer)))

  it.effect("the run's budget holds the agent step: a loop that cannot afford its next call fails the step with BudgetExceeded", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(runYaml(`name: tight
budget: { totalTokens: 120 }
defaults: { params: { maxTokens: 40 } }
steps:
  - { id: notes, type: researcher, with: { prompt: "Notes on tides" } }
`))
      if (error.reason._tag !== "StepFailed") return assert.fail(`expected StepFailed, got ${error.reason._tag}`)
      assert.strictEqual(error.reason.step, "notes")
      assert.strictEqual(error.reason.cause.reason._tag, "BudgetExceeded")
      const calls = yield* MockLanguageModel.MockLanguageModel.use((control) => control.calls)
      assert.strictEqual(calls.length, 1)
    }).pipe(Effect.provide(layer)))
})
