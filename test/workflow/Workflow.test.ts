import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Fiber, Ref, Schema } from "effect"
import { TestClock } from "effect/testing"
import * as LlmError from "../../src/LlmError.ts"
import * as MockLanguageModel from "../../src/providers/mock/MockLanguageModel.ts"
import * as StepType from "../../src/workflow/StepType.ts"
import * as Workflow from "../../src/workflow/Workflow.ts"
import * as WorkflowHooks from "../../src/workflow/WorkflowHooks.ts"

const echo = MockLanguageModel.layer({ reply: "echo" })
const slow = (latency: Duration.Input) => MockLanguageModel.layer({ reply: "echo", latency })

describe("Workflow builder", () => {
  it.effect("passes each step's output to the steps that need it, typed", () =>
    Effect.gen(function*() {
      const wf = Workflow.make("chain", { topic: Schema.String })
        .prompt("a", ({ input }) => `A(${input.topic})`)
        .prompt("b", ({ steps }) => `B(${steps.a})`, { needs: ["a"] })
        .step("length", ({ steps }) => Effect.succeed(steps.b.length), { needs: ["b"] })
      const result = yield* Workflow.run(wf, { topic: "tides" })
      assert.strictEqual(result.outputs.a, "A(tides)")
      assert.strictEqual(result.outputs.b, "B(A(tides))")
      const length: number = result.outputs.length
      assert.strictEqual(length, "B(A(tides))".length)
      assert.strictEqual(result.state, "completed")
      assert.deepStrictEqual(result.steps.map((step) => step.state), ["completed", "completed", "completed"])
      assert.isTrue(result.usage.totalTokens > 0)
      assert.strictEqual(result.usage.totalTokens, (result.steps[0]!.usage!.totalTokens) + (result.steps[1]!.usage!.totalTokens))
    }).pipe(Effect.provide(echo)))

  it.effect("passes the correlation id, workflow and step in every request's metadata", () =>
    Effect.gen(function*() {
      const wf = Workflow.make("meta").prompt("one", () => "x").prompt("two", () => "y")
      const result = yield* Workflow.run(wf, {}, { runId: "run-1" })
      const calls = yield* MockLanguageModel.MockLanguageModel.use((control) => control.calls)
      assert.deepStrictEqual(
        calls.map((call) => call.metadata).sort((a, b) => (a!.step! < b!.step! ? -1 : 1)),
        [{ correlationId: "run-1", workflow: "meta", step: "one" }, { correlationId: "run-1", workflow: "meta", step: "two" }]
      )
      assert.strictEqual(result.runId, "run-1")
    }).pipe(Effect.provide(echo)))

  it.effect("runs independent steps in parallel: two 50 ms steps finish at t=50, the join at t=100", () =>
    Effect.gen(function*() {
      const wf = Workflow.make("parallel")
        .prompt("left", () => "l")
        .prompt("right", () => "r")
        .prompt("join", ({ steps }) => `${steps.left}${steps.right}`, { needs: ["left", "right"] })
      const fiber = yield* Effect.forkChild(Workflow.run(wf, {}))
      yield* TestClock.adjust("50 millis")
      yield* TestClock.adjust("50 millis")
      const result = yield* Fiber.join(fiber)
      const at = (id: string) => result.steps.find((step) => step.id === id)!
      assert.strictEqual(at("left").finishedAt, 50)
      assert.strictEqual(at("right").finishedAt, 50)
      assert.strictEqual(at("join").startedAt, 50)
      assert.strictEqual(at("join").finishedAt, 100)
      assert.strictEqual(result.outputs.join, "lr")
    }).pipe(Effect.provide(slow("50 millis"))))

  it.effect("respects the concurrency limit: with 1, two 50 ms steps finish at 50 and 100", () =>
    Effect.gen(function*() {
      const wf = Workflow.make("serial").prompt("a", () => "a").prompt("b", () => "b").concurrency(1)
      const fiber = yield* Effect.forkChild(Workflow.run(wf, {}))
      yield* TestClock.adjust("100 millis")
      const result = yield* Fiber.join(fiber)
      assert.deepStrictEqual(result.steps.map((step) => step.finishedAt).sort(), [100, 50])
    }).pipe(Effect.provide(slow("50 millis"))))

  it.effect("a client timeout fails with the state: finished steps with outputs, running steps", () =>
    Effect.gen(function*() {
      const wf = Workflow.make("slow")
        .step("quick", () => Effect.succeed("done").pipe(Effect.delay("10 millis")))
        .step("long", () => Effect.sleep("1 hour").pipe(Effect.as("never")))
      const fiber = yield* Effect.forkChild(Effect.flip(Workflow.run(wf, {}, { timeout: "1s" })))
      yield* TestClock.adjust("1 second")
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(error.reason._tag, "Timeout")
      if (error.reason._tag !== "Timeout") return
      const snapshot = error.reason.snapshot
      assert.strictEqual(snapshot.state, "timeout")
      assert.deepStrictEqual(snapshot.steps.map((step) => [step.id, step.state, step.output]), [
        ["quick", "completed", "done"],
        ["long", "running", undefined]
      ])
      assert.match(error.message, /finished: \[quick\], running: \[long\]/)
    }).pipe(Effect.provide(echo)))

  it.effect("names the failing step, the attempt and the cause; retries only retryable failures", () =>
    Effect.gen(function*() {
      yield* MockLanguageModel.MockLanguageModel.use((control) => control.pushFaults([{ _tag: "ServerError", status: 500 }, { _tag: "ServerError", status: 502 }, { _tag: "Authentication" }]))
      const wf = Workflow.make("flaky").prompt("call", () => "x", { retry: 5 })
      const error = yield* Effect.flip(Workflow.run(wf, {}))
      assert.strictEqual(error.reason._tag, "StepFailed")
      if (error.reason._tag !== "StepFailed") return
      assert.strictEqual(error.reason.step, "call")
      assert.strictEqual(error.reason.attempt, 3)
      assert.strictEqual(error.reason.cause.reason._tag, "Authentication")
      assert.match(error.message, /step "call" failed on attempt 3: Authentication/)
      assert.strictEqual(error.reason.snapshot?.steps[0]?.state, "failed")
    }).pipe(Effect.provide(echo)))

  it.effect("waits delayMs before the first retry and doubles it each time: attempts at 0, 100, 300, 700 ms", () =>
    Effect.gen(function*() {
      yield* MockLanguageModel.MockLanguageModel.use((control) =>
        control.pushFaults([{ _tag: "ServerError", status: 500 }, { _tag: "ServerError", status: 502 }, { _tag: "ServerError", status: 503 }])
      )
      const starts: Array<number> = []
      const hooks = WorkflowHooks.layer({ beforeStep: (event) => Effect.sync(() => void starts.push(event.startedAt)) })
      const wf = Workflow.make("backoff").prompt("call", () => "x", { retry: { times: 3, delayMs: 100 } })
      const fiber = yield* Effect.forkChild(Workflow.run(wf, {}).pipe(Effect.provide(hooks)))
      yield* TestClock.adjust("1 second")
      const result = yield* Fiber.join(fiber)
      assert.deepStrictEqual(starts, [0, 100, 300, 700])
      assert.strictEqual(result.steps[0]!.attempts, 4)
      assert.deepStrictEqual([result.steps[0]!.startedAt, result.steps[0]!.finishedAt], [0, 700])
    }).pipe(Effect.provide(echo)))

  it.effect("a failed step cancels the steps that need it; independent steps carry on", () =>
    Effect.gen(function*() {
      const wf = Workflow.make("stop")
        .step("fails", () => Effect.fail(LlmError.make("test", new LlmError.InvalidRequest({ description: "bad" }))).pipe(Effect.delay("10 millis")))
        .step("inflight", () => Effect.succeed("finished anyway").pipe(Effect.delay("50 millis")))
        .step("later", () => Effect.succeed("never"), { needs: ["fails"] })
        .step("after", ({ steps }) => `${steps.inflight}!`, { needs: ["inflight"] })
      const fiber = yield* Effect.forkChild(Effect.flip(Workflow.run(wf, {})))
      yield* TestClock.adjust("50 millis")
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(error.reason._tag, "StepFailed")
      if (error.reason._tag !== "StepFailed") return
      assert.deepStrictEqual(error.reason.snapshot!.steps.map((step) => [step.id, step.state]), [
        ["fails", "failed"],
        ["inflight", "completed"],
        ["later", "cancelled"],
        ["after", "completed"]
      ])
      assert.strictEqual(error.reason.snapshot!.state, "failed")
    }).pipe(Effect.provide(echo)))

  it.effect("a step timeout fails the step with state timeout", () =>
    Effect.gen(function*() {
      const wf = Workflow.make("t").step("slow", () => Effect.never, { timeout: "2s" })
      const fiber = yield* Effect.forkChild(Effect.flip(Workflow.run(wf, {})))
      yield* TestClock.adjust("2 seconds")
      const error = yield* Fiber.join(fiber)
      if (error.reason._tag !== "StepFailed") return assert.fail("expected StepFailed")
      assert.strictEqual(error.reason.cause.reason._tag, "Timeout")
      assert.strictEqual(error.reason.snapshot!.steps[0]!.state, "timeout")
    }).pipe(Effect.provide(echo)))

  it.effect("decodes JSON outputs with a Schema, and rejects replies that do not match", () =>
    Effect.gen(function*() {
      const Meta = Schema.Struct({ title: Schema.String, words: Schema.Number })
      const wf = Workflow.make("json").prompt("meta", () => `{"title":"Tides","words":3}`, { output: Meta })
        .prompt("use", ({ steps }) => `title=${steps.meta.title}`, { needs: ["meta"] })
      const result = yield* Workflow.run(wf, {})
      assert.deepStrictEqual(result.outputs.meta, { title: "Tides", words: 3 })
      assert.strictEqual(result.outputs.use, "title=Tides")
      const bad = Workflow.make("json").prompt("meta", () => `{"title":1}`, { output: Meta })
      const error = yield* Effect.flip(Workflow.run(bad, {}))
      if (error.reason._tag !== "StepFailed") return assert.fail("expected StepFailed")
      assert.strictEqual(error.reason.cause.reason._tag, "ResponseMalformed")
      assert.match(error.message, /title/)
    }).pipe(Effect.provide(echo)))

  it.effect("rejects inputs that do not match the declared Schema, before anything runs", () =>
    Effect.gen(function*() {
      const wf = Workflow.make("in", { count: Schema.Number }).prompt("a", ({ input }) => `${input.count}`)
      const error = yield* Effect.flip(Workflow.run(wf, { count: "three" as unknown as number }))
      assert.strictEqual(error.reason._tag, "Invalid")
      assert.match(error.message, /input count/)
      const calls = yield* MockLanguageModel.MockLanguageModel.use((control) => control.calls)
      assert.strictEqual(calls.length, 0)
    }).pipe(Effect.provide(echo)))
})

