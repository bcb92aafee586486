/**
 * Delegation (issue 18 §4, FR-4): one agent hands a task to another under a token budget.
 *
 * `delegate({ from, to, task, tokenBudget, scope?, parentId? })`:
 *
 * 1. checks the input (both agents registered and active, a positive budget, the task), the
 *    parent (it exists, it was delegated *to* `from`, and the new budget is not larger than its),
 *    and refuses a cycle: `to` already in the parent chain (or `to` = `from`). Each is a
 *    `Configuration` error (CLI exit 2) and writes nothing;
 * 2. asks governance whether `from` may `delegate` (artifact type `task` unless given): a denial
 *    is audited and fails with `PolicyDenied`, nothing written or sent;
 * 3. records the delegation `pending`, then runs the receiving agent (its provider, model and
 *    system prompt through the whole stack, `AgentModels`; the agent loop `Agent.run`, with the
 *    tools given) under a child budget of `tokenBudget` of the caller's budget
 *    (`BudgetTracker.CurrentBudget`, else the `BudgetTracker` in context, else the
 *    configuration's root budget): every call is reserved on the child and all its ancestors, so
 *    the total of a whole chain holds however deep and however concurrent;
 * 4. records the end: `completed` with the answer, `failed` with the error (budget exhausted,
 *    provider failure), or `cancelled` when the fiber is interrupted, always with `tokensUsed`
 *    (what the child budget charged: every attempt, abandoned ones by the budget's policy) and
 *    the time it ended.
 *
 * A completed or failed delegation is the result (a failure is data: the record says what
 * happened); refusals before the start are errors. Inside a delegation, the current one is
 * {@link CurrentDelegation}: a tool of the receiving agent that delegates again (no `parentId`)
 * makes a child of it, under its budget. {@link Service.tree} returns the provenance of a
 * delegation: its ancestors and every delegation below it.
 *
 * @since 0.1.0
 */
import { Cause, Clock, Context, Effect, Exit, Layer, Option } from "effect"
import * as Agent from "../agent/Agent.ts"
import * as BudgetTracker from "../budget/BudgetTracker.ts"
import * as LanguageModel from "../LanguageModel.ts"
import * as LlmError from "../LlmError.ts"
import * as ModelFactory from "../ModelFactory.ts"
import * as SqlStore from "../store/SqlStore.ts"
import * as AgentModels from "./AgentModels.ts"
import * as AgentRegistry from "./AgentRegistry.ts"
import * as FederationStore from "./FederationStore.ts"
import * as Governance from "./Governance.ts"

/**
 * A delegation as recorded.
 *
 * @since 0.1.0
 * @category models
 */
export interface DelegationRecord {
  readonly id: string
  readonly parentId: string | undefined
  readonly from: string
  readonly to: string
  readonly scope: string
  readonly task: string
  readonly tokenBudget: number
  readonly status: FederationStore.DelegationStatus
  /** The receiving agent's answer (completed). */
  readonly result: string | undefined
  /** What went wrong (failed, cancelled). */
  readonly error: string | undefined
  readonly tokensUsed: number
  readonly createdAt: number
  readonly completedAt: number | undefined
}

/**
 * What `delegate` takes.
 *
 * @since 0.1.0
 * @category models
 */
export interface Request {
  readonly from: string
  readonly to: string
  readonly task: string
  readonly tokenBudget: number
  /** The tenant (the consumer's hub id); default `default`. */
  readonly scope?: string | undefined
  /** The delegation this one is part of; default the {@link CurrentDelegation}, if any. */
  readonly parentId?: string | undefined
  /** The artifact type governance checks `delegate` for; default `task`. */
  readonly artifactType?: string | undefined
  /** Tools the receiving agent may call (e.g. one that delegates further). */
  readonly tools?: ReadonlyArray<Agent.ToolHandler> | undefined
  /** At most this many model calls of the receiving agent (default 10). */
  readonly maxSteps?: number | undefined
}

/**
 * A delegation and the ones below it.
 *
 * @since 0.1.0
 * @category models
 */
export interface TreeNode {
  readonly delegation: DelegationRecord
  readonly children: ReadonlyArray<TreeNode>
}

/**
 * The provenance of a delegation: the chain above it (root first) and the tree below it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Provenance {
  readonly ancestors: ReadonlyArray<DelegationRecord>
  readonly tree: TreeNode
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  readonly delegate: (request: Request) => Effect.Effect<DelegationRecord, LlmError.LlmError>
  /** A delegation by id; an unknown id fails naming it. */
  readonly get: (id: string) => Effect.Effect<DelegationRecord, LlmError.LlmError>
  readonly tree: (id: string) => Effect.Effect<Provenance, LlmError.LlmError>
}

