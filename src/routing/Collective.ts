/**
 * Collective proposals (issue 18 §5): several agents answer the same task, and the
 * highest-priority one synthesises their answers.
 *
 * `collective({ scope, taskType, prompt })`:
 *
 * 1. The agents are the agent candidates the `Router` finds fitting for the task type (active,
 *    within the rule's price limit, key found, circuit closed), each once, highest priority
 *    first; model candidates take no part. None: a `Configuration` error (nothing is sent).
 * 2. Every agent is asked at once (at most `concurrency`, default 4, in flight) for a structured
 *    answer `{ recommendation, rationale, confidence }` (`LanguageModel.generateObject`, through
 *    the agent's whole stack: its system prompt, its usage tagged with its slug). A contribution
 *    is recorded per agent: its answer as JSON, its tokens and model, or why it failed.
 * 3. Fewer than a quorum (a strict majority of the agents asked) answered: the proposal is
 *    `failed`, nothing is synthesised. Otherwise `consensusStatus` is `consensus` when every
 *    answered recommendation is the same once normalised (trimmed, lower case, whitespace
 *    collapsed), else `divergent`; the highest-priority agent that answered synthesises the
 *    final content from every contribution (a failed synthesis makes the proposal `failed`).
 * 4. The proposal is stored (`ProposalStore`) and returned.
 *
 * The whole proposal runs under one budget: with `budget` limits, a child tracker of the budget
 * on the fiber (else of the configuration's root budget) that every call of the proposal
 * reserves from, so the proposal's total holds however many agents answer at once; without, the
 * budget in force (if any) holds every call.
 *
 * @since 0.1.0
 */
import { Clock, Context, Effect, Layer, Random, Schema } from "effect"
import type * as Budget from "../budget/Budget.ts"
import * as BudgetTracker from "../budget/BudgetTracker.ts"
import * as LanguageModel from "../LanguageModel.ts"
import * as LlmError from "../LlmError.ts"
import type { LlmResponse } from "../LlmResponse.ts"
import * as SqlStore from "../store/SqlStore.ts"
import * as ProposalStore from "./ProposalStore.ts"
import * as Router from "./Router.ts"
import * as RoutesConfig from "./RoutesConfig.ts"

/**
 * What each agent is asked for.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Answer = Schema.Struct({
  recommendation: Schema.String.annotate({ description: "The recommendation, in a few words" }),
  rationale: Schema.String.annotate({ description: "Why" }),
  confidence: Schema.Finite.check(Schema.isBetween({ minimum: 0, maximum: 1 })).annotate({
    description: "How sure, from 0 to 1"
  })
}).annotate({ identifier: "CollectiveAnswer" })

/**
 * @since 0.1.0
 * @category models
 */
export type Answer = typeof Answer.Type

/**
 * A collective request.
 *
 * @since 0.1.0
 * @category models
 */
export interface Request {
  readonly taskType: string
  readonly prompt: string
  /** Default `default`. */
  readonly scope?: string | undefined
  /** Limits for the whole proposal (a child of the budget in force). */
  readonly budget?: Budget.Input | undefined
  /** The output cap of each call (default: the stack's). */
  readonly maxTokens?: number | undefined
}

/**
 * How many agents are asked at once when not configured.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_CONCURRENCY = 4

/**
 * The most agents one proposal asks (the rest of the route's agents are left out).
 *
 * @since 0.1.0
 * @category constants
 */
export const MAX_AGENTS = 16

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  readonly collective: (request: Request) => Effect.Effect<ProposalStore.Proposal, LlmError.LlmError>
}

/**
 * The `Collective` service.
 *
 * @since 0.1.0
 * @category services
 */
export class Collective extends Context.Service<Collective, Service>()("llm-connect/Collective") {}

/**
 * A recommendation as compared: trimmed, lower case, whitespace collapsed.
 *
 * @since 0.1.0
 * @category consensus
 */
export const normalise = (recommendation: string): string => recommendation.trim().toLowerCase().replace(/\s+/g, " ")

