// A federation of agents on the mock provider: a registry, a governance policy that refuses one
// agent (audited, nothing sent), a delegation chain lead -> researcher -> summariser under one
// root budget (the researcher delegates from a tool), and performance records.
// Runs offline: npm run example examples/agent-federation.ts
// expect: registered: lead, researcher, summariser
// expect: denied: PolicyDenied (1 denial in scope hub-1)
// expect: lead -> researcher: completed
// expect: researcher -> summariser: completed
// expect: root budget: used
// expect: calibration of researcher: 0.986
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Layer, References, Schema } from "effect"
import {
  Agent,
  AgentModels,
  AgentPerformance,
  AgentRegistry,
  BudgetLanguageModel,
  BudgetTracker,
  Delegation,
  Governance,
  MockLanguageModel,
  SqlStore,
  Tool
} from "llm-connect"
import type { LlmRequest } from "llm-connect/LlmRequest"

// The researcher asks for one delegation on its first turn; every agent then answers.
const delegateTool = Tool.make("delegate", { parameters: Schema.Struct({ to: Schema.String, budget: Schema.Int }) })
const toolCalls = (request: LlmRequest) =>
  request.system === "You research." && !request.messages.some((message) => message.role === "assistant")
    ? [{ name: "delegate", arguments: { to: "summariser", budget: 800 } }]
    : undefined

const program = Effect.gen(function*() {
  const registry = yield* AgentRegistry.AgentRegistry
  const governance = yield* Governance.Governance
  const delegation = yield* Delegation.Delegation
  const performance = yield* AgentPerformance.AgentPerformance

  yield* registry.add({ slug: "lead", name: "Lead", provider: "mock", model: "mock-1", systemPrompt: "You plan." })
  yield* registry.add({ slug: "researcher", name: "Researcher", provider: "mock", model: "mock-1", systemPrompt: "You research." })
  yield* registry.add({ slug: "summariser", name: "Summariser", provider: "mock", model: "mock-1", systemPrompt: "You summarise." })
  yield* Console.log(`registered: ${(yield* registry.list).map((agent) => agent.slug).sort().join(", ")}`)

  // In tenant hub-1 the summariser may read and propose, not delegate.
  yield* governance.addPolicy({ scope: "hub-1", agent: "summariser", artifactType: "*", allowedActions: ["read", "propose"] })
  const denied = yield* Effect.flip(delegation.delegate({ from: "summariser", to: "lead", scope: "hub-1", task: "x", tokenBudget: 100 }))
  const audit = yield* governance.audit(0)
  yield* Console.log(`denied: ${denied.reason._tag} (${audit.total} denial in scope ${audit.scopes[0]?.scope})`)

  // A tool of the receiving agent delegates part of its task (its parent is the current delegation).
  const handler: Agent.ToolHandler = Agent.handle(delegateTool, ({ to, budget }) =>
    Effect.flatMap(Delegation.CurrentDelegation, (current) =>
      delegation.delegate({ from: current!.to, to, task: "Summarise the sources", tokenBudget: budget })).pipe(
        Effect.tap((record) => Console.log(`${record.from} -> ${record.to}: ${record.status}`)),
        Effect.map((record) => record.result ?? "")
      ))
  const root = yield* BudgetTracker.make({ totalTokens: 5_000 })
  const top = yield* delegation.delegate({ from: "lead", to: "researcher", task: "Find three sources", tokenBudget: 3_000, tools: [handler] })
    .pipe(BudgetTracker.withTracker(root))
  yield* Console.log(`${top.from} -> ${top.to}: ${top.status}, ${top.tokensUsed} tokens`)
  yield* Console.log(`root budget: used ${(yield* root.snapshot).consumed.totalTokens} of 5000 tokens`)

  // Outcomes of the researcher's proposals, with the confidence each claimed.
  for (const [outcome, confidence] of [["accepted", 0.9], ["accepted", 0.8], ["rejected", 0.3], ["rejected", 0.2]] as const) {
    yield* performance.record({ subjectId: top.id, outcome, confidence })
  }
  const summary = yield* performance.performance("researcher")
  yield* Console.log(`calibration of researcher: ${summary.calibration?.toFixed(3)} (acceptance ${summary.acceptanceRatio})`)
})

// Every agent's model: the mock behind the budget layer (a configuration's stack goes here:
// AgentModels.layerFactory over Stack.fromConfig).
const Models = Layer.unwrap(Effect.map(
  MockLanguageModel.make({ reply: "a short answer", toolCalls }),
  ({ model }) => AgentModels.layerFrom(() => Effect.succeed(BudgetLanguageModel.wrap(undefined)(model)))
))

const Federation = Layer.mergeAll(Delegation.layer, AgentPerformance.layer).pipe(
  Layer.provideMerge(Layer.mergeAll(AgentRegistry.layer, Governance.layer)),
  Layer.provideMerge(Models),
  Layer.provideMerge(SqlStore.layer(":memory:"))
)

// The budget warns when it lowers a call's default output cap to what a delegation can afford:
// expected here, so only errors are logged.
program.pipe(Effect.provide(Federation), Effect.provide(Layer.succeed(References.MinimumLogLevel, "Error")), NodeRuntime.runMain)
