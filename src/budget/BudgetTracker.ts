/**
 * The budget in force: a service that admits, settles and checks every call against a
 * {@link Budget.Budget}, exactly, whatever runs at once.
 *
 * Before a call, {@link Service.reserve} sets aside its estimated input tokens, its output cap
 * (the request's `maxTokens`, or a default cap that is then sent as `maxTokens`) and their cost;
 * a reservation that would pass any limit fails with `LlmError` reason `BudgetExceeded` and
 * nothing is sent. After the call the real usage is committed and the rest released
 * ({@link Service.commit}, {@link Service.release}). {@link Service.withReservation} is the plain
 * primitive (everything released on failure or interruption unless the error carries `spent`);
 * the budget layer (`BudgetLanguageModel`) reserves per attempt and charges an attempt abandoned
 * after it was sent by the budget's {@link ChargeAbandoned} policy.
 *
 * Cost is held in whole nano-USD (`Money`) inside the store, so consumed and reserved amounts
 * are exact; this module's figures ({@link Amounts}, {@link Snapshot}, errors) are in USD.
 *
 * A tracker holds no figures itself: the state of a whole budget tree (the root and every
 * {@link Service.child}) lives in a `BudgetStore`, where a reservation checks and updates the
 * child, its parent and the root in one atomic step: consumption counts toward every level, and
 * a chain A -> B -> C shares the root. A reservation is named by an id in the store, and settling
 * it twice changes nothing. The store is the one in context, else a new memory store per root
 * ({@link make}); a child always lives in its parent's store, until it is closed
 * ({@link Service.close}; {@link withChild}, {@link Service.scopedChild} and {@link delegate} close
 * it when its call ends): it leaves the store then, once nothing of it is open, and what it
 * consumed stays counted in its ancestors. Time comes from `Clock`, so `TestClock` drives deadlines.
 *
 * Estimates are cheap on the hot path: the UTF-8 byte length bounds the BPE tokens of a prompt,
 * and the exact tokenizer runs only when that bound would be refused.
 *
 * @since 0.1.0
 */
import { Cause, Clock, Context, Effect, Exit, HashMap, Layer, type Scope } from "effect"
import type * as CallContext from "../CallContext.ts"
import * as LlmError from "../LlmError.ts"
import type { LlmRequest } from "../LlmRequest.ts"
import * as Money from "../pricing/Money.ts"
import type { Price } from "../pricing/prices.ts"
import type { Usage } from "../Usage.ts"
import * as Budget from "./Budget.ts"
import * as BudgetState from "./BudgetState.ts"
import * as BudgetStore from "./BudgetStore.ts"
import * as Estimate from "./Estimate.ts"
import * as Background from "./internal/background.ts"
import * as Ledger from "./internal/ledger.ts"
import * as LocalStore from "./internal/localStore.ts"
import { logOvershoots, refusalError } from "./internal/refusal.ts"

/**
 * Input tokens, output tokens, total tokens and USD, as reserved or consumed.
 *
 * @since 0.1.0
 * @category models
 */
export interface Amounts {
  readonly inputTokens: number
  readonly outputTokens: number
  readonly totalTokens: number
  /** USD: the store's whole nano-USD as a number. */
  readonly costUsd: number
}

/**
 * A provider reported more than was reserved for its call on a limited dimension (or a
 * cumulative record passed a limit). The truth is recorded and the next reservation is refused.
 *
 * @since 0.1.0
 * @category models
 */
export interface Overshoot {
  readonly dimension: "inputTokens" | "outputTokens" | "totalTokens" | "costUsd"
  readonly reserved: number
  readonly actual: number
  readonly provider: string
  readonly model: string
  readonly atMillis: number
}

/**
 * What an attempt abandoned after it was sent is charged (a timeout, an interruption, a
 * connection lost after the request was written: the provider may bill it whether or not we
 * wait for the answer): `reserved` (the default) its exact input tokens and the output cap it
 * was given; `input` its input tokens only; `none` nothing. Charges are marked `estimated`.
 *
 * @since 0.1.0
 * @category models
 */
export type ChargeAbandoned = Budget.ChargeAbandoned