describe("hooks", () => {
  it.effect("run before and after each step, and on error, in registration order", () =>
    Effect.gen(function*() {
      const log = yield* Ref.make<ReadonlyArray<string>>([])
      const record = (line: string) => Ref.update(log, (lines) => [...lines, line])
      const hooks = (name: string): WorkflowHooks.Hooks => ({
        beforeStep: (event) => record(`${name}:before:${event.step}#${event.attempt}`),
        afterStep: (event) => record(`${name}:after:${event.step}=${String(event.output)}`),
        onError: (event) => record(`${name}:error:${event.step}#${event.attempt}:${event.error.reason._tag}:${event.willRetry}`)
      })
      yield* MockLanguageModel.MockLanguageModel.use((control) => control.pushFaults([{ _tag: "ServerError", status: 500 }]))
      const wf = Workflow.make("hooks").prompt("a", () => "x", { retry: 1 }).prompt("b", () => "y", { needs: ["a"] })
      yield* Workflow.run(wf, {}).pipe(Effect.provide(WorkflowHooks.layer(hooks("h1"), hooks("h2"))))
      assert.deepStrictEqual(yield* Ref.get(log), [
        "h1:before:a#1", "h2:before:a#1", "h1:error:a#1:ServerError:true", "h2:error:a#1:ServerError:true",
        "h1:before:a#2", "h2:before:a#2", "h1:after:a=x", "h2:after:a=x",
        "h1:before:b#1", "h2:before:b#1", "h1:after:b=y", "h2:after:b=y"
      ])
    }).pipe(Effect.provide(echo)))

  it.effect("a failing beforeStep is a guard: the step fails and its model is never called", () =>
    Effect.gen(function*() {
      const guard = WorkflowHooks.layer({
        beforeStep: (event) =>
          event.step === "forbidden"
            ? Effect.fail(LlmError.make("guard", new LlmError.PermissionDenied({ description: "not allowed" })))
            : Effect.void
      })
      const wf = Workflow.make("guarded").prompt("forbidden", () => "secret")
      const error = yield* Effect.flip(Workflow.run(wf, {}).pipe(Effect.provide(guard)))
      if (error.reason._tag !== "StepFailed") return assert.fail("expected StepFailed")
      assert.strictEqual(error.reason.cause.reason._tag, "PermissionDenied")
      assert.strictEqual((yield* MockLanguageModel.MockLanguageModel.use((control) => control.calls)).length, 0)
    }).pipe(Effect.provide(echo)))
})

