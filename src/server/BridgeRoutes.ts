/**
 * The bridge contract over HTTP: `POST /execute` (FR-1: one bridge request in, one bridge answer
 * out; a failure with its mapped HTTP status and the bridge's failure document) and `POST /rpc`
 * (JSON-RPC 2.0, methods `execute`, `generate` and `usage`, and the methods another door adds:
 * `workflow.run` and `workflow.status` from `WorkflowRoutes`).
 *
 * - `execute`: params are the bridge request; the result is the bridge response.
 * - `generate`: the same params; the result is the whole `LlmResponse` (parts, usage, cost,
 *   finish reason, request id).
 * - `usage`: params `{ since?, by?, key? }`; the result is `UsageReport.report`'s document (a
 *   non-admin key's own usage only).
 *
 * @since 0.1.0
 */
import { Effect, Result } from "effect"
import { HttpServerResponse } from "effect/http"
import type * as Bridge from "../bridge/Bridge.ts"
import * as BridgeContract from "../bridge/BridgeContract.ts"
import * as BridgeModule from "../bridge/Bridge.ts"
import * as Failures from "./internal/failures.ts"
import * as Wire from "./internal/wire.ts"
import * as JsonRpc from "./JsonRpc.ts"
import * as Server from "./Server.ts"
import * as UsageReport from "./UsageReport.ts"

const decoded = (input: unknown): Effect.Effect<BridgeContract.BridgeRequest, BridgeContract.BridgeFailure> => {
  const result = BridgeContract.decode(input)
  return Result.isFailure(result) ? Effect.fail(result.failure.document) : Effect.succeed(result.success)
}

const noteResponse = (response: BridgeContract.BridgeResponse) =>
  Server.noteUsage({ tokensIn: response.tokensIn, tokensOut: response.tokensOut, model: response.model })

/**
 * The JSON-RPC methods of a bridge.
 *
 * @since 0.1.0
 * @category rpc
 */
export const methods = (bridge: Bridge.Service): Readonly<Record<string, JsonRpc.Method>> => ({
  execute: (params) =>
    decoded(params).pipe(
      Effect.mapError((failure): JsonRpc.MethodFailure => ({ _tag: "InvalidParams", failure })),
      Effect.flatMap((request) =>
        bridge.execute(request).pipe(
          Effect.tap(noteResponse),
          Effect.mapError((error): JsonRpc.MethodFailure => ({ _tag: "CallFailed", failure: error.document }))
        )
      )
    ),
  generate: (params) =>
    decoded(params).pipe(
      Effect.mapError((failure): JsonRpc.MethodFailure => ({ _tag: "InvalidParams", failure })),
      Effect.flatMap((request) =>
        Effect.scoped(Effect.gen(function*() {
          const model = yield* bridge.modelFor({
            ...(request.provider !== undefined && request.provider !== null ? { provider: request.provider } : {}),
            ...(request.model !== undefined && request.model !== null ? { model: request.model } : {}),
            ...(request.api_key !== undefined && request.api_key !== null ? { apiKey: request.api_key } : {}),
            ...(request.budget !== undefined && request.budget !== null ? { budget: request.budget } : {})
          })
          const response = yield* model.generate(BridgeModule.toLlmRequest(request, bridge.config))
          yield* Failures.note(response)
          return response
        })).pipe(Effect.mapError((error): JsonRpc.MethodFailure => ({ _tag: "CallFailed", failure: Failures.ofLlmError(error) })))
      )
    ),
  usage: (params) => {
    const query = Wire.isRecord(params) ? params : {}
    return UsageReport.report(bridge.ledger, {
      since: typeof query.since === "string" ? query.since : undefined,
      by: typeof query.by === "string" ? query.by : undefined,
      key: typeof query.key === "string" ? query.key : undefined
    }).pipe(Effect.mapError((failure): JsonRpc.MethodFailure =>
      // A bad `since`/`by`/`key` is the caller's params; a refusal (another key's usage) is ours.
      failure.errorType === BridgeContract.INVALID_INPUT ? { _tag: "InvalidParams", failure } : { _tag: "CallFailed", failure }
    ))
  }
})

/**
 * The routes: `POST /execute`, `POST /rpc`.
 *
 * @since 0.1.0
 * @category routes
 */
export const routes = (
  bridge: Bridge.Service,
  moreMethods: Readonly<Record<string, JsonRpc.Method>> = {}
): ReadonlyArray<Server.Route> => {
  const rpcMethods = { ...methods(bridge), ...moreMethods }
  return [
    {
      method: "POST",
      path: "/execute",
      // A chain of steps rather than a generator (stop 27).
      handler: Effect.catch(
        Effect.flatMap(Server.bodyJson, (body) => {
          const decodedRequest = BridgeContract.decode(body)
          if (Result.isFailure(decodedRequest)) return Effect.fail(decodedRequest.failure.document)
          const request = decodedRequest.success
          const given = request.id ?? undefined
          return Effect.flatMap(
            Effect.mapError(bridge.execute(request), (error) => (given === undefined ? error.document : { id: given, ...error.document })),
            (response) => Effect.as(noteResponse(response), Server.json(given === undefined ? response : { id: given, ...response }))
          )
        }),
        (failure) => Effect.succeed(Server.failureResponse(failure))
      )
    },
    {
      method: "POST",
      path: "/rpc",
      render: (failure) => JsonRpc.failedBeforeReading(failure),
      handler: Effect.gen(function*() {
        const body = yield* Server.bodyJson.pipe(Effect.result)
        if (Result.isFailure(body)) {
          // Over the size limit: 413 (the body was not read); anything else is not JSON.
          return body.failure.errorType === "InvalidRequest"
            ? Server.failureResponse(body.failure)
            : Server.json(JsonRpc.parseError(body.failure.error))
        }
        const answer = yield* JsonRpc.handle(rpcMethods, body.success)
        return answer === undefined ? HttpServerResponse.empty({ status: 204 }) : Server.json(answer)
      })
    }
  ]
}