/**
 * What a reservation is for.
 *
 * @since 0.1.0
 * @category models
 */
export interface Ask {
  readonly request: LlmRequest
  readonly provider: string
  readonly model: string
  /** The model's price; `undefined` when unknown (fails closed under a cost limit, see {@link Options}). */
  readonly price: Price | undefined
}

/**
 * An admitted reservation.
 *
 * @since 0.1.0
 * @category models
 */
export interface Reservation {
  readonly provider: string
  readonly model: string
  readonly amounts: Amounts
  /** The output cap to send as the request's `maxTokens` (`undefined`: no output or cost limit). */
  readonly maxTokens: number | undefined
  /**
   * The default output cap, when the budget lowered it to `maxTokens` (the request set none and
   * the budget could not afford the default); `undefined` otherwise.
   */
  readonly loweredFrom: number | undefined
  /** How the input was estimated: the cheap byte bound, or the exact tokenizer count. */
  readonly estimate: "bound" | "exact"
  /** The earliest deadline of the budget chain (epoch milliseconds), if any. */
  readonly deadlineAt: number | undefined
  /** What the budget allows this call, per limited dimension (its reservation included). */
  readonly remaining: CallContext.Remaining
  /** The reservation's id in the `BudgetStore`: settling it (commit or release) twice changes nothing. */
  readonly id: string
}

/**
 * What a call really used.
 *
 * @since 0.1.0
 * @category models
 */
export interface Actual {
  readonly usage: Usage
  readonly costUsd: number
  /** The cost in whole nano-USD, when known exactly (wins over `costUsd`). */
  readonly costNanos?: Money.Nanos | undefined
  readonly conversationId?: string | undefined
  /** `usage` is the conversation's running total (it replaces the previous figure). */
  readonly cumulative?: boolean | undefined
}

/**
 * The state of one budget (a root or a child) at an instant.
 *
 * @since 0.1.0
 * @category models
 */
export interface Snapshot {
  readonly label: string
  readonly limits: Budget.Budget
  readonly consumed: Amounts
  readonly reserved: Amounts
  /** Per limited dimension, the smallest room left over this budget and its ancestors. */
  readonly remaining: CallContext.Remaining
  /** The earliest deadline of the chain, and the milliseconds left before it. */
  readonly deadline?: { readonly atMillis: number; readonly remainingMs: number } | undefined
  readonly openReservations: number
  /** Consumption per `metadata.conversationId`. */
  readonly conversations: Readonly<Record<string, Amounts>>
  readonly overshoots: ReadonlyArray<Overshoot>
}

/**
 * How the tracker sizes reservations.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The output cap reserved (and sent) when a request sets no `maxTokens`. Default 4096. */
  readonly defaultMaxTokens?: number | undefined
  /** Under a cost limit, a model without a price fails closed (`"fail"`, default) or counts as free. */
  readonly onUnknownPrice?: "fail" | "allow" | undefined
  /** What an attempt abandoned after it was sent is charged (default `"reserved"`). */
  readonly chargeAbandoned?: ChargeAbandoned | undefined
  /** A name shown in errors and snapshots. Default `"root"`. */
  readonly label?: string | undefined
  /**
   * The root's shared name (`budget.id`): in a shared `BudgetStore` (Redis) every process naming
   * it spends one budget; in the memory store it is only a local name.
   */
  readonly id?: string | undefined
  /** `"day"`: a shared named budget starts again every UTC day (the period is in the store's key). */
  readonly window?: "day" | undefined
}

