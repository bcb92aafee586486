/**
 * Routing flags: `--task-type` (call through the route of a task type) and `--scope` (the tenant
 * whose rules apply, default `default`).
 *
 * @since 0.1.0
 */
import { Flag } from "effect/cli"
import * as RoutesConfig from "../../routing/RoutesConfig.ts"

/**
 * `--task-type T`: the call goes through the route of task type `T` (`routes:` in the config).
 *
 * @since 0.1.0
 * @category flags
 */
export const taskType = Flag.String("task-type").pipe(
  Flag.withMetavar("TYPE"),
  Flag.withDescription("route the call by task type: the routes: rules of the config file choose the provider, model or agent"),
  Flag.optional
)

/**
 * `--scope S`: whose rules apply (default `default`).
 *
 * @since 0.1.0
 * @category flags
 */
export const scope = Flag.String("scope").pipe(
  Flag.withMetavar("SCOPE"),
  Flag.withDescription(`the scope (tenant) whose routes: rules apply (default "${RoutesConfig.DEFAULT_SCOPE}")`),
  Flag.withDefault(RoutesConfig.DEFAULT_SCOPE)
)
