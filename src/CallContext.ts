/**
 * Facts about the current call that travel with the fiber, so that any layer can read them
 * without extra parameters.
 *
 * The budget layer sets the deadline, the remaining budget and the call's {@link AttemptBudget}
 * around the calls it admits; the retry layer never waits past the deadline and runs each
 * attempt through the attempt budget (so every attempt sent is covered by a reservation); a
 * provider that runs its own spending (Claude Code) is handed the remaining cost of its attempt
 * as its cap. The observability layer puts a {@link CallTotals} record on the fiber for the
 * layers below to fill (what every attempt of the call was charged). Outside a budget all are
 * unset.
 *
 * @since 0.1.0
 */
import { Context } from "effect"
import type * as Effect from "effect/Effect"
import type * as Stream from "effect/Stream"
import type { LlmError } from "./LlmError.ts"
import type { LlmRequest } from "./LlmRequest.ts"
import type { LlmResponse } from "./LlmResponse.ts"
import type { StreamPart } from "./StreamPart.ts"
import type { Usage } from "./Usage.ts"

/**
 * The instant (epoch milliseconds, by `Clock`) after which no call may start or wait, if any.
 *
 * @since 0.1.0
 * @category references
 */
export const Deadline = Context.Reference<number | undefined>("llm-connect/CallContext/Deadline", {
  defaultValue: () => undefined
})

/**
 * What is left of the budget for the current call (or attempt), per dimension, if a budget is
 * set. Cost in USD.
 *
 * @since 0.1.0
 * @category models
 */
export interface Remaining {
  readonly inputTokens?: number | undefined
  readonly outputTokens?: number | undefined
  readonly totalTokens?: number | undefined
  readonly costUsd?: number | undefined
}

/**
 * The remaining budget of the current attempt, if a budget is set: what earlier attempts of the
 * call were charged is already taken out.
 *
 * @since 0.1.0
 * @category references
 */
export const RemainingBudget = Context.Reference<Remaining | undefined>("llm-connect/CallContext/RemainingBudget", {
  defaultValue: () => undefined
})

/**
 * The provider and model one attempt asks for.
 *
 * @since 0.1.0
 * @category models
 */
export interface AttemptTarget {
  readonly provider: string
  readonly model: string
}

/**
 * The budget of the current call's attempts, set by the budget layer for the layer that starts
 * attempts (retry). Every attempt runs through it:
 *
 * - before it is sent it is covered by a reservation: the first by the call's own, each later one
 *   by a new reservation, made with what the earlier attempts were charged already taken out (a
 *   retry the budget cannot afford fails with `BudgetExceeded`, the previous attempt's error as
 *   its `cause`); the reserved output cap is sent as `maxTokens`;
 * - when it ends it is settled: an answer commits its usage and cost (priced from the model
 *   asked for, or the model answering when dearer); a failure that reports `spent` commits it;
 *   a failure known not to have reached the provider, or answered with an error status, is
 *   released; an attempt abandoned after it was sent (timeout, interruption, connection lost,
 *   unreadable answer) is charged by the budget's `chargeAbandoned` policy, marked `estimated`.
 *
 * `marked` says whether the stack below calls {@link AttemptBudget.markSent} when the request
 * reaches the provider (`Retry.layerMarkSent`); without it an abandoned attempt counts as sent.
 *
 * @since 0.1.0
 * @category models
 */
export interface AttemptBudget {
  /** Runs one attempt of the call (see above). */
  readonly attempt: (
    request: LlmRequest,
    target: AttemptTarget,
    send: (request: LlmRequest) => Effect.Effect<LlmResponse, LlmError>,
    marked: boolean
  ) => Effect.Effect<LlmResponse, LlmError>
  /** Runs one streamed attempt; one that ends before its finish part is charged max(what it streamed, the policy). */
  readonly attemptStream: (
    request: LlmRequest,
    target: AttemptTarget,
    send: (request: LlmRequest) => Stream.Stream<StreamPart, LlmError>,
    marked: boolean
  ) => Stream.Stream<StreamPart, LlmError>
  /** Marks the attempt in flight as sent: its request has been handed to the provider. */
  readonly markSent: () => void
}

/**
 * The attempt budget of the current call, when a budget holds it.
 *
 * @since 0.1.0
 * @category references
 */
export const AttemptBudget = Context.Reference<AttemptBudget | undefined>("llm-connect/CallContext/AttemptBudget", {
  defaultValue: () => undefined
})

/**
 * What every attempt of one logical call was charged, filled by the budget layer when a budget
 * held the call (left as made otherwise), read by the layer that made it (observability, for
 * the call's one ledger row).
 *
 * @since 0.1.0
 * @category models
 */
export interface CallTotals {
  /** Attempts made (sent or not). */
  attempts: number | undefined
  /** Attempts abandoned after they were sent (charged by the policy, estimated). */
  abandonedAttempts: number | undefined
  /** Every attempt's charge summed (`estimated` when any part was). */
  usage: Usage | undefined
  /** The cost of that usage in USD, when any of it was priced. */
  costUsd: number | undefined
  /** `false` when some usage was charged for a model without a price. */
  priced: boolean
}

/**
 * A record with nothing filled in.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeTotals = (): CallTotals => new Totals()

// A class instance rather than an object literal: V8 allocated the literal's objects in the old
// generation once most of them outlived a young collection (100 calls in flight over HTTP), where
// each was garbage a full collection had to find (see `internal/deadlines.ts`).
class Totals implements CallTotals {
  attempts: number | undefined = undefined
  abandonedAttempts: number | undefined = undefined
  usage: Usage | undefined = undefined
  costUsd: number | undefined = undefined
  priced = true
}

/**
 * The totals record of the current call, when a layer above asked for one.
 *
 * @since 0.1.0
 * @category references
 */
export const CurrentTotals = Context.Reference<CallTotals | undefined>("llm-connect/CallContext/CurrentTotals", {
  defaultValue: () => undefined
})

/**
 * The name of the virtual key the current call is made for (serve sets it around a keyed
 * request, and a workflow run it starts inherits it), if any. The observability layer records it
 * in the usage ledger (`keyName`), so `GET /v1/usage` can show a key its own usage. Set only by
 * the server from the authenticated key, never from a request's body; never the key itself.
 *
 * @since 0.1.0
 * @category references
 */
export const CurrentKey = Context.Reference<string | undefined>("llm-connect/CallContext/CurrentKey", {
  defaultValue: () => undefined
})
