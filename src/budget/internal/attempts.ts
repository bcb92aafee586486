/**
 * The attempts of one logical call held to a budget: the `CallContext.AttemptBudget` that the
 * budget layer puts on the fiber for the layer that starts attempts (retry), and the rules that
 * settle each attempt.
 *
 * The call's reservation (made by the budget layer before anything is sent) covers its first
 * attempt; every later attempt (a retry, another fallback candidate) reserves anew before it is
 * sent, with what the earlier attempts were charged already taken out. An attempt is settled as
 * it ends:
 *
 * | how it ended | charged |
 * | --- | --- |
 * | an answer | its usage, priced from the model asked for (the answering one when dearer) |
 * | an error with `spent` (e.g. Claude Code paid before failing) | what it reports |
 * | not sent: marked `sent: false`, or it never reached the provider | nothing |
 * | answered with an error status, or an error raised before sending | nothing |
 * | abandoned after it was sent: interruption, timeout, connection lost, unreadable answer | the budget's `chargeAbandoned` policy, `estimated` |
 *
 * A stream that ends before its finish part is charged max(what it streamed, the policy).
 * When no layer below starts attempts (a budget right above a provider), the call is its one
 * attempt and is settled the same way when it ends. What every attempt was charged is summed
 * into the fiber's `CallContext.CallTotals`, for the call's one ledger row.
 *
 * @since 0.1.0
 */
import { Cause, type Clock, Context, Effect, Exit, Stream } from "effect"
import * as CallContext from "../../CallContext.ts"
import * as LlmError from "../../LlmError.ts"
import type { LlmRequest } from "../../LlmRequest.ts"
import type { LlmResponse } from "../../LlmResponse.ts"
import * as Money from "../../pricing/Money.ts"
import * as PriceTable from "../../pricing/PriceTable.ts"
import type { Price } from "../../pricing/prices.ts"
import type * as StreamPart from "../../StreamPart.ts"
import * as Streams from "../../internal/streams.ts"
import * as Tokenizer from "../../Tokenizer.ts"
import * as Usage from "../../Usage.ts"
import type * as BudgetTracker from "../BudgetTracker.ts"
import * as Estimate from "../Estimate.ts"
import * as Background from "./background.ts"
import { actualOf, costResponse, loweredText } from "./costing.ts"
import * as LocalStore from "./localStore.ts"

/** Logs that the budget lowered the output cap of an attempt. @internal */
export const logLowered = (reservation: BudgetTracker.Reservation): Effect.Effect<void> =>
  Effect.logWarning(loweredText(reservation)).pipe(
    Effect.annotateLogs({
      provider: reservation.provider,
      model: reservation.model,
      maxTokens: reservation.maxTokens,
      defaultMaxTokens: reservation.loweredFrom
    })
  )

/** The first `LlmError` a cause failed with (none for an interruption or a defect). @internal */
export const errorOf = (cause: Cause.Cause<unknown>): LlmError.LlmError | undefined => {
  for (const reason of cause.reasons) {
    if (Cause.isFailReason(reason) && LlmError.isLlmError(reason.error)) return reason.error
  }
  return undefined
}

// Reasons whose outcome at the provider is unknown: the request may have been billed.
const unknownOutcome = (error: LlmError.LlmError): boolean => {
  const tag = error.reason._tag
  return tag === "Timeout" || tag === "Network" || tag === "ResponseMalformed"
}

/** The request with the output cap of a reservation. @internal */
export const withCap = (request: LlmRequest, reservation: BudgetTracker.Reservation): LlmRequest =>
  reservation.maxTokens === undefined || reservation.maxTokens === request.maxTokens
    ? request
    : { ...request, maxTokens: reservation.maxTokens }

const withMaxTokens = (request: LlmRequest, maxTokens: number | undefined): LlmRequest => {
  if (maxTokens !== undefined) return { ...request, maxTokens }
  const { maxTokens: _sent, ...rest } = request
  return rest
}

// What one streamed attempt has done so far; `after`: what its finish part's commit left to run
// (the overshoots to log, on a memory store), run when the stream closes.
interface Streaming {
  request: LlmRequest
  text: string | undefined
  finished: boolean
  after: Effect.Effect<void> | undefined
}

// (a class instance, not an object literal: it lives as long as the stream; see `Streams.HookSet`)
class StreamingState implements Streaming {
  request: LlmRequest
  text: string | undefined = undefined
  finished = false
  after: Effect.Effect<void> | undefined = undefined
  constructor(request: LlmRequest) {
    this.request = request
  }
}

