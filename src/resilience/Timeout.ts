/**
 * Timeouts of one attempt and of a whole call.
 *
 * Two timeouts bound a call: the *attempt* timeout bounds each request sent to the provider,
 * the *call* timeout (`request.timeoutMs`, or the configured default) bounds all attempts and
 * the waits between them. When one runs out, the running attempt is interrupted (which aborts
 * its HTTP request or kills its subprocess) and the call fails with an `LlmError` of reason
 * `Timeout`, whose `scope` says which timeout it was, with the attempts made and the time spent
 * (measured with `Clock`, so tests run on `TestClock`). An attempt timeout is retryable; a call
 * timeout is not.
 *
 * A stream has a third: the *idle* timeout (`streamIdleTimeout`, default 60s in a stack built
 * from configuration) bounds the wait for each part after the first; a stream silent for longer
 * fails with `Timeout` of scope `idle` (not retried: parts were already emitted). On a stream the
 * attempt timeout bounds the wait for its first part (the opening included), and the call
 * timeout the whole stream. Only the time spent waiting for the provider counts: a consumer that
 * is slow to read does not run the idle timeout down. See {@link stream}.
 *
 * The retry layer applies them (see `Retry.ts`); these functions are exported for programs that
 * want a timeout without retries.
 *
 * @since 0.1.0
 */
import { Array as Arr, Cause, Clock, type Context, Duration, Effect, Fiber, Pull, Queue, Schema, type Scope, Stream } from "effect"
import * as DurationText from "../DurationText.ts"
import * as Streams from "../internal/streams.ts"
import { type AbortSlot, bounded, type Deadline, offerAbort, type Wheel, wheelOf, withdrawAbort } from "../internal/deadlines.ts"
import * as LlmError from "../LlmError.ts"

/**
 * The `timeout` and `attemptTimeout` settings of the configuration file, as duration strings
 * (`30s`, `2m`).
 *
 * @since 0.1.0
 * @category schemas
 */
export const TimeoutConfig = Schema.Struct({
  timeout: Schema.optionalKey(DurationText.DurationString).annotate({
    description: "Bounds the whole call: all attempts and the waits between them."
  }),
  attemptTimeout: Schema.optionalKey(DurationText.DurationString).annotate({
    description: "Bounds each attempt (one request to the provider); a timed-out attempt is retried."
  })
}).annotate({ identifier: "TimeoutConfig" })

/**
 * @since 0.1.0
 * @category models
 */
export type TimeoutConfig = typeof TimeoutConfig.Type

/**
 * Which call a timeout belongs to, for the error it produces.
 *
 * @since 0.1.0
 * @category models
 */
export interface Subject {
  readonly provider: string
  readonly model?: string | undefined
}

/**
 * Builds the `Timeout` error.
 *
 * @since 0.1.0
 * @category constructors
 */
export const timeoutError = (
  subject: Subject,
  options: {
    readonly scope: "attempt" | "call" | "idle"
    readonly timeoutMs: number
    readonly attempts: number
    readonly elapsedMs: number
  }
): LlmError.LlmError => {
  const what = options.scope === "attempt"
    ? `attempt ${options.attempts} took longer than the attempt timeout of ${DurationText.formatMillis(options.timeoutMs)}`
    : options.scope === "idle"
    ? `the stream received no part for ${DurationText.formatMillis(options.elapsedMs)}, longer than the stream idle timeout of ${
      DurationText.formatMillis(options.timeoutMs)
    } (attempt ${options.attempts})`
    : `the call took longer than its timeout of ${DurationText.formatMillis(options.timeoutMs)} (${options.attempts} ${
      options.attempts === 1 ? "attempt" : "attempts"
    })`
  const fix = options.scope === "attempt"
    ? "raise attemptTimeout (--attempt-timeout) if the model is slow"
    : options.scope === "idle"
    ? "raise streamIdleTimeout (--stream-idle-timeout) if the model pauses longer between parts"
    : "raise the call timeout (--timeout or request.timeoutMs)"
  return LlmError.make(
    subject.provider,
    new LlmError.Timeout({
      description: `${what}; ${fix}`,
      scope: options.scope,
      attempts: options.attempts,
      elapsedMs: options.elapsedMs
    }),
    { model: subject.model }
  )
}

