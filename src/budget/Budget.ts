/**
 * What a run may spend: limits on input, output and total tokens, on cost in USD, and a
 * deadline.
 *
 * A budget is validated by one Schema: {@link BudgetFromInput} decodes what a program (or a
 * config section) gives, checks every limit (at least one, every one positive) and reads the
 * deadline (a duration, an instant, a `Date` or an Effect `Duration`) into a {@link Deadline}.
 * {@link BudgetLimits} and {@link BudgetConfig} are the same limit checks on the shapes written
 * in config files and workflow definitions (the deadline still a string there; the config
 * section adds the budget layer's settings). A validated {@link Budget} is what a
 * `BudgetTracker` enforces.
 *
 * An invalid limit is an `LlmError` with reason `Configuration` (not `InvalidRequest`): a
 * budget is a setting of the run, not part of one request, and `Configuration` names the
 * setting and says how to fix it; the CLI turns it into exit code 2.
 *
 * @since 0.1.0
 */
import { Clock, Duration as EffectDuration, Effect, Result, Schema, SchemaIssue, SchemaTransformation } from "effect"
import * as DurationText from "../DurationText.ts"
import * as LlmError from "../LlmError.ts"

/**
 * When a deadline falls: a duration from the start of the run, or a fixed instant.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Deadline = Schema.Union([
  Schema.TaggedStruct("After", { millis: Schema.Number }),
  Schema.TaggedStruct("At", { epochMillis: Schema.Number })
]).annotate({ identifier: "Deadline" })

/**
 * @since 0.1.0
 * @category models
 */
export type Deadline = typeof Deadline.Type

/**
 * A validated budget: every present limit is positive, and at least one is present.
 *
 * @since 0.1.0
 * @category models
 */
export interface Budget {
  readonly inputTokens?: number | undefined
  readonly outputTokens?: number | undefined
  readonly totalTokens?: number | undefined
  readonly costUsd?: number | undefined
  readonly deadline?: Deadline | undefined
}

/**
 * What programs pass to {@link make}. `deadline` is a duration string (`30s`, `5m`, `1h`), an
 * ISO-8601 instant (`2026-01-01T12:00:00Z`), a `Date`, or an Effect `Duration`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Input {
  readonly inputTokens?: number | undefined
  readonly outputTokens?: number | undefined
  readonly totalTokens?: number | undefined
  readonly costUsd?: number | undefined
  readonly deadline?: string | Date | EffectDuration.Duration | undefined
}

const instantPattern = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})$/
const durationPattern = /^(?:\d+(?:ms|s|m|h))+$/

const PositiveInt = Schema.Int.check(Schema.isGreaterThan(0))
const PositiveUsd = Schema.Finite.check(Schema.isGreaterThan(0))

/**
 * A deadline as written in config: a duration from the start (`30s`, `5m`, `1h`) or an
 * ISO-8601 instant with a time zone (`2026-01-01T12:00:00Z`).
 *
 * @since 0.1.0
 * @category schemas
 */
export const DeadlineString = Schema.String.check(
  Schema.makeFilter((text: string) =>
    durationPattern.test(text) || (instantPattern.test(text) && !Number.isNaN(Date.parse(text)))
      ? undefined
      : "expected a duration such as 30s, 5m or 1h, or an ISO-8601 instant such as 2026-01-01T12:00:00Z"
  )
).annotate({
  identifier: "DeadlineString",
  description: "A duration from the start (30s, 5m, 1h) or an ISO-8601 instant (2026-01-01T12:00:00Z)."
})

/**
 * Parses a deadline written as a duration (`30s`) or an ISO-8601 instant.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseDeadline = (text: string): Result.Result<Deadline, string> => {
  const trimmed = text.trim()
  if (durationPattern.test(trimmed)) {
    return Result.flatMap(DurationText.parseMillis(trimmed), (millis) =>
      millis > 0 ? Result.succeed({ _tag: "After", millis } as const) : Result.fail(`deadline "${text}" must be longer than 0`))
  }
  const epochMillis = instantPattern.test(trimmed) ? Date.parse(trimmed) : Number.NaN
  return Number.isNaN(epochMillis)
    ? Result.fail(`deadline "${text}" is neither a duration (30s, 5m, 1h) nor an ISO-8601 instant (2026-01-01T12:00:00Z)`)
    : Result.succeed({ _tag: "At", epochMillis })
}

const deadlineOf = (value: string | Date | EffectDuration.Duration): Result.Result<Deadline, string> => {
  if (value instanceof Date) {
    const epochMillis = value.getTime()
    return Number.isNaN(epochMillis) ? Result.fail("the deadline is an invalid Date") : Result.succeed({ _tag: "At", epochMillis })
  }
  if (typeof value === "string") return parseDeadline(value)
  const millis = EffectDuration.toMillis(value)
  return millis > 0 && Number.isFinite(millis)
    ? Result.succeed({ _tag: "After", millis })
    : Result.fail(`the deadline duration must be finite and longer than 0, got ${millis}ms`)
}

/**
 * A deadline as a program gives it (a duration string, an instant string, a `Date` or an
 * Effect `Duration`), decoded to a {@link Deadline}; encoding gives a `Duration` or a `Date`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const DeadlineFromInput = Schema.Union([Schema.String, Schema.instanceOf(Date), Schema.Duration]).pipe(
  Schema.decodeTo(
    Deadline,
    SchemaTransformation.transformEffect({
      decode: (value, options) => {
        const deadline = deadlineOf(value)
        return Result.isSuccess(deadline)
          ? Effect.succeed(deadline.success)
          : Effect.fail(new SchemaIssue.InvalidValue({ message: deadline.failure }, value, options))
      },
      encode: (deadline) =>
        Effect.succeed(deadline._tag === "After" ? EffectDuration.millis(deadline.millis) : new Date(deadline.epochMillis))
    })
  )
).annotate({ identifier: "DeadlineFromInput" })

/**
 * The budget dimensions, in the order they are checked.
 *
 * @since 0.1.0
 * @category constants
 */
