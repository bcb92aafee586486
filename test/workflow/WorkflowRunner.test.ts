import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Schema } from "effect"
import { TestClock } from "effect/testing"
import * as MockLanguageModel from "../../src/providers/mock/MockLanguageModel.ts"
import * as StepType from "../../src/workflow/StepType.ts"
import * as Workflow from "../../src/workflow/Workflow.ts"
import * as WorkflowRunner from "../../src/workflow/WorkflowRunner.ts"

const article = Workflow.make("article", { topic: Schema.String })
  .prompt("outline", ({ input }) => `outline ${input.topic}`)
  .prompt("draft", ({ steps }) => `draft ${steps.outline}`, { needs: ["outline"] })
  .prompt("title", ({ steps }) => `title ${steps.draft}`, { needs: ["draft"] })

const env = Layer.mergeAll(
  WorkflowRunner.layer({ retention: "10 minutes" }),
  MockLanguageModel.layer({ reply: "echo", latency: "100 millis" })
)

describe("WorkflowRunner (async mode)", () => {
  it.effect("start returns at once; status moves pending -> running -> completed with timestamps; result hands over", () =>
    Effect.gen(function*() {
      const handle = yield* WorkflowRunner.start(article, { topic: "tides" }, { runId: "async-1" })
      assert.strictEqual(handle.runId, "async-1")
      yield* Effect.yieldNow
      const early = yield* handle.status
      assert.strictEqual(early.state, "running")
      assert.deepStrictEqual(early.steps.map((step) => step.state), ["running", "pending", "pending"])
      yield* TestClock.adjust("150 millis")
      const middle = yield* handle.status
      assert.deepStrictEqual(middle.steps.map((step) => step.state), ["completed", "running", "pending"])
      assert.strictEqual(middle.steps[0]!.startedAt, 0)
      assert.strictEqual(middle.steps[0]!.finishedAt, 100)
      yield* TestClock.adjust("200 millis")
      const done = yield* handle.status
      assert.strictEqual(done.state, "completed")
      assert.strictEqual(done.finishedAt, 300)
      const result = yield* handle.result
      assert.strictEqual(result.outputs.title, "title draft outline tides")
      const gone = yield* Effect.flip(handle.status)
      assert.strictEqual(gone.reason._tag, "NotFound")
    }).pipe(Effect.provide(env)))

  it.effect("cancel lets the step in flight finish and starts no new one", () =>
    Effect.gen(function*() {
      const runner = yield* WorkflowRunner.WorkflowRunner
      const handle = yield* WorkflowRunner.start(article, { topic: "tides" })
      yield* TestClock.adjust("50 millis")
      const cancelling = yield* handle.cancel
      assert.strictEqual(cancelling.steps[0]!.state, "running")
      yield* TestClock.adjust("1 second")
      const error = yield* Effect.flip(runner.result(handle.runId))
      assert.strictEqual(error.reason._tag, "Cancelled")
      if (error.reason._tag !== "Cancelled") return
      assert.deepStrictEqual(error.reason.snapshot.steps.map((step) => [step.id, step.state]), [
        ["outline", "completed"],
        ["draft", "cancelled"],
        ["title", "cancelled"]
      ])
      assert.strictEqual(error.reason.snapshot.steps[0]!.output, "outline tides")
      assert.strictEqual(error.reason.snapshot.state, "cancelled")
      const calls = yield* MockLanguageModel.MockLanguageModel.use((control) => control.calls)
      assert.strictEqual(calls.length, 1)
    }).pipe(Effect.provide(env)))

  it.effect("a result not retrieved expires after the retention time", () =>
    Effect.gen(function*() {
      const runner = yield* WorkflowRunner.WorkflowRunner
      const handle = yield* WorkflowRunner.start(article, { topic: "tides" })
      yield* TestClock.adjust("300 millis")
      assert.strictEqual((yield* handle.status).state, "completed")
      yield* TestClock.adjust("9 minutes")
      assert.deepStrictEqual(yield* runner.list, [handle.runId])
      yield* TestClock.adjust("1 minute")
      assert.deepStrictEqual(yield* runner.list, [])
      const error = yield* Effect.flip(handle.result)
      assert.strictEqual(error.reason._tag, "NotFound")
      assert.match(error.message, /expired after 10m/)
    }).pipe(Effect.provide(env)))

  it.effect("several runs go on at once, each with its own id and state", () =>
    Effect.gen(function*() {
      const handles = yield* Effect.forEach(["a", "b", "c"], (topic) => WorkflowRunner.start(article, { topic }))
      assert.strictEqual(new Set(handles.map((handle) => handle.runId)).size, 3)
      yield* TestClock.adjust("300 millis")
      const results = yield* Effect.forEach(handles, (handle) => handle.result)
      assert.deepStrictEqual(results.map((result) => result.outputs.title), [
        "title draft outline a",
        "title draft outline b",
        "title draft outline c"
      ])
      assert.isTrue(results.every((result) => result.durationMs === 300))
    }).pipe(Effect.provide(env)))

  it.effect("a step type is cleaned up when its run is cancelled", () =>
    Effect.gen(function*() {
      const log: Array<string> = []
      const slowType = StepType.make({
        name: "slow",
        init: () => Effect.sync(() => log.push("init")),
        execute: () => Effect.as(Effect.sleep("100 millis"), "done"),
        cleanup: () => Effect.sync(() => { log.push("cleanup") })
      })
      const wf = Workflow.make("plugged").use("a", slowType, () => ({})).prompt("b", () => "after", { needs: ["a"] })
      const handle = yield* WorkflowRunner.start(wf, {})
      yield* TestClock.adjust("50 millis")
      yield* handle.cancel
      assert.deepStrictEqual(log, ["init"])
      yield* TestClock.adjust("100 millis")
      const error = yield* Effect.flip(handle.result)
      assert.strictEqual(error.reason._tag, "Cancelled")
      assert.deepStrictEqual(log, ["init", "cleanup"])
    }).pipe(Effect.provide(env)))
})

