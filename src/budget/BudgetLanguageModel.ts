/**
 * The one layer that holds every provider to the budget: it wraps any `LanguageModel`
 * (built-in or plugin) and, around each call, reserves on the current `BudgetTracker`, sends the
 * reserved output cap as `maxTokens`, bounds the call by the deadline, and settles every attempt
 * of the call by how it ended.
 *
 * It sits outside retry and fallback and inside observability (a refused call is still seen).
 * It reserves once per logical call, before anything is sent, and refuses there; that
 * reservation covers the first attempt, and the fiber carries the call's
 * `CallContext.AttemptBudget` so that the retry layer reserves anew before each further attempt
 * (a retry, another fallback candidate) and settles each attempt as it ends: an answer commits
 * its usage, a failure that reports `spent` commits that, an attempt known not to have been sent
 * (or answered with an error status) is released, and one abandoned after it was sent (timeout,
 * interruption, connection lost) is charged by the budget's `chargeAbandoned` policy (see
 * `internal/attempts.ts`). The fiber also carries `CallContext.Deadline` and
 * `CallContext.RemainingBudget` (per attempt: what earlier attempts were charged is taken out), so
 * the retry layer never sleeps past the deadline and Claude Code receives the remaining cost as
 * its own spending cap.
 *
 * It also fills `response.cost` (with or without a budget): a cost the provider reports itself
 * (`source: "provider"`) wins; otherwise the price table's, in whole nano-USD, at the price of the
 * model asked for or of the model the provider named, whichever is dearer (`requestedModel` then
 * says which was asked for); with no price, `priced: false`, never a cost of 0. When the budget
 * lowered the default output cap, it says so in a warning log line and in `response.warnings`.
 *
 * @since 0.1.0
 */
import { Clock, Context, Effect, Fiber, Layer, Stream } from "effect"
import * as CallContext from "../CallContext.ts"
import * as CallContexts from "../internal/callContexts.ts"
import * as Streams from "../internal/streams.ts"
import * as LanguageModel from "../LanguageModel.ts"
import type * as LlmError from "../LlmError.ts"
import type { LlmRequest } from "../LlmRequest.ts"
import type { LlmResponse } from "../LlmResponse.ts"
import * as PriceTable from "../pricing/PriceTable.ts"
import type * as StreamPart from "../StreamPart.ts"
import * as Tokenizer from "../Tokenizer.ts"
import * as Usage from "../Usage.ts"
import type * as Budget from "./Budget.ts"
import * as BudgetTracker from "./BudgetTracker.ts"
import * as Estimate from "./Estimate.ts"
import * as Attempts from "./internal/attempts.ts"
import * as Costing from "./internal/costing.ts"
import * as LocalStore from "./internal/localStore.ts"

/**
 * The price a call is reserved at: the model's, or the highest among a fallback chain's
 * candidates (`undefined` when any of them has no price).
 *
 * @since 0.1.0
 * @category cost
 */
export const reservePrice = (
  prices: PriceTable.Service,
  inner: LanguageModel.Service,
  model: string
): PriceTable.Price | undefined => {
  const candidates = inner.candidates
  if (candidates === undefined || candidates.length === 0) return prices.lookup(inner.provider, model)
  let price: PriceTable.Price | undefined
  for (const candidate of candidates) {
    const found = prices.lookup(candidate.provider, candidate.model)
    if (found === undefined) return undefined
    price = price === undefined ? found : PriceTable.highest(price, found)
  }
  return price
}

/**
 * Fills `response.cost` from the price table when the provider gave none: at the dearer of the
 * price of `asked` (the provider and model the call asked for, when that provider answered) and
 * the price of the model the response names, else at `fallback`; `priced: false` when no price
 * is known. `requestedModel` is set when the response names another model than `asked`.
 *
 * @since 0.1.0
 * @category cost
 */
export const withTableCost = (
  prices: PriceTable.Service,
  fallback: PriceTable.Price | undefined,
  asked?: CallContext.AttemptTarget | undefined
) =>
(response: LlmResponse): LlmResponse =>
  Costing.costResponse(prices, fallback, response, asked ?? { provider: response.provider, model: response.model }, undefined)

