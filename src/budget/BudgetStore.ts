/**
 * Where the state of budgets lives: a service that runs each budget transition (create a budget,
 * reserve, settle, record a running total, check) as one atomic step on serialisable records.
 *
 * A `BudgetTracker` holds only a store and a budget id; every figure (limits, consumed,
 * reserved, conversations, overshoots, open reservations) is in the store, as plain records
 * named by string ids: budget ids (`b0`, `b1`, ...) and reservation ids (`r1`, `r2`, ...). A
 * reservation is a record in the store, not an object the caller mutates: settling it (commit
 * or release) removes it, so settling the same id twice changes nothing, whoever does it.
 *
 * Each operation is one atomic step that checks and updates a budget and every ancestor at once
 * (a reservation checks every limited dimension of every budget in its chain), so the rules
 * hold whatever runs at once. The rules themselves are pure functions
 * (`internal/ledger.ts`); a store only decides where the records are kept.
 *
 * A budget that is done is released ({@link Service.release}): it leaves the store once nothing of
 * it is open, so a store holds the budgets in use (per-call and per-request children come and
 * go), and a transition costs the same whatever the number of budgets made before it.
 *
 * {@link makeMemory} keeps them in this process's memory (in plain maps; {@link snapshot} reads them
 * as a {@link BudgetState.State}), each transition one synchronous step
 * (the default: `BudgetTracker` makes one per root budget when no store is in context, and runs
 * its reserve and settle without an effect step of their own); {@link fromRef} on a `Ref` you
 * hold. A shared store (Redis, in a later release) runs the same
 * transitions server-side; the records leave room for its leases (`sent`, `expiresAt`).
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer, Ref } from "effect"
import type * as LlmError from "../LlmError.ts"
import * as BudgetState from "./BudgetState.ts"
import * as Ledger from "./internal/ledger.ts"
import * as LocalStore from "./internal/localStore.ts"

/**
 * A budget to create: a root, or a child of `parent`.
 *
 * @since 0.1.0
 * @category models
 */
export type NewBudget = Ledger.NewBudget

/**
 * What a reservation is for: the input estimate, the output cap asked for or defaulted, the
 * price, who asks, and when.
 *
 * @since 0.1.0
 * @category models
 */
export type Ask = Ledger.Ask

/**
 * A reservation admitted: its id and amounts, the output cap to send, what is left.
 *
 * @since 0.1.0
 * @category models
 */
export type Granted = Ledger.Granted

/**
 * A reservation (or a checkpoint) refused, with the dimension and the figures.
 *
 * @since 0.1.0
 * @category models
 */
export type Refused = Ledger.Refused

/**
 * The budget named is not in the store.
 *
 * @since 0.1.0
 * @category models
 */
export type Missing = Ledger.Missing

/**
 * What a call really used, as it is committed.
 *
 * @since 0.1.0
 * @category models
 */
export type Actual = Ledger.Actual

/**
 * A conversation's running total, as it is recorded.
 *
 * @since 0.1.0
 * @category models
 */
export type Cumulative = Ledger.Cumulative

/**
 * The operations of a budget store. Each is one atomic step. Operations that admit (`create`,
 * `reserve`, `check`) may fail with an `LlmError` (a shared store that cannot be reached fails
 * closed); operations that settle never fail (a shared store retries what it cannot write and
 * logs it as unaccounted usage, never dropping it silently).
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** Creates a budget and returns its id; `Missing` when its parent is not in the store. */
  readonly create: (budget: NewBudget) => Effect.Effect<string | Missing, LlmError.LlmError>
  /** Admits a reservation on a budget and all its ancestors at once, or refuses it. */
  readonly reserve: (budgetId: string, ask: Ask) => Effect.Effect<Granted | Refused | Missing, LlmError.LlmError>
  /**
   * Settles a reservation: commits `actual` and releases the rest, or releases it all when
   * `actual` is `undefined`. Returns the overshoots found. An id that is not open (already
   * settled, or never issued) changes nothing.
   */
  readonly settle: (reservationId: string, actual: Actual | undefined) => Effect.Effect<ReadonlyArray<BudgetState.Overshoot>>
  /** Records a conversation's running total, replacing its previous figure; returns the overshoots. */
  readonly recordCumulative: (
    budgetId: string,
    conversationId: string,
    cumulative: Cumulative
  ) => Effect.Effect<ReadonlyArray<BudgetState.Overshoot> | Missing>
  /** Refused when a deadline of the chain has passed or a limit was passed (by an overshoot). */
  readonly check: (budgetId: string, now: number) => Effect.Effect<Refused | Missing | undefined, LlmError.LlmError>
  /** The budget and its ancestors, the budget first (empty when it is not in the store). */
  readonly chain: (budgetId: string) => Effect.Effect<ReadonlyArray<BudgetState.Node>>
  /**
   * Releases a budget that is done: it leaves the store now when no reservation of it (or of a
   * child) is open, else when the last one is settled (it is marked closing). What it consumed
   * stays counted in its ancestors. Releasing it again, or an id not in the store, changes
   * nothing. Never fails (a shared store that cannot be reached leaves it to expire).
   */
  readonly release: (budgetId: string) => Effect.Effect<Released>
  /** How many budgets the store holds for this process (a cheap count, for tests and metrics). */
  readonly size: Effect.Effect<number>
}

