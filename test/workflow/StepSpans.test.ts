import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Option, Tracer } from "effect"
import { article } from "../../examples/02-workflow-builder.ts"
import * as Observability from "../../src/observability/Observability.ts"
import * as MockLanguageModel from "../../src/providers/mock/MockLanguageModel.ts"
import * as Workflow from "../../src/workflow/Workflow.ts"

describe("workflow step spans", () => {
  it.effect("with a tracer installed, each step has a span and its model call is a child of it", () =>
    Effect.gen(function*() {
      const spans: Array<Tracer.NativeSpan> = []
      const tracer = Tracer.make({
        span: (options) => {
          const span = new Tracer.NativeSpan(options)
          spans.push(span)
          return span
        }
      })
      const model = Observability.layer().pipe(Layer.provide(MockLanguageModel.layer()))
      const result = yield* Workflow.run(article, { topic: "tides" }).pipe(
        Effect.provide(model),
        Effect.withTracer(tracer)
      )
      assert.strictEqual(result.state, "completed")
      const steps = spans.filter((span) => span.name.startsWith("step "))
      assert.deepStrictEqual(steps.map((span) => span.name).sort(), ["step draft", "step outline", "step summary"])
      const calls = spans.filter((span) => span.name.startsWith("chat "))
      assert.strictEqual(calls.length, 3)
      for (const call of calls) {
        const parent = Option.getOrUndefined(call.parent)
        assert.isDefined(parent)
        assert.include(steps.map((span) => span.spanId), parent!.spanId)
      }
      assert.strictEqual(steps[0]!.attributes.get("llm_connect.workflow"), "article")
    }))

})
