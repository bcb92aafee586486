/**
 * The pure accounting behind `BudgetStore`: the transitions that create budgets, admit, settle
 * and check reservations on a store's {@link State}.
 *
 * Every transition is written once, against {@link Tables} (where the records are read and
 * written), and comes in two forms: on a persistent {@link State} (pure and total: `reserve`,
 * `settle`, ..., what `fromRef` runs in one `Ref.modify`), and on a store's own mutable tables
 * (`reserveIn`, `settleIn`, ..., what the memory store runs in one synchronous step, without
 * copying a persistent map's path per update). Either way a reservation checks every node of its
 * chain (child -> ... -> root) before it writes anything, and settling a reservation removes its
 * record, so it settles once. Budgets are named `b<n>` and reservations `r<n>` by the state's
 * sequences (never reused); a budget released ({@link release}) leaves the state once nothing of
 * it is open, so the state holds the budgets in use, not every budget ever made.
 *
 * @since 0.1.0
 */
import { HashMap, Option } from "effect"
import type { Remaining } from "../../CallContext.ts"
import type { BudgetDimension } from "../../LlmError.ts"
import * as Money from "../../pricing/Money.ts"
import type { Price } from "../../pricing/prices.ts"
import type { AmountDimension, Amounts, Limits, Node, Overshoot, Reservation, State } from "../BudgetState.ts"
import { SequenceTable } from "./sequenceTable.ts"

/** @internal */
export const amountDimensions: ReadonlyArray<AmountDimension> = ["inputTokens", "outputTokens", "totalTokens", "costNanos"]

/** @internal */
export const zero: Amounts = { inputTokens: 0, outputTokens: 0, totalTokens: 0, costNanos: 0 }

/** A dimension of the records as the public API names it (`costNanos` is `costUsd`). @internal */
export const publicDimension = (dimension: AmountDimension): Exclude<BudgetDimension, "deadline"> =>
  dimension === "costNanos" ? "costUsd" : dimension

/** A figure of the records in the public unit (nano-USD to USD). @internal */
export const publicFigure = (dimension: AmountDimension, value: number): number =>
  dimension === "costNanos" ? Money.toUsd(value) : value

/** @internal */
export interface Missing {
  readonly _tag: "Missing"
  readonly budgetId: string
}

const missing = (budgetId: string): Missing => ({ _tag: "Missing", budgetId })

/** @internal */
export interface NewBudget {
  /** The budget this one counts toward as well (`null` for a root). */
  readonly parent: string | null
  readonly label: string
  readonly limits: Limits
  readonly startedAt: number
  /** The instant (epoch milliseconds) past which nothing is admitted (`null`: no deadline). */
  readonly deadlineAt: number | null
  /** A root's shared name (`budget.id`): a shared store keeps one budget per name; the memory store ignores it. */
  readonly name?: string | undefined
  /** `"day"`: a named root's figures start again every UTC day (a shared store; the memory store ignores it). */
  readonly window?: "day" | undefined
}

/**
 * The number in an id such as `b12` or `r7` (its index or sequence number), or -1 when the id
 * does not have that form. Read without allocating: it runs on every reservation and settlement.
 */
const numberOf = (id: string, prefix: number): number => {
  const length = id.length
  if (length < 2 || length > 16 || id.charCodeAt(0) !== prefix) return -1
  let value = 0
  for (let index = 1; index < length; index++) {
    const digit = id.charCodeAt(index) - 48
    if (digit < 0 || digit > 9) return -1
    value = value * 10 + digit
  }
  return value
}

const B = 98 // "b"
const R = 114 // "r"

/**
 * Where a transition reads and writes the records: budgets by index (`b3` under 3), open
 * reservations by sequence number (`r12` under 12), and the two sequences. A transition checks
 * before it writes, so a refusal leaves the tables as they were.
 *
 * @internal
 */
export interface Tables {
  node(index: number): Node | undefined
  setNode(index: number, node: Node): void
  /**
   * Writes new figures on a budget read from these tables: a new record in its place (a
   * persistent state), or the record itself (a store's own tables, whose records no one else holds).
   */
  update(
    node: Node,
    consumed: Amounts,
    reserved: Amounts,
    open: number,
    conversations: Node["conversations"],
    overshoots: Node["overshoots"],
    pending: Node["pending"]
  ): void
  deleteNode(index: number): void
  reservation(sequence: number): Reservation | undefined
  setReservation(sequence: number, reservation: Reservation): void
  deleteReservation(sequence: number): void
  budgets: number
  sequence: number
}

