/**
 * The bridge contract: the JSON documents `llm-connect bridge` reads on stdin and writes on
 * stdout (one each, or one per line with `--jsonl`), and that the server's `POST /execute` and
 * JSON-RPC `execute` take and give.
 *
 * A request names the provider and model, a prompt (or `messages`), the system prompt, the
 * output cap and the temperature; optionally its own `api_key` and `budget`, and an `id` that is
 * echoed in the answer. `null` means absent for every field, so a consumer can send
 * `"systemPrompt": null`. The answer is either {@link BridgeResponse} (`content`, `model`,
 * `tokensIn`, `tokensOut`, `finishReason`) or {@link BridgeFailure} (`error`, `errorType`, and
 * the reason's own fields). `errorType` is the `LlmError` reason (`RateLimited`,
 * `BudgetExceeded`, `Timeout`...), or `InvalidInput` for a request that could not be run as
 * given: not JSON, a missing prompt, an unknown provider, a missing key, a bad budget.
 *
 * The module also reads documents ({@link parseJson}, {@link decode}: nulls dropped, a prompt or
 * messages required; {@link idOf}) and makes failures ({@link BridgeError}, {@link invalidInput},
 * {@link fromLlmError}), so that every door answers the same way. Running a request is
 * `Bridge.ts`'s.
 *
 * The JSON Schemas in `contracts/bridge-request.schema.json` and
 * `contracts/bridge-response.schema.json` are generated from these Schemas.
 *
 * @since 0.1.0
 */
import { Data, Result, Schema, SchemaIssue } from "effect"
import * as LlmError from "../LlmError.ts"
import * as Budget from "../budget/Budget.ts"
import * as LlmResponse from "../LlmResponse.ts"
import * as Message from "../Message.ts"
import * as CommonRequest from "./internal/commonRequest.ts"

const PositiveInt = Schema.Int.check(Schema.isGreaterThan(0))
const PositiveUsd = Schema.Finite.check(Schema.isGreaterThan(0))
const NonNegativeInt = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))

/** An optional field that may also be `null` (absent). */
const nullable = <S extends Schema.Top>(schema: S) => Schema.optionalKey(Schema.NullOr(schema))

/**
 * The id a request carries to find its answer (`--jsonl`): a string or a number, echoed as is.
 *
 * @since 0.1.0
 * @category schemas
 */
export const RequestId = Schema.Union([Schema.String, Schema.Finite]).annotate({
  identifier: "BridgeRequestId",
  description: "Echoed in the answer (a string or a number); null in the answer to a line that could not be read."
})

/**
 * @since 0.1.0
 * @category models
 */
export type RequestId = typeof RequestId.Type

/**
 * A request's own budget: the budget keys of the configuration file, each one over the same
 * key from the flags, the environment and the file. It holds for this request only (a fresh
 * tracker; a duration deadline counts from the request's start).
 *
 * @since 0.1.0
 * @category schemas
 */
export const RequestBudget = Schema.Struct({
  inputTokens: nullable(PositiveInt).annotate({ description: "The most input (prompt) tokens." }),
  outputTokens: nullable(PositiveInt).annotate({ description: "The most output tokens." }),
  totalTokens: nullable(PositiveInt).annotate({ description: "The most input + output tokens." }),
  costUsd: nullable(PositiveUsd).annotate({ description: "The most USD (price table or provider-reported cost)." }),
  deadline: nullable(Budget.DeadlineString).annotate({
    description: "A duration from the request's start (30s, 5m) or an ISO-8601 instant."
  }),
  defaultMaxTokens: nullable(PositiveInt).annotate({
    description: "The output cap reserved (and sent) when the request sets no maxTokens."
  }),
  onUnknownPrice: nullable(Schema.Literals(["fail", "allow"])),
  chargeAbandoned: nullable(Budget.ChargeAbandoned)
}).annotate({
  identifier: "BridgeRequestBudget",
  description: "Budget limits for this request only, over the configured ones (flags > environment > file)."
})

