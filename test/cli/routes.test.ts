import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, FileSystem, Path, Schema } from "effect"
import { LlmResponse } from "../../src/LlmResponse.ts"
import * as RouteDocuments from "../../src/routing/RouteDocuments.ts"
import { runCli } from "./runCli.ts"

const TIMEOUT = 120_000

const tempDir = (files: Record<string, string> = {}) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const dir = yield* Effect.orDie(fs.makeTempDirectoryScoped({ prefix: "llmc-routes-cli-" }))
    for (const [name, text] of Object.entries(files)) yield* Effect.orDie(fs.writeFileString(path.join(dir, name), text))
    return dir
  }).pipe(Effect.provide(NodeServices.layer))

// Built-in prices per 1k tokens: openai/gpt-4o $0.0025 in, $0.01 out; gemini-2.5-flash under
// $0.005 both; mock $0.001 / $0.002. No key is in the environment.
const config = [
  "routes:",
  "  - taskType: triage",
  "    priority: 10",
  "    maxCostPer1k: 0.005",
  "    prefer:",
  "      - { provider: openai, model: gpt-4o }",
  "      - { provider: gemini, model: gemini-2.5-flash }",
  "      - { agent: nobody }",
  "      - { provider: mock, model: mock-routed }",
  "  - taskType: pricey",
  "    priority: 1",
  "    maxCostPer1k: 0.001",
  "    prefer: [{ provider: openai, model: gpt-4o }]",
  "  - { taskType: off, priority: 1, active: false, prefer: [{ provider: mock, model: m }] }",
  ""
].join("\n")

const decodeExplanation = Schema.decodeUnknownSync(RouteDocuments.ExplanationDocument)

