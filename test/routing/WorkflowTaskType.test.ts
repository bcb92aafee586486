/**
 * A workflow step's `taskType:` routes its calls through the Router of the configuration's stack.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Result } from "effect"
import * as Workflow from "../../src/workflow/Workflow.ts"
import * as WorkflowYaml from "../../src/workflow/WorkflowYaml.ts"
import { makeFakes, routedStack } from "./support.ts"

const config = [
  "provider: alpha",
  "retry: { maxRetries: 0 }",
  "routes:",
  "  - taskType: triage",
  "    priority: 1",
  "    prefer: [{ provider: flaky, model: flaky-1 }, { provider: beta, model: beta-x }]"
].join("\n")

const compileAndRun = (workflow: string) =>
  Effect.gen(function*() {
    const parsed = WorkflowYaml.parse(workflow, yield* WorkflowYaml.environment, "wf.yaml")
    if (Result.isFailure(parsed)) return yield* Effect.die(new Error(parsed.failure.map((issue) => issue.message).join("; ")))
    const definition = yield* WorkflowYaml.compile(parsed.success)
    return yield* Effect.exit(Workflow.runDefinition(definition, { runId: "r1", input: { x: "ticket 7" } }))
  })

describe("workflow step taskType", () => {
  it.effect("a routed step goes through the route (falling back past a failing candidate); other steps use the configured model", () => {
    const fakes = makeFakes()
    return Effect.gen(function*() {
      const exit = yield* compileAndRun([
        "name: routed",
        "inputs: { x: string }",
        "defaults: { provider: gamma }",
        "steps:",
        "  - { id: sort, prompt: \"sort {{input.x}}\", taskType: triage }",
        "  - { id: plain, prompt: \"after {{steps.sort.output}}\", needs: [sort] }"
      ].join("\n"))
      assert.isTrue(Exit.isSuccess(exit), String(exit))
      if (Exit.isSuccess(exit)) {
        assert.strictEqual(exit.value.outputs.sort, "beta says hi")
        assert.strictEqual(exit.value.outputs.plain, "gamma says hi")
      }
      assert.deepStrictEqual(fakes.received.map((entry) => [entry.provider, entry.model, entry.prompt]), [
        ["flaky", "flaky-1", "sort ticket 7"],
        ["beta", "beta-x", "sort ticket 7"],
        ["gamma", undefined, "after beta says hi"]
      ])
    }).pipe(Effect.provide(routedStack(fakes, config)))
  })

  it.effect("an unknown task type fails at compile time with a Configuration error, before any call", () => {
    const fakes = makeFakes()
    return Effect.gen(function*() {
      const parsed = WorkflowYaml.parse("name: w\nsteps:\n  - { id: a, prompt: hi, taskType: nope }\n", yield* WorkflowYaml.environment)
      assert.isTrue(Result.isSuccess(parsed))
      if (Result.isFailure(parsed)) return
      const error = yield* Effect.flip(WorkflowYaml.compile(parsed.success))
      assert.strictEqual(error.reason._tag, "Configuration")
      assert.include(error.message, "nope")
      assert.strictEqual(fakes.received.length, 0)
    }).pipe(Effect.provide(routedStack(fakes, config)))
  })

  it.effect("a routed step that also names provider, model or options is refused by validation", () =>
    Effect.gen(function*() {
      const parsed = WorkflowYaml.parse(
        "name: w\nsteps:\n  - { id: a, prompt: hi, taskType: triage, provider: mock, model: m }\n",
        yield* WorkflowYaml.environment
      )
      assert.isTrue(Result.isFailure(parsed))
      if (Result.isSuccess(parsed)) return
      const messages = parsed.failure.map((issue) => issue.message)
      assert.isTrue(messages.some((message) => message.includes("remove provider")), messages.join("; "))
      assert.isTrue(messages.some((message) => message.includes("remove model")), messages.join("; "))
    }))
})
