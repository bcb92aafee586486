import { assert, describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer, Option } from "effect"
import { TestClock } from "effect/testing"
import * as BudgetTracker from "../../src/budget/BudgetTracker.ts"
import * as AgentPerformance from "../../src/federation/AgentPerformance.ts"
import * as AgentRegistry from "../../src/federation/AgentRegistry.ts"
import * as Delegation from "../../src/federation/Delegation.ts"
import * as FederationStore from "../../src/federation/FederationStore.ts"
import * as Governance from "../../src/federation/Governance.ts"
import * as AgentLookup from "../../src/routing/AgentLookup.ts"
import * as SqlStore from "../../src/store/SqlStore.ts"
import { agent, federation } from "./support.ts"

const reasonOf = (exit: Exit.Exit<unknown, unknown>) => {
  if (Exit.isSuccess(exit)) return "success"
  const error = exit.cause.reasons[0]
  return error?._tag === "Fail" && typeof error.error === "object" && error.error !== null && "reason" in error.error
    ? (error.error.reason as { readonly _tag: string })._tag
    : "other"
}

describe("AgentRegistry", () => {
  it.effect("adds, lists, shows, updates (version bump) and deactivates; the lookup reads the same agents", () =>
    Effect.gen(function*() {
      const { context } = yield* federation()
      yield* Effect.gen(function*() {
        const registry = yield* AgentRegistry.AgentRegistry
        const added = yield* registry.add(agent("triage", { capabilities: ["triage", "sort"], trustLevel: "elevated" }))
        assert.deepStrictEqual([added.version, added.active, added.trustLevel, added.capabilities], [1, true, "elevated", ["triage", "sort"]])
        yield* registry.add(agent("writer"))
        yield* TestClock.adjust("1 second")
        const updated = yield* registry.update("triage", { model: "mock-2", systemPrompt: null })
        assert.deepStrictEqual([updated.version, updated.model, updated.systemPrompt], [2, "mock-2", undefined])
        assert.isAbove(updated.updatedAt, updated.createdAt)
        // nothing changed: no bump
        assert.strictEqual((yield* registry.update("triage", { model: "mock-2" })).version, 2)
        const off = yield* registry.deactivate("writer")
        assert.deepStrictEqual([off.active, off.version], [false, 2])
        const all = yield* registry.list
        assert.deepStrictEqual(all.map((a) => [a.slug, a.active, a.version]), [["triage", true, 2], ["writer", false, 2]])
        assert.strictEqual((yield* registry.show("writer")).trustLevel, "advisory")
        const lookup = yield* AgentLookup.AgentLookup
        assert.strictEqual(Option.getOrThrow(yield* lookup.find("triage")).model, "mock-2")
        assert.isTrue(Option.isNone(yield* lookup.find("nobody")))
        // the same agents through the store alone
        const viaStore = yield* AgentLookup.AgentLookup.pipe(
          Effect.provide(AgentRegistry.lookupLayerStore.pipe(Layer.provide(Layer.succeed(SqlStore.SqlStore, yield* SqlStore.SqlStore))))
        )
        assert.strictEqual(Option.getOrThrow(yield* viaStore.find("writer")).active, false)
      }).pipe(Effect.provideContext(context))
    }))

  it.effect("refuses a duplicate slug, a bad trust level, a bad slug and an unknown agent, writing nothing", () =>
    Effect.gen(function*() {
      const { context, store } = yield* federation()
      yield* Effect.gen(function*() {
        const registry = yield* AgentRegistry.AgentRegistry
        yield* registry.add(agent("triage"))
        const duplicate = yield* Effect.flip(registry.add(agent("triage", { name: "other" })))
        expect(duplicate.message).toContain("an agent with slug triage exists already")
        expect(duplicate.reason._tag).toBe("Configuration")
        const trust = yield* Effect.flip(registry.add(agent("b", { trustLevel: "god" })))
        expect(trust.message).toContain("advisory, elevated, autonomous")
        const slug = yield* Effect.flip(registry.add(agent("bad slug")))
        expect(slug.message).toContain("--slug")
        const unknown = yield* Effect.flip(registry.update("nobody", { name: "x" }))
        expect(unknown.message).toContain("no agent is registered as \"nobody\"")
        const rows = yield* store.sql<{ readonly n: number }>`SELECT COUNT(*) AS n FROM federation_agents`
        assert.strictEqual(Number(rows[0]!.n), 1)
        assert.strictEqual((yield* registry.show("triage")).name, "Agent triage")
      }).pipe(Effect.provideContext(context))
    }))

  it.effect("the CHECK constraints refuse a trust level or status outside their sets", () =>
    Effect.gen(function*() {
      const { store } = yield* federation()
      const badTrust = yield* Effect.exit(store.sql`INSERT INTO federation_agents VALUES ('x','x','','mock','m',NULL,'god','[]',1,1,0,0)`)
      assert.isTrue(Exit.isFailure(badTrust))
      const badStatus = yield* Effect.exit(
        store.sql`INSERT INTO federation_delegations (id, from_agent, to_agent, scope, task, token_budget, status, tokens_used, created_at)
          VALUES ('d','a','b','default','t',10,'lost',0,0)`
      )
      assert.isTrue(Exit.isFailure(badStatus))
    }))
})