const newStreaming = (request: LlmRequest): Streaming => new StreamingState(request)

/**
 * One call's attempts under a budget (see the module description).
 *
 * @internal
 */
export class Call implements CallContext.AttemptBudget {
  readonly tracker: BudgetTracker.Service
  readonly prices: PriceTable.Service
  /** The request as the caller gave it (its own `maxTokens`, or none). */
  readonly request: LlmRequest
  /** What the caller asked for: the provider and model of the call's own attempt. */
  readonly target: CallContext.AttemptTarget
  /** The price the call was reserved at (the dearest candidate's). */
  readonly price: Price | undefined
  /** The call's own reservation, made before anything was sent. */
  readonly reservation: BudgetTracker.Reservation
  /** The call's reservation, until an attempt takes it. */
  private first: BudgetTracker.Reservation | undefined
  /** Whether the attempt in flight reached the provider (as far as is known). */
  private sent = true
  private lastError: LlmError.LlmError | undefined = undefined
  private answered = false
  private attempts = 0
  private abandoned = 0
  // Every attempt's charge, summed.
  private chargedAttempts = 0
  private inputTokens = 0
  private outputTokens = 0
  private nanos = 0
  private estimated = false
  private unpriced = false
  // The call's own stream, when no attempt below took its reservation.
  private streaming: Streaming | undefined = undefined

  // The tracker's plain commit and release and the clock to time them by, when it has them (a
  // memory store).
  private readonly commitNow: LocalStore.TrackerOps["commitNow"] | undefined
  private readonly releaseNow: LocalStore.TrackerOps["releaseNow"] | undefined
  private readonly clock: Clock.Clock | undefined
  // The tracker's background commit, when its store is reached over the network (ADR 0030).
  private readonly commitLater: Background.CommitLater | undefined

  constructor(
    tracker: BudgetTracker.Service,
    prices: PriceTable.Service,
    request: LlmRequest,
    target: CallContext.AttemptTarget,
    price: Price | undefined,
    first: BudgetTracker.Reservation,
    clock?: Clock.Clock
  ) {
    this.tracker = tracker
    this.prices = prices
    this.request = request
    this.target = target
    this.price = price
    this.reservation = first
    this.first = first
    this.clock = clock
    const ops = clock === undefined ? undefined : LocalStore.trackerOps(tracker)
    this.commitNow = ops?.commitNow
    this.releaseNow = ops?.releaseNow
    // One lookup, and none on a memory store (given a clock): what its store does off the path.
    const background = clock === undefined ? Background.trackerOf(tracker) : undefined
    this.commitLater = background?.commitLater
    this.leaseMarker = background?.markSent
  }

  markSent(): void {
    this.sent = true
    if (this.leaseMarker !== undefined && this.inFlight !== undefined) this.leaseMarker(this.inFlight)
  }

  // A store that keeps leases (Redis): its marker (started in the store's scope, not waited for),
  // and the reservation of the attempt in flight.
  private readonly leaseMarker: ((reservationId: string) => void) | undefined
  private inFlight: string | undefined = undefined
  private leaseSent(held: BudgetTracker.Reservation, marked: boolean): void {
    if (this.leaseMarker === undefined) return
    this.inFlight = held.id
    if (!marked) this.leaseMarker(held.id)
  }

  // The first attempt while it runs on the call's reservation without a region of its own (see
  // `attempt`): its request and target, for the call's handler when the attempt's are not run.
  private firstSending: LlmRequest | undefined = undefined
  private firstTarget: CallContext.AttemptTarget | undefined = undefined
  // What a settlement left to run (overshoots to log) when the step that runs it may be dropped:
  // run by that step, else by the call's handler.
  private pendingLog: Effect.Effect<void> | undefined = undefined

  attempt(
    request: LlmRequest,
    target: CallContext.AttemptTarget,
    send: (request: LlmRequest) => Effect.Effect<LlmResponse, LlmError.LlmError>,
    marked: boolean
  ): Effect.Effect<LlmResponse, LlmError.LlmError> {
    // On a memory store, the first attempt runs on the call's reservation inside the call's own
    // region (ADR 0058): no region of its own, the reservation left with the call until the
    // attempt's handlers settle it.
    if (this.first !== undefined && this.releaseNow !== undefined && this.firstSending === undefined) {
      return this.runFirst(this.first, request, target, send, marked)
    }
    return Effect.uninterruptibleMask((restore) => {
      const first = this.first
      if (first !== undefined && this.firstSending === undefined) {
        this.first = undefined
        return this.run(first, false, request, target, send, marked, restore)
      }
      return Effect.flatMap(this.reserveNext(request, target), (held) => this.run(held, true, request, target, send, marked, restore))
    })
  }