// A persistent `State` being changed by one transition: each write replaces a map, and the state
// is rebuilt only when something was written (a refusal returns the very state it was given).
class Draft implements Tables {
  nodes: State["nodes"]
  reservations: State["reservations"]
  budgets: number
  sequence: number
  changed = false
  readonly state: State
  constructor(state: State) {
    this.state = state
    this.nodes = state.nodes
    this.reservations = state.reservations
    this.budgets = state.budgets
    this.sequence = state.sequence
  }
  node(index: number): Node | undefined {
    return Option.getOrUndefined(HashMap.get(this.nodes, index))
  }
  setNode(index: number, node: Node): void {
    this.nodes = HashMap.set(this.nodes, index, node)
    this.changed = true
  }
  update(
    node: Node,
    consumed: Amounts,
    reserved: Amounts,
    open: number,
    conversations: Node["conversations"],
    overshoots: Node["overshoots"],
    pending: Node["pending"]
  ): void {
    this.setNode(numberOf(node.id, B), nodeWith(node, consumed, reserved, open, conversations, overshoots, pending))
  }
  deleteNode(index: number): void {
    this.nodes = HashMap.remove(this.nodes, index)
    this.changed = true
  }
  reservation(sequence: number): Reservation | undefined {
    return Option.getOrUndefined(HashMap.get(this.reservations, sequence))
  }
  setReservation(sequence: number, reservation: Reservation): void {
    this.reservations = HashMap.set(this.reservations, sequence, reservation)
    this.changed = true
  }
  deleteReservation(sequence: number): void {
    this.reservations = HashMap.remove(this.reservations, sequence)
    this.changed = true
  }
  result(): State {
    if (!this.changed && this.budgets === this.state.budgets && this.sequence === this.state.sequence) return this.state
    return { nodes: this.nodes, budgets: this.budgets, reservations: this.reservations, sequence: this.sequence }
  }
}

// A transition on tables, run on a persistent state: its result and the state after it.
const onState = <A>(state: State, transition: (tables: Tables) => A): readonly [A, State] => {
  const draft = new Draft(state)
  const result = transition(draft)
  return [result, draft.result()]
}

// A budget's record as the memory store's own tables hold it: its figures written in place.
type OwnNode = { -readonly [K in keyof Node]: Node[K] }

/** A copy of a budget's record (its figures are replaced, never changed, so they are shared). @internal */
export const copyNode = (node: Node): Node => nodeWith(node, node.consumed, node.reserved, node.open)

/**
 * Tables kept in plain mutable maps: what the memory store holds (its transitions run in one
 * synchronous step on the JS thread, so nothing sees them half done). A transition writes a
 * budget's new figures on its record itself ({@link Tables.update}): these records never leave
 * the tables (the store hands out copies, {@link copyNode}; a {@link State} read from them is a
 * copy), so no one sees them change.
 *
 * @internal
 */
export class MutableTables implements Tables {
  readonly nodes = new Map<number, Node>()
  // (not a `Map`: see `sequenceTable.ts`)
  readonly reservations = new SequenceTable<Reservation>()
  budgets = 0
  sequence = 0
  node(index: number): Node | undefined {
    return this.nodes.get(index)
  }
  setNode(index: number, node: Node): void {
    // The record the tables own: a copy of the one given, whoever else holds it.
    this.nodes.set(index, copyNode(node))
  }
  update(
    node: Node,
    consumed: Amounts,
    reserved: Amounts,
    open: number,
    conversations: Node["conversations"],
    overshoots: Node["overshoots"],
    pending: Node["pending"]
  ): void {
    const own: OwnNode = node
    own.consumed = consumed
    own.reserved = reserved
    own.open = open
    own.conversations = conversations
    own.overshoots = overshoots
    own.pending = pending
  }
  deleteNode(index: number): void {
    this.nodes.delete(index)
  }
  reservation(sequence: number): Reservation | undefined {
    return this.reservations.get(sequence)
  }
  setReservation(sequence: number, reservation: Reservation): void {
    this.reservations.set(sequence, reservation)
  }
  deleteReservation(sequence: number): void {
    this.reservations.delete(sequence)
  }
  /** The tables as a {@link State} (the public, serialisable shape), copied. */
  toState(): State {
    return {
      nodes: HashMap.fromIterable(Array.from(this.nodes, ([index, node]) => [index, copyNode(node)] as const)),
      budgets: this.budgets,
      reservations: HashMap.fromIterable(this.reservations.entries()),
      sequence: this.sequence
    }
  }
}