export const dimensions = ["inputTokens", "outputTokens", "totalTokens", "costUsd", "deadline"] as const

const amountFields = {
  inputTokens: Schema.optionalKey(PositiveInt).annotate({ description: "The most input (prompt) tokens, summed over every call." }),
  outputTokens: Schema.optionalKey(PositiveInt).annotate({ description: "The most output tokens, summed over every call." }),
  totalTokens: Schema.optionalKey(PositiveInt).annotate({ description: "The most input + output tokens." }),
  costUsd: Schema.optionalKey(PositiveUsd).annotate({ description: "The most USD spent, by provider report or price table." })
}

const limitFields = { ...amountFields, deadline: Schema.optionalKey(DeadlineString) }

const atLeastOneLimit = Schema.makeFilter((limits: { readonly [K in (typeof dimensions)[number]]?: unknown }) =>
  dimensions.some((dimension) => limits[dimension] !== undefined)
    ? undefined
    : "a budget needs at least one limit: inputTokens, outputTokens, totalTokens, costUsd or deadline"
)

/**
 * The limits of a budget as written in config files and workflow definitions.
 *
 * @since 0.1.0
 * @category schemas
 */
export const BudgetLimits = Schema.Struct(limitFields).check(atLeastOneLimit).annotate({
  identifier: "BudgetLimits",
  description: "Budget limits: at least one of inputTokens, outputTokens, totalTokens, costUsd, deadline; all positive."
})

/**
 * @since 0.1.0
 * @category models
 */
export type BudgetLimits = typeof BudgetLimits.Type

/**
 * What an attempt abandoned after it was sent is charged: `reserved` (its exact input tokens and
 * the output cap it was given, the default), `input` (its input tokens only) or `none`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ChargeAbandoned = Schema.Literals(["reserved", "input", "none"]).annotate({ identifier: "ChargeAbandoned" })

/**
 * @since 0.1.0
 * @category models
 */
export type ChargeAbandoned = typeof ChargeAbandoned.Type

/**
 * The `budget` section of the config file: the limits, plus how the budget layer sizes
 * reservations, treats models without a price and charges abandoned attempts.
 *
 * @since 0.1.0
 * @category schemas
 */
export const BudgetConfig = Schema.Struct({
  ...limitFields,
  id: Schema.optionalKey(Schema.String.check(Schema.isPattern(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/))).annotate({
    description: "The budget's name: with a shared store (store.redis) every process naming it spends one budget; " +
      "letters, digits, '.', '_' and '-'. Without a store it is only a local name."
  }),
  window: Schema.optionalKey(Schema.Literals(["day"])).annotate({
    description: "\"day\": with a shared store, a named budget starts again every UTC day."
  }),
  defaultMaxTokens: Schema.optionalKey(PositiveInt).annotate({
    description: "The output cap reserved (and sent as maxTokens) when a request sets none; default 4096, " +
      "lowered to what the budget can still afford."
  }),
  onUnknownPrice: Schema.optionalKey(Schema.Literals(["fail", "allow"])).annotate({
    description: "Under a cost limit, a model with no price fails closed (\"fail\", the default) or is counted as free (\"allow\")."
  }),
  chargeAbandoned: Schema.optionalKey(ChargeAbandoned).annotate({
    description: "What an attempt abandoned after it was sent (timeout, interruption, connection lost) is charged: " +
      "\"reserved\" (default: its exact input tokens + the output cap it was given), \"input\" (input tokens only) or \"none\"."
  })
}).check(atLeastOneLimit).annotate({ identifier: "BudgetConfig" })

/**
 * @since 0.1.0
 * @category models
 */
export type BudgetConfig = typeof BudgetConfig.Type

/**
 * A budget as a program (or a config section) gives it, decoded to a validated {@link Budget}:
 * the same limit checks as {@link BudgetLimits}, and the deadline read by {@link DeadlineFromInput}.
 * Other keys (such as `defaultMaxTokens`) are left out.
 *
 * @since 0.1.0
 * @category schemas
 */
