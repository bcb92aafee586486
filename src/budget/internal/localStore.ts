/**
 * The synchronous side of a store kept in this process's memory: its reserve and settle
 * transitions as plain functions, each one synchronous step (atomic on the JS thread), found by
 * the store's identity. `BudgetStore.makeMemory` registers its own; `BudgetTracker` runs them on
 * the hot path of every call (no `Ref`, no effect step per transition). A store found here is
 * exactly the one registered: a wrapper around it (another object) takes the effect path.
 *
 * @since 0.1.0
 */
import type * as BudgetState from "../BudgetState.ts"
import type * as Ledger from "./ledger.ts"

/** @internal */
export interface Local {
  readonly reserve: (budgetId: string, ask: Ledger.Ask) => Ledger.Granted | Ledger.Refused | Ledger.Missing
  readonly settle: (reservationId: string, actual: Ledger.Actual | undefined) => ReadonlyArray<BudgetState.Overshoot>
}

const locals = new WeakMap<object, Local>()

/** @internal */
export const register = (store: object, local: Local): void => {
  locals.set(store, local)
}

/** The synchronous transitions of `store`, when it registered some. @internal */
export const localOf = (store: object): Local | undefined => locals.get(store)