  attemptStream(
    request: LlmRequest,
    target: CallContext.AttemptTarget,
    send: (request: LlmRequest) => Stream.Stream<StreamPart.StreamPart, LlmError.LlmError>,
    marked: boolean
  ): Stream.Stream<StreamPart.StreamPart, LlmError.LlmError> {
    const state = newStreaming(request)
    // The attempt's parts, once it holds a reservation (`own`: a reservation of its own, not the
    // call's).
    const partsOf = (held: BudgetTracker.Reservation, own: boolean, context: Context.Context<never>) => {
      this.attempts += 1
      this.sent = !marked
      this.leaseSent(held, marked)
      state.request = withCap(request, held)
      // Each chunk's parts synchronously; the finish part committed in its step on a memory store
      // (else the commit is the one effect: see `settleAnswer`).
      const parts = Streams.mapChunksStage(
        send(state.request),
        (chunk) => Streams.mapChunkNow(chunk, (part) => this.attemptPart(part, held, target, state)),
        own ? Context.add(context, CallContext.RemainingBudget, held.remaining) : undefined
      )
      return !own || held.loweredFrom === undefined ? parts : Stream.concat(Stream.fromEffectDrain(logLowered(held)), Streams.fromStage(parts))
    }
    // Its settlement added to the stream's scope first, settled in the context the stream started
    // in; then the reservation taken: the call's, in the next step (a stream stopped between the
    // two holds nothing; once taken, the settlement sees it), else one of its own, reserved
    // uninterruptibly. The parts a chunk at a time in one stage.
    return Streams.fromScope((scope, fiber) => {
      const context = fiber.context
      let held: BudgetTracker.Reservation | undefined
      const added = Streams.addFinalizerNow(
        scope,
        (exit) =>
          held === undefined
            ? undefined
            : state.finished
            ? state.after === undefined ? undefined : Effect.updateContext(state.after, () => context)
            : Effect.updateContext(this.settleStream(held, target, state, exit), () => context)
      )
      const take = () => {
        const first = this.first
        if (first !== undefined) {
          this.first = undefined
          held = first
          return partsOf(first, false, context)
        }
        return Effect.uninterruptible(Effect.map(this.reserveNext(request, target), (reserved) => {
          held = reserved
          return partsOf(reserved, true, context)
        }))
      }
      // Joined with a finalizer of the layers' in this step (then taken in this step too), else
      // added in a step of its own first.
      if (added === undefined) return take()
      return Effect.flatMap(added, () => {
        const taken = take()
        return Effect.isEffect(taken) ? taken : Effect.succeed(taken)
      })
    })
  }

  /**
   * Settles the call when it succeeded: when no attempt took the call's reservation, the call
   * was its one attempt; then the totals are reported.
   */
  succeeded(response: LlmResponse, totals: CallContext.CallTotals | undefined): Effect.Effect<LlmResponse> {
    const first = this.first
    if (first === undefined) {
      this.reportAnswer(totals, response)
      return this.pendingLog === undefined ? Effect.succeed(response) : Effect.as(this.takePendingLog(), response)
    }
    this.first = undefined
    const sending = this.firstSending
    if (sending === undefined) this.attempts += 1
    return Effect.map(this.settleSuccess(first, this.firstTarget ?? this.target, sending ?? this.request, response), (costed) => {
      this.reportAnswer(totals, costed)
      return costed
    })
  }

  /**
   * Settles the call when it failed (see {@link succeeded}); a first attempt that ran on the call's
   * reservation and was interrupted (its handlers are not run then) is settled here, by what it recorded.
   */
  failed(cause: Cause.Cause<LlmError.LlmError>, totals: CallContext.CallTotals | undefined): Effect.Effect<void> {
    const first = this.first
    if (first === undefined) {
      this.report(totals, true)
      return this.pendingLog === undefined ? Effect.void : this.takePendingLog()
    }
    this.first = undefined
    const sending = this.firstSending
    if (sending === undefined) this.attempts += 1
    return Effect.map(this.settleFailure(first, this.firstTarget ?? this.target, sending ?? this.request, cause, undefined), () => this.report(totals, true))
  }