export const BudgetFromInput = Schema.Struct({
  inputTokens: Schema.optional(PositiveInt),
  outputTokens: Schema.optional(PositiveInt),
  totalTokens: Schema.optional(PositiveInt),
  costUsd: Schema.optional(PositiveUsd),
  deadline: Schema.optional(DeadlineFromInput)
}).check(atLeastOneLimit).annotate({ identifier: "BudgetFromInput" })

const decodeInput = Schema.decodeUnknownResult(BudgetFromInput)
const issuesOf = SchemaIssue.makeFormatterStandardSchemaV1()

const invalid = (setting: string, description: string, fix: string): LlmError.LlmError =>
  LlmError.make("budget", new LlmError.Configuration({ description, setting: `budget.${setting}`, fix }))

// What the Schema refused, in the words of the setting it concerns.
const refusal = (input: Input, error: Schema.SchemaError): LlmError.LlmError => {
  const issue = issuesOf(error.issue).issues[0]
  const segment = issue?.path?.[0]
  const setting = typeof segment === "object" ? segment.key : segment
  switch (setting) {
    case "inputTokens":
    case "outputTokens":
    case "totalTokens":
      return invalid(
        setting,
        `budget limit ${setting} is ${String(input[setting])}; it must be a whole number greater than 0`,
        `set ${setting} to a positive whole number of tokens, e.g. 10000, or leave it out`
      )
    case "costUsd":
      return invalid(
        "costUsd",
        `budget limit costUsd is ${String(input.costUsd)}; it must be a number of USD greater than 0`,
        "set costUsd to a positive amount, e.g. 0.50, or leave it out"
      )
    case "deadline":
      return invalid(
        "deadline",
        typeof input.deadline === "string" || input.deadline instanceof Date || EffectDuration.isDuration(input.deadline)
          ? issue?.message ?? "the deadline is invalid"
          : `the deadline is ${String(input.deadline)}; it must be a duration or an instant (a string, a Date or a Duration)`,
        "write the deadline as a duration from the start (30s, 5m, 1h) or an instant (2026-01-01T12:00:00Z)"
      )
    default:
      return invalid(
        "limits",
        "a budget needs at least one limit",
        "set one of inputTokens, outputTokens, totalTokens, costUsd or deadline (flags: --max-total-tokens, --max-cost-usd, --deadline, ...)"
      )
  }
}

/**
 * Validates a budget with {@link BudgetFromInput}: at least one limit, every limit positive.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * Budget.validate({ totalTokens: 50_000, costUsd: 0.5, deadline: "2m" })
 */
export const validate = (input: Input): Result.Result<Budget, LlmError.LlmError> =>
  Result.mapError(decodeInput(input), (error) => refusal(input, error))

/**
 * Why a deadline cannot be met from `nowMs` (epoch milliseconds): an instant that is not in the
 * future. `undefined` when it can (a duration always can).
 *
 * @since 0.1.0
 * @category validation
 */
export const pastDeadline = (deadline: Deadline, nowMs: number): string | undefined =>
  deadline._tag === "At" && deadline.epochMillis <= nowMs
    ? `the deadline ${new Date(deadline.epochMillis).toISOString()} is already past (it is now ${new Date(nowMs).toISOString()})`
    : undefined

const PAST_DEADLINE_FIX = "give a later instant, or a duration from the start (30s, 5m, 1h)"

/**
 * Validates a budget as an Effect that fails with `LlmError` (`Configuration`), including a
 * deadline instant already past by `Clock` ({@link pastDeadline}): such a budget would refuse
 * every call, so it is refused when it is made.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (input: Input): Effect.Effect<Budget, LlmError.LlmError> =>
  Effect.flatMap(Effect.fromResult(validate(input)), (budget) =>
    budget.deadline?._tag !== "At"
      ? Effect.succeed(budget)
      : Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const past = pastDeadline(budget.deadline!, now)
        return past === undefined ? Effect.succeed(budget) : Effect.fail(invalid("deadline", past, PAST_DEADLINE_FIX))
      }))

/**
 * Decodes an unknown value (e.g. a parsed YAML section) as a {@link BudgetConfig}.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeConfig = Schema.decodeUnknownEffect(BudgetConfig)

/**
 * Describes a budget in one line, e.g. `totalTokens 50000, costUsd $0.5, deadline 2m`.
 *
 * @since 0.1.0
 * @category formatting
 */
export const format = (budget: Budget): string => {
  const parts: Array<string> = []
  if (budget.inputTokens !== undefined) parts.push(`inputTokens ${budget.inputTokens}`)
  if (budget.outputTokens !== undefined) parts.push(`outputTokens ${budget.outputTokens}`)
  if (budget.totalTokens !== undefined) parts.push(`totalTokens ${budget.totalTokens}`)
  if (budget.costUsd !== undefined) parts.push(`costUsd $${budget.costUsd}`)
  if (budget.deadline !== undefined) {
    parts.push(
      budget.deadline._tag === "After"
        ? `deadline ${DurationText.formatMillis(budget.deadline.millis)}`
        : `deadline ${new Date(budget.deadline.epochMillis).toISOString()}`
    )
  }
  return parts.join(", ")
}
