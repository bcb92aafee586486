/**
 * The observability layer: one wrapping layer, outermost in the stack, that makes every call
 * visible.
 *
 * For each call it
 * - gives the call a correlation id (the request's, the workflow step's, or a new one) and
 *   passes it down in the request's metadata;
 * - annotates every log line written during the call with `correlationId`, `provider`,
 *   `model`, `workflow` and `step`, and writes one line when the call ends (at `Debug` by
 *   default) with sizes, usage, latency and outcome, never the prompt;
 * - opens a span `chat <model>` with OpenTelemetry GenAI attributes (see `GenAiAttributes`),
 *   when a tracer is installed (OTLP or any other; see {@link Options.spans});
 * - updates the metrics in `LlmMetrics`;
 * - records one entry per logical call in the `UsageLedger`: the usage the provider reported,
 *   unchanged, or, when a budget held the call, what all its attempts were charged (attempts
 *   abandoned after they were sent included, marked `estimated`) with the number of attempts; a
 *   failed call's spend (`LlmError.spent`) is recorded too. It puts a `CallContext.CallTotals`
 *   record on the fiber for the budget layer to fill.
 *
 * Being outermost, it also sees calls that a budget refused or that failed after all retries.
 * Streams are observed the same way (usage from the last chunk). Per-attempt spans are opt-in
 * ({@link layerAttempts}, placed innermost, right above the provider), because they cost a span
 * per attempt.
 *
 * @since 0.1.0
 */
import { Cause, Clock, Context, Effect, Exit, Fiber, Layer, Option, Random, Ref, References, Stream, Tracer } from "effect"
import { HttpClient } from "effect/http"
import * as LogLevel from "effect/LogLevel"
import * as CallContext from "../CallContext.ts"
import * as CallContexts from "../internal/callContexts.ts"
import * as Streams from "../internal/streams.ts"
import * as LanguageModel from "../LanguageModel.ts"
import * as LlmError from "../LlmError.ts"
import * as Estimate from "../budget/Estimate.ts"
import type { LlmRequest, Metadata as LlmRequestMetadata } from "../LlmRequest.ts"
import * as Message from "../Message.ts"
import type { LlmResponse } from "../LlmResponse.ts"
import * as PriceTable from "../pricing/PriceTable.ts"
import type * as StreamPart from "../StreamPart.ts"
import * as Tokenizer from "../Tokenizer.ts"
import * as Usage from "../Usage.ts"
import * as GenAiAttributes from "./GenAiAttributes.ts"
import * as LlmMetrics from "./LlmMetrics.ts"
import * as Tracing from "./Tracing.ts"
import * as UsageLedger from "./UsageLedger.ts"

/**
 * What the layer does; everything is on by default.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * A span per call. `"auto"` (default): only when a tracer is installed (OTLP, or any `Tracer`
   * such as a test's), since with Effect's native tracer nothing would receive the span and it
   * is the layer's largest cost; `true`: always; `false`: never.
   */
  readonly spans?: boolean | "auto" | undefined
  /** Metrics (default true). */
  readonly metrics?: boolean | undefined
  /** A ledger entry per call (default true). */
  readonly ledger?: boolean | undefined
  /** A log line per call (default true), at `successLevel` / `failureLevel`. */
  readonly logCalls?: boolean | undefined
  /** The level of the line for a successful call (default `Debug`). */
  readonly successLevel?: LogLevel.Severity | undefined
  /**
   * The level of the line for a failed call (default `Debug`: the caller gets the error anyway,
   * and a CLI's output stays clean; a server would choose `Warn`).
   */
  readonly failureLevel?: LogLevel.Severity | undefined
  /** Count attempts for {@link layerAttempts} and put the count on the call span (default false). */
  readonly attempts?: boolean | undefined
  /** Where the ledger lives when no `UsageLedger` is in context: a SQLite path, else memory. */
  readonly ledgerPath?: string | undefined
}

/**
 * Attempts of the current call, counted by {@link layerAttempts}.
 *
 * @since 0.1.0
 * @category references
 */
export const CurrentAttempts = Context.Reference<Ref.Ref<number> | undefined>("llm-connect/Observability/CurrentAttempts", {
  defaultValue: () => undefined
})

/**
 * Runs an effect as a workflow step (a span, log annotations, and the step of every call
 * inside). See `Tracing.stepSpan`.
 *
 * @since 0.1.0
 * @category spans
 */
export const stepSpan = Tracing.stepSpan

const hex = (n: number) => (n >>> 0).toString(16).padStart(8, "0")