/**
 * @since 0.1.0
 * @category models
 */
export type RequestBudget = typeof RequestBudget.Type

/**
 * A bridge request, as sent. Fields not listed here are ignored. (A field added here is also read
 * by `internal/commonRequest.ts`, the common shape's reader: a test holds their fields equal.)
 *
 * @since 0.1.0
 * @category schemas
 */
export const BridgeRequest = Schema.Struct({
  id: nullable(RequestId),
  provider: nullable(Schema.String.check(Schema.isNonEmpty())).annotate({
    description: "The provider (see `llm-connect providers`); the configured one (--provider, LLM_CONNECT_PROVIDER, file) when absent."
  }),
  model: nullable(Schema.String.check(Schema.isNonEmpty())).annotate({
    description: "The model; the configured one, else the provider's default, when absent."
  }),
  systemPrompt: nullable(Schema.String).annotate({ description: "The system prompt; null for none (or the configured one)." }),
  prompt: nullable(Schema.String).annotate({ description: "The user's prompt. Give this or messages." }),
  messages: nullable(Schema.Array(Message.Message).check(Schema.isMinLength(1))).annotate({
    description: "The conversation, oldest first, instead of prompt."
  }),
  maxTokens: nullable(PositiveInt).annotate({ description: "The most output tokens." }),
  temperature: nullable(Schema.Finite.check(Schema.isBetween({ minimum: 0, maximum: 2 }))).annotate({
    description: "Sampling temperature, 0 to 2."
  }),
  api_key: nullable(Schema.String.check(Schema.isNonEmpty())).annotate({
    description: "The provider's API key for this request; else the environment, else the key file. Never printed or logged."
  }),
  budget: nullable(RequestBudget)
}).annotate({
  identifier: "BridgeRequest",
  description: "One request to `llm-connect bridge` (stdin, or one line with --jsonl) or POST /execute. null means absent for every field."
})

/**
 * @since 0.1.0
 * @category models
 */
export type BridgeRequest = typeof BridgeRequest.Type

/**
 * A successful answer.
 *
 * @since 0.1.0
 * @category schemas
 */
export const BridgeResponse = Schema.Struct({
  id: Schema.optionalKey(RequestId),
  content: Schema.String.annotate({ description: "The text of the answer." }),
  model: Schema.String.annotate({ description: "The model that answered, as the provider named it." }),
  tokensIn: NonNegativeInt.annotate({ description: "Input (prompt) tokens, cached ones included." }),
  tokensOut: NonNegativeInt.annotate({ description: "Output tokens." }),
  finishReason: LlmResponse.FinishReason
}).annotate({ identifier: "BridgeResponse", description: "The answer to a bridge request that succeeded (exit 0)." })

/**
 * @since 0.1.0
 * @category models
 */
export type BridgeResponse = typeof BridgeResponse.Type

/**
 * The `errorType` of a request that could not be run as given (exit 2).
 *
 * @since 0.1.0
 * @category constants
 */
export const INVALID_INPUT = "InvalidInput"

/**
 * A failed answer: the message, the reason, and the reason's own fields (`retryAfterMs`,
 * `dimension`, `scope`, `status`, `setting` and `fix`...), as `LlmError.toDocument` gives them.
 *
 * @since 0.1.0
 * @category schemas
 */
export const BridgeFailure = Schema.Struct({
  id: Schema.optionalKey(Schema.NullOr(RequestId)),
  error: Schema.String.annotate({ description: "What went wrong, for a person (never a key)." }),
  errorType: Schema.String.annotate({
    description: "InvalidInput (exit 2) or the LlmError reason (exit 1): RateLimited, BudgetExceeded, Timeout, Authentication..."
  }),
  retryable: Schema.optionalKey(Schema.Boolean),
  provider: Schema.optionalKey(Schema.String),
  model: Schema.optionalKey(Schema.String),
  status: Schema.optionalKey(Schema.Int),
  requestId: Schema.optionalKey(Schema.String)
}).annotate({
  identifier: "BridgeFailure",
  description: "The answer to a bridge request that failed: exit 2 when errorType is InvalidInput, else exit 1. " +
    "Other fields are the reason's own."
})