/**
 * What a response really used, as the tracker commits it. A provider that reports a
 * conversation's running total marks its response with `metadata.cumulativeUsage: true`.
 *
 * @since 0.1.0
 * @category cost
 */
export const actualOf = (request: LlmRequest, response: LlmResponse): BudgetTracker.Actual => Costing.actualOf(request, response)

const deadlineWatch = (target: BudgetTracker.Service): Effect.Effect<void, LlmError.LlmError> =>
  target.deadlineAt === undefined
    ? Effect.never
    : Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Effect.andThen(Effect.sleep(Math.max(0, target.deadlineAt! - now)), target.checkpoint("deadline")))

/**
 * What a stream that ended before its finish part has already cost: the request's input and the
 * output streamed so far, counted with the tokenizer (marked `estimated`), at the price reserved.
 *
 * @since 0.1.0
 * @category cost
 */
export const streamedSoFar = (
  request: LlmRequest,
  provider: string,
  streamed: string,
  price: PriceTable.Price | undefined
): BudgetTracker.Actual => {
  const usage = Usage.make({
    inputTokens: Estimate.exact(request, provider),
    outputTokens: Tokenizer.countText(streamed),
    estimated: true
  })
  return {
    usage,
    costUsd: price === undefined ? 0 : PriceTable.costOf(price, usage),
    conversationId: request.metadata?.conversationId
  }
}

/**
 * Wraps a model so that every call is held to the fiber's `BudgetTracker.CurrentBudget` when one
 * is set (a sub-agent's or a workflow run's budget), else to `tracker`. With neither, a call
 * passes through, its response costed: so a stack can always carry this layer, and a budget set
 * on the fiber later (a workflow run) is enforced inside observability.
 *
 * A stream is reserved before it opens, like a call; its finish part commits the real usage. A
 * stream that ends without one (the consumer stopped, or it failed part-way) is charged what it
 * already streamed, or by the `chargeAbandoned` policy when that is more and its outcome is
 * unknown; one that failed before any part is settled like a failed call.
 *
 * @since 0.1.0
 * @category combinators
 */