describe("llm-connect routes and prompt --task-type (subprocess)", () => {
  it.live("routes explain --json: the skipped candidates with their reasons, then the chosen one; exit 0", () =>
    Effect.gen(function*() {
      const cwd = yield* tempDir({ "llm-connect.yaml": config })
      const run = yield* runCli(["routes", "explain", "triage", "--json"], { cwd })
      assert.strictEqual(run.exitCode, 0, run.stderr)
      const document = decodeExplanation(JSON.parse(run.stdout))
      assert.deepStrictEqual(document.chosen, { provider: "mock", model: "mock-routed" })
      assert.deepStrictEqual(document.skipped.map((skip) => skip.reason), ["over-max-cost", "no-key", "agent-unknown"])
      assert.strictEqual(document.skipped[1]!.provider, "gemini")
    }), TIMEOUT)

  it.live("routes explain: nothing fits exits 1 with chosen null; an unknown task type exits 2; --scope falls back to default", () =>
    Effect.gen(function*() {
      const cwd = yield* tempDir({ "llm-connect.yaml": config })
      const none = yield* runCli(["routes", "explain", "pricey", "--json"], { cwd })
      assert.strictEqual(none.exitCode, 1)
      const document = decodeExplanation(JSON.parse(none.stdout))
      assert.isNull(document.chosen)
      assert.strictEqual(document.skipped[0]!.reason, "over-max-cost")
      const unknown = yield* runCli(["routes", "explain", "nope", "--json"], { cwd })
      assert.strictEqual(unknown.exitCode, 2)
      assert.strictEqual(JSON.parse(unknown.stdout).errorType, "Configuration")
      assert.include(unknown.stderr, "no route for task type \"nope\"")
      const inactive = yield* runCli(["routes", "explain", "off"], { cwd })
      assert.strictEqual(inactive.exitCode, 1)
      assert.include(inactive.stdout, "chosen: none")
      const scoped = yield* runCli(["routes", "explain", "triage", "--scope", "hub-9", "--json"], { cwd })
      assert.strictEqual(scoped.exitCode, 0)
      assert.strictEqual(JSON.parse(scoped.stdout).scope, "hub-9")
    }), TIMEOUT)

  it.live("routes list --json prints every rule with its defaults", () =>
    Effect.gen(function*() {
      const cwd = yield* tempDir({ "llm-connect.yaml": config })
      const run = yield* runCli(["routes", "list", "--json"], { cwd })
      assert.strictEqual(run.exitCode, 0)
      const routes = Schema.decodeUnknownSync(RouteDocuments.RoutesDocument)(JSON.parse(run.stdout))
      assert.deepStrictEqual(routes.map((route) => [route.taskType, route.scope, route.active, route.prefer.length]), [
        ["triage", "default", true, 4],
        ["pricey", "default", true, 1],
        ["off", "default", false, 1]
      ])
    }), TIMEOUT)

  it.live("prompt --task-type calls the chosen candidate; an unknown task type exits 2 before any call", () =>
    Effect.gen(function*() {
      const cwd = yield* tempDir({ "llm-connect.yaml": config })
      const run = yield* runCli(["prompt", "sort this", "--task-type", "triage", "--json", "--mock-reply", "routed"], { cwd })
      assert.strictEqual(run.exitCode, 0, run.stderr)
      const response = Schema.decodeUnknownSync(LlmResponse)(JSON.parse(run.stdout))
      assert.strictEqual(response.provider, "mock")
      assert.strictEqual(response.model, "mock-routed")
      assert.strictEqual(response.content, "routed")
      const unknown = yield* runCli(["prompt", "sort this", "--task-type", "nope"], { cwd })
      assert.strictEqual(unknown.exitCode, 2)
      const none = yield* runCli(["prompt", "sort this", "--task-type", "pricey"], { cwd })
      assert.strictEqual(none.exitCode, 1)
      assert.include(none.stderr, "over-max-cost")
    }), TIMEOUT)

  it.live("an invalid routes: section exits 2 and says what to fix", () =>
    Effect.gen(function*() {
      const cwd = yield* tempDir({
        "llm-connect.yaml": "routes:\n  - { taskType: t, priority: 1, agent: a }\n  - { taskType: t, priority: 1, agent: b }\n"
      })
      const run = yield* runCli(["routes", "list"], { cwd })
      assert.strictEqual(run.exitCode, 2)
      assert.include(run.stderr, "routes rules 1 and 2")
      const unregistered = yield* tempDir({ "llm-connect.yaml": "routes:\n  - { taskType: t, priority: 1, prefer: [{ provider: nope, model: m }] }\n" })
      const explained = yield* runCli(["routes", "explain", "t"], { cwd: unregistered })
      assert.strictEqual(explained.exitCode, 2)
      assert.include(explained.stderr, "\"nope\"")
    }), TIMEOUT)

  it.live("a rule naming an agent: the agent registered with `agents add` is chosen, prompt --task-type calls through it, and governance refuses it before sending", () =>
    Effect.gen(function*() {
      const cwd = yield* tempDir({
        "llm-connect.yaml": [
          "routes:",
          "  - taskType: sort",
          "    priority: 5",
          "    prefer: [{ agent: sorter }, { provider: mock, model: fallback-model }]",
          ""
        ].join("\n")
      })
      const explainedBefore = yield* runCli(["routes", "explain", "sort", "--json"], { cwd })
      assert.strictEqual(explainedBefore.exitCode, 0, explainedBefore.stderr)
      const before = decodeExplanation(JSON.parse(explainedBefore.stdout))
      assert.deepStrictEqual(before.skipped.map((skip) => skip.reason), ["agent-unknown"])
      const added = yield* runCli([
        "agents", "add", "--slug", "sorter", "--name", "Sorter", "--provider", "mock", "--model", "sorter-model", "--system", "You sort."
      ], { cwd })
      assert.strictEqual(added.exitCode, 0, added.stderr)
      const explained = yield* runCli(["routes", "explain", "sort", "--json"], { cwd })
      assert.strictEqual(explained.exitCode, 0, explained.stderr)
      const after = decodeExplanation(JSON.parse(explained.stdout))
      assert.deepStrictEqual(after.chosen, { provider: "mock", model: "sorter-model", agent: "sorter" })
      assert.deepStrictEqual(after.skipped, [])
      const prompted = yield* runCli(["prompt", "--task-type", "sort", "--json", "a ticket"], { cwd })
      assert.strictEqual(prompted.exitCode, 0, prompted.stderr)
      assert.strictEqual(JSON.parse(prompted.stdout).model, "sorter-model")
      const both = yield* runCli(["prompt", "--task-type", "sort", "--agent", "sorter", "x"], { cwd })
      assert.strictEqual(both.exitCode, 2)
      assert.include(both.stderr, "--agent and --task-type")
      // The consumer's flow: the routed agent is checked by governance before anything is sent.
      const policy = yield* runCli(["agents", "policy", "add", "--scope", "default", "--agent", "sorter", "--artifact-type", "prompt", "--allow", "read"], { cwd })
      assert.strictEqual(policy.exitCode, 0, policy.stderr)
      const denied = yield* runCli(["prompt", "--task-type", "sort", "--json", "a ticket"], { cwd })
      assert.strictEqual(denied.exitCode, 1, denied.stderr)
      assert.strictEqual(JSON.parse(denied.stdout).errorType, "PolicyDenied")
      const audit = yield* runCli(["agents", "audit", "--since", "1h", "--json"], { cwd })
      assert.strictEqual(audit.exitCode, 0, audit.stderr)
      assert.strictEqual(JSON.parse(audit.stdout).total, 1)
      const usage = yield* runCli(["usage", "--since", "1h", "--json"], { cwd })
      assert.strictEqual(usage.exitCode, 0, usage.stderr)
      assert.notInclude(usage.stdout, "PolicyDenied")
    }), TIMEOUT)
})

