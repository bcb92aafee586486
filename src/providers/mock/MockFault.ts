/**
 * Fault scripts for the mock provider: the next calls fail, in order, with the given faults.
 * A fault applies to the next call, `generate` or `stream`: a stream fails before its first
 * chunk, except `cut:N`, which sends N chunks of the reply and then drops the connection.
 *
 * Written the same way in code, on the CLI (`--mock-faults 429,500`) and in config
 * (`mock: { faults: ["429:2s", "timeout"] }`):
 *
 * | token         | the call...                                                   |
 * |---------------|---------------------------------------------------------------|
 * | `ok`          | succeeds (lets a script interleave successes)                 |
 * | `429[:2s]`    | fails with RateLimited, with a Retry-After if given           |
 * | `500`..`599`  | fails with ServerError of that status (503: Unavailable)      |
 * | `timeout`     | fails with Timeout (scope: attempt)                           |
 * | `hang`        | never answers (exercises the caller's timeouts)               |
 * | `network`     | fails with Network                                            |
 * | `cut:N`       | a stream sends N chunks, then fails with Network (a dropped   |
 * |               | connection mid-answer); `generate` fails with Network         |
 * | `malformed`   | fails with ResponseMalformed                                  |
 * | `auth`        | fails with Authentication (401)                               |
 * | `400`         | fails with InvalidRequest                                     |
 *
 * @since 0.1.0
 */
import { Effect, Result, Schema, SchemaIssue, SchemaTransformation } from "effect"
import * as DurationText from "../../DurationText.ts"
import * as LlmError from "../../LlmError.ts"

/**
 * One scripted fault.
 *
 * @since 0.1.0
 * @category models
 */
export type MockFault =
  | { readonly _tag: "Ok" }
  | { readonly _tag: "RateLimited"; readonly retryAfterMs?: number | undefined }
  | { readonly _tag: "ServerError"; readonly status: number }
  | { readonly _tag: "Timeout" }
  | { readonly _tag: "Hang" }
  | { readonly _tag: "Network" }
  | { readonly _tag: "Cut"; readonly chunks: number }
  | { readonly _tag: "Malformed" }
  | { readonly _tag: "Authentication" }
  | { readonly _tag: "InvalidRequest" }

/**
 * Parses one fault token (see the module table).
 *
 * @since 0.1.0
 * @category parsing
 */
export const parse = (token: string): Result.Result<MockFault, string> => {
  const text = token.trim().toLowerCase()
  if (text === "ok") return Result.succeed({ _tag: "Ok" })
  if (text === "timeout") return Result.succeed({ _tag: "Timeout" })
  if (text === "hang") return Result.succeed({ _tag: "Hang" })
  if (text === "network") return Result.succeed({ _tag: "Network" })
  if (text === "malformed") return Result.succeed({ _tag: "Malformed" })
  if (text === "auth" || text === "401") return Result.succeed({ _tag: "Authentication" })
  if (text === "400") return Result.succeed({ _tag: "InvalidRequest" })
  if (text === "429") return Result.succeed({ _tag: "RateLimited" })
  if (text.startsWith("429:")) {
    return Result.map(DurationText.parseMillis(text.slice(4)), (retryAfterMs) => ({ _tag: "RateLimited" as const, retryAfterMs }))
  }
  if (/^5\d\d$/.test(text)) return Result.succeed({ _tag: "ServerError", status: Number(text) })
  if (text.startsWith("cut:")) {
    const chunks = text.slice(4)
    return /^\d{1,6}$/.test(chunks)
      ? Result.succeed({ _tag: "Cut", chunks: Number(chunks) })
      : Result.fail(`mock fault "${token}": cut:N takes a number of chunks, e.g. cut:2`)
  }
  return Result.fail(
    `unknown mock fault "${token}": use ok, 429, 429:<duration>, 500-599, timeout, hang, network, cut:<chunks>, malformed, auth or 400`
  )
}

/**
 * Parses a comma-separated fault script (`"429,500,ok"`), reporting the first bad token.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseScript = (script: string | ReadonlyArray<string>): Result.Result<ReadonlyArray<MockFault>, string> => {
  const tokens = typeof script === "string" ? script.split(",").filter((token) => token.trim() !== "") : script
  const faults: Array<MockFault> = []
  for (const token of tokens) {
    const parsed = parse(token)
    if (Result.isFailure(parsed)) return Result.fail(parsed.failure)
    faults.push(parsed.success)
  }
  return Result.succeed(faults)
}

/**
 * Writes a fault as its token (`429:2s`, `500`, `timeout`...), the inverse of {@link parse}.
 *
 * @since 0.1.0
 * @category formatting
 */