/**
 * A budget tracker: one budget of a tree.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** This budget's id in its `BudgetStore`. */
  readonly id: string
  readonly label: string
  readonly limits: Budget.Budget
  /** The earliest deadline of the chain (epoch milliseconds), if any. */
  readonly deadlineAt: number | undefined
  /** What an attempt abandoned after it was sent is charged. */
  readonly chargeAbandoned: ChargeAbandoned
  /** The output cap reserved (and sent) when a request sets none. */
  readonly defaultMaxTokens: number
  /** Reserves for a call; fails with `BudgetExceeded` (or `Configuration` for an unknown price). */
  readonly reserve: (ask: Ask) => Effect.Effect<Reservation, LlmError.LlmError>
  /** Commits the real usage and releases the rest; returns any overshoot. Settles once. */
  readonly commit: (reservation: Reservation, actual: Actual) => Effect.Effect<ReadonlyArray<Overshoot>>
  /** Releases the whole reservation. Settles once. */
  readonly release: (reservation: Reservation) => Effect.Effect<void>
  /**
   * Reserves, runs `use`, then commits (`actual` of its result) or releases, however it ends. On a
   * store reached over the network (Redis) the commit of a success runs in the background, in the
   * store's scope: `use`'s result is returned without waiting for it (ADR 0030).
   */
  readonly withReservation: <A, E, R>(
    ask: Ask,
    use: (reservation: Reservation) => Effect.Effect<A, E, R>,
    actual: (value: A) => Actual
  ) => Effect.Effect<A, E | LlmError.LlmError, R>
  /** Records a conversation's running total, replacing its previous figure. */
  readonly recordCumulative: (
    conversationId: string,
    usage: Usage,
    options: { readonly costUsd: number; readonly provider: string; readonly model: string }
  ) => Effect.Effect<ReadonlyArray<Overshoot>>
  /**
   * Fails with `BudgetExceeded` if the deadline has passed or a limit was passed. Like
   * {@link Service.snapshot}, it first waits for this process's commits still in flight.
   */
  readonly checkpoint: (label?: string) => Effect.Effect<void, LlmError.LlmError>
  /** Bounds an effect by the deadline: past it, it is interrupted and fails with `BudgetExceeded`. */
  readonly withinDeadline: <A, E, R>(
    effect: Effect.Effect<A, E, R>,
    call?: { readonly provider: string; readonly model: string }
  ) => Effect.Effect<A, E | LlmError.LlmError, R>
  /**
   * A budget inside this one: its consumption also counts here and up to the root. The caller
   * owns its lifetime and calls {@link Service.close} when it is done; {@link Service.scopedChild}
   * and {@link withChild} do that for you (prefer them for per-call and per-request budgets).
   */
  readonly child: (limits: Budget.Input, label?: string) => Effect.Effect<Service, LlmError.LlmError>
  /** A {@link Service.child} closed when the scope it was made in closes. */
  readonly scopedChild: (limits: Budget.Input, label?: string) => Effect.Effect<Service, LlmError.LlmError, Scope.Scope>
  /**
   * Releases this budget in its store: it leaves the store now, or, while a reservation of it (or
   * a child of it) is still open, when the last one settles. What it consumed stays counted in
   * its ancestors. Closing twice changes nothing; the tracker is not used after it.
   */
  readonly close: Effect.Effect<void>
  /** The budget now; on a shared store, after this process's commits still in flight have landed. */
  readonly snapshot: Effect.Effect<Snapshot>
}

/**
 * What a failed call still cost, from its `LlmError.spent` (the first one in the cause).
 *
 * @since 0.1.0
 * @category accessors
 */
export const spentOf = (cause: Cause.Cause<unknown>): Actual | undefined => {
  for (const reason of cause.reasons) {
    if (Cause.isFailReason(reason) && LlmError.isLlmError(reason.error) && reason.error.spent !== undefined) {
      return { usage: reason.error.spent.usage, costUsd: reason.error.spent.costUsd }
    }
  }
  return undefined
}

/**
 * The `BudgetTracker` service: the root budget of a run.
 *
 * @since 0.1.0
 * @category services
 */
export class BudgetTracker extends Context.Service<BudgetTracker, Service>()("llm-connect/BudgetTracker") {}

/**
 * The budget that calls made by the current fiber are charged to, when it is not the
 * `BudgetTracker` of the layer (e.g. a sub-agent running under a child budget).
 *
 * @since 0.1.0
 * @category references
 */
export const CurrentBudget = Context.Reference<Service | undefined>("llm-connect/BudgetTracker/Current", {
  defaultValue: () => undefined
})

