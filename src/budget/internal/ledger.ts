/**
 * The pure accounting behind `BudgetTracker`: one immutable state per budget tree (the root and
 * every child), and the functions that admit, settle and check reservations on it.
 *
 * Every function here is pure and total; `BudgetTracker` runs each inside one `Ref.modify`, so a
 * reservation checks and updates every node of its chain (child -> ... -> root) atomically.
 *
 * @since 0.1.0
 */
import type { BudgetDimension } from "../../LlmError.ts"
import type { Price } from "../../pricing/prices.ts"

/** @internal */
export type AmountDimension = "inputTokens" | "outputTokens" | "totalTokens" | "costUsd"

/** @internal */
export const amountDimensions: ReadonlyArray<AmountDimension> = ["inputTokens", "outputTokens", "totalTokens", "costUsd"]

/** @internal */
export interface Amounts {
  readonly inputTokens: number
  readonly outputTokens: number
  readonly totalTokens: number
  readonly costUsd: number
}

/** @internal */
export const zero: Amounts = { inputTokens: 0, outputTokens: 0, totalTokens: 0, costUsd: 0 }

/** @internal */
export type Limits = { readonly [K in AmountDimension]?: number | undefined }

/** Float slack for USD comparisons: a billionth of a dollar. */
const COST_EPSILON = 1e-9

const slack = (dimension: AmountDimension): number => (dimension === "costUsd" ? COST_EPSILON : 0)

/** @internal */
export interface Overshoot {
  readonly dimension: AmountDimension
  readonly reserved: number
  readonly actual: number
  readonly provider: string
  readonly model: string
  readonly atMillis: number
}

/** @internal */
export interface Node {
  readonly id: number
  readonly parent: number | undefined
  readonly label: string
  readonly limits: Limits
  readonly startedAt: number
  readonly deadlineAt: number | undefined
  readonly consumed: Amounts
  readonly reserved: Amounts
  readonly open: number
  readonly conversations: ReadonlyMap<string, Amounts>
  readonly overshoots: ReadonlyArray<Overshoot>
  readonly pending: Overshoot | undefined
}

/** @internal */
export interface State {
  readonly nodes: ReadonlyArray<Node>
}

/** @internal */
export const addNode = (
  state: State,
  parent: number | undefined,
  label: string,
  limits: Limits,
  startedAt: number,
  deadlineAt: number | undefined
): readonly [number, State] => {
  const id = state.nodes.length
  const node: Node = {
    id,
    parent,
    label,
    limits,
    startedAt,
    deadlineAt,
    consumed: zero,
    reserved: zero,
    open: 0,
    conversations: new Map(),
    overshoots: [],
    pending: undefined
  }
  return [id, { nodes: [...state.nodes, node] }]
}

/** @internal */
export const chainOf = (state: State, id: number): Array<Node> => {
  const chain: Array<Node> = []
  let current: number | undefined = id
  while (current !== undefined) {
    const node: Node = state.nodes[current]!
    chain.push(node)
    current = node.parent
  }
  return chain
}

const plus = (a: Amounts, b: Amounts): Amounts => ({
  inputTokens: a.inputTokens + b.inputTokens,
  outputTokens: a.outputTokens + b.outputTokens,
  totalTokens: a.totalTokens + b.totalTokens,
  costUsd: a.costUsd + b.costUsd
})

const minus = (a: Amounts, b: Amounts): Amounts => ({
  inputTokens: a.inputTokens - b.inputTokens,
  outputTokens: a.outputTokens - b.outputTokens,
  totalTokens: a.totalTokens - b.totalTokens,
  costUsd: a.costUsd - b.costUsd
})

const replaceChain = (state: State, chain: ReadonlyArray<Node>, update: (node: Node) => Node): State => {
  const nodes = state.nodes.slice()
  for (const node of chain) nodes[node.id] = update(node)
  return { nodes }
}

/** Whether any node of the chain limits a dimension. */
const limitedIn = (chain: ReadonlyArray<Node>, dimension: AmountDimension): boolean =>
  chain.some((node) => node.limits[dimension] !== undefined)

/** @internal */
export interface Ask {
  readonly inputTokens: number
  /** The request's own `maxTokens`, honoured as asked. */
  readonly maxTokens: number | undefined
  /** The cap used when the request sets none (lowered to what the budget can still afford). */
  readonly defaultMaxTokens: number
  readonly price: Price | undefined
  readonly now: number
}

/** @internal */
export interface Granted {
  readonly _tag: "Granted"
  readonly amounts: Amounts
  readonly maxTokens: number | undefined
  readonly remaining: Partial<Record<AmountDimension, number>>
  readonly deadlineAt: number | undefined
}

