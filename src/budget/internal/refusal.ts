/**
 * How a `BudgetTracker` refusal and a provider overshoot are put into words: the
 * `BudgetExceeded` error (figures, the limit's flag and config key) and the overshoot log line.
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import * as DurationText from "../../DurationText.ts"
import * as LlmError from "../../LlmError.ts"
import * as Money from "../../pricing/Money.ts"
import type { Overshoot } from "../BudgetState.ts"
import * as Ledger from "./ledger.ts"

const flagOf: Record<LlmError.BudgetDimension, string> = {
  inputTokens: "--max-input-tokens / budget.inputTokens",
  outputTokens: "--max-output-tokens / budget.outputTokens",
  totalTokens: "--max-total-tokens / budget.totalTokens",
  costUsd: "--max-cost-usd / budget.costUsd",
  deadline: "--deadline / budget.deadline"
}

// Figures arrive in the records' units: nano-USD for cost, shown in dollars.
const figure = (dimension: LlmError.BudgetDimension, value: number): string =>
  dimension === "costUsd" ? Money.format(value) : dimension === "deadline" ? DurationText.formatMillis(value) : `${value}`

const usd = (dimension: LlmError.BudgetDimension, value: number): number => (dimension === "costUsd" ? Money.toUsd(value) : value)

/** @internal */
export const refusalError = (refused: Ledger.Refused, provider: string, model: string | undefined): LlmError.LlmError => {
  const { dimension } = refused
  const where = refused.label === "root" ? "the budget" : `budget "${refused.label}"`
  const description = refused.overshoot !== undefined
    ? `${where} refused this call because the previous call on ${refused.overshoot.provider}/${refused.overshoot.model} ` +
      `used ${figure(dimension, refused.overshoot.actual)} ${dimension} where ${figure(dimension, refused.overshoot.reserved)} ` +
      `were reserved (provider overshoot); check that provider's usage reports, or lower maxTokens`
    : dimension === "deadline"
    ? `${where}'s deadline of ${figure(dimension, refused.limit)} has passed (${figure(dimension, refused.consumed)} since the start); ` +
      `raise it with ${flagOf.deadline}`
    : `${where}'s ${dimension} limit of ${figure(dimension, refused.limit)} would be passed: consumed ` +
      `${figure(dimension, refused.consumed)}, reserved by calls in flight ${figure(dimension, refused.reserved)}, ` +
      `this call needs ${figure(dimension, refused.requested)}; raise ${flagOf[dimension]} or lower maxTokens`
  return LlmError.make(
    provider,
    new LlmError.BudgetExceeded({
      description,
      dimension,
      limit: usd(dimension, refused.limit),
      consumed: usd(dimension, refused.consumed),
      reserved: usd(dimension, refused.reserved),
      requested: usd(dimension, refused.requested)
    }),
    { model }
  )
}

/** @internal */
export const logOvershoots = (overshoots: ReadonlyArray<Overshoot>, label: string): Effect.Effect<void> =>
  overshoots.length === 0 ? Effect.void : Effect.forEach(overshoots, (overshoot) => {
    const dimension = Ledger.publicDimension(overshoot.dimension)
    const reserved = Ledger.publicFigure(overshoot.dimension, overshoot.reserved)
    const actual = Ledger.publicFigure(overshoot.dimension, overshoot.actual)
    return Effect.logWarning(
      `budget overshoot: ${overshoot.provider}/${overshoot.model} used ${figure(dimension, overshoot.actual)} ${dimension} ` +
        `where ${figure(dimension, overshoot.reserved)} were reserved; recorded, and the next reservation will be refused`
    ).pipe(Effect.annotateLogs({ budget: label, dimension, reserved, actual }))
  }, { discard: true })