describe("Governance", () => {
  it.effect("no policy permits; a policy decides; a denial is audited, sends nothing and fails PolicyDenied", () =>
    Effect.gen(function*() {
      const { context, control } = yield* federation({ reply: "done" })
      yield* Effect.gen(function*() {
        const registry = yield* AgentRegistry.AgentRegistry
        const governance = yield* Governance.Governance
        const delegation = yield* Delegation.Delegation
        yield* registry.add(agent("lead"))
        yield* registry.add(agent("helper"))
        assert.deepStrictEqual(yield* governance.check("hub-1", "lead", "ticket", "auto_apply"), { allowed: true, policyId: undefined })
        const policy = yield* governance.addPolicy({ scope: "hub-1", agent: "lead", artifactType: "ticket", allowedActions: ["read,propose"] })
        assert.deepStrictEqual(policy.allowedActions, ["read", "propose"])
        assert.strictEqual((yield* governance.check("hub-1", "lead", "ticket", "propose")).policyId, policy.id)
        const denied = yield* Effect.flip(governance.check("hub-1", "lead", "ticket", "auto_apply"))
        assert.strictEqual(denied.reason._tag, "PolicyDenied")
        expect(denied.message).toContain("lead may not auto_apply ticket in scope hub-1")
        // another scope, another artifact type: no policy, permitted
        assert.isTrue((yield* governance.check("hub-2", "lead", "ticket", "auto_apply")).allowed)
        // a wildcard policy for delegation; the delegation is refused before anything is sent
        yield* governance.addPolicy({ scope: "hub-1", agent: "lead", artifactType: "*", allowedActions: ["read"] })
        const refused = yield* Effect.exit(delegation.delegate({ from: "lead", to: "helper", scope: "hub-1", task: "do it", tokenBudget: 500 }))
        assert.strictEqual(reasonOf(refused), "PolicyDenied")
        assert.strictEqual((yield* control.calls).length, 0)
        const rows = yield* (yield* FederationStoreSql)`SELECT COUNT(*) AS n FROM federation_delegations`
        assert.strictEqual(Number(rows[0]!.n), 0)
        // a new policy for the same triple replaces the old one
        yield* governance.addPolicy({ scope: "hub-1", agent: "lead", artifactType: "ticket", allowedActions: ["auto_apply"] })
        assert.isTrue((yield* governance.check("hub-1", "lead", "ticket", "auto_apply")).allowed)
        const listed = yield* governance.listPolicies("hub-1")
        assert.deepStrictEqual(listed.map((p) => [p.artifactType, p.active]), [["*", true], ["ticket", false], ["ticket", true]])
        yield* Effect.flip(governance.check("hub-3", "x", "y", "read")).pipe(Effect.option)
        const report = yield* governance.audit(0)
        assert.deepStrictEqual(report, { since: 0, total: 2, scopes: [{ scope: "hub-1", denials: 2 }] })
        const bad = yield* Effect.flip(governance.addPolicy({ scope: "hub-1", agent: "lead", artifactType: "x", allowedActions: ["destroy"] }))
        expect(bad.message).toContain("read, propose, delegate, auto_apply")
      }).pipe(Effect.provideContext(context))
    }))
})

// The store's client, from the context the services were built on.
const FederationStoreSql = Effect.map(SqlStore.SqlStore, (store) => store.sql)