/**
 * A new correlation id, e.g. `c-1f2e3d4c5b6a7980` (from `Random`, so seeded tests repeat).
 *
 * @since 0.1.0
 * @category constructors
 */
export const newCorrelationId: Effect.Effect<string> = Effect.map(
  Effect.all([Random.nextInt, Random.nextInt]),
  ([a, b]) => `c-${hex(a)}${hex(b)}`
)

// Ids for one layer: a random prefix (drawn once, from `Random`, when the layer is built) and a
// counter: unique within the process, and cheap per call.
// (the head, `c-` and the prefix, made once with each number of zeros the counter's digits may
// need before them: an id is its digits and one concatenation, not four strings)
const correlationIds = (seed: number): (() => string) => {
  const head = `c-${hex(seed)}`
  const heads: Array<string> = []
  for (let zeros = 0; zeros <= 8; zeros++) heads.push(head + "0".repeat(zeros))
  let counter = 0
  return () => {
    const digits = (++counter >>> 0).toString(16)
    return heads[8 - digits.length]! + digits
  }
}

// A call's facts, as its ledger entry and log line record them.
interface CallFacts {
  readonly provider: string
  readonly model: string
  readonly correlationId: string
  readonly workflow: string | undefined
  readonly step: string | undefined
  readonly conversationId: string | undefined
  readonly agent: string | undefined
  readonly keyName: string | undefined
  readonly promptChars: number
}

// A call as the layer prepared it: its facts, the request passed down, its log annotations, whether
// it has a span, its attempt counter and totals record (if any), and when it started.
interface Prepared extends CallFacts {
  readonly forwarded: LlmRequest
  readonly annotations: Record<string, unknown>
  readonly spans: boolean
  readonly attempts: Ref.Ref<number> | undefined
  readonly totals: CallContext.CallTotals | undefined
  // The record the caller passed down (then not added to the context again).
  readonly callerTotals: CallContext.CallTotals | undefined
  readonly started: number
}

// A `Prepared` as a class instance, not an object literal: it lives as long as the call (a
// stream's whole run), and V8 pretenures a literal's allocation site whose objects outlive a
// scavenge, after which every later one is born old and keeps the young objects it points to
// alive until a full collection (issue 14, stop 29 "the promotion"; stop 30).
class PreparedCall implements Prepared {
  readonly provider: string
  readonly model: string
  readonly correlationId: string
  readonly workflow: string | undefined
  readonly step: string | undefined
  readonly conversationId: string | undefined
  readonly agent: string | undefined
  readonly keyName: string | undefined
  readonly promptChars: number
  readonly forwarded: LlmRequest
  readonly annotations: Record<string, unknown>
  readonly spans: boolean
  readonly attempts: Ref.Ref<number> | undefined
  readonly totals: CallContext.CallTotals | undefined
  readonly callerTotals: CallContext.CallTotals | undefined
  readonly started: number
  constructor(
    provider: string,
    model: string,
    correlationId: string,
    workflow: string | undefined,
    step: string | undefined,
    conversationId: string | undefined,
    agent: string | undefined,
    keyName: string | undefined,
    promptChars: number,
    forwarded: LlmRequest,
    annotations: Record<string, unknown>,
    spans: boolean,
    attempts: Ref.Ref<number> | undefined,
    totals: CallContext.CallTotals | undefined,
    callerTotals: CallContext.CallTotals | undefined,
    started: number
  ) {
    this.provider = provider
    this.model = model
    this.correlationId = correlationId
    this.workflow = workflow
    this.step = step
    this.conversationId = conversationId
    this.agent = agent
    this.keyName = keyName
    this.promptChars = promptChars
    this.forwarded = forwarded
    this.annotations = annotations
    this.spans = spans
    this.attempts = attempts
    this.totals = totals
    this.callerTotals = callerTotals
    this.started = started
  }
}

const promptChars = (request: LlmRequest): number => {
  let total = request.system?.length ?? 0
  // (an index, not `for...of`: the iterator's results were allocated per call, stop 29)
  const messages = request.messages
  for (let index = 0; index < messages.length; index++) total += Message.text(messages[index]!).length
  return total
}

