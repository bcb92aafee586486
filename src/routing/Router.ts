/**
 * Routing policies (issue 18 §1): which model serves a task type, decided per call from the
 * `routes:` rules of the configuration (`RoutesConfig`).
 *
 * Selection: the active rules of the task type in the request's scope, highest priority first
 * (none: the scope's default route `taskType: "*"`; none in a scope other than `default`: the
 * same two lookups in scope `default`). Within a rule, candidates are taken in order; a
 * candidate fits when
 *
 * 1. it is a model, or an agent that `AgentLookup` finds and that is active
 *    (`agent-unknown`, `agent-inactive`);
 * 2. with `maxCostPer1k`, its input and its output price per 1,000 tokens (the price table) are
 *    both at most the limit (`over-max-cost`); a model with no price fits only with
 *    `allowUnpriced: true` (`unpriced`);
 * 3. its provider's key is found (`no-key`);
 * 4. its circuit is closed (`circuit-open`; half-open counts as open: a trial is under way).
 *
 * The first that fits is chosen; the others that fit follow it as a fallback chain (the
 * existing `Fallback`: a retryable failure, a timeout or an open circuit moves the call to the
 * next one). {@link Service.explain} gives the decision trail: the candidates skipped before the
 * chosen one, each with its reason code and a detail.
 *
 * Every candidate is a whole stack from the `ModelFactory` (guards, observability, budget,
 * retry, limits, its own circuit breaker), so a routed call has every guarantee of a configured
 * one. An agent candidate calls its provider and model with its system prompt (before the
 * request's own, if any), and tags the request `metadata.tags.agent = <slug>` so its usage is
 * recorded against the agent.
 *
 * The router is read-only: rules come from the configuration at start-up; availability (keys,
 * circuits, agents) is looked at on every call.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer, Option, Stream } from "effect"
import type * as BudgetTracker from "../budget/BudgetTracker.ts"
import * as LanguageModel from "../LanguageModel.ts"
import * as LlmError from "../LlmError.ts"
import type { LlmRequest } from "../LlmRequest.ts"
import * as ModelFactory from "../ModelFactory.ts"
import * as PriceTable from "../pricing/PriceTable.ts"
import * as Fallback from "../resilience/Fallback.ts"
import * as AgentLookup from "./AgentLookup.ts"
import * as RoutesConfig from "./RoutesConfig.ts"

/**
 * Why a candidate was skipped.
 *
 * @since 0.1.0
 * @category models
 */
export type SkipReason = "over-max-cost" | "unpriced" | "no-key" | "circuit-open" | "agent-inactive" | "agent-unknown"

/**
 * Every skip reason, in the order they are checked.
 *
 * @since 0.1.0
 * @category constants
 */
export const skipReasons: ReadonlyArray<SkipReason> = [
  "agent-unknown",
  "agent-inactive",
  "over-max-cost",
  "unpriced",
  "no-key",
  "circuit-open"
]

/**
 * A candidate that can be called: its provider and model and, for an agent, its slug.
 *
 * @since 0.1.0
 * @category models
 */
export interface Choice {
  readonly provider: string
  readonly model: string
  readonly agent?: string | undefined
}

/**
 * A candidate that was skipped. An unknown agent has no provider or model.
 *
 * @since 0.1.0
 * @category models
 */
export interface Skipped {
  readonly provider?: string | undefined
  readonly model?: string | undefined
  readonly agent?: string | undefined
  readonly reason: SkipReason
  readonly detail: string
}

/**
 * The decision for a task type: the chosen candidate (`null` when none fits) and the candidates
 * skipped before it, in the order they were considered.
 *
 * @since 0.1.0
 * @category models
 */
export interface Explanation {
  readonly taskType: string
  readonly scope: string
  readonly chosen: Choice | null
  readonly skipped: ReadonlyArray<Skipped>
}

/**
 * A candidate that fits, with what calling it takes: the agent's profile, and the priority of
 * its rule.
 *
 * @since 0.1.0
 * @category models
 */
export interface Fit {
  readonly choice: Choice
  readonly agent: AgentLookup.AgentProfile | undefined
  readonly priority: number
}

/**
 * Every candidate of a task type, judged: the explanation, and all the candidates that fit, in
 * order (the chosen one first).
 *
 * @since 0.1.0
 * @category models
 */
