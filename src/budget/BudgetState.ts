/**
 * The state of budgets, as plain serialisable records: each budget (its limits, consumed and
 * reserved amounts, conversations, overshoots) and each open reservation, named by string ids.
 * A `BudgetStore` keeps a {@link State}; the pure rules that change it are in
 * `internal/ledger.ts`. Every Schema here round-trips through JSON (a shared store writes it).
 *
 * Cost is held in whole nano-USD (`costNanos`, see `Money`), so that sums are exact; the
 * tracker shows USD (`costUsd`) at its edges (snapshots, errors, the call context).
 *
 * @since 0.1.0
 */
import { HashMap, Schema } from "effect"

const Figure = Schema.Number
const Nanos = Schema.Int.annotate({ description: "Whole nano-USD (1e-9 USD)." })

/**
 * Input tokens, output tokens, total tokens and cost in nano-USD, as reserved or consumed.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Amounts = Schema.Struct({
  inputTokens: Figure,
  outputTokens: Figure,
  totalTokens: Figure,
  costNanos: Nanos
}).annotate({ identifier: "BudgetAmounts" })

/**
 * @since 0.1.0
 * @category models
 */
export type Amounts = typeof Amounts.Type

/**
 * The amount limits of one budget, `null` where it sets none (its deadline is kept as an instant
 * on its {@link Node}). Records spell "none" as `null`, which survives JSON, and keep every key,
 * so that all records have one shape.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Limits = Schema.Struct({
  inputTokens: Schema.NullOr(Figure),
  outputTokens: Schema.NullOr(Figure),
  totalTokens: Schema.NullOr(Figure),
  costNanos: Schema.NullOr(Nanos)
}).annotate({ identifier: "BudgetStoreLimits" })

/**
 * @since 0.1.0
 * @category models
 */
export type Limits = typeof Limits.Type

/**
 * A dimension measured in amounts, as the records name it (every budget dimension but the
 * deadline; cost as `costNanos`).
 *
 * @since 0.1.0
 * @category schemas
 */
export const AmountDimension = Schema.Literals(["inputTokens", "outputTokens", "totalTokens", "costNanos"])

/**
 * @since 0.1.0
 * @category models
 */
export type AmountDimension = typeof AmountDimension.Type

/**
 * A provider reported more than was reserved for its call on a limited dimension (or a
 * cumulative record passed a limit). The truth is recorded and the next reservation is refused.
 * Figures are in the dimension's unit (nano-USD for `costNanos`).
 *
 * @since 0.1.0
 * @category schemas
 */
export const Overshoot = Schema.Struct({
  dimension: AmountDimension,
  reserved: Figure,
  actual: Figure,
  provider: Schema.String,
  model: Schema.String,
  atMillis: Figure
}).annotate({ identifier: "BudgetOvershoot" })

/**
 * @since 0.1.0
 * @category models
 */
export type Overshoot = typeof Overshoot.Type

/**
 * One budget of a tree: its limits, what it consumed and holds, per conversation too.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Node = Schema.Struct({
  id: Schema.String,
  /** The budget this one counts toward as well (`null` for a root). */
  parent: Schema.NullOr(Schema.String),
  label: Schema.String,
  limits: Limits,
  startedAt: Figure,
  /** The instant (epoch milliseconds) past which nothing is admitted (`null`: no deadline). */
  deadlineAt: Schema.NullOr(Figure),
  consumed: Amounts,
  reserved: Amounts,
  /** Reservations admitted and not yet settled. */
  open: Figure,
  /** Consumption per `metadata.conversationId`. */
  conversations: Schema.HashMap(Schema.String, Amounts),
  overshoots: Schema.Array(Overshoot),
  /** An overshoot whose refusal of the next reservation is still due. */
  pending: Schema.NullOr(Overshoot),
  /** Budgets in the store whose parent this one is. */
  children: Figure,
  /** Released while a reservation or a child of it was still open: removed when the last one goes. */
  closing: Schema.Boolean
}).annotate({ identifier: "BudgetNode" })

/**
 * @since 0.1.0
 * @category models
 */
export type Node = typeof Node.Type

/**
 * An admitted reservation, held on its budget and every ancestor until it is settled.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Reservation = Schema.Struct({
  id: Schema.String,
  /** The budget it was made on. */
  budget: Schema.String,
  amounts: Amounts,
  provider: Schema.String,
  model: Schema.String,
  /** Whether its request was sent: set by a store that keeps leases; the memory store leaves it out. */
  sent: Schema.optionalKey(Schema.Boolean),
  /** When its lease expires (epoch milliseconds): set by a store that keeps leases. */
  expiresAt: Schema.optionalKey(Figure)
}).annotate({ identifier: "BudgetReservation" })

/**
 * @since 0.1.0
 * @category models
 */
export type Reservation = typeof Reservation.Type

/**
 * Everything a memory store holds: its budgets, its open reservations, and the sequences
 * budget and reservation ids are drawn from. Its collections are persistent `HashMap`s (an update
 * copies no more than a path, whatever the number of budgets); a budget released leaves them
 * (`internal/ledger.ts` `release`). `Schema.toCodecJson(State)` writes it as JSON and reads it back.
 *
 * @since 0.1.0
 * @category schemas
 */
export const State = Schema.Struct({
  /** Budgets in the store by the number of their id (`b3` under 3); a released budget leaves it. */
  nodes: Schema.HashMap(Schema.Number, Node),
  /** How many budget ids were issued: the next is `b<budgets>` (ids are never reused). */
  budgets: Figure,
  /** Open reservations by the sequence number of their id (`r12` under 12). */
  reservations: Schema.HashMap(Schema.Number, Reservation),
  /** The number of the last reservation id issued. */
  sequence: Figure
}).annotate({ identifier: "BudgetStoreState" })

/**
 * @since 0.1.0
 * @category models
 */
export type State = typeof State.Type

/**
 * A store with no budget in it.
 *
 * @since 0.1.0
 * @category constructors
 */
export const emptyState = (): State => ({ nodes: HashMap.empty(), budgets: 0, reservations: HashMap.empty(), sequence: 0 })
