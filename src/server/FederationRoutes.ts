/**
 * The federation endpoints of `llm-connect serve` (issue 18), behind the server's auth and
 * protections like every route, over the usage ledger's store:
 *
 * - `GET /v1/agents` (every agent), `POST /v1/agents` (register; 201), `GET /v1/agents/{slug}`,
 *   `PUT /v1/agents/{slug}` (change; version bump), `DELETE /v1/agents/{slug}` (deactivate);
 * - `POST /v1/delegations` (run a delegation; the record, `status` completed or failed),
 *   `GET /v1/delegations/{id}`, `GET /v1/delegations/{id}/tree` (its provenance).
 *
 * A delegation's receiving agent runs on the bridge's stacks (`Bridge.modelFor`: the
 * configuration's keys, budget, retry and ledger), under the caller's budget when the caller's
 * virtual key has one. Failures are bridge failure documents: bad input 400 (`InvalidInput`), an
 * unknown agent or delegation 404 (`NotFound`), a governance denial 403 (`PolicyDenied`).
 *
 * @since 0.1.0
 */
import { Effect, Option, Result, Schema, Scope } from "effect"
import { HttpRouter } from "effect/http"
import type * as Bridge from "../bridge/Bridge.ts"
import * as BridgeContract from "../bridge/BridgeContract.ts"
import * as AgentModels from "../federation/AgentModels.ts"
import * as AgentRegistry from "../federation/AgentRegistry.ts"
import * as Delegation from "../federation/Delegation.ts"
import * as FederationContract from "../federation/FederationContract.ts"
import * as Governance from "../federation/Governance.ts"
import type * as LlmError from "../LlmError.ts"
import type * as SqlStore from "../store/SqlStore.ts"
import * as Server from "./Server.ts"

const failure = (error: LlmError.LlmError) => Server.failureResponse(BridgeContract.fromLlmError(error).document)

const notFound = (description: string) =>
  Server.failureResponse({ error: description, errorType: "NotFound", retryable: false })

const body = <S extends Schema.Codec<unknown, unknown>>(schema: S) => {
  const decode = Schema.decodeUnknownResult(schema)
  return Effect.flatMap(Server.bodyJson, (json) => {
    const decoded = decode(json, { errors: "all" })
    return Result.isSuccess(decoded)
      ? Effect.succeed(decoded.success as S["Type"])
      : Effect.fail(BridgeContract.invalidInput(`the body does not match: ${decoded.failure.message}`).document)
  })
}

const param = (name: string) => Effect.map(HttpRouter.params, (params) => params[name] ?? "")

type Handler = Server.Route["handler"]

/** Runs a handler's work: LlmErrors and body failures become failure responses. */
const handle = <A>(
  work: Effect.Effect<A, LlmError.LlmError | BridgeContract.BridgeFailure, Effect.Services<Handler>>,
  render: (value: A) => ReturnType<typeof Server.json>
): Handler =>
  work.pipe(
    Effect.map(render),
    Effect.catch((error) => Effect.succeed("_tag" in error ? failure(error) : Server.failureResponse(error)))
  )

/**
 * The routes, over a store and a bridge (builds the federation tables when missing).
 *
 * @since 0.1.0
 * @category routes
 */
export const routes = (bridge: Bridge.Service, store: SqlStore.Service): Effect.Effect<ReadonlyArray<Server.Route>, LlmError.LlmError> =>
  Effect.gen(function*() {
    const registry = yield* AgentRegistry.make(store)
    const governance = yield* Governance.make(store)
    // The receiving agents' models live as long as the request that runs the delegation.
    const delegationIn = (scope: Scope.Scope) =>
      Delegation.make(store, registry, governance, {
        modelFor: (agent) => Scope.provide(bridge.modelFor({ provider: agent.provider, model: agent.model }), scope)
      } satisfies AgentModels.Service)
    const agentOr404 = (slug: string) =>
      Effect.flatMap(registry.find(slug), Option.match({ onNone: () => Effect.succeed(undefined), onSome: Effect.succeed }))

    return [
      {
        method: "GET",
        path: "/v1/agents",
        handler: handle(registry.list, (agents) => Server.json(agents.map(FederationContract.agentDocument)))
      },
      {
        method: "POST",
        path: "/v1/agents",
        handler: handle(
          Effect.flatMap(body(FederationContract.NewAgentBody), registry.add),
          (agent) => Server.json(FederationContract.agentDocument(agent), 201)
        )
      },
      {
        method: "GET",
        path: "/v1/agents/:slug",
        handler: handle(
          Effect.flatMap(param("slug"), agentOr404),
          (agent) => agent === undefined ? notFound("no such agent") : Server.json(FederationContract.agentDocument(agent))
        )
      },
      {
        method: "PUT",
        path: "/v1/agents/:slug",
        handler: handle(
          Effect.gen(function*() {
            const slug = yield* param("slug")
            if ((yield* agentOr404(slug)) === undefined) return undefined
            return yield* registry.update(slug, yield* body(FederationContract.AgentChangesBody))
          }),
          (agent) => agent === undefined ? notFound("no such agent") : Server.json(FederationContract.agentDocument(agent))
        )
      },
      {
        method: "DELETE",
        path: "/v1/agents/:slug",
        handler: handle(
          Effect.gen(function*() {
            const slug = yield* param("slug")
            if ((yield* agentOr404(slug)) === undefined) return undefined
            return yield* registry.deactivate(slug)
          }),
          (agent) => agent === undefined ? notFound("no such agent") : Server.json(FederationContract.agentDocument(agent))
        )
      },
      {
        method: "POST",
        path: "/v1/delegations",
        handler: handle(
          Effect.gen(function*() {
            const input = yield* body(FederationContract.DelegationBody)
            const delegation = yield* delegationIn(yield* Scope.Scope)
            return yield* delegation.delegate(input)
          }),
          (record) => Server.json(Delegation.toDocument(record), 201)
        )
      },
      {
        method: "GET",
        path: "/v1/delegations/:id",
        handler: handle(
          Effect.gen(function*() {
            const delegation = yield* delegationIn(yield* Scope.Scope)
            return yield* delegation.get(yield* param("id")).pipe(Effect.option)
          }),
          (record) => Option.isNone(record) ? notFound("no such delegation") : Server.json(Delegation.toDocument(record.value))
        )
      },
      {
        method: "GET",
        path: "/v1/delegations/:id/tree",
        handler: handle(
          Effect.gen(function*() {
            const delegation = yield* delegationIn(yield* Scope.Scope)
            return yield* delegation.tree(yield* param("id")).pipe(Effect.option)
          }),
          (provenance) => {
            if (Option.isNone(provenance)) return notFound("no such delegation")
            const node = (tree: Delegation.TreeNode): FederationContract.TreeNodeDocument => ({
              delegation: Delegation.toDocument(tree.delegation),
              children: tree.children.map(node)
            })
            return Server.json({ ancestors: provenance.value.ancestors.map(Delegation.toDocument), tree: node(provenance.value.tree) })
          }
        )
      }
    ] satisfies ReadonlyArray<Server.Route>
  })
