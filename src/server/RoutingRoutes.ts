/**
 * Routing over HTTP: `GET /v1/routes` (the rules of `routes:`, read-only, as `routes list
 * --json` prints them) and `GET /v1/routes/explain?taskType=T&scope=S` (the decision for a task
 * type, as `routes explain T --json` prints it: `chosen: null` when nothing fits; an unknown task
 * type is a 400 `InvalidInput`), and `POST /v1/collective` (a collective proposal, stored beside
 * the usage ledger). All are in the OpenAPI document (`ServeApi`) and behind the server's auth.
 *
 * @since 0.1.0
 */
import { Effect, Schema } from "effect"
import { HttpServerRequest } from "effect/http"
import type * as Bridge from "../bridge/Bridge.ts"
import * as BridgeContract from "../bridge/BridgeContract.ts"
import * as Collective from "../routing/Collective.ts"
import * as ProposalStore from "../routing/ProposalStore.ts"
import * as RouteDocuments from "../routing/RouteDocuments.ts"
import * as Router from "../routing/Router.ts"
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
export const routes = (bridge: Bridge.Service, proposals?: ProposalStore.Service): ReadonlyArray<Server.Route> => [
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
  },
  ...(proposals === undefined ? [] : [collectiveRoute(bridge, proposals)])
]

const decodeRequest = Schema.decodeUnknownEffect(Collective.RequestDocument)

/**
 * `POST /v1/collective` `{ taskType, prompt, scope? }`: a collective proposal; 200 with the
 * proposal document (also when it failed: `consensusStatus: "failed"`), 400 for a bad body, an
 * unknown task type or one with no agent.
 *
 * @since 0.1.0
 * @category routes
 */
export const collectiveRoute = (bridge: Bridge.Service, proposals: ProposalStore.Service): Server.Route => ({
  method: "POST",
  path: "/v1/collective",
  handler: Effect.gen(function*() {
    const body = yield* Server.bodyJson
    const request = yield* decodeRequest(body).pipe(
      Effect.mapError((error) => BridgeContract.invalidInput(`the body is not a collective request: ${error.message}`).document)
    )
    const router = yield* Effect.mapError(bridge.router, (error) => BridgeContract.fromLlmError(error).document)
    const service = yield* Collective.make().pipe(
      Effect.provideService(Router.Router, router),
      Effect.provideService(ProposalStore.ProposalStore, proposals)
    )
    const proposal = yield* Effect.mapError(service.collective(request), (error) => BridgeContract.fromLlmError(error).document)
    return Server.json(Collective.toDocument(proposal))
  }).pipe(Effect.catch((failure) => Effect.succeed(Server.failureResponse(failure))))
})