/** @internal */
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

/** The earliest deadline of a chain. */
export const deadlineOf = (chain: ReadonlyArray<Node>): Node | undefined => {
  let earliest: Node | undefined
  for (const node of chain) {
    if (node.deadlineAt !== undefined && (earliest === undefined || node.deadlineAt < earliest.deadlineAt!)) earliest = node
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
  const capped = limitedIn(chain, "outputTokens") || limitedIn(chain, "totalTokens") || limitedIn(chain, "costUsd")
  if (!capped) return undefined
  let cap = ask.defaultMaxTokens
  for (const node of chain) {
    const { consumed, limits, reserved } = node
    if (limits.outputTokens !== undefined) cap = Math.min(cap, limits.outputTokens - consumed.outputTokens - reserved.outputTokens)
    if (limits.totalTokens !== undefined) {
      cap = Math.min(cap, limits.totalTokens - consumed.totalTokens - reserved.totalTokens - ask.inputTokens)
    }
    if (limits.costUsd !== undefined && ask.price !== undefined && ask.price.outputPerMillion > 0) {
      const left = limits.costUsd - consumed.costUsd - reserved.costUsd - (ask.inputTokens * ask.price.inputPerMillion) / 1_000_000
      cap = Math.min(cap, Math.floor((left * 1_000_000) / ask.price.outputPerMillion))
    }
  }
  // A cap below one token cannot be sent; the limit check below then refuses on the right dimension.
  return Math.max(1, Math.floor(cap))
}

/**
 * Admits a reservation on node `id`, or refuses it on the first dimension it would pass. A
 * refusal caused by a provider's earlier overshoot clears that overshoot's flag.
 *
 * @internal
 */
export const reserve = (state: State, id: number, ask: Ask): readonly [Granted | Refused, State] => {
  const chain = chainOf(state, id)
  const earliest = deadlineOf(chain)
  if (earliest !== undefined && ask.now >= earliest.deadlineAt!) return [deadlineRefusal(earliest, ask.now), state]
  const maxTokens = outputCap(chain, ask)
  const output = maxTokens ?? 0
  const amounts: Amounts = {
    inputTokens: ask.inputTokens,
    outputTokens: output,
    totalTokens: ask.inputTokens + output,
    costUsd: ask.price === undefined
      ? 0
      : (ask.inputTokens * ask.price.inputPerMillion + output * ask.price.outputPerMillion) / 1_000_000
  }
  for (const node of chain) {
    if (node.pending !== undefined) {
      const dimension = node.pending.dimension
      const refusal: Refused = {
        _tag: "Refused",
        dimension,
        limit: node.limits[dimension] ?? 0,
        consumed: node.consumed[dimension],
        reserved: node.reserved[dimension],
        requested: amounts[dimension],
        label: node.label,
        overshoot: node.pending
      }
      return [refusal, replaceChain(state, chain, (n) => (n.pending === undefined ? n : { ...n, pending: undefined }))]
    }
  }
  const remaining: Partial<Record<AmountDimension, number>> = {}
  for (const node of chain) {
    for (const dimension of amountDimensions) {
      const limit = node.limits[dimension]
      if (limit === undefined) continue
      const used = node.consumed[dimension] + node.reserved[dimension]
      if (used + amounts[dimension] > limit + slack(dimension)) {
        const refusal: Refused = {
          _tag: "Refused",
          dimension,
          limit,
          consumed: node.consumed[dimension],
          reserved: node.reserved[dimension],
          requested: amounts[dimension],
          label: node.label,
          overshoot: undefined
        }
        return [refusal, state]
      }
      const left = limit - used
      const known = remaining[dimension]
      remaining[dimension] = known === undefined ? left : Math.min(known, left)
    }
  }
  const next = replaceChain(state, chain, (node) => ({ ...node, reserved: plus(node.reserved, amounts), open: node.open + 1 }))
  return [{ _tag: "Granted", amounts, maxTokens, remaining, deadlineAt: earliest?.deadlineAt }, next]
}

/** @internal */
export interface Actual {
  readonly amounts: Amounts
  readonly conversationId?: string | undefined
  /** The usage is the conversation's running total (replaces its previous figure). */
  readonly cumulative?: boolean | undefined
  readonly provider: string
  readonly model: string
  readonly now: number
}

const overshootsOf = (
  chain: ReadonlyArray<Node>,
  reserved: Amounts,
  spent: Amounts,
  actual: Actual
): Array<Overshoot> => {
  const found: Array<Overshoot> = []
  for (const dimension of amountDimensions) {
    if (limitedIn(chain, dimension) && spent[dimension] > reserved[dimension] + slack(dimension)) {
      found.push({
        dimension,
        reserved: reserved[dimension],
        actual: spent[dimension],
        provider: actual.provider,
        model: actual.model,
        atMillis: actual.now
      })
    }
  }
  return found
}

/**
 * Settles a reservation: releases what it held and, when the call succeeded, commits what it
 * really used. Returns the overshoots found (usage above the reservation on a limited
 * dimension); each flags the chain so that its next reservation is refused.
 *
 * @internal
 */
export const settle = (
  state: State,
  id: number,
  reserved: Amounts,
  actual: Actual | undefined
): readonly [ReadonlyArray<Overshoot>, State] => {
  const chain = chainOf(state, id)
  if (actual === undefined) {
    return [[], replaceChain(state, chain, (node) => ({ ...node, reserved: minus(node.reserved, reserved), open: node.open - 1 }))]
  }
  const own = chain[0]!
  const previous = actual.conversationId === undefined ? undefined : own.conversations.get(actual.conversationId)
  const spent = actual.cumulative === true && previous !== undefined ? minus(actual.amounts, previous) : actual.amounts
  const overshoots = overshootsOf(chain, reserved, spent, actual)
  const next = replaceChain(state, chain, (node) => {
    let conversations = node.conversations
    if (node === own && actual.conversationId !== undefined) {
      conversations = new Map(conversations).set(
        actual.conversationId,
        actual.cumulative === true || previous === undefined ? actual.amounts : plus(previous, actual.amounts)
      )
    }
    return {
      ...node,
      consumed: plus(node.consumed, spent),
      reserved: minus(node.reserved, reserved),
      open: node.open - 1,
      conversations,
      ...(overshoots.length > 0 ? { overshoots: [...node.overshoots, ...overshoots], pending: overshoots[0] } : {})
    }
  })
  return [overshoots, next]
}

/**
 * Records a conversation's running total on node `id`, replacing its previous figure; the
 * difference counts toward every node of the chain. Passing a limit this way is an overshoot.
 *
 * @internal
 */
export const recordCumulative = (
  state: State,
  id: number,
  conversationId: string,
  actual: Actual
): readonly [ReadonlyArray<Overshoot>, State] => {
  const chain = chainOf(state, id)
  const own = chain[0]!
  const spent = minus(actual.amounts, own.conversations.get(conversationId) ?? zero)
  const overshoots: Array<Overshoot> = []
  for (const node of chain) {
    for (const dimension of amountDimensions) {
      const limit = node.limits[dimension]
      if (
        limit !== undefined && spent[dimension] > 0 &&
        node.consumed[dimension] + spent[dimension] > limit + slack(dimension) &&
        !overshoots.some((o) => o.dimension === dimension)
      ) {
        overshoots.push({ dimension, reserved: 0, actual: spent[dimension], provider: actual.provider, model: actual.model, atMillis: actual.now })
      }
    }
  }
  const next = replaceChain(state, chain, (node) => ({
    ...node,
    consumed: plus(node.consumed, spent),
    conversations: node === own ? new Map(node.conversations).set(conversationId, actual.amounts) : node.conversations,
    ...(overshoots.length > 0 ? { overshoots: [...node.overshoots, ...overshoots], pending: overshoots[0] } : {})
  }))
  return [overshoots, next]
}

/**
 * Checks node `id` at a checkpoint: refused when a deadline of the chain has passed or when a
 * limit has already been passed (by a provider's overshoot).
 *
 * @internal
 */
export const check = (state: State, id: number, now: number): Refused | undefined => {
  const chain = chainOf(state, id)
  const earliest = deadlineOf(chain)
  if (earliest !== undefined && now >= earliest.deadlineAt!) return deadlineRefusal(earliest, now)
  for (const node of chain) {
    for (const dimension of amountDimensions) {
      const limit = node.limits[dimension]
      if (limit !== undefined && node.consumed[dimension] > limit + slack(dimension)) {
        return {
          _tag: "Refused",
          dimension,
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
 * What is left on each limited dimension for node `id`: the smallest room over its chain.
 *
 * @internal
 */
export const remainingOf = (chain: ReadonlyArray<Node>): Partial<Record<AmountDimension, number>> => {
  const remaining: Partial<Record<AmountDimension, number>> = {}
  for (const node of chain) {
    for (const dimension of amountDimensions) {
      const limit = node.limits[dimension]
      if (limit === undefined) continue
      const left = Math.max(0, limit - node.consumed[dimension] - node.reserved[dimension])
      const known = remaining[dimension]
      remaining[dimension] = known === undefined ? left : Math.min(known, left)
    }
  }
  return remaining
}
