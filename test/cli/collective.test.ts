import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, FileSystem, Path, Schema } from "effect"
import { fileURLToPath } from "node:url"
import * as Collective from "../../src/routing/Collective.ts"
import { runCli } from "./runCli.ts"

const TIMEOUT = 120_000
const script = fileURLToPath(new URL("./fixtures/cliWithAgents.ts", import.meta.url))

const tempDir = (files: Record<string, string> = {}) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const dir = yield* Effect.orDie(fs.makeTempDirectoryScoped({ prefix: "llmc-collective-cli-" }))
    for (const [name, text] of Object.entries(files)) yield* Effect.orDie(fs.writeFileString(path.join(dir, name), text))
    return dir
  }).pipe(Effect.provide(NodeServices.layer))

const profile = (slug: string, model: string, active = true) => ({
  slug,
  name: slug,
  provider: "mock",
  model,
  systemPrompt: `You are ${slug}.`,
  trustLevel: "advisory",
  capabilities: [],
  active,
  version: 1
})

const env = {
  LLM_CONNECT_TEST_AGENTS: JSON.stringify([profile("lead", "mock-lead"), profile("second", "mock-second"), profile("off", "mock-off", false)])
}

const config = [
  "routes:",
  "  - { taskType: review, priority: 10, prefer: [{ agent: lead }, { agent: second }, { agent: off }] }",
  "  - { taskType: lonely, priority: 1, prefer: [{ provider: mock, model: m }] }",
  ""
].join("\n")

const answer = JSON.stringify({ recommendation: "Ship it", rationale: "tests pass", confidence: 0.9 })
const decode = Schema.decodeUnknownSync(Collective.ProposalDocument)

describe("llm-connect collective (subprocess)", () => {
  it.live("--json prints the proposal: every active agent's contribution, consensus, the synthesis; exit 0", () =>
    Effect.gen(function*() {
      const cwd = yield* tempDir({ "llm-connect.yaml": config })
      const run = yield* runCli(["collective", "--task-type", "review", "Ship on Friday?", "--json", "--mock-reply", answer], { cwd, env, script })
      assert.strictEqual(run.exitCode, 0, run.stderr)
      const document = decode(JSON.parse(run.stdout))
      assert.strictEqual(document.consensusStatus, "consensus")
      assert.deepStrictEqual(document.contributions.map((c) => [c.agent, c.model, c.status, c.recommendation]), [
        ["lead", "mock-lead", "answered", "Ship it"],
        ["second", "mock-second", "answered", "Ship it"]
      ])
      assert.isAbove(document.contributions[0]!.tokensIn, 0)
      assert.strictEqual(document.finalContent, answer)
      assert.strictEqual(document.synthesizedBy, "lead")
    }), TIMEOUT)

  it.live("every call failing: the failed proposal is printed and the exit code is 1", () =>
    Effect.gen(function*() {
      const cwd = yield* tempDir({ "llm-connect.yaml": `${config}retry: { maxRetries: 0 }\n` })
      const run = yield* runCli(["collective", "--task-type", "review", "Ship?", "--json", "--mock-faults", "500"], { cwd, env, script })
      assert.strictEqual(run.exitCode, 1, run.stderr)
      const document = decode(JSON.parse(run.stdout))
      assert.strictEqual(document.consensusStatus, "failed")
      assert.isNull(document.finalContent)
      assert.deepStrictEqual(document.contributions.map((c) => c.status), ["failed", "failed"])
      assert.include(run.stderr, "fewer than a majority")
    }), TIMEOUT)

  it.live("an unknown task type, or one with no agent, exits 2 before any call", () =>
    Effect.gen(function*() {
      const cwd = yield* tempDir({ "llm-connect.yaml": config })
      const unknown = yield* runCli(["collective", "--task-type", "nope", "x", "--json"], { cwd, env, script })
      assert.strictEqual(unknown.exitCode, 2)
      assert.strictEqual(JSON.parse(unknown.stdout).errorType, "Configuration")
      const lonely = yield* runCli(["collective", "--task-type", "lonely", "x"], { cwd, env, script })
      assert.strictEqual(lonely.exitCode, 2)
      assert.include(lonely.stderr, "no active agent")
    }), TIMEOUT)
})
