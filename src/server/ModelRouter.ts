/**
 * The model router of `llm-connect serve`: the `model` an OpenAI- or Anthropic-compatible client
 * sends either names an entry of `serve.models` (an exposed name mapped to a provider, model and
 * base URL), or is `route:<taskType>` (the configuration's `routes:` choose, `Router`), or is
 * passed to the configured provider as is. Each target runs on the bridge's
 * provider-and-key stack, built once and cached (`Bridge.modelFor`), so every route shares the
 * same stacks, budgets, limits and ledger.
 *
 * @since 0.1.0
 */
import type * as Bridge from "../bridge/Bridge.ts"
import * as RoutesConfig from "../routing/RoutesConfig.ts"
import type * as ServeConfig from "./ServeConfig.ts"

/**
 * The router: the bridge to run on and the exposed models.
 *
 * @since 0.1.0
 * @category models
 */
export interface ModelRouter {
  readonly bridge: Bridge.Service
  readonly models: Readonly<Record<string, ServeConfig.ModelRoute>>
}

/**
 * The prefix of a model name that is routed by task type: `route:triage`.
 *
 * @since 0.1.0
 * @category routing
 */
export const ROUTE_PREFIX = "route:"

/**
 * The bridge target of a requested model name (`undefined`: the configured model).
 *
 * @since 0.1.0
 * @category routing
 */
export const targetOf = (router: ModelRouter, name: string | undefined): Bridge.Target => {
  if (name === undefined || name === "") return {}
  // `route:<taskType>`: the routes: rules choose (an exposed model of that name wins).
  if (name.startsWith(ROUTE_PREFIX) && name.length > ROUTE_PREFIX.length && !Object.hasOwn(router.models, name)) {
    return { taskType: name.slice(ROUTE_PREFIX.length) }
  }
  const route = Object.hasOwn(router.models, name) ? router.models[name] : undefined
  if (route === undefined) return { model: name }
  return {
    provider: route.provider,
    ...(route.model !== undefined ? { model: route.model } : {}),
    ...(route.baseUrl !== undefined ? { baseUrl: route.baseUrl } : {})
  }
}

/**
 * The model names a `GET /v1/models` lists: the exposed ones, else the configured model (or
 * the provider's name when none is configured), then `route:<taskType>` for every task type
 * with an active rule in the default scope.
 *
 * @since 0.1.0
 * @category routing
 */
export const listed = (router: ModelRouter): ReadonlyArray<{ readonly id: string; readonly ownedBy: string }> => {
  const config = router.bridge.config
  // Every task type of the default scope with an active rule, as `route:<taskType>`.
  const routed = [...new Set(
    config.routes
      .filter((route) => route.active && route.scope === RoutesConfig.DEFAULT_SCOPE && route.taskType !== RoutesConfig.DEFAULT_TASK_TYPE)
      .map((route) => `${ROUTE_PREFIX}${route.taskType}`)
  )].filter((id) => !Object.hasOwn(router.models, id)).map((id) => ({ id, ownedBy: "llm-connect" }))
  const exposed = Object.entries(router.models).map(([id, route]) => ({ id, ownedBy: route.provider }))
  if (exposed.length > 0) return [...exposed, ...routed]
  return [{ id: config.model ?? config.provider, ownedBy: config.provider }, ...routed]
}
