/**
 * The workflow endpoints of `llm-connect serve` (the runs themselves are `WorkflowRuns`):
 *
 * | endpoint | answer |
 * | --- | --- |
 * | `GET /v1/workflows` | the workflows served, with their inputs |
 * | `POST /v1/workflows/{name}/runs` (`{ input?, budget? }`, `?wait=30s`) | 202 and the run's state; 200 with the final state when it ended within `wait` |
 * | `GET /v1/runs/{id}` | the run's state |
 * | `DELETE /v1/runs/{id}` | cancels it: 200 with the cancelled state; 409 when it has ended |
 * | `GET /v1/runs/{id}/events` | server-sent events: the run's events so far, then live ones, until it ends |
 *
 * Errors are the bridge's failure document with its status: 400 `InvalidInput` naming the field,
 * 404 `NotFound` (an unknown workflow or run), 409 `Conflict`, 503 `Unavailable` + `retry-after`
 * (too many runs in flight). A `wait` is cut at the server's request timeout less a second, so
 * the answer comes before the server would stop the request; a client that goes away while
 * waiting stops only its wait, never the run.
 *
 * JSON-RPC (`POST /rpc`): `workflow.run` (params `{ name, input?, budget?, wait? }`, the result
 * the run's state) and `workflow.status` (params `{ runId }`); params that do not fit are `-32602`,
 * any other failure `-32000` with `data.errorType`.
 *
 * @since 0.1.0
 */
import { Effect, Option, Stream } from "effect"
import { HttpRouter, HttpServerRequest, HttpServerResponse } from "effect/http"
import * as BridgeContract from "../bridge/BridgeContract.ts"
import * as WorkflowFile from "../workflow/WorkflowFile.ts"
import * as Wire from "./internal/wire.ts"
import type * as JsonRpc from "./JsonRpc.ts"
import * as Server from "./Server.ts"
import * as WorkflowRuns from "./WorkflowRuns.ts"

const callerOf: Effect.Effect<WorkflowRuns.Owner> = Effect.map(
  Effect.serviceOption(Server.CurrentRequest),
  (current) => {
    const identity = Option.isSome(current) ? current.value.identity : Server.ANONYMOUS
    return { name: identity.name, charge: identity.charge }
  }
)

const ownerOf: Effect.Effect<string> = Effect.map(callerOf, (caller) => caller.name)

const failed = (failure: WorkflowRuns.RunFailure) => Server.json(failure.document, failure.status, retryAfter(failure))

const retryAfter = (failure: WorkflowRuns.RunFailure): Record<string, string> => failure.status === 503 ? { "retry-after": "1" } : {}

const param = (name: string): Effect.Effect<string, never, HttpRouter.RouteContext> =>
  Effect.map(HttpRouter.params, (params) => params[name] ?? "")

const queryOf = (request: HttpServerRequest.HttpServerRequest) => new URL(request.url, "http://localhost").searchParams

/**
 * The longest `wait` a request may ask for under a request timeout.
 *
 * @since 0.1.0
 * @category constants
 */
export const maxWaitMs = (requestTimeoutMs: number): number => Math.max(0, requestTimeoutMs - 1_000)

/**
 * The workflows served: name, description and inputs.
 *
 * @since 0.1.0
 * @category documents
 */
export const catalog = (runs: WorkflowRuns.Service) =>
  [...runs.workflows.values()].map((loaded) => ({
    name: loaded.file.name,
    ...(loaded.file.description !== undefined ? { description: loaded.file.description } : {}),
    inputs: Object.fromEntries(Object.entries(loaded.file.inputs ?? {}).map(([name, spec]) => [name, WorkflowFile.inputSpec(spec)])),
    steps: loaded.file.steps.map((step) => step.id)
  }))

/**
 * The routes.
 *
 * @since 0.1.0
 * @category routes
 */