/**
 * The `Delegation` service.
 *
 * @since 0.1.0
 * @category services
 */
export class Delegation extends Context.Service<Delegation, Service>()("llm-connect/Delegation") {}

/**
 * The delegation the current fiber runs in (set while a receiving agent runs).
 *
 * @since 0.1.0
 * @category references
 */
export const CurrentDelegation = Context.Reference<DelegationRecord | undefined>("llm-connect/Delegation/Current", {
  defaultValue: () => undefined
})

/**
 * The largest token budget a delegation may have.
 *
 * @since 0.1.0
 * @category constants
 */
export const MAX_TOKEN_BUDGET = 1_000_000_000

/**
 * The longest task text, in characters.
 *
 * @since 0.1.0
 * @category constants
 */
export const MAX_TASK_LENGTH = 1_000_000

/** A tree is read at most this deep/large, so a corrupt table cannot make it unbounded. */
const MAX_NODES = 10_000
const MAX_DEPTH = 1_000

interface Row {
  readonly id: string
  readonly parent_id: string | null
  readonly from_agent: string
  readonly to_agent: string
  readonly scope: string
  readonly task: string
  readonly token_budget: unknown
  readonly status: string
  readonly result: string | null
  readonly error: string | null
  readonly tokens_used: unknown
  readonly created_at: unknown
  readonly completed_at: unknown
}

const recordOf = (row: Row): DelegationRecord => ({
  id: row.id,
  parentId: row.parent_id ?? undefined,
  from: row.from_agent,
  to: row.to_agent,
  scope: row.scope,
  task: row.task,
  tokenBudget: FederationStore.num(row.token_budget),
  status: FederationStore.delegationStatuses.find((status) => status === row.status) ?? "failed",
  result: row.result ?? undefined,
  error: row.error ?? undefined,
  tokensUsed: FederationStore.num(row.tokens_used),
  createdAt: FederationStore.num(row.created_at),
  completedAt: FederationStore.numOrUndefined(row.completed_at)
})

/**
 * A record as a JSON document (`delegate --json`, `/v1/delegations`): absent values as `null`.
 *
 * @since 0.1.0
 * @category encoding
 */
export const toDocument = (record: DelegationRecord) => ({
  id: record.id,
  parentId: record.parentId ?? null,
  from: record.from,
  to: record.to,
  scope: record.scope,
  task: record.task,
  tokenBudget: record.tokenBudget,
  status: record.status,
  result: record.result ?? null,
  error: record.error ?? null,
  tokensUsed: record.tokensUsed,
  createdAt: new Date(record.createdAt).toISOString(),
  completedAt: record.completedAt === undefined ? null : new Date(record.completedAt).toISOString()
})

const errorText = (cause: Cause.Cause<unknown>): string => {
  const error = Cause.squash(cause)
  if (LlmError.isLlmError(error)) return error.message
  if (error instanceof Agent.AgentError) return `${error.stopReason}: ${error.message}`
  return error instanceof Error ? error.message : String(error)
}