/** Creates a budget in the tables; `Missing` when its parent is not there. @internal */
export const addNodeIn = (tables: Tables, budget: NewBudget): string | Missing => {
  const parent = budget.parent === null ? undefined : nodeIn(tables, budget.parent)
  if (budget.parent !== null && parent === undefined) return missing(budget.parent)
  const index = tables.budgets
  const id = `b${index}`
  const node: Node = {
    id,
    parent: budget.parent,
    label: budget.label,
    limits: budget.limits,
    startedAt: budget.startedAt,
    deadlineAt: budget.deadlineAt,
    consumed: zero,
    reserved: zero,
    open: 0,
    conversations: HashMap.empty(),
    overshoots: [],
    pending: null,
    children: 0,
    closing: false
  }
  tables.setNode(index, node)
  if (parent !== undefined) tables.setNode(numberOf(parent.id, B), { ...parent, children: parent.children + 1 })
  tables.budgets = index + 1
  return id
}

/** @internal */
export const addNode = (state: State, budget: NewBudget): readonly [string | Missing, State] =>
  onState(state, (tables) => addNodeIn(tables, budget))

/** A budget by id (`b<index>`), if it is in the tables. */
const nodeIn = (tables: Tables, id: string): Node | undefined => {
  const found = tables.node(numberOf(id, B))
  return found !== undefined && found.id === id ? found : undefined
}

/** The budget and its ancestors, the budget first; empty when it is not in the state. @internal */
export const chainOf = (state: State, id: string): Array<Node> => chainIn(new Draft(state), id)

/** The budget and its ancestors, the budget first; empty when it is not in the tables. @internal */
export const chainIn = (tables: Tables, id: string): Array<Node> => {
  const chain: Array<Node> = []
  let current: string | null = id
  while (current !== null) {
    const node = nodeIn(tables, current)
    if (node === undefined) return chain
    chain.push(node)
    current = node.parent
  }
  return chain
}

const plus = (a: Amounts, b: Amounts): Amounts => ({
  inputTokens: a.inputTokens + b.inputTokens,
  outputTokens: a.outputTokens + b.outputTokens,
  totalTokens: a.totalTokens + b.totalTokens,
  costNanos: a.costNanos + b.costNanos
})

const minus = (a: Amounts, b: Amounts): Amounts => ({
  inputTokens: a.inputTokens - b.inputTokens,
  outputTokens: a.outputTokens - b.outputTokens,
  totalTokens: a.totalTokens - b.totalTokens,
  costNanos: a.costNanos - b.costNanos
})

// A node with new figures, every field written out in the order of `addNode`: all nodes keep one
// object shape, and this runs on every reservation and settlement (a spread with overrides
// costs several times more).
const nodeWith = (
  node: Node,
  consumed: Amounts,
  reserved: Amounts,
  open: number,
  conversations: Node["conversations"] = node.conversations,
  overshoots: Node["overshoots"] = node.overshoots,
  pending: Node["pending"] = node.pending
): Node => ({
  id: node.id,
  parent: node.parent,
  label: node.label,
  limits: node.limits,
  startedAt: node.startedAt,
  deadlineAt: node.deadlineAt,
  consumed,
  reserved,
  open,
  conversations,
  overshoots,
  pending,
  children: node.children,
  closing: node.closing
})

// Each node of the chain updated: one write per node, whatever the number of budgets in the store.
const replaceChain = (tables: Tables, chain: ReadonlyArray<Node>, update: (node: Node) => Node): void => {
  for (const node of chain) tables.setNode(numberOf(node.id, B), update(node))
}

