import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Logger, Queue, Scope } from "effect"
import { TestClock } from "effect/testing"
import * as BatchWriter from "../../../src/store/internal/batchWriter.ts"

interface Item {
  readonly n: number
}

// Lets the slow store of a test write one batch, and the fibers it wakes run.
const step = (steps: Queue.Queue<void>) =>
  Effect.andThen(Queue.offer(steps, void 0), Effect.andThen(Effect.yieldNow, Effect.yieldNow))

const capture = (lines: Array<string>) => Logger.layer([Logger.formatSimple.pipe(Logger.map((line) => void lines.push(line)))])

describe("BatchWriter", () => {
  it.effect("writes in queue order, in batches of at most maxBatch; flush waits for what came before", () =>
    Effect.gen(function*() {
      const batches: Array<ReadonlyArray<number>> = []
      const writer = yield* BatchWriter.make<Item>({
        label: "test",
        maxBatch: 4,
        write: (batch) => Effect.sync(() => void batches.push(batch.map((item) => item.n)))
      })
      for (let n = 1; n <= 10; n++) expect(writer.offer({ n })).toBe(true)
      yield* writer.flush
      expect(batches.flat()).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
      expect(batches.every((batch) => batch.length <= 4)).toBe(true)
    }).pipe(Effect.scoped))

  it.effect("linger: items within the window go in one batch; flush, a full batch and closing end the wait at once", () =>
    Effect.gen(function*() {
      const batches: Array<ReadonlyArray<number>> = []
      const scope = yield* Scope.make()
      const writer = yield* BatchWriter.make<Item>({
        label: "test",
        maxBatch: 4,
        linger: "50 millis",
        write: (batch) => Effect.sync(() => void batches.push(batch.map((item) => item.n)))
      }).pipe(Scope.provide(scope))
      // A steady trickle: nothing is written before the window ends, then all of it at once.
      writer.offer({ n: 1 })
      yield* Effect.yieldNow
      yield* TestClock.adjust("20 millis")
      writer.offer({ n: 2 })
      yield* TestClock.adjust("20 millis")
      writer.offer({ n: 3 })
      yield* Effect.yieldNow
      expect(batches).toEqual([])
      yield* TestClock.adjust("10 millis")
      expect(batches).toEqual([[1, 2, 3]])
      // A reader does not wait for the window (the clock does not move).
      writer.offer({ n: 4 })
      yield* Effect.yieldNow
      yield* writer.flush
      expect(batches).toEqual([[1, 2, 3], [4]])
      // maxBatch items queued end the wait.
      for (let n = 5; n <= 9; n++) writer.offer({ n })
      yield* Effect.yieldNow
      yield* Effect.yieldNow
      expect(batches.slice(2)).toEqual([[5, 6, 7, 8]])
      // Closing writes what is queued at once: no item is left behind.
      yield* Scope.close(scope, Exit.void)
      expect(batches.flat()).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9])
      expect(writer.offer({ n: 10 })).toBe(false)
    }))

  it.effect("a failed batch is retried until it is written and logged; flush does not wait while writes fail", () =>
    Effect.gen(function*() {
      const lines: Array<string> = []
      let failures = 2
      const written: Array<number> = []
      const writer = yield* BatchWriter.make<Item>({
        label: "test ledger",
        write: (batch) =>
          Effect.suspend(() => {
            if (failures > 0) {
              failures -= 1
              return Effect.fail(new Error("disk busy"))
            }
            written.push(...batch.map((item) => item.n))
            return Effect.void
          })
      }).pipe(Effect.provide(capture(lines)))
      writer.offer({ n: 1 })
      yield* writer.flush // released at the first failure: readers do not wait for a failing store
      expect(written).toEqual([])
      yield* writer.flush // and do not wait while it is failing
      expect(lines.filter((line) => line.includes("test ledger: could not write 1 item(s); retrying"))).toHaveLength(1)
      yield* TestClock.adjust("1 second")
      expect(written).toEqual([1])
      expect(lines.filter((line) => line.includes("disk busy"))).toHaveLength(2)
      // Healthy again: flush waits for the next write.
      writer.offer({ n: 2 })
      yield* writer.flush
      expect(written).toEqual([1, 2])
    }).pipe(Effect.scoped))

  it.effect("closing writes what is queued; if writes keep failing it gives up after closeTimeout and says how many were lost", () =>
    Effect.gen(function*() {
      const lines: Array<string> = []
      const scope = yield* Scope.make()
      const writer = yield* BatchWriter.make<Item>({
        label: "test ledger",
        maxBatch: 2,
        closeTimeout: "3 seconds",
        write: () => Effect.fail(new Error("read-only file system"))
      }).pipe(Scope.provide(scope), Effect.provide(capture(lines)))
      for (let n = 1; n <= 5; n++) writer.offer({ n })
      yield* Effect.yieldNow
      const closing = yield* Effect.forkChild(Scope.close(scope, Exit.void))
      yield* TestClock.adjust("2 seconds")
      expect(closing.pollUnsafe()).toBeUndefined()
      yield* TestClock.adjust("5 seconds")
      yield* Fiber.join(closing)
      expect(lines.some((line) => line.includes("test ledger: 5 item(s) could not be written and are lost"))).toBe(true)
      // Closed: later offers are refused.
      expect(writer.offer({ n: 6 })).toBe(false)
    }))

  // ADR 0060: a full queue never drops an item. (Before, the fifth test here asserted the drop:
  // "a full queue drops the item (the caller is never blocked) and the count is logged".)
  it.effect("a full queue: offer says so, add hands the item over and the producer waits for room while the store writes; nothing lost, the queue never above capacity", () =>
    Effect.gen(function*() {
      const written: Array<number> = []
      // A slow but healthy store: a batch is written when the test lets it (one per step below).
      const steps = yield* Queue.unbounded<void>()
      const writer = yield* BatchWriter.make<Item>({
        label: "test ledger",
        capacity: 3,
        maxBatch: 2,
        write: (batch) => Effect.andThen(Queue.take(steps), Effect.sync(() => void written.push(...batch.map((item) => item.n))))
      })
      let most = 0
      let waits = 0
      const producer = yield* Effect.forkChild(Effect.gen(function*() {
        for (let n = 1; n <= 40; n++) {
          const wait = writer.add({ n })
          const { queued, held } = writer.stats()
          most = Math.max(most, queued + held)
          if (wait !== undefined) {
            waits += 1
            yield* wait
          }
        }
      }))
      yield* Effect.yieldNow
      // The producer is ahead of the store: the queue is full and it waits.
      expect(writer.stats()).toEqual({ queued: 3, held: 1, lost: 0, waiting: 1 })
      expect(writer.offer({ n: 0 })).toBe(false)
      while (producer.pollUnsafe() === undefined) yield* step(steps)
      yield* Queue.offerAll(steps, Array.from({ length: 40 }, () => void 0))
      yield* writer.flush
      expect(written).toEqual(Array.from({ length: 40 }, (_, index) => index + 1))
      expect(waits).toBeGreaterThan(10)
      // The queue's capacity, plus the one item whose producer waits.
      expect(most).toBe(4)
      expect(writer.stats()).toEqual({ queued: 0, held: 0, lost: 0, waiting: 0 })
    }).pipe(Effect.scoped))

  it.effect("a burst of concurrent producers past the queue: each item held in order, each producer released once its item is queued; nothing lost", () =>
    Effect.gen(function*() {
      const written: Array<number> = []
      const steps = yield* Queue.unbounded<void>()
      const writer = yield* BatchWriter.make<Item>({
        label: "test ledger",
        capacity: 10,
        maxBatch: 5,
        write: (batch) => Effect.andThen(Queue.take(steps), Effect.sync(() => void written.push(...batch.map((item) => item.n))))
      })
      const producers = yield* Effect.forEach(
        Array.from({ length: 50 }, (_, index) => index + 1),
        (n) => Effect.forkChild(Effect.suspend(() => writer.add({ n }) ?? Effect.void)),
        { concurrency: 1 }
      )
      yield* Effect.yieldNow
      // The writer took the first item (it woke when it came); the queue is full, and each item
      // held behind it has its producer waiting.
      expect(writer.stats()).toEqual({ queued: 10, held: 39, lost: 0, waiting: 39 })
      while (producers.some((fiber) => fiber.pollUnsafe() === undefined)) yield* step(steps)
      yield* Queue.offerAll(steps, Array.from({ length: 50 }, () => void 0))
      yield* writer.flush
      expect(written).toEqual(Array.from({ length: 50 }, (_, index) => index + 1))
      expect(writer.stats().lost).toBe(0)
    }).pipe(Effect.scoped))

  it.effect("a producer interrupted while it waits for room loses nothing: its item was handed over before the wait", () =>
    Effect.gen(function*() {
      const written: Array<number> = []
      const gate = yield* Deferred.make<void>()
      const writer = yield* BatchWriter.make<Item>({
        label: "test ledger",
        capacity: 2,
        maxBatch: 1,
        write: (batch) => Effect.andThen(Deferred.await(gate), Effect.sync(() => void written.push(...batch.map((item) => item.n))))
      })
      // 1 is being written (held at the gate), 2 and 3 fill the queue, 4 waits.
      writer.add({ n: 1 })
      yield* Effect.yieldNow
      expect(writer.add({ n: 2 })).toBeUndefined()
      expect(writer.add({ n: 3 })).toBeUndefined()
      const wait = writer.add({ n: 4 })
      expect(wait).toBeDefined()
      const waiting = yield* Effect.forkChild(wait ?? Effect.void)
      yield* Effect.yieldNow
      expect(waiting.pollUnsafe()).toBeUndefined()
      yield* Fiber.interrupt(waiting)
      expect(writer.stats()).toMatchObject({ queued: 2, held: 1, lost: 0 })
      yield* Deferred.succeed(gate, void 0)
      yield* writer.flush
      expect(written).toEqual([1, 2, 3, 4])
    }).pipe(Effect.scoped))

  it.effect("a failing store is not waited for: items are held in memory in order and written once it is back; past overflow an item is lost, counted and logged as an error", () =>
    Effect.gen(function*() {
      const lines: Array<string> = []
      const written: Array<number> = []
      let down = true
      const gate = yield* Deferred.make<void>()
      const writer = yield* BatchWriter.make<Item>({
        label: "test ledger",
        capacity: 2,
        overflow: 3,
        maxBatch: 1,
        write: (batch) =>
          Effect.andThen(
            Deferred.await(gate),
            Effect.suspend(() => {
              if (down) return Effect.fail(new Error("disk I/O error"))
              written.push(...batch.map((item) => item.n))
              return Effect.void
            })
          )
      }).pipe(Effect.provide(capture(lines)))
      // While the first write is still on its way (not yet known to fail), a producer past the queue waits.
      writer.add({ n: 1 })
      yield* Effect.yieldNow
      writer.add({ n: 2 })
      writer.add({ n: 3 })
      const waiting = yield* Effect.forkChild(writer.add({ n: 4 }) ?? Effect.void)
      yield* Effect.yieldNow
      expect(waiting.pollUnsafe()).toBeUndefined()
      // The write fails: the waiting producer goes on (its item stays held), and later ones do not wait.
      yield* Deferred.succeed(gate, void 0)
      yield* Fiber.join(waiting)
      expect(writer.add({ n: 5 })).toBeUndefined()
      expect(writer.add({ n: 6 })).toBeUndefined()
      // The queue (2) and the overflow (3) are full: 7 is lost.
      expect(writer.add({ n: 7 })).toBeUndefined()
      expect(writer.stats()).toEqual({ queued: 2, held: 3, lost: 1, waiting: 0 })
      yield* TestClock.adjust("100 millis")
      expect(lines.some((line) => line.includes("test ledger: 1 item(s) not recorded and lost: the store is failing and 3 item(s) are already held behind the full queue (2)"))).toBe(true)
      expect(lines.some((line) => line.includes("level=ERROR") && line.includes("3 of them held in memory behind the full queue"))).toBe(true)
      // Back: every held item is written, in order.
      down = false
      yield* TestClock.adjust("2 seconds")
      yield* writer.flush
      expect(written).toEqual([1, 2, 3, 4, 5, 6])
      expect(writer.stats()).toEqual({ queued: 0, held: 0, lost: 1, waiting: 0 })
    }).pipe(Effect.scoped))

  it.effect("a write that dies (a defect) is retried like a failed one: the writer goes on, nothing is lost", () =>
    Effect.gen(function*() {
      const lines: Array<string> = []
      const written: Array<number> = []
      let defects = 1
      const writer = yield* BatchWriter.make<Item>({
        label: "test ledger",
        write: (batch) =>
          Effect.suspend(() => {
            if (defects > 0) {
              defects -= 1
              throw new Error("bug in write")
            }
            written.push(...batch.map((item) => item.n))
            return Effect.void
          })
      }).pipe(Effect.provide(capture(lines)))
      writer.offer({ n: 1 })
      // Released at the first failed attempt (readers do not wait for a failing store).
      yield* writer.flush
      expect(lines.some((line) => line.includes("could not write 1 item(s); retrying") && line.includes("bug in write"))).toBe(true)
      yield* TestClock.adjust("100 millis")
      writer.offer({ n: 2 })
      yield* writer.flush
      expect(written).toEqual([1, 2])
    }).pipe(Effect.scoped))
})