/**
 * @since 0.1.0
 * @category models
 */
export type BridgeFailure = typeof BridgeFailure.Type

/**
 * Any answer: a response or a failure.
 *
 * @since 0.1.0
 * @category schemas
 */
export const BridgeAnswer = Schema.Union([BridgeResponse, BridgeFailure]).annotate({
  identifier: "BridgeAnswer",
  description: "What `llm-connect bridge` prints (one per line with --jsonl) and POST /execute returns."
})

/**
 * @since 0.1.0
 * @category models
 */
export type BridgeAnswer = typeof BridgeAnswer.Type

/**
 * Whether an answer is a failure.
 *
 * @since 0.1.0
 * @category guards
 */
export const isFailure = (answer: BridgeAnswer): answer is BridgeFailure => "errorType" in answer

/**
 * The bridge's exit code for an answer: 0 success, 2 `InvalidInput`, 1 any other failure
 * (a timeout included).
 *
 * @since 0.1.0
 * @category exit codes
 */
export const exitCode = (answer: BridgeAnswer): 0 | 1 | 2 =>
  !isFailure(answer) ? 0 : answer.errorType === INVALID_INPUT ? 2 : 1

// -----------------------------------------------------------------------------
// Failures
// -----------------------------------------------------------------------------

/**
 * A failed bridge request: the document to answer with, and the `LlmError` behind it when
 * there is one (a server maps its reason to an HTTP status).
 *
 * @since 0.1.0
 * @category errors
 */
export class BridgeError extends Data.TaggedError("BridgeError")<{
  readonly document: BridgeFailure
  readonly error?: LlmError.LlmError | undefined
}> {
  /** 2 for `InvalidInput`, else 1. */
  get exitCode(): 1 | 2 {
    return this.document.errorType === INVALID_INPUT ? 2 : 1
  }
}

/**
 * A failure document for input that could not be run as given.
 *
 * @since 0.1.0
 * @category errors
 */
export const invalidInput = (
  description: string,
  fields: { readonly setting?: string | undefined; readonly fix?: string | undefined } = {}
): BridgeError =>
  new BridgeError({
    document: {
      error: description,
      errorType: INVALID_INPUT,
      retryable: false,
      ...(fields.setting !== undefined ? { setting: fields.setting } : {}),
      ...(fields.fix !== undefined ? { fix: fields.fix } : {})
    }
  })

// A missing key is named in the request's words: its api_key first, then the places
// ProviderKeys looked ("no API key for openai: looked in OPENAI_API_KEY, then the key file ...").
const withRequestKeySource = (error: LlmError.LlmError): LlmError.LlmError => {
  const reason = error.reason
  if (reason._tag !== "Configuration" || !reason.setting.endsWith(".apiKey")) return error
  return LlmError.make(
    error.provider,
    new LlmError.Configuration({
      description: reason.description.replace("looked in ", "looked in the request's \"api_key\", then "),
      setting: reason.setting,
      fix: `send "api_key" in the request, or ${reason.fix}`
    })
  )
}

/**
 * The failure document of an `LlmError`: `LlmError.toDocument` (scrubbed), with
 * `errorType: "InvalidInput"` for a configuration problem.
 *
 * @since 0.1.0
 * @category errors
 */
export const fromLlmError = (error: LlmError.LlmError): BridgeError => {
  const named = withRequestKeySource(error)
  const document = LlmError.toDocument(named) as BridgeFailure
  return new BridgeError({
    document: named.reason._tag === "Configuration" ? { ...document, errorType: INVALID_INPUT } : document,
    error: named
  })
}

// -----------------------------------------------------------------------------
// Decoding
// -----------------------------------------------------------------------------