/**
 * Bounds one attempt: after `timeoutMs` the attempt is interrupted and fails with a `Timeout`
 * of scope `attempt` (retryable). `attempt` is the attempt's number, counted from 1.
 *
 * The attempt runs in a fiber of its own (started as the caller starts waiting for it, and
 * interrupted when the caller is); its deadline joins the attempts of the same clock and
 * timeout on one shared timer (a fiber that sleeps until the earliest deadline still open), so
 * that an attempt costs no timer and no fiber of its own for its timeout. When the deadline
 * passes, the attempt is interrupted (its request aborted) and the `Timeout` returned once it
 * has stopped; an attempt that ends first just leaves the queue. The shared timer stops 10 ms
 * after the last open attempt ends (so that calls made one after another keep one timer), so it
 * never keeps a process alive longer than that.
 *
 * The attempt's fiber is the only one it makes: an HTTP adapter's own request timeout (`timeout`,
 * 10 minutes by default), bounded inside it and no shorter than what is left of the attempt's,
 * runs in that fiber instead of one of its own, since the attempt's deadline always comes first
 * (interrupting that fiber aborts the request, as before). A provider timeout shorter than the
 * attempt's keeps its own fiber and its own error.
 *
 * @since 0.1.0
 * @category combinators
 */
export const attempt = <A, R>(
  effect: Effect.Effect<A, LlmError.LlmError, R>,
  options: { readonly timeoutMs: number; readonly attempt: number; readonly subject: Subject }
): Effect.Effect<A, LlmError.LlmError, R> =>
  bounded(effect, options.timeoutMs, (elapsedMs) =>
    timeoutError(options.subject, {
      scope: "attempt",
      timeoutMs: options.timeoutMs,
      attempts: options.attempt,
      elapsedMs
    }), ENCLOSES)

// The attempt's fiber is known as bounded: the provider's own request timeout, when it is no
// shorter than what is left of the attempt's, runs in it without a fiber of its own (ADR 0050).
const ENCLOSES = { encloses: true } as const

/**
 * Bounds a whole call: after `timeoutMs` whatever runs (an attempt or a wait) is interrupted and
 * the call fails with a `Timeout` of scope `call` (not retryable). `attempts` reads how many
 * attempts were started when the timeout ran out.
 *
 * @since 0.1.0
 * @category combinators
 */
export const call = <A, R>(
  effect: Effect.Effect<A, LlmError.LlmError, R>,
  options: {
    readonly timeoutMs: number
    readonly startedAt: number
    readonly attempts: Effect.Effect<number>
    readonly subject: Subject
  }
): Effect.Effect<A, LlmError.LlmError, R> =>
  Effect.timeoutOrElse(effect, {
    duration: Duration.millis(options.timeoutMs),
    orElse: () =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const attempts = yield* options.attempts
        return yield* Effect.fail(
          timeoutError(options.subject, {
            scope: "call",
            timeoutMs: options.timeoutMs,
            attempts,
            elapsedMs: now - options.startedAt
          })
        )
      })
  })

/**
 * The end of a whole call, for {@link stream}: when it began (epoch ms, by `Clock`) and its
 * timeout.
 *
 * @since 0.1.0
 * @category models
 */
export interface CallBound {
  readonly startedAt: number
  readonly timeoutMs: number
  /** How many attempts were started, read when the timeout runs out. */
  readonly attempts: () => number
}

/**
 * Bounds the waits of one streamed attempt: `firstPartMs` bounds the wait for its first part
 * (from the start, the opening included), failing with a `Timeout` of scope `attempt`
 * (retryable); `idleMs` bounds each later wait for the next part, failing with scope `idle`;
 * `call`, the end of the whole call, fails it with scope `call` wherever it is. Only time spent
 * waiting on the stream below counts for the first two (not time the consumer takes between
 * reads). Each wait joins the shared timer of its timeout (the one the attempt timeouts use, see
 * {@link attempt}), so that neither a part nor a stream costs a timer of its own.
 *
 * A provider that can abort its own pending read (the SSE adapters' streamed request) registers
 * its abort for the stream's scope as it opens (`internal/deadlines.ts`, `registerAbort`): then
 * the consumer's own reads are bounded, each wait armed as a read starts and disarmed as it
 * returns, the first from the provider's opening (the wait for the response headers included); a
 * wait that runs out aborts the request (the server sees the socket close), and the failed read
 * ends the stream with the `Timeout`. No fiber of its own (ADR 0045). Otherwise the stream below
 * is read by a fiber of its own (at most 64 parts ahead), which a wait that runs out stops. A
 * call timeout is watched by one fiber per stream, with a reader. None given: the stream as it is.
 *
 * @since 0.1.0
 * @category combinators
 */