/**
 * The default output cap when a request sets no `maxTokens`.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_MAX_TOKENS = 4096

const amountsOf = (usage: Usage, costNanos: number): BudgetState.Amounts => ({
  inputTokens: usage.inputTokens,
  outputTokens: usage.outputTokens,
  totalTokens: usage.totalTokens,
  costNanos
})

const publicAmounts = (amounts: BudgetState.Amounts): Amounts => ({
  inputTokens: amounts.inputTokens,
  outputTokens: amounts.outputTokens,
  totalTokens: amounts.totalTokens,
  costUsd: Money.toUsd(amounts.costNanos)
})

// A reservation as the tracker hands it out; its amounts in USD are computed only when read
// (nothing on the hot path reads them).
class Granted implements Reservation {
  readonly provider: string
  readonly model: string
  readonly maxTokens: number | undefined
  readonly loweredFrom: number | undefined
  readonly estimate: "bound" | "exact"
  readonly deadlineAt: number | undefined
  readonly remaining: CallContext.Remaining
  readonly id: string
  private readonly held: BudgetState.Amounts
  constructor(ask: Ask, outcome: BudgetStore.Granted, estimate: "bound" | "exact", loweredFrom: number | undefined) {
    this.provider = ask.provider
    this.model = ask.model
    this.maxTokens = outcome.maxTokens
    this.loweredFrom = loweredFrom
    this.estimate = estimate
    this.deadlineAt = outcome.deadlineAt
    this.remaining = outcome.remaining
    this.id = outcome.id
    this.held = outcome.amounts
  }
  get amounts(): Amounts {
    return publicAmounts(this.held)
  }
}

const noOvershoots: ReadonlyArray<Overshoot> = []

const publicOvershoots = (overshoots: ReadonlyArray<BudgetState.Overshoot>): ReadonlyArray<Overshoot> =>
  overshoots.length === 0 ? noOvershoots : overshoots.map((overshoot) => ({
    ...overshoot,
    dimension: Ledger.publicDimension(overshoot.dimension),
    reserved: Ledger.publicFigure(overshoot.dimension, overshoot.reserved),
    actual: Ledger.publicFigure(overshoot.dimension, overshoot.actual)
  }))

const resolveDeadline = (deadline: Budget.Deadline | undefined, now: number): number | null =>
  deadline === undefined ? null : deadline._tag === "After" ? now + deadline.millis : deadline.epochMillis

const limitsOf = (budget: Budget.Budget): BudgetState.Limits => ({
  inputTokens: budget.inputTokens ?? null,
  outputTokens: budget.outputTokens ?? null,
  totalTokens: budget.totalTokens ?? null,
  costNanos: budget.costUsd === undefined ? null : Money.fromUsd(budget.costUsd)
})

// A budget id the store does not know: a tracker used after `close`, or an id the store never
// issued (a defect).
const missing = (outcome: BudgetStore.Missing) =>
  Effect.die(new Error(`budget ${outcome.budgetId} is not in the budget store (it was closed, or never created)`))

const nodeService = (
  store: BudgetStore.Service,
  id: string,
  budget: Budget.Budget,
  options: Options
): Effect.Effect<Service> =>
  Effect.flatMap(store.chain(id), (chain): Effect.Effect<Service> => {
    if (chain.length === 0) return missing({ _tag: "Missing", budgetId: id })
    const label = chain[0]!.label
    const earliest = Ledger.deadlineOf(chain)
    const deadlineAt = earliest === undefined ? undefined : earliest.deadlineAt ?? undefined
    const costLimited = chain.some((node) => node.limits.costNanos !== null)
    const defaultMaxTokens = options.defaultMaxTokens ?? DEFAULT_MAX_TOKENS
    const chargeAbandoned = options.chargeAbandoned ?? "reserved"

    const deadlineError = (now: number, provider: string, model?: string) =>
      refusalError(
        { _tag: "Refused", dimension: "deadline", limit: deadlineAt! - earliest!.startedAt, consumed: now - earliest!.startedAt, reserved: 0, requested: 0, label: earliest!.label, overshoot: undefined },
        provider,
        model
      )

    const unknownPrice = (ask: Ask) =>
      Effect.fail(LlmError.make(ask.provider, new LlmError.Configuration({
        description: `no price is known for ${ask.provider}/${ask.model}, so its cost cannot be held to the budget's costUsd limit`,
        setting: `prices.${ask.provider}/${ask.model}`,
        fix: `add "${ask.provider}/${ask.model}": { inputPerMillion, outputPerMillion } under prices in the config file, ` +
          `or set budget.onUnknownPrice: allow to count it as free`
      }), { model: ask.model }))

    const grant = (ask: Ask, outcome: BudgetStore.Granted, estimate: "bound" | "exact"): Reservation =>
      new Granted(
        ask,
        outcome,
        estimate,
        ask.request.maxTokens === undefined && outcome.maxTokens !== undefined && outcome.maxTokens < defaultMaxTokens
          ? defaultMaxTokens
          : undefined
      )

    const granted = (ask: Ask, outcome: BudgetStore.Granted, estimate: "bound" | "exact") =>
      Effect.succeed<Reservation>(grant(ask, outcome, estimate))

    // A store in this process's memory runs its reserve and settle synchronously: one clock read
    // and no effect step of the store's own per transition (see `internal/localStore.ts`).
    const local = LocalStore.localOf(store)

    // What follows a first reservation on its bound: granted, or refused (then asked again on the
    // exact count when that could change the answer).
    const admitted = (
      ask: Ask,
      base: BudgetStore.Ask,
      bound: number,
      outcome: BudgetStore.Granted | BudgetStore.Refused | BudgetStore.Missing
    ): Effect.Effect<Reservation, LlmError.LlmError> => {
      if (outcome._tag === "Granted") return granted(ask, outcome, "bound")
      if (outcome._tag === "Missing") return missing(outcome)
      const estimable = outcome.overshoot === undefined &&
        (outcome.dimension === "inputTokens" || outcome.dimension === "totalTokens" || outcome.dimension === "costUsd")
      const counted = estimable ? Estimate.exact(ask.request, ask.provider) : bound
      if (counted >= bound) return Effect.fail(refusalError(outcome, ask.provider, ask.model))
      return Effect.flatMap(store.reserve(id, { ...base, inputTokens: counted }), (exact) =>
        exact._tag === "Granted"
          ? granted(ask, exact, "exact")
          : exact._tag === "Missing"
          ? missing(exact)
          : Effect.fail(refusalError(exact, ask.provider, ask.model)))
    }

    const baseAsk = (ask: Ask, bound: number, now: number): BudgetStore.Ask => ({
      maxTokens: ask.request.maxTokens,
      defaultMaxTokens,
      price: ask.price,
      provider: ask.provider,
      model: ask.model,
      now,
      inputTokens: bound
    })

    // Plain combinators rather than a generator: this is the hot path of every call (bench/budget.ts).
    const reserve = (ask: Ask): Effect.Effect<Reservation, LlmError.LlmError> => {
      if (ask.price === undefined && costLimited && options.onUnknownPrice !== "allow") return unknownPrice(ask)
      const bound = Estimate.bound(ask.request, ask.provider)
      return Effect.clockWith((clock) => {
        const base = baseAsk(ask, bound, clock.currentTimeMillisUnsafe())
        return local !== undefined
          ? admitted(ask, base, bound, local.reserve(id, base))
          : Effect.flatMap(store.reserve(id, base), (outcome) => admitted(ask, base, bound, outcome))
      })
    }

    const settlement = (actual: Actual, now: number): BudgetStore.Actual => ({
      amounts: amountsOf(actual.usage, actual.costNanos ?? Money.fromUsd(actual.costUsd)),
      conversationId: actual.conversationId,
      cumulative: actual.cumulative,
      now
    })

    const settle = (reservation: Reservation, actual: Actual | undefined) =>
      actual === undefined
        ? store.settle(reservation.id, undefined)
        : Effect.clockWith((clock) => store.settle(reservation.id, settlement(actual, clock.currentTimeMillisUnsafe())))

    const logOvershootsOf = (overshoots: ReadonlyArray<BudgetState.Overshoot>) =>
      overshoots.length === 0 ? Effect.void : logOvershoots(overshoots, label)

    const afterCommit = (overshoots: ReadonlyArray<BudgetState.Overshoot>) =>
      overshoots.length === 0 ? Effect.succeed(noOvershoots) : Effect.as(logOvershoots(overshoots, label), publicOvershoots(overshoots))

    const commit = (reservation: Reservation, actual: Actual) =>
      local !== undefined
        ? Effect.clockWith((clock) => afterCommit(local.settle(reservation.id, settlement(actual, clock.currentTimeMillisUnsafe()))))
        : Effect.flatMap(settle(reservation, actual), afterCommit)

    const release = (reservation: Reservation) =>
      local !== undefined
        ? Effect.sync(() => {
          local.settle(reservation.id, undefined)
        })
        : Effect.asVoid(settle(reservation, undefined))

    // A store reached over the network (Redis) settles an answered call off its path (ADR 0030):
    // the commit starts (its command queued ahead of whatever the caller sends next) in the
    // store's scope, and its overshoots are logged when it lands. Reads wait for it (`settled`).
    const background = Background.of(store)
    const commitLater = background === undefined
      ? undefined
      : (reservation: Reservation, actual: Actual) => background.start(Effect.flatMap(settle(reservation, actual), logOvershootsOf))

    const withReservation = <A, E, R>(
      ask: Ask,
      use: (reservation: Reservation) => Effect.Effect<A, E, R>,
      actual: (value: A) => Actual
    ): Effect.Effect<A, E | LlmError.LlmError, R> =>
      Effect.acquireUseRelease(reserve(ask), use, (reservation, exit) => {
        // One step on the hot path: settle, then log overshoots only when there are some.
        if (Exit.isSuccess(exit)) {
          return commitLater !== undefined
            ? commitLater(reservation, actual(exit.value))
            : Effect.flatMap(settle(reservation, actual(exit.value)), logOvershootsOf)
        }
        // A failed call that still cost something (LlmError.spent) is committed, not released.
        const spent = spentOf(exit.cause)
        return spent === undefined ? release(reservation) : Effect.asVoid(commit(reservation, spent))
      })

    const withinDeadline = <A, E, R>(
      effect: Effect.Effect<A, E, R>,
      call?: { readonly provider: string; readonly model: string }
    ): Effect.Effect<A, E | LlmError.LlmError, R> =>
      deadlineAt === undefined ? effect : Effect.flatMap(Clock.currentTimeMillis, (now) =>
        now >= deadlineAt
          ? Effect.fail(deadlineError(now, call?.provider ?? "budget", call?.model))
          : Effect.timeoutOrElse(effect, {
            duration: deadlineAt - now,
            orElse: () => Effect.flatMap(Clock.currentTimeMillis, (at) => Effect.fail(deadlineError(at, call?.provider ?? "budget", call?.model)))
          }))

    // Plain combinators and no span of its own: an agent loop checks after every model response
    // and every tool call (bench/agent.ts); a refusal names the step on the caller's span.
    const checkpointNow = (step?: string): Effect.Effect<void, LlmError.LlmError> =>
      Effect.clockWith((clock) =>
        Effect.flatMap(store.check(id, clock.currentTimeMillisUnsafe()), (refused) => {
          if (refused === undefined) return Effect.void
          if (refused._tag === "Missing") return missing(refused)
          const error = Effect.fail(refusalError(refused, "budget", undefined))
          return step === undefined ? error : Effect.andThen(Effect.annotateCurrentSpan("budget.checkpoint", step), error)
        })
      )
    // A read in this process includes its own calls: the commits it started in the background first.
    const checkpoint = background === undefined
      ? checkpointNow
      : (step?: string) => Effect.andThen(background.settled, checkpointNow(step))

    const recordCumulative = (
      conversationId: string,
      usage: Usage,
      record: { readonly costUsd: number; readonly provider: string; readonly model: string }
    ) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        store.recordCumulative(id, conversationId, { amounts: amountsOf(usage, Money.fromUsd(record.costUsd)), provider: record.provider, model: record.model, now })).pipe(
          Effect.flatMap((outcome) => ("_tag" in outcome ? missing(outcome) : Effect.as(logOvershootsOf(outcome), publicOvershoots(outcome))))
        )

    const child = Effect.fn("BudgetTracker.child")(function*(limits: Budget.Input, childLabel?: string) {
      const validated = yield* Budget.make(limits)
      const now = yield* Clock.currentTimeMillis
      const childId = yield* store.create({
        parent: id,
        label: childLabel ?? `${label}/child`,
        limits: limitsOf(validated),
        startedAt: now,
        deadlineAt: resolveDeadline(validated.deadline, now)
      })
      if (typeof childId !== "string") return yield* missing(childId)
      // A child whose tracker cannot be built (interrupted, say) leaves the store at once.
      return yield* nodeService(store, childId, validated, options).pipe(Effect.onExit((exit) =>
        Exit.isSuccess(exit) ? Effect.void : Effect.asVoid(store.release(childId))
      ))
    })

    const scopedChild = (limits: Budget.Input, childLabel?: string) =>
      Effect.acquireRelease(child(limits, childLabel), (made) => made.close)

    const close = Effect.asVoid(Effect.suspend(() => store.release(id)))

    const snapshot = Effect.gen(function*() {
      if (background !== undefined) yield* background.settled
      const now = yield* Clock.currentTimeMillis
      const current = yield* store.chain(id)
      const own = current[0]
      if (own === undefined) return yield* missing({ _tag: "Missing", budgetId: id })
      return {
        label,
        limits: budget,
        consumed: publicAmounts(own.consumed),
        reserved: publicAmounts(own.reserved),
        remaining: Ledger.remainingOf(current),
        ...(deadlineAt !== undefined ? { deadline: { atMillis: deadlineAt, remainingMs: Math.max(0, deadlineAt - now) } } : {}),
        openReservations: own.open,
        conversations: Object.fromEntries(HashMap.toEntries(own.conversations).map(([key, amounts]) => [key, publicAmounts(amounts)])),
        overshoots: publicOvershoots(own.overshoots)
      } satisfies Snapshot
    })

    const service: Service = {
      id,
      label,
      limits: budget,
      deadlineAt,
      chargeAbandoned,
      defaultMaxTokens,
      reserve,
      commit,
      release,
      withReservation,
      recordCumulative,
      checkpoint,
      withinDeadline,
      child,
      scopedChild,
      close,
      snapshot
    }
    // A store that works off the call's path (Redis): the budget layer finds this tracker's
    // background commit and the store's lease marker in one lookup per call.
    if (background !== undefined && commitLater !== undefined) {
      Background.registerTracker(service, { commitLater, markSent: background.markSent })
    }
    // On a store in this process's memory, `reserve` and `commit` as plain functions for the budget
    // layer's hot path: the same transitions, without the effect steps around them.
    if (local !== undefined) {
      LocalStore.registerTracker(service, {
        reserveNow: (ask, now) => {
          if (ask.price === undefined && costLimited && options.onUnknownPrice !== "allow") return unknownPrice(ask)
          const bound = Estimate.bound(ask.request, ask.provider)
          const base = baseAsk(ask, bound, now)
          const outcome = local.reserve(id, base)
          return outcome._tag === "Granted" ? grant(ask, outcome, "bound") : admitted(ask, base, bound, outcome)
        },
        commitNow: (reservation, actual, now) => {
          const overshoots = local.settle(reservation.id, settlement(actual, now))
          return overshoots.length === 0 ? undefined : Effect.asVoid(afterCommit(overshoots))
        },
        releaseNow: (reservation) => {
          local.settle(reservation.id, undefined)
        }
      })
    }
    return Effect.succeed(service)
  })

/**
 * Builds the root tracker of a validated budget in the `BudgetStore` in context, else in a new
 * memory store; a duration deadline starts now (by `Clock`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromBudget = (budget: Budget.Budget, options: Options = {}): Effect.Effect<Service, LlmError.LlmError> =>
  Effect.gen(function*() {
    const store = yield* BudgetStore.current
    const now = yield* Clock.currentTimeMillis
    const id = yield* store.create({
      parent: null,
      label: options.label ?? "root",
      limits: limitsOf(budget),
      startedAt: now,
      deadlineAt: resolveDeadline(budget.deadline, now),
      ...(options.id !== undefined ? { name: options.id } : {}),
      ...(options.window !== undefined ? { window: options.window } : {})
    })
    if (typeof id !== "string") return yield* missing(id)
    return yield* nodeService(store, id, budget, options)
  })

/**
 * Validates a budget and builds its root tracker (in the `BudgetStore` in context, else in a new
 * memory store).
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * const tracker = yield* BudgetTracker.make({ totalTokens: 20_000, costUsd: 0.1, deadline: "1m" })
 */