export interface Evaluation {
  readonly explanation: Explanation
  readonly fits: ReadonlyArray<Fit>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** The rules, as configured (inactive ones too). */
  readonly routes: ReadonlyArray<RoutesConfig.Route>
  /** The decision trail for a task type (scope `default` unless given). Unknown task type: `Configuration`. */
  readonly explain: (taskType: string, scope?: string) => Effect.Effect<Explanation, LlmError.LlmError>
  /** Every candidate judged (what {@link Service.explain} shows, and every candidate that fits). */
  readonly evaluate: (taskType: string, scope?: string) => Effect.Effect<Evaluation, LlmError.LlmError>
  /** The model of one fitting candidate: its stack and, for an agent, its system prompt and tag. */
  readonly modelOf: (fit: Fit) => Effect.Effect<LanguageModel.Service, LlmError.LlmError>
  /**
   * A model that routes every call by its `metadata.taskType` (absent: the default route) and
   * the scope in `metadata.tags.scope` (absent: `default`).
   */
  readonly model: LanguageModel.Service
  /** The root budget of the factory the candidates come from, if it has one (a collective's budget is its child). */
  readonly budget: BudgetTracker.Service | undefined
}

/**
 * The `Router` service.
 *
 * @since 0.1.0
 * @category services
 */
export class Router extends Context.Service<Router, Service>()("llm-connect/Router") {}

/**
 * The request tag that names the scope of a routed call.
 *
 * @since 0.1.0
 * @category constants
 */
export const SCOPE_TAG = "scope"

/**
 * The request tag that names the agent a call was made for.
 *
 * @since 0.1.0
 * @category constants
 */
export const AGENT_TAG = "agent"

/**
 * The rules a task type uses in a scope: its own active rules, else the scope's default route,
 * else (outside `default`) the same in scope `default`; highest priority first. `undefined`
 * when no rule of any kind serves it.
 *
 * @since 0.1.0
 * @category selection
 */
export const rulesFor = (
  routes: ReadonlyArray<RoutesConfig.Route>,
  taskType: string,
  scope: string
): ReadonlyArray<RoutesConfig.Route> | undefined => {
  const scopes = scope === RoutesConfig.DEFAULT_SCOPE ? [scope] : [scope, RoutesConfig.DEFAULT_SCOPE]
  for (const inScope of scopes) {
    for (const type of [taskType, RoutesConfig.DEFAULT_TASK_TYPE]) {
      const named = routes.filter((route) => route.scope === inScope && route.taskType === type)
      if (named.length === 0) continue
      const active = named.filter((route) => route.active)
      // A task type whose rules are all inactive is known, and served by nothing.
      return [...active].sort((a, b) => b.priority - a.priority)
    }
  }
  return undefined
}

const unknownTaskType = (routes: ReadonlyArray<RoutesConfig.Route>, taskType: string, scope: string): LlmError.LlmError => {
  const known = [...new Set(routes.filter((route) => route.scope === scope || route.scope === RoutesConfig.DEFAULT_SCOPE).map((route) => route.taskType))]
  return LlmError.make(
    "router",
    new LlmError.Configuration({
      description: `no route for task type "${taskType}" in scope "${scope}"` +
        (known.length > 0 ? ` (routes: has ${known.slice(0, 20).map((name) => `"${name}"`).join(", ")})` : " (routes: is empty)"),
      setting: "routes",
      fix: `add a rule with taskType: ${taskType} to routes: in the config file, or a default rule with taskType: "*"`
    })
  )
}

const perThousand = (perMillion: number): number => perMillion / 1_000

const describeChoice = (choice: { readonly provider: string; readonly model: string; readonly agent?: string | undefined }) =>
  choice.agent !== undefined ? `agent ${choice.agent} (${choice.provider}/${choice.model})` : `${choice.provider}/${choice.model}`

/**
 * Why nothing fits, as an error for a call: reason `Unavailable` with the skips.
 *
 * @since 0.1.0
 * @category errors
 */
export const nothingFits = (explanation: Explanation): LlmError.LlmError =>
  LlmError.make(
    "router",
    new LlmError.Unavailable({
      description: `no candidate of the route for task type "${explanation.taskType}" (scope "${explanation.scope}") can be called now` +
        (explanation.skipped.length === 0
          ? ": its rules are inactive"
          : `: ${explanation.skipped.slice(0, 10).map((skip) => `${skip.agent !== undefined ? `agent ${skip.agent}` : `${skip.provider}/${skip.model}`} ${skip.reason}`).join(", ")}`)
    })
  )