  /**
   * A part of the call's own stream: passed on when an attempt below took the reservation. The
   * finish part reports the totals before it goes on (the layer above writes its ledger row as it
   * sees the finish part, before this stream's scope closes).
   */
  outerPart(part: StreamPart.StreamPart, totals?: CallContext.CallTotals | undefined): StreamPart.StreamPart | Effect.Effect<StreamPart.StreamPart> {
    const first = this.first
    if (first === undefined) {
      if (part.type === "finish") this.report(totals)
      return part
    }
    const state = this.streaming ??= newStreaming(this.request)
    if (part.type !== "finish") return track(state, part)
    this.first = undefined
    this.attempts += 1
    state.finished = true
    // (on a memory store, what the commit leaves to run is run by `streamEnded`)
    const settled = this.settleAnswer(first, this.target, this.request, part.response, state)
    if (!Effect.isEffect(settled)) {
      this.report(totals)
      return settled === part.response ? part : { ...part, response: settled }
    }
    return Effect.map(settled, (response) => {
      this.report(totals)
      return { ...part, response }
    })
  }

  /**
   * The call's own stream, its parts passed through {@link outerPart} a chunk at a time (one
   * step per chunk, the chunks kept as they came; only a finish part takes an effect).
   */
  outerStream(
    parts: Stream.Stream<StreamPart.StreamPart, LlmError.LlmError>,
    totals: CallContext.CallTotals | undefined,
    context?: Context.Context<never> | undefined
  ): Stream.Stream<StreamPart.StreamPart, LlmError.LlmError> {
    return Streams.fromStage(this.outerStage(parts, totals, context))
  }

  /** {@link outerStream} as a stage, for the budget layer's start to return (one stage for both). */
  outerStage(
    parts: Stream.Stream<StreamPart.StreamPart, LlmError.LlmError>,
    totals: CallContext.CallTotals | undefined,
    context?: Context.Context<never> | undefined
  ): Streams.Stage<StreamPart.StreamPart, LlmError.LlmError> {
    // Once an attempt below took the call's reservation as the stream opened (the retry layer's
    // first attempt), every part passes through as it is, synchronously; when none did (no layer
    // below starts attempts), the call's own stream, its finish part settled as its one attempt
    // (in its step on a memory store). See `outerPart`.
    return Streams.mapChunksStage(
      parts,
      (chunk) => Streams.mapChunkNow(chunk, (part) => this.outerPart(part, totals)),
      context
    )
  }

  /**
   * Settles the call's own stream when it ends (see {@link succeeded}); after its finish part, runs
   * what that part's commit left to run (on a memory store: see `settleAnswer`).
   */
  streamEnded(exit: Exit.Exit<unknown, unknown>, totals: CallContext.CallTotals | undefined): Effect.Effect<void> {
    const first = this.first
    if (first === undefined) {
      this.report(totals)
      return this.streaming?.after ?? Effect.void
    }
    this.first = undefined
    this.attempts += 1
    const state = this.streaming ?? newStreaming(this.request)
    return Effect.map(this.settleStream(first, this.target, state, exit), () => this.report(totals))
  }

  // The first attempt on a memory store, on the call's reservation: its handlers settle it in their
  // own step (the store's plain commit and release), interruptible. An interruption skips them; the
  // reservation is then still the call's, and the call's handler (in the call's uninterruptible
  // region) settles it as this attempt, by what it recorded here.
  private runFirst(
    first: BudgetTracker.Reservation,
    request: LlmRequest,
    target: CallContext.AttemptTarget,
    send: (request: LlmRequest) => Effect.Effect<LlmResponse, LlmError.LlmError>,
    marked: boolean
  ): Effect.Effect<LlmResponse, LlmError.LlmError> {
    this.attempts += 1
    this.sent = !marked
    const sending = withCap(request, first)
    this.firstSending = sending
    this.firstTarget = target
    return Effect.matchCauseEffect(send(sending), {
      onFailure: (cause) => this.firstFailed(first, target, sending, cause),
      onSuccess: (response) => this.firstAnswered(first, target, sending, response)
    })
  }

