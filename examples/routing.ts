// Routing policies and collective proposals (issue 18): resolve who serves a task type (and why
// the others were skipped), call through the route, and let every routed agent answer a task
// before the lead agent synthesises. Runs offline on the mock: npm run example examples/routing.ts
// expect: triage: chosen mock/mock-small; skipped mock/mock-big (over-max-cost), agent ghost (agent-unknown)
// expect: routed call served by mock-small
// expect: collective: consensus from lead, reviewer; synthesised by lead
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Layer } from "effect"
import {
  AgentLookup,
  Collective,
  LanguageModel,
  MockLanguageModel,
  ProposalStore,
  ProviderRegistry,
  Router,
  RoutesConfig,
  Stack
} from "llm-connect"

// The mock answers every structured question with the same recommendation (and the synthesis with it too).
const reply = JSON.stringify({ recommendation: "Ship on Monday", rationale: "the tests are green", confidence: 0.8 })

const program = Effect.gen(function*() {
  // In llm-connect.yaml these are the `routes:` section; in code they are checked the same way.
  const routes = yield* RoutesConfig.make([
    {
      taskType: "triage",
      priority: 10,
      maxCostPer1k: 0.002, // the mock costs $0.001 input and $0.002 output per 1k tokens by default
      prefer: [{ provider: "mock", model: "mock-big" }, { agent: "ghost" }, { provider: "mock", model: "mock-small" }],
      allowUnpriced: false
    },
    { taskType: "review", priority: 10, prefer: [{ agent: "lead" }, { agent: "reviewer" }] }
  ])
  const agents = AgentLookup.layerFromList([
    { slug: "lead", name: "Lead", provider: "mock", model: "mock-lead", systemPrompt: "You lead the release.", trustLevel: "elevated", capabilities: [], active: true, version: 1 },
    { slug: "reviewer", name: "Reviewer", provider: "mock", model: "mock-review", systemPrompt: "You review code.", trustLevel: "advisory", capabilities: [], active: true, version: 1 }
  ])
  // Every candidate gets the whole stack of this configuration (here: the mock, with its prices).
  const stack = Stack.layerFactory({
    provider: { provider: "mock", options: { reply } },
    prices: { "mock/mock-big": { inputPerMillion: 3, outputPerMillion: 15 } }
  }).pipe(Layer.provide(ProviderRegistry.layer([MockLanguageModel.provider])))
  const router = Router.layer(routes).pipe(Layer.provideMerge(Layer.merge(stack, agents)))
  const layer = Collective.layer().pipe(Layer.provideMerge(Layer.merge(router, ProposalStore.layerMemory)))

  yield* Effect.gen(function*() {
    // 1. Who serves a task type, and why the others were skipped.
    const trail = yield* Router.explain("triage")
    const skipped = trail.skipped.map((skip) => `${skip.agent !== undefined ? `agent ${skip.agent}` : `${skip.provider}/${skip.model}`} (${skip.reason})`)
    yield* Console.log(`triage: chosen ${trail.chosen?.provider}/${trail.chosen?.model}; skipped ${skipped.join(", ")}`)

    // 2. A call routed by its task type (metadata.taskType), with the router as the LanguageModel.
    const response = yield* LanguageModel.generate({ prompt: "Sort this ticket", metadata: { taskType: "triage" } }).pipe(
      Effect.provide(Router.layerLanguageModel)
    )
    yield* Console.log(`routed call served by ${response.model}`)

    // 3. A collective proposal: every agent routed for "review" answers, the lead synthesises.
    const proposal = yield* Collective.run({ taskType: "review", prompt: "Can we ship on Friday?" })
    yield* Console.log(
      `collective: ${proposal.consensusStatus} from ${proposal.contributions.map((c) => c.agent).join(", ")}; synthesised by ${proposal.synthesizedBy}`
    )
  }).pipe(Effect.provide(layer))
})

program.pipe(NodeRuntime.runMain)
