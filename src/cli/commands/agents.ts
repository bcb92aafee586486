/**
 * `llm-connect agents`: the agent registry, governance and performance records (issue 18), kept
 * in the usage ledger's store (`--ledger`, `LLM_CONNECT_LEDGER`, `ledger.path`, else the state
 * ledger).
 *
 * - `agents add --slug S --name N --provider P --model M [--system TEXT] [--description TEXT]
 *   [--trust-level advisory|elevated|autonomous] [--capability C]...`
 * - `agents list` (inactive agents too), `agents show S`, `agents update S ...` (a version bump),
 *   `agents deactivate S`
 * - `agents performance S [--window 30d]`, `agents audit [--since 7d]` (denials per scope)
 * - `agents policy add --agent S --artifact-type T --allow read,propose [--scope SCOPE]`,
 *   `agents policy list [--scope SCOPE]`
 * - `agents outcome ID accepted|rejected|revised [--confidence X] [--agent S]`
 *
 * Each takes `--json` and then prints one document (the error document on failure). Bad input
 * (a duplicate slug, an unknown agent, a trust level or action outside its set) exits 2 and
 * writes nothing.
 *
 * @since 0.1.0
 */
import { Clock, Effect, Option } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import * as AgentPerformance from "../../federation/AgentPerformance.ts"
import * as AgentRegistry from "../../federation/AgentRegistry.ts"
import * as FederationStore from "../../federation/FederationStore.ts"
import * as Governance from "../../federation/Governance.ts"
import * as LlmConnectConfig from "../../LlmConnectConfig.ts"
import * as ConfigFlags from "../flags/ConfigFlags.ts"
import * as ObservabilityFlags from "../flags/ObservabilityFlags.ts"
import * as OutputFlags from "../flags/OutputFlags.ts"
import * as Output from "../Output.ts"
import * as Federation from "./federation.ts"

const common = { ledger: ObservabilityFlags.flags["ledger.path"], config: ConfigFlags.config, json: OutputFlags.json }

type Common = {
  readonly ledger: Option.Option<string>
  readonly config: Option.Option<string>
  readonly json: boolean
}

type Services = AgentRegistry.AgentRegistry | Governance.Governance | AgentPerformance.AgentPerformance

/** Runs a subcommand's work with the federation services of the configured store. */
const withServices = <A, E>(input: Common, work: Effect.Effect<A, E, Services>) =>
  Effect.scoped(Effect.gen(function*() {
    const { config } = yield* LlmConnectConfig.load({
      flags: ConfigFlags.overrides({ "ledger.path": input.ledger }),
      configFile: ConfigFlags.configFile(input.config)
    })
    const store = yield* Federation.openStore(config)
    return yield* Effect.provide(work, Federation.servicesLayer(store))
  })).pipe(Federation.jsonErrors(input.json))

const fields = {
  name: Flag.String("name").pipe(Flag.withMetavar("NAME"), Flag.withDescription("a name for people")),
  provider: Flag.String("provider").pipe(Flag.withMetavar("PROVIDER"), Flag.withDescription("the agent's provider (e.g. openai, mock)")),
  model: Flag.String("model").pipe(Flag.withMetavar("MODEL"), Flag.withDescription("the agent's model")),
  system: Flag.String("system").pipe(Flag.withMetavar("TEXT"), Flag.withDescription("the agent's system prompt"), Flag.optional),
  description: Flag.String("description").pipe(Flag.withMetavar("TEXT"), Flag.withDescription("what the agent is for"), Flag.optional),
  trustLevel: Flag.String("trust-level").pipe(
    Flag.withMetavar("LEVEL"),
    Flag.withDescription("advisory (default), elevated or autonomous"),
    Flag.optional
  ),
  capabilities: Flag.String("capability").pipe(
    Flag.withMetavar("CAPABILITY"),
    Flag.withDescription("a capability of the agent (repeat for several)"),
    Flag.atLeast(0)
  )
}