const done = (node: Node): boolean => node.closing && node.open === 0 && node.children === 0

// Removes `node`, then each ancestor released earlier whose last child it was.
const removeNode = (tables: Tables, node: Node): void => {
  tables.deleteNode(numberOf(node.id, B))
  let parentId = node.parent
  while (parentId !== null) {
    const parent = nodeIn(tables, parentId)
    if (parent === undefined) return
    const updated: Node = { ...parent, children: parent.children - 1 }
    if (!done(updated)) return tables.setNode(numberOf(parent.id, B), updated)
    tables.deleteNode(numberOf(parent.id, B))
    parentId = parent.parent
  }
}

// After a settlement: the budget it was made on leaves the store when it was released and this
// was its last reservation.
const removeIfDone = (tables: Tables, id: string): void => {
  const node = nodeIn(tables, id)
  if (node !== undefined && done(node)) removeNode(tables, node)
}

/**
 * What {@link release} did: removed the budget (and any ancestor released earlier that waited
 * for it), marked it `closing` (a reservation or a child of it is still open: it is removed when
 * the last one goes), or nothing (`unknown`: not in the store, e.g. released already).
 *
 * @internal
 */
export type Released = "removed" | "closing" | "unknown"

/**
 * Releases budget `id`: it leaves the store now when nothing of it is open, else when its last
 * open reservation is settled and its last child released. What it consumed stays counted in
 * its ancestors (their figures do not change). Releasing it again changes nothing.
 *
 * @internal
 */
export const release = (state: State, id: string): readonly [Released, State] =>
  onState(state, (tables) => releaseIn(tables, id))

/** {@link release} on tables. @internal */
export const releaseIn = (tables: Tables, id: string): Released => {
  const node = nodeIn(tables, id)
  if (node === undefined) return "unknown"
  if (node.open === 0 && node.children === 0) {
    removeNode(tables, node)
    return "removed"
  }
  if (!node.closing) tables.setNode(numberOf(id, B), { ...node, closing: true })
  return "closing"
}

/** How many budgets the state holds. @internal */
export const size = (state: State): number => HashMap.size(state.nodes)

/** Whether any node of the chain limits a dimension. */
// (a loop, not `chain.some` with a closure: this runs three times on every reservation)
const limitedIn = (chain: ReadonlyArray<Node>, dimension: AmountDimension): boolean => {
  for (let index = 0; index < chain.length; index++) if (chain[index]!.limits[dimension] !== null) return true
  return false
}

/** @internal */
export interface Ask {
  readonly inputTokens: number
  /** The request's own `maxTokens`, honoured as asked. */
  readonly maxTokens: number | undefined
  /** The cap used when the request sets none (lowered to what the budget can still afford). */
  readonly defaultMaxTokens: number
  readonly price: Price | undefined
  readonly provider: string
  readonly model: string
  readonly now: number
}

/** @internal */
export interface Granted {
  readonly _tag: "Granted"
  /** The reservation's id, to settle it with. */
  readonly id: string
  readonly amounts: Amounts
  readonly maxTokens: number | undefined
  /** What the budget allows this call, per limited dimension, in public units (USD for cost). */
  readonly remaining: Remaining
  readonly deadlineAt: number | undefined
}

/** A refusal; its figures are in the records' units (nano-USD for `costUsd`). @internal */
export interface Refused {
  readonly _tag: "Refused"
  readonly dimension: BudgetDimension
  readonly limit: number
  readonly consumed: number
  readonly reserved: number
  readonly requested: number
  readonly label: string
  readonly overshoot: Overshoot | undefined
}

// The loops of the reserve and settle paths below run over indexes, not `for...of`: each
// iteration's result object was allocated per call where V8 had not optimized the function
// (about 0.1 KB per call over HTTP, stop 29).

/** The node of a chain with the earliest deadline. @internal */
export const deadlineOf = (chain: ReadonlyArray<Node>): Node | undefined => {
  let earliest: Node | undefined
  for (let n = 0; n < chain.length; n++) {
    const node = chain[n]!
    if (node.deadlineAt !== null && (earliest === undefined || node.deadlineAt < earliest.deadlineAt!)) earliest = node
  }
  return earliest
}