/**
 * Whether a strict majority of `asked` answered.
 *
 * @since 0.1.0
 * @category consensus
 */
export const hasQuorum = (answered: number, asked: number): boolean => answered * 2 > asked

/**
 * The consensus status of the answered contributions (`failed` without a quorum).
 *
 * @since 0.1.0
 * @category consensus
 */
export const consensusOf = (contributions: ReadonlyArray<ProposalStore.Contribution>): ProposalStore.ConsensusStatus => {
  const answered = contributions.filter((contribution) => contribution.status === "answered")
  if (!hasQuorum(answered.length, contributions.length)) return "failed"
  const distinct = new Set(answered.map((contribution) => normalise(contribution.recommendation ?? "")))
  return distinct.size <= 1 ? "consensus" : "divergent"
}

/**
 * The synthesis prompt: the task and every contribution (failed ones named as such).
 *
 * @since 0.1.0
 * @category synthesis
 */
export const synthesisPrompt = (prompt: string, contributions: ReadonlyArray<ProposalStore.Contribution>): string =>
  [
    "Several agents answered the task below. Write the final answer, combining their contributions.",
    "",
    "Task:",
    prompt,
    "",
    "Contributions:",
    ...contributions.map((contribution) =>
      contribution.status === "answered"
        ? `- ${contribution.agent}: ${contribution.content}`
        : `- ${contribution.agent}: (no answer: ${contribution.error ?? "failed"})`
    )
  ].join("\n")

const makeId: Effect.Effect<string> = Effect.gen(function*() {
  const now = yield* Clock.currentTimeMillis
  const suffix = yield* Random.nextIntBetween(0, 36 ** 8)
  return `prop-${now.toString(36)}-${suffix.toString(36).padStart(8, "0")}`
})

const usageOf = (response: LlmResponse) => ({ tokensIn: response.usage.inputTokens, tokensOut: response.usage.outputTokens })

