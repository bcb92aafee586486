/**
 * Governance (issue 18 §3): what each agent may do. A policy is `(scope, agent, artifactType,
 * allowedActions, active)`, the actions a subset of `read | propose | delegate | auto_apply`.
 *
 * `check(scope, agent, artifactType, action)` decides: the active policy of that scope and agent
 * for that artifact type (else the one for artifact type `*`) allows the action or not; with no
 * matching policy the action is permitted (the consumer's rule: governance restricts, it does not
 * have to enumerate). A refusal fails with an `LlmError` of reason `PolicyDenied` (CLI exit 1,
 * HTTP 403), and one row is written to the audit table first (`audit` counts them per scope).
 * Callers check before they send anything, so a denied invocation costs nothing.
 *
 * One active policy per `(scope, agent, artifactType)`: adding one replaces (deactivates) the
 * previous, kept for the record.
 *
 * @since 0.1.0
 */
import { Clock, Context, Effect, Layer } from "effect"
import * as LlmError from "../LlmError.ts"
import * as SqlStore from "../store/SqlStore.ts"
import * as FederationStore from "./FederationStore.ts"

/**
 * The artifact type of a policy that applies to every artifact type of its scope and agent.
 *
 * @since 0.1.0
 * @category constants
 */
export const ANY_ARTIFACT = "*"

/**
 * A governance policy.
 *
 * @since 0.1.0
 * @category models
 */
export interface Policy {
  readonly id: string
  readonly scope: string
  readonly agent: string
  readonly artifactType: string
  readonly allowedActions: ReadonlyArray<FederationStore.Action>
  readonly active: boolean
  readonly createdAt: number
}

/**
 * What `addPolicy` takes; the actions as text (checked against the set).
 *
 * @since 0.1.0
 * @category models
 */
export interface NewPolicy {
  readonly scope: string
  readonly agent: string
  readonly artifactType: string
  readonly allowedActions: ReadonlyArray<string>
}

/**
 * The outcome of an allowed check: the policy that decided, or none (no policy: permitted).
 *
 * @since 0.1.0
 * @category models
 */
export interface Decision {
  readonly allowed: true
  readonly policyId: string | undefined
}

/**
 * Denials per scope since a time.
 *
 * @since 0.1.0
 * @category models
 */
export interface AuditReport {
  readonly since: number
  readonly total: number
  readonly scopes: ReadonlyArray<{ readonly scope: string; readonly denials: number }>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** Permits, or writes an audit row and fails with `PolicyDenied`. */
  readonly check: (
    scope: string,
    agent: string,
    artifactType: string,
    action: FederationStore.Action
  ) => Effect.Effect<Decision, LlmError.LlmError>
  readonly addPolicy: (policy: NewPolicy) => Effect.Effect<Policy, LlmError.LlmError>
  /** Every policy (inactive ones too), optionally of one scope. */
  readonly listPolicies: (scope?: string | undefined) => Effect.Effect<ReadonlyArray<Policy>, LlmError.LlmError>
  /** Denials recorded at or after `since` (epoch ms), per scope. */
  readonly audit: (since: number) => Effect.Effect<AuditReport, LlmError.LlmError>
}

/**
 * The `Governance` service.
 *
 * @since 0.1.0
 * @category services
 */
export class Governance extends Context.Service<Governance, Service>()("llm-connect/Governance") {}

/**
 * Checks an action's text.
 *
 * @since 0.1.0
 * @category validation
 */
export const parseAction = (text: string, setting = "--allow"): Effect.Effect<FederationStore.Action, LlmError.LlmError> => {
  const found = FederationStore.actions.find((action) => action === text.trim())
  return found !== undefined ? Effect.succeed(found) : Effect.fail(FederationStore.invalid(
    `${setting} ${JSON.stringify(text.slice(0, 40))} is not a policy action`,
    setting,
    `use one or more of ${FederationStore.actions.join(", ")} (comma-separated, or the flag repeated)`
  ))
}

interface Row {
  readonly id: string
  readonly scope: string
  readonly agent: string
  readonly artifact_type: string
  readonly allow_read: unknown
  readonly allow_propose: unknown
  readonly allow_delegate: unknown
  readonly allow_auto_apply: unknown
  readonly active: unknown
  readonly created_at: unknown
}

const policyOf = (row: Row): Policy => {
  const flags: ReadonlyArray<readonly [FederationStore.Action, unknown]> = [
    ["read", row.allow_read],
    ["propose", row.allow_propose],
    ["delegate", row.allow_delegate],
    ["auto_apply", row.allow_auto_apply]
  ]
  return {
    id: row.id,
    scope: row.scope,
    agent: row.agent,
    artifactType: row.artifact_type,
    allowedActions: flags.filter(([, flag]) => FederationStore.num(flag) === 1).map(([action]) => action),
    active: FederationStore.num(row.active) === 1,
    createdAt: FederationStore.num(row.created_at)
  }
}

/**
 * The denial error.
 *
 * @since 0.1.0
 * @category errors
 */