const deadlineRefusal = (node: Node, now: number): Refused => ({
  _tag: "Refused",
  dimension: "deadline",
  limit: node.deadlineAt! - node.startedAt,
  consumed: now - node.startedAt,
  reserved: 0,
  requested: 0,
  label: node.label,
  overshoot: undefined
})

const outputCap = (chain: ReadonlyArray<Node>, ask: Ask): number | undefined => {
  if (ask.maxTokens !== undefined) return ask.maxTokens
  const capped = limitedIn(chain, "outputTokens") || limitedIn(chain, "totalTokens") || limitedIn(chain, "costNanos")
  if (!capped) return undefined
  let cap = ask.defaultMaxTokens
  for (let n = 0; n < chain.length; n++) {
    const node = chain[n]!
    const { consumed, limits, reserved } = node
    if (limits.outputTokens !== null) cap = Math.min(cap, limits.outputTokens - consumed.outputTokens - reserved.outputTokens)
    if (limits.totalTokens !== null) {
      cap = Math.min(cap, limits.totalTokens - consumed.totalTokens - reserved.totalTokens - ask.inputTokens)
    }
    if (limits.costNanos !== null && ask.price !== undefined && ask.price.outputPerMillion > 0) {
      // The cost of (input, cap) rounds the pico-USD up to the nano-USD, so it fits `left` nano-USD
      // exactly when input * inputPico + cap * outputPico <= left * 1000.
      const left = limits.costNanos - consumed.costNanos - reserved.costNanos
      const room = left * 1000 - ask.inputTokens * Money.picoPerToken(ask.price.inputPerMillion)
      cap = Math.min(cap, Math.floor(room / Money.picoPerToken(ask.price.outputPerMillion)))
    }
  }
  // A cap below one token cannot be sent; the limit check below then refuses on the right dimension.
  return Math.max(1, Math.floor(cap))
}

const withoutPending = (node: Node): Node => (node.pending === null ? node : { ...node, pending: null })

/**
 * Admits a reservation on budget `id` and records it under a new reservation id, or refuses it
 * on the first dimension it would pass. A refusal caused by a provider's earlier overshoot
 * clears that overshoot's flag.
 *
 * @internal
 */
export const reserve = (state: State, id: string, ask: Ask): readonly [Granted | Refused | Missing, State] =>
  onState(state, (tables) => reserveIn(tables, id, ask))

/** {@link reserve} on tables. @internal */
export const reserveIn = (tables: Tables, id: string, ask: Ask): Granted | Refused | Missing => {
  const chain = chainIn(tables, id)
  if (chain.length === 0) return missing(id)
  const earliest = deadlineOf(chain)
  if (earliest !== undefined && ask.now >= earliest.deadlineAt!) return deadlineRefusal(earliest, ask.now)
  const maxTokens = outputCap(chain, ask)
  const output = maxTokens ?? 0
  const amounts: Amounts = {
    inputTokens: ask.inputTokens,
    outputTokens: output,
    totalTokens: ask.inputTokens + output,
    costNanos: ask.price === undefined ? 0 : Money.ofTokens(ask.price, ask.inputTokens, output)
  }
  for (let n = 0; n < chain.length; n++) {
    const node = chain[n]!
    if (node.pending !== null) {
      const dimension = node.pending.dimension
      const refusal: Refused = {
        _tag: "Refused",
        dimension: publicDimension(dimension),
        limit: node.limits[dimension] ?? 0,
        consumed: node.consumed[dimension],
        reserved: node.reserved[dimension],
        requested: amounts[dimension],
        label: node.label,
        overshoot: node.pending
      }
      replaceChain(tables, chain, withoutPending)
      return refusal
    }
  }
  const remaining: { -readonly [K in keyof Remaining]: Remaining[K] } = {}
  for (let n = 0; n < chain.length; n++) {
    const node = chain[n]!
    for (let d = 0; d < amountDimensions.length; d++) {
      const dimension = amountDimensions[d]!
      const limit = node.limits[dimension]
      if (limit === null) continue
      const used = node.consumed[dimension] + node.reserved[dimension]
      if (used + amounts[dimension] > limit) {
        const refusal: Refused = {
          _tag: "Refused",
          dimension: publicDimension(dimension),
          limit,
          consumed: node.consumed[dimension],
          reserved: node.reserved[dimension],
          requested: amounts[dimension],
          label: node.label,
          overshoot: undefined
        }
        return refusal
      }
      // In public units (USD for cost): the smallest room over the chain.
      const key = publicDimension(dimension)
      const room = publicFigure(dimension, limit - used)
      const known = remaining[key]
      remaining[key] = known === undefined ? room : Math.min(known, room)
    }
  }
  const sequence = tables.sequence + 1
  const reservation: Reservation = { id: `r${sequence}`, budget: id, amounts, provider: ask.provider, model: ask.model }
  for (let n = 0; n < chain.length; n++) {
    const node = chain[n]!
    tables.update(node, node.consumed, plus(node.reserved, amounts), node.open + 1, node.conversations, node.overshoots, node.pending)
  }
  tables.setReservation(sequence, reservation)
  tables.sequence = sequence
  return { _tag: "Granted", id: reservation.id, amounts, maxTokens, remaining, deadlineAt: earliest === undefined ? undefined : earliest.deadlineAt! }
}

