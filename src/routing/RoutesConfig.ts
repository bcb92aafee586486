/**
 * The `routes:` section of the configuration: routing rules, owned by routing (issue 18 §1).
 *
 * A rule says which models serve a task type, in order of preference:
 *
 * ```yaml
 * routes:
 *   - taskType: triage
 *     priority: 10
 *     prefer:
 *       - { provider: openrouter, model: anthropic/claude-haiku-4.5 }
 *       - { agent: triage-bot }           # a registered agent (its model and system prompt)
 *     maxCostPer1k: 0.5                   # USD per 1,000 tokens, input and output each
 *   - taskType: summarise
 *     priority: 5
 *     scope: hub-42                       # per tenant (default "default")
 *     agent: summariser                   # shorthand for prefer: [{ agent: summariser }]
 *   - taskType: "*"                       # the default route: any task type with no rule
 *     priority: 0
 *     prefer: [{ provider: mock, model: mock-1 }]
 * ```
 *
 * Validated at load (exit 2 on the CLI): a rule names `prefer:` or `agent:` (not both, not
 * neither); `(scope, taskType, priority)` is unique; numbers are in range; lists are bounded. A
 * rule with `active: false` is kept (listed) but never selected. Routes are YAML only: no
 * variable or flag sets them.
 *
 * @since 0.1.0
 */
import { Effect, Schema } from "effect"
import * as ConfigSection from "../ConfigSection.ts"
import type * as LlmError from "../LlmError.ts"

/**
 * The scope of a rule that names none.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_SCOPE = "default"

/**
 * The task type of the default route: a rule for it serves every task type of its scope that
 * has no rule of its own.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_TASK_TYPE = "*"

/**
 * The most rules a configuration may hold, and the most candidates one rule may list.
 *
 * @since 0.1.0
 * @category constants
 */
export const MAX_RULES = 1_000

/**
 * @since 0.1.0
 * @category constants
 */
export const MAX_CANDIDATES = 32

const Name = Schema.String.check(Schema.isNonEmpty(), Schema.isMaxLength(200))

/**
 * A `prefer:` entry that names a provider and its model.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ModelCandidate = Schema.Struct({
  provider: Name,
  model: Name
}).annotate({ identifier: "RouteModelCandidate" })

/**
 * A `prefer:` entry that names a registered agent by slug.
 *
 * @since 0.1.0
 * @category schemas
 */
export const AgentCandidate = Schema.Struct({
  agent: Name
}).annotate({ identifier: "RouteAgentCandidate" })

/**
 * One `prefer:` entry: `{ provider, model }` or `{ agent }`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const CandidateConfig = Schema.Union([ModelCandidate, AgentCandidate]).annotate({
  identifier: "RouteCandidate",
  description: "{ provider, model } or { agent: <slug> }"
})

/**
 * @since 0.1.0
 * @category models
 */
export type CandidateConfig = typeof CandidateConfig.Type

/**
 * One rule as written in the file.
 *
 * @since 0.1.0
 * @category schemas
 */
export const RuleConfig = Schema.Struct({
  taskType: Name.annotate({ description: `The task type served ("${DEFAULT_TASK_TYPE}": the default route).` }),
  priority: Schema.Int.annotate({ description: "Rules of a task type are tried highest priority first." }),
  scope: Schema.optionalKey(Name).annotate({ description: `The tenant the rule is for (default "${DEFAULT_SCOPE}").` }),
  prefer: Schema.optionalKey(Schema.Array(CandidateConfig).check(Schema.isMinLength(1), Schema.isMaxLength(MAX_CANDIDATES)))
    .annotate({ description: "The candidates, in order of preference." }),
  agent: Schema.optionalKey(Name).annotate({ description: "Shorthand for prefer: [{ agent: <slug> }]." }),
  maxCostPer1k: Schema.optionalKey(Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0))).annotate({
    description: "USD per 1,000 tokens: a candidate fits when its input and its output price are both at most this."
  }),
  allowUnpriced: Schema.optionalKey(Schema.Boolean).annotate({
    description: "With maxCostPer1k: let a candidate with no known price fit (default false)."
  }),
  active: Schema.optionalKey(Schema.Boolean).annotate({ description: "An inactive rule is listed, never selected (default true)." })
}).annotate({ identifier: "RouteRule" })

/**
 * The `routes:` section.
 *
 * @since 0.1.0
 * @category schemas
 */
export const RoutesConfig = Schema.Array(RuleConfig).check(Schema.isMaxLength(MAX_RULES)).annotate({
  identifier: "RoutesConfig",
  description: "Routing rules: which models (or agents) serve a task type, in order of preference."
})