const ledgerEntry = (
  facts: CallFacts,
  time: number,
  latencyMs: number,
  outcome: string,
  response: LlmResponse | undefined,
  // What the call was charged (passed as three values: no record made for them per call).
  usage: Usage.Usage | undefined,
  costUsd: number | undefined,
  priced: boolean,
  totals: CallContext.CallTotals | undefined
): UsageLedger.Entry => {
  // Optional fields assigned one by one rather than spread (this runs on every call), in the
  // the key order of the JSON output (the optional fields, then the ids).
  const model = response?.model ?? facts.model
  const entry: { -readonly [K in keyof UsageLedger.Entry]: UsageLedger.Entry[K] } = {
    time,
    provider: response?.provider ?? facts.provider,
    model,
    inputTokens: usage?.inputTokens ?? 0,
    outputTokens: usage?.outputTokens ?? 0,
    totalTokens: usage?.totalTokens ?? 0,
    estimated: usage?.estimated === true,
    latencyMs,
    outcome
  }
  if (costUsd !== undefined) entry.costUsd = costUsd
  if (!priced) entry.priced = false
  const requested = response?.requestedModel ?? facts.model
  if (requested !== model) entry.requestedModel = requested
  if (totals?.attempts !== undefined) entry.attempts = totals.attempts
  if (totals?.abandonedAttempts !== undefined) entry.abandonedAttempts = totals.abandonedAttempts
  if (outcome === INTERRUPTED) entry.cancelled = true
  if (facts.workflow !== undefined) entry.workflow = facts.workflow
  if (facts.step !== undefined) entry.step = facts.step
  entry.correlationId = facts.correlationId
  if (facts.conversationId !== undefined) entry.conversationId = facts.conversationId
  if (facts.agent !== undefined) entry.agent = facts.agent
  if (facts.keyName !== undefined) entry.keyName = facts.keyName
  if (response?.requestId !== undefined) entry.requestId = response.requestId
  return entry
}

// `first`, then `next` (chained rather than `Effect.all`: no array, no step for an empty start).
const chain = (first: Effect.Effect<void>, next: Effect.Effect<void>): Effect.Effect<void> =>
  first === Effect.void ? next : Effect.andThen(first, next)

// The outcome of a call its caller cancelled (interrupted, or a stream it stopped reading).
const INTERRUPTED = LlmMetrics.INTERRUPTED

// Set on a call's context when the call makes no span (`tracing.spans: never`, or `auto` with no
// tracer installed): Effect's HTTP client then makes no client span (and sends no trace headers)
// for the provider's requests either: nobody would see it, and it cost 13-31 µs and 5.5 KB per
// call (docs/performance.md, "Stop 30: the providers' HTTP transport"; ADR 0062).
const noHttpSpans = (): boolean => true

// What a stream that ended early had cost by then, when no budget charged it: the request's input
// and the text streamed so far, counted locally (estimated), priced from the table.
interface Charged {
  readonly usage: Usage.Usage | undefined
  readonly costUsd: number | undefined
  readonly priced: boolean
}

const streamedCharge = (prices: PriceTable.Service, facts: CallFacts, request: LlmRequest, streamed: string): Charged => {
  const usage = Usage.make({
    inputTokens: Estimate.exact(request, facts.provider),
    outputTokens: streamed === "" ? 0 : Tokenizer.countText(streamed),
    estimated: true
  })
  const price = prices.lookup(facts.provider, facts.model)
  return { usage, costUsd: price === undefined ? undefined : PriceTable.costOf(price, usage), priced: price !== undefined }
}

const tableCost = (prices: PriceTable.Service, response: LlmResponse): number | undefined => {
  const price = prices.lookup(response.provider, response.model)
  return price === undefined ? undefined : PriceTable.costOf(price, response.usage)
}