const decodeRequest = Schema.decodeUnknownResult(BridgeRequest)
const decodeId = Schema.decodeUnknownResult(RequestId)
const formatIssues = SchemaIssue.makeFormatterStandardSchemaV1()

// null is absent: drop null fields (the budget's too) once the Schema has accepted them.
const withoutNulls = <A extends object>(value: A): A =>
  // The decoded value is the Schema's own copy: kept as it is when no field is null (most requests).
  Object.values(value).includes(null) ? Object.fromEntries(Object.entries(value).filter(([, field]) => field !== null)) as A : value

const normalise = (request: BridgeRequest): BridgeRequest => {
  const out = withoutNulls(request)
  return out.budget === undefined || out.budget === null ? out : { ...out, budget: withoutNulls(out.budget) }
}

const describeIssues = (error: Schema.SchemaError): string => {
  const issues = formatIssues(error.issue).issues
  const lines = issues.slice(0, 3).map((issue) => {
    const path = (issue.path ?? []).map((segment) => String(typeof segment === "object" ? segment.key : segment)).join(".")
    return path === "" ? issue.message : `${path}: ${issue.message}`
  })
  return `${lines.join("; ")}${issues.length > 3 ? ` (and ${issues.length - 3} more)` : ""}`
}

/**
 * The `id` of a parsed value, when it is an object with a valid one (else `null`).
 *
 * @since 0.1.0
 * @category decoding
 */
export const idOf = (input: unknown): RequestId | null => {
  if (input === null || typeof input !== "object" || Array.isArray(input) || !("id" in input)) return null
  const id = decodeId(input.id)
  return Result.isSuccess(id) ? id.success : null
}

/**
 * Decodes a parsed JSON value as a bridge request (nulls dropped) and checks that it has a
 * prompt or messages, not both.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decode = (input: unknown): Result.Result<BridgeRequest, BridgeError> => {
  if (input === null || typeof input !== "object" || Array.isArray(input)) {
    return Result.fail(invalidInput(
      `the request must be a JSON object, got ${Array.isArray(input) ? "an array" : input === null ? "null" : typeof input}`,
      { fix: "send {\"provider\": ..., \"model\": ..., \"prompt\": ...}" }
    ))
  }
  // The common shape (scalar fields only) read without the Schema; anything else decoded by it (stop 31).
  let request = CommonRequest.read(input)
  if (request === undefined) {
    const decoded = decodeRequest(input, { errors: "all" })
    if (Result.isFailure(decoded)) {
      return Result.fail(invalidInput(`invalid request: ${describeIssues(decoded.failure)}`, {
        fix: "see contracts/bridge-request.schema.json"
      }))
    }
    request = normalise(decoded.success)
  }
  if (request.prompt === undefined && request.messages === undefined) {
    return Result.fail(invalidInput("missing prompt: the request has neither \"prompt\" nor \"messages\"", {
      setting: "prompt",
      fix: "send \"prompt\": \"...\" (a string) or \"messages\": [{\"role\": \"user\", \"content\": \"...\"}]"
    }))
  }
  if (request.prompt !== undefined && request.messages !== undefined) {
    return Result.fail(invalidInput("the request has both \"prompt\" and \"messages\"; give one", {
      setting: "prompt",
      fix: "send the conversation in \"messages\", or only \"prompt\""
    }))
  }
  return Result.succeed(request)
}

/**
 * Parses a JSON text: the value, or the `InvalidInput` failure of a text that is not JSON.
 *
 * @since 0.1.0
 * @category decoding
 */
export const parseJson = (text: string): Result.Result<unknown, BridgeError> => {
  try {
    return Result.succeed(JSON.parse(text) as unknown)
  } catch (error) {
    return Result.fail(invalidInput(`the request is not JSON: ${error instanceof Error ? error.message : String(error)}`, {
      fix: "send one JSON object (with --jsonl, one per line)"
    }))
  }
}

