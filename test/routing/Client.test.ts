// The Promise client builds its stack with the router (RoutingStack.fromConfig): a workflow
// step's taskType: runs through the client's routes:, and a task type no rule serves rejects
// with a Configuration LlmConnectError before anything is sent.
import { assert, describe, it } from "@effect/vitest"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { createClient, LlmConnectError } from "../../src/index.ts"

describe("createClient with routes:", () => {
  it("runWorkflow: a taskType: step is routed; an unknown task type rejects with Configuration", async () => {
    const dir = mkdtempSync(join(tmpdir(), "llmc-client-routes-"))
    try {
      const routed = join(dir, "routed.yaml")
      writeFileSync(routed, "name: routed\nsteps:\n  - { id: sort, prompt: \"sort it\", taskType: triage }\n")
      const unknown = join(dir, "unknown.yaml")
      writeFileSync(unknown, "name: unknown\nsteps:\n  - { id: sort, prompt: \"sort it\", taskType: nope }\n")
      const llm = createClient({
        provider: "mock",
        ledger: false,
        mock: { reply: "sorted" },
        routes: [{ taskType: "triage", priority: 1, prefer: [{ provider: "mock", model: "mock-routed" }] }]
      })
      try {
        const run = await llm.runWorkflow(routed)
        assert.strictEqual(run.outputs.sort, "sorted")
        const error = await llm.runWorkflow(unknown).then(() => undefined, (thrown: unknown) => thrown)
        assert.instanceOf(error, LlmConnectError)
        assert.strictEqual((error as LlmConnectError).reason, "Configuration")
        assert.include((error as LlmConnectError).message, "no route for task type \"nope\"")
      } finally {
        await llm.close()
      }
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }, 60_000)
})
