/**
 * How the budget layer costs a response: the provider's cost, else the price table's at the
 * dearer of the model asked for and the model the provider named (in whole nano-USD), else
 * `priced: false`; the model asked for when the provider named another; the warning of an
 * output cap the budget lowered; and what the tracker commits for it.
 *
 * @since 0.1.0
 */
import type * as CallContext from "../../CallContext.ts"
import type { LlmRequest } from "../../LlmRequest.ts"
import type { LlmResponse } from "../../LlmResponse.ts"
import * as Money from "../../pricing/Money.ts"
import * as PriceTable from "../../pricing/PriceTable.ts"
import type { Price } from "../../pricing/prices.ts"
import type * as BudgetTracker from "../BudgetTracker.ts"

/** The warning (log line and response) when the budget lowered the default output cap. @internal */
export const loweredText = (reservation: BudgetTracker.Reservation): string =>
  `the budget lowered the output cap from ${reservation.loweredFrom} to ${reservation.maxTokens} tokens (what it can still ` +
  `afford), so the answer may be cut short; raise the budget or set maxTokens`

/**
 * A response with its cost filled in (the provider's, else the price table's at the dearer of
 * the model asked for and the model that answered, else `fallback`; `priced: false` when none
 * is known), the model asked for when the provider named another, and the warning of an output
 * cap the budget lowered. The response itself when nothing changes.
 *
 * @internal
 */
export const costResponse = (
  prices: PriceTable.Service,
  fallback: Price | undefined,
  response: LlmResponse,
  target: CallContext.AttemptTarget,
  reservation: BudgetTracker.Reservation | undefined
): LlmResponse => {
  const renamed = response.model !== target.model && response.requestedModel === undefined
  const lowered = reservation !== undefined && reservation.loweredFrom !== undefined
  let cost = response.cost
  let unpriced = false
  if (cost === undefined && response.priced !== false) {
    const asked = response.provider === target.provider ? prices.lookup(target.provider, target.model) : undefined
    const served = renamed || asked === undefined ? prices.lookup(response.provider, response.model) : asked
    const price = PriceTable.highest(asked, served) ?? fallback
    if (price === undefined) unpriced = true
    else cost = { usd: PriceTable.costOf(price, response.usage), source: "table" }
  }
  if (cost === response.cost && !unpriced && !renamed && !lowered) return response
  // One copy, then the fields that change, in this order (the keys of the spreads it replaces,
  // in the same order; this runs on every call).
  const costed: { -readonly [K in keyof LlmResponse]: LlmResponse[K] } = { ...response }
  if (renamed) costed.requestedModel = target.model
  if (cost !== undefined) costed.cost = cost
  if (unpriced) costed.priced = false
  if (lowered) costed.warnings = [...(response.warnings ?? []), loweredText(reservation)]
  return costed
}

/**
 * What a response really used, as the tracker commits it (its cost already filled in). A
 * provider that reports a conversation's running total marks its response with
 * `metadata.cumulativeUsage: true`.
 *
 * @internal
 */
export const actualOf = (request: LlmRequest, response: LlmResponse): BudgetTracker.Actual => {
  const usd = response.cost?.usd ?? 0
  return {
    usage: response.usage,
    costUsd: usd,
    costNanos: Money.fromUsd(usd),
    conversationId: request.metadata?.conversationId,
    cumulative: response.metadata?.["cumulativeUsage"] === true
  }
}

