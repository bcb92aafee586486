import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import * as Template from "../../src/workflow/Template.ts"

const parse = (source: string) => {
  const parsed = Template.parse(source)
  if (Result.isFailure(parsed)) throw new Error(parsed.failure.join("; "))
  return parsed.success
}

describe("Template", () => {
  it("parses inputs, step outputs and JSON fields, with spaces allowed inside the braces", () => {
    const template = parse("A {{input.topic}} B {{ steps.outline.output }} C {{steps.meta.output.title}}")
    assert.deepStrictEqual(Template.references(template).map((reference) => reference.raw), [
      "input.topic",
      "steps.outline.output",
      "steps.meta.output.title"
    ])
  })

  it("rejects malformed placeholders with a message saying how to write one", () => {
    const parsed = Template.parse("{{topic}} {{steps.a}} {{input.a.b}} {{input.x y}} {{")
    assert.isTrue(Result.isFailure(parsed))
    if (Result.isSuccess(parsed)) return
    assert.strictEqual(parsed.failure.length, 5)
    assert.match(parsed.failure[0]!, /variables start with input\. or steps\./)
    assert.match(parsed.failure[1]!, /\{\{steps\.<id>\.output\}\}/)
  })

  it("renders values literally, once: {{...}} inside a value stays text", () => {
    const template = parse("[{{input.a}}] [{{steps.s.output}}] [{{steps.j.output.n}}]")
    const rendered = Template.render(template, {
      input: { a: "{{input.b}}", b: "SECRET" },
      outputs: new Map<string, unknown>([["s", "{{steps.j.output.n}}"], ["j", { n: 42 }]])
    })
    assert.strictEqual(rendered, "[{{input.b}}] [{{steps.j.output.n}}] [42]")
  })

  it("renders objects as JSON and strings inside with arguments deeply", () => {
    const scope = { input: { x: "1" }, outputs: new Map<string, unknown>([["o", { k: [1, 2] }]]) }
    assert.deepStrictEqual(Template.renderDeep({ a: ["{{input.x}}", 2], b: "{{steps.o.output}}" }, scope), {
      a: ["1", 2],
      b: "{\"k\":[1,2]}"
    })
  })
})