/**
 * Wraps a model with logs, a span, metrics and ledger entries (see the module description).
 * `seed` is the random part of the correlation ids it makes (the layer draws it from `Random`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const wrap = (
  inner: LanguageModel.Service,
  ledger: UsageLedger.Service | undefined,
  options: Options = {},
  seed = 0
): LanguageModel.Service => {
  const spanMode = options.spans ?? "auto"
  const metrics = options.metrics !== false
  const logCalls = options.logCalls !== false
  const record = options.ledger !== false ? ledger : undefined
  // The ledger's synchronous write, when it has one (the built-in ledgers).
  const recordNow = record?.recordNow
  const successLevel = options.successLevel ?? "Debug"
  const failureLevel = options.failureLevel ?? "Debug"
  const logSuccess = Effect.logWithLevel(successLevel)
  const logFailure = Effect.logWithLevel(failureLevel)
  const nextId = correlationIds(seed)

  // Everything after the call, in as few effect steps as possible: this runs on every call (the
  // metrics are updated right here, in the fiber's context; the rest are effects, chained).
  // `fiber`: the fiber that runs it (a call's own, in its `onExit`: no effect step spent to get
  // it). A plain function of the wrap, so that a call makes only its small `onExit` closure.
  const finishIn = (
    fiber: Fiber.Fiber<unknown, unknown>,
    call: Prepared,
    // A stream's: what it cost so far when no budget charged it (an error after some parts).
    estimate: (() => Charged | undefined) | undefined,
    exit: Exit.Exit<LlmResponse, LlmError.LlmError>
  ): Effect.Effect<void> => {
    const { started, attempts, spans, totals } = call
    const facts: CallFacts = call
    const now = fiber.getRef(Clock.Clock).currentTimeMillisUnsafe()
    const elapsed = now - started
    const minimum = fiber.getRef(References.MinimumLogLevel)
    const attemptCount = attempts === undefined ? undefined : Ref.getUnsafe(attempts)
    // The effects to run, chained as they are made (two or three steps, in order, on every call).
    let steps: Effect.Effect<void> = Effect.void
    if (Exit.isSuccess(exit)) {
      const response = exit.value
      if (spans) {
        const attributes = GenAiAttributes.response(response)
        if (attemptCount !== undefined) attributes[GenAiAttributes.Names.attempt] = attemptCount
        steps = chain(steps, Effect.annotateCurrentSpan(attributes))
      }
      // The cost the budget layer filled in (computed once), else the provider's, else the price
      // table's for a stack without a budget layer (the response itself is left as it is).
      const costUsd = response.cost?.usd ??
        (response.priced === false ? undefined : tableCost(fiber.getRef(PriceTable.PriceTable), response))
      if (metrics) LlmMetrics.recordSuccessUnsafe(fiber.context, facts.provider, facts.model, response, elapsed, costUsd)
      if (record !== undefined) {
        // What all the call's attempts were charged, when a budget summed more than the answer.
        const entry = totals?.usage !== undefined
          ? ledgerEntry(facts, now, elapsed, "ok", response, totals.usage, totals.costUsd, totals.priced, totals)
          : ledgerEntry(facts, now, elapsed, "ok", response, response.usage, costUsd, costUsd !== undefined, totals)
        if (recordNow === undefined) steps = chain(steps, record.record(entry))
        else {
          // (an effect only when the ledger's write queue is full: its wait for room, ADR 0060)
          const wait = recordNow(entry)
          if (wait !== undefined) steps = chain(steps, wait)
        }
      }
      if (logCalls && LogLevel.isGreaterThanOrEqualTo(successLevel, minimum)) {
        steps = chain(steps, logSuccess("llm call succeeded", {
          promptChars: facts.promptChars,
          inputTokens: response.usage.inputTokens,
          outputTokens: response.usage.outputTokens,
          finishReason: response.finishReason,
          latencyMs: elapsed,
          ...(costUsd !== undefined ? { costUsd } : {}),
          ...(attemptCount !== undefined ? { attempts: attemptCount } : {})
        }))
      }
    } else {
      const error = Option.getOrUndefined(Cause.findErrorOption(exit.cause))
      const outcome = error !== undefined ? error.reason._tag : Cause.hasInterruptsOnly(exit.cause) ? INTERRUPTED : "Defect"
      if (spans) {
        const attributes = error !== undefined ? GenAiAttributes.error(error) : { [GenAiAttributes.Names.errorType]: outcome }
        if (attemptCount !== undefined) attributes[GenAiAttributes.Names.attempt] = attemptCount
        steps = chain(steps, Effect.annotateCurrentSpan(attributes))
      }
      if (metrics) {
        if (error !== undefined) LlmMetrics.recordFailureUnsafe(fiber.context, facts.provider, facts.model, error, elapsed)
        else if (outcome === INTERRUPTED) {
          LlmMetrics.recordCancelledUnsafe(fiber.context, facts.provider, facts.model, elapsed, totals?.usage !== undefined ? totals : undefined)
        }
      }
      if (record !== undefined) {
        // A failed call may still have cost money: what the budget charged its attempts, else
        // what the provider reported it spent.
        const charged = totals?.usage !== undefined
          ? { usage: totals.usage, costUsd: totals.costUsd, priced: totals.priced }
          : error?.spent === undefined && estimate !== undefined
          ? estimate() ?? { usage: undefined, costUsd: undefined, priced: true }
          : { usage: error?.spent?.usage, costUsd: error?.spent?.costUsd, priced: true }
        const entry = ledgerEntry(facts, now, elapsed, outcome, undefined, charged.usage, charged.costUsd, charged.priced, totals)
        if (recordNow === undefined) steps = chain(steps, record.record(entry))
        else {
          // (an effect only when the ledger's write queue is full: its wait for room, ADR 0060)
          const wait = recordNow(entry)
          if (wait !== undefined) steps = chain(steps, wait)
        }
      }
      if (logCalls && LogLevel.isGreaterThanOrEqualTo(failureLevel, minimum)) {
        steps = chain(steps, logFailure("llm call failed", {
          reason: outcome,
          latencyMs: elapsed,
          promptChars: facts.promptChars,
          ...(error !== undefined
            ? {
              error: error.message,
              retryable: error.isRetryable,
              ...(error.status !== undefined ? { status: error.status } : {})
            }
            : {}),
          ...(attemptCount !== undefined ? { attempts: attemptCount } : {})
        }))
      }
    }
    return steps
  }

  // A stream's finish, in the fiber that runs it.
  const finish = (call: Prepared, estimate: () => Charged | undefined) => (exit: Exit.Exit<LlmResponse, LlmError.LlmError>): Effect.Effect<void> =>
    Effect.withFiber((fiber) => finishIn(fiber, call, estimate, exit))

  // What a call needs before it starts: ids, the request passed down, annotations, the clock.
  const prepare = (fiber: Fiber.Fiber<unknown, unknown>, request: LlmRequest) => {
    const current = fiber.getRef(Tracing.CurrentStep)
    const metadata = request.metadata
    const correlationId = metadata?.correlationId ?? current.correlationId ?? nextId()
    const workflow = metadata?.workflow ?? current.workflow
    const step = metadata?.step ?? current.step
    const model = request.model ?? inner.defaultModel
    const provider = inner.provider
    const conversationId = metadata?.conversationId
    const agent = metadata?.tags?.agent
    const keyName = fiber.getRef(CallContext.CurrentKey)
    const chars = promptChars(request)
    let forwarded = request
    if (metadata?.correlationId !== correlationId || metadata.workflow !== workflow || metadata.step !== step) {
      // One copy, then the ids, in the key order of the spreads it replaces (this runs on every call).
      const ids: { -readonly [K in keyof LlmRequestMetadata]: LlmRequestMetadata[K] } = { ...metadata, correlationId }
      if (workflow !== undefined) ids.workflow = workflow
      if (step !== undefined) ids.step = step
      forwarded = { ...request, metadata: ids }
    }
    // The fiber's annotations and the call's, merged once (what `Effect.annotateLogs` would do).
    const annotations: Record<string, unknown> = { ...fiber.getRef(References.CurrentLogAnnotations) }
    annotations.correlationId = correlationId
    annotations.provider = inner.provider
    annotations.model = model
    if (workflow !== undefined) annotations.workflow = workflow
    if (step !== undefined) annotations.step = step
    const callerTotals = record !== undefined ? fiber.getRef(CallContext.CurrentTotals) : undefined
    const spans = spanMode === true || (spanMode === "auto" && fiber.getRef(Tracer.Tracer) !== Tracer.nativeTracer)
    // The call's facts and what the layer keeps for it, in one record (a class instance: it lives
    // as long as the call, a stream's whole run; see `PreparedCall`).
    return new PreparedCall(
      provider,
      model,
      correlationId,
      workflow,
      step,
      conversationId,
      agent,
      keyName,
      chars,
      forwarded,
      annotations,
      spans,
      options.attempts === true ? Ref.makeUnsafe(0) : undefined,
      // Filled by the budget layer below, for the ledger row: only when there is a ledger.
      // (the caller's record when it passed one down, e.g. an agent step's)
      record !== undefined ? callerTotals ?? CallContext.makeTotals() : undefined,
      callerTotals,
      fiber.getRef(Clock.Clock).currentTimeMillisUnsafe()
    )
  }


  // The call's log annotations, its totals record (with a ledger) and attempt counter (with
  // `attempts`), set on a context of the call's own over the caller's (no effect overlay record
  // per service, no copy of the caller's: see `internal/callContexts.ts`, ADRs 0047 and 0049).
  const callContextOf = (call: Prepared, context: Context.Context<never>): Context.Context<never> =>
    // (the totals not again when it is the caller's own record, already there)
    CallContexts.withServices(
      context,
      References.CurrentLogAnnotations,
      call.annotations,
      call.totals === undefined || call.totals === call.callerTotals ? undefined : CallContext.CurrentTotals,
      call.totals,
      call.attempts === undefined ? undefined : CurrentAttempts,
      call.attempts,
      call.spans ? undefined : HttpClient.TracerDisabledWhen,
      noHttpSpans
    )

  // Built only when a span is opened: the request attributes are the span's, nothing else reads them.
  const spanOptions = (call: ReturnType<typeof prepare>) => ({
    kind: "client" as const,
    attributes: GenAiAttributes.request(inner.provider, call.model, call.forwarded),
    captureStackTrace: false
  })

  // A call's exit handler is registered first; the next step prepares the call and switches the
  // fiber to the call's context; the handler records the call (in that context: its log line
  // carries the call's annotations) and puts the caller's context back. A call stopped between the
  // two steps was never started: nothing to record, nothing to put back (as before, when the
  // caller stopped it before this layer's first step). Three effect steps per call where
  // `Effect.updateContext` around an exit handler took five (stop 29). With a span, the call is
  // recorded inside it (its attributes are the span's) and the handler only puts the context back.
  const generate = (request: LlmRequest, next: LanguageModel.Service["generate"]): Effect.Effect<LlmResponse, LlmError.LlmError> => {
    let fiber: Fiber.Fiber<unknown, unknown> | undefined
    let call: Prepared | undefined
    let outer: Context.Context<never> | undefined
    return Effect.onExitPrimitive(
      Effect.withFiber((current) => {
        const prepared = prepare(current, request)
        fiber = current
        call = prepared
        outer = current.context
        current.setContext(callContextOf(prepared, outer))
        if (!prepared.spans) return next(prepared.forwarded)
        return Effect.withSpan(
          Effect.onExitPrimitive(next(prepared.forwarded), (exit) => {
            const steps = finishIn(current, prepared, undefined, exit)
            return steps === Effect.void ? undefined : steps
          }),
          GenAiAttributes.spanName(prepared.model),
          spanOptions(prepared)
        )
      }),
      (exit) => {
        if (call === undefined) return undefined
        const running = fiber!
        const caller = outer!
        // (nothing to run after the call, the usual case: no effect, so no step to run it)
        const steps = call.spans ? Effect.void : finishIn(running, call, undefined, exit)
        if (steps === Effect.void) {
          running.setContext(caller)
          return undefined
        }
        return Effect.onExitPrimitive(steps, () => {
          running.setContext(caller)
          return undefined
        })
      }
    )
  }

  // What a streamed call's caller sees when it cancels: one ledger row marked `cancelled` (what the
  // budget charged, else what had streamed, estimated), a log line, the span annotated.
  const cancelled = (
    call: ReturnType<typeof prepare>,
    request: LlmRequest,
    streamed: string | undefined,
    span: Tracer.Span | undefined
  ): Effect.Effect<void> =>
    Effect.withFiber((fiber) => {
      const facts: CallFacts = call
      const now = fiber.getRef(Clock.Clock).currentTimeMillisUnsafe()
      const elapsed = now - call.started
      const totals = call.totals
      const attemptCount = call.attempts === undefined ? undefined : Ref.getUnsafe(call.attempts)
      const charged: Charged = totals?.usage !== undefined
        ? { usage: totals.usage, costUsd: totals.costUsd, priced: totals.priced }
        : streamedCharge(fiber.getRef(PriceTable.PriceTable), facts, request, streamed ?? "")
      if (metrics) LlmMetrics.recordCancelledUnsafe(fiber.context, facts.provider, facts.model, elapsed, charged)
      const steps: Array<Effect.Effect<void>> = []
      // The stream's own span, set directly: a consumer's interruption closes the stream's scope
      // from outside, where the span is not the current one.
      if (span !== undefined) {
        span.attribute(GenAiAttributes.Names.cancelled, true)
        if (charged.usage !== undefined) {
          span.attribute(GenAiAttributes.Names.inputTokens, charged.usage.inputTokens)
          span.attribute(GenAiAttributes.Names.outputTokens, charged.usage.outputTokens)
          span.attribute(GenAiAttributes.Names.usageEstimated, charged.usage.estimated === true)
        }
        if (attemptCount !== undefined) span.attribute(GenAiAttributes.Names.attempt, attemptCount)
      }
      if (record !== undefined) {
        steps.push(record.record(ledgerEntry(facts, now, elapsed, INTERRUPTED, undefined, charged.usage, charged.costUsd, charged.priced, totals)))
      }
      if (logCalls && LogLevel.isGreaterThanOrEqualTo(successLevel, fiber.getRef(References.MinimumLogLevel))) {
        steps.push(logSuccess("llm stream cancelled", {
          promptChars: facts.promptChars,
          inputTokens: charged.usage?.inputTokens ?? 0,
          outputTokens: charged.usage?.outputTokens ?? 0,
          estimated: charged.usage?.estimated === true,
          latencyMs: elapsed,
          ...(charged.costUsd !== undefined ? { costUsd: charged.costUsd } : {}),
          ...(attemptCount !== undefined ? { attempts: attemptCount } : {})
        }))
      }
      return Effect.all(steps, { discard: true })
    })

  // A stream is observed as one call, from its opening to its end, under one span: the finish part
  // carries the response (usage, finish reason); the first delta gives the time to the first token
  // (a metric, a span attribute, and a log annotation for the lines that follow); a failure is
  // recorded as a failed call (its usage, without a budget, estimated from what had streamed); a
  // stream its consumer interrupted or stopped reading before the finish part is recorded as
  // cancelled, with the usage charged (or streamed) so far.
  //
  // When: a stream that finished is recorded as it ends (the budget below reports its totals with
  // the finish part). A failed or cancelled one is recorded when the stream's scope closes, after
  // the layers below have settled their attempts there (the budget charges an attempt that ended
  // early as its scope closes): this layer's finalizer is added to that scope before theirs, so it
  // runs after them. The span is this layer's own for the same reason, ended once the call is
  // recorded.
  const stream = (request: LlmRequest, next: LanguageModel.Service["stream"]): Stream.Stream<StreamPart.StreamPart, LlmError.LlmError> =>
    Streams.fromScope((scope, fiber) => {
      const call = prepare(fiber, request)
      const clock = fiber.getRef(Clock.Clock)
      const context = fiber.context
      let last: LlmResponse | undefined
      // The text so far, kept only for an estimate when no budget charges the call.
      let streamed: string | undefined
      let firstTokenMs: number | undefined
      const keepText = record !== undefined && call.totals !== undefined
      const estimate = (): Charged | undefined =>
        streamed === undefined || call.totals?.usage !== undefined
          ? undefined
          : streamedCharge(fiber.getRef(PriceTable.PriceTable), call, request, streamed)
      const onPart = (part: StreamPart.StreamPart): void => {
        if (part.type === "finish") {
          last = part.response
          return
        }
        if (firstTokenMs === undefined) {
          firstTokenMs = clock.currentTimeMillisUnsafe() - call.started
          if (metrics) LlmMetrics.recordTimeToFirstTokenUnsafe(context, call.provider, call.model, firstTokenMs)
          // Every log line from here on (the call's own included) carries it: the record is this call's own.
          call.annotations.timeToFirstTokenMs = firstTokenMs
        }
        if (keepText) streamed = (streamed ?? "") + (part.type === "text-delta" ? part.text : (part.name ?? "") + part.argumentsDelta)
      }
      let span: Tracer.Span | undefined
      let recorded = false
      const recordOnce = (exit: Exit.Exit<unknown, unknown>): Effect.Effect<void> =>
        Effect.suspend(() => {
          if (recorded) return Effect.void
          recorded = true
          if (span !== undefined && firstTokenMs !== undefined) span.attribute(GenAiAttributes.Names.timeToFirstTokenMs, firstTokenMs)
          const outcome = Exit.isSuccess(exit)
            ? (last === undefined ? cancelled(call, request, streamed, span) : finish(call, estimate)(Exit.succeed(last)))
            : Cause.hasInterruptsOnly(exit.cause)
            ? cancelled(call, request, streamed, span)
            : finish(call, estimate)(exit as Exit.Exit<never, LlmError.LlmError>)
          if (span === undefined) return outcome
          const own = span
          return Effect.ensuring(
            Effect.provideService(outcome, Tracer.ParentSpan, own),
            Effect.sync(() => {
              if (own.status._tag !== "Ended") own.end(clock.currentTimeNanosUnsafe(), exit)
            })
          )
        })
      // Each part seen as it passes (a chunk at a time); a stream that ended with its finish part
      // recorded as it ends, before its end reaches the consumer.
      const parts = next(call.forwarded)
      // (without a span, recorded right here, in the pull's fiber and the call's context, as
      // `generate` records in its exit handler: what is left to run is only a log line, if any)
      const onDone = (): Effect.Effect<void> | undefined => {
        if (last === undefined || recorded) return undefined
        if (span !== undefined) return recordOnce(Exit.void)
        recorded = true
        const steps = finishIn(Fiber.getCurrent() ?? fiber, call, estimate, Exit.succeed(last))
        return steps === Effect.void ? undefined : steps
      }
      // The call's services (log annotations, totals, attempts, then its span), added to the
      // context once: the stream's pulls then switch to it in one step (`Stream.provideService`
      // copies the context on every pull, once per service). No effect overlay record for them
      // (`internal/callContexts.ts`, ADR 0049).
      const withContext = CallContexts.withServices(
        context,
        References.CurrentLogAnnotations,
        call.annotations,
        call.totals === undefined ? undefined : CallContext.CurrentTotals,
        call.totals,
        call.attempts === undefined ? undefined : CurrentAttempts,
        call.attempts,
        call.spans ? undefined : HttpClient.TracerDisabledWhen,
        noHttpSpans
      )
      const inCall = <X, Y>(effect: Effect.Effect<X, Y>): Effect.Effect<X, Y> => Effect.updateContext(effect, () => withContext)
      // Recorded when the stream's scope closes, in the call's context (a failed or cancelled
      // stream; one that finished was recorded as it ended).
      // (joined with the layers' below: `Streams.addFinalizer`)
      const settled: Streams.Finalizer = (exit) => (recorded ? undefined : inCall(recordOnce(exit)))
      if (!call.spans) {
        const stage = Streams.observeStage(parts, onPart, onDone, withContext)
        const added = Streams.addFinalizerNow(scope, settled)
        return added === undefined ? stage : Effect.as(added, stage)
      }
      // The span opened and its end registered in one uninterruptible step.
      return Effect.uninterruptible(inCall(
        Effect.flatMap(Effect.makeSpan(GenAiAttributes.spanName(call.model), spanOptions(call)), (made) => {
          span = made
          const stage = Streams.observeStage(parts, onPart, onDone, Context.add(withContext, Tracer.ParentSpan, made))
          const added = Streams.addFinalizerNow(scope, settled)
          return added === undefined ? Effect.succeed(stage) : Effect.as(added, stage)
        })
      ))
    })

  return LanguageModel.wrap(inner, { generate, stream })
}

/**
 * The observability layer. The ledger is the `UsageLedger` in context if there is one, else a
 * SQLite file at `ledgerPath`, else an in-memory one.
 *
 * @since 0.1.0
 * @category layers
 * @example
 * const model = Observability.layer().pipe(Layer.provide(MockLanguageModel.layer()))
 */
