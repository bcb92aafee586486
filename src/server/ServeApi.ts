/**
 * Our own typed API of `llm-connect serve`, described as an Effect `HttpApi`: `POST /execute`,
 * `GET /v1/usage`, `GET /health`, `GET /ready`, and the workflow endpoints (`GET /v1/workflows`,
 * `POST /v1/workflows/{name}/runs`, `GET` / `DELETE /v1/runs/{id}`, `GET /v1/runs/{id}/events`). `GET /openapi.json` serves the OpenAPI document
 * generated from it ({@link openApi}); `contracts/serve-openapi.json` is the same document,
 * checked in. The request and response Schemas are the bridge's (`BridgeContract`), shared with
 * `contracts/`; the routes that serve them are `BridgeRoutes`, `OpsRoutes` and `WorkflowRoutes`. The OpenAI- and
 * Anthropic-compatible endpoints speak those vendors' wire formats and are documented by them.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import { HttpApi, HttpApiEndpoint, HttpApiGroup, HttpApiMiddleware, HttpApiSchema, HttpApiSecurity, OpenApi } from "effect/http-api"
import * as BridgeContract from "../bridge/BridgeContract.ts"
import { FederationGroup } from "./FederationApi.ts"
import * as Collective from "../routing/Collective.ts"
import * as RouteDocuments from "../routing/RouteDocuments.ts"
import * as WorkflowRunDocument from "./WorkflowRunDocument.ts"

const failure = (status: number, description: string) =>
  BridgeContract.BridgeFailure.annotate({ httpApiStatus: status, description })

/**
 * The failures of `POST /execute`, by status.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ExecuteFailures = [
  failure(400, "InvalidInput (not JSON, no prompt, unknown provider, missing key) or InvalidRequest"),
  failure(401, "Authentication (the provider refused the key)"),
  failure(413, "The body is over maxRequestBytes + 64 KiB"),
  failure(429, "RateLimited or BudgetExceeded (retry-after when the provider gave a hint)"),
  failure(502, "ServerError, Network or ResponseMalformed upstream"),
  failure(503, "Unavailable or CircuitOpen; also the server busy (serve.maxInFlight) or shutting down"),
  failure(504, "Timeout (the call's, or serve.requestTimeout)")
] as const

/**
 * The usage report.
 *
 * @since 0.1.0
 * @category schemas
 */
export const UsageReport = Schema.Struct({
  recording: Schema.Boolean,
  since: Schema.optionalKey(Schema.String),
  by: Schema.optionalKey(Schema.String),
  key: Schema.optionalKey(Schema.String).annotate({
    description: "The virtual key whose usage this is: the caller's own (a non-admin key), or the one asked for with key="
  }),
  totals: Schema.Record(Schema.String, Schema.Unknown),
  groups: Schema.Array(Schema.Record(Schema.String, Schema.Unknown))
}).annotate({ identifier: "UsageReport", description: "The usage ledger's sums, as `llm-connect usage --json` prints them." })

/**
 * The readiness document.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Readiness = Schema.Struct({
  ready: Schema.Boolean,
  checks: Schema.Record(Schema.String, Schema.String).annotate({
    description: "Each check (config, ledger, and redis with store.redis): \"ok\" (or \"off\"), else what is wrong"
  }),
  failing: Schema.optionalKey(Schema.Array(Schema.String)).annotate({ description: "The checks that failed (when not ready)" })
}).annotate({ identifier: "Readiness" })

/**
 * A virtual key (`llm-connect keys create`), as `Authorization: Bearer KEY` or `x-api-key: KEY`:
 * required on these endpoints when the server has keys (`KeyAuth`); without keys, on a loopback
 * address, none is needed. Described here for the OpenAPI document; `KeyAuth` enforces it.
 *
 * @since 0.1.0
 * @category security
 */
export class VirtualKey extends HttpApiMiddleware.Service<VirtualKey>()("llm-connect/VirtualKey", {
  security: {
    bearer: HttpApiSecurity.bearer,
    apiKey: HttpApiSecurity.apiKey({ key: "x-api-key", in: "header" })
  }
}) {}

/**
 * The group of our endpoints.
 *
 * @since 0.1.0
 * @category api
 */
export class ServeGroup extends HttpApiGroup.make("serve").add(
  HttpApiEndpoint.post("execute", "/execute", {
    payload: BridgeContract.BridgeRequest,
    success: BridgeContract.BridgeResponse,
    error: ExecuteFailures
  }).middleware(VirtualKey),
  HttpApiEndpoint.get("usage", "/v1/usage", {
    query: {
      since: Schema.optionalKey(Schema.String).annotate({ description: "A window such as 1h, 30m or 24h" }),
      by: Schema.optionalKey(Schema.Literals(["provider", "model", "workflow", "step", "outcome", "conversation", "agent", "key"])),
      key: Schema.optionalKey(Schema.String).annotate({
        description: "Only this virtual key's usage (its name); a non-admin key sees only its own whatever it asks"
      })
    },
    success: UsageReport,
    error: [failure(400, "A bad since, by or key"), failure(403, "PermissionDenied: a non-admin key asked for another key's usage")]
  }).middleware(VirtualKey),
  HttpApiEndpoint.get("health", "/health", { success: Schema.Struct({ status: Schema.Literal("ok") }) }),
  HttpApiEndpoint.get("ready", "/ready", {
    success: Readiness,
    error: Readiness.annotate({ httpApiStatus: 503 })
  })
) {}

