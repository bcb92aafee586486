import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Option } from "effect"
import * as BudgetTracker from "../../src/budget/BudgetTracker.ts"
import type { LlmRequest } from "../../src/LlmRequest.ts"
import * as UsageLedger from "../../src/observability/UsageLedger.ts"
import * as Collective from "../../src/routing/Collective.ts"
import * as ProposalStore from "../../src/routing/ProposalStore.ts"
import * as SqlStore from "../../src/store/SqlStore.ts"
import { agent, type Fakes, makeFakes, routedStack } from "./support.ts"

const config = [
  "provider: alpha",
  "retry: { maxRetries: 0 }",
  "prices:",
  "  alpha/*: { inputPerMillion: 1, outputPerMillion: 1 }",
  "  beta/*: { inputPerMillion: 1, outputPerMillion: 1 }",
  "  gamma/*: { inputPerMillion: 1, outputPerMillion: 1 }",
  "  flaky/*: { inputPerMillion: 1, outputPerMillion: 1 }",
  "routes:",
  "  - taskType: review",
  "    priority: 10",
  "    prefer: [{ agent: lead }, { agent: second }, { provider: gamma, model: not-an-agent }]",
  "  - taskType: review",
  "    priority: 5",
  "    prefer: [{ agent: third }, { agent: lead }, { agent: retired }]"
].join("\n")

const agents = (providers: { readonly second?: string; readonly third?: string } = {}) => [
  agent("lead", { provider: "alpha", model: "alpha-lead", systemPrompt: "You lead." }),
  agent("second", { provider: providers.second ?? "beta", model: "second-model" }),
  agent("third", { provider: providers.third ?? "gamma", model: "third-model" }),
  agent("retired", { provider: "beta", active: false })
]

/** Each provider answers a structured request with `recommendation`, anything else with a synthesis. */
const answering = (fakes: Fakes, recommendations: Record<string, string>) => {
  for (const [provider, recommendation] of Object.entries(recommendations)) {
    fakes.answers.set(provider, (request: LlmRequest) => ({
      content: request.responseFormat !== undefined
        ? JSON.stringify({ recommendation, rationale: `${provider} thinks so`, confidence: 0.75 })
        : `synthesis by ${provider}`,
      usage: { inputTokens: 10, outputTokens: 5 }
    }))
  }
}

const withCollective = (fakes: Fakes, providers: Parameters<typeof agents>[0] = {}) =>
  Collective.layer().pipe(
    Layer.provideMerge(ProposalStore.layerMemory),
    Layer.provideMerge(routedStack(fakes, config, agents(providers)))
  )

