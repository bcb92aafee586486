// Delegation chains of depth 3 with concurrent branches, under random provider faults and random
// budgets: the root budget is never exceeded, every delegation ends (none left pending), each
// stays within its own token budget, and what the children used is counted in their parents.
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Result, Schema } from "effect"
import { TestClock } from "effect/testing"
import * as Agent from "../../src/agent/Agent.ts"
import * as BudgetTracker from "../../src/budget/BudgetTracker.ts"
import * as AgentRegistry from "../../src/federation/AgentRegistry.ts"
import * as Delegation from "../../src/federation/Delegation.ts"
import type { LlmRequest } from "../../src/LlmRequest.ts"
import * as MockFault from "../../src/providers/mock/MockFault.ts"
import * as SqlStore from "../../src/store/SqlStore.ts"
import * as Tool from "../../src/Tool.ts"
import { agent, federation } from "./support.ts"

const between = (minimum: number, maximum: number) => Schema.Int.check(Schema.isBetween({ minimum, maximum }))

const Scenario = Schema.Struct({
  rootTokens: between(100, 6_000),
  // top-level delegations, run concurrently: lead -> a
  top: Schema.Array(between(50, 4_000)).check(Schema.isMinLength(1), Schema.isMaxLength(2)),
  // a's concurrent sub-delegations: a -> b1|b2|b3
  second: Schema.Array(Schema.Struct({ to: between(1, 3), budget: between(20, 3_000) })).check(Schema.isMaxLength(3)),
  // each b's one sub-delegation: b -> c
  third: between(10, 2_000),
  faults: Schema.Array(Schema.Literals(["ok", "ok", "ok", "500", "network"])).check(Schema.isMaxLength(30)),
  chargeAbandoned: Schema.Literals(["reserved", "input", "none"])
})

const delegateTool = Tool.make("delegate", { parameters: Schema.Struct({ to: Schema.String, budget: Schema.Int }) })
const assistantTurns = (request: LlmRequest) => request.messages.filter((message) => message.role === "assistant").length

interface Row {
  readonly id: string
  readonly parent_id: string | null
  readonly status: string
  readonly token_budget: unknown
  readonly tokens_used: unknown
}

describe("Delegation under random faults (property)", () => {
  it.effect.prop(
    "depth-3 chains with concurrent branches never exceed the root budget",
    [Scenario],
    ([scenario]) =>
      Effect.gen(function*() {
        const faults = Result.getOrThrow(MockFault.parseScript(scenario.faults))
        const toolCalls = (request: LlmRequest) => {
          if (assistantTurns(request) > 0) return undefined
          if (request.system === "you are a") {
            const calls = scenario.second.map((call) => ({ name: "delegate", arguments: { to: `b${call.to}`, budget: call.budget } }))
            return calls.length === 0 ? undefined : calls
          }
          if (request.system?.startsWith("you are b") === true) return [{ name: "delegate", arguments: { to: "c", budget: scenario.third } }]
          return undefined
        }
        const { context } = yield* federation({ latency: "10 millis", faults, reply: "an answer of a few words", toolCalls })
        yield* Effect.gen(function*() {
          const registry = yield* AgentRegistry.AgentRegistry
          const delegation = yield* Delegation.Delegation
          for (const slug of ["lead", "a", "b1", "b2", "b3", "c"]) yield* registry.add(agent(slug))
          // A receiving agent's tool: delegate part of the current delegation (its parent is inferred).
          const handler: Agent.ToolHandler = Agent.handle(delegateTool, ({ to, budget }) =>
            Effect.flatMap(Delegation.CurrentDelegation, (current) =>
              delegation.delegate({ from: current!.to, to, task: "a part of it", tokenBudget: budget, tools: [handler] })).pipe(
                Effect.map((record) => `${record.status}: ${record.result ?? record.error ?? ""}`)
              ))
          const root = yield* BudgetTracker.make({ totalTokens: scenario.rootTokens }, { chargeAbandoned: scenario.chargeAbandoned })
          const fiber = yield* Effect.forkChild(
            Effect.forEach(
              scenario.top,
              (budget) => delegation.delegate({ from: "lead", to: "a", task: "the whole task", tokenBudget: budget, tools: [handler] }),
              { concurrency: "unbounded" }
            ).pipe(BudgetTracker.withTracker(root))
          )
          yield* TestClock.adjust("1 minute")
          const top = yield* Fiber.join(fiber)

          const snapshot = yield* root.snapshot
          assert.isAtMost(snapshot.consumed.totalTokens, scenario.rootTokens)
          assert.deepStrictEqual([snapshot.reserved.totalTokens, snapshot.openReservations, snapshot.overshoots.length], [0, 0, 0])
          assert.strictEqual(top.reduce((sum, record) => sum + record.tokensUsed, 0), snapshot.consumed.totalTokens)

          const sql = (yield* SqlStore.SqlStore).sql
          const rows = yield* sql<Row>`SELECT id, parent_id, status, token_budget, tokens_used FROM federation_delegations`
          const used = new Map(rows.map((row) => [row.id, Number(row.tokens_used)]))
          for (const row of rows) {
            assert.notStrictEqual(row.status, "pending")
            assert.isAtMost(Number(row.tokens_used), Number(row.token_budget))
            const childrenUsed = rows.filter((child) => child.parent_id === row.id).reduce((sum, child) => sum + Number(child.tokens_used), 0)
            assert.isAtMost(childrenUsed, used.get(row.id)!)
          }
          // the depth never goes past 3 delegations (lead -> a -> b -> c)
          const depth = (id: string | null): number => id === null ? 0 : 1 + depth(rows.find((row) => row.id === id)!.parent_id)
          for (const row of rows) assert.isAtMost(depth(row.id), 3)
        }).pipe(Effect.provideContext(context))
      }),
    { timeout: 120_000, arbitrary: { runs: 60 } }
  )
})