describe("Delegation", () => {
  it.effect("runs the receiving agent under the child budget and records the result, tokens and times", () =>
    Effect.gen(function*() {
      const { context, control } = yield* federation({ reply: (request) => `answer from ${request.system}` })
      yield* Effect.gen(function*() {
        const registry = yield* AgentRegistry.AgentRegistry
        const delegation = yield* Delegation.Delegation
        yield* registry.add(agent("lead"))
        yield* registry.add(agent("helper", { systemPrompt: "helper prompt" }))
        const record = yield* delegation.delegate({ from: "lead", to: "helper", task: "summarise", tokenBudget: 5_000 })
        assert.strictEqual(record.status, "completed")
        assert.strictEqual(record.result, "answer from helper prompt")
        assert.isAbove(record.tokensUsed, 0)
        assert.isDefined(record.completedAt)
        const calls = yield* control.calls
        assert.strictEqual(calls.length, 1)
        assert.deepStrictEqual(calls[0]!.metadata?.tags, { agent: "helper", delegation: record.id })
        assert.strictEqual(calls[0]!.metadata?.conversationId, record.id)
        assert.deepStrictEqual(yield* delegation.get(record.id), record)
        assert.deepStrictEqual(FederationStore.delegationStatuses, ["pending", "completed", "failed", "cancelled"])
      }).pipe(Effect.provideContext(context))
    }))

  it.effect("refuses cycles, a parent of another agent, a bigger budget than the parent's, unknown and inactive agents", () =>
    Effect.gen(function*() {
      const { context, control } = yield* federation({ reply: "ok" })
      yield* Effect.gen(function*() {
        const registry = yield* AgentRegistry.AgentRegistry
        const delegation = yield* Delegation.Delegation
        for (const slug of ["a", "b", "c", "off"]) yield* registry.add(agent(slug))
        yield* registry.deactivate("off")
        const ab = yield* delegation.delegate({ from: "a", to: "b", task: "t", tokenBudget: 1_000 })
        const bc = yield* delegation.delegate({ from: "b", to: "c", task: "t", tokenBudget: 500, parentId: ab.id })
        const sent = (yield* control.calls).length
        const cycle = yield* Effect.flip(delegation.delegate({ from: "c", to: "a", task: "t", tokenBudget: 100, parentId: bc.id }))
        expect(cycle.message).toContain("cycle: a -> b -> c -> a")
        const self = yield* Effect.flip(delegation.delegate({ from: "a", to: "a", task: "t", tokenBudget: 100 }))
        expect(self.message).toContain("cycle: a -> a")
        const wrongFrom = yield* Effect.flip(delegation.delegate({ from: "a", to: "c", task: "t", tokenBudget: 100, parentId: ab.id }))
        expect(wrongFrom.message).toContain("only the agent it was given to")
        const tooBig = yield* Effect.flip(delegation.delegate({ from: "b", to: "c", task: "t", tokenBudget: 2_000, parentId: ab.id }))
        expect(tooBig.message).toContain("more than the parent delegation's 1000")
        const unknown = yield* Effect.flip(delegation.delegate({ from: "a", to: "zz", task: "t", tokenBudget: 100 }))
        expect(unknown.message).toContain("no agent is registered as \"zz\"")
        const inactive = yield* Effect.flip(delegation.delegate({ from: "a", to: "off", task: "t", tokenBudget: 100 }))
        expect(inactive.message).toContain("agent off is inactive")
        const zero = yield* Effect.flip(delegation.delegate({ from: "a", to: "b", task: "t", tokenBudget: 0 }))
        expect(zero.message).toContain("--token-budget is 0")
        for (const error of [cycle, self, wrongFrom, tooBig, unknown, inactive, zero]) assert.strictEqual(error.reason._tag, "Configuration")
        assert.strictEqual((yield* control.calls).length, sent)
        const sql = yield* FederationStoreSql
        assert.strictEqual(Number((yield* sql`SELECT COUNT(*) AS n FROM federation_delegations`)[0]!.n), 2)
        const provenance = yield* delegation.tree(bc.id)
        assert.deepStrictEqual(provenance.ancestors.map((d) => d.id), [ab.id])
        const top = yield* delegation.tree(ab.id)
        assert.deepStrictEqual(top.tree.children.map((node) => node.delegation.id), [bc.id])
      }).pipe(Effect.provideContext(context))
    }))

  it.effect("a budget too small fails the delegation (recorded failed, nothing over it); a provider fault too", () =>
    Effect.gen(function*() {
      const { context, control } = yield* federation({ reply: "a long answer of many many words that costs tokens" })
      yield* Effect.gen(function*() {
        const registry = yield* AgentRegistry.AgentRegistry
        const delegation = yield* Delegation.Delegation
        yield* registry.add(agent("a"))
        yield* registry.add(agent("b"))
        const small = yield* delegation.delegate({ from: "a", to: "b", task: "t", tokenBudget: 3 })
        assert.strictEqual(small.status, "failed")
        expect(small.error).toContain("BudgetExceeded")
        assert.isAtMost(small.tokensUsed, 3)
        yield* control.pushFaults([{ _tag: "InvalidRequest" }])
        const faulted = yield* delegation.delegate({ from: "a", to: "b", task: "t", tokenBudget: 1_000 })
        assert.strictEqual(faulted.status, "failed")
        assert.isDefined(faulted.error)
      }).pipe(Effect.provideContext(context))
    }))

  it.effect("interrupting a delegation records it cancelled", () =>
    Effect.gen(function*() {
      const { context } = yield* federation({ reply: "slow", latency: "10 seconds" })
      yield* Effect.gen(function*() {
        const registry = yield* AgentRegistry.AgentRegistry
        const delegation = yield* Delegation.Delegation
        yield* registry.add(agent("a"))
        yield* registry.add(agent("b"))
        const fiber = yield* Effect.forkChild(delegation.delegate({ from: "a", to: "b", task: "t", tokenBudget: 1_000 }))
        yield* TestClock.adjust("1 second")
        yield* Fiber.interrupt(fiber)
        const sql = yield* FederationStoreSql
        const rows = yield* sql<{ readonly status: string; readonly completed_at: unknown }>`SELECT status, completed_at FROM federation_delegations`
        assert.deepStrictEqual(rows.map((row) => row.status), ["cancelled"])
        assert.isNotNull(rows[0]!.completed_at)
      }).pipe(Effect.provideContext(context))
    }))

  it.effect("a top-level delegation is a child of the caller's budget", () =>
    Effect.gen(function*() {
      const { context } = yield* federation({ reply: "four words of answer" })
      yield* Effect.gen(function*() {
        const registry = yield* AgentRegistry.AgentRegistry
        const delegation = yield* Delegation.Delegation
        yield* registry.add(agent("a"))
        yield* registry.add(agent("b"))
        const root = yield* BudgetTracker.make({ totalTokens: 100_000 })
        const record = yield* delegation.delegate({ from: "a", to: "b", task: "t", tokenBudget: 5_000 }).pipe(BudgetTracker.withTracker(root))
        const snapshot = yield* root.snapshot
        assert.strictEqual(snapshot.consumed.totalTokens, record.tokensUsed)
      }).pipe(Effect.provideContext(context))
    }))
})