/**
 * What {@link Service.release} did: `removed`, `closing` (removed when its last open reservation
 * or child goes), or `unknown` (not in the store: released already, or never created).
 *
 * @since 0.1.0
 * @category models
 */
export type Released = Ledger.Released

/**
 * The `BudgetStore` service. `BudgetTracker` uses the one in context, else a new memory store
 * per root budget.
 *
 * @since 0.1.0
 * @category services
 */
export class BudgetStore extends Context.Service<BudgetStore, Service>()("llm-connect/BudgetStore") {}

/**
 * A store on a `Ref` you hold (to read or save its {@link State}).
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromRef = (ref: Ref.Ref<BudgetState.State>): Service => ({
  create: (budget) => Ref.modify(ref, (state) => Ledger.addNode(state, budget)),
  reserve: (budgetId, ask) => Ref.modify(ref, (state) => Ledger.reserve(state, budgetId, ask)),
  settle: (reservationId, actual) => Ref.modify(ref, (state) => Ledger.settle(state, reservationId, actual)),
  recordCumulative: (budgetId, conversationId, cumulative) =>
    Ref.modify(ref, (state) => Ledger.recordCumulative(state, budgetId, conversationId, cumulative)),
  check: (budgetId, now) => Effect.map(Ref.get(ref), (state) => Ledger.check(state, budgetId, now)),
  chain: (budgetId) => Effect.map(Ref.get(ref), (state) => Ledger.chainOf(state, budgetId)),
  release: (budgetId) => Ref.modify(ref, (state) => Ledger.release(state, budgetId)),
  size: Effect.map(Ref.get(ref), Ledger.size)
})

/**
 * A store in this process's memory: one state, each transition one synchronous step (atomic on
 * the JS thread, as a `Ref.modify` is). Its reserve and settle also run without an effect step
 * for the trackers on it (the hot path of every call).
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeMemory: Effect.Effect<Service> = Effect.sync(() => {
  // Plain mutable maps, not a persistent `State`: nothing outside the store sees its tables, and
  // a transition then writes a budget's figures on its record instead of copying a map's path
  // (ADR 0032). Its records never leave it: `chain` and `snapshot` hand out copies.
  const tables = new Ledger.MutableTables()
  const local: LocalStore.Local = {
    reserve: (budgetId, ask) => Ledger.reserveIn(tables, budgetId, ask),
    settle: (reservationId, actual) => Ledger.settleIn(tables, reservationId, actual),
    snapshot: () => tables.toState()
  }
  const store: Service = {
    create: (budget) => Effect.sync(() => Ledger.addNodeIn(tables, budget)),
    reserve: (budgetId, ask) => Effect.sync(() => local.reserve(budgetId, ask)),
    settle: (reservationId, actual) => Effect.sync(() => local.settle(reservationId, actual)),
    recordCumulative: (budgetId, conversationId, cumulative) =>
      Effect.sync(() => Ledger.recordCumulativeIn(tables, budgetId, conversationId, cumulative)),
    check: (budgetId, now) => Effect.sync(() => Ledger.checkIn(tables, budgetId, now)),
    // Copies: the tables' own records are written in place.
    chain: (budgetId) => Effect.sync(() => Ledger.chainIn(tables, budgetId).map(Ledger.copyNode)),
    release: (budgetId) => Effect.sync(() => Ledger.releaseIn(tables, budgetId)),
    size: Effect.sync(() => tables.nodes.size)
  }
  LocalStore.register(store, local)
  return store
})

/**
 * The {@link BudgetState.State} of a store made by {@link makeMemory} (a copy, in the public
 * serialisable shape: `Schema.toCodecJson(BudgetState.State)` writes it), or `undefined` for any
 * other store (a `fromRef` store's state is its `Ref`'s).
 *
 * @since 0.1.0
 * @category accessors
 */
export const snapshot = (store: Service): Effect.Effect<BudgetState.State | undefined> =>
  Effect.sync(() => LocalStore.localOf(store)?.snapshot())

/**
 * A memory store as a Layer: provide it to make the budgets built below share one store.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory: Layer.Layer<BudgetStore> = Layer.effect(BudgetStore, makeMemory)

/**
 * The store in context, else a new memory store.
 *
 * @since 0.1.0
 * @category accessors
 */
export const current: Effect.Effect<Service> = Effect.flatMap(
  Effect.serviceOption(BudgetStore),
  (found) => (found._tag === "Some" ? Effect.succeed(found.value) : makeMemory)
)