export const format = (fault: MockFault): string => {
  switch (fault._tag) {
    case "Ok":
      return "ok"
    case "RateLimited":
      return fault.retryAfterMs === undefined ? "429" : `429:${DurationText.formatMillis(fault.retryAfterMs)}`
    case "ServerError":
      return String(fault.status)
    case "Timeout":
      return "timeout"
    case "Hang":
      return "hang"
    case "Network":
      return "network"
    case "Cut":
      return `cut:${fault.chunks}`
    case "Malformed":
      return "malformed"
    case "Authentication":
      return "auth"
    case "InvalidRequest":
      return "400"
  }
}

/**
 * The `Network` error of a stream cut by `cut:N` after `sent` chunks (`undefined`: a call cut
 * mid-answer, for `generate`).
 *
 * @since 0.1.0
 * @category errors
 */
export const cutFailure = (provider: string, model: string, sent: number | undefined): LlmError.LlmError =>
  LlmError.make(
    provider,
    new LlmError.Network({
      description: sent === undefined
        ? "scripted connection reset mid-answer (cut)"
        : `scripted connection reset after ${sent} chunk${sent === 1 ? "" : "s"} (cut)`
    }),
    { model }
  )

/**
 * What a call that meets a fault does: fail with the fault's `LlmError` (see the module table),
 * or never answer (`hang`). `ok` is not a failure: the caller answers instead.
 *
 * @since 0.1.0
 * @category errors
 */
export const toFailure = (fault: MockFault, provider: string, model: string): Effect.Effect<never, LlmError.LlmError> => {
  const fail = (reason: LlmError.LlmErrorReason, status?: number) =>
    Effect.fail(LlmError.make(provider, reason, { model, status }))
  switch (fault._tag) {
    case "RateLimited":
      return fail(
        new LlmError.RateLimited({
          description: "scripted rate limit",
          ...(fault.retryAfterMs !== undefined ? { retryAfterMs: fault.retryAfterMs } : {})
        }),
        429
      )
    case "ServerError":
      return fault.status === 503
        ? fail(new LlmError.Unavailable({ description: "scripted outage (503)" }), 503)
        : fail(new LlmError.ServerError({ description: `scripted server error ${fault.status}`, status: fault.status }), fault.status)
    case "Timeout":
      return fail(new LlmError.Timeout({ description: "scripted timeout", scope: "attempt", attempts: 1, elapsedMs: 0 }))
    case "Network":
      return fail(new LlmError.Network({ description: "scripted connection reset" }))
    case "Cut":
      return Effect.fail(cutFailure(provider, model, undefined))
    case "Malformed":
      return fail(new LlmError.ResponseMalformed({ description: "scripted malformed response body" }))
    case "Authentication":
      return fail(new LlmError.Authentication({ description: "scripted invalid API key" }), 401)
    case "InvalidRequest":
      return fail(new LlmError.InvalidRequest({ description: "scripted invalid request" }), 400)
    case "Hang":
      return Effect.never
    case "Ok":
      return Effect.die("unreachable: Ok is not a failure")
  }
}

const isFaultList = (input: unknown): input is ReadonlyArray<MockFault> =>
  Array.isArray(input) && input.every((fault) => typeof fault === "object" && fault !== null && "_tag" in fault)

/**
 * A fault script as written in config, `"429,500"` or `["429:2s", 500, "timeout"]`, decoded into
 * the list of faults (a bad token fails, naming it and the tokens that exist).
 *
 * @since 0.1.0
 * @category schemas
 */
export const Script = Schema.Union([Schema.String, Schema.Array(Schema.Union([Schema.String, Schema.Int]))])
  .annotate({ examples: [["429:1s", "500"]] })
  .pipe(
    Schema.decodeTo(
      Schema.declare(isFaultList, { expected: "a list of mock faults" }),
      SchemaTransformation.transformEffect({
        decode: (script: string | ReadonlyArray<string | number>) => {
          const parsed = parseScript(typeof script === "string" ? script : script.map(String))
          return Result.isSuccess(parsed)
            ? Effect.succeed(parsed.success)
            : Effect.fail(new SchemaIssue.InvalidValue({ message: parsed.failure }, script))
        },
        encode: (faults: ReadonlyArray<MockFault>) => Effect.succeed(faults.map(format))
      })
    )
  )