export const stream = <A, R>(
  self: Stream.Stream<A, LlmError.LlmError, R>,
  options: {
    readonly firstPartMs?: number | undefined
    readonly idleMs?: number | undefined
    readonly call?: CallBound | undefined
    /** The attempt's number, counted from 1, read when a timeout runs out. */
    readonly attempt: () => number
    readonly subject: Subject
  }
): Stream.Stream<A, LlmError.LlmError, R> => {
  const { call, firstPartMs, idleMs } = options
  if (firstPartMs === undefined && idleMs === undefined && call === undefined) return self
  if (call !== undefined) return withCallBound(self, options, call)
  // A provider that can abort its own pending read (the SSE adapters' streamed request) registers
  // its abort with a slot offered for the stream's scope as it opens: then the waits abort the
  // request when they run out, and the consumer's pending read fails (no reader fiber). Otherwise
  // the stream below is read ahead by a fiber of the timeouts' own (`readAhead`).
  // (Opened inline by the stage above it, and opening the stream below inline: see `Streams.fromOpen`.)
  // (Given the fiber that runs the opening next, started in the step that makes it: `Streams.Open`.)
  return Streams.fromOpen((upstream, scope, running) => {
    const start = (fiber: Fiber.Fiber<unknown, unknown>) => {
      const guard = new Aborting<A>(fiber.getRef(Clock.Clock), fiber.context, options)
      offerAbort(scope, guard)
      return Effect.matchCauseEffect(Streams.openIn(self, upstream, scope, fiber), {
        onSuccess: (pull) => {
          withdrawAbort(scope)
          return guard.registered ? Effect.succeed(Streams.attach(pull, guard)) : readAhead(pull, scope, guard.clock, guard.openedIn, options)
        },
        onFailure: (cause) => {
          withdrawAbort(scope)
          return Effect.failCause(guard.ended(cause))
        }
      })
    }
    return running !== undefined ? start(running) : Effect.withFiber(start)
  })
}

// The waits of a stream whose provider registered its abort: the first part's is armed as the
// provider registers, before it sends its request (so its opening is included), each
// next part's as the consumer's read starts, each disarmed as its read returns (the consumer's
// time between reads does not count). A wait that runs out aborts the request, synchronously,
// from the shared timer: the server sees the socket close, and the read pending on it fails; the
// read's end (or the opening's failure) is then this wait's `Timeout`.
class Aborting<A> implements AbortSlot, Streams.Hooks<A, LlmError.LlmError> {
  readonly clock: Clock.Clock
  // (the context it was opened in, for the shared timer; not a context of the stage's hooks)
  readonly openedIn: Context.Context<never>
  private readonly options: StreamWaitOptions
  /** Whether the provider registered its abort (then this path, else the reader's). */
  registered = false
  private abort: (() => void) | undefined
  private fired: Cause.Cause<LlmError.LlmError> | undefined
  // The open wait: since when, on which timer (none: not waiting, or that wait is unbounded).
  private first = true
  private waiting = false
  private since = 0
  private limit = 0
  private wheel: Wheel | undefined
  private entry: Deadline | undefined
  private expire: (() => void) | undefined
  constructor(clock: Clock.Clock, context: Context.Context<never>, options: StreamWaitOptions) {
    this.clock = clock
    this.openedIn = context
    this.options = options
  }

  register(abort: () => void): void {
    this.registered = true
    this.abort = abort
    this.expire = () => this.expired()
    // The first part's wait starts here, as the provider sends its request (the wait for the
    // response headers included; waits above the provider, for permits or rate limits, are not,
    // as on the reader's path).
    this.start()
  }

