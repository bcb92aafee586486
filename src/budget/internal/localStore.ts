/**
 * The synchronous side of a store kept in this process's memory: its reserve and settle
 * transitions as plain functions, each one synchronous step (atomic on the JS thread), found by
 * the store's identity. `BudgetStore.makeMemory` registers its own; `BudgetTracker` runs them on
 * the hot path of every call (no `Ref`, no effect step per transition). A store found here is
 * exactly the one registered: a wrapper around it (another object) takes the effect path.
 *
 * A tracker on such a store registers its `reserve` and `commit` the same way, as functions of
 * the time (read from the fiber's `Clock` by the budget layer): the same transitions and the same
 * results, without the effect steps around them.
 *
 * @since 0.1.0
 */
import type { Effect } from "effect"
import type * as LlmError from "../../LlmError.ts"
import type * as BudgetState from "../BudgetState.ts"
import type * as BudgetTracker from "../BudgetTracker.ts"
import type * as Ledger from "./ledger.ts"

/** @internal */
export interface Local {
  readonly reserve: (budgetId: string, ask: Ledger.Ask) => Ledger.Granted | Ledger.Refused | Ledger.Missing
  readonly settle: (reservationId: string, actual: Ledger.Actual | undefined) => ReadonlyArray<BudgetState.Overshoot>
  /** The store's records as a public `State` (a copy). */
  readonly snapshot: () => BudgetState.State
}

const locals = new WeakMap<object, Local>()

/** @internal */
export const register = (store: object, local: Local): void => {
  locals.set(store, local)
}

/** The synchronous transitions of `store`, when it registered some. @internal */
export const localOf = (store: object): Local | undefined => locals.get(store)

/** A tracker's `reserve` and `commit` as plain functions (see the module description). @internal */
export interface TrackerOps {
  /** The reservation when the bound is granted at once; else the effect that finishes the job (refusal, exact count). */
  readonly reserveNow: (
    ask: BudgetTracker.Ask,
    now: number
  ) => BudgetTracker.Reservation | Effect.Effect<BudgetTracker.Reservation, LlmError.LlmError>
  /** Commits; `undefined`, or the effect that logs the overshoots found. */
  readonly commitNow: (
    reservation: BudgetTracker.Reservation,
    actual: BudgetTracker.Actual,
    now: number
  ) => Effect.Effect<void> | undefined
  /** Releases (settles with nothing used). */
  readonly releaseNow: (reservation: BudgetTracker.Reservation) => void
}

const trackers = new WeakMap<object, TrackerOps>()

/** @internal */
export const registerTracker = (tracker: object, ops: TrackerOps): void => {
  trackers.set(tracker, ops)
}

/** The plain `reserve` and `commit` of `tracker`, when it registered some. @internal */
export const trackerOps = (tracker: object): TrackerOps | undefined => trackers.get(tracker)
