// Federation services on a private SQLite store and the mock provider: every agent's model is one
// mock (the agent is told apart by its system prompt), wrapped by the budget layer so that
// `BudgetTracker.CurrentBudget` (a delegation's child budget) is enforced as the stack does.
import { Effect, Layer } from "effect"
import * as BudgetLanguageModel from "../../src/budget/BudgetLanguageModel.ts"
import * as AgentModels from "../../src/federation/AgentModels.ts"
import * as AgentPerformance from "../../src/federation/AgentPerformance.ts"
import * as AgentRegistry from "../../src/federation/AgentRegistry.ts"
import * as Delegation from "../../src/federation/Delegation.ts"
import * as Governance from "../../src/federation/Governance.ts"
import * as LanguageModel from "../../src/LanguageModel.ts"
import * as MockLanguageModel from "../../src/providers/mock/MockLanguageModel.ts"
import * as SqlStore from "../../src/store/SqlStore.ts"
import * as Usage from "../../src/Usage.ts"

// The mock counts a tool call's arguments as output but does not cut them at `maxTokens` as a
// provider does (finish reason `length`): this wrapper does, so that the budget's output cap holds.
export const capToolCallOutput = (inner: LanguageModel.Service): LanguageModel.Service =>
  LanguageModel.wrap(inner, {
    generate: (request, next) =>
      Effect.map(next(request), (response) =>
        request.maxTokens === undefined || response.toolCalls === undefined || response.usage.outputTokens <= request.maxTokens
          ? response
          : {
            content: "",
            model: response.model,
            provider: response.provider,
            usage: Usage.make({ inputTokens: response.usage.inputTokens, outputTokens: request.maxTokens }),
            finishReason: "length" as const,
            latencyMs: response.latencyMs
          }),
    stream: "unchanged"
  })

export const federation = (mock: MockLanguageModel.Options = {}, store = ":memory:") =>
  Effect.gen(function*() {
    const sqlStore = yield* SqlStore.make(store)
    const { model, control } = yield* MockLanguageModel.make(mock)
    const agentModel = BudgetLanguageModel.wrap(undefined)(capToolCallOutput(model))
    const layer = Layer.mergeAll(AgentRegistry.layer, Governance.layer, Delegation.layer, AgentPerformance.layer, AgentRegistry.lookupLayer).pipe(
      Layer.provideMerge(Layer.mergeAll(AgentRegistry.layer, Governance.layer)),
      Layer.provideMerge(AgentModels.layerFrom(() => Effect.succeed(agentModel))),
      Layer.provideMerge(Layer.succeed(SqlStore.SqlStore, sqlStore))
    )
    const context = yield* Layer.build(layer)
    return { context, control, store: sqlStore }
  })

export const agent = (slug: string, overrides: Partial<AgentRegistry.NewAgent> = {}): AgentRegistry.NewAgent => ({
  slug,
  name: `Agent ${slug}`,
  provider: "mock",
  model: "mock-1",
  systemPrompt: `you are ${slug}`,
  ...overrides
})