  release(): void {
    this.abort = undefined
    this.disarm()
  }

  /** Starts the wait for the next part (the first from registration), unless one is open. */
  private start(): void {
    if (this.waiting) return
    this.waiting = true
    const limit = this.first ? this.options.firstPartMs : this.options.idleMs
    if (limit === undefined) return
    this.since = this.clock.currentTimeMillisUnsafe()
    this.limit = limit
    const wheel = this.wheel = wheelOf(this.clock, limit, this.openedIn)
    this.entry = wheel.add(this.since + limit, this.expire!)
  }

  private disarm(): void {
    this.waiting = false
    const entry = this.entry
    if (entry === undefined) return
    this.entry = undefined
    this.wheel!.leave(entry)
  }

  // The open wait ran out (on the shared timer): the request is aborted at once, and its read's
  // end is this `Timeout`.
  private expired(): void {
    this.entry = undefined
    if (this.fired !== undefined) return
    this.fired = Cause.fail(timeoutError(this.options.subject, {
      scope: this.first ? "attempt" : "idle",
      timeoutMs: this.limit,
      attempts: this.options.attempt(),
      elapsedMs: this.clock.currentTimeMillisUnsafe() - this.since
    }))
    const abort = this.abort
    this.abort = undefined
    abort?.()
  }

  /** How a read (or the opening) that ended in `cause` ends the stream: a wait that ran out wins. */
  ended<E>(cause: Cause.Cause<E>): Cause.Cause<E | LlmError.LlmError> {
    this.disarm()
    return this.fired ?? cause
  }

  // Each read of the stream below bounded by its wait, as hooks of the layers' one stage
  // (`Streams.attach`, this object its own hooks): the wait started as the read starts, ended as
  // it returns; a chunk read as the wait ran out is dropped for the `Timeout`.
  before(): undefined {
    this.start()
    return undefined
  }

  chunk(chunk: Arr.NonEmptyReadonlyArray<A>): Arr.NonEmptyReadonlyArray<A> | Effect.Effect<never, LlmError.LlmError> {
    this.disarm()
    this.first = false
    const fired = this.fired
    return fired === undefined ? chunk : Effect.failCause(fired)
  }

  failure(cause: Cause.Cause<LlmError.LlmError | Cause.Done<unknown>>): Cause.Cause<LlmError.LlmError | Cause.Done<unknown>> {
    return this.ended(cause)
  }
}

interface StreamWaitOptions {
  readonly firstPartMs?: number | undefined
  readonly idleMs?: number | undefined
  readonly attempt: () => number
  readonly subject: Subject
}

// The stream below read by a fiber of its own, which hands each chunk straight to a consumer
// waiting for it (resumed in the same step, no scheduler turn) or buffers it; a wait that runs
// out ends the hand-off with its `Timeout`, and the consumer stops the reader (aborting the
// request) before the stream fails. One fiber and no queue per stream.
const readAhead = <A, R>(
  pull: Pull.Pull<Arr.NonEmptyReadonlyArray<A>, LlmError.LlmError, unknown, R>,
  scope: Scope.Scope,
  clock: Clock.Clock,
  context: Context.Context<never>,
  options: StreamWaitOptions
): Effect.Effect<Pull.Pull<Arr.NonEmptyReadonlyArray<A>, LlmError.LlmError, unknown>, never, R> => {
  const handoff = new Handoff<A>()
  const waits = partWaits(clock, context, options, (cause) => handoff.end(cause))
  // The reader's loop: one step per chunk besides the read (no yield per part: the reader
  // waits on the stream below or for room anyway). Each wait for the stream below starts as
  // its read does: the first from the opening, each next one once the chunk before it was
  // handed over (after a wait for room, if the buffer was full).
  const readNext = Effect.suspend(() => {
    waits.start()
    return produce
  })
  const produce: Effect.Effect<never, LlmError.LlmError | Cause.Done<unknown>, R> = Effect.flatMap(pull, (chunk) => {
    waits.received()
    const room = handoff.offer(chunk)
    if (room !== Effect.void) return Effect.andThen(room, readNext)
    waits.start()
    return produce
  })
  waits.start()
  // Started at once, so that its first wait joins the timer as the stream opens. Its end
  // reaches the consumer once the reader has exited (an observer of its exit, after the
  // scope has let go of it): a stream that ended by itself then closes its scope without an
  // interruption of the reader to await.
  return Effect.map(Effect.forkIn(produce, scope, { startImmediately: true }), (running) => {
    handoff.reader = running
    running.addObserver((exit) => {
      waits.disarm()
      if (exit._tag === "Failure") handoff.end(exit.cause)
    })
    return handoff.take
  })
}

