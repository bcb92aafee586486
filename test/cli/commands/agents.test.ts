// `llm-connect agents`, `delegate` and `prompt --agent` as real subprocesses on the mock provider,
// against a ledger file in a temp directory: exit codes, --json documents, and that bad input
// writes nothing.
import { describe, expect, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { DatabaseSync } from "node:sqlite"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { runCli } from "../runCli.ts"

const withTempDir = <A, E, R>(body: (dir: string) => Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => mkdtempSync(join(tmpdir(), "agents-cli-"))),
    body,
    (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
  )

const AgentDocument = Schema.Struct({
  slug: Schema.String,
  name: Schema.String,
  provider: Schema.String,
  model: Schema.String,
  trustLevel: Schema.Literals(["advisory", "elevated", "autonomous"]),
  capabilities: Schema.Array(Schema.String),
  active: Schema.Boolean,
  version: Schema.Int
})

const DelegationDocument = Schema.Struct({
  id: Schema.String,
  parentId: Schema.NullOr(Schema.String),
  from: Schema.String,
  to: Schema.String,
  status: Schema.Literals(["pending", "completed", "failed", "cancelled"]),
  result: Schema.NullOr(Schema.String),
  error: Schema.NullOr(Schema.String),
  tokensUsed: Schema.Int,
  tokenBudget: Schema.Int
})

const count = (file: string, table: string): number => {
  const db = new DatabaseSync(file)
  try {
    return Number((db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n)
  } finally {
    db.close()
  }
}

const slow = { timeout: 300_000 }

describe("llm-connect agents / delegate / prompt --agent", () => {
  it.live("registry commands: add, duplicate (exit 2), list --json, update (version bump), deactivate, bad trust level", () =>
    withTempDir((cwd) =>
      Effect.gen(function*() {
        const ledger = join(cwd, "state.db")
        const env = { LLM_CONNECT_LEDGER: ledger }
        const add = yield* runCli(
          ["agents", "add", "--slug", "triage", "--name", "Triage", "--provider", "mock", "--model", "mock-1", "--capability", "sort", "--capability", "tag", "--json"],
          { cwd, env }
        )
        expect(add.exitCode).toBe(0)
        expect(Schema.decodeUnknownSync(AgentDocument)(JSON.parse(add.stdout))).toMatchObject({ slug: "triage", version: 1, capabilities: ["sort", "tag"] })
        const duplicate = yield* runCli(["agents", "add", "--slug", "triage", "--name", "X", "--provider", "mock", "--model", "m", "--json"], { cwd, env })
        expect(duplicate.exitCode).toBe(2)
        expect(JSON.parse(duplicate.stdout)).toMatchObject({ errorType: "Configuration" })
        expect(duplicate.stderr).toContain("an agent with slug triage exists already")
        const badTrust = yield* runCli(
          ["agents", "add", "--slug", "other", "--name", "X", "--provider", "mock", "--model", "m", "--trust-level", "root"],
          { cwd, env }
        )
        expect(badTrust.exitCode).toBe(2)
        expect(badTrust.stderr).toContain("advisory, elevated, autonomous")
        expect(count(ledger, "federation_agents")).toBe(1)
        const update = yield* runCli(["agents", "update", "triage", "--model", "mock-2", "--trust-level", "elevated", "--json"], { cwd, env })
        expect(update.exitCode).toBe(0)
        expect(JSON.parse(update.stdout)).toMatchObject({ version: 2, model: "mock-2", trustLevel: "elevated" })
        const off = yield* runCli(["agents", "deactivate", "triage"], { cwd, env })
        expect(off.exitCode).toBe(0)
        const list = yield* runCli(["agents", "list", "--json"], { cwd, env })
        expect(list.exitCode).toBe(0)
        const agents = Schema.decodeUnknownSync(Schema.Array(AgentDocument))(JSON.parse(list.stdout))
        expect(agents.map((agent) => [agent.slug, agent.active, agent.version])).toEqual([["triage", false, 3]])
        const unknown = yield* runCli(["agents", "show", "nobody", "--json"], { cwd, env })
        expect(unknown.exitCode).toBe(2)
      })
    ), slow)

  it.live("delegate --json prints the record (exit 0), a failed one exits 1 with its record, a cycle exits 2 writing nothing; governance and prompt --agent", () =>
    withTempDir((cwd) =>
      Effect.gen(function*() {
        const ledger = join(cwd, "state.db")
        const env = { LLM_CONNECT_LEDGER: ledger }
        for (const slug of ["lead", "helper"]) {
          const added = yield* runCli(["agents", "add", "--slug", slug, "--name", slug, "--provider", "mock", "--model", "mock-1"], { cwd, env })
          expect(added.exitCode).toBe(0)
        }
        const done = yield* runCli(["delegate", "--from", "lead", "--to", "helper", "--token-budget", "2000", "find sources", "--json"], { cwd, env })
        expect(done.exitCode).toBe(0)
        const record = Schema.decodeUnknownSync(DelegationDocument)(JSON.parse(done.stdout))
        expect(record).toMatchObject({ status: "completed", from: "lead", to: "helper", parentId: null, error: null, tokenBudget: 2000 })
        expect(record.tokensUsed).toBeGreaterThan(0)
        expect(record.result).toContain("find sources")

        const starved = yield* runCli(["delegate", "--from", "lead", "--to", "helper", "--token-budget", "2", "find sources", "--json"], { cwd, env })
        expect(starved.exitCode).toBe(1)
        const failed = Schema.decodeUnknownSync(DelegationDocument)(JSON.parse(starved.stdout))
        expect(failed.status).toBe("failed")
        expect(failed.error).toContain("BudgetExceeded")

        const cycle = yield* runCli(
          ["delegate", "--from", "helper", "--to", "lead", "--parent", record.id, "--token-budget", "100", "back again", "--json"],
          { cwd, env }
        )
        expect(cycle.exitCode).toBe(2)
        expect(JSON.parse(cycle.stdout)).toMatchObject({ errorType: "Configuration" })
        expect(cycle.stderr).toContain("cycle: lead -> helper -> lead")
        expect(count(ledger, "federation_delegations")).toBe(2)

        const policy = yield* runCli(
          ["agents", "policy", "add", "--agent", "lead", "--artifact-type", "*", "--allow", "read,propose", "--json"],
          { cwd, env }
        )
        expect(policy.exitCode).toBe(0)
        expect(JSON.parse(policy.stdout)).toMatchObject({ allowedActions: ["read", "propose"], artifactType: "*" })
        const denied = yield* runCli(["delegate", "--from", "lead", "--to", "helper", "--token-budget", "100", "t", "--json"], { cwd, env })
        expect(denied.exitCode).toBe(1)
        expect(JSON.parse(denied.stdout)).toMatchObject({ errorType: "PolicyDenied" })
        expect(count(ledger, "federation_delegations")).toBe(2)
        const audit = yield* runCli(["agents", "audit", "--since", "7d", "--json"], { cwd, env })
        expect(JSON.parse(audit.stdout)).toMatchObject({ total: 1, scopes: [{ scope: "default", denials: 1 }] })

        const viaAgent = yield* runCli(["prompt", "--agent", "helper", "hello", "--json"], { cwd, env })
        expect(viaAgent.exitCode).toBe(0)
        expect(JSON.parse(viaAgent.stdout)).toMatchObject({ provider: "mock", model: "mock-1" })
        const both = yield* runCli(["prompt", "--agent", "helper", "--model", "x", "hello"], { cwd, env })
        expect(both.exitCode).toBe(2)
        // usage is recorded against the agent: the delegations' calls and the prompt's
        const usage = yield* runCli(["usage", "--by", "agent", "--json"], { cwd, env })
        const groups = (JSON.parse(usage.stdout) as { groups: ReadonlyArray<{ key: string; calls: number }> }).groups
        expect(groups.find((group) => group.key === "helper")?.calls).toBeGreaterThanOrEqual(2)
        expect(groups.find((group) => group.key === "lead")).toBeUndefined()
        // a denied prompt --agent sends nothing (no ledger row) and is audited
        const rows = count(ledger, "usage")
        const onlyRead = yield* runCli(["agents", "policy", "add", "--agent", "helper", "--artifact-type", "prompt", "--allow", "read"], { cwd, env })
        expect(onlyRead.exitCode).toBe(0)
        const deniedPrompt = yield* runCli(["prompt", "--agent", "helper", "hello", "--json"], { cwd, env })
        expect(deniedPrompt.exitCode).toBe(1)
        expect(JSON.parse(deniedPrompt.stdout)).toMatchObject({ errorType: "PolicyDenied" })
        expect(count(ledger, "usage")).toBe(rows)
        expect(count(ledger, "federation_audit")).toBe(2)

        const outcome = yield* runCli(["agents", "outcome", record.id, "accepted", "--confidence", "0.8", "--json"], { cwd, env })
        expect(outcome.exitCode).toBe(0)
        expect(JSON.parse(outcome.stdout)).toMatchObject({ agent: "helper", outcome: "accepted", confidence: 0.8 })
        const badOutcome = yield* runCli(["agents", "outcome", record.id, "maybe"], { cwd, env })
        expect(badOutcome.exitCode).toBe(2)
        const performance = yield* runCli(["agents", "performance", "helper", "--json"], { cwd, env })
        expect(performance.exitCode).toBe(0)
        expect(JSON.parse(performance.stdout)).toMatchObject({
          agent: "helper",
          counts: { accepted: 1, rejected: 0, revised: 0, total: 1 },
          acceptanceRatio: 1,
          meanConfidence: 0.8,
          calibration: null
        })
      })
    ), slow)
})
