/**
 * The one error type of llm-connect.
 *
 * Every layer (provider, budget, retry, circuit breaker, workflow step) fails with `LlmError`,
 * so wrapping a `LanguageModel` never changes its type. What went wrong is the semantic
 * `reason`, a tagged union; each reason says whether retrying can help (`isRetryable`).
 * Errors carry what a user needs to act on (provider, model, status, request id, retry-after,
 * the budget dimension that ran out) and never an API key or a full prompt.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import * as Redaction from "./observability/Redaction.ts"
import { Usage } from "./Usage.ts"

const description = Schema.String.annotate({ description: "What happened, for a person." })

/**
 * The API key was missing, wrong or revoked (HTTP 401).
 *
 * @since 0.1.0
 * @category reasons
 */
export class Authentication extends Schema.TaggedClass<Authentication>()("Authentication", { description }) {
  get isRetryable(): boolean {
    return false
  }
}

/**
 * The key is valid but may not do this (HTTP 403).
 *
 * @since 0.1.0
 * @category reasons
 */
export class PermissionDenied extends Schema.TaggedClass<PermissionDenied>()("PermissionDenied", { description }) {
  get isRetryable(): boolean {
    return false
  }
}

/**
 * The request itself is wrong (HTTP 400/422, or it failed our own validation).
 *
 * @since 0.1.0
 * @category reasons
 */
export class InvalidRequest extends Schema.TaggedClass<InvalidRequest>()("InvalidRequest", {
  description,
  parameter: Schema.optionalKey(Schema.String)
}) {
  get isRetryable(): boolean {
    return false
  }
}

/**
 * The model or endpoint does not exist (HTTP 404).
 *
 * @since 0.1.0
 * @category reasons
 */
export class NotFound extends Schema.TaggedClass<NotFound>()("NotFound", {
  description,
  model: Schema.optionalKey(Schema.String)
}) {
  get isRetryable(): boolean {
    return false
  }
}

/**
 * Too many requests (HTTP 429); `retryAfterMs` is the provider's hint when it gave one.
 *
 * @since 0.1.0
 * @category reasons
 */
export class RateLimited extends Schema.TaggedClass<RateLimited>()("RateLimited", {
  description,
  retryAfterMs: Schema.optionalKey(Schema.Finite)
}) {
  get isRetryable(): boolean {
    return true
  }
}

/**
 * A timeout ran out: of one attempt, of the whole call (all attempts together), or, on a stream,
 * the time allowed between two parts (`idle`). Only an attempt's timeout is retried.
 *
 * @since 0.1.0
 * @category reasons
 */
export class Timeout extends Schema.TaggedClass<Timeout>()("Timeout", {
  description,
  scope: Schema.Literals(["attempt", "call", "idle"]),
  attempts: Schema.Int,
  elapsedMs: Schema.Finite
}) {
  get isRetryable(): boolean {
    return this.scope === "attempt"
  }
}

/**
 * The provider failed on its side (HTTP 5xx).
 *
 * @since 0.1.0
 * @category reasons
 */
export class ServerError extends Schema.TaggedClass<ServerError>()("ServerError", {
  description,
  status: Schema.Int
}) {
  get isRetryable(): boolean {
    return true
  }
}

/**
 * The connection failed: refused, reset, DNS, TLS.
 *
 * @since 0.1.0
 * @category reasons
 */
export class Network extends Schema.TaggedClass<Network>()("Network", { description }) {
  get isRetryable(): boolean {
    return true
  }
}

/**
 * The provider refused or filtered the content.
 *
 * @since 0.1.0
 * @category reasons
 */
export class ContentFiltered extends Schema.TaggedClass<ContentFiltered>()("ContentFiltered", { description }) {
  get isRetryable(): boolean {
    return false
  }
}

/**
 * The provider answered with something we cannot read (not JSON, or not the expected shape).
 *
 * @since 0.1.0
 * @category reasons
 */
export class ResponseMalformed extends Schema.TaggedClass<ResponseMalformed>()("ResponseMalformed", { description }) {
  get isRetryable(): boolean {
    return false
  }
}

/**
 * A setting is missing or invalid; `setting` names it and `fix` says how to put it right.
 *
 * @since 0.1.0
 * @category reasons
 */
export class Configuration extends Schema.TaggedClass<Configuration>()("Configuration", {
  description,
  setting: Schema.String,
  fix: Schema.String
}) {
  get isRetryable(): boolean {
    return false
  }
}