describe("Collective", () => {
  it.effect("consensus: every active agent of the route answers once (models take no part); the lead synthesises; stored", () => {
    const fakes = makeFakes()
    answering(fakes, { alpha: "Ship it", beta: "  ship   IT ", gamma: "ship it" })
    return Effect.gen(function*() {
      const proposal = yield* Collective.run({ taskType: "review", prompt: "Ship on Friday?" })
      assert.strictEqual(proposal.consensusStatus, "consensus")
      assert.deepStrictEqual(proposal.contributions.map((c) => [c.agent, c.status, c.model, c.tokensIn, c.tokensOut]), [
        ["lead", "answered", "alpha-lead", 10, 5],
        ["second", "answered", "second-model", 10, 5],
        ["third", "answered", "third-model", 10, 5]
      ])
      assert.deepStrictEqual(JSON.parse(proposal.contributions[0]!.content), { recommendation: "Ship it", rationale: "alpha thinks so", confidence: 0.75 })
      assert.strictEqual(proposal.finalContent, "synthesis by alpha")
      assert.strictEqual(proposal.synthesizedBy, "lead")
      assert.strictEqual(proposal.tokensIn, 40)
      // Three answers and one synthesis; the model candidate and the inactive agent are not called.
      assert.deepStrictEqual(fakes.received.map((r) => [r.provider, r.model]).sort(), [
        ["alpha", "alpha-lead"],
        ["alpha", "alpha-lead"],
        ["beta", "second-model"],
        ["gamma", "third-model"]
      ])
      const lead = fakes.received.filter((r) => r.provider === "alpha")
      assert.isTrue(lead.every((r) => r.system?.startsWith("You lead.") === true && r.tags?.agent === "lead"))
      assert.include(lead.find((r) => r.prompt.includes("Contributions:"))?.prompt ?? "", "second: {")
      const stored = yield* ProposalStore.ProposalStore.use((store) => store.get(proposal.id))
      assert.deepStrictEqual(Option.getOrUndefined(stored), proposal)
    }).pipe(Effect.provide(withCollective(fakes)))
  })

  it.effect("divergent, with one failing agent recorded as failed (a majority answered)", () => {
    const fakes = makeFakes()
    answering(fakes, { alpha: "ship", gamma: "wait a week" })
    return Effect.gen(function*() {
      const proposal = yield* Collective.run({ taskType: "review", prompt: "Ship on Friday?" })
      assert.strictEqual(proposal.consensusStatus, "divergent")
      const failed = proposal.contributions.find((c) => c.agent === "second")
      assert.strictEqual(failed?.status, "failed")
      assert.include(failed?.error ?? "", "ServerError")
      assert.strictEqual(proposal.finalContent, "synthesis by alpha")
      assert.include(fakes.received.find((r) => r.prompt.includes("Contributions:"))?.prompt ?? "", "second: (no answer: ServerError")
    }).pipe(Effect.provide(withCollective(fakes, { second: "flaky" })))
  })

  it.effect("fewer than a quorum answered: failed, nothing synthesised, still stored", () => {
    const fakes = makeFakes()
    answering(fakes, { alpha: "ship" })
    return Effect.gen(function*() {
      const proposal = yield* Collective.run({ taskType: "review", prompt: "Ship on Friday?" })
      assert.strictEqual(proposal.consensusStatus, "failed")
      assert.isNull(proposal.finalContent)
      assert.deepStrictEqual(proposal.contributions.map((c) => c.status), ["answered", "failed", "failed"])
      assert.strictEqual(fakes.count("alpha"), 1)
      assert.isTrue(Option.isSome(yield* ProposalStore.ProposalStore.use((store) => store.get(proposal.id))))
    }).pipe(Effect.provide(withCollective(fakes, { second: "flaky", third: "flaky" })))
  })

  it.effect("a task type with no active agent is a Configuration error; nothing is sent", () => {
    const fakes = makeFakes()
    return Effect.gen(function*() {
      const error = yield* Effect.flip(Collective.run({ taskType: "other", prompt: "x" }))
      assert.strictEqual(error.reason._tag, "Configuration")
      assert.strictEqual(fakes.received.length, 0)
    }).pipe(Effect.provide(Collective.layer().pipe(
      Layer.provideMerge(ProposalStore.layerMemory),
      Layer.provideMerge(routedStack(fakes, `${config}\n  - { taskType: other, priority: 1, prefer: [{ provider: alpha, model: a }] }`, agents()))
    )))
  })

  it.effect("the whole proposal holds to one budget: every request sent is charged, and the total never passes the limit", () => {
    const fakes = makeFakes()
    answering(fakes, { alpha: "ship", beta: "ship", gamma: "ship" })
    return Effect.gen(function*() {
      const parent = yield* BudgetTracker.make({ totalTokens: 10_000 })
      // Each structured call reserves ~550 tokens (its schema counts as input) and uses 15: after the
      // first, the next reservation would pass the limit, so it is refused before it is sent.
      const limit = 555
      const proposal = yield* Collective.run({ taskType: "review", prompt: "Ship?", budget: { totalTokens: limit }, maxTokens: 5 }).pipe(
        BudgetTracker.withTracker(parent)
      )
      const snapshot = yield* parent.snapshot
      // Each request a fake received used 15 tokens, and each is counted in the parent through the child.
      assert.strictEqual(snapshot.consumed.totalTokens, 15 * fakes.received.length)
      assert.isAtMost(snapshot.consumed.totalTokens, limit)
      assert.isAbove(fakes.received.length, 0)
      assert.deepStrictEqual(snapshot.overshoots, [])
      const refused = proposal.contributions.filter((c) => c.error?.startsWith("BudgetExceeded") === true)
      // The limit is too small for all four calls: some were refused before they were sent.
      assert.isAtLeast(refused.length + (proposal.finalContent === null ? 1 : 0), 1)
    }).pipe(Effect.provide(withCollective(fakes)))
  })
})