export const wrap = (tracker: BudgetTracker.Service | undefined, prices: PriceTable.Service = PriceTable.make()) =>
(inner: LanguageModel.Service): LanguageModel.Service => {
  const defaultTarget: CallContext.AttemptTarget = { provider: inner.provider, model: inner.defaultModel }
  const targetOf = (request: LlmRequest): CallContext.AttemptTarget =>
    request.model === undefined || request.model === inner.defaultModel ? defaultTarget : { provider: inner.provider, model: request.model }

  // The call context of an admitted call or stream, its three services in one step (the deadline
  // only when it differs from the one already there, e.g. none under a budget without a deadline),
  // on a context of the call's own: no effect overlay record per service, which V8 pretenured, and
  // no copy of the caller's services (see `internal/callContexts.ts`, ADRs 0047 and 0049).
  const callContext = (reservation: BudgetTracker.Reservation, call: Attempts.Call) => (context: Context.Context<never>) =>
    callContextCopy(reservation, call, context)

  const callContextCopy = (reservation: BudgetTracker.Reservation, call: Attempts.Call, context: Context.Context<never>) => {
    const deadline = reservation.deadlineAt
    return CallContexts.withServices(
      context,
      CallContext.RemainingBudget,
      reservation.remaining,
      CallContext.AttemptBudget,
      call,
      Context.get(context, CallContext.Deadline) === deadline ? undefined : CallContext.Deadline,
      deadline
    )
  }

  // Plain combinators and synchronous preparation: this is the hot path of every call (bench/budget.ts).
  // A call held to `current`, in its admitting step: uninterruptible (`restore` gives the call back
  // its interruptibility), so the reservation and the handlers that settle it are made together.
  // (plain functions of the layer, given what they need: on a memory store the admitting step
  // makes no closure or closure context but its two handlers, stop 29)
  const admitted = (
    fiber: Fiber.Fiber<unknown, unknown>,
    current: BudgetTracker.Service,
    request: LlmRequest,
    next: LanguageModel.Service["generate"],
    restore: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>,
    target: CallContext.AttemptTarget,
    price: PriceTable.Price | undefined,
    ask: BudgetTracker.Ask,
    reservation: BudgetTracker.Reservation,
    clock: Clock.Clock | undefined
  ): Effect.Effect<LlmResponse, LlmError.LlmError> => {
    const totals = fiber.getRef(CallContext.CurrentTotals)
    const call = new Attempts.Call(current, prices, request, target, price, reservation, clock)
    let body = current.withinDeadline(next(Attempts.withCap(request, reservation)), ask)
    if (reservation.loweredFrom !== undefined) body = Effect.andThen(Attempts.logLowered(reservation), body)
    // The call context set in this step and the caller's put back first thing in either handler
    // (what `Effect.updateContext` does, without its own step: this step is uninterruptible,
    // so nothing can end the call between the two).
    const outer = fiber.context
    fiber.setContext(callContextCopy(reservation, call, outer))
    return Effect.matchCauseEffect(restore(body), {
      onFailure: (cause) => {
        fiber.setContext(outer)
        return Effect.andThen(call.failed(cause, totals), Effect.failCause(cause))
      },
      onSuccess: (response) => {
        fiber.setContext(outer)
        return call.succeeded(response, totals)
      }
    })
  }
  // (a store that reserves in an effect: admitted once it has)
  const admitLater = (
    fiber: Fiber.Fiber<unknown, unknown>,
    current: BudgetTracker.Service,
    request: LlmRequest,
    next: LanguageModel.Service["generate"],
    restore: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>,
    target: CallContext.AttemptTarget,
    price: PriceTable.Price | undefined,
    ask: BudgetTracker.Ask,
    reserved: Effect.Effect<BudgetTracker.Reservation, LlmError.LlmError>,
    clock: Clock.Clock | undefined
  ): Effect.Effect<LlmResponse, LlmError.LlmError> =>
    Effect.flatMap(reserved, (reservation) => admitted(fiber, current, request, next, restore, target, price, ask, reservation, clock))
  const admit = (
    fiber: Fiber.Fiber<unknown, unknown>,
    current: BudgetTracker.Service,
    request: LlmRequest,
    next: LanguageModel.Service["generate"],
    restore: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  ): Effect.Effect<LlmResponse, LlmError.LlmError> => {
    const target = targetOf(request)
    const price = reservePrice(prices, inner, target.model)
    const ask: BudgetTracker.Ask = { request, provider: target.provider, model: target.model, price }
    // A tracker on a memory store reserves in this step, by the fiber's clock.
    const ops = LocalStore.trackerOps(current)
    if (ops !== undefined) {
      const clock = fiber.getRef(Clock.Clock)
      const reserved = ops.reserveNow(ask, clock.currentTimeMillisUnsafe())
      return Effect.isEffect(reserved)
        ? admitLater(fiber, current, request, next, restore, target, price, ask, reserved, clock)
        : admitted(fiber, current, request, next, restore, target, price, ask, reserved, clock)
    }
    return admitLater(fiber, current, request, next, restore, target, price, ask, current.reserve(ask), undefined)
  }

  // A call held to the fiber's budget, else to `tracker`, else passed through (costed).
  const generateAny = (request: LlmRequest, next: LanguageModel.Service["generate"]): Effect.Effect<LlmResponse, LlmError.LlmError> =>
    Effect.withFiber((fiber) => {
      const current = fiber.getRef(BudgetTracker.CurrentBudget) ?? tracker
      if (current === undefined) {
        const target = targetOf(request)
        return Effect.map(next(request), (response) => Costing.costResponse(prices, undefined, response, target, undefined))
      }
      return Effect.uninterruptibleMask((restore) => admit(fiber, current, request, next, restore))
    })

  // With a tracker of its own, every call is held to a budget: the mask's step is the call's first
  // (no `withFiber` step before it), its fiber the one running it.
  const generate = tracker === undefined ? generateAny : (request: LlmRequest, next: LanguageModel.Service["generate"]): Effect.Effect<LlmResponse, LlmError.LlmError> =>
    Effect.uninterruptibleMask((restore) => {
      const fiber = Fiber.getCurrent()
      if (fiber === undefined) return restore(generateAny(request, next))
      return admit(fiber, fiber.getRef(BudgetTracker.CurrentBudget) ?? tracker, request, next, restore)
    })

  // A stream's parts as the layer's start gives them: a stream, or one stage over the stream below.
  type Parts = Stream.Stream<StreamPart.StreamPart, LlmError.LlmError> | Streams.Stage<StreamPart.StreamPart, LlmError.LlmError>
  const stream = (request: LlmRequest, next: LanguageModel.Service["stream"]): Stream.Stream<StreamPart.StreamPart, LlmError.LlmError> =>
    Streams.fromScope((scope, fiber): Parts | Effect.Effect<Parts, LlmError.LlmError> => {
      const current = fiber.getRef(BudgetTracker.CurrentBudget) ?? tracker
      const target = targetOf(request)
      if (current === undefined) {
        return Streams.mapParts(next(request), (part): StreamPart.StreamPart =>
          part.type === "finish" ? { ...part, response: Costing.costResponse(prices, undefined, part.response, target, undefined) } : part
        )
      }
      const price = reservePrice(prices, inner, target.model)
      const ask: BudgetTracker.Ask = { request, provider: target.provider, model: target.model, price }
      const totals = fiber.getRef(CallContext.CurrentTotals)
      const context = fiber.context
      // The call's parts, once it is admitted.
      const partsOf = (call: Attempts.Call): Parts => {
        const reservation = call.reservation
        // The call's parts a chunk at a time, in the call context made once (each pull switches to
        // it: `provideService` copies the context per pull, per service), in one stage.
        const within = callContext(reservation, call)(context)
        const sent = next(Attempts.withCap(request, reservation))
        // Only a budget with a deadline watches it: `interruptWhen` hands each part over at a rendezvous.
        // (The common case, no deadline and nothing to log first: this stage and the parts' one are one.)
        if (current.deadlineAt === undefined && reservation.loweredFrom === undefined) return call.outerStage(sent, totals, within)
        const parts = current.deadlineAt === undefined
          ? call.outerStream(sent, totals, within)
          : Streams.inContext(Stream.interruptWhen(call.outerStream(sent, totals), deadlineWatch(current)), within)
        return reservation.loweredFrom === undefined ? parts : Stream.concat(Stream.fromEffectDrain(Attempts.logLowered(reservation)), parts)
      }
      // A tracker on a memory store reserves and commits the finish part in the steps that see
      // them, by the fiber's clock (as `generate` does). Its settlement is added to the stream's
      // scope first and the reservation made in the next step (a stream stopped between the two
      // has nothing reserved, one stopped later is settled), so that no uninterruptible region is
      // needed when the reservation is granted at once, the usual case.
      const ops = LocalStore.trackerOps(current)
      if (ops !== undefined) {
        let admittedCall: Attempts.Call | undefined
        const admit = (reservation: BudgetTracker.Reservation, clock: Clock.Clock): Parts => {
          admittedCall = new Attempts.Call(current, prices, request, target, price, reservation, clock)
          return partsOf(admittedCall)
        }
        // (nothing to run, the usual case for a stream that finished: no context switch to run it)
        const ended: Streams.Finalizer = (exit) => {
          if (admittedCall === undefined) return undefined
          const settled = admittedCall.streamEnded(exit, totals)
          return settled === Effect.void ? undefined : Effect.updateContext(settled, () => context)
        }
        const reserve = (): Parts | Effect.Effect<Parts, LlmError.LlmError> => {
          const clock = fiber.getRef(Clock.Clock)
          const reserved = ops.reserveNow(ask, clock.currentTimeMillisUnsafe())
          return Effect.isEffect(reserved) ? Effect.uninterruptible(Effect.map(reserved, (reservation) => admit(reservation, clock))) : admit(reserved, clock)
        }
        // Joined with the layer's above in this step (then reserved in this step too: nothing can
        // stop the stream between the two), else added in a step of its own first.
        const added = Streams.addFinalizerNow(scope, ended)
        if (added === undefined) return reserve()
        return Effect.flatMap(added, (): Effect.Effect<Parts, LlmError.LlmError> => {
          const made = reserve()
          return Effect.isEffect(made) ? made : Effect.succeed(made)
        })
      }
      // Any other store: reserved and its settlement added to the stream's scope in one
      // uninterruptible step (as `Effect.acquireRelease`), settled in the context the stream started in.
      return Effect.uninterruptible(Effect.flatMap(current.reserve(ask), (reservation): Effect.Effect<Parts> => {
        const call = new Attempts.Call(current, prices, request, target, price, reservation)
        const added = Streams.addFinalizerNow(scope, (exit) => Effect.updateContext(call.streamEnded(exit, totals), () => context))
        return added === undefined ? Effect.succeed(partsOf(call)) : Effect.as(added, partsOf(call))
      }))
    })

  return LanguageModel.wrap(inner, { generate, stream })
}