/**
 * The provider is overloaded or down (e.g. HTTP 503/529, or a plugin that says so).
 *
 * @since 0.1.0
 * @category reasons
 */
export class Unavailable extends Schema.TaggedClass<Unavailable>()("Unavailable", { description }) {
  get isRetryable(): boolean {
    return true
  }
}

/**
 * A budget dimension.
 *
 * @since 0.1.0
 * @category schemas
 */
export const BudgetDimension = Schema.Literals(["inputTokens", "outputTokens", "totalTokens", "costUsd", "deadline"])

/**
 * @since 0.1.0
 * @category models
 */
export type BudgetDimension = typeof BudgetDimension.Type

/**
 * A budget limit would be passed: the call was refused before it was sent (or, for `deadline`,
 * time ran out). For `deadline` the figures are milliseconds since the run started. A stream cut
 * off locally because its answer passed its output cap (a provider ignoring `max_tokens`) has
 * dimension `outputTokens`, the cap as `limit`, the tokens received as `consumed`, and
 * `overshoot`: the tokens received past the cap (at most one delta).
 *
 * @since 0.1.0
 * @category reasons
 */
export class BudgetExceeded extends Schema.TaggedClass<BudgetExceeded>()("BudgetExceeded", {
  description,
  dimension: BudgetDimension,
  limit: Schema.Finite,
  consumed: Schema.Finite,
  reserved: Schema.Finite,
  requested: Schema.Finite,
  overshoot: Schema.optionalKey(Schema.Finite)
}) {
  get isRetryable(): boolean {
    return false
  }
}

/**
 * The circuit breaker for a provider is open: it has failed too often and is not called
 * until `untilMs` (epoch milliseconds).
 *
 * @since 0.1.0
 * @category reasons
 */
export class CircuitOpen extends Schema.TaggedClass<CircuitOpen>()("CircuitOpen", {
  description,
  untilMs: Schema.optionalKey(Schema.Finite)
}) {
  get isRetryable(): boolean {
    return false
  }
}

/**
 * The provider cannot do what the request asks (tool calls, content parts, structured output it
 * has no way to send): refused before anything is sent. `feature` names what is missing.
 *
 * @since 0.1.0
 * @category reasons
 */
export class Unsupported extends Schema.TaggedClass<Unsupported>()("Unsupported", {
  description,
  feature: Schema.String
}) {
  get isRetryable(): boolean {
    return false
  }
}

/**
 * The model answered, but not with what was asked for (output that does not decode with the
 * requested Schema, after any repair attempt). `raw` is the text it gave, `issues` why it was
 * refused. Not retried: the answer was paid for.
 *
 * @since 0.1.0
 * @category reasons
 */
export class InvalidOutput extends Schema.TaggedClass<InvalidOutput>()("InvalidOutput", {
  description,
  raw: Schema.optionalKey(Schema.String),
  issues: Schema.optionalKey(Schema.Array(Schema.String))
}) {
  get isRetryable(): boolean {
    return false
  }
}

/**
 * A policy does not allow this call (an agent's governance): refused before anything is sent.
 *
 * @since 0.1.0
 * @category reasons
 */
export class PolicyDenied extends Schema.TaggedClass<PolicyDenied>()("PolicyDenied", { description }) {
  get isRetryable(): boolean {
    return false
  }
}

/**
 * The call was stopped from outside (Ctrl-C, SIGTERM, an aborted signal) before it ended.
 *
 * @since 0.1.0
 * @category reasons
 */
export class Interrupted extends Schema.TaggedClass<Interrupted>()("Interrupted", { description }) {
  get isRetryable(): boolean {
    return false
  }
}

/**
 * Anything else, e.g. a plugin that threw an exception. Not retried.
 *
 * @since 0.1.0
 * @category reasons
 */
export class Unknown extends Schema.TaggedClass<Unknown>()("Unknown", { description }) {
  get isRetryable(): boolean {
    return false
  }
}

/**
 * Every reason an `LlmError` can have.
 *
 * @since 0.1.0
 * @category schemas
 */
export const LlmErrorReason = Schema.Union([
  Authentication,
  PermissionDenied,
  InvalidRequest,
  NotFound,
  RateLimited,
  Timeout,
  ServerError,
  Network,
  ContentFiltered,
  ResponseMalformed,
  Configuration,
  Unavailable,
  BudgetExceeded,
  CircuitOpen,
  Unsupported,
  InvalidOutput,
  PolicyDenied,
  Interrupted,
  Unknown
]).annotate({ identifier: "LlmErrorReason" })

/**
 * @since 0.1.0
 * @category models
 */