/**
 * The list of served workflows (`GET /v1/workflows`).
 *
 * @since 0.1.0
 * @category schemas
 */
export const WorkflowCatalog = Schema.Struct({
  workflows: Schema.Array(Schema.Struct({
    name: Schema.String,
    description: Schema.optionalKey(Schema.String),
    inputs: Schema.Record(Schema.String, Schema.Record(Schema.String, Schema.Unknown)).annotate({
      description: "Each input's type, description and default (no default: required)."
    }),
    steps: Schema.Array(Schema.String)
  }))
}).annotate({ identifier: "WorkflowCatalog" })

const runId = { id: Schema.String.annotate({ description: "The runId a start returned." }) }

/**
 * The group of the workflow endpoints (`WorkflowRoutes`).
 *
 * @since 0.1.0
 * @category api
 */
export class WorkflowsGroup extends HttpApiGroup.make("workflows").add(
  HttpApiEndpoint.get("listWorkflows", "/v1/workflows", { success: WorkflowCatalog }),
  HttpApiEndpoint.post("startRun", "/v1/workflows/:name/runs", {
    params: { name: Schema.String.annotate({ description: "The workflow's name (its file's `name`)." }) },
    query: {
      wait: Schema.optionalKey(Schema.String).annotate({
        description: "Wait up to this long (30s, 2m; at most serve.requestTimeout less 1s) for the run to end"
      })
    },
    payload: WorkflowRunDocument.StartRequest,
    success: [
      WorkflowRunDocument.RunDocument.annotate({ httpApiStatus: 202, description: "Started (or still running after wait)" }),
      WorkflowRunDocument.RunDocument.annotate({ httpApiStatus: 200, description: "Ended within wait: the final state" })
    ],
    error: [
      failure(400, "InvalidInput: the field named in `field` (input.NAME, budget, wait...)"),
      failure(404, "NotFound: no workflow of that name"),
      failure(503, "Unavailable: serve.runs.maxInFlight runs are in flight (retry-after)")
    ]
  }),
  HttpApiEndpoint.get("getRun", "/v1/runs/:id", {
    params: runId,
    success: WorkflowRunDocument.RunDocument,
    error: failure(404, "NotFound: no such run for this key")
  }),
  HttpApiEndpoint.delete("cancelRun", "/v1/runs/:id", {
    params: runId,
    success: WorkflowRunDocument.RunDocument.annotate({ description: "Cancelled: its call in flight was aborted and charged" }),
    error: [failure(404, "NotFound: no such run for this key"), failure(409, "Conflict: the run has already ended")]
  }),
  HttpApiEndpoint.get("runEvents", "/v1/runs/:id/events", {
    params: runId,
    success: HttpApiSchema.StreamSse({ data: WorkflowRunDocument.RunEvent }),
    error: failure(404, "NotFound: no such run for this key")
  })
).middleware(VirtualKey) {}

/**
 * Routing (issue 18): the rules, read-only, the decision for a task type, and collective proposals.
 *
 * @since 0.1.0
 * @category api
 */
export class RoutingGroup extends HttpApiGroup.make("routing").add(
  HttpApiEndpoint.get("routes", "/v1/routes", { success: RouteDocuments.RoutesDocument }).middleware(VirtualKey),
  HttpApiEndpoint.get("explainRoute", "/v1/routes/explain", {
    query: {
      taskType: Schema.String.annotate({ description: "The task type to explain" }),
      scope: Schema.optionalKey(Schema.String).annotate({ description: "The scope (tenant), default \"default\"" })
    },
    success: RouteDocuments.ExplanationDocument,
    error: failure(400, "InvalidInput: no taskType, or a task type no rule serves")
  }).middleware(VirtualKey),
  HttpApiEndpoint.post("collective", "/v1/collective", {
    payload: Collective.RequestDocument,
    success: Collective.ProposalDocument,
    error: [
      failure(400, "InvalidInput: a bad body, a task type no rule serves, or no active agent routed for it"),
      failure(429, "BudgetExceeded before any agent was asked")
    ]
  }).middleware(VirtualKey)
) {}

/**
 * The API.
 *
 * @since 0.1.0
 * @category api
 */
export class ServeApi extends HttpApi.make("llm-connect")
  .add(ServeGroup)
  .add(WorkflowsGroup)
  .add(FederationGroup.middleware(VirtualKey))
  .add(RoutingGroup)
  .annotateMerge(OpenApi.annotations({
    title: "llm-connect serve",
    description: "The bridge contract over HTTP and the server's own endpoints. " +
      "Also served: POST /rpc (JSON-RPC 2.0), POST /v1/chat/completions and GET /v1/models (OpenAI), " +
      "POST /v1/messages and POST /v1/messages/count_tokens (Anthropic), GET /metrics (Prometheus). " +
      "A model named route:<taskType> on the OpenAI and Anthropic endpoints is routed by the routes: rules."
  })) {}

/**
 * The OpenAPI document of {@link ServeApi}.
 *
 * @since 0.1.0
 * @category api
 */
export const openApi = (): OpenApi.OpenAPISpec => OpenApi.fromApi(ServeApi)