const printAgent = (json: boolean, verb: string) => (agent: AgentRegistry.Agent) =>
  json ? Output.json(Federation.agentDocument(agent)) : Effect.andThen(
    Output.result(Federation.agentLine(agent)),
    Output.notice(`agent ${agent.slug} ${verb} (version ${agent.version})`)
  )

const add = Command.make(
  "add",
  { ...common, ...fields, slug: Flag.String("slug").pipe(Flag.withMetavar("SLUG"), Flag.withDescription("the agent's unique slug")) },
  Effect.fn("cli.agents.add")(function*(input) {
    yield* withServices(
      input,
      AgentRegistry.AgentRegistry.use((registry) =>
        registry.add({
          slug: input.slug,
          name: input.name,
          provider: input.provider,
          model: input.model,
          systemPrompt: Federation.given(input.system),
          description: Federation.given(input.description),
          trustLevel: Federation.given(input.trustLevel),
          capabilities: input.capabilities
        })
      ).pipe(Effect.flatMap(printAgent(input.json, "registered")))
    )
  })
).pipe(Command.withDescription("Register an agent: a provider, model and system prompt under a unique slug"))

const list = Command.make(
  "list",
  common,
  Effect.fn("cli.agents.list")(function*(input) {
    yield* withServices(
      input,
      Effect.gen(function*() {
        const agents = yield* (yield* AgentRegistry.AgentRegistry).list
        if (input.json) return yield* Output.json(agents.map(Federation.agentDocument))
        if (agents.length === 0) return yield* Output.notice("no agents (llm-connect agents add --slug S --name N --provider P --model M)")
        for (const agent of agents) yield* Output.result(Federation.agentLine(agent))
      })
    )
  })
).pipe(Command.withDescription("List the agents, inactive ones too"))

const slugArgument = Argument.String("slug").pipe(Argument.withDescription("the agent's slug"))

const show = Command.make(
  "show",
  { ...common, slug: slugArgument },
  Effect.fn("cli.agents.show")(function*(input) {
    yield* withServices(
      input,
      Effect.gen(function*() {
        const agent = yield* (yield* AgentRegistry.AgentRegistry).show(input.slug)
        if (input.json) return yield* Output.json(Federation.agentDocument(agent))
        yield* Output.result([
          `slug: ${agent.slug}`,
          `name: ${agent.name}`,
          `description: ${agent.description}`,
          `provider: ${agent.provider}`,
          `model: ${agent.model}`,
          `trust level: ${agent.trustLevel}`,
          `capabilities: ${agent.capabilities.join(", ")}`,
          `active: ${agent.active}`,
          `version: ${agent.version}`,
          `system prompt: ${agent.systemPrompt === undefined ? "(none)" : `${agent.systemPrompt.length} characters`}`
        ].join("\n"))
      })
    )
  })
).pipe(Command.withDescription("Show one agent"))

const update = Command.make(
  "update",
  {
    ...common,
    slug: slugArgument,
    name: Flag.optional(fields.name),
    provider: Flag.optional(fields.provider),
    model: Flag.optional(fields.model),
    system: fields.system,
    description: fields.description,
    trustLevel: fields.trustLevel,
    capabilities: fields.capabilities,
    active: Flag.Literals("active", ["true", "false"]).pipe(Flag.withDescription("reactivate (true) or deactivate (false)"), Flag.optional)
  },
  Effect.fn("cli.agents.update")(function*(input) {
    yield* withServices(
      input,
      AgentRegistry.AgentRegistry.use((registry) =>
        registry.update(input.slug, {
          name: Federation.given(input.name),
          provider: Federation.given(input.provider),
          model: Federation.given(input.model),
          systemPrompt: Federation.given(input.system),
          description: Federation.given(input.description),
          trustLevel: Federation.given(input.trustLevel),
          ...(input.capabilities.length > 0 ? { capabilities: input.capabilities } : {}),
          ...(Option.isSome(input.active) ? { active: input.active.value === "true" } : {})
        })
      ).pipe(Effect.flatMap(printAgent(input.json, "updated")))
    )
  })
).pipe(Command.withDescription("Change an agent (its version is bumped)"))

