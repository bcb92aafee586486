/**
 * The one layer that holds every provider to the budget: it wraps any `LanguageModel`
 * (built-in or plugin) and, around each call, reserves on the current `BudgetTracker`, sends the
 * reserved output cap as `maxTokens`, bounds the call by the deadline, then commits the real
 * usage and cost (or releases everything on failure or interruption).
 *
 * It sits outside retry and fallback (one reservation per logical call, whatever the attempts)
 * and inside observability (a refused call is still seen). While an admitted call runs, the
 * fiber carries `CallContext.Deadline` and `CallContext.RemainingBudget`, so the retry layer never
 * sleeps past the deadline and Claude Code receives the remaining cost as its own spending cap.
 *
 * It also fills `response.cost` from the price table when the provider reported none; a cost the
 * provider reports itself (`source: "provider"`) wins over the table.
 *
 * @since 0.1.0
 */
import { Clock, Context, Effect, Exit, Layer, type Scope, Stream } from "effect"
import * as CallContext from "../CallContext.ts"
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

const highest = (a: PriceTable.Price, b: PriceTable.Price): PriceTable.Price => ({
  inputPerMillion: Math.max(a.inputPerMillion, b.inputPerMillion),
  outputPerMillion: Math.max(a.outputPerMillion, b.outputPerMillion),
  cachedInputPerMillion: Math.max(a.cachedInputPerMillion ?? a.inputPerMillion, b.cachedInputPerMillion ?? b.inputPerMillion)
})

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
    price = price === undefined ? found : highest(price, found)
  }
  return price
}

/**
 * Fills `response.cost` from the price table when the provider gave none: at the price of the
 * provider/model that really served the call, else at `fallback`.
 *
 * @since 0.1.0
 * @category cost
 */
export const withTableCost = (prices: PriceTable.Service, fallback: PriceTable.Price | undefined) =>
(response: LlmResponse): LlmResponse => {
  if (response.cost !== undefined) return response
  const price = prices.lookup(response.provider, response.model) ?? fallback
  return price === undefined ? response : { ...response, cost: { usd: PriceTable.costOf(price, response.usage), source: "table" } }
}

/**
 * What a response really used, as the tracker commits it. A provider that reports a
 * conversation's running total marks its response with `metadata.cumulativeUsage: true`.
 *
 * @since 0.1.0
 * @category cost
 */
export const actualOf = (request: LlmRequest, response: LlmResponse): BudgetTracker.Actual => ({
  usage: response.usage,
  costUsd: response.cost?.usd ?? 0,
  conversationId: request.metadata?.conversationId,
  cumulative: response.metadata?.["cumulativeUsage"] === true
})

