/**
 * Writes off the hot path: items are queued (a synchronous, non-blocking offer) and a background
 * fiber writes them in batches. A failed batch is logged and retried, never reported to the
 * caller; when the scope closes the queue is drained (every item queued before is written, within
 * a bound when writes keep failing), so a CLI process writes every row before it exits.
 *
 * Order is kept: one writer, batches in queue order. `flush` waits until everything queued
 * before it has been written, so a reader sees its own writes; while writes are failing it does
 * not wait (the reader sees the store as it is). When the queue is full an item is dropped and
 * counted (a disk that cannot keep up must not stall model calls); the writer logs the count.
 *
 * With `linger`, a batch is not written as soon as its first item arrives: the writer waits up to
 * that long for more (a server at a steady rate otherwise writes one batch per request: a commit,
 * its `pwrite`s and its share of the WAL's checkpoints each time). `flush`, a full batch and
 * closing end the wait at once, so a reader never waits for it and nothing queued is left behind.
 */
import { Array as Arr, Cause, Clock, Deferred, Duration, Effect, Exit, Fiber, Queue, Schedule } from "effect"
import type * as Scope from "effect/Scope"
import { causeText } from "./sqlite.ts"

export interface BatchWriter<A> {
  /** Queues an item; `false` when it was dropped (queue full, or the writer closed). */
  readonly offer: (item: A) => boolean
  /** Waits until every item offered before it has been written (not while writes are failing). */
  readonly flush: Effect.Effect<void>
}

export interface Options<A> {
  /** Writes one batch, all or nothing (e.g. one multi-row INSERT). */
  readonly write: (batch: Arr.NonEmptyReadonlyArray<A>) => Effect.Effect<void, unknown>
  /** Names the target in log lines, e.g. `"the usage ledger at usage.db"`. */
  readonly label: string
  /** Items queued at most (default 10 000). */
  readonly capacity?: number | undefined
  /** Items per batch at most (default 500). */
  readonly maxBatch?: number | undefined
  /** The delays between attempts of a failed batch (default 100 ms doubling, at most 2 s). */
  readonly retry?: Schedule.Schedule<unknown, unknown> | undefined
  /** Once the scope is closing, how long failed batches are still retried (default 5 s). */
  readonly closeTimeout?: Duration.Input | undefined
  /**
   * How long the writer waits, after the first item of a batch, for more items to write with it
   * (default 0: at once). `flush`, `maxBatch` items queued and closing end the wait early.
   */
  readonly linger?: Duration.Input | undefined
}

interface Waiter {
  /** Released once this many items are settled. */
  readonly target: number
  readonly done: Deferred.Deferred<void>
}

export const make = <A>(options: Options<A>): Effect.Effect<BatchWriter<A>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const capacity = options.capacity ?? 10_000
    const maxBatch = options.maxBatch ?? 500
    const closeTimeout = Duration.toMillis(Duration.fromInputUnsafe(options.closeTimeout ?? Duration.seconds(5)))
    const linger = Duration.toMillis(Duration.fromInputUnsafe(options.linger ?? Duration.zero))
    const retry = options.retry ?? Schedule.min([Schedule.exponential("100 millis"), Schedule.spaced("2 seconds")])
    const queue = yield* Queue.bounded<A, Cause.Done>(capacity)
    // Plain state, closed over and changed synchronously (one writer per instance). Items are
    // settled in the order they were accepted: written, or given up on at close.
    let accepted = 0
    let settled = 0
    let dropped = 0
    let failing = false
    let closingAt: number | undefined
    const waiters: Array<Waiter> = []
    // Set while the writer lingers for more items: done to end the wait early.
    let wake: Deferred.Deferred<void> | undefined
    const wakeUp = () => {
      if (wake !== undefined) Deferred.doneUnsafe(wake, Exit.void)
    }

    const offer = (item: A): boolean => {
      if (Queue.offerUnsafe(queue, item)) {
        accepted += 1
        if (wake !== undefined && Queue.sizeUnsafe(queue) >= maxBatch) wakeUp()
        return true
      }
      dropped += 1
      return false
    }

    const release = (all: boolean) => {
      let kept = 0
      for (const waiter of waiters) {
        if (all || waiter.target <= settled) Deferred.doneUnsafe(waiter.done, Exit.void)
        else waiters[kept++] = waiter
      }
      waiters.length = kept
    }

    const settle = (count: number) =>
      Effect.sync(() => {
        settled += count
        failing = false
        release(false)
      })

    const reportDropped = Effect.suspend(() => {
      if (dropped === 0) return Effect.void
      const count = dropped
      dropped = 0
      return Effect.logWarning(`${options.label}: ${count} item(s) not recorded: the write queue (${capacity}) was full`)
    })

    const keepTrying = Effect.map(Clock.currentTimeMillis, (now) => closingAt === undefined || now - closingAt < closeTimeout)

    const writeBatch = (rows: Arr.NonEmptyReadonlyArray<A>) =>
      options.write(rows).pipe(
        Effect.tapError((cause) =>
          Effect.andThen(
            Effect.logWarning(`${options.label}: could not write ${rows.length} item(s); retrying`, causeText(cause)),
            // Readers do not wait for a store that is failing: they see it as it is.
            Effect.sync(() => {
              failing = true
              release(true)
            })
          )
        ),
        Effect.retry({ schedule: retry, while: () => keepTrying }),
        Effect.andThen(Effect.andThen(reportDropped, settle(rows.length))),
        Effect.catch((cause) =>
          // Closing and out of time: this batch and what is still queued are lost; say how many.
          Effect.flatMap(Queue.clear(queue), (rest) =>
            Effect.andThen(
              settle(rows.length + rest.length),
              Effect.logError(
                `${options.label}: ${rows.length + rest.length} item(s) could not be written and are lost`,
                causeText(cause)
              )
            ))
        )
      )

    // Waits up to `linger` for more items (not when a reader or the close is already waiting).
    const lingerFor = (first: ReadonlyArray<A>) =>
      Effect.gen(function*() {
        if (linger <= 0 || first.length >= maxBatch || closingAt !== undefined || waiters.length > 0) return first
        const done = Deferred.makeUnsafe<void>()
        wake = done
        yield* Effect.raceFirst(Effect.sleep(linger), Deferred.await(done))
        wake = undefined
        // The only taker: what is queued now is there to take (`takeBetween` with a minimum of 0 takes nothing).
        if (Queue.sizeUnsafe(queue) === 0) return first
        const more = yield* Effect.exit(Queue.takeBetween(queue, 1, maxBatch - first.length))
        return Exit.isSuccess(more) ? [...first, ...more.value] : first
      })

    const loop = Effect.gen(function*() {
      while (true) {
        const taken = yield* Effect.exit(Queue.takeBetween(queue, 1, maxBatch))
        if (Exit.isFailure(taken)) return // ended and drained
        const batch = yield* lingerFor(taken.value)
        if (Arr.isReadonlyArrayNonEmpty(batch)) yield* writeBatch(batch)
      }
    })

    // The writer's statements are the ledger's own bookkeeping: no span per batch in the user's traces.
    const writer = yield* Effect.forkDetach(Effect.withTracerEnabled(loop, false))
    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        closingAt = yield* Clock.currentTimeMillis
        wakeUp()
        Queue.endUnsafe(queue)
        yield* Fiber.await(writer)
        release(true)
      })
    )

    const flush = Effect.suspend(() => {
      if (failing || settled >= accepted) return Effect.void
      const done = Deferred.makeUnsafe<void>()
      waiters.push({ target: accepted, done })
      wakeUp()
      return Deferred.await(done)
    })

    return { offer, flush }
  })
