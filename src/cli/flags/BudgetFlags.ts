/**
 * Budget flags of `llm-connect prompt`: `--max-input-tokens`, `--max-output-tokens`,
 * `--max-total-tokens`, `--max-cost-usd`, `--deadline`. Keys are the settings' paths in the config
 * file (the `budget:` section), so a flag overrides `LLM_CONNECT_MAX_*` and the file. An invalid
 * limit is a configuration error (exit 2); a call the budget refuses exits 1 with `errorType`
 * `BudgetExceeded` and the `dimension` that ran out.
 *
 * @since 0.1.0
 */
import { Flag } from "effect/cli"

/**
 * The flags of this group.
 *
 * @since 0.1.0
 * @category flags
 */
export const flags = {
  "budget.inputTokens": Flag.Int("max-input-tokens").pipe(
    Flag.withMetavar("N"),
    Flag.withDescription("budget: most input (prompt) tokens for the run"),
    Flag.optional
  ),
  "budget.outputTokens": Flag.Int("max-output-tokens").pipe(
    Flag.withMetavar("N"),
    Flag.withDescription("budget: most output tokens for the run"),
    Flag.optional
  ),
  "budget.totalTokens": Flag.Int("max-total-tokens").pipe(
    Flag.withMetavar("N"),
    Flag.withDescription("budget: most input + output tokens for the run"),
    Flag.optional
  ),
  "budget.costUsd": Flag.Finite("max-cost-usd").pipe(
    Flag.withMetavar("USD"),
    Flag.withDescription("budget: most USD for the run (price table or provider-reported cost)"),
    Flag.optional
  ),
  "budget.deadline": Flag.String("deadline").pipe(
    Flag.withMetavar("DURATION"),
    Flag.withDescription("budget: no call starts or runs past this, e.g. 2m (exit 1, dimension deadline)"),
    Flag.optional
  )
} as const