describe("AgentPerformance", () => {
  it("calibration is Pearson(confidence, accepted) against hand-computed values", () => {
    // accepted at 0.9, 0.8; rejected at 0.3, 0.2: mean x 0.55, mean y 0.5
    // dx = .35 .25 -.25 -.35; dy = .5 .5 -.5 -.5; cov = Σdx·dy = .6; varX = Σdx² = .37; varY = Σdy² = 1
    const summary = AgentPerformance.summarize([
      { outcome: "accepted", confidence: 0.9 },
      { outcome: "accepted", confidence: 0.8 },
      { outcome: "rejected", confidence: 0.3 },
      { outcome: "rejected", confidence: 0.2 },
      { outcome: "revised", confidence: 0.5 },
      { outcome: "accepted", confidence: undefined }
    ])
    expect(summary.calibration).toBeCloseTo(0.6 / Math.sqrt(0.37), 12)
    expect(summary.calibration).toBeCloseTo(0.9863939238, 9)
    assert.deepStrictEqual([summary.accepted, summary.rejected, summary.revised, summary.total], [3, 2, 1, 6])
    expect(summary.acceptanceRatio).toBeCloseTo(0.5, 12)
    expect(summary.meanConfidence).toBeCloseTo((0.9 + 0.8 + 0.3 + 0.2 + 0.5) / 5, 12)
    // an over-confident agent: negative
    const inverted = AgentPerformance.summarize([
      { outcome: "accepted", confidence: 0.1 },
      { outcome: "accepted", confidence: 0.2 },
      { outcome: "rejected", confidence: 0.9 },
      { outcome: "rejected", confidence: 0.6 }
    ])
    // mean x .45: dx = -.35 -.25 .45 .15; dy = .5 .5 -.5 -.5; cov = -.6; varX = .41; varY = 1
    expect(inverted.calibration).toBeCloseTo(-0.6 / Math.sqrt(0.41), 12)
  })

  it("calibration is undefined (not 0) with fewer than 2 of each, or no variance", () => {
    const few = AgentPerformance.summarize([
      { outcome: "accepted", confidence: 0.9 },
      { outcome: "accepted", confidence: 0.8 },
      { outcome: "rejected", confidence: 0.3 },
      { outcome: "rejected", confidence: undefined }
    ])
    assert.isUndefined(few.calibration)
    expect(few.calibrationNote).toContain("has 2 and 1")
    const flat = AgentPerformance.summarize([
      { outcome: "accepted", confidence: 0.5 },
      { outcome: "accepted", confidence: 0.5 },
      { outcome: "rejected", confidence: 0.5 },
      { outcome: "rejected", confidence: 0.5 }
    ])
    assert.isUndefined(flat.calibration)
    expect(flat.calibrationNote).toContain("every confidence is the same")
    const none = AgentPerformance.summarize([])
    assert.deepStrictEqual([none.acceptanceRatio, none.meanConfidence, none.calibration], [undefined, undefined, undefined])
  })

  it.effect("records outcomes (by delegation id or named agent), within the window, and stores a snapshot", () =>
    Effect.gen(function*() {
      const { context } = yield* federation({ reply: "ok" })
      yield* Effect.gen(function*() {
        const registry = yield* AgentRegistry.AgentRegistry
        const delegation = yield* Delegation.Delegation
        const performance = yield* AgentPerformance.AgentPerformance
        yield* registry.add(agent("a"))
        yield* registry.add(agent("b"))
        const record = yield* delegation.delegate({ from: "a", to: "b", task: "t", tokenBudget: 1_000 })
        const old = yield* performance.record({ subjectId: record.id, outcome: "rejected", confidence: 0.99 })
        assert.strictEqual(old.agent, "b")
        yield* TestClock.adjust("40 days")
        for (const [outcome, confidence] of [["accepted", 0.9], ["accepted", 0.8], ["rejected", 0.3], ["rejected", 0.2]] as const) {
          yield* performance.record({ subjectId: "proposal-1", agent: "b", outcome, confidence })
        }
        const summary = yield* performance.performance("b")
        assert.deepStrictEqual([summary.accepted, summary.rejected, summary.total], [2, 2, 4])
        expect(summary.calibration).toBeCloseTo(0.9863939238, 9)
        const sql = yield* FederationStoreSql
        const snapshots = yield* sql<{ readonly calibration: number; readonly accepted: unknown }>`SELECT calibration, accepted FROM federation_performance_snapshots`
        assert.strictEqual(snapshots.length, 1)
        expect(snapshots[0]!.calibration).toBeCloseTo(0.9863939238, 9)
        const bad = yield* Effect.flip(performance.record({ subjectId: "x", agent: "b", outcome: "maybe" }))
        expect(bad.message).toContain("accepted, rejected, revised")
        const conf = yield* Effect.flip(performance.record({ subjectId: "x", agent: "b", outcome: "accepted", confidence: 1.5 }))
        expect(conf.message).toContain("from 0 to 1")
        const orphan = yield* Effect.flip(performance.record({ subjectId: "nope", outcome: "accepted" }))
        expect(orphan.message).toContain("no delegation has id")
      }).pipe(Effect.provideContext(context))
    }))
})

describe("FederationStore.parseWindow", () => {
  it.effect("reads days, hours and minutes; refuses anything else naming the flag", () =>
    Effect.gen(function*() {
      assert.strictEqual(yield* FederationStore.parseWindow("7d", "--since"), 7 * 86_400_000)
      assert.strictEqual(yield* FederationStore.parseWindow("12h", "--since"), 12 * 3_600_000)
      assert.strictEqual(yield* FederationStore.parseWindow("90m", "--window"), 90 * 60_000)
      for (const bad of ["0d", "7", "-1d", "1w", "9999d", "d", ""]) {
        const error = yield* Effect.flip(FederationStore.parseWindow(bad, "--since"))
        expect(error.message).toContain("--since")
        assert.strictEqual(error.reason._tag, "Configuration")
      }
    }))
})