export const make = (limits: Budget.Input, options: Options = {}): Effect.Effect<Service, LlmError.LlmError> =>
  Effect.flatMap(Budget.make(limits), (budget) => fromBudget(budget, options))

/**
 * A Layer providing the root `BudgetTracker` of a budget, kept in the `BudgetStore` in context
 * when the Layer is built, else in a new memory store.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (limits: Budget.Input, options: Options = {}): Layer.Layer<BudgetTracker, LlmError.LlmError> =>
  Layer.effect(BudgetTracker, make(limits, options))

/**
 * A Layer built from the config file's `budget` section.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (config: Budget.BudgetConfig): Layer.Layer<BudgetTracker, LlmError.LlmError> =>
  layer(config, { defaultMaxTokens: config.defaultMaxTokens, onUnknownPrice: config.onUnknownPrice, chargeAbandoned: config.chargeAbandoned })

/**
 * The budget calls are charged to: the current child budget if one is set, else the
 * `BudgetTracker` service.
 *
 * @since 0.1.0
 * @category accessors
 */
export const current: Effect.Effect<Service, never, BudgetTracker> = Effect.gen(function*() {
  const override = yield* CurrentBudget
  return override !== undefined ? override : yield* BudgetTracker
})

/**
 * Runs an effect with its calls charged to `tracker` (and so to its ancestors).
 *
 * @since 0.1.0
 * @category combinators
 */