describe("Collective under one budget, with agents in flight at once", () => {
  // Polls a condition between scheduler turns (bounded: a test that never gets there fails).
  const waitUntil = (check: Effect.Effect<boolean>, turns = 10_000): Effect.Effect<void> =>
    Effect.flatMap(check, (ok) =>
      ok ? Effect.void : turns === 0 ? Effect.die(new Error("condition never held")) : Effect.andThen(Effect.yieldNow, waitUntil(check, turns - 1)))

  it.effect("while one answer is in flight, the agents whose reservation would pass the proposal's limit are refused before anything is sent", () => {
    const fakes = makeFakes()
    fakes.answers.set("held", (request: LlmRequest) => ({
      content: request.responseFormat !== undefined
        ? JSON.stringify({ recommendation: "ship", rationale: "r", confidence: 0.5 })
        : "synthesis",
      usage: { inputTokens: 10, outputTokens: 5 }
    }))
    const everyAgentHeld = agents({ second: "held", third: "held" }).map((profile) =>
      profile.slug === "lead" ? { ...profile, provider: "held" } : profile
    )
    return Effect.gen(function*() {
      const ledger = yield* UsageLedger.makeMemory()
      const layer = Collective.layer().pipe(
        Layer.provideMerge(ProposalStore.layerMemory),
        Layer.provideMerge(routedStack(fakes, config.replace("  flaky/*", "  held/*: { inputPerMillion: 1, outputPerMillion: 1 }\n  flaky/*"), everyAgentHeld)),
        Layer.provide(Layer.succeed(UsageLedger.UsageLedger, ledger))
      )
      const parent = yield* BudgetTracker.make({ totalTokens: 10_000 })
      // A structured call needs ~550 tokens to be admitted: one fits in 1,000, two do not.
      const limit = 1_000
      fakes.holdUntil(Number.POSITIVE_INFINITY)
      const fiber = yield* Effect.forkChild(
        Collective.run({ taskType: "review", prompt: "Ship?", budget: { totalTokens: limit }, maxTokens: 5 }).pipe(
          BudgetTracker.withTracker(parent),
          Effect.provide(layer)
        )
      )
      // One answer held in flight; the other two refused by the proposal's budget (seen by the ledger).
      const refusals = Effect.map(ledger.entries(), (entries) => entries.filter((entry) => entry.outcome === "BudgetExceeded").length)
      yield* waitUntil(Effect.map(refusals, (count) => count === 2 && fakes.received.length === 1))
      const during = yield* parent.snapshot
      assert.strictEqual(during.openReservations, 1)
      assert.isAtMost(during.reserved.totalTokens, limit)
      fakes.release()
      const proposal = yield* Fiber.join(fiber)
      assert.deepStrictEqual(proposal.contributions.map((c) => c.status), ["answered", "failed", "failed"])
      assert.isTrue(proposal.contributions.slice(1).every((c) => c.error?.startsWith("BudgetExceeded") === true))
      // One of three answered: below the quorum, nothing synthesised. One request sent, charged.
      assert.strictEqual(proposal.consensusStatus, "failed")
      assert.strictEqual(fakes.count("held"), 1)
      const after = yield* parent.snapshot
      assert.strictEqual(after.consumed.totalTokens, 15)
      assert.deepStrictEqual(after.overshoots, [])
    })
  })
})

describe("ProposalStore in SQLite", () => {
  it.effect("stores a proposal with its contributions; the CHECK refuses an unknown consensus status", () =>
    Effect.gen(function*() {
      const sqlStore = yield* SqlStore.make(":memory:")
      const store = yield* ProposalStore.make(sqlStore)
      const proposal: ProposalStore.Proposal = {
        id: "p1",
        scope: "default",
        taskType: "review",
        consensusStatus: "divergent",
        contributions: [
          { agent: "a", status: "answered", content: "{}", tokensIn: 1, tokensOut: 2, model: "m", recommendation: "x", confidence: 0.5 },
          { agent: "b", status: "failed", content: "", tokensIn: 0, tokensOut: 0, model: "m", error: "ServerError: down" }
        ],
        finalContent: "final",
        synthesizedBy: "a",
        tokensIn: 1,
        tokensOut: 2,
        createdAt: 1_700_000_000_000
      }
      yield* store.save(proposal)
      assert.deepStrictEqual(Option.getOrUndefined(yield* store.get("p1")), proposal)
      assert.isTrue(Option.isNone(yield* store.get("nope")))
      const refused = yield* Effect.flip(store.save({ ...proposal, id: "p2", consensusStatus: "maybe" as ProposalStore.ConsensusStatus }))
      assert.include(refused.message, "cannot store the proposal")
      assert.isTrue(Option.isNone(yield* store.get("p2")))
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)))
})