/**
 * Delegation over a store, the registry, governance and agents' models.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  store: SqlStore.Service,
  registry: AgentRegistry.Service,
  governance: Governance.Service,
  models: AgentModels.Service,
  options: { readonly rootBudget?: BudgetTracker.Service | undefined } = {}
): Effect.Effect<Service, LlmError.LlmError> =>
  Effect.gen(function*() {
    yield* FederationStore.migrate(store)
    const sql = store.sql
    const table = sql(FederationStore.Tables.delegations)
    const failed = (what: string) => FederationStore.storeFailed(store, what)

    const find = (id: string) =>
      sql<Row>`SELECT * FROM ${table} WHERE id = ${id}`.pipe(
        Effect.map((rows) => Option.map(Option.fromNullishOr(rows[0]), recordOf)),
        Effect.mapError(failed("read the delegations"))
      )
    const get = (id: string, setting = "id") =>
      Effect.flatMap(find(id), Option.match({
        onNone: () =>
          Effect.fail(FederationStore.invalid(
            `no delegation has id ${JSON.stringify(id.slice(0, 64))}`,
            setting,
            "use the id a delegation printed (llm-connect delegate ... --json)"
          )),
        onSome: Effect.succeed
      }))

    /** The chain above a delegation, root first (itself last). */
    const chainOf = (record: DelegationRecord) =>
      Effect.gen(function*() {
        const chain: Array<DelegationRecord> = [record]
        let current = record
        while (current.parentId !== undefined && chain.length < MAX_DEPTH) {
          const parent = yield* find(current.parentId)
          if (Option.isNone(parent)) break
          chain.unshift(parent.value)
          current = parent.value
        }
        return chain
      })

    const activeAgent = (slug: string, setting: string) =>
      Effect.flatMap(
        registry.find(slug),
        Option.match({
          onNone: () => Effect.fail(AgentRegistry.unknownAgent(slug, setting)),
          onSome: (agent) => agent.active ? Effect.succeed(agent) : Effect.fail(AgentModels.inactive(slug, setting))
        })
      )

    const finish = (id: string, child: BudgetTracker.Service, exit: Exit.Exit<Agent.AgentResult, unknown>) =>
      Effect.gen(function*() {
        const snapshot = yield* child.snapshot
        const tokensUsed = snapshot.consumed.totalTokens
        const now = yield* Clock.currentTimeMillis
        const [status, result, error]: readonly [FederationStore.DelegationStatus, string | null, string | null] = Exit.isSuccess(exit)
          ? ["completed", exit.value.text, null]
          : Cause.hasInterruptsOnly(exit.cause)
          ? ["cancelled", null, "interrupted before the receiving agent finished"]
          : ["failed", null, errorText(exit.cause)]
        const rows = yield* sql<Row>`UPDATE ${table} SET status = ${status}, result = ${result}, error = ${error},
            tokens_used = ${tokensUsed}, completed_at = ${now}
          WHERE id = ${id} RETURNING *`.pipe(Effect.mapError(failed("record the delegation's end")))
        return rows.map(recordOf)[0]
      })

    const delegate: Service["delegate"] = (request) =>
      Effect.gen(function*() {
        const scope = request.scope ?? "default"
        const artifactType = request.artifactType ?? "task"
        yield* FederationStore.checkName(scope, "--scope", "default")
        yield* FederationStore.checkName(artifactType, "--artifact-type", "task")
        if (!Number.isSafeInteger(request.tokenBudget) || request.tokenBudget <= 0 || request.tokenBudget > MAX_TOKEN_BUDGET) {
          return yield* Effect.fail(FederationStore.invalid(
            `--token-budget is ${request.tokenBudget}; it must be a whole number of tokens from 1 to ${MAX_TOKEN_BUDGET}`,
            "--token-budget",
            "pass e.g. --token-budget 2000"
          ))
        }
        if (request.task.trim() === "" || request.task.length > MAX_TASK_LENGTH) {
          return yield* Effect.fail(FederationStore.invalid(
            request.task.trim() === "" ? "the task is empty" : `the task is ${request.task.length} characters long`,
            "task",
            `give the task as text of 1 to ${MAX_TASK_LENGTH} characters`
          ))
        }
        const from = yield* activeAgent(request.from, "--from")
        const to = yield* activeAgent(request.to, "--to")

        const current = yield* CurrentDelegation
        const parentId = request.parentId ?? current?.id
        const parent = parentId === undefined ? undefined : yield* get(parentId, "--parent")
        if (parent !== undefined) {
          if (parent.to !== from.slug) {
            return yield* Effect.fail(FederationStore.invalid(
              `delegation ${parent.id} was delegated to ${parent.to}, not to ${from.slug}: only the agent it was given to can delegate part of it`,
              "--from",
              `pass --from ${parent.to}, or leave out --parent`
            ))
          }
          if (request.tokenBudget > parent.tokenBudget) {
            return yield* Effect.fail(FederationStore.invalid(
              `--token-budget ${request.tokenBudget} is more than the parent delegation's ${parent.tokenBudget}`,
              "--token-budget",
              `pass at most --token-budget ${parent.tokenBudget}`
            ))
          }
        }
        const chain = parent === undefined ? [] : yield* chainOf(parent)
        const path = chain.length === 0 ? [from.slug] : [chain[0]!.from, ...chain.map((link) => link.to)]
        if (path.includes(to.slug)) {
          return yield* Effect.fail(FederationStore.invalid(
            `delegating to ${to.slug} would make a cycle: ${[...path, to.slug].join(" -> ")}`,
            "--to",
            "delegate to an agent that is not already in the chain"
          ))
        }
        // The stack for the receiving agent is built before anything is recorded: an unknown
        // provider or a missing key is a refusal, not a failed delegation.
        const model = yield* models.modelFor(to)
        yield* governance.check(scope, from.slug, artifactType, "delegate")

        const parentTracker = (yield* Agent.currentTracker) ?? options.rootBudget
        const id = yield* FederationStore.newId("dlg")
        const label = `delegation ${id} (${from.slug} -> ${to.slug})`
        const child = parentTracker === undefined
          ? yield* BudgetTracker.make({ totalTokens: request.tokenBudget }, { label })
          : yield* parentTracker.child({ totalTokens: request.tokenBudget }, label)
        const now = yield* Clock.currentTimeMillis
        const pending: DelegationRecord = {
          id,
          parentId: parent?.id,
          from: from.slug,
          to: to.slug,
          scope,
          task: request.task,
          tokenBudget: request.tokenBudget,
          status: "pending",
          result: undefined,
          error: undefined,
          tokensUsed: 0,
          createdAt: now,
          completedAt: undefined
        }
        yield* sql`INSERT INTO ${table} (id, parent_id, from_agent, to_agent, scope, task, token_budget, status, tokens_used, created_at)
          VALUES (${id}, ${pending.parentId ?? null}, ${from.slug}, ${to.slug}, ${scope}, ${request.task}, ${request.tokenBudget},
            'pending', 0, ${now})`.pipe(Effect.mapError(failed("record the delegation")))

        const run = Agent.run({
          prompt: request.task,
          ...(to.systemPrompt !== undefined ? { system: to.systemPrompt } : {}),
          model: to.model,
          conversationId: id,
          metadata: AgentModels.metadataFor(to, undefined, id),
          ...(request.tools !== undefined ? { tools: request.tools } : {}),
          ...(request.maxSteps !== undefined ? { maxSteps: request.maxSteps } : {})
        }).pipe(
          Effect.provideService(LanguageModel.LanguageModel, model),
          BudgetTracker.withTracker(child),
          Effect.provideService(CurrentDelegation, pending),
          Effect.annotateLogs({ delegation: id, agent: to.slug })
        )
        // The end is written whatever happens; an interrupted run is recorded `cancelled` by a
        // finalizer (it runs uninterruptibly, after the budget layer has charged the call).
        const ended = yield* run.pipe(
          Effect.onInterrupt(() => Effect.ignore(finish(id, child, Exit.interrupt(0)))),
          Effect.exit
        )
        const record = yield* finish(id, child, ended)
        return record ?? (yield* get(id))
      }).pipe(Effect.withSpan("Delegation.delegate", { attributes: { "llm_connect.from": request.from, "llm_connect.to": request.to } }))

    const tree: Service["tree"] = (id) =>
      Effect.gen(function*() {
        const root = yield* get(id)
        const chain = yield* chainOf(root)
        let nodes = 1
        const below = (record: DelegationRecord, depth: number): Effect.Effect<TreeNode, LlmError.LlmError> =>
          Effect.gen(function*() {
            if (depth >= MAX_DEPTH || nodes >= MAX_NODES) return { delegation: record, children: [] }
            const rows = yield* sql<Row>`SELECT * FROM ${table} WHERE parent_id = ${record.id} ORDER BY created_at, id`.pipe(
              Effect.mapError(failed("read the delegations"))
            )
            const children: Array<TreeNode> = []
            for (const row of rows) {
              if (nodes >= MAX_NODES) break
              nodes += 1
              children.push(yield* below(recordOf(row), depth + 1))
            }
            return { delegation: record, children }
          })
        return { ancestors: chain.slice(0, -1), tree: yield* below(root, 0) }
      })

    return Delegation.of({ delegate, get: (id) => get(id), tree })
  })

/**
 * Delegation on the services in context; the parent budget of a top-level delegation is the
 * configuration's root budget (`ModelFactory.budget`) when the caller's fiber has none.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<
  Delegation,
  LlmError.LlmError,
  SqlStore.SqlStore | AgentRegistry.AgentRegistry | Governance.Governance | AgentModels.AgentModels
> = Layer.effect(
  Delegation,
  Effect.gen(function*() {
    const factory = yield* Effect.serviceOption(ModelFactory.ModelFactory)
    return yield* make(
      yield* SqlStore.SqlStore,
      yield* AgentRegistry.AgentRegistry,
      yield* Governance.Governance,
      yield* AgentModels.AgentModels,
      { rootBudget: Option.isSome(factory) ? factory.value.budget : undefined }
    )
  })
)