/**
 * Builds the service over the `Router` and the `ProposalStore`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: { readonly concurrency?: number | undefined } = {}): Effect.Effect<
  Service,
  never,
  Router.Router | ProposalStore.ProposalStore
> =>
  Effect.gen(function*() {
    const router = yield* Router.Router
    const store = yield* ProposalStore.ProposalStore
    const concurrency = Math.max(1, Math.min(options.concurrency ?? DEFAULT_CONCURRENCY, MAX_AGENTS))

    const collective = Effect.fn("Collective.collective")(function*(request: Request) {
      const scope = request.scope ?? RoutesConfig.DEFAULT_SCOPE
      const { explanation, fits } = yield* router.evaluate(request.taskType, scope)
      const seen = new Set<string>()
      const agents = fits.filter((fit) => {
        if (fit.agent === undefined || seen.has(fit.agent.slug)) return false
        seen.add(fit.agent.slug)
        return true
      }).slice(0, MAX_AGENTS)
      if (agents.length === 0) {
        return yield* Effect.fail(LlmError.make(
          "collective",
          new LlmError.Configuration({
            description: `no active agent is routed for task type "${request.taskType}" in scope "${scope}"` +
              (explanation.skipped.length > 0
                ? ` (skipped: ${explanation.skipped.slice(0, 10).map((skip) => `${skip.agent ?? `${skip.provider}/${skip.model}`} ${skip.reason}`).join(", ")})`
                : ""),
            setting: "routes",
            fix: `name agents in the routes: rules of task type ${request.taskType} (prefer: [{ agent: <slug> }]) and register them`
          })
        ))
      }
      const id = yield* makeId
      const createdAt = yield* Clock.currentTimeMillis

      // One budget for the whole proposal: a child of the budget in force, or of the root.
      const parent = (yield* BudgetTracker.CurrentBudget) ?? router.budget
      const tracker = request.budget === undefined
        ? parent
        : parent !== undefined
        ? yield* parent.scopedChild(request.budget, `collective ${id}`) // released when the proposal ends
        : yield* BudgetTracker.make(request.budget, { label: `collective ${id}` })
      const underBudget = <A, E>(effect: Effect.Effect<A, E>) =>
        tracker === undefined ? effect : BudgetTracker.withTracker(tracker)(effect)

      const metadata = { taskType: request.taskType, correlationId: id, tags: { [Router.SCOPE_TAG]: scope, proposal: id } }
      const ask = (fit: Router.Fit): Effect.Effect<ProposalStore.Contribution> =>
        Effect.gen(function*() {
          const model = yield* router.modelOf(fit)
          const answered = yield* LanguageModel.generateObject({
            schema: Answer,
            name: "answer",
            description: "Your answer to the task: a recommendation, its rationale, and your confidence from 0 to 1",
            prompt: request.prompt,
            metadata,
            ...(request.maxTokens !== undefined ? { maxTokens: request.maxTokens } : {})
          }).pipe(Effect.provideService(LanguageModel.LanguageModel, model))
          return {
            agent: fit.choice.agent!,
            status: "answered" as const,
            content: JSON.stringify(answered.object),
            tokensIn: answered.usage.inputTokens,
            tokensOut: answered.usage.outputTokens,
            model: answered.response.model,
            recommendation: answered.object.recommendation,
            confidence: answered.object.confidence
          }
        }).pipe(
          Effect.catch((error: LlmError.LlmError) =>
            Effect.succeed<ProposalStore.Contribution>({
              agent: fit.choice.agent!,
              status: "failed",
              content: "",
              // A failed call's tokens are the budget's to count; none reached a contribution.
              tokensIn: 0,
              tokensOut: 0,
              model: fit.choice.model,
              error: `${error.reason._tag}: ${error.reason.description}`.slice(0, 500)
            })
          )
        )

      const contributions = yield* underBudget(Effect.forEach(agents, ask, { concurrency }))
      let consensusStatus = consensusOf(contributions)
      let finalContent: string | null = null
      let synthesizedBy: string | null = null
      let synthesisTokens = { tokensIn: 0, tokensOut: 0 }
      if (consensusStatus !== "failed") {
        // The highest-priority agent that answered synthesises.
        const synthesiser = agents.find((fit) => contributions.some((c) => c.agent === fit.choice.agent && c.status === "answered"))!
        const synthesis = yield* Effect.result(underBudget(Effect.flatMap(router.modelOf(synthesiser), (model) =>
          model.generate({
            messages: [{ role: "user", content: synthesisPrompt(request.prompt, contributions) }],
            metadata,
            ...(request.maxTokens !== undefined ? { maxTokens: request.maxTokens } : {})
          }))))
        if (synthesis._tag === "Success") {
          finalContent = synthesis.success.content
          synthesizedBy = synthesiser.choice.agent!
          synthesisTokens = usageOf(synthesis.success)
        } else {
          consensusStatus = "failed"
        }
      }
      const proposal: ProposalStore.Proposal = {
        id,
        scope,
        taskType: request.taskType,
        consensusStatus,
        contributions,
        finalContent,
        synthesizedBy,
        tokensIn: contributions.reduce((sum, c) => sum + c.tokensIn, synthesisTokens.tokensIn),
        tokensOut: contributions.reduce((sum, c) => sum + c.tokensOut, synthesisTokens.tokensOut),
        createdAt
      }
      yield* store.save(proposal)
      return proposal
    }, Effect.scoped)

    return { collective } satisfies Service
  })

/**
 * The service as a Layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: { readonly concurrency?: number | undefined } = {}
): Layer.Layer<Collective, never, Router.Router | ProposalStore.ProposalStore> => Layer.effect(Collective, make(options))

/**
 * Runs a collective proposal with the `Collective` in context.
 *
 * @since 0.1.0
 * @category accessors
 * @example
 * const proposal = yield* Collective.run({ taskType: "review", prompt: "Should we ship on Friday?" })
 */
export const run = (request: Request): Effect.Effect<ProposalStore.Proposal, LlmError.LlmError, Collective> =>
  Collective.use((service) => service.collective(request))