// Chunks from a stream's reader to its consumer: a chunk offered while the consumer waits is
// handed over at once (the consumer resumed in the reader's step), else buffered, up to
// QUEUE_CAPACITY parts (then the reader waits for the consumer). `end` (the reader's end, or a
// timeout) is seen by the consumer once the buffer is empty.
class Handoff<A> {
  private buffer: Array<A> = []
  private ended: Cause.Cause<LlmError.LlmError | Cause.Done<unknown>> | undefined
  private taker: ((effect: Effect.Effect<Arr.NonEmptyReadonlyArray<A>, LlmError.LlmError | Cause.Done<unknown>>) => void) | undefined
  private giver: ((effect: Effect.Effect<void>) => void) | undefined
  /** The fiber that reads the stream below (set as it starts). */
  reader: Fiber.Fiber<unknown, unknown> | undefined

  offer(chunk: Arr.NonEmptyReadonlyArray<A>): Effect.Effect<void> {
    if (this.ended !== undefined) return Effect.interrupt
    const taker = this.taker
    if (taker !== undefined) {
      this.taker = undefined
      taker(Effect.succeed(chunk))
      return Effect.void
    }
    for (let index = 0; index < chunk.length; index++) this.buffer.push(chunk[index]!)
    if (this.buffer.length < QUEUE_CAPACITY) return Effect.void
    return Effect.callback<void>((resume) => {
      this.giver = resume
      return Effect.sync(() => {
        this.giver = undefined
      })
    })
  }

  end(cause: Cause.Cause<LlmError.LlmError | Cause.Done<unknown>>): void {
    if (this.ended !== undefined) return
    this.ended = cause
    const taker = this.taker
    if (taker === undefined) return
    this.taker = undefined
    taker(this.stopped(cause))
  }

  // The consumer's pull: what is buffered, else the end, else a wait for the reader.
  readonly take: Effect.Effect<Arr.NonEmptyReadonlyArray<A>, LlmError.LlmError | Cause.Done<unknown>> = Effect.suspend(() => {
    const buffered = this.buffer
    if (Arr.isArrayNonEmpty(buffered)) {
      this.buffer = []
      const giver = this.giver
      if (giver !== undefined) {
        this.giver = undefined
        giver(Effect.void)
      }
      return Effect.succeed(buffered)
    }
    if (this.ended !== undefined) return this.stopped(this.ended)
    return Effect.callback((resume) => {
      this.taker = resume
      return Effect.sync(() => {
        this.taker = undefined
      })
    })
  })

  // The stream's end as the consumer sees it. A failure (not the stream's end) stops the reader
  // first, so that its request is aborted before the stream fails (and before a retry sends another).
  private stopped(cause: Cause.Cause<LlmError.LlmError | Cause.Done<unknown>>): Effect.Effect<never, LlmError.LlmError | Cause.Done<unknown>> {
    const reader = this.reader
    return reader === undefined || Pull.isDoneCause(cause) ? Effect.failCause(cause) : Effect.andThen(Fiber.interrupt(reader), Effect.failCause(cause))
  }
}

