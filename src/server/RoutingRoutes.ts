/**
 * Routing over HTTP: `GET /v1/routes` (the rules of `routes:`, read-only, as `routes list
 * --json` prints them) and `GET /v1/routes/explain?taskType=T&scope=S` (the decision for a task
 * type, as `routes explain T --json` prints it: `chosen: null` when nothing fits; an unknown task
 * type is a 400 `InvalidInput`). Both are in the OpenAPI document (`ServeApi`) and behind the
 * server's auth.
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import { HttpServerRequest } from "effect/http"
import type * as Bridge from "../bridge/Bridge.ts"
import * as BridgeContract from "../bridge/BridgeContract.ts"
import * as RouteDocuments from "../routing/RouteDocuments.ts"
import * as RoutesConfig from "../routing/RoutesConfig.ts"
import * as Server from "./Server.ts"

const invalid = (description: string) =>
  Server.failureResponse({ error: description, errorType: BridgeContract.INVALID_INPUT, retryable: false })

/**
 * The routes.
 *
 * @since 0.1.0
 * @category routes
 */
export const routes = (bridge: Bridge.Service): ReadonlyArray<Server.Route> => [
  {
    method: "GET",
    path: "/v1/routes",
    shed: false,
    handler: Effect.succeed(Server.json(bridge.config.routes.map(RouteDocuments.routeDocument)))
  },
  {
    method: "GET",
    path: "/v1/routes/explain",
    handler: Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const query = new URL(request.url, "http://localhost").searchParams
      const taskType = query.get("taskType")
      if (taskType === null || taskType === "") return invalid("give the task type to explain: ?taskType=<type>")
      const scope = query.get("scope") ?? RoutesConfig.DEFAULT_SCOPE
      return yield* Effect.flatMap(bridge.router, (router) => router.explain(taskType, scope)).pipe(
        Effect.map((explanation) => Server.json(RouteDocuments.explanationDocument(explanation))),
        Effect.catch((error) => Effect.succeed(Server.failureResponse(BridgeContract.fromLlmError(error).document)))
      )
    })
  }
]
