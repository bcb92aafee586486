/**
 * The `budget:` section of the configuration: the run's limits (`Budget.BudgetConfig`) from the
 * file, `LLM_CONNECT_MAX_*` / `LLM_CONNECT_DEADLINE`, or the `--max-*` / `--deadline` flags.
 *
 * ```yaml
 * budget:
 *   totalTokens: 24000    # or --max-total-tokens / LLM_CONNECT_MAX_TOTAL_TOKENS
 *   costUsd: 0.50         # or --max-cost-usd / LLM_CONNECT_MAX_COST_USD
 *   deadline: 2m          # or --deadline / LLM_CONNECT_DEADLINE
 * ```
 *
 * An invalid limit is a configuration error (exit 2), and so is a deadline instant already past
 * when the configuration is loaded (it would refuse every call); a call the budget refuses exits
 * 1 with `errorType` `BudgetExceeded` and the `dimension` that ran out.
 *
 * @since 0.1.0
 */
import { Clock, Effect, Result, Schema } from "effect"
import * as ConfigSection from "../ConfigSection.ts"
import * as Budget from "./Budget.ts"

const tokens = "a whole number of tokens greater than 0"

/**
 * The section.
 *
 * @since 0.1.0
 * @category sections
 */
export const section = ConfigSection.make({
  name: "budget",
  fields: { budget: Schema.optionalKey(Budget.BudgetConfig) },
  settings: {
    "budget.inputTokens": {
      env: "LLM_CONNECT_MAX_INPUT_TOKENS",
      flag: { name: "max-input-tokens", metavar: "N", description: "budget: most input (prompt) tokens for the run" },
      kind: "integer",
      example: "20000",
      expected: tokens
    },
    "budget.outputTokens": {
      env: "LLM_CONNECT_MAX_OUTPUT_TOKENS",
      flag: { name: "max-output-tokens", metavar: "N", description: "budget: most output tokens for the run" },
      kind: "integer",
      example: "4000",
      expected: tokens
    },
    "budget.totalTokens": {
      env: "LLM_CONNECT_MAX_TOTAL_TOKENS",
      flag: { name: "max-total-tokens", metavar: "N", description: "budget: most input + output tokens for the run" },
      kind: "integer",
      example: "24000",
      expected: tokens
    },
    "budget.costUsd": {
      env: "LLM_CONNECT_MAX_COST_USD",
      flag: {
        name: "max-cost-usd",
        metavar: "USD",
        description: "budget: most USD for the run (price table or provider-reported cost)"
      },
      kind: "number",
      example: "0.50",
      expected: "a number of USD greater than 0"
    },
    "budget.deadline": {
      env: "LLM_CONNECT_DEADLINE",
      flag: {
        name: "deadline",
        metavar: "DURATION",
        description: "budget: no call starts or runs past this, e.g. 2m (exit 1, dimension deadline)"
      },
      kind: "string",
      example: "2m"
    }
  },
  finish: (decoded, finishing) => {
    const text = decoded.budget?.deadline
    const deadline = text === undefined ? undefined : Budget.parseDeadline(text)
    if (deadline === undefined || Result.isFailure(deadline) || deadline.success._tag !== "At") return Effect.succeed(decoded)
    const at = deadline.success
    return Effect.flatMap(Clock.currentTimeMillis, (now) => {
      const past = Budget.pastDeadline(at, now)
      return past === undefined ? Effect.succeed(decoded) : Effect.fail(finishing.invalid("budget.deadline", past))
    })
  }
})