// The waits of a stream's reader for its parts: the first part's from the opening (the attempt's
// timeout), each next part's from the previous one (the idle timeout), each on the shared timer of
// its clock and limit (none when that limit is absent). A wait that runs out gives its `Timeout`
// to `onTimeout`; `received` ends the open wait as a part arrives, `disarm` when the reader stops.
const partWaits = (
  clock: Clock.Clock,
  context: Context.Context<never>,
  options: {
    readonly firstPartMs?: number | undefined
    readonly idleMs?: number | undefined
    readonly attempt: () => number
    readonly subject: Subject
  },
  onTimeout: (cause: Cause.Cause<LlmError.LlmError>) => void
) => {
  const openedAt = clock.currentTimeMillisUnsafe()
  let first = true
  // The open wait's deadline on its shared timer (none: not waiting, or that wait is unbounded).
  let wheel: Wheel | undefined
  let entry: Deadline | undefined
  let waiting = false
  const arm = (since: number) => {
    waiting = true
    const limit = first ? options.firstPartMs : options.idleMs
    if (limit === undefined) return
    const scope = first ? "attempt" : "idle"
    wheel = wheelOf(clock, limit, context)
    entry = wheel.add(since + limit, () => {
      entry = undefined
      onTimeout(Cause.fail(timeoutError(options.subject, {
        scope,
        timeoutMs: limit,
        attempts: options.attempt(),
        elapsedMs: clock.currentTimeMillisUnsafe() - since
      })))
    })
  }
  const disarm = () => {
    waiting = false
    if (entry === undefined) return
    wheel!.leave(entry)
    entry = undefined
  }
  return {
    openedAt,
    read: <X, E, R2>(pull: Effect.Effect<X, E, R2>): Effect.Effect<X, E, R2> =>
      Effect.suspend(() => {
        if (!waiting) arm(first ? openedAt : clock.currentTimeMillisUnsafe())
        return pull
      }),
    /** Starts the wait for the next part (as `read` does), for a reader that reads right after. */
    start: () => {
      if (!waiting) arm(first ? openedAt : clock.currentTimeMillisUnsafe())
    },
    received: () => {
      disarm()
      first = false
    },
    disarm
  }
}

// The stream of an attempt bounded by the call's end too: a reader into a queue, and a fiber
// watching the call's end (rare: a call timeout is opt-in).
const withCallBound = <A, R>(
  self: Stream.Stream<A, LlmError.LlmError, R>,
  options: {
    readonly firstPartMs?: number | undefined
    readonly idleMs?: number | undefined
    readonly attempt: () => number
    readonly subject: Subject
  },
  call: CallBound
): Stream.Stream<A, LlmError.LlmError, R> => {
  // The stream below is read by a fiber of its own into a small queue, which a wait that runs out
  // fails: the reader hands over every part it has in one step. (`Stream.interruptWhen` would hand
  // over each part at a rendezvous, several times the cost.)
  return Stream.transformPullBracket(self, (pull, _scope, forkedScope) =>
    Effect.flatMap(Queue.bounded<A, LlmError.LlmError | Cause.Done>(QUEUE_CAPACITY), (queue) =>
      Effect.withFiber((fiber) => {
        const clock = fiber.getRef(Clock.Clock)
        const waits = partWaits(clock, fiber.context, options, (cause) => Queue.failCauseUnsafe(queue, cause))
        const openedAt = waits.openedAt
        // Without a yield per part: the reader waits on the stream below or on a full queue anyway.
        const produce = Effect.forever(
          Effect.flatMap(waits.read(pull), (chunk) => {
            waits.received()
            return Queue.offerAll(queue, chunk)
          }),
          { disableYield: true }
        )
        const reader = Effect.onError(produce, (cause) =>
          Effect.suspend(() => {
            waits.disarm()
            return Queue.failCause(queue, cause)
          }))
        // Started at once, so that its first wait joins the timer as the stream opens.
        const started = Effect.forkIn(reader, forkedScope, { startImmediately: true })
        const callEnd = call.startedAt + call.timeoutMs
        const watchCall = Effect.flatMap(
          Effect.sleep(Duration.millis(Math.max(0, callEnd - openedAt))),
          () =>
            Effect.fail(timeoutError(options.subject, {
              scope: "call",
              timeoutMs: call.timeoutMs,
              attempts: call.attempts(),
              elapsedMs: clock.currentTimeMillisUnsafe() - call.startedAt
            }))
        )
        return Effect.as(
          Effect.andThen(started, Effect.forkIn(Effect.catch(watchCall, (error) => Queue.fail(queue, error)), forkedScope)),
          Queue.takeAll(queue)
        )
      })))
}

// Parts read ahead of the consumer at most (the reader waits when the queue is full).
const QUEUE_CAPACITY = 64