/**
 * The body of `POST /v1/collective`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const RequestDocument = Schema.Struct({
  taskType: Schema.String.check(Schema.isNonEmpty(), Schema.isMaxLength(200)),
  prompt: Schema.String.check(Schema.isNonEmpty()),
  scope: Schema.optionalKey(Schema.String.check(Schema.isNonEmpty(), Schema.isMaxLength(200)))
}).annotate({ identifier: "CollectiveRequest" })

/**
 * `collective --json` (and `POST /v1/collective`): the proposal, its contributions and the
 * synthesis (`finalContent: null` when the proposal failed, exit 1).
 *
 * @since 0.1.0
 * @category schemas
 */
export const ProposalDocument = Schema.Struct({
  id: Schema.String,
  scope: Schema.String,
  taskType: Schema.String,
  consensusStatus: Schema.Literals(["consensus", "divergent", "failed"]),
  contributions: Schema.Array(Schema.Struct({
    agent: Schema.String,
    status: Schema.Literals(["answered", "failed"]),
    content: Schema.String.annotate({ description: "The agent's structured answer as JSON text (empty when it failed)" }),
    tokensIn: Schema.Int,
    tokensOut: Schema.Int,
    model: Schema.String,
    recommendation: Schema.optionalKey(Schema.String),
    confidence: Schema.optionalKey(Schema.Finite),
    error: Schema.optionalKey(Schema.String)
  })),
  finalContent: Schema.NullOr(Schema.String),
  synthesizedBy: Schema.NullOr(Schema.String),
  tokensIn: Schema.Int,
  tokensOut: Schema.Int
}).annotate({ identifier: "CollectiveProposal", description: "llm-connect collective --task-type T PROMPT --json" })

/**
 * A proposal as its document.
 *
 * @since 0.1.0
 * @category conversions
 */
export const toDocument = (proposal: ProposalStore.Proposal): typeof ProposalDocument.Type => ({
  id: proposal.id,
  scope: proposal.scope,
  taskType: proposal.taskType,
  consensusStatus: proposal.consensusStatus,
  contributions: proposal.contributions.map((contribution) => ({
    agent: contribution.agent,
    status: contribution.status,
    content: contribution.content,
    tokensIn: contribution.tokensIn,
    tokensOut: contribution.tokensOut,
    model: contribution.model,
    ...(contribution.recommendation !== undefined ? { recommendation: contribution.recommendation } : {}),
    ...(contribution.confidence !== undefined ? { confidence: contribution.confidence } : {}),
    ...(contribution.error !== undefined ? { error: contribution.error } : {})
  })),
  finalContent: proposal.finalContent,
  synthesizedBy: proposal.synthesizedBy,
  tokensIn: proposal.tokensIn,
  tokensOut: proposal.tokensOut
})

/**
 * The error of a failed proposal (for exit 1 once its document is printed): fewer than a quorum
 * answered, or the synthesis failed.
 *
 * @since 0.1.0
 * @category errors
 */
export const failedError = (proposal: ProposalStore.Proposal): LlmError.LlmError => {
  const answered = proposal.contributions.filter((contribution) => contribution.status === "answered").length
  return LlmError.make(
    "collective",
    new LlmError.Unavailable({
      description: hasQuorum(answered, proposal.contributions.length)
        ? `collective proposal ${proposal.id} failed: the synthesis failed`
        : `collective proposal ${proposal.id} failed: ${answered} of ${proposal.contributions.length} agents answered, fewer than a majority`
    })
  )
}

/**
 * Where a front door keeps proposals: the SQL store at `location` (the usage ledger's SQLite file
 * or PostgreSQL URL), else this process's memory.
 *
 * @since 0.1.0
 * @category layers
 */
export const storeLayer = (location: string | undefined): Layer.Layer<ProposalStore.ProposalStore, LlmError.LlmError> =>
  location === undefined
    ? ProposalStore.layerMemory
    : Layer.effect(
      ProposalStore.ProposalStore,
      Effect.flatMap(
        SqlStore.make(location, { setting: "ledger.path", env: "LLM_CONNECT_LEDGER", label: "the usage ledger" }),
        ProposalStore.make
      )
    )
