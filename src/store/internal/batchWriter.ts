/**
 * Writes off the hot path: items are queued (a synchronous, non-blocking offer) and a background
 * fiber writes them in batches. A failed batch is logged and retried, never reported to the
 * caller; when the scope closes the queue is drained (every item queued before is written, within
 * a bound when writes keep failing), so a CLI process writes every row before it exits.
 *
 * Order is kept: one writer, batches in queue order. `flush` waits until everything queued
 * before it has been written (or its write has failed once), so a reader sees its own writes.
 * When the queue is full an item is dropped and counted (a disk that cannot keep up must not
 * stall model calls); the writer logs the count.
 */
import { Array as Arr, Cause, Clock, Deferred, Duration, Effect, Exit, Fiber, Queue, Schedule } from "effect"
import type * as Scope from "effect/Scope"
import { causeText } from "./sqlite.ts"

export interface BatchWriter<A> {
  /** Queues an item; `false` when it was dropped (queue full, or the writer closed). */
  readonly offer: (item: A) => boolean
  /** Waits until every item offered before it has been written, or its write has failed once. */
  readonly flush: Effect.Effect<void>
}

export interface Options<A> {
  /** Writes one batch, all or nothing (e.g. one multi-row INSERT). */
  readonly write: (batch: Arr.NonEmptyReadonlyArray<A>) => Effect.Effect<void, unknown>
  /** Names the target in log lines, e.g. `"usage ledger (usage.db)"`. */
  readonly label: string
  /** Items queued at most (default 10 000). */
  readonly capacity?: number | undefined
  /** Items per batch at most (default 500). */
  readonly maxBatch?: number | undefined
  /** The delays between attempts of a failed batch (default 100 ms doubling, at most 2 s). */
  readonly retry?: Schedule.Schedule<unknown, unknown> | undefined
  /** Once the scope is closing, how long failed batches are still retried (default 5 s). */
  readonly closeTimeout?: Duration.Input | undefined
}

/** A flush request in the queue: completed once everything queued before it is written. */
class Marker {
  readonly done = Deferred.makeUnsafe<void>()
}


export const make = <A extends object>(options: Options<A>): Effect.Effect<BatchWriter<A>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const capacity = options.capacity ?? 10_000
    const maxBatch = options.maxBatch ?? 500
    const closeTimeout = Duration.toMillis(Duration.fromInputUnsafe(options.closeTimeout ?? Duration.seconds(5)))
    const retry = options.retry ?? Schedule.min([Schedule.exponential("100 millis"), Schedule.spaced("2 seconds")])
    const queue = yield* Queue.bounded<A | Marker, Cause.Done>(capacity)
    // Plain counters, closed over (one writer per instance): updated synchronously.
    let dropped = 0
    let closingAt: number | undefined

    const offer = (item: A): boolean => {
      if (Queue.offerUnsafe(queue, item)) return true
      dropped += 1
      return false
    }

    const reportDropped = Effect.suspend(() => {
      if (dropped === 0) return Effect.void
      const count = dropped
      dropped = 0
      return Effect.logWarning(`${options.label}: ${count} item(s) not recorded: the write queue (${capacity}) was full`)
    })

    const keepTrying = Effect.map(Clock.currentTimeMillis, (now) => closingAt === undefined || now - closingAt < closeTimeout)

    const writeBatch = (items: ReadonlyArray<A | Marker>) => {
      const rows: Array<A> = []
      const markers: Array<Marker> = []
      for (const item of items) {
        if (item instanceof Marker) markers.push(item)
        else rows.push(item)
      }
      const release = Effect.sync(() => {
        for (const marker of markers) Deferred.doneUnsafe(marker.done, Exit.void)
      })
      if (!Arr.isArrayNonEmpty(rows)) return release
      return options.write(rows).pipe(
        // Readers waiting on a flush are let go after the first failure (they see the file as it
        // is); the batch itself is retried.
        Effect.tapError((cause) =>
          Effect.andThen(
            Effect.logWarning(`${options.label}: could not write ${rows.length} item(s); retrying`, causeText(cause)),
            release
          )
        ),
        Effect.retry({ schedule: retry, while: () => keepTrying }),
        Effect.catch((cause) =>
          // Closing and out of time: this batch and what is still queued are lost; say how many.
          Effect.flatMap(Queue.clear(queue), (rest) => {
            let lost = rows.length
            for (const item of rest) {
              if (item instanceof Marker) Deferred.doneUnsafe(item.done, Exit.void)
              else lost += 1
            }
            return Effect.logError(`${options.label}: ${lost} item(s) could not be written and are lost`, causeText(cause))
          })
        ),
        Effect.ensuring(release),
        Effect.andThen(reportDropped)
      )
    }

    const loop = Effect.gen(function*() {
      while (true) {
        const taken = yield* Effect.exit(Queue.takeBetween(queue, 1, maxBatch))
        if (Exit.isFailure(taken)) return // ended and drained
        yield* writeBatch(taken.value)
      }
    })

    // The writer's statements are the ledger's own bookkeeping: no span per batch in the user's traces.
    const writer = yield* Effect.forkDetach(Effect.withTracerEnabled(loop, false))
    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        closingAt = yield* Clock.currentTimeMillis
        Queue.endUnsafe(queue)
        yield* Fiber.await(writer)
      })
    )

    const flush = Effect.suspend(() => {
      const marker = new Marker()
      return Effect.flatMap(Queue.offer(queue, marker), (queued) => queued ? Deferred.await(marker.done) : Effect.void)
    })

    return { offer, flush }
  })