/**
 * What the router reads besides its rules: the price table (default: the factory's, else the one in context).
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly prices?: PriceTable.Service | undefined
}

/**
 * Builds the router over a factory (every candidate's stack) and an agent lookup.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  routes: ReadonlyArray<RoutesConfig.Route>,
  options: Options = {}
): Effect.Effect<Service, never, ModelFactory.ModelFactory | AgentLookup.AgentLookup> =>
  Effect.gen(function*() {
    const factory = yield* ModelFactory.ModelFactory
    const agents = yield* AgentLookup.AgentLookup
    const prices = options.prices ?? factory.prices ?? (yield* PriceTable.PriceTable)
    const availability = factory.availability ?? (() => Effect.succeed<ModelFactory.Availability>({ key: true, circuit: "Closed" }))

    const judge = (
      route: RoutesConfig.Route,
      choice: Choice
    ): Effect.Effect<Skipped | undefined> =>
      Effect.gen(function*() {
        const skip = (reason: SkipReason, detail: string): Skipped => ({ ...choice, reason, detail })
        if (route.maxCostPer1k !== undefined) {
          const price = prices.lookup(choice.provider, choice.model)
          if (price === undefined) {
            if (!route.allowUnpriced) {
              return skip("unpriced", `${describeChoice(choice)} has no price in the price table; add it under prices: or set allowUnpriced: true on the rule`)
            }
          } else {
            const input = perThousand(price.inputPerMillion)
            const output = perThousand(price.outputPerMillion)
            if (input > route.maxCostPer1k || output > route.maxCostPer1k) {
              return skip(
                "over-max-cost",
                `${describeChoice(choice)} costs $${input} input and $${output} output per 1k tokens, over maxCostPer1k ${route.maxCostPer1k}`
              )
            }
          }
        }
        const available = yield* availability({ provider: choice.provider, model: choice.model, chained: true })
        if (!available.key) {
          return skip("no-key", `no API key for ${choice.provider} is found (providers.${choice.provider}.apiKey, its variable, or its key file)`)
        }
        if (available.circuit !== "Closed") {
          return skip(
            "circuit-open",
            `the circuit of ${describeChoice(choice)} is ${available.circuit === "Open" ? "open" : "half-open"} after repeated failures`
          )
        }
        return undefined
      })

    const evaluate = (taskType: string, scope: string = RoutesConfig.DEFAULT_SCOPE): Effect.Effect<Evaluation, LlmError.LlmError> =>
      Effect.gen(function*() {
        const rules = rulesFor(routes, taskType, scope)
        if (rules === undefined) return yield* Effect.fail(unknownTaskType(routes, taskType, scope))
        const skipped: Array<Skipped> = []
        const fits: Array<Fit> = []
        for (const route of rules) {
          for (const candidate of route.candidates) {
            let choice: Choice
            let agent: AgentLookup.AgentProfile | undefined
            if (candidate._tag === "Agent") {
              const found = yield* agents.find(candidate.agent)
              if (Option.isNone(found)) {
                if (fits.length === 0) {
                  skipped.push({ agent: candidate.agent, reason: "agent-unknown", detail: `no agent with slug "${candidate.agent}" is registered` })
                }
                continue
              }
              agent = found.value
              choice = { provider: agent.provider, model: agent.model, agent: agent.slug }
              if (!agent.active) {
                if (fits.length === 0) {
                  skipped.push({ ...choice, reason: "agent-inactive", detail: `agent ${agent.slug} is deactivated` })
                }
                continue
              }
            } else {
              choice = { provider: candidate.provider, model: candidate.model }
            }
            const skip = yield* judge(route, choice)
            if (skip !== undefined) {
              // The trail lists the candidates considered before the chosen one.
              if (fits.length === 0) skipped.push(skip)
              continue
            }
            fits.push({ choice, agent, priority: route.priority })
          }
        }
        return { explanation: { taskType, scope, chosen: fits[0]?.choice ?? null, skipped }, fits }
      })

    const modelOf = (fit: Fit): Effect.Effect<LanguageModel.Service, LlmError.LlmError> =>
      Effect.map(
        factory.forProvider({ provider: fit.choice.provider, model: fit.choice.model, chained: true }),
        (service) => {
          const agent = fit.agent
          if (agent === undefined) return service
          const mayPropose = agents.mayPropose
          return LanguageModel.wrap(service, {
            request: mayPropose === undefined
              ? (request) => withAgent(request, agent)
              : (request) =>
                Effect.as(
                  mayPropose(request.metadata?.tags?.[SCOPE_TAG] ?? RoutesConfig.DEFAULT_SCOPE, agent.slug),
                  withAgent(request, agent)
                )
          })
        }
      )

    const routed = (request: LlmRequest): Effect.Effect<LanguageModel.Service, LlmError.LlmError> =>
      Effect.gen(function*() {
        const taskType = request.metadata?.taskType ?? RoutesConfig.DEFAULT_TASK_TYPE
        const scope = request.metadata?.tags?.[SCOPE_TAG] ?? RoutesConfig.DEFAULT_SCOPE
        const { explanation, fits } = yield* evaluate(taskType, scope)
        if (fits.length === 0) return yield* Effect.fail(nothingFits(explanation))
        const services = yield* Effect.forEach(fits, (fit) =>
          Effect.map(modelOf(fit), (service): Fallback.Candidate => ({
            service,
            model: fit.choice.model,
            name: fit.choice.agent !== undefined ? `agent:${fit.choice.agent}` : `${fit.choice.provider}/${fit.choice.model}`
          })))
        return services.length === 1 ? services[0]!.service : Fallback.make([services[0]!, ...services.slice(1)])
      })

    const model = LanguageModel.make({
      provider: "router",
      defaultModel: "route",
      generate: (request) => Effect.flatMap(routed(request), (service) => service.generate(request)),
      stream: (request) => Stream.unwrap(Effect.map(routed(request), (service) => service.stream(request)))
    })

    return {
      routes,
      evaluate,
      explain: (taskType, scope) => Effect.map(evaluate(taskType, scope), (evaluation) => evaluation.explanation),
      modelOf,
      model,
      budget: factory.budget
    } satisfies Service
  })

/**
 * A request as an agent sends it: the agent's system prompt first, and the agent's tag.
 *
 * @since 0.1.0
 * @category agents
 */
