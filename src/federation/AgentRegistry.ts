/**
 * The agent registry (issue 18 §2): each agent is a provider, a model and a system prompt under
 * a unique slug, with a trust level (`advisory` by default), capabilities, whether it is active,
 * and a version bumped on every change. Agents are kept in the `federation` tables of the usage
 * ledger's store (`FederationStore`); nothing is ever deleted: `deactivate` keeps the agent (and
 * its history of delegations and outcomes) but routing skips it and calling it is refused.
 *
 * The registry provides the router's seam, `AgentLookup` ({@link lookupLayer}), so routing rules
 * that name `agent: <slug>` read the same agents.
 *
 * Every bad input (a slug taken or malformed, a trust level outside its set, an empty name) is a
 * `Configuration` error naming the field and the fix (CLI exit 2, HTTP 400) and writes nothing.
 *
 * @since 0.1.0
 */
import { Clock, Context, Effect, Layer, Option } from "effect"
import type * as LlmError from "../LlmError.ts"
import * as AgentLookup from "../routing/AgentLookup.ts"
import * as SqlStore from "../store/SqlStore.ts"
import * as FederationStore from "./FederationStore.ts"
import * as Governance from "./Governance.ts"

/**
 * A registered agent: the router's {@link AgentLookup.AgentProfile} plus its description and
 * timestamps (epoch milliseconds).
 *
 * @since 0.1.0
 * @category models
 */
export interface Agent extends AgentLookup.AgentProfile {
  readonly description: string
  readonly createdAt: number
  readonly updatedAt: number
}

/**
 * What `add` takes.
 *
 * @since 0.1.0
 * @category models
 */
export interface NewAgent {
  readonly slug: string
  readonly name: string
  readonly provider: string
  readonly model: string
  readonly description?: string | undefined
  readonly systemPrompt?: string | undefined
  /** Default `advisory`. */
  readonly trustLevel?: string | undefined
  readonly capabilities?: ReadonlyArray<string> | undefined
}

/**
 * What `update` may change (absent fields are kept). `systemPrompt: null` removes the prompt.
 *
 * @since 0.1.0
 * @category models
 */
export interface Changes {
  readonly name?: string | undefined
  readonly provider?: string | undefined
  readonly model?: string | undefined
  readonly description?: string | undefined
  readonly systemPrompt?: string | null | undefined
  readonly trustLevel?: string | undefined
  readonly capabilities?: ReadonlyArray<string> | undefined
  readonly active?: boolean | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** Registers an agent (active, version 1); a slug already taken fails. */
  readonly add: (agent: NewAgent) => Effect.Effect<Agent, LlmError.LlmError>
  /** Every agent, inactive ones too, by slug. */
  readonly list: Effect.Effect<ReadonlyArray<Agent>, LlmError.LlmError>
  readonly find: (slug: string) => Effect.Effect<Option.Option<Agent>, LlmError.LlmError>
  /** The agent with this slug; an unknown slug fails naming it. */
  readonly show: (slug: string) => Effect.Effect<Agent, LlmError.LlmError>
  /** Changes an agent and bumps its version (nothing changed: returned as it is). */
  readonly update: (slug: string, changes: Changes) => Effect.Effect<Agent, LlmError.LlmError>
  /** Marks an agent inactive (a version bump; already inactive: returned as it is). */
  readonly deactivate: (slug: string) => Effect.Effect<Agent, LlmError.LlmError>
}

/**
 * The `AgentRegistry` service.
 *
 * @since 0.1.0
 * @category services
 */
export class AgentRegistry extends Context.Service<AgentRegistry, Service>()("llm-connect/AgentRegistry") {}

const PROVIDER = /^[a-z0-9][a-z0-9._-]{0,63}$/i
const LIMITS = { name: 200, model: 200, description: 2_000, systemPrompt: 100_000, capability: 64, capabilities: 64 } as const

/**
 * Checks a trust level's text.
 *
 * @since 0.1.0
 * @category validation
 */
export const parseTrustLevel = (text: string, setting = "--trust-level"): Effect.Effect<AgentLookup.TrustLevel, LlmError.LlmError> => {
  const found = AgentLookup.trustLevels.find((level) => level === text)
  return found !== undefined ? Effect.succeed(found) : Effect.fail(FederationStore.invalid(
    `${setting} ${JSON.stringify(text.slice(0, 40))} is not a trust level`,
    setting,
    `use one of ${AgentLookup.trustLevels.join(", ")}`
  ))
}

const checkText = (value: string, setting: string, max: number, example: string, allowEmpty = false) =>
  (!allowEmpty && value.trim() === "") || value.length > max
    ? Effect.fail(FederationStore.invalid(
      `${setting} is ${value.trim() === "" ? "empty" : `${value.length} characters long`}`,
      setting,
      `give 1 to ${max} characters, e.g. ${setting} ${example}`
    ))
    : Effect.void

