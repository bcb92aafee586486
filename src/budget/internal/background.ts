/**
 * What a store reached over the network (Redis, ADR 0030) does off the call's path, in one
 * registry: the commit that replaces a call's lease by its real usage, and the marking of a lease
 * as sent when its request goes out. Both run in fibers of the store's own scope, so the caller
 * does not wait for them, interrupting the caller does not cancel them, and closing the store
 * waits for them (up to its `timeout`).
 *
 * A store that can do so registers its {@link Background}; a tracker on that store registers its
 * {@link TrackerBackground} (its background commit and the store's lease marker), which the budget
 * layer finds with one lookup per call ({@link trackerOf}). Stores in this process's memory
 * register nothing and keep their synchronous path (ADR 0018): their calls do not even look.
 *
 * Why the commit off the path is safe: until it lands, the lease keeps its whole reservation (at
 * least the real usage), so admission meanwhile is only more conservative; and its command is
 * queued on the store's connection before the caller goes on, so this process's next reservation
 * reaches the server after it. Reads in this process ({@link Background.settled}) wait for the
 * work started before them.
 *
 * Why a lease is marked: when it expires (its process died), a sent lease is charged and an
 * unsent one released, so the store must learn when the request goes out.
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
  /**
   * Completes once every commit and mark started before it has ended (written, or given up and
   * logged).
   */
  readonly settled: Effect.Effect<void>
  /**
   * Marks reservation `id`'s lease as sent: started at once (its command queued before this
   * returns) in the store's scope, with the store's services (a failure is logged through the
   * store's logger). The caller does not wait.
   */
  readonly markSent: (reservationId: string) => void
}

const stores = new WeakMap<object, Background>()

/** @internal */
export const register = (store: object, background: Background): void => {
  stores.set(store, background)
}

/** The background of `store`, when it works off the call's path. @internal */
export const of = (store: object): Background | undefined => stores.get(store)

/** Commits a reservation in the background: returns once the commit is started. @internal */
export type CommitLater = (reservation: BudgetTracker.Reservation, actual: BudgetTracker.Actual) => Effect.Effect<void>

/** What a tracker on such a store does off the call's path. @internal */
export interface TrackerBackground {
  /** The tracker's commit, started in its store's scope (overshoots logged when it lands). */
  readonly commitLater: CommitLater
  /** The store's {@link Background.markSent}. */
  readonly markSent: (reservationId: string) => void
}

const trackers = new WeakMap<object, TrackerBackground>()

/** @internal */
export const registerTracker = (tracker: object, background: TrackerBackground): void => {
  trackers.set(tracker, background)
}

/** What `tracker` does off the call's path, when its store works so. @internal */
export const trackerOf = (tracker: object): TrackerBackground | undefined => trackers.get(tracker)

/** The background commit of `tracker`, when its store settles off the call's path. @internal */
export const commitLaterOf = (tracker: object): CommitLater | undefined => trackers.get(tracker)?.commitLater
