/**
 * How routing finds a registered agent: the one seam between the router (issue 18 §1, which
 * lets a routing rule name `agent: <slug>`) and the agent registry (issue 18 §2, which stores
 * agents). The registry provides this service; the router, the collective and serve only read
 * through it, so they build and test without the registry's store (a map in tests).
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer, Option } from "effect"
import type * as LlmError from "../LlmError.ts"

/**
 * How far an agent's output may be trusted to act on its own.
 *
 * @since 0.1.0
 * @category models
 */
export type TrustLevel = "advisory" | "elevated" | "autonomous"

/**
 * @since 0.1.0
 * @category models
 */
export const trustLevels: ReadonlyArray<TrustLevel> = ["advisory", "elevated", "autonomous"]

/**
 * What the router needs of a registered agent: its model and system prompt, and whether it is
 * active (an inactive agent is skipped with reason `agent-inactive`).
 *
 * @since 0.1.0
 * @category models
 */
export interface AgentProfile {
  /** Unique across the registry. */
  readonly slug: string
  readonly name: string
  readonly provider: string
  readonly model: string
  readonly systemPrompt: string | undefined
  readonly trustLevel: TrustLevel
  readonly capabilities: ReadonlyArray<string>
  readonly active: boolean
  /** Bumped on every update. */
  readonly version: number
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** The agent with this slug, active or not; `None` when no such agent is registered. */
  readonly find: (slug: string) => Effect.Effect<Option.Option<AgentProfile>, LlmError.LlmError>
  /**
   * Governance, when the registry has it: may this agent `propose` (answer a call) in this scope?
   * Fails with `PolicyDenied` (and records the denial) when a policy refuses; the router asks
   * before every call it sends to an agent, so a denied call sends nothing.
   */
  readonly mayPropose?: ((scope: string, slug: string) => Effect.Effect<void, LlmError.LlmError>) | undefined
}

/**
 * @since 0.1.0
 * @category services
 */
export class AgentLookup extends Context.Service<AgentLookup, Service>()("llm-connect/AgentLookup") {}

/**
 * A lookup over a fixed list of agents (tests, examples, and a stack with no registry store).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerFromList = (agents: ReadonlyArray<AgentProfile>): Layer.Layer<AgentLookup> => {
  const bySlug = new Map(agents.map((agent) => [agent.slug, agent]))
  return Layer.succeed(AgentLookup, {
    find: (slug) => Effect.succeed(Option.fromNullishOr(bySlug.get(slug)))
  })
}