export const routes = (runs: WorkflowRuns.Service, requestTimeoutMs: number): ReadonlyArray<Server.Route> => [
  {
    method: "GET",
    path: "/v1/workflows",
    handler: Effect.succeed(Server.json({ workflows: catalog(runs) }))
  },
  {
    method: "POST",
    path: "/v1/workflows/:name/runs",
    handler: Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const wait = yield* WorkflowRuns.parseWait(queryOf(request).get("wait") ?? undefined, "wait")
      const hasBody = request.headers["content-length"] !== undefined && request.headers["content-length"] !== "0" ||
        request.headers["transfer-encoding"] !== undefined
      const body = hasBody
        ? yield* Server.bodyJson.pipe(Effect.mapError((document): WorkflowRuns.RunFailure => ({ status: statusOfBody(document), document })))
        : undefined
      const caller = yield* callerOf
      const started = yield* runs.start(yield* param("name"), body, caller)
      if (wait === undefined || wait <= 0) return Server.json(started, 202, { location: `/v1/runs/${started.runId}` })
      const waited = yield* runs.wait(started.runId, caller.name, Math.min(wait, maxWaitMs(requestTimeoutMs)))
      return Server.json(waited.run, waited.done ? 200 : 202, { location: `/v1/runs/${started.runId}` })
    }).pipe(Effect.catch((failure) => Effect.succeed(failed(failure))))
  },
  {
    method: "GET",
    path: "/v1/runs/:id",
    handler: Effect.gen(function*() {
      return Server.json(yield* runs.status(yield* param("id"), yield* ownerOf))
    }).pipe(Effect.catch((failure) => Effect.succeed(failed(failure))))
  },
  {
    method: "DELETE",
    path: "/v1/runs/:id",
    handler: Effect.gen(function*() {
      return Server.json(yield* runs.cancel(yield* param("id"), yield* ownerOf))
    }).pipe(Effect.catch((failure) => Effect.succeed(failed(failure))))
  },
  {
    method: "GET",
    path: "/v1/runs/:id/events",
    handler: Effect.gen(function*() {
      const events = yield* runs.events(yield* param("id"), yield* ownerOf)
      return HttpServerResponse.stream(
        Stream.map(events, (event) => Wire.sse(event, event.type)),
        { contentType: "text/event-stream", headers: { "cache-control": "no-cache", "x-accel-buffering": "no" } }
      )
    }).pipe(Effect.catch((failure) => Effect.succeed(failed(failure))))
  }
]

// 413 over the size limit; any other unreadable body is 400.
const statusOfBody = (document: BridgeContract.BridgeFailure): number => (document.errorType === BridgeContract.INVALID_INPUT ? 400 : 413)

const invalidParams = (field: string, error: string): JsonRpc.MethodFailure => ({
  _tag: "InvalidParams",
  failure: { error, errorType: BridgeContract.INVALID_INPUT, retryable: false, field } as BridgeContract.BridgeFailure
})

const rpcFailure = (failure: WorkflowRuns.RunFailure): JsonRpc.MethodFailure =>
  failure.status === 400 ? { _tag: "InvalidParams", failure: failure.document } : { _tag: "CallFailed", failure: failure.document }

/**
 * The JSON-RPC methods `workflow.run` and `workflow.status`.
 *
 * @since 0.1.0
 * @category rpc
 */
export const methods = (runs: WorkflowRuns.Service, requestTimeoutMs: number): Readonly<Record<string, JsonRpc.Method>> => ({
  "workflow.run": (params) =>
    Effect.gen(function*() {
      if (!Wire.isRecord(params)) return yield* Effect.fail(invalidParams("params", "workflow.run takes { name, input?, budget?, wait? }"))
      const { name, wait, ...body } = params
      if (typeof name !== "string" || name === "") {
        return yield* Effect.fail(invalidParams("name", "\"name\" must be the name of a served workflow"))
      }
      if (wait !== undefined && wait !== null && typeof wait !== "string") {
        return yield* Effect.fail(invalidParams("wait", "\"wait\" must be a duration such as \"30s\""))
      }
      const waitMs = yield* WorkflowRuns.parseWait(typeof wait === "string" ? wait : undefined, "wait").pipe(Effect.mapError(rpcFailure))
      const caller = yield* callerOf
      const started = yield* runs.start(name, body, caller).pipe(Effect.mapError(rpcFailure))
      if (waitMs === undefined || waitMs <= 0) return started
      const waited = yield* runs.wait(started.runId, caller.name, Math.min(waitMs, maxWaitMs(requestTimeoutMs))).pipe(Effect.mapError(rpcFailure))
      return waited.run
    }),
  "workflow.status": (params) =>
    Effect.gen(function*() {
      const runId = Wire.isRecord(params) ? params.runId : undefined
      if (typeof runId !== "string" || runId === "") {
        return yield* Effect.fail(invalidParams("runId", "workflow.status takes { runId }: the runId workflow.run returned"))
      }
      return yield* runs.status(runId, yield* ownerOf).pipe(Effect.mapError(rpcFailure))
    })
})
