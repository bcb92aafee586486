/**
 * Marking a reservation's lease as sent, for stores that keep leases (Redis): when a lease
 * expires (its process died), a sent one is charged and an unsent one released, so the store
 * must learn when the request goes out. A store registers its marker; a tracker on that store
 * registers it for itself; the budget layer's attempts mark the lease when they send. Stores
 * without leases (memory) register nothing and pay nothing.
 *
 * @since 0.1.0
 */
import { Effect } from "effect"

/** Marks reservation `id`'s lease as sent (never fails). @internal */
export type Marker = (reservationId: string) => Effect.Effect<void>

const markers = new WeakMap<object, Marker>()

/** @internal */
export const register = (owner: object, marker: Marker): void => {
  markers.set(owner, marker)
}

/** The marker of a store or tracker, when it keeps leases. @internal */
export const markerOf = (owner: object): Marker | undefined => markers.get(owner)

/** Marks the lease in the background: the call does not wait for the store. @internal */
export const markInBackground = (marker: Marker, reservationId: string): void => {
  Effect.runFork(marker(reservationId))
}
