import { assert, describe, it } from "@effect/vitest"
import { NodeServices } from "@effect/platform-node"
import { Effect, Fiber, FileSystem, Layer, Result, Schema } from "effect"
import { TestClock } from "effect/testing"
import * as Run from "../../src/cli/commands/run.ts"
import * as ExitCode from "../../src/cli/ExitCode.ts"
import * as ProviderRegistry from "../../src/ProviderRegistry.ts"
import * as MockLanguageModel from "../../src/providers/mock/MockLanguageModel.ts"
import * as Journal from "../../src/workflow/Journal.ts"
import * as StepType from "../../src/workflow/StepType.ts"
import * as Template from "../../src/workflow/Template.ts"
import * as Workflow from "../../src/workflow/Workflow.ts"
import type * as WorkflowError from "../../src/workflow/WorkflowError.ts"
import * as WorkflowYaml from "../../src/workflow/WorkflowYaml.ts"

const closed: ProviderRegistry.Provider = {
  ...MockLanguageModel.provider,
  name: "closed",
  models: ["small", "large"],
  closedModelList: true
}
const shout = StepType.fromSync({
  name: "shout",
  args: Schema.Struct({ text: Schema.String }),
  execute: (args: { readonly text: string }) => args.text.toUpperCase()
})
const environment = { providers: [MockLanguageModel.provider, closed], stepTypes: new Map([["shout", shout]]) }

const issuesOf = (source: string): ReadonlyArray<WorkflowError.Issue> => {
  const parsed = WorkflowYaml.parse(source, environment, "wf.yaml")
  return Result.isFailure(parsed) ? parsed.failure : []
}
const lines = (source: string) => issuesOf(source).map((issue) => `${issue.line}: ${issue.message}`)

const BOMB = `name: bomb
a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
steps:
  - id: a
    prompt: "{{input.x}}"
`

describe("YAML aliases", () => {
  it("an alias bomb is refused with the file and the line of the alias that crossed the bound", () => {
    const issues = issuesOf(BOMB)
    assert.strictEqual(issues.length, 1)
    assert.strictEqual(issues[0]!.file, "wf.yaml")
    assert.strictEqual(issues[0]!.line, 7)
    assert.include(issues[0]!.message, "aliases expand to more than 100000 values")
  })

  it("an alias inside the node it names is refused; ordinary anchors still work", () => {
    assert.include(issuesOf("name: loop\nx: &x [1, *x]\nsteps: []\n")[0]!.message, "cycle")
    const reused = WorkflowYaml.parse(
      "name: ok\ndefaults: &d { params: { temperature: 0.2 } }\nsteps:\n  - id: a\n    prompt: hi\n",
      environment,
      "wf.yaml"
    )
    assert.isTrue(Result.isSuccess(reused))
  })

  it.effect("load: a bomb file is an Invalid workflow error (exit 2), with file and line", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const dir = yield* Effect.orDie(fs.makeTempDirectoryScoped({ prefix: "llmc-bomb-" }))
      const path = `${dir}/bomb.yaml`
      yield* Effect.orDie(fs.writeFileString(path, BOMB))
      const error = yield* Effect.flip(WorkflowYaml.load(path).pipe(Effect.provide(StepType.layer([]))))
      assert.strictEqual(error.reason._tag, "Invalid")
      assert.strictEqual(Run.exitCode(error), ExitCode.Usage)
      if (error.reason._tag === "Invalid") assert.strictEqual(error.reason.issues[0]!.line, 7)
    }).pipe(Effect.provide(NodeServices.layer)))
})