export const withAgent = (request: LlmRequest, agent: AgentLookup.AgentProfile): LlmRequest => {
  const system = agent.systemPrompt === undefined || agent.systemPrompt === ""
    ? request.system
    : request.system === undefined
    ? agent.systemPrompt
    : `${agent.systemPrompt}\n\n${request.system}`
  return {
    ...request,
    ...(system !== undefined ? { system } : {}),
    metadata: { ...request.metadata, tags: { ...request.metadata?.tags, [AGENT_TAG]: agent.slug } }
  }
}

/**
 * A request routed as a task type (and scope): `metadata.taskType` and the scope tag set.
 *
 * @since 0.1.0
 * @category requests
 */
export const forTask = (request: LlmRequest, taskType: string, scope?: string): LlmRequest => ({
  ...request,
  metadata: {
    ...request.metadata,
    taskType,
    ...(scope !== undefined ? { tags: { ...request.metadata?.tags, [SCOPE_TAG]: scope } } : {})
  }
})

/**
 * The router as a Layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  routes: ReadonlyArray<RoutesConfig.Route>,
  options: Options = {}
): Layer.Layer<Router, never, ModelFactory.ModelFactory | AgentLookup.AgentLookup> => Layer.effect(Router, make(routes, options))

/**
 * The router's routing model as the `LanguageModel`: each request's `metadata.taskType` selects
 * its route.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerLanguageModel: Layer.Layer<LanguageModel.LanguageModel, never, Router> = Layer.effect(
  LanguageModel.LanguageModel,
  Router.use((router) => Effect.succeed(router.model))
)

/**
 * The decision trail for a task type, with the `Router` in context.
 *
 * @since 0.1.0
 * @category accessors
 * @example
 * const trail = yield* Router.explain("triage")
 */
export const explain = (taskType: string, scope?: string): Effect.Effect<Explanation, LlmError.LlmError, Router> =>
  Router.use((router) => router.explain(taskType, scope))

/**
 * The router's model with every call routed as one task type (and scope): what a workflow step
 * with `taskType:` and `prompt --task-type` call.
 *
 * @since 0.1.0
 * @category accessors
 */
export const taskModel = (router: Service, taskType: string, scope?: string): LanguageModel.Service =>
  LanguageModel.wrap(router.model, { request: (request) => forTask(request, taskType, scope) }, { defaultModel: `route:${taskType}` })
