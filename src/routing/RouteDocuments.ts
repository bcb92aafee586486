/**
 * The JSON documents of routing's front doors: `routes explain --json` (and `GET
 * /v1/routes/explain`), `routes list --json` (and `GET /v1/routes`). Their JSON Schemas are
 * generated into `contracts/` (`npm run contracts`).
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import type * as Router from "./Router.ts"
import type * as RoutesConfig from "./RoutesConfig.ts"

/**
 * The skip reason codes.
 *
 * @since 0.1.0
 * @category schemas
 */
export const SkipReason = Schema.Literals(["over-max-cost", "unpriced", "no-key", "circuit-open", "agent-inactive", "agent-unknown"])

/**
 * A chosen candidate.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Choice = Schema.Struct({
  provider: Schema.String,
  model: Schema.String,
  agent: Schema.optionalKey(Schema.String)
}).annotate({ identifier: "RouteChoice" })

/**
 * A skipped candidate (an unknown agent has no provider or model).
 *
 * @since 0.1.0
 * @category schemas
 */
export const Skipped = Schema.Struct({
  provider: Schema.optionalKey(Schema.String),
  model: Schema.optionalKey(Schema.String),
  agent: Schema.optionalKey(Schema.String),
  reason: SkipReason,
  detail: Schema.String
}).annotate({ identifier: "RouteSkipped" })

/**
 * `routes explain TASK --json`: the chosen candidate (`null` when none fits, exit 1) and the
 * candidates skipped before it, in order.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ExplanationDocument = Schema.Struct({
  taskType: Schema.String,
  scope: Schema.String,
  chosen: Schema.NullOr(Choice),
  skipped: Schema.Array(Skipped)
}).annotate({ identifier: "RouteExplanation", description: "llm-connect routes explain TASK --json" })

/**
 * One rule of `routes list --json`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const RouteDocument = Schema.Struct({
  taskType: Schema.String,
  priority: Schema.Int,
  scope: Schema.String,
  prefer: Schema.Array(Schema.Union([
    Schema.Struct({ provider: Schema.String, model: Schema.String }),
    Schema.Struct({ agent: Schema.String })
  ])),
  maxCostPer1k: Schema.optionalKey(Schema.Finite),
  allowUnpriced: Schema.Boolean,
  active: Schema.Boolean
}).annotate({ identifier: "Route" })

/**
 * `routes list --json`: every rule, inactive ones too.
 *
 * @since 0.1.0
 * @category schemas
 */
export const RoutesDocument = Schema.Array(RouteDocument).annotate({
  identifier: "Routes",
  description: "llm-connect routes list --json"
})

/**
 * A rule as its document.
 *
 * @since 0.1.0
 * @category conversions
 */
export const routeDocument = (route: RoutesConfig.Route): typeof RouteDocument.Type => ({
  taskType: route.taskType,
  priority: route.priority,
  scope: route.scope,
  prefer: route.candidates.map((candidate) =>
    candidate._tag === "Agent" ? { agent: candidate.agent } : { provider: candidate.provider, model: candidate.model }
  ),
  ...(route.maxCostPer1k !== undefined ? { maxCostPer1k: route.maxCostPer1k } : {}),
  allowUnpriced: route.allowUnpriced,
  active: route.active
})

/**
 * An explanation as its document (absent keys omitted).
 *
 * @since 0.1.0
 * @category conversions
 */
export const explanationDocument = (explanation: Router.Explanation): typeof ExplanationDocument.Type => ({
  taskType: explanation.taskType,
  scope: explanation.scope,
  chosen: explanation.chosen === null
    ? null
    : {
      provider: explanation.chosen.provider,
      model: explanation.chosen.model,
      ...(explanation.chosen.agent !== undefined ? { agent: explanation.chosen.agent } : {})
    },
  skipped: explanation.skipped.map((skip) => ({
    ...(skip.provider !== undefined ? { provider: skip.provider } : {}),
    ...(skip.model !== undefined ? { model: skip.model } : {}),
    ...(skip.agent !== undefined ? { agent: skip.agent } : {}),
    reason: skip.reason,
    detail: skip.detail
  }))
})