const deactivate = Command.make(
  "deactivate",
  { ...common, slug: slugArgument },
  Effect.fn("cli.agents.deactivate")(function*(input) {
    yield* withServices(
      input,
      AgentRegistry.AgentRegistry.use((registry) => registry.deactivate(input.slug)).pipe(
        Effect.flatMap(printAgent(input.json, "deactivated"))
      )
    )
  })
).pipe(Command.withDescription("Deactivate an agent (kept, with its history; routing skips it)"))

const fixed = (value: number | undefined, digits = 3) => value === undefined ? "undefined" : value.toFixed(digits)

const performance = Command.make(
  "performance",
  {
    ...common,
    slug: slugArgument,
    window: Flag.String("window").pipe(Flag.withMetavar("WINDOW"), Flag.withDescription("how far back, e.g. 30d (default), 7d, 12h"), Flag.optional)
  },
  Effect.fn("cli.agents.performance")(function*(input) {
    yield* withServices(
      input,
      Effect.gen(function*() {
        const windowMs = Option.isSome(input.window) ? yield* FederationStore.parseWindow(input.window.value, "--window") : undefined
        const summary = yield* (yield* AgentPerformance.AgentPerformance).performance(input.slug, windowMs)
        if (input.json) return yield* Output.json(AgentPerformance.toDocument(summary))
        yield* Output.result([
          `agent: ${summary.agent} (since ${new Date(summary.since).toISOString()})`,
          `outcomes: ${summary.total} (${summary.accepted} accepted, ${summary.rejected} rejected, ${summary.revised} revised)`,
          `acceptance ratio: ${fixed(summary.acceptanceRatio)}`,
          `mean confidence: ${fixed(summary.meanConfidence)}`,
          `calibration: ${fixed(summary.calibration)}${summary.calibrationNote === undefined ? "" : ` (${summary.calibrationNote})`}`
        ].join("\n"))
      })
    )
  })
).pipe(Command.withDescription("An agent's outcomes over a window: counts, acceptance, confidence, calibration"))

const audit = Command.make(
  "audit",
  {
    ...common,
    since: Flag.String("since").pipe(Flag.withMetavar("WINDOW"), Flag.withDescription("how far back, e.g. 7d (default), 24h"), Flag.withDefault("7d"))
  },
  Effect.fn("cli.agents.audit")(function*(input) {
    yield* withServices(
      input,
      Effect.gen(function*() {
        const windowMs = yield* FederationStore.parseWindow(input.since, "--since")
        const now = yield* Clock.currentTimeMillis
        const report = yield* (yield* Governance.Governance).audit(now - windowMs)
        if (input.json) return yield* Output.json({ ...report, since: new Date(report.since).toISOString() })
        if (report.total === 0) return yield* Output.notice(`no denials since ${new Date(report.since).toISOString()}`)
        for (const row of report.scopes) yield* Output.result(`${row.scope}\t${row.denials} denied`)
        yield* Output.notice(`${report.total} denials since ${new Date(report.since).toISOString()}`)
      })
    )
  })
).pipe(Command.withDescription("Governance denials per scope over a window"))

const scopeFlag = Flag.String("scope").pipe(Flag.withMetavar("SCOPE"), Flag.withDescription("the tenant (default: default)"))

const policyDocument = (policy: Governance.Policy) => ({ ...policy, createdAt: new Date(policy.createdAt).toISOString() })

