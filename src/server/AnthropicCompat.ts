/**
 * The Anthropic-compatible door (placeholder until its routes are written).
 *
 * @since 0.1.0
 */
import type * as ModelRouter from "./ModelRouter.ts"
import type * as Server from "./Server.ts"

/**
 * The routes.
 *
 * @since 0.1.0
 * @category routes
 */
export const routes = (_router: ModelRouter.ModelRouter): ReadonlyArray<Server.Route> => []
