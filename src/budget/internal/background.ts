/**
 * Settling off the call's path, for a store reached over the network (Redis, ADR 0030): the
 * caller gets its answer as soon as the provider answered, and the commit that replaces the
 * call's lease by its real usage runs in a fiber of the store's own scope.
 *
 * A store that can do so registers its {@link Background}; a tracker on that store registers
 * its background commit for the budget layer ({@link registerTracker}). Stores in this process's
 * memory register nothing and keep their synchronous path (ADR 0018).
 *
 * Why it is safe: until the commit lands, the lease keeps its whole reservation (at least the
 * real usage), so admission meanwhile is only more conservative; and the commit's command is
 * queued on the store's connection before the caller goes on, so this process's next reservation
 * reaches the server after it. Reads in this process ({@link Background.settled}) wait for the
 * commits started before them, and the store's scope waits for them when it closes.
 *
 * @since 0.1.0
 */
import type { Effect } from "effect"
import type * as BudgetTracker from "../BudgetTracker.ts"

/** @internal */
export interface Background {
  /**
   * Starts `settle` in the store's scope (not the caller's: interrupting the caller does not
   * cancel it), running its first step before this returns, so that its command is queued on
   * the store's connection ahead of anything the caller sends next. The caller does not wait.
   */
  readonly start: (settle: Effect.Effect<void>) => Effect.Effect<void>
  /** Completes once every settle started before it has ended (written, or given up and logged). */
  readonly settled: Effect.Effect<void>
}

const backgrounds = new WeakMap<object, Background>()

/** @internal */
export const register = (store: object, background: Background): void => {
  backgrounds.set(store, background)
}

/** The background of `store`, when it settles off the call's path. @internal */
export const of = (store: object): Background | undefined => backgrounds.get(store)

/** Commits a reservation in the background: returns once the commit is started. @internal */
export type CommitLater = (reservation: BudgetTracker.Reservation, actual: BudgetTracker.Actual) => Effect.Effect<void>

const trackers = new WeakMap<object, CommitLater>()

/** @internal */
export const registerTracker = (tracker: object, commitLater: CommitLater): void => {
  trackers.set(tracker, commitLater)
}

/** The background commit of `tracker`, when its store settles off the call's path. @internal */
export const commitLaterOf = (tracker: object): CommitLater | undefined => trackers.get(tracker)