/**
 * A Layer that wraps the `LanguageModel` below it with the `BudgetTracker` and the
 * `PriceTable` in context.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<LanguageModel.LanguageModel, never, LanguageModel.LanguageModel | BudgetTracker.BudgetTracker> =
  LanguageModel.layerWrap((inner) =>
    Effect.gen(function*() {
      const tracker = yield* BudgetTracker.BudgetTracker
      const prices = yield* PriceTable.PriceTable
      return wrap(tracker, prices)(inner)
    })
  )

/**
 * A Layer that holds the model below it to the fiber's `BudgetTracker.CurrentBudget` whenever
 * one is set, and otherwise passes calls through: what `Stack` adds when the config has no
 * budget, so that a budget set later on the fiber (a workflow run, a sub-agent) is still enforced
 * inside observability.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerCurrent = (
  prices: PriceTable.Service = PriceTable.make()
): Layer.Layer<LanguageModel.LanguageModel, never, LanguageModel.LanguageModel> =>
  LanguageModel.layerWrap((inner) => Effect.succeed(wrap(undefined, prices)(inner)))

/**
 * The budget section and price overrides of the config file, as the stack takes them.
 *
 * @since 0.1.0
 * @category models
 */
export interface Config {
  readonly budget: Budget.BudgetConfig | Budget.Input
  readonly defaultMaxTokens?: number | undefined
  readonly onUnknownPrice?: "fail" | "allow" | undefined
  readonly chargeAbandoned?: Budget.ChargeAbandoned | undefined
  readonly prices?: PriceTable.PricesConfig | undefined
}

/**
 * The tracker options of a {@link Config}: its own settings, else those of its `budget` section.
 *
 * @since 0.1.0
 * @category config
 */
export const trackerOptions = (config: Config): BudgetTracker.Options => ({
  defaultMaxTokens: config.defaultMaxTokens ?? ("defaultMaxTokens" in config.budget ? config.budget.defaultMaxTokens : undefined),
  onUnknownPrice: config.onUnknownPrice ?? ("onUnknownPrice" in config.budget ? config.budget.onUnknownPrice : undefined),
  chargeAbandoned: config.chargeAbandoned ?? ("chargeAbandoned" in config.budget ? config.budget.chargeAbandoned : undefined)
})

/**
 * A self-contained wrapping Layer (its own root tracker) built from config; what `Stack` adds
 * when the config has a budget. An invalid budget fails the layer with `Configuration`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (config: Config): Layer.Layer<LanguageModel.LanguageModel, LlmError.LlmError, LanguageModel.LanguageModel> =>
  LanguageModel.layerWrap((inner) =>
    Effect.map(BudgetTracker.make(config.budget, trackerOptions(config)), (tracker) => wrap(tracker, PriceTable.make(config.prices ?? {}))(inner))
  )
