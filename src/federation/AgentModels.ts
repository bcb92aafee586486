/**
 * How an agent is called: its provider and model, through the whole stack. {@link layerFactory}
 * asks the configuration's `ModelFactory` for the agent's target (`forProvider`), so an agent's
 * call gets the same key resolution, PII guard, observability and ledger, budget, retry, limits
 * and circuit breaker as any other; {@link request} adds the agent's system prompt and tags the
 * request with the agent (`metadata.tags.agent`, and `conversationId` when the call belongs to a
 * delegation), so usage is recorded against it (the ledger's `conversation_id`; logs and spans).
 *
 * Tests provide {@link layerFrom} with models of their own.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer } from "effect"
import type * as LanguageModel from "../LanguageModel.ts"
import * as LlmError from "../LlmError.ts"
import type * as LlmRequest from "../LlmRequest.ts"
import * as ModelFactory from "../ModelFactory.ts"
import type * as AgentLookup from "../routing/AgentLookup.ts"

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** The agent's model (its provider and model through the stack). */
  readonly modelFor: (agent: AgentLookup.AgentProfile) => Effect.Effect<LanguageModel.Service, LlmError.LlmError>
}

/**
 * The `AgentModels` service.
 *
 * @since 0.1.0
 * @category services
 */
export class AgentModels extends Context.Service<AgentModels, Service>()("llm-connect/AgentModels") {}

/**
 * Agents' models from the `ModelFactory` in context (the one configuration-to-stack path).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerFactory: Layer.Layer<AgentModels, never, ModelFactory.ModelFactory> = Layer.effect(
  AgentModels,
  Effect.map(ModelFactory.ModelFactory, (factory) =>
    AgentModels.of({
      modelFor: (agent) =>
        factory.forProvider({ provider: agent.provider, model: agent.model }).pipe(
          Effect.mapError((error) =>
            error.reason._tag === "Configuration"
              ? LlmError.make(error.provider, new LlmError.Configuration({
                ...error.reason,
                description: `agent ${agent.slug}: ${error.reason.description}`
              }))
              : error
          )
        )
    }))
)

/**
 * Agents' models from a function (tests, or a caller that builds its own stacks).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerFrom = (
  modelFor: (agent: AgentLookup.AgentProfile) => Effect.Effect<LanguageModel.Service, LlmError.LlmError>
): Layer.Layer<AgentModels> => Layer.succeed(AgentModels, AgentModels.of({ modelFor }))

/**
 * The error for calling an inactive agent.
 *
 * @since 0.1.0
 * @category errors
 */
export const inactive = (slug: string, setting = "agent"): LlmError.LlmError =>
  LlmError.make("agents", new LlmError.Configuration({
    description: `agent ${slug} is inactive; it cannot be called`,
    setting,
    fix: `reactivate it (llm-connect agents update ${slug} --active true) or call another agent`
  }))

/**
 * The metadata of an agent's call: the agent in `tags.agent`, the delegation (if any) as the
 * conversation, over what the request carried.
 *
 * @since 0.1.0
 * @category requests
 */
export const metadataFor = (
  agent: AgentLookup.AgentProfile,
  base: LlmRequest.Metadata | undefined,
  delegationId?: string | undefined
): LlmRequest.Metadata => ({
  ...base,
  ...(delegationId !== undefined ? { conversationId: delegationId } : {}),
  tags: { ...base?.tags, agent: agent.slug, ...(delegationId !== undefined ? { delegation: delegationId } : {}) }
})

/**
 * A request as the agent makes it: its model, its system prompt (over none), its tags.
 *
 * @since 0.1.0
 * @category requests
 */
export const request = (agent: AgentLookup.AgentProfile, base: LlmRequest.LlmRequest): LlmRequest.LlmRequest => ({
  ...base,
  model: agent.model,
  ...(agent.systemPrompt !== undefined && base.system === undefined ? { system: agent.systemPrompt } : {}),
  metadata: metadataFor(agent, base.metadata)
})