const policyAdd = Command.make(
  "add",
  {
    ...common,
    scope: scopeFlag.pipe(Flag.withDefault("default")),
    agent: Flag.String("agent").pipe(Flag.withMetavar("SLUG"), Flag.withDescription("the agent the policy governs")),
    artifactType: Flag.String("artifact-type").pipe(Flag.withMetavar("TYPE"), Flag.withDescription("the artifact type, or * for every type")),
    allow: Flag.String("allow").pipe(
      Flag.withMetavar("ACTIONS"),
      Flag.withDescription("allowed actions: read, propose, delegate, auto_apply (comma-separated or repeated; none: allow nothing)"),
      Flag.atLeast(0)
    )
  },
  Effect.fn("cli.agents.policy.add")(function*(input) {
    yield* withServices(
      input,
      Effect.gen(function*() {
        if (Option.isNone(yield* (yield* AgentRegistry.AgentRegistry).find(input.agent))) {
          return yield* Effect.fail(AgentRegistry.unknownAgent(input.agent, "--agent"))
        }
        const policy = yield* (yield* Governance.Governance).addPolicy({
          scope: input.scope,
          agent: input.agent,
          artifactType: input.artifactType,
          allowedActions: input.allow
        })
        if (input.json) return yield* Output.json(policyDocument(policy))
        yield* Output.result(policy.id)
        yield* Output.notice(
          `policy ${policy.id}: ${policy.agent} in ${policy.scope} on ${policy.artifactType} may ${policy.allowedActions.join(", ") || "do nothing"}`
        )
      })
    )
  })
).pipe(Command.withDescription("Add a governance policy (replaces the active one of the same scope, agent and artifact type)"))

const policyList = Command.make(
  "list",
  { ...common, scope: Flag.optional(scopeFlag) },
  Effect.fn("cli.agents.policy.list")(function*(input) {
    yield* withServices(
      input,
      Effect.gen(function*() {
        const policies = yield* (yield* Governance.Governance).listPolicies(Federation.given(input.scope))
        if (input.json) return yield* Output.json(policies.map(policyDocument))
        if (policies.length === 0) return yield* Output.notice("no policies: every action is permitted")
        for (const policy of policies) {
          yield* Output.result(
            `${policy.id}\t${policy.scope}\t${policy.agent}\t${policy.artifactType}\t${policy.allowedActions.join(",") || "-"}\t${
              policy.active ? "active" : "replaced"
            }`
          )
        }
      })
    )
  })
).pipe(Command.withDescription("List governance policies"))

const policy = Command.make("policy").pipe(
  Command.withDescription("Governance policies: what each agent may do"),
  Command.withSubcommands([policyAdd, policyList])
)

const outcome = Command.make(
  "outcome",
  {
    ...common,
    id: Argument.String("id").pipe(Argument.withDescription("the delegation's (or proposal's) id")),
    outcome: Argument.String("outcome").pipe(Argument.withDescription("accepted, rejected or revised")),
    confidence: Flag.Finite("confidence").pipe(Flag.withMetavar("X"), Flag.withDescription("the proposal's confidence, 0 to 1"), Flag.optional),
    agent: Flag.String("agent").pipe(Flag.withMetavar("SLUG"), Flag.withDescription("whose proposal (default: the delegation's agent)"), Flag.optional)
  },
  Effect.fn("cli.agents.outcome")(function*(input) {
    yield* withServices(
      input,
      Effect.gen(function*() {
        const recorded = yield* (yield* AgentPerformance.AgentPerformance).record({
          subjectId: input.id,
          outcome: input.outcome,
          agent: Federation.given(input.agent),
          confidence: Federation.given(input.confidence)
        })
        if (input.json) {
          return yield* Output.json({ ...recorded, confidence: recorded.confidence ?? null, recordedAt: new Date(recorded.recordedAt).toISOString() })
        }
        yield* Output.notice(`outcome ${recorded.outcome} recorded for ${recorded.agent} (${recorded.subjectId})`)
      })
    )
  })
).pipe(Command.withDescription("Record what became of an agent's proposal: accepted, rejected or revised"))

/**
 * The `agents` command and its subcommands.
 *
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make("agents").pipe(
  Command.withDescription("The agent registry, governance and performance records (add, list, show, update, deactivate, ...)"),
  Command.withSubcommands([add, list, show, update, deactivate, performance, audit, policy, outcome])
)