describe("step types (plugins)", () => {
  const lifecycle = (log: Array<string>, name: string, behaviour: "ok" | "throw" | "reject" | "die") => {
    const body = (args: { readonly text: string }) => {
      if (behaviour === "throw") throw new Error("plugin exploded")
      return args.text.toUpperCase()
    }
    switch (behaviour) {
      case "reject":
        return StepType.fromPromise({
          name,
          init: async () => { log.push(`${name}:init`) },
          execute: async () => { throw new Error("promise rejected") },
          cleanup: async () => { log.push(`${name}:cleanup`) }
        })
      case "die":
        return StepType.make({
          name,
          init: () => Effect.sync(() => { log.push(`${name}:init`) }),
          execute: () => Effect.die(new Error("effect died")),
          cleanup: () => Effect.sync(() => { log.push(`${name}:cleanup`) })
        })
      default:
        return StepType.fromSync<{ readonly text: string }, number>({
          name,
          args: Schema.Struct({ text: Schema.String }),
          init: () => { log.push(`${name}:init`); return 1 },
          execute: (args) => body(args),
          cleanup: () => { log.push(`${name}:cleanup`) }
        })
    }
  }

  it.effect("init once per run, execute per step, cleanup at the end", () =>
    Effect.gen(function*() {
      const log: Array<string> = []
      const upper = lifecycle(log, "upper", "ok")
      const wf = Workflow.make("plugins")
        .use("one", upper, () => ({ text: "a" }))
        .use("two", upper, ({ steps }) => ({ text: `${String(steps.one)}b` }), { needs: ["one"] })
      const result = yield* Workflow.run(wf, {})
      assert.strictEqual(result.outputs.two, "AB")
      assert.deepStrictEqual(log, ["upper:init", "upper:cleanup"])
    }).pipe(Effect.provide(echo)))

  for (const behaviour of ["throw", "reject", "die"] as const) {
    it.effect(`a plugin that ${behaviour}s fails only its own step, with attribution, and is cleaned up`, () =>
      Effect.gen(function*() {
        const log: Array<string> = []
        const broken = lifecycle(log, "broken", behaviour)
        const wf = Workflow.make("isolation")
          .use("bad", broken, () => ({ text: "x" }))
          .prompt("good", () => "still fine")
        const error = yield* Effect.flip(Workflow.run(wf, {}))
        if (error.reason._tag !== "StepFailed") return assert.fail("expected StepFailed")
        assert.strictEqual(error.reason.step, "bad")
        assert.match(error.reason.cause.message, behaviour === "die" ? /died: effect died/ : /broken|rejected|exploded/)
        const good = error.reason.snapshot!.steps.find((step) => step.id === "good")!
        assert.strictEqual(good.state, "completed")
        assert.strictEqual(good.output, "still fine")
        assert.deepStrictEqual(log, ["broken:init", "broken:cleanup"])
      }).pipe(Effect.provide(echo)))
  }

  it.effect("Promise and plain-function steps work like Effects", () =>
    Effect.gen(function*() {
      const wf = Workflow.make("fns")
        .step("sync", () => 21)
        .step("async", async ({ steps }) => steps.sync * 2, { needs: ["sync"] })
      const result = yield* Workflow.run(wf, {})
      const doubled: number = result.outputs.async
      assert.strictEqual(doubled, 42)
    }).pipe(Effect.provide(echo)))
})