/** @internal */
export interface Actual {
  readonly amounts: Amounts
  readonly conversationId?: string | undefined
  /** The usage is the conversation's running total (replaces its previous figure). */
  readonly cumulative?: boolean | undefined
  readonly now: number
}

/** @internal */
export interface Cumulative {
  readonly amounts: Amounts
  readonly provider: string
  readonly model: string
  readonly now: number
}

const nothing: ReadonlyArray<Overshoot> = []

const overshootsOf = (
  chain: ReadonlyArray<Node>,
  reservation: Reservation,
  spent: Amounts,
  now: number
): ReadonlyArray<Overshoot> => {
  let found: Array<Overshoot> | undefined
  for (let d = 0; d < amountDimensions.length; d++) {
    const dimension = amountDimensions[d]!
    if (spent[dimension] > reservation.amounts[dimension] && limitedIn(chain, dimension)) {
      found ??= []
      found.push({
        dimension,
        reserved: reservation.amounts[dimension],
        actual: spent[dimension],
        provider: reservation.provider,
        model: reservation.model,
        atMillis: now
      })
    }
  }
  return found ?? nothing
}

/**
 * Settles reservation `reservationId`: releases what it held and, when the call succeeded,
 * commits what it really used. Returns the overshoots found (usage above the reservation on a
 * limited dimension); each flags the chain so that its next reservation is refused. A
 * reservation that is not open (settled already, or never issued) changes nothing.
 *
 * @internal
 */
export const settle = (
  state: State,
  reservationId: string,
  actual: Actual | undefined
): readonly [ReadonlyArray<Overshoot>, State] => onState(state, (tables) => settleIn(tables, reservationId, actual))

/** {@link settle} on tables. @internal */
export const settleIn = (tables: Tables, reservationId: string, actual: Actual | undefined): ReadonlyArray<Overshoot> => {
  const key = numberOf(reservationId, R)
  const reservation = tables.reservation(key)
  if (reservation === undefined || reservation.id !== reservationId) return nothing
  tables.deleteReservation(key)
  const chain = chainIn(tables, reservation.budget)
  const held = reservation.amounts
  if (actual === undefined) {
    for (let n = 0; n < chain.length; n++) {
      const node = chain[n]!
      tables.update(node, node.consumed, minus(node.reserved, held), node.open - 1, node.conversations, node.overshoots, node.pending)
    }
    removeIfDone(tables, reservation.budget)
    return nothing
  }
  const own = chain[0]
  const previous = actual.conversationId === undefined || own === undefined
    ? undefined
    : Option.getOrUndefined(HashMap.get(own.conversations, actual.conversationId))
  const spent = actual.cumulative === true && previous !== undefined ? minus(actual.amounts, previous) : actual.amounts
  const overshoots = overshootsOf(chain, reservation, spent, actual.now)
  for (let n = 0; n < chain.length; n++) {
    const node = chain[n]!
    let conversations = node.conversations
    if (node === own && actual.conversationId !== undefined) {
      conversations = HashMap.set(
        conversations,
        actual.conversationId,
        actual.cumulative === true || previous === undefined ? actual.amounts : plus(previous, actual.amounts)
      )
    }
    tables.update(
      node,
      plus(node.consumed, spent),
      minus(node.reserved, held),
      node.open - 1,
      conversations,
      overshoots.length === 0 ? node.overshoots : [...node.overshoots, ...overshoots],
      overshoots.length === 0 ? node.pending : overshoots[0]!
    )
  }
  removeIfDone(tables, reservation.budget)
  return overshoots
}

