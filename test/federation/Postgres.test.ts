// The federation tables on a real PostgreSQL (test/support/postgres.ts): the migration applies
// (CHECK constraints included), and the registry, governance, a delegation and an outcome round trip.
import { afterAll, assert, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import * as AgentPerformance from "../../src/federation/AgentPerformance.ts"
import * as AgentRegistry from "../../src/federation/AgentRegistry.ts"
import * as Delegation from "../../src/federation/Delegation.ts"
import * as Governance from "../../src/federation/Governance.ts"
import { postgresAvailable, type PostgresServer, startPostgres } from "../support/postgres.ts"
import { agent, federation } from "./support.ts"

describe.runIf(postgresAvailable)("federation on PostgreSQL", () => {
  let pg: PostgresServer
  beforeAll(() => {
    pg = startPostgres()
  })
  afterAll(() => pg?.destroy())

  it.effect("migrates, enforces the CHECKs, and round-trips agents, policies, delegations and outcomes", () =>
    Effect.gen(function*() {
      const url = pg.createDatabase("federation")
      const { context, store } = yield* federation({ reply: "an answer" }, url)
      yield* Effect.gen(function*() {
        const registry = yield* AgentRegistry.AgentRegistry
        const governance = yield* Governance.Governance
        const delegation = yield* Delegation.Delegation
        const performance = yield* AgentPerformance.AgentPerformance
        yield* registry.add(agent("lead", { capabilities: ["plan"] }))
        yield* registry.add(agent("helper", { trustLevel: "autonomous" }))
        const updated = yield* registry.update("helper", { model: "mock-2" })
        assert.strictEqual(updated.version, 2)
        const duplicate = yield* Effect.flip(registry.add(agent("lead")))
        expect(duplicate.message).toContain("exists already")
        yield* governance.addPolicy({ scope: "hub", agent: "lead", artifactType: "ticket", allowedActions: ["read"] })
        const denied = yield* Effect.flip(governance.check("hub", "lead", "ticket", "auto_apply"))
        assert.strictEqual(denied.reason._tag, "PolicyDenied")
        assert.deepStrictEqual((yield* governance.audit(0)).scopes, [{ scope: "hub", denials: 1 }])
        const record = yield* delegation.delegate({ from: "lead", to: "helper", task: "t", tokenBudget: 1_000 })
        assert.strictEqual(record.status, "completed")
        assert.deepStrictEqual(yield* delegation.get(record.id), record)
        yield* performance.record({ subjectId: record.id, outcome: "accepted", confidence: 0.7 })
        const summary = yield* performance.performance("helper")
        assert.deepStrictEqual([summary.accepted, summary.meanConfidence], [1, 0.7])
        assert.deepStrictEqual((yield* registry.list).map((a) => [a.slug, a.version, a.capabilities]), [["helper", 2, []], ["lead", 1, ["plan"]]])
      }).pipe(Effect.provideContext(context))
      const badStatus = yield* Effect.exit(
        store.sql`INSERT INTO federation_delegations (id, from_agent, to_agent, scope, task, token_budget, status, tokens_used, created_at)
          VALUES ('d', 'a', 'b', 'default', 't', 10, 'lost', 0, 0)`
      )
      assert.isTrue(Exit.isFailure(badStatus))
      expect(pg.psql("federation", "SELECT component || ':' || id || ':' || name FROM llm_connect_migrations WHERE component = 'federation'"))
        .toBe("federation:1:create_federation")
    }), { timeout: 120_000 })
})
