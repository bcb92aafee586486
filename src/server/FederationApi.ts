/**
 * The federation endpoints of `llm-connect serve` as an `HttpApi` group, for the OpenAPI document
 * (`ServeApi`, which adds the virtual-key security to it); `FederationRoutes` serves them. The
 * documents are `FederationContract`'s.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import { HttpApiEndpoint, HttpApiGroup } from "effect/http-api"
import * as BridgeContract from "../bridge/BridgeContract.ts"
import * as FederationContract from "../federation/FederationContract.ts"

const failure = (status: number, description: string) =>
  BridgeContract.BridgeFailure.annotate({ httpApiStatus: status, description })

const badInput = failure(400, "InvalidInput: a bad body, a duplicate slug, a trust level or action outside its set, a delegation cycle")
const notFound = failure(404, "NotFound: no agent (or delegation) of that name")

/**
 * The group.
 *
 * @since 0.1.0
 * @category api
 */
export class FederationGroup extends HttpApiGroup.make("federation").add(
  HttpApiEndpoint.get("listAgents", "/v1/agents", { success: FederationContract.AgentList }),
  HttpApiEndpoint.post("createAgent", "/v1/agents", {
    payload: FederationContract.NewAgentBody,
    success: FederationContract.AgentDocument.annotate({ httpApiStatus: 201 }),
    error: badInput
  }),
  HttpApiEndpoint.get("getAgent", "/v1/agents/:slug", {
    params: { slug: Schema.String },
    success: FederationContract.AgentDocument,
    error: notFound
  }),
  HttpApiEndpoint.put("updateAgent", "/v1/agents/:slug", {
    params: { slug: Schema.String },
    payload: FederationContract.AgentChangesBody,
    success: FederationContract.AgentDocument,
    error: [badInput, notFound]
  }),
  HttpApiEndpoint.delete("deactivateAgent", "/v1/agents/:slug", {
    params: { slug: Schema.String },
    success: FederationContract.AgentDocument,
    error: notFound
  }),
  HttpApiEndpoint.post("createDelegation", "/v1/delegations", {
    payload: FederationContract.DelegationBody,
    success: FederationContract.DelegationDocument.annotate({
      httpApiStatus: 201,
      description: "The delegation record: completed, or failed (the run failed: budget, provider)"
    }),
    error: [badInput, failure(403, "PolicyDenied: governance does not let the delegating agent delegate (audited)")]
  }),
  HttpApiEndpoint.get("getDelegation", "/v1/delegations/:id", {
    params: { id: Schema.String },
    success: FederationContract.DelegationDocument,
    error: notFound
  }),
  HttpApiEndpoint.get("delegationTree", "/v1/delegations/:id/tree", {
    params: { id: Schema.String },
    success: FederationContract.ProvenanceDocument,
    error: notFound
  })
) {}