  private firstAnswered(
    held: BudgetTracker.Reservation,
    target: CallContext.AttemptTarget,
    request: LlmRequest,
    response: LlmResponse
  ): Effect.Effect<LlmResponse> {
    // (settled already by the call's handler: only when the attempt ran in a fiber of its own)
    if (this.first !== held) return Effect.succeed(response)
    this.first = undefined
    // `settleAnswer` on a memory store, its overshoots' log kept for the call's handler until run
    const costed = costResponse(this.prices, this.price, response, target, held)
    const actual = actualOf(request, costed)
    this.answered = true
    this.add(costed.usage, actual.costNanos!, costed.priced === false)
    const logged = this.commitNow!(held, actual, this.clock!.currentTimeMillisUnsafe())
    return logged === undefined ? Effect.succeed(costed) : Effect.as(this.logPending(logged), costed)
  }

  private firstFailed(
    held: BudgetTracker.Reservation,
    target: CallContext.AttemptTarget,
    request: LlmRequest,
    cause: Cause.Cause<LlmError.LlmError>
  ): Effect.Effect<never, LlmError.LlmError> {
    if (this.first !== held) return Effect.failCause(cause)
    this.first = undefined
    const logged = this.settleFailureNow(held, target, request, cause)
    return logged === undefined ? Effect.failCause(cause) : Effect.andThen(this.logPending(logged), Effect.failCause(cause))
  }

  // `settleFailure` on a memory store: settled in this step; what is left to run (overshoots to log).
  private settleFailureNow(
    held: BudgetTracker.Reservation,
    target: CallContext.AttemptTarget,
    request: LlmRequest,
    cause: Cause.Cause<unknown>
  ): Effect.Effect<void> | undefined {
    const error = errorOf(cause)
    if (error !== undefined) this.lastError = error
    const now = this.clock!.currentTimeMillisUnsafe()
    const spent = error?.spent
    if (spent !== undefined) {
      const costNanos = Money.fromUsd(spent.costUsd)
      this.add(spent.usage, costNanos, false)
      return this.commitNow!(held, { usage: spent.usage, costUsd: spent.costUsd, costNanos }, now)
    }
    const charged = this.chargeOf(held, target, request, this.abandonedBy(error), undefined)
    if (charged !== undefined) return this.commitNow!(held, charged, now)
    this.releaseNow!(held)
    return undefined
  }

  // Runs `logged` in the next step (uninterruptible); if that step is dropped (an interruption at
  // its boundary), the call's handler runs it.
  private logPending(logged: Effect.Effect<void>): Effect.Effect<void> {
    this.pendingLog = logged
    return Effect.uninterruptible(Effect.suspend(() => this.takePendingLog()))
  }

  private takePendingLog(): Effect.Effect<void> {
    const logged = this.pendingLog
    this.pendingLog = undefined
    return logged ?? Effect.void
  }

  private run(
    held: BudgetTracker.Reservation,
    own: boolean,
    request: LlmRequest,
    target: CallContext.AttemptTarget,
    send: (request: LlmRequest) => Effect.Effect<LlmResponse, LlmError.LlmError>,
    marked: boolean,
    restore: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  ): Effect.Effect<LlmResponse, LlmError.LlmError> {
    this.attempts += 1
    this.sent = !marked
    this.leaseSent(held, marked)
    const sending = withCap(request, held)
    let call = send(sending)
    if (own) {
      call = Effect.provideService(call, CallContext.RemainingBudget, held.remaining)
      if (held.loweredFrom !== undefined) call = Effect.andThen(logLowered(held), call)
    }
    return Effect.matchCauseEffect(restore(call), {
      onFailure: (cause) => Effect.andThen(this.settleFailure(held, target, sending, cause, undefined), Effect.failCause(cause)),
      onSuccess: (response) => this.settleSuccess(held, target, sending, response)
    })
  }

  // A later attempt's own reservation, asked as the caller asked (its maxTokens, or the default
  // lowered to what is left); refused: BudgetExceeded, the previous attempt's error as its cause.
  private reserveNext(request: LlmRequest, target: CallContext.AttemptTarget): Effect.Effect<BudgetTracker.Reservation, LlmError.LlmError> {
    const ask: BudgetTracker.Ask = {
      request: request.maxTokens === this.request.maxTokens ? request : withMaxTokens(request, this.request.maxTokens),
      provider: target.provider,
      model: target.model,
      price: this.prices.lookup(target.provider, target.model)
    }
    return Effect.mapError(this.tracker.reserve(ask), (error) => this.refusedRetry(error))
  }

