/**
 * `--agent SLUG` (for `prompt`): call through a registered agent. The agent (read from the usage
 * ledger's store, as `llm-connect agents` writes it) must exist and be active; governance is
 * asked whether it may `propose` on artifact type `prompt` in scope `default` (a denial is
 * audited, nothing is sent, exit 1); then its provider, model and system prompt become the
 * call's (an explicit `--system` still wins), and the request is tagged with the agent
 * (`metadata.tags.agent`) so its usage is recorded against it. `--agent` with `--provider` or
 * `--model` is refused (exit 2): the agent names them.
 *
 * @since 0.1.0
 */
import { Effect, Option } from "effect"
import { Flag } from "effect/cli"
import * as AgentModels from "../../federation/AgentModels.ts"
import * as AgentRegistry from "../../federation/AgentRegistry.ts"
import * as Governance from "../../federation/Governance.ts"
import * as LlmConnectConfig from "../../LlmConnectConfig.ts"
import * as LlmError from "../../LlmError.ts"
import type * as LlmRequest from "../../LlmRequest.ts"
import * as Federation from "../commands/federation.ts"
import * as ConfigFlags from "./ConfigFlags.ts"

/**
 * The flag.
 *
 * @since 0.1.0
 * @category flags
 */
export const agent = Flag.String("agent").pipe(
  Flag.withMetavar("SLUG"),
  Flag.withDescription("call through a registered agent: its provider, model and system prompt (llm-connect agents list)"),
  Flag.optional
)

/**
 * The scope, artifact type and action `prompt --agent` asks governance about.
 *
 * @since 0.1.0
 * @category constants
 */
export const GOVERNANCE = { scope: "default", artifactType: "prompt", action: "propose" } as const

/**
 * The agent of `--agent` (checked: registered, active, allowed) and the config overrides it
 * makes; nothing when the flag is absent.
 *
 * @since 0.1.0
 * @category resolving
 */
export const resolve = (input: {
  readonly agent: Option.Option<string>
  readonly provider: Option.Option<unknown>
  readonly model: Option.Option<unknown>
  readonly ledger: Option.Option<string>
  readonly config: Option.Option<string>
}) =>
  Effect.gen(function*() {
    if (Option.isNone(input.agent)) return { agent: undefined, overrides: {} }
    const slug = input.agent.value
    if (Option.isSome(input.provider) || Option.isSome(input.model)) {
      return yield* Effect.fail(LlmError.make("cli", new LlmError.Configuration({
        description: "--agent names the provider and model; --provider and --model cannot be given with it",
        setting: "--agent",
        fix: `drop --provider/--model, or change the agent: llm-connect agents update ${slug} --model MODEL`
      })))
    }
    const found: AgentRegistry.Agent = yield* Effect.scoped(Effect.gen(function*() {
      const { config } = yield* LlmConnectConfig.load({
        flags: ConfigFlags.overrides({ "ledger.path": input.ledger }),
        configFile: ConfigFlags.configFile(input.config)
      })
      const store = yield* Federation.openStore(config)
      const registry = yield* AgentRegistry.make(store)
      const governance = yield* Governance.make(store)
      const found = yield* registry.find(slug)
      if (Option.isNone(found)) return yield* Effect.fail(AgentRegistry.unknownAgent(slug, "--agent"))
      const agent = found.value
      if (!agent.active) return yield* Effect.fail(AgentModels.inactive(slug, "--agent"))
      yield* governance.check(GOVERNANCE.scope, slug, GOVERNANCE.artifactType, GOVERNANCE.action)
      return agent
    }))
    const overrides: Record<string, Option.Option<unknown>> = {
      provider: Option.some(found.provider),
      model: Option.some(found.model),
      system: Option.fromNullishOr(found.systemPrompt)
    }
    return { agent: found, overrides }
  })

/**
 * The request's metadata for the agent (none without one).
 *
 * @since 0.1.0
 * @category requests
 */
export const metadata = (agent: AgentRegistry.Agent | undefined): { readonly metadata?: LlmRequest.Metadata } =>
  agent === undefined ? {} : { metadata: AgentModels.metadataFor(agent, undefined) }