const sending = (request: LlmRequest, reservation: BudgetTracker.Reservation): LlmRequest =>
  reservation.maxTokens === undefined || reservation.maxTokens === request.maxTokens
    ? request
    : { ...request, maxTokens: reservation.maxTokens }

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
 * passes through untouched: so a stack can always carry this layer, and a budget set on the
 * fiber later (a workflow run) is enforced inside observability.
 *
 * A stream is reserved before it opens, like a call; its finish part commits the real usage. A
 * stream that ends without one (the consumer stopped, or it failed part-way) is charged what it
 * already streamed ({@link streamedSoFar}); one that failed before any part is released (or
 * charged its error's `spent`).
 *
 * @since 0.1.0
 * @category combinators
 */
export const wrap = (tracker: BudgetTracker.Service | undefined, prices: PriceTable.Service = PriceTable.make()) =>
(inner: LanguageModel.Service): LanguageModel.Service => {
  const prepareWith = (target: BudgetTracker.Service, request: LlmRequest) => {
    const model = request.model ?? inner.defaultModel
    const price = reservePrice(prices, inner, model)
    const ask: BudgetTracker.Ask = { request, provider: inner.provider, model, price }
    return { target, price, ask }
  }

  const costed = (price: PriceTable.Price | undefined) => withTableCost(prices, price)
  // The call context of an admitted call, both services in one step.
  const callContext = (reservation: BudgetTracker.Reservation) => (context: Context.Context<never>) =>
    Context.add(Context.add(context, CallContext.Deadline, reservation.deadlineAt), CallContext.RemainingBudget, reservation.remaining)

  // Plain combinators and a synchronous `prepare`: this is the hot path of every call (bench/budget.ts).
  const generate = (request: LlmRequest, next: LanguageModel.Service["generate"]): Effect.Effect<LlmResponse, LlmError.LlmError> =>
    Effect.withFiber((fiber) => {
      const current = fiber.getRef(BudgetTracker.CurrentBudget) ?? tracker
      if (current === undefined) return next(request)
      const { ask, price, target } = prepareWith(current, request)
      return target.withReservation(
        ask,
        (reservation) =>
          Effect.map(
            Effect.updateContext(target.withinDeadline(next(sending(request, reservation)), ask), callContext(reservation)),
            costed(price)
          ),
        (response) => actualOf(request, response)
      )
    })

  const stream = (request: LlmRequest, next: LanguageModel.Service["stream"]): Stream.Stream<StreamPart.StreamPart, LlmError.LlmError> =>
    Stream.unwrap(Effect.withFiber((fiber): Effect.Effect<Stream.Stream<StreamPart.StreamPart, LlmError.LlmError>, LlmError.LlmError, Scope.Scope> => {
      const current = fiber.getRef(BudgetTracker.CurrentBudget) ?? tracker
      if (current === undefined) return Effect.succeed(next(request))
      const { ask, price, target } = prepareWith(current, request)
      let streamed: string | undefined
      // Settled when the stream ends however it ends; a no-op once the finish part committed.
      const settleEarly = (reservation: BudgetTracker.Reservation, exit: Exit.Exit<unknown, unknown>) => {
        const spent = Exit.isFailure(exit) ? BudgetTracker.spentOf(exit.cause) : undefined
        if (spent !== undefined) return Effect.asVoid(target.commit(reservation, spent))
        return streamed === undefined
          ? target.release(reservation)
          : Effect.asVoid(target.commit(reservation, streamedSoFar(request, inner.provider, streamed, price)))
      }
      return Effect.map(Effect.acquireRelease(target.reserve(ask), settleEarly), (reservation) =>
        next(sending(request, reservation)).pipe(
          Stream.mapEffect((part): Effect.Effect<StreamPart.StreamPart> => {
            if (part.type === "text-delta") streamed = (streamed ?? "") + part.text
            else if (part.type === "tool-call-delta") streamed = (streamed ?? "") + (part.name ?? "") + part.argumentsDelta
            else if (part.type === "finish") {
              const response = costed(price)(part.response)
              return Effect.as(target.commit(reservation, actualOf(request, response)), { ...part, response })
            }
            return Effect.succeed(part)
          }),
          Stream.interruptWhen(deadlineWatch(target)),
          Stream.provideService(CallContext.Deadline, reservation.deadlineAt),
          Stream.provideService(CallContext.RemainingBudget, reservation.remaining)
        ))
    }))

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
  readonly prices?: PriceTable.PricesConfig | undefined
}

/**
 * A self-contained wrapping Layer (its own root tracker) built from config; what `Stack` adds
 * when the config has a budget. An invalid budget fails the layer with `Configuration`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (config: Config): Layer.Layer<LanguageModel.LanguageModel, LlmError.LlmError, LanguageModel.LanguageModel> =>
  LanguageModel.layerWrap((inner) =>
    Effect.map(
      BudgetTracker.make(config.budget, {
        defaultMaxTokens: config.defaultMaxTokens ?? ("defaultMaxTokens" in config.budget ? config.budget.defaultMaxTokens : undefined),
        onUnknownPrice: config.onUnknownPrice ?? ("onUnknownPrice" in config.budget ? config.budget.onUnknownPrice : undefined)
      }),
      (tracker) => wrap(tracker, PriceTable.make(config.prices ?? {}))(inner)
    )
  )