export type LlmErrorReason = typeof LlmErrorReason.Type

/**
 * The tag of a reason, e.g. `"RateLimited"`.
 *
 * @since 0.1.0
 * @category models
 */
export type ReasonTag = LlmErrorReason["_tag"]

/**
 * What a failed call still cost: some providers charge for work done before they fail (Claude
 * Code stopping at its own spending cap, say). The budget layer commits it instead of releasing
 * the reservation, so a failure never hides spend.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Spent = Schema.Struct({
  usage: Usage,
  costUsd: Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0))
}).annotate({ identifier: "Spent" })

/**
 * @since 0.1.0
 * @category models
 */
export type Spent = typeof Spent.Type

/**
 * The error every layer fails with.
 *
 * @since 0.1.0
 * @category errors
 */
export class LlmError extends Schema.TaggedError<LlmError>()("LlmError", {
  provider: Schema.String,
  model: Schema.optionalKey(Schema.String),
  status: Schema.optionalKey(Schema.Int),
  requestId: Schema.optionalKey(Schema.String),
  spent: Schema.optionalKey(Spent),
  /** `false` when the request never reached the provider (connection refused, DNS): nothing can have been billed. */
  sent: Schema.optionalKey(Schema.Boolean),
  reason: LlmErrorReason
}) {
  /** Whether retrying the call can help. */
  get isRetryable(): boolean {
    return this.reason.isRetryable
  }

  /** The provider's retry hint, in milliseconds, when it gave one. */
  get retryAfterMs(): number | undefined {
    return this.reason._tag === "RateLimited" ? this.reason.retryAfterMs : undefined
  }

  override get message(): string {
    const where = this.model === undefined ? this.provider : `${this.provider}/${this.model}`
    const fix = this.reason._tag === "Configuration" ? ` Fix: ${this.reason.fix}` : ""
    return `${this.reason._tag} (${where}): ${this.reason.description}${fix}`
  }
}

/**
 * Builds an `LlmError`.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * LlmError.make("openai", new LlmError.ServerError({ description: "bad gateway", status: 502 }))
 */
export const make = (
  provider: string,
  reason: LlmErrorReason,
  extra?: {
    readonly model?: string | undefined
    readonly status?: number | undefined
    readonly requestId?: string | undefined
    readonly spent?: Spent | undefined
    readonly sent?: boolean | undefined
  }
): LlmError =>
  new LlmError({
    provider,
    reason,
    ...(extra?.model !== undefined ? { model: extra.model } : {}),
    ...(extra?.status !== undefined ? { status: extra.status } : {}),
    ...(extra?.requestId !== undefined ? { requestId: extra.requestId } : {}),
    ...(extra?.spent !== undefined ? { spent: extra.spent } : {}),
    ...(extra?.sent !== undefined ? { sent: extra.sent } : {})
  })

/**
 * Whether a value is an `LlmError`.
 *
 * @since 0.1.0
 * @category guards
 */
export const isLlmError = (u: unknown): u is LlmError => u instanceof LlmError

/**
 * The JSON shape of an error as the CLI and server print it:
 * `{ error, errorType, retryable, provider, ...the reason's fields }`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ErrorDocument = Schema.Struct({
  error: Schema.String,
  errorType: Schema.String,
  retryable: Schema.Boolean,
  provider: Schema.optionalKey(Schema.String),
  model: Schema.optionalKey(Schema.String),
  status: Schema.optionalKey(Schema.Int),
  requestId: Schema.optionalKey(Schema.String),
  spent: Schema.optionalKey(Spent)
}).annotate({
  identifier: "ErrorDocument",
  description: "A failure as printed by the CLI: message, reason tag, and the reason's own fields."
})

/**
 * Renders an error as the JSON document the CLI prints, scrubbed of secrets
 * (`Redaction.scrubValue`: keys, bearer tokens, the credentials of any URL in a message).
 *
 * @since 0.1.0
 * @category formatting
 */
export const toDocument = (error: LlmError): Record<string, unknown> => {
  const { _tag, ...fields } = error.reason
  return Redaction.scrubValue({
    error: error.message,
    errorType: _tag,
    retryable: error.isRetryable,
    provider: error.provider,
    ...(error.model !== undefined ? { model: error.model } : {}),
    ...(error.status !== undefined ? { status: error.status } : {}),
    ...(error.requestId !== undefined ? { requestId: error.requestId } : {}),
    ...(error.spent !== undefined ? { spent: error.spent } : {}),
    ...fields
  }) as Record<string, unknown>
}