const checkFields = (fields: Omit<Changes, "active">): Effect.Effect<void, LlmError.LlmError> =>
  Effect.gen(function*() {
    if (fields.name !== undefined) yield* checkText(fields.name, "--name", LIMITS.name, "\"Triage bot\"")
    if (fields.provider !== undefined && !PROVIDER.test(fields.provider)) {
      yield* Effect.fail(FederationStore.invalid(
        `--provider ${JSON.stringify(fields.provider.slice(0, 64))} is not a provider name`,
        "--provider",
        "name a provider such as openai, gemini, openrouter or mock (llm-connect providers lists them)"
      ))
    }
    if (fields.model !== undefined) yield* checkText(fields.model, "--model", LIMITS.model, "gpt-4o-mini")
    if (fields.description !== undefined) yield* checkText(fields.description, "--description", LIMITS.description, "\"Sorts tickets\"", true)
    if (typeof fields.systemPrompt === "string") {
      yield* checkText(fields.systemPrompt, "--system", LIMITS.systemPrompt, "\"You sort tickets\"", true)
    }
    if (fields.trustLevel !== undefined) yield* parseTrustLevel(fields.trustLevel)
    if (fields.capabilities !== undefined) {
      if (fields.capabilities.length > LIMITS.capabilities) {
        yield* Effect.fail(FederationStore.invalid(
          `${fields.capabilities.length} capabilities given`,
          "--capability",
          `give at most ${LIMITS.capabilities}`
        ))
      }
      for (const capability of fields.capabilities) {
        yield* FederationStore.checkName(capability, "--capability", "triage")
      }
    }
  })

interface Row {
  readonly slug: string
  readonly name: string
  readonly description: string
  readonly provider: string
  readonly model: string
  readonly system_prompt: string | null
  readonly trust_level: string
  readonly capabilities: string
  readonly active: unknown
  readonly version: unknown
  readonly created_at: unknown
  readonly updated_at: unknown
}

const capabilitiesOf = (text: string): ReadonlyArray<string> => {
  try {
    const parsed: unknown = JSON.parse(text)
    return Array.isArray(parsed) ? parsed.filter((item): item is string => typeof item === "string") : []
  } catch {
    return []
  }
}

const agentOf = (row: Row): Agent => ({
  slug: row.slug,
  name: row.name,
  description: row.description,
  provider: row.provider,
  model: row.model,
  systemPrompt: row.system_prompt ?? undefined,
  trustLevel: AgentLookup.trustLevels.find((level) => level === row.trust_level) ?? "advisory",
  capabilities: capabilitiesOf(row.capabilities),
  active: FederationStore.num(row.active) === 1,
  version: FederationStore.num(row.version),
  createdAt: FederationStore.num(row.created_at),
  updatedAt: FederationStore.num(row.updated_at)
})

/**
 * The error for a slug no agent has.
 *
 * @since 0.1.0
 * @category errors
 */
export const unknownAgent = (slug: string, setting = "agent"): LlmError.LlmError =>
  FederationStore.invalid(
    `no agent is registered as ${JSON.stringify(slug.slice(0, 64))}`,
    setting,
    "llm-connect agents list shows the agents; register one with llm-connect agents add"
  )

