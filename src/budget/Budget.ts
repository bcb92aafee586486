/**
 * What a run may spend: limits on input, output and total tokens, on cost in USD, and a
 * deadline.
 *
 * A budget is validated once, where it enters the program (config file, CLI flags, a workflow
 * or a program calling {@link make}): at least one limit, every limit positive. The
 * {@link BudgetLimits} Schema is the shape written in config files and workflow definitions;
 * {@link BudgetConfig} adds the settings of the budget layer (the default output cap and what
 * to do with a model that has no price). A validated {@link Budget} is what a
 * `BudgetTracker` enforces.
 *
 * An invalid limit is an `LlmError` with reason `Configuration` (not `InvalidRequest`): a
 * budget is a setting of the run, not part of one request, and `Configuration` names the
 * setting and says how to fix it; the CLI turns it into exit code 2.
 *
 * @since 0.1.0
 */
import { Duration as EffectDuration, Effect, Result, Schema } from "effect"
import * as DurationText from "../DurationText.ts"
import * as LlmError from "../LlmError.ts"

/**
 * When a deadline falls: a duration from the start of the run, or a fixed instant.
 *
 * @since 0.1.0
 * @category models
 */
export type Deadline =
  | { readonly _tag: "After"; readonly millis: number }
  | { readonly _tag: "At"; readonly epochMillis: number }

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

const limitFields = {
  inputTokens: Schema.optionalKey(PositiveInt).annotate({ description: "The most input (prompt) tokens, summed over every call." }),
  outputTokens: Schema.optionalKey(PositiveInt).annotate({ description: "The most output tokens, summed over every call." }),
  totalTokens: Schema.optionalKey(PositiveInt).annotate({ description: "The most input + output tokens." }),
  costUsd: Schema.optionalKey(PositiveUsd).annotate({ description: "The most USD spent, by provider report or price table." }),
  deadline: Schema.optionalKey(DeadlineString)
}

const atLeastOneLimit = Schema.makeFilter((limits: { readonly [K in keyof typeof limitFields]?: unknown }) =>
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
 * The `budget` section of the config file: the limits, plus how the budget layer sizes
 * reservations and treats models without a price.
 *
 * @since 0.1.0
 * @category schemas
 */
export const BudgetConfig = Schema.Struct({
  ...limitFields,
  defaultMaxTokens: Schema.optionalKey(PositiveInt).annotate({
    description: "The output cap reserved (and sent as maxTokens) when a request sets none; default 4096, " +
      "lowered to what the budget can still afford."
  }),
  onUnknownPrice: Schema.optionalKey(Schema.Literals(["fail", "allow"])).annotate({
    description: "Under a cost limit, a model with no price fails closed (\"fail\", the default) or is counted as free (\"allow\")."
  })
}).check(atLeastOneLimit).annotate({ identifier: "BudgetConfig" })

/**
 * @since 0.1.0
 * @category models
 */
export type BudgetConfig = typeof BudgetConfig.Type

/**
 * The budget dimensions, in the order they are checked.
 *
 * @since 0.1.0
 * @category constants
 */
export const dimensions = ["inputTokens", "outputTokens", "totalTokens", "costUsd", "deadline"] as const

const invalid = (setting: string, description: string, fix: string): LlmError.LlmError =>
  LlmError.make("budget", new LlmError.Configuration({ description, setting: `budget.${setting}`, fix }))

const checkTokens = (name: string, value: number | undefined): LlmError.LlmError | undefined =>
  value === undefined || (Number.isSafeInteger(value) && value > 0)
    ? undefined
    : invalid(name, `budget limit ${name} is ${value}; it must be a whole number greater than 0`, `set ${name} to a positive whole number of tokens, e.g. 10000, or leave it out`)

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

const deadlineOf = (value: Input["deadline"]): Result.Result<Deadline | undefined, LlmError.LlmError> => {
  if (value === undefined) return Result.succeed(undefined)
  const fix = "write the deadline as a duration from the start (30s, 5m, 1h) or an instant (2026-01-01T12:00:00Z)"
  if (value instanceof Date) {
    const epochMillis = value.getTime()
    return Number.isNaN(epochMillis) ? Result.fail(invalid("deadline", "the deadline is an invalid Date", fix)) : Result.succeed({ _tag: "At", epochMillis })
  }
  if (typeof value === "string") return Result.mapError(parseDeadline(value), (message) => invalid("deadline", message, fix))
  const millis = EffectDuration.toMillis(value)
  return millis > 0 && Number.isFinite(millis)
    ? Result.succeed({ _tag: "After", millis })
    : Result.fail(invalid("deadline", `the deadline duration must be finite and longer than 0, got ${millis}ms`, fix))
}

/**
 * Validates a budget: at least one limit, every limit positive.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * Budget.validate({ totalTokens: 50_000, costUsd: 0.5, deadline: "2m" })
 */
export const validate = (input: Input): Result.Result<Budget, LlmError.LlmError> => {
  for (const name of ["inputTokens", "outputTokens", "totalTokens"] as const) {
    const error = checkTokens(name, input[name])
    if (error !== undefined) return Result.fail(error)
  }
  if (input.costUsd !== undefined && !(Number.isFinite(input.costUsd) && input.costUsd > 0)) {
    return Result.fail(invalid("costUsd", `budget limit costUsd is ${input.costUsd}; it must be a number of USD greater than 0`, "set costUsd to a positive amount, e.g. 0.50, or leave it out"))
  }
  const deadline = deadlineOf(input.deadline)
  if (Result.isFailure(deadline)) return Result.fail(deadline.failure)
  const budget: Budget = {
    ...(input.inputTokens !== undefined ? { inputTokens: input.inputTokens } : {}),
    ...(input.outputTokens !== undefined ? { outputTokens: input.outputTokens } : {}),
    ...(input.totalTokens !== undefined ? { totalTokens: input.totalTokens } : {}),
    ...(input.costUsd !== undefined ? { costUsd: input.costUsd } : {}),
    ...(deadline.success !== undefined ? { deadline: deadline.success } : {})
  }
  if (!dimensions.some((dimension) => budget[dimension] !== undefined)) {
    return Result.fail(invalid("limits", "a budget needs at least one limit", "set one of inputTokens, outputTokens, totalTokens, costUsd or deadline (flags: --max-total-tokens, --max-cost-usd, --deadline, ...)"))
  }
  return Result.succeed(budget)
}

/**
 * Validates a budget as an Effect that fails with `LlmError` (`Configuration`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (input: Input): Effect.Effect<Budget, LlmError.LlmError> => Effect.fromResult(validate(input))

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
