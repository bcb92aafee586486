// The federation consumer's four invocation points, in one program on the mock provider:
// 1. resolve the agent for a task type (routing rules naming registered agents),
// 2. the governance check (a denied agent: audit row, PolicyDenied, nothing sent),
// 3. the call through the chosen agent (its model and system prompt, whole stack, tokens counted),
// 4. a collective proposal with every routed agent's contribution and tokens.
// Agents and policies live in the registry's SQL store (here in memory; the ledger's file in the CLI).
// Runs offline: npm run example examples/consumer-flow.ts
// expect: 1. triage -> agent triager (mock/mock-triage)
// expect: 2. review in hub-1: PolicyDenied; audit: 1 denial
// expect: 3. triage call answered by mock-triage
// expect: 4. proposal consensus: lead, reviewer answered
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Layer } from "effect"
import {
  AgentRegistry,
  Collective,
  Governance,
  LanguageModel,
  MockLanguageModel,
  ProposalStore,
  ProviderRegistry,
  Router,
  RoutesConfig,
  SqlStore,
  Stack
} from "llm-connect"

const reply = JSON.stringify({ recommendation: "Escalate", rationale: "the customer is blocked", confidence: 0.7 })

const program = Effect.gen(function*() {
  const routes = yield* RoutesConfig.make([
    { taskType: "triage", priority: 10, prefer: [{ agent: "triager" }] },
    { taskType: "review", priority: 10, prefer: [{ agent: "reviewer" }, { agent: "lead" }] }
  ])
  // The registry and governance on one store; the router reads agents (and asks governance) through it.
  const store = Layer.effect(SqlStore.SqlStore, SqlStore.make(":memory:"))
  const federation = Layer.mergeAll(AgentRegistry.layer, Governance.layer, AgentRegistry.lookupLayerStore).pipe(Layer.provideMerge(store))
  const stack = Stack.layerFactory({ provider: { provider: "mock", options: { reply } } }).pipe(
    Layer.provide(ProviderRegistry.layer([MockLanguageModel.provider]))
  )
  const router = Router.layer(routes).pipe(Layer.provideMerge(Layer.merge(stack, federation)))
  const layer = Collective.layer().pipe(Layer.provideMerge(Layer.merge(router, ProposalStore.layerMemory)))

  yield* Effect.gen(function*() {
    const registry = yield* AgentRegistry.AgentRegistry
    const governance = yield* Governance.Governance
    yield* registry.add({ slug: "triager", name: "Triager", provider: "mock", model: "mock-triage", systemPrompt: "You sort tickets." })
    yield* registry.add({ slug: "reviewer", name: "Reviewer", provider: "mock", model: "mock-review", systemPrompt: "You review." })
    yield* registry.add({ slug: "lead", name: "Lead", provider: "mock", model: "mock-lead", systemPrompt: "You decide." })
    // In the consumer's hub-1 the reviewer may read, not propose.
    yield* governance.addPolicy({ scope: "hub-1", agent: "reviewer", artifactType: "prompt", allowedActions: ["read"] })

    // 1. Resolve.
    const trail = yield* Router.explain("triage")
    yield* Console.log(`1. triage -> agent ${trail.chosen?.agent} (${trail.chosen?.provider}/${trail.chosen?.model})`)

    // 2. Governance: the routed reviewer is refused in hub-1 before anything is sent.
    const routed = Effect.provide(Router.layerLanguageModel)
    const denied = yield* Effect.flip(
      LanguageModel.generate({ prompt: "Review this fix", metadata: { taskType: "review", tags: { [Router.SCOPE_TAG]: "hub-1" } } }).pipe(routed)
    )
    const audit = yield* governance.audit(0)
    yield* Console.log(`2. review in hub-1: ${denied.reason._tag}; audit: ${audit.total} denial`)

    // 3. The call through the chosen agent.
    const answered = yield* LanguageModel.generate({ prompt: "Printer on fire", metadata: { taskType: "triage" } }).pipe(routed)
    yield* Console.log(`3. triage call answered by ${answered.model} (${answered.usage.totalTokens} tokens)`)

    // 4. A collective proposal (scope default: every routed agent may propose there).
    const proposal = yield* Collective.run({ taskType: "review", prompt: "Escalate ticket 42?" })
    const answeredBy = proposal.contributions.filter((c) => c.status === "answered").map((c) => c.agent).sort()
    const tokens = proposal.contributions.reduce((sum, c) => sum + c.tokensIn + c.tokensOut, 0)
    yield* Console.log(`4. proposal ${proposal.consensusStatus}: ${answeredBy.join(", ")} answered (${tokens} tokens)`)
  }).pipe(Effect.provide(layer))
})

program.pipe(NodeRuntime.runMain)
