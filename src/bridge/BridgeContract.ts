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
 * The JSON Schemas in `contracts/bridge-request.schema.json` and
 * `contracts/bridge-response.schema.json` are generated from these Schemas.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import * as Budget from "../budget/Budget.ts"
import * as LlmResponse from "../LlmResponse.ts"
import * as Message from "../Message.ts"

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
 * A bridge request, as sent. Fields not listed here are ignored.
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