  private refusedRetry(error: LlmError.LlmError): LlmError.LlmError {
    const last = this.lastError
    if (last === undefined || error.reason._tag !== "BudgetExceeded") return error
    const reason = error.reason
    const refused = LlmError.make(
      error.provider,
      new LlmError.BudgetExceeded({
        description: `${reason.description}; so attempt ${this.attempts + 1} was not sent (attempt ${this.attempts} failed: ${last.message})`,
        dimension: reason.dimension,
        limit: reason.limit,
        consumed: reason.consumed,
        reserved: reason.reserved,
        requested: reason.requested
      }),
      { model: error.model }
    )
    // The standard `Error.cause`: the error that made the call try again.
    Object.defineProperty(refused, "cause", { value: last, enumerable: false, writable: true, configurable: true })
    return refused
  }

  private settleSuccess(
    held: BudgetTracker.Reservation,
    target: CallContext.AttemptTarget,
    request: LlmRequest,
    response: LlmResponse
  ): Effect.Effect<LlmResponse> {
    const settled = this.settleAnswer(held, target, request, response, undefined)
    return Effect.isEffect(settled) ? settled : Effect.succeed(settled)
  }

  // An attempt's answer (`generate`'s, a stream's finish part) costed, counted and committed; the
  // store is the only thing that differs. A memory store commits in this step (its plain commit,
  // by the clock): for a stream (`streaming` given), what the commit leaves to run (overshoots to
  // log) is kept for the stream's close and the answer given back as it is; for `generate`, it
  // runs before the answer. A network store commits off the answer's path (ADR 0030); any other
  // store, before it.
  private settleAnswer(
    held: BudgetTracker.Reservation,
    target: CallContext.AttemptTarget,
    request: LlmRequest,
    response: LlmResponse,
    streaming: Streaming | undefined
  ): LlmResponse | Effect.Effect<LlmResponse> {
    const costed = costResponse(this.prices, this.price, response, target, held)
    const actual = actualOf(request, costed)
    this.answered = true
    this.add(costed.usage, actual.costNanos!, costed.priced === false)
    if (this.commitNow !== undefined) {
      const logged = this.commitNow(held, actual, this.clock!.currentTimeMillisUnsafe())
      if (streaming !== undefined) {
        streaming.after = logged
        return costed
      }
      return logged === undefined ? costed : Effect.as(logged, costed)
    }
    if (this.commitLater !== undefined) return Effect.as(this.commitLater(held, actual), costed)
    return Effect.as(this.tracker.commit(held, actual), costed)
  }

  private settleFailure(
    held: BudgetTracker.Reservation,
    target: CallContext.AttemptTarget,
    request: LlmRequest,
    cause: Cause.Cause<unknown>,
    streamed: string | undefined
  ): Effect.Effect<void> {
    const error = errorOf(cause)
    if (error !== undefined) this.lastError = error
    const spent = error?.spent
    if (spent !== undefined) {
      const costNanos = Money.fromUsd(spent.costUsd)
      this.add(spent.usage, costNanos, false)
      return Effect.asVoid(this.tracker.commit(held, { usage: spent.usage, costUsd: spent.costUsd, costNanos }))
    }
    return this.charge(held, target, request, this.abandonedBy(error), streamed)
  }

  private settleStream(
    held: BudgetTracker.Reservation,
    target: CallContext.AttemptTarget,
    state: Streaming,
    exit: Exit.Exit<unknown, unknown>
  ): Effect.Effect<void> {
    // Ended without a finish part: failed, or stopped by its consumer (the provider may still be
    // generating: an outcome we cannot know).
    if (Exit.isFailure(exit)) return this.settleFailure(held, target, state.request, exit.cause, state.text)
    return this.charge(held, target, state.request, this.sent, state.text)
  }

  // Whether a failed attempt was abandoned after it was sent (its outcome at the provider unknown).
  private abandonedBy(error: LlmError.LlmError | undefined): boolean {
    if (!this.sent) return false
    if (error === undefined) return true
    if (error.sent === false || error.status !== undefined) return false
    return unknownOutcome(error)
  }

