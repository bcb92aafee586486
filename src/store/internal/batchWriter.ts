/**
 * Writes off the hot path: items are queued (a synchronous offer while there is room) and a
 * background fiber writes them in batches. A failed batch is logged and retried, never reported
 * to the caller; when the scope closes everything queued is written (within a bound when writes
 * keep failing), so a CLI process writes every row before it exits.
 *
 * Order is kept: one writer, batches in the order items were accepted. `flush` waits until
 * everything accepted before it has been written, so a reader sees its own writes; while writes
 * are failing it does not wait (the reader sees the store as it is).
 *
 * A full queue never drops an item (issue 16 follow-up, ADR 0060). `add` hands the item over at
 * once in every case: into the queue when there is room (nothing to wait for: `undefined`), else
 * into the items held behind the queue, and then returns the wait for room:
 *
 * - while the store is writing (healthy but slower than the producers), the producer waits until
 *   its item has moved into the queue (backpressure, as a writer on the calling thread blocked
 *   it). Interrupting the wait loses nothing: the item was handed over before it began;
 * - while the store is failing (its last write failed and is being retried), nobody waits: a dead
 *   disk or an unreachable server never stalls the calls behind it. The held items are kept in
 *   memory, in order, and written when the store is back; each retry's log line says how many;
 * - the held items are bounded (`overflow`, default 100,000): past it, with the store failing
 *   that long, an item is lost, counted and logged as an error (the only loss besides a store
 *   still failing `closeTimeout` after the scope closed, also logged with its count).
 *
 * Memory stays bounded: at most `capacity + overflow` items pending, plus the batch being written.
 *
 * With `linger`, a batch is not written as soon as its first item arrives: the writer waits up to
 * that long for more (a server at a steady rate otherwise writes one batch per request: a commit,
 * its `pwrite`s and its share of the WAL's checkpoints each time). `flush`, a full batch and
 * closing end the wait at once, so a reader never waits for it and nothing queued is left behind.
 */
import { Array as Arr, Clock, Deferred, Duration, Effect, Exit, Fiber, Schedule } from "effect"
import type * as Scope from "effect/Scope"
import { causeText } from "./sqlite.ts"

export interface BatchWriter<A> {
  /**
   * Queues an item when there is room (`true`); `false` when the queue is full or the writer is
   * closed: nothing was done (use `add`).
   */
  readonly offer: (item: A) => boolean
  /**
   * Hands an item over, whatever the queue's state: `undefined` when it was queued at once, else
   * the wait for room to run (see the module description; the item is already handed over, so an
   * interrupted wait loses nothing).
   */
  readonly add: (item: A) => Effect.Effect<void> | undefined
  /** Waits until every item accepted before it has been written (not while writes are failing). */
  readonly flush: Effect.Effect<void>
  /** What is pending now, for tests and benches: queued (at most `capacity`), held behind the queue, lost so far. */
  readonly stats: () => Stats
}

export interface Stats {
  /** Items in the queue (at most `capacity`). */
  readonly queued: number
  /** Items held behind the full queue (at most `overflow`): their producers wait, or the store is failing. */
  readonly held: number
  /** Items lost since the writer was made (held items past `overflow`, or still failing after `closeTimeout` at close). */
  readonly lost: number
  /** Producers waiting for room now. */
  readonly waiting: number
}

export interface Options<A> {
  /** Writes one batch, all or nothing (e.g. one multi-row INSERT). */
  readonly write: (batch: Arr.NonEmptyReadonlyArray<A>) => Effect.Effect<void, unknown>
  /** Names the target in log lines, e.g. `"the usage ledger at usage.db"`. */
  readonly label: string
  /** Items queued at most (default 10 000); a producer past it waits for room while the store writes. */
  readonly capacity?: number | undefined
  /** Items held behind a full queue at most (default 100 000): reached only while the store fails. */
  readonly overflow?: number | undefined
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
  /** Released once this many items are settled (a reader), or taken from the queue (a producer). */
  readonly target: number
  readonly done: Deferred.Deferred<void>
}

