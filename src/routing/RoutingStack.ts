/**
 * The routed stack of a loaded configuration, for every front door (CLI, serve, workflows): the
 * configuration's stack (`Stack.fromConfig`, unchanged) with a {@link Router.Router} over its
 * `ModelFactory`, reading the configuration's `routes:` and price table.
 *
 * Agents come from {@link agentLookup}: the one place where a front door gets its
 * `AgentLookup`. It is the `AgentLookup` in context when the program provides one (tests, a
 * program with its own registry), else the agent registry on the ledger's store.
 *
 * @since 0.1.0
 */
import { Effect, FileSystem, Layer, Path } from "effect"
import type * as LanguageModel from "../LanguageModel.ts"
import * as LlmConnectConfig from "../LlmConnectConfig.ts"
import * as LlmError from "../LlmError.ts"
import type * as ModelFactory from "../ModelFactory.ts"
import * as ProviderRegistry from "../ProviderRegistry.ts"
import * as Stack from "../Stack.ts"
import * as AgentRegistry from "../federation/AgentRegistry.ts"
import * as FederationStore from "../federation/FederationStore.ts"
import * as SqlStore from "../store/SqlStore.ts"
import * as AgentLookup from "./AgentLookup.ts"
import * as Router from "./Router.ts"

/**
 * Where a front door finds agents: the `AgentLookup` in context if the program provides one
 * (tests, a program with its own registry), else the agent registry (issue 18 §2) on the usage
 * ledger's store (`--ledger` / `LLM_CONNECT_LEDGER` / `ledger.path`, else the state ledger;
 * PostgreSQL when it is a `postgres://` URL). The store is opened only when a rule names an
 * agent; with none, the lookup is empty and costs nothing.
 *
 * @since 0.1.0
 * @category agents
 */
export const agentLookup = (
  resolved: LlmConnectConfig.Resolved
): Effect.Effect<Layer.Layer<AgentLookup.AgentLookup, LlmError.LlmError>> =>
  Effect.map(Effect.serviceOption(AgentLookup.AgentLookup), (provided) => {
    if (provided._tag === "Some") return Layer.succeed(AgentLookup.AgentLookup, provided.value)
    const namesAgents = resolved.config.routes.some((route) => route.candidates.some((candidate) => candidate._tag !== "Model"))
    if (!namesAgents) return AgentLookup.layerFromList([])
    return AgentRegistry.lookupLayerStore.pipe(Layer.provide(Layer.effect(
      SqlStore.SqlStore,
      FederationStore.openLedgerStore(resolved.config, "routes: a rule names an agent, but there is no store for the agents")
    )))
  })

/**
 * Refuses rules that name a provider the registry does not know (`Configuration`, exit 2).
 *
 * @since 0.1.0
 * @category validation
 */
export const checkProviders = (
  resolved: LlmConnectConfig.Resolved
): Effect.Effect<void, LlmError.LlmError, ProviderRegistry.ProviderRegistry> =>
  Effect.gen(function*() {
    const registry = yield* ProviderRegistry.ProviderRegistry
    const known = new Set((yield* registry.list).map((provider) => provider.name))
    for (const route of resolved.config.routes) {
      for (const candidate of route.candidates) {
        if (candidate._tag === "Model" && !known.has(candidate.provider)) {
          return yield* Effect.fail(LlmError.make(
            "router",
            new LlmError.Configuration({
              description: `routes: the rule for task type "${route.taskType}" (scope "${route.scope}", priority ${route.priority}) names the provider "${candidate.provider}", which is not registered`,
              setting: "routes",
              fix: `use one of: ${[...known].sort().join(", ")}`
            })
          ))
        }
      }
    }
  })

/**
 * The configuration's stack with its router: the configured `LanguageModel` and `ModelFactory`
 * as `Stack.fromConfig` gives them, plus the `Router` (whose `model` routes by task type).
 *
 * @since 0.1.0
 * @category layers
 * @example
 * const resolved = yield* LlmConnectConfig.load()
 * const stack = yield* RoutingStack.fromConfig(resolved)
 * const trail = yield* Router.explain("triage").pipe(Effect.provide(stack))
 */
export const fromConfig = (
  resolved: LlmConnectConfig.Resolved
): Effect.Effect<
  Layer.Layer<Router.Router | LanguageModel.LanguageModel | ModelFactory.ModelFactory, LlmError.LlmError>,
  LlmError.LlmError,
  ProviderRegistry.ProviderRegistry | FileSystem.FileSystem | Path.Path
> =>
  Effect.gen(function*() {
    yield* checkProviders(resolved)
    const stack = yield* Stack.fromConfig(resolved)
    const agents = yield* agentLookup(resolved)
    // The router reads the factory's price table (the configuration's prices:).
    const router = Router.layer(resolved.config.routes).pipe(
      Layer.provide(agents)
    )
    return router.pipe(Layer.provideMerge(stack))
  })

/**
 * The same stack with the router's model as the `LanguageModel` (a `prompt --task-type`, a
 * `route:<taskType>` model): every call is routed by its `metadata.taskType`.
 *
 * @since 0.1.0
 * @category layers
 */
export const routedFromConfig = (
  resolved: LlmConnectConfig.Resolved
) =>
  Effect.map(fromConfig(resolved), (layer) => Layer.provideMerge(Router.layerLanguageModel, layer))