export const layer = (options: Options = {}): Layer.Layer<LanguageModel.LanguageModel, LlmError.LlmError, LanguageModel.LanguageModel> =>
  // Layer.effect (rather than layerWrap) so that the SQLite ledger's Scope is the layer's own.
  Layer.effect(
    LanguageModel.LanguageModel,
    Effect.gen(function*() {
      const inner = yield* LanguageModel.LanguageModel
      const seed = yield* Random.nextInt
      if (options.ledger === false) return wrap(inner, undefined, options, seed)
      const provided = yield* Effect.serviceOption(UsageLedger.UsageLedger)
      const ledger = Option.isSome(provided)
        ? provided.value
        : options.ledgerPath !== undefined && options.ledgerPath !== ""
        ? yield* UsageLedger.makeSqlite(options.ledgerPath)
        : yield* UsageLedger.makeMemory()
      return wrap(inner, ledger, options, seed)
    })
  )

/**
 * Opt-in per-attempt spans: place innermost (right above the provider, below retry) so that
 * every attempt gets a span `attempt <model>` with its number, outcome and `error.type`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerAttempts: Layer.Layer<LanguageModel.LanguageModel, never, LanguageModel.LanguageModel> = LanguageModel
  .layerWrap((inner) => {
    const nextAttempt = Effect.flatMap(
      Effect.service(CurrentAttempts),
      (counter) => counter === undefined ? Effect.succeed(undefined) : Ref.updateAndGet(counter, (n) => n + 1)
    )
    const spanOf = (request: LlmRequest, attempt: number | undefined) => {
      const model = request.model ?? inner.defaultModel
      return {
        name: `attempt ${model}`,
        options: {
          kind: "client" as const,
          attributes: {
            ...GenAiAttributes.request(inner.provider, model, request),
            ...(attempt !== undefined ? { [GenAiAttributes.Names.attempt]: attempt } : {})
          },
          captureStackTrace: false
        }
      }
    }
    const annotateError = (error: LlmError.LlmError) => Effect.annotateCurrentSpan(GenAiAttributes.error(error))
    return Effect.succeed(LanguageModel.wrap(inner, {
      generate: (request, next) =>
        Effect.flatMap(nextAttempt, (attempt) => {
          const span = spanOf(request, attempt)
          return Effect.withSpan(Effect.tapError(next(request), annotateError), span.name, span.options)
        }),
      stream: (request, next) =>
        Stream.unwrap(Effect.map(nextAttempt, (attempt) => {
          const span = spanOf(request, attempt)
          return Stream.withSpan(Stream.tapError(next(request), annotateError), span.name, span.options)
        }))
    }))
  })