describe("Delegation chains (deterministic)", () => {
  it.effect("with room and no faults, the chain reaches depth 3 with concurrent branches, all completed", () =>
    Effect.gen(function*() {
      const toolCalls = (request: LlmRequest) => {
        if (assistantTurns(request) > 0) return undefined
        if (request.system === "you are a") {
          return [{ name: "delegate", arguments: { to: "b1", budget: 2_000 } }, { name: "delegate", arguments: { to: "b2", budget: 2_000 } }]
        }
        if (request.system?.startsWith("you are b") === true) return [{ name: "delegate", arguments: { to: "c", budget: 1_000 } }]
        return undefined
      }
      const { context, control } = yield* federation({ reply: "an answer", toolCalls })
      yield* Effect.gen(function*() {
        const registry = yield* AgentRegistry.AgentRegistry
        const delegation = yield* Delegation.Delegation
        for (const slug of ["lead", "a", "b1", "b2", "c"]) yield* registry.add(agent(slug))
        const handler: Agent.ToolHandler = Agent.handle(delegateTool, ({ to, budget }) =>
          Effect.flatMap(Delegation.CurrentDelegation, (current) =>
            delegation.delegate({ from: current!.to, to, task: "part", tokenBudget: budget, tools: [handler] })).pipe(
              Effect.map((record) => record.status)
            ))
        const root = yield* BudgetTracker.make({ totalTokens: 20_000 })
        const top = yield* delegation.delegate({ from: "lead", to: "a", task: "whole", tokenBudget: 10_000, tools: [handler] }).pipe(
          BudgetTracker.withTracker(root)
        )
        const provenance = yield* delegation.tree(top.id)
        // siblings started at the same instant: compare them in agent order
        const shape = (node: Delegation.TreeNode): unknown => [
          node.delegation.to,
          node.delegation.status,
          [...node.children].sort((x, y) => x.delegation.to.localeCompare(y.delegation.to)).map(shape)
        ]
        assert.deepStrictEqual(shape(provenance.tree), [
          "a",
          "completed",
          [["b1", "completed", [["c", "completed", []]]], ["b2", "completed", [["c", "completed", []]]]]
        ])
        assert.strictEqual((yield* root.snapshot).consumed.totalTokens, top.tokensUsed)
        // a: 2 calls, b1/b2: 2 each, c: 1 each
        assert.strictEqual((yield* control.calls).length, 8)
      }).pipe(Effect.provideContext(context))
    }))
})
