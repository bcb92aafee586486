/**
 * JSON-RPC 2.0 on `POST /rpc`: single calls and batches, the standard error codes, and our
 * failures as code `-32000` with `data.errorType` (and the failure document's other fields).
 *
 * | case | answer |
 * | --- | --- |
 * | not JSON | `-32700` Parse error, `id: null` |
 * | not a request object, an empty batch, a batch over {@link MAX_BATCH} | `-32600` Invalid Request |
 * | unknown method | `-32601` Method not found |
 * | params that do not fit the method | `-32602` Invalid params (`data.errorType: "InvalidInput"`) |
 * | the call failed | `-32000` (`data.errorType`: the `LlmError` reason) |
 * | a defect | `-32603` Internal error |
 *
 * A notification (no `id`) is run and not answered; a batch of notifications only gets HTTP 204.
 * The HTTP status is always 200 otherwise. A batch's calls run concurrently (at most
 * {@link BATCH_CONCURRENCY} at once) and its answers keep the batch's order.
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import type * as BridgeContract from "../bridge/BridgeContract.ts"

/**
 * The most requests in one batch.
 *
 * @since 0.1.0
 * @category constants
 */
export const MAX_BATCH = 100

/**
 * How many calls of one batch run at once.
 *
 * @since 0.1.0
 * @category constants
 */
export const BATCH_CONCURRENCY = 16

/**
 * The standard codes.
 *
 * @since 0.1.0
 * @category constants
 */
export const Codes = {
  ParseError: -32700,
  InvalidRequest: -32600,
  MethodNotFound: -32601,
  InvalidParams: -32602,
  InternalError: -32603,
  /** Our failures: the call failed (`data.errorType` says why). */
  CallFailed: -32000
} as const

/**
 * A JSON-RPC id.
 *
 * @since 0.1.0
 * @category models
 */
export type Id = string | number | null

/**
 * An error object.
 *
 * @since 0.1.0
 * @category models
 */
export interface ErrorObject {
  readonly code: number
  readonly message: string
  readonly data?: unknown
}

/**
 * A response object.
 *
 * @since 0.1.0
 * @category models
 */
export type Response =
  | { readonly jsonrpc: "2.0"; readonly id: Id; readonly result: unknown }
  | { readonly jsonrpc: "2.0"; readonly id: Id; readonly error: ErrorObject }

/**
 * How a method fails: its params do not fit (`-32602`), or the call failed (`-32000`).
 *
 * @since 0.1.0
 * @category models
 */
export type MethodFailure =
  | { readonly _tag: "InvalidParams"; readonly failure: BridgeContract.BridgeFailure }
  | { readonly _tag: "CallFailed"; readonly failure: BridgeContract.BridgeFailure }

/**
 * A method: params in, a result out.
 *
 * @since 0.1.0
 * @category models
 */
export type Method = (params: unknown) => Effect.Effect<unknown, MethodFailure>

const failure = (id: Id, error: ErrorObject): Response => ({ jsonrpc: "2.0", id, error })

const validId = (value: unknown): value is Id =>
  value === null || typeof value === "string" || (typeof value === "number" && Number.isFinite(value))

const dataOf = ({ error: _message, ...document }: BridgeContract.BridgeFailure) => document

// One request object: its answer, or undefined for a notification.
const one = (methods: Readonly<Record<string, Method>>, input: unknown): Effect.Effect<Response | undefined> => {
  if (input === null || typeof input !== "object" || Array.isArray(input)) {
    return Effect.succeed(failure(null, { code: Codes.InvalidRequest, message: "Invalid Request: expected a request object" }))
  }
  const request = input as Record<string, unknown>
  const hasId = Object.hasOwn(request, "id")
  const id: Id = hasId && validId(request.id) ? request.id : null
  if (request.jsonrpc !== "2.0" || typeof request.method !== "string" || (hasId && !validId(request.id))) {
    return Effect.succeed(failure(id, {
      code: Codes.InvalidRequest,
      message: "Invalid Request: a request has \"jsonrpc\": \"2.0\", a string \"method\", and an id that is a string, a number or null"
    }))
  }
  const params = request.params
  if (params !== undefined && (params === null || typeof params !== "object")) {
    return Effect.succeed(failure(id, { code: Codes.InvalidRequest, message: "Invalid Request: \"params\" must be an object or an array" }))
  }
  const method = Object.hasOwn(methods, request.method) ? methods[request.method] : undefined
  const answer: Effect.Effect<Response> = method === undefined
    ? Effect.succeed(failure(id, {
      code: Codes.MethodNotFound,
      message: `Method not found: ${JSON.stringify(request.method).slice(0, 80)}; methods: ${Object.keys(methods).join(", ")}`
    }))
    : method(params).pipe(
      Effect.map((result): Response => ({ jsonrpc: "2.0", id, result })),
      Effect.catch((error) =>
        Effect.succeed(failure(id, {
          code: error._tag === "InvalidParams" ? Codes.InvalidParams : Codes.CallFailed,
          message: error.failure.error,
          data: dataOf(error.failure)
        }))
      ),
      Effect.catchDefect(() => Effect.succeed(failure(id, { code: Codes.InternalError, message: "Internal error" })))
    )
  return hasId ? answer : Effect.asVoid(answer).pipe(Effect.as(undefined))
}

/**
 * Answers a parsed body (`undefined`: nothing to send, HTTP 204).
 *
 * @since 0.1.0
 * @category handling
 */
export const handle = (
  methods: Readonly<Record<string, Method>>,
  body: unknown
): Effect.Effect<Response | ReadonlyArray<Response> | undefined> => {
  if (!Array.isArray(body)) return one(methods, body)
  if (body.length === 0) return Effect.succeed(failure(null, { code: Codes.InvalidRequest, message: "Invalid Request: the batch is empty" }))
  if (body.length > MAX_BATCH) {
    return Effect.succeed(failure(null, {
      code: Codes.InvalidRequest,
      message: `Invalid Request: the batch has ${body.length} requests; send at most ${MAX_BATCH} per batch`
    }))
  }
  return Effect.forEach(body, (item) => one(methods, item), { concurrency: BATCH_CONCURRENCY }).pipe(
    Effect.map((answers) => {
      const sent = answers.filter((answer): answer is Response => answer !== undefined)
      return sent.length === 0 ? undefined : sent
    })
  )
}

/**
 * The answer to a body that is not JSON.
 *
 * @since 0.1.0
 * @category handling
 */
export const parseError = (description: string): Response =>
  failure(null, { code: Codes.ParseError, message: `Parse error: ${description}` })

/**
 * The answer to a request the server refused before reading it (busy, shutting down, too
 * large, unauthenticated): `-32000` with the failure document as `data`, `id: null`.
 *
 * @since 0.1.0
 * @category handling
 */
export const failedBeforeReading = (document: BridgeContract.BridgeFailure): Response =>
  failure(null, { code: Codes.CallFailed, message: document.error, data: dataOf(document) })