// Releases the waiters whose target is reached (all of them with `all`), keeping the others in
// order. The list is settled before any is completed: completing one may run its fiber at once,
// and that fiber may add a waiter to the same list.
const releaseWaiters = (waiters: Array<Waiter>, reached: number, all: boolean) => {
  let kept = 0
  let released: Array<Waiter> | undefined
  for (const waiter of waiters) {
    if (all || waiter.target <= reached) (released ??= []).push(waiter)
    else waiters[kept++] = waiter
  }
  waiters.length = kept
  if (released !== undefined) for (const waiter of released) Deferred.doneUnsafe(waiter.done, Exit.void)
}

export const make = <A>(options: Options<A>): Effect.Effect<BatchWriter<A>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const capacity = options.capacity ?? 10_000
    const overflow = options.overflow ?? 100_000
    const maxBatch = options.maxBatch ?? 500
    const closeTimeout = Duration.toMillis(Duration.fromInputUnsafe(options.closeTimeout ?? Duration.seconds(5)))
    const linger = Duration.toMillis(Duration.fromInputUnsafe(options.linger ?? Duration.zero))
    const retry = options.retry ?? Schedule.min([Schedule.exponential("100 millis"), Schedule.spaced("2 seconds")])
    // Plain state, closed over and changed synchronously (one writer per instance). `items`: what is
    // accepted and not yet taken by the writer, in order; its first `capacity` are the queue, the
    // rest are held. Items are settled in the order they were accepted: written, or given up on.
    let items: Array<A> = []
    let accepted = 0
    let taken = 0
    let settled = 0
    let lost = 0
    let lostSaid = 0
    let failing = false
    let closed = false
    let closingAt: number | undefined
    // Readers (`flush`), released by `settled`; producers waiting for room, released by `taken`.
    const readers: Array<Waiter> = []
    const producers: Array<Waiter> = []
    // Set while the writer waits: for the first item (`idle`), or lingering for more. Done to end the wait.
    let wake: Deferred.Deferred<void> | undefined
    let idle = false
    const wakeUp = () => {
      const waiting = wake
      if (waiting === undefined) return
      // Cleared first: completing it may run the writer at once, up to its next wait (a new `wake`).
      wake = undefined
      Deferred.doneUnsafe(waiting, Exit.void)
    }

    // The hot path: a push while there is room (no effect, no allocation but the array's).
    const offer = (item: A): boolean => {
      if (closed || items.length >= capacity) return false
      items.push(item)
      accepted += 1
      if (wake !== undefined && (idle || items.length >= maxBatch)) wakeUp()
      return true
    }

    const lostAfterClose = Effect.suspend(() =>
      Effect.logError(`${options.label}: an item arrived after the writer closed and is lost`)
    )

    // The queue is full (or closed): hold the item behind it, and say what to wait for.
    const hold = (item: A): Effect.Effect<void> | undefined => {
      if (closed) {
        lost += 1
        return lostAfterClose
      }
      if (items.length >= capacity + overflow) {
        // Only while the store fails (or with `overflow` producers waiting at once): reported by the writer.
        lost += 1
        return undefined
      }
      items.push(item)
      accepted += 1
      // A store that is failing is not waited for: the item stays held until it is back.
      if (failing) return undefined
      // In the queue once the items before it, past `capacity`, have been taken.
      const done = Deferred.makeUnsafe<void>()
      producers.push({ target: accepted - capacity, done })
      return Deferred.await(done)
    }

    const add = (item: A): Effect.Effect<void> | undefined => offer(item) ? undefined : hold(item)

    // Takes up to `count` items from the front; the producers whose items moved into the queue go on.
    const take = (count: number): Array<A> => {
      let batch: Array<A>
      if (items.length <= count) {
        batch = items
        items = []
      } else {
        batch = items.splice(0, count)
      }
      taken += batch.length
      if (producers.length > 0) releaseWaiters(producers, taken, false)
      return batch
    }

    const settle = (count: number) =>
      Effect.sync(() => {
        settled += count
        failing = false
        releaseWaiters(readers, settled, false)
      })

    const reportLost = Effect.suspend(() => {
      if (lost === lostSaid) return Effect.void
      const count = lost - lostSaid
      lostSaid = lost
      return Effect.logError(
        `${options.label}: ${count} item(s) not recorded and lost: the store is failing and ${overflow} item(s) are already held behind the full queue (${capacity})`
      )
    })

    const keepTrying = Effect.map(Clock.currentTimeMillis, (now) => closingAt === undefined || now - closingAt < closeTimeout)

    const failed = (rows: Arr.NonEmptyReadonlyArray<A>, cause: unknown) =>
      Effect.andThen(
        Effect.suspend(() => {
          const held = Math.max(0, items.length - capacity)
          const pending = `${items.length} more pending${held > 0 ? `, ${held} of them held in memory behind the full queue` : ""}`
          return held > 0
            ? Effect.logError(`${options.label}: could not write ${rows.length} item(s); retrying (${pending})`, causeText(cause))
            : Effect.logWarning(`${options.label}: could not write ${rows.length} item(s); retrying (${pending})`, causeText(cause))
        }),
        // Readers and producers do not wait for a store that is failing: they see it as it is,
        // and their items stay held until it is back.
        Effect.andThen(
          Effect.sync(() => {
            failing = true
            releaseWaiters(readers, settled, true)
            releaseWaiters(producers, taken, true)
          }),
          reportLost
        )
      )

    const writeBatch = (rows: Arr.NonEmptyReadonlyArray<A>) =>
      Effect.suspend(() => options.write(rows)).pipe(
        // A defect (a bug in `write`, a throw) is a failed write too: retried and logged. Were it
        // to end the writer, producers waiting for room would wait for ever.
        Effect.catchDefect((defect) => Effect.fail(defect)),
        Effect.tapError((cause) => failed(rows, cause)),
        Effect.retry({ schedule: retry, while: () => keepTrying }),
        Effect.andThen(Effect.andThen(reportLost, settle(rows.length))),
        Effect.catch((cause) =>
          // Closing and out of time: this batch and what is still pending are lost; say how many.
          Effect.suspend(() => {
            const rest = take(items.length).length
            lost += rows.length + rest
            lostSaid = lost
            return Effect.andThen(
              settle(rows.length + rest),
              Effect.logError(
                `${options.label}: ${rows.length + rest} item(s) could not be written and are lost`,
                causeText(cause)
              )
            )
          })
        )
      )

    // Waits for an item, or for the close: `false` once closed with nothing left.
    const awaitItems = Effect.suspend(() => {
      if (items.length > 0) return Effect.succeed(true)
      if (closed) return Effect.succeed(false)
      const done = Deferred.makeUnsafe<void>()
      wake = done
      idle = true
      return Effect.as(Deferred.await(done), true)
    })

    // Waits up to `linger` for more items (not when a reader or the close is already waiting).
    const lingerFor = (first: Array<A>) =>
      Effect.gen(function*() {
        if (linger <= 0 || first.length >= maxBatch || closingAt !== undefined || readers.length > 0) return first
        const done = Deferred.makeUnsafe<void>()
        wake = done
        idle = false
        yield* Effect.raceFirst(Effect.sleep(linger), Deferred.await(done))
        if (wake === done) wake = undefined
        if (items.length === 0) return first
        const more = take(maxBatch - first.length)
        return first.length === 0 ? more : first.concat(more)
      })

    const loop = Effect.gen(function*() {
      while (true) {
        if (!(yield* awaitItems)) return // closed and drained
        idle = false
        const batch = yield* lingerFor(take(maxBatch))
        if (Arr.isReadonlyArrayNonEmpty(batch)) yield* writeBatch(batch)
      }
    })

    // The writer's statements are the ledger's own bookkeeping: no span per batch in the user's traces.
    const writer = yield* Effect.forkDetach(Effect.withTracerEnabled(loop, false))
    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        closingAt = yield* Clock.currentTimeMillis
        closed = true
        wakeUp()
        yield* Fiber.await(writer)
        releaseWaiters(readers, settled, true)
        releaseWaiters(producers, taken, true)
      })
    )

    const flush = Effect.suspend(() => {
      if (failing || settled >= accepted) return Effect.void
      const done = Deferred.makeUnsafe<void>()
      readers.push({ target: accepted, done })
      wakeUp()
      return Deferred.await(done)
    })

    const stats = (): Stats => ({
      queued: Math.min(items.length, capacity),
      held: Math.max(0, items.length - capacity),
      lost,
      waiting: producers.length
    })

    return { offer, add, flush, stats }
  })