export const denied = (scope: string, agent: string, artifactType: string, action: FederationStore.Action, policy: Policy): LlmError.LlmError =>
  LlmError.make(
    "agents",
    new LlmError.PolicyDenied({
      description: `agent ${agent} may not ${action} ${artifactType} in scope ${scope}: policy ${policy.id} allows ` +
        `${policy.allowedActions.length === 0 ? "nothing" : policy.allowedActions.join(", ")}; nothing was sent`
    })
  )

/**
 * Governance in a SQL store (brings the federation tables up to date first).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (store: SqlStore.Service): Effect.Effect<Service, LlmError.LlmError> =>
  Effect.gen(function*() {
    yield* FederationStore.migrate(store)
    const sql = store.sql
    const policies = sql(FederationStore.Tables.policies)
    const auditTable = sql(FederationStore.Tables.audit)

    const check: Service["check"] = (scope, agent, artifactType, action) =>
      Effect.gen(function*() {
        const rows = yield* sql<Row>`SELECT * FROM ${policies}
          WHERE scope = ${scope} AND agent = ${agent} AND active = 1 AND artifact_type IN (${artifactType}, ${ANY_ARTIFACT})
          ORDER BY created_at DESC`.pipe(Effect.mapError(FederationStore.storeFailed(store, "read the policies")))
        const matching = rows.map(policyOf)
        const policy = matching.find((candidate) => candidate.artifactType === artifactType) ??
          matching.find((candidate) => candidate.artifactType === ANY_ARTIFACT)
        if (policy === undefined) return { allowed: true, policyId: undefined } satisfies Decision
        if (policy.allowedActions.includes(action)) return { allowed: true, policyId: policy.id } satisfies Decision
        const id = yield* FederationStore.newId("den")
        const now = yield* Clock.currentTimeMillis
        yield* sql`INSERT INTO ${auditTable} (id, time, scope, agent, artifact_type, action, policy_id)
          VALUES (${id}, ${now}, ${scope}, ${agent}, ${artifactType}, ${action}, ${policy.id})`.pipe(
          Effect.mapError(FederationStore.storeFailed(store, "record the denial"))
        )
        return yield* Effect.fail(denied(scope, agent, artifactType, action, policy))
      }).pipe(Effect.withSpan("Governance.check", { attributes: { "llm_connect.agent": agent, "llm_connect.action": action } }))

    return Governance.of({
      check,
      addPolicy: (input) =>
        Effect.gen(function*() {
          yield* FederationStore.checkName(input.scope, "--scope", "default")
          yield* FederationStore.checkName(input.agent, "--agent", "triage-bot")
          if (input.artifactType !== ANY_ARTIFACT) yield* FederationStore.checkName(input.artifactType, "--artifact-type", "ticket")
          const allowed = new Set<FederationStore.Action>()
          for (const text of input.allowedActions) {
            for (const part of text.split(",")) {
              if (part.trim() !== "") allowed.add(yield* parseAction(part))
            }
          }
          const id = yield* FederationStore.newId("pol")
          const now = yield* Clock.currentTimeMillis
          const flag = (action: FederationStore.Action) => allowed.has(action) ? 1 : 0
          yield* sql.withTransaction(Effect.gen(function*() {
            yield* sql`UPDATE ${policies} SET active = 0
              WHERE scope = ${input.scope} AND agent = ${input.agent} AND artifact_type = ${input.artifactType} AND active = 1`
            yield* sql`INSERT INTO ${policies} (id, scope, agent, artifact_type, allow_read, allow_propose, allow_delegate,
                allow_auto_apply, active, created_at)
              VALUES (${id}, ${input.scope}, ${input.agent}, ${input.artifactType}, ${flag("read")}, ${flag("propose")},
                ${flag("delegate")}, ${flag("auto_apply")}, 1, ${now})`
          })).pipe(Effect.mapError(FederationStore.storeFailed(store, "store the policy")))
          return {
            id,
            scope: input.scope,
            agent: input.agent,
            artifactType: input.artifactType,
            allowedActions: FederationStore.actions.filter((action) => allowed.has(action)),
            active: true,
            createdAt: now
          } satisfies Policy
        }),
      listPolicies: (scope) =>
        (scope === undefined
          ? sql<Row>`SELECT * FROM ${policies} ORDER BY scope, agent, artifact_type, created_at`
          : sql<Row>`SELECT * FROM ${policies} WHERE scope = ${scope} ORDER BY agent, artifact_type, created_at`).pipe(
            Effect.map((rows) => rows.map(policyOf)),
            Effect.mapError(FederationStore.storeFailed(store, "list the policies"))
          ),
      audit: (since) =>
        sql<{ readonly scope: string; readonly denials: unknown }>`SELECT scope, COUNT(*) AS denials FROM ${auditTable}
          WHERE time >= ${since} GROUP BY scope ORDER BY scope`.pipe(
          Effect.map((rows) => {
            const scopes = rows.map((row) => ({ scope: row.scope, denials: FederationStore.num(row.denials) }))
            return { since, total: scopes.reduce((sum, row) => sum + row.denials, 0), scopes }
          }),
          Effect.mapError(FederationStore.storeFailed(store, "read the audit"))
        )
    })
  })

/**
 * Governance on the `SqlStore` in context.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<Governance, LlmError.LlmError, SqlStore.SqlStore> = Layer.effect(
  Governance,
  Effect.flatMap(SqlStore.SqlStore, make)
)