  // Commits what an attempt that gave no answer is charged: when abandoned, the policy (input
  // tokens, plus the output cap it was given for `reserved`), and at least what it streamed;
  // releases it when that is nothing.
  private charge(
    held: BudgetTracker.Reservation,
    target: CallContext.AttemptTarget,
    request: LlmRequest,
    abandoned: boolean,
    streamed: string | undefined
  ): Effect.Effect<void> {
    const charged = this.chargeOf(held, target, request, abandoned, streamed)
    return charged === undefined ? this.tracker.release(held) : Effect.asVoid(this.tracker.commit(held, charged))
  }

  // What `charge` commits, counted; `undefined`: released.
  private chargeOf(
    held: BudgetTracker.Reservation,
    target: CallContext.AttemptTarget,
    request: LlmRequest,
    abandoned: boolean,
    streamed: string | undefined
  ): BudgetTracker.Actual | undefined {
    if (abandoned) this.abandoned += 1
    const policy = this.tracker.chargeAbandoned
    const byPolicy = abandoned && policy !== "none"
    if (!byPolicy && streamed === undefined) return undefined
    const output = Math.max(
      streamed === undefined ? 0 : Tokenizer.countText(streamed),
      byPolicy && policy === "reserved" ? held.maxTokens ?? 0 : 0
    )
    const usage = Usage.make({ inputTokens: Estimate.exact(request, target.provider), outputTokens: output, estimated: true })
    const price = this.prices.lookup(target.provider, target.model) ?? this.price
    const costNanos = price === undefined ? Money.zero : PriceTable.nanosOf(price, usage)
    this.add(usage, costNanos, price === undefined)
    return { usage, costUsd: Money.toUsd(costNanos), costNanos }
  }

  // A part of an attempt's stream: its text tracked; the finish part costed and committed
  // (`settleAnswer`: synchronously on a memory store, else with the commit's effect).
  private attemptPart(
    part: StreamPart.StreamPart,
    held: BudgetTracker.Reservation,
    target: CallContext.AttemptTarget,
    state: Streaming
  ): StreamPart.StreamPart | Effect.Effect<StreamPart.StreamPart> {
    if (part.type !== "finish") return track(state, part)
    state.finished = true
    const settled = this.settleAnswer(held, target, state.request, part.response, state)
    if (Effect.isEffect(settled)) return Effect.map(settled, (response) => ({ ...part, response }))
    return settled === part.response ? part : { ...part, response: settled }
  }

  private add(usage: Usage.Usage, costNanos: number, unpriced: boolean): void {
    this.chargedAttempts += 1
    this.inputTokens += usage.inputTokens
    this.outputTokens += usage.outputTokens
    this.nanos += costNanos
    if (usage.estimated === true) this.estimated = true
    if (unpriced && usage.totalTokens > 0) this.unpriced = true
  }

  // `report` for a call that answered with `answer` (costed): when that answer is all it was charged,
  // its own usage and cost too, so that the call's ledger row has them even if the call is
  // interrupted on its way back to the layer that writes it (the same figures it would read from
  // the answer).
  private reportAnswer(totals: CallContext.CallTotals | undefined, answer: LlmResponse): void {
    this.report(totals)
    if (totals === undefined || !this.answered || this.chargedAttempts !== 1) return
    totals.usage = answer.usage
    totals.costUsd = answer.cost?.usd
    totals.priced = answer.priced !== false
  }

  // Fills the fiber's totals record: the attempts, and what they were charged together when that
  // is not simply the answer's own usage and cost (one attempt charged, and it answered, and the
  // call returns that answer: a call that failed after its attempt answered, interrupted say,
  // has no answer for its ledger row to read the charge from).
  private report(totals: CallContext.CallTotals | undefined, failed = false): void {
    if (totals === undefined) return
    totals.attempts = this.attempts
    totals.abandonedAttempts = this.abandoned
    if (this.chargedAttempts === 0 || (this.answered && this.chargedAttempts === 1 && !failed)) return
    totals.usage = Usage.make({ inputTokens: this.inputTokens, outputTokens: this.outputTokens, estimated: this.estimated })
    totals.costUsd = this.unpriced && this.nanos === 0 ? undefined : Money.toUsd(this.nanos)
    totals.priced = !this.unpriced
  }
}

const track = (state: Streaming, part: StreamPart.StreamPart): StreamPart.StreamPart => {
  if (part.type === "text-delta") state.text = (state.text ?? "") + part.text
  else if (part.type === "tool-call-delta") state.text = (state.text ?? "") + (part.name ?? "") + part.argumentsDelta
  return part
}