/**
 * @since 0.1.0
 * @category models
 */
export type RoutesConfig = typeof RoutesConfig.Type

/**
 * A candidate of a resolved rule.
 *
 * @since 0.1.0
 * @category models
 */
export type Candidate =
  | { readonly _tag: "Model"; readonly provider: string; readonly model: string }
  | { readonly _tag: "Agent"; readonly agent: string }

/**
 * A rule, resolved: its scope, its candidates (the `agent:` shorthand expanded) and its defaults.
 *
 * @since 0.1.0
 * @category models
 */
export interface Route {
  readonly taskType: string
  readonly priority: number
  readonly scope: string
  readonly candidates: ReadonlyArray<Candidate>
  readonly maxCostPer1k: number | undefined
  readonly allowUnpriced: boolean
  readonly active: boolean
}

const candidateOf = (entry: CandidateConfig): Candidate =>
  "agent" in entry ? { _tag: "Agent", agent: entry.agent } : { _tag: "Model", provider: entry.provider, model: entry.model }

/**
 * Resolves and checks the rules: each names `prefer:` or `agent:` (exactly one), and no two share
 * `(scope, taskType, priority)`. The failure names the rules (1-based, in file order) and the fix.
 *
 * @since 0.1.0
 * @category config
 */
export const resolveRoutes = (
  rules: RoutesConfig,
  invalid: ConfigSection.Finishing["invalid"]
): Effect.Effect<ReadonlyArray<Route>, LlmError.LlmError> =>
  Effect.gen(function*() {
    const routes: Array<Route> = []
    const seen = new Map<string, number>()
    for (const [index, rule] of rules.entries()) {
      const number = index + 1
      if (rule.prefer !== undefined && rule.agent !== undefined) {
        return yield* Effect.fail(invalid(
          "routes",
          `routes rule ${number} (taskType "${rule.taskType}") names both agent: and prefer:; write agent: ${rule.agent} as a prefer: entry ({ agent: ${rule.agent} }) instead`
        ))
      }
      if (rule.prefer === undefined && rule.agent === undefined) {
        return yield* Effect.fail(invalid(
          "routes",
          `routes rule ${number} (taskType "${rule.taskType}") names no candidate; add prefer: [{ provider: P, model: M }] or agent: <slug>`
        ))
      }
      const scope = rule.scope ?? DEFAULT_SCOPE
      const key = JSON.stringify([scope, rule.taskType, rule.priority])
      const previous = seen.get(key)
      if (previous !== undefined) {
        return yield* Effect.fail(invalid(
          "routes",
          `routes rules ${previous} and ${number} both have scope "${scope}", taskType "${rule.taskType}" and priority ${rule.priority}; give each rule of a task type its own priority`
        ))
      }
      seen.set(key, number)
      routes.push({
        taskType: rule.taskType,
        priority: rule.priority,
        scope,
        candidates: rule.agent !== undefined ? [{ _tag: "Agent", agent: rule.agent }] : (rule.prefer ?? []).map(candidateOf),
        maxCostPer1k: rule.maxCostPer1k,
        allowUnpriced: rule.allowUnpriced ?? false,
        active: rule.active ?? true
      })
    }
    return routes
  })

/**
 * The section: the `routes` key; its resolved form is `routes` (empty when absent).
 *
 * @since 0.1.0
 * @category sections
 */
export const section = ConfigSection.make({
  name: "routes",
  fields: { routes: Schema.optionalKey(RoutesConfig) },
  finish: (decoded, finishing) =>
    Effect.map(resolveRoutes(decoded.routes ?? [], finishing.invalid), (routes): { readonly routes: ReadonlyArray<Route> } => ({
      routes
    }))
})

/**
 * Rules written in code, checked as the configuration file's are (the Schema, then
 * {@link resolveRoutes}): a bad rule is a `Configuration` error.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * const routes = yield* RoutesConfig.make([
 *   { taskType: "triage", priority: 10, prefer: [{ provider: "mock", model: "mock-1" }] }
 * ])
 */
export const make = (rules: ReadonlyArray<typeof RuleConfig.Encoded>): Effect.Effect<ReadonlyArray<Route>, LlmError.LlmError> =>
  Schema.decodeUnknownEffect(RoutesConfig)(rules).pipe(
    Effect.mapError((error) => ConfigSection.configurationError("routes", `routes: ${error.message}`, "correct the rule as the message says")),
    Effect.flatMap((decoded) =>
      resolveRoutes(decoded, (setting, description) => ConfigSection.configurationError(setting, description, "correct the rule as the message says"))
    )
  )