/**
 * The registry in a SQL store (brings the federation tables up to date first).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (store: SqlStore.Service): Effect.Effect<Service, LlmError.LlmError> =>
  Effect.gen(function*() {
    yield* FederationStore.migrate(store)
    const sql = store.sql
    const table = sql(FederationStore.Tables.agents)
    const find = (slug: string) =>
      sql<Row>`SELECT * FROM ${table} WHERE slug = ${slug}`.pipe(
        Effect.map((rows) => Option.map(Option.fromNullishOr(rows[0]), agentOf)),
        Effect.mapError(FederationStore.storeFailed(store, "read the agents"))
      )
    const show = (slug: string) =>
      Effect.flatMap(find(slug), Option.match({ onNone: () => Effect.fail(unknownAgent(slug)), onSome: Effect.succeed }))

    const update = (slug: string, changes: Changes) =>
      Effect.gen(function*() {
        yield* checkFields(changes)
        const current = yield* show(slug)
        const next: Agent = {
          ...current,
          ...(changes.name !== undefined ? { name: changes.name } : {}),
          ...(changes.provider !== undefined ? { provider: changes.provider } : {}),
          ...(changes.model !== undefined ? { model: changes.model } : {}),
          ...(changes.description !== undefined ? { description: changes.description } : {}),
          ...(changes.systemPrompt !== undefined ? { systemPrompt: changes.systemPrompt ?? undefined } : {}),
          ...(changes.trustLevel !== undefined ? { trustLevel: yield* parseTrustLevel(changes.trustLevel) } : {}),
          ...(changes.capabilities !== undefined ? { capabilities: [...changes.capabilities] } : {}),
          ...(changes.active !== undefined ? { active: changes.active } : {})
        }
        const same = (["name", "provider", "model", "description", "systemPrompt", "trustLevel", "active"] as const)
          .every((key) => next[key] === current[key]) &&
          JSON.stringify(next.capabilities) === JSON.stringify(current.capabilities)
        if (same) return current
        const now = yield* Clock.currentTimeMillis
        // The version is bumped by the database, on the version read: two concurrent updates
        // of the same agent cannot both write the same version.
        const updated = yield* sql<Row>`UPDATE ${table} SET
            name = ${next.name}, provider = ${next.provider}, model = ${next.model},
            description = ${next.description}, system_prompt = ${next.systemPrompt ?? null},
            trust_level = ${next.trustLevel}, capabilities = ${JSON.stringify(next.capabilities)},
            active = ${next.active ? 1 : 0}, version = version + 1, updated_at = ${now}
          WHERE slug = ${slug} AND version = ${current.version} RETURNING *`.pipe(
          Effect.mapError(FederationStore.storeFailed(store, "update the agent"))
        )
        const row = updated[0]
        if (row === undefined) {
          return yield* Effect.fail(FederationStore.invalid(
            `agent ${slug} was changed by someone else while it was being updated`,
            "agent",
            "run the update again"
          ))
        }
        return agentOf(row)
      })

    return AgentRegistry.of({
      add: (agent) =>
        Effect.gen(function*() {
          yield* FederationStore.checkName(agent.slug, "--slug", "triage-bot")
          yield* checkFields(agent)
          const trustLevel = yield* parseTrustLevel(agent.trustLevel ?? "advisory")
          if (Option.isSome(yield* find(agent.slug))) {
            return yield* Effect.fail(FederationStore.invalid(
              `an agent with slug ${agent.slug} exists already`,
              "--slug",
              `choose another slug, or change it: llm-connect agents update ${agent.slug} ...`
            ))
          }
          const now = yield* Clock.currentTimeMillis
          const made: Agent = {
            slug: agent.slug,
            name: agent.name,
            description: agent.description ?? "",
            provider: agent.provider,
            model: agent.model,
            systemPrompt: agent.systemPrompt,
            trustLevel,
            capabilities: [...(agent.capabilities ?? [])],
            active: true,
            version: 1,
            createdAt: now,
            updatedAt: now
          }
          yield* sql`INSERT INTO ${table} (slug, name, description, provider, model, system_prompt, trust_level,
              capabilities, active, version, created_at, updated_at)
            VALUES (${made.slug}, ${made.name}, ${made.description}, ${made.provider}, ${made.model}, ${made.systemPrompt ?? null},
              ${made.trustLevel}, ${JSON.stringify(made.capabilities)}, 1, 1, ${now}, ${now})`.pipe(
            // Another process took the slug between the check and the insert.
            Effect.mapError((cause) =>
              /unique|duplicate|constraint/i.test(cause.message)
                ? FederationStore.invalid(`an agent with slug ${agent.slug} exists already`, "--slug", "choose another slug")
                : FederationStore.storeFailed(store, "register the agent")(cause)
            )
          )
          return made
        }),
      list: sql<Row>`SELECT * FROM ${table} ORDER BY slug`.pipe(
        Effect.map((rows) => rows.map(agentOf)),
        Effect.mapError(FederationStore.storeFailed(store, "list the agents"))
      ),
      find,
      show,
      update,
      deactivate: (slug) => update(slug, { active: false })
    })
  })

/**
 * The registry on the `SqlStore` in context.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<AgentRegistry, LlmError.LlmError, SqlStore.SqlStore> = Layer.effect(
  AgentRegistry,
  Effect.flatMap(SqlStore.SqlStore, make)
)

/**
 * The router's `AgentLookup`, read from the registry in context.
 *
 * @since 0.1.0
 * @category layers
 */
export const lookupLayer: Layer.Layer<AgentLookup.AgentLookup, never, AgentRegistry> = Layer.effect(
  AgentLookup.AgentLookup,
  Effect.map(AgentRegistry, (registry) => AgentLookup.AgentLookup.of({ find: registry.find }))
)

/**
 * The artifact type governance is asked about for a routed call (`propose` on `prompt`, as
 * `prompt --agent` asks).
 *
 * @since 0.1.0
 * @category constants
 */
export const ROUTED_ARTIFACT_TYPE = "prompt"

/**
 * The router's `AgentLookup` on the `SqlStore` in context: the registry and governance built
 * inside, so a routed call to an agent is checked (`propose` on `prompt` in the call's scope)
 * before it is sent.
 *
 * @since 0.1.0
 * @category layers
 */
export const lookupLayerStore: Layer.Layer<AgentLookup.AgentLookup, LlmError.LlmError, SqlStore.SqlStore> = Layer.effect(
  AgentLookup.AgentLookup,
  Effect.gen(function*() {
    const registry = yield* AgentRegistry
    const governance = yield* Governance.Governance
    return AgentLookup.AgentLookup.of({
      find: registry.find,
      mayPropose: (scope, slug) => Effect.asVoid(governance.check(scope, slug, ROUTED_ARTIFACT_TYPE, "propose"))
    })
  })
).pipe(Layer.provide(Layer.merge(layer, Governance.layer)))