describe("budget", () => {
  it.effect("one budget per run is shared by its steps: a step past it is refused before any call", () =>
    Effect.gen(function*() {
      const wf = Workflow.make("budgeted")
        .prompt("a", () => "one two three four five", { maxTokens: 20 })
        .prompt("b", ({ steps }) => `${steps.a} six seven`, { needs: ["a"], maxTokens: 20 })
        .prompt("c", ({ steps }) => `${steps.b} eight nine ten eleven twelve`, { needs: ["b"], maxTokens: 20 })
        .budget({ totalTokens: 60 })
      const error = yield* Effect.flip(Workflow.run(wf, {}))
      if (error.reason._tag !== "StepFailed") return assert.fail("expected StepFailed")
      assert.strictEqual(error.reason.cause.reason._tag, "BudgetExceeded")
      const states = error.reason.snapshot!.steps.map((step) => step.state)
      assert.strictEqual(states[0], "completed")
      assert.include(states, "failed")
      const calls = yield* MockLanguageModel.MockLanguageModel.use((control) => control.calls)
      assert.strictEqual(calls.length, states.filter((state) => state === "completed").length)
    }).pipe(Effect.provide(echo)))

  it.effect("a step's own budget is a child of the run's", () =>
    Effect.gen(function*() {
      const wf = Workflow.make("child")
        .prompt("small", () => "a prompt that is longer than the step allows", { budget: { inputTokens: 3 } })
        .prompt("free", () => "fine")
        .budget({ totalTokens: 10_000 })
      const error = yield* Effect.flip(Workflow.run(wf, {}))
      if (error.reason._tag !== "StepFailed") return assert.fail("expected StepFailed")
      assert.strictEqual(error.reason.step, "small")
      assert.strictEqual(error.reason.cause.reason._tag, "BudgetExceeded")
      assert.strictEqual(error.reason.snapshot!.steps[1]!.state, "completed")
    }).pipe(Effect.provide(echo)))
})