/**
 * Records a conversation's running total on budget `id`, replacing its previous figure; the
 * difference counts toward every node of the chain. Passing a limit this way is an overshoot.
 *
 * @internal
 */
export const recordCumulative = (
  state: State,
  id: string,
  conversationId: string,
  cumulative: Cumulative
): readonly [ReadonlyArray<Overshoot> | Missing, State] =>
  onState(state, (tables) => recordCumulativeIn(tables, id, conversationId, cumulative))

/** {@link recordCumulative} on tables. @internal */
export const recordCumulativeIn = (
  tables: Tables,
  id: string,
  conversationId: string,
  cumulative: Cumulative
): ReadonlyArray<Overshoot> | Missing => {
  const chain = chainIn(tables, id)
  const own = chain[0]
  if (own === undefined) return missing(id)
  const spent = minus(cumulative.amounts, Option.getOrElse(HashMap.get(own.conversations, conversationId), () => zero))
  const overshoots: Array<Overshoot> = []
  for (const node of chain) {
    for (const dimension of amountDimensions) {
      const limit = node.limits[dimension]
      if (
        limit !== null && spent[dimension] > 0 &&
        node.consumed[dimension] + spent[dimension] > limit &&
        !overshoots.some((o) => o.dimension === dimension)
      ) {
        overshoots.push({
          dimension,
          reserved: 0,
          actual: spent[dimension],
          provider: cumulative.provider,
          model: cumulative.model,
          atMillis: cumulative.now
        })
      }
    }
  }
  replaceChain(tables, chain, (node) => ({
    ...node,
    consumed: plus(node.consumed, spent),
    conversations: node === own ? HashMap.set(node.conversations, conversationId, cumulative.amounts) : node.conversations,
    ...(overshoots.length > 0 ? { overshoots: [...node.overshoots, ...overshoots], pending: overshoots[0]! } : {})
  }))
  return overshoots
}

/**
 * Checks budget `id` at a checkpoint: refused when a deadline of the chain has passed or when a
 * limit has already been passed (by a provider's overshoot).
 *
 * @internal
 */
export const check = (state: State, id: string, now: number): Refused | Missing | undefined =>
  checkIn(new Draft(state), id, now)

/** {@link check} on tables. @internal */
export const checkIn = (tables: Tables, id: string, now: number): Refused | Missing | undefined => {
  const chain = chainIn(tables, id)
  if (chain.length === 0) return missing(id)
  const earliest = deadlineOf(chain)
  if (earliest !== undefined && now >= earliest.deadlineAt!) return deadlineRefusal(earliest, now)
  for (const node of chain) {
    for (const dimension of amountDimensions) {
      const limit = node.limits[dimension]
      if (limit !== null && node.consumed[dimension] > limit) {
        return {
          _tag: "Refused",
          dimension: publicDimension(dimension),
          limit,
          consumed: node.consumed[dimension],
          reserved: node.reserved[dimension],
          requested: 0,
          label: node.label,
          overshoot: undefined
        }
      }
    }
  }
  return undefined
}

/**
 * What is left on each limited dimension of a chain: the smallest room over its nodes, in
 * public units (USD for cost).
 *
 * @internal
 */
export const remainingOf = (chain: ReadonlyArray<Node>): Remaining => {
  const remaining: { -readonly [K in keyof Remaining]: Remaining[K] } = {}
  for (const node of chain) {
    for (const dimension of amountDimensions) {
      const limit = node.limits[dimension]
      if (limit === null) continue
      const key = publicDimension(dimension)
      const room = publicFigure(dimension, Math.max(0, limit - node.consumed[dimension] - node.reserved[dimension]))
      const known = remaining[key]
      remaining[key] = known === undefined ? room : Math.min(known, room)
    }
  }
  return remaining
}