describe("validation (all problems at once, with file and line)", () => {
  it("reports unknown variables, unknown steps, missing needs, cycles, providers, models, params, keys", () => {
    const problems = lines(`name: bad
inputs:
  topic: string
defaults:
  params: { temperature: 3 }
steps:
  - id: a
    prompt: "About {{input.topik}}"
  - id: b
    needs: [a, outlin]
    prompt: "{{steps.a.output}} {{steps.zz.output}}"
  - id: c
    prompt: "{{steps.a.output}}"
  - id: d
    needs: [e]
    prompt: x
  - id: e
    needs: [d]
    prompt: y
    provider: nope
  - id: f
    provider: closed
    model: huge
    prompt: z
    need: [a]
`)
    assert.includeMembers(problems, [
      "5: Expected a value between 0 and 2",
      "8: unknown variable {{input.topik}}: declared inputs are topic. Did you mean \"topic\"?",
      "10: step \"b\" needs \"outlin\", which is not a step; steps: a, b, c, d, e, f.",
      "11: {{steps.zz.output}} names step \"zz\", which does not exist; steps: a, b, c, d, e, f.",
      "13: step \"c\" uses {{steps.a.output}} but does not need \"a\": add it to needs",
      "15: cycle in needs: d -> e -> d; remove one of these needs",
      "20: unknown provider \"nope\"; registered providers: mock, closed.",
      "23: model \"huge\" is not offered by closed; known models: small, large.",
      "25: unknown key \"need\"; allowed here: id, description, prompt, system, type, with, provider, model, options, taskType, params, needs, retry, timeout, budget, output. Did you mean \"needs\"?"
    ])
    assert.strictEqual(problems.length, 9)
    assert.isTrue(issuesOf("name: x\nsteps: [{ id: a, prompt: p, needs: [a] }]").some((issue) => /needs itself/.test(issue.message)))
  })

  it("names a longer cycle in order", () => {
    const problems = lines(`name: cyc
steps:
  - { id: a, prompt: p, needs: [c] }
  - { id: b, prompt: p, needs: [a] }
  - { id: c, prompt: p, needs: [b] }
`)
    assert.deepStrictEqual(problems, ["3: cycle in needs: a -> c -> b -> a; remove one of these needs"])
  })

  it("checks steps: duplicate ids, prompt and type, step types and their arguments, JSON fields, durations", () => {
    const problems = lines(`name: steps
steps:
  - { id: a, prompt: p, output: json }
  - { id: a, prompt: p }
  - { id: b }
  - { id: c, type: shout, with: { txt: hi } }
  - { id: d, type: whisper }
  - { id: e, prompt: "{{steps.t.output.title}}", needs: [t] }
  - { id: t, prompt: p }
  - { id: j, prompt: p, output: { type: json, schema: { type: object, properties: { title: { type: string } } } } }
  - { id: k, prompt: "{{steps.j.output.titel}}", needs: [j], timeout: soon }
`)
    assert.deepStrictEqual(problems, [
      "11: expected a duration: a whole number and a unit, e.g. 500ms, 30s, 5m or 1h",
      "4: duplicate step id \"a\" (also steps[0])",
      "5: step \"b\" needs a prompt (or a registered type with its with arguments)",
      "6: step \"c\" (shout): text: Missing key",
      "7: unknown step type \"whisper\"; registered types: shout.",
      "8: {{steps.t.output.title}}: step \"t\" has a text output, which has no fields; set its output: json",
      "11: {{steps.j.output.titel}}: the output schema of \"j\" has no field \"titel\"; fields: title. Did you mean \"title\"?"
    ])
  })

  it("reports prompt and type together, with without type, options without provider, unusable schemas, bad templates", () => {
    const problems = lines(`name: more
steps:
  - { id: a, prompt: p, type: shout, with: { text: x } }
  - { id: b, prompt: p, with: { text: x } }
  - { id: c, prompt: p, options: { latency: 1s } }
  - { id: d, prompt: p, output: { type: json, schema: { type: object, unevaluatedProperties: false } } }
  - { id: e, prompt: "{{input}} {{ steps.a }} {{" }
`)
    assert.deepStrictEqual(problems.map((problem) => problem.replace(/: output\.schema is not a usable JSON Schema: .*/, ": output.schema is not a usable JSON Schema")), [
      "3: step \"a\" has both prompt and type: give one",
      "4: step \"b\" has with arguments but no type",
      "5: step \"c\" has provider options but names no provider: add provider",
      "6: output.schema is not a usable JSON Schema",
      "7: \"{{input}}\": write {{input.<name>}} (one name after \"input.\")",
      "7: \"{{ steps.a }}\": write {{steps.<id>.output}} (or {{steps.<id>.output.<field>}} for a JSON output)",
      "7: unbalanced \"{{\" or \"}}\" in template; a variable is written {{input.<name>}}"
    ])
  })

  it("returns what it parsed: each step's templates, output Schema, or step type with its parsed arguments", () => {
    const parsed = WorkflowYaml.parse(`name: parsed
inputs: { topic: string }
steps:
  - id: meta
    system: "You write about {{input.topic}}."
    prompt: "Title for {{input.topic}}"
    output: { type: json, schema: { type: object, properties: { title: { type: string } }, required: [title] } }
  - { id: loud, type: shout, with: { text: "{{steps.meta.output.title}}" }, needs: [meta] }
`, environment)
    if (Result.isFailure(parsed)) return assert.fail(JSON.stringify(parsed.failure))
    const [meta, loud] = parsed.success.steps
    if (meta?._tag !== "Prompt" || loud?._tag !== "Type") return assert.fail("expected a prompt step, then a type step")
    assert.deepStrictEqual(Template.references(meta.prompt).map((reference) => reference.raw), ["input.topic"])
    assert.strictEqual(meta.system?.source, "You write about {{input.topic}}.")
    if (meta.output.type !== "json" || meta.output.schema === undefined) return assert.fail("expected a JSON output with a Schema")
    assert.isTrue(Schema.is(meta.output.schema)({ title: "Tides" }))
    assert.isFalse(Schema.is(meta.output.schema)({}))
    assert.strictEqual(loud.type, shout)
    const scope = { input: {}, outputs: new Map([["meta", { title: "tides" }]]) }
    assert.deepStrictEqual(loud.with === undefined ? undefined : Template.renderTree(loud.with, scope), { text: "tides" })
  })

  it("reports YAML syntax errors with their line", () => {
    const problems = issuesOf("name: x\nsteps:\n  - id: a\n   prompt: [unclosed\n")
    assert.isTrue(problems.length > 0)
    assert.isTrue(problems.every((issue) => issue.file === "wf.yaml" && issue.line !== undefined))
  })

  it("checks inputs against the declared ones: unknown, missing, wrong type; converts text", () =>
    Effect.gen(function*() {
      const parsed = WorkflowYaml.parse(`name: in
inputs:
  topic: { type: string, description: what to write about }
  words: integer
  draft: { type: boolean, default: false }
steps: [{ id: a, prompt: "{{input.topic}} {{input.words}} {{input.draft}}" }]
`, environment, "in.yaml")
      assert.isTrue(Result.isSuccess(parsed))
      if (Result.isFailure(parsed)) return
      const error = yield* Effect.flip(WorkflowYaml.checkInputs(parsed.success, { words: "many", topik: "x" }))
      assert.deepStrictEqual(
        error.reason._tag === "Invalid" ? error.reason.issues.map((issue) => `${issue.line}: ${issue.message}`) : [],
        [
          "2: unknown input \"topik\"; declared inputs: topic, words, draft. Did you mean \"topic\"?",
          "3: missing input \"topic\" (string: what to write about); pass --input topic=...",
          "4: input \"words\" must be an integer, got \"many\""
        ]
      )
      const ok = yield* WorkflowYaml.checkInputs(parsed.success, { topic: "tides", words: "300" })
      assert.deepStrictEqual(ok, { topic: "tides", words: 300, draft: false })
      // A huge value is quoted cut short, not whole.
      const huge = yield* Effect.flip(WorkflowYaml.checkInputs(parsed.success, { topic: "t", words: "9".repeat(100) + "x".repeat(1_000_000) }))
      const message = huge.reason._tag === "Invalid" ? huge.reason.issues[0]!.message : ""
      assert.match(message, /^input "words" must be an integer, got "9{56}\.\.\.$/)
    }).pipe(Effect.runSync))
})

const registry = ProviderRegistry.layer([MockLanguageModel.provider])

const runYaml = (source: string, input: Record<string, unknown>, reply: MockLanguageModel.Reply = "echo") =>
  Effect.gen(function*() {
    const env = yield* WorkflowYaml.environment
    const parsed = WorkflowYaml.parse(source, env, "t.yaml")
    if (Result.isFailure(parsed)) return yield* Effect.die(parsed.failure)
    const definition = yield* WorkflowYaml.compile(parsed.success)
    return yield* Workflow.runDefinition(definition, { runId: "r1", input })
  }).pipe(Effect.provide(Layer.merge(MockLanguageModel.layer({ reply }), registry)))

describe("YAML runs", () => {
  it.effect("passes inputs and outputs through templates, with params and JSON fields", () =>
    Effect.gen(function*() {
      const result = yield* runYaml(`name: data
inputs: { topic: string }
defaults: { params: { maxTokens: 50 } }
steps:
  - id: meta
    prompt: '{"title": "About {{input.topic}}"}'
    output: { type: json, schema: { type: object, properties: { title: { type: string } }, required: [title] } }
  - id: use
    needs: [meta]
    prompt: "Title was: {{steps.meta.output.title}}"
`, { topic: "tides" })
      assert.deepStrictEqual(result.outputs.meta, { title: "About tides" })
      assert.strictEqual(result.outputs.use, "Title was: About tides")
      const calls = yield* MockLanguageModel.MockLanguageModel.use((control) => control.calls).pipe(
        Effect.provide(MockLanguageModel.layer())
      )
      assert.strictEqual(calls.length, 0)
    }))

  it.effect("templates insert values literally: an input or output containing {{...}} injects nothing", () =>
    Effect.gen(function*() {
      const result = yield* runYaml(`name: inject
inputs: { topic: string, secret: { type: string, default: hidden } }
steps:
  - id: a
    prompt: "{{input.topic}}"
  - id: b
    needs: [a]
    prompt: "got {{steps.a.output}}"
`, { topic: "{{input.secret}} and {{steps.a.output}}" })
      assert.strictEqual(result.outputs.a, "{{input.secret}} and {{steps.a.output}}")
      assert.strictEqual(result.outputs.b, "got {{input.secret}} and {{steps.a.output}}")
    }))

  it.effect("a registered step type runs with rendered with arguments", () =>
    Effect.gen(function*() {
      const result = yield* runYaml(`name: typed
inputs: { name: string }
steps:
  - { id: greet, type: shout, with: { text: "hello {{input.name}}" } }
`, { name: "ada" }).pipe(Effect.provide(StepType.layer([shout])))
      assert.strictEqual(result.outputs.greet, "HELLO ADA")
    }))

  it.effect("journals finished steps and resumes without running them again", () =>
    Effect.gen(function*() {
      const source = `name: resume
steps:
  - { id: one, prompt: first }
  - { id: two, prompt: second, needs: [one] }
`
      const journal = yield* Journal.makeMemory
      yield* journal.append("r1", { type: "start", runId: "r1", workflow: "resume", input: {}, at: 0 })
      yield* journal.append("r1", {
        type: "step", step: "one", output: "from before", usage: { inputTokens: 5, outputTokens: 5, totalTokens: 10 },
        attempts: 1, startedAt: 0, finishedAt: 7
      })
      const resumed = (yield* journal.read("r1")).filter((entry): entry is Journal.StepEntry => entry.type === "step")
      const result = yield* Effect.gen(function*() {
        const parsed = WorkflowYaml.parse(source, yield* WorkflowYaml.environment)
        if (Result.isFailure(parsed)) return yield* Effect.die(parsed.failure)
        const definition = yield* WorkflowYaml.compile(parsed.success)
        const out = yield* Workflow.runDefinition(definition, { runId: "r1", input: {}, resumed })
        const calls = yield* MockLanguageModel.MockLanguageModel.use((control) => control.calls)
        return { out, calls }
      }).pipe(Effect.provide(Layer.mergeAll(MockLanguageModel.layer({ reply: "echo" }), registry, Layer.succeed(Journal.Journal, journal))))
      assert.deepStrictEqual(result.calls.map((call) => call.messages[0]!.content), ["second"])
      assert.strictEqual(result.out.outputs.one, "from before")
      assert.isTrue(result.out.steps[0]!.resumed)
      assert.strictEqual(result.out.usage.totalTokens, 10 + result.out.steps[1]!.usage!.totalTokens)
      const entries = yield* journal.read("r1")
      assert.deepStrictEqual(entries.map((entry) => entry.type === "step" ? `step:${entry.step}` : entry.type), [
        "start", "step:one", "step:two", "end"
      ])
    }))

  it.effect("on resume the run's budget is rebuilt from the journal", () =>
    Effect.gen(function*() {
      const source = `name: resume-budget
budget: { totalTokens: 1000 }
steps:
  - { id: one, prompt: first }
  - { id: two, prompt: second, needs: [one] }
`
      const resumed: ReadonlyArray<Journal.StepEntry> = [{
        type: "step", step: "one", output: "done", usage: { inputTokens: 500, outputTokens: 500, totalTokens: 1000 },
        attempts: 1, startedAt: 0, finishedAt: 1
      }]
      const error = yield* Effect.gen(function*() {
        const parsed = WorkflowYaml.parse(source, yield* WorkflowYaml.environment)
        if (Result.isFailure(parsed)) return yield* Effect.die(parsed.failure)
        const definition = yield* WorkflowYaml.compile(parsed.success)
        return yield* Effect.flip(Workflow.runDefinition(definition, { runId: "r2", input: {}, resumed }))
      }).pipe(Effect.provide(Layer.mergeAll(MockLanguageModel.layer({ reply: "echo" }), registry)))
      if (error.reason._tag !== "StepFailed") return assert.fail("expected StepFailed")
      assert.strictEqual(error.reason.step, "two")
      assert.strictEqual(error.reason.cause.reason._tag, "BudgetExceeded")
    }))

  it.effect("runFile runs the demo from code: the two drafts start together after the outline", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.forkChild(WorkflowYaml.runFile("examples/workflows/demo.yaml", { topic: "volcanoes" }))
      // The file is read with real I/O: let real time pass, then advance the test clock, until done.
      for (let tick = 0; tick < 500 && fiber.pollUnsafe() === undefined; tick++) {
        yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 10)))
        yield* TestClock.adjust("10 millis")
      }
      const result = yield* Fiber.join(fiber)
      assert.strictEqual(result.state, "completed")
      assert.match(String(result.outputs.outline), /volcanoes/)
      const at = (id: string) => result.steps.find((step) => step.id === id)!
      const outlineDone = at("outline").finishedAt!
      assert.strictEqual(outlineDone - at("outline").startedAt!, 10)
      assert.deepStrictEqual([at("draft_plain").startedAt, at("draft_vivid").startedAt], [outlineDone, outlineDone])
      assert.deepStrictEqual([at("draft_plain").finishedAt, at("draft_vivid").finishedAt], [outlineDone + 10, outlineDone + 10])
    }).pipe(Effect.provide(Layer.mergeAll(MockLanguageModel.layer({ reply: "echo", latency: "10 millis" }), registry, NodeServices.layer))))
})