export const withTracker = (tracker: Service) => <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.provideService(effect, CurrentBudget, tracker)

/**
 * Runs a sub-agent or delegated task under a child budget of the current one: its calls count
 * toward the child, the parent and the root. The child is closed when the effect ends (success,
 * failure or interruption).
 *
 * @since 0.1.0
 * @category combinators
 * @example
 * yield* BudgetTracker.delegate({ totalTokens: 5_000 }, "researcher", LanguageModel.generate("..."))
 */
export const delegate = <A, E, R>(
  limits: Budget.Input,
  label: string,
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, E | LlmError.LlmError, R | BudgetTracker> =>
  Effect.flatMap(current, (parent) => withChild(parent, limits, label, (child) => withTracker(child)(effect)))

/**
 * Runs `use` with a child budget of `parent`, and closes the child when `use` ends (success,
 * failure or interruption): per-call and per-request budgets leave the store with their call,
 * what they consumed staying counted in `parent` and up to the root.
 *
 * @since 0.1.0
 * @category combinators
 * @example
 * yield* BudgetTracker.withChild(tracker, { totalTokens: 2_000 }, "call", (child) =>
 *   BudgetTracker.withTracker(child)(LanguageModel.generate("...")))
 */
export const withChild = <A, E, R>(
  parent: Service,
  limits: Budget.Input,
  label: string,
  use: (child: Service) => Effect.Effect<A, E, R>
): Effect.Effect<A, E | LlmError.LlmError, R> =>
  Effect.acquireUseRelease(parent.child(limits, label), use, (child) => child.close)

/**
 * Fails with `BudgetExceeded` when the current budget's deadline has passed or a limit was
 * passed; call it after every step, tool call and at completion.
 *
 * @since 0.1.0
 * @category accessors
 */
export const checkpoint = (step?: string): Effect.Effect<void, LlmError.LlmError, BudgetTracker> =>
  Effect.flatMap(current, (tracker) => tracker.checkpoint(step))

/**
 * The current budget's snapshot.
 *
 * @since 0.1.0
 * @category accessors
 */
export const snapshot: Effect.Effect<Snapshot, never, BudgetTracker> = Effect.flatMap(current, (tracker) => tracker.snapshot)
