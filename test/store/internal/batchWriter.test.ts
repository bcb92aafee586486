import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Logger, Scope } from "effect"
import { TestClock } from "effect/testing"
import * as BatchWriter from "../../../src/store/internal/batchWriter.ts"

interface Item {
  readonly n: number
}

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

  it.effect("a full queue drops the item (the caller is never blocked) and the count is logged", () =>
    Effect.gen(function*() {
      const lines: Array<string> = []
      const written: Array<number> = []
      const writer = yield* BatchWriter.make<Item>({
        label: "test ledger",
        capacity: 3,
        write: (batch) => Effect.sync(() => void written.push(...batch.map((item) => item.n)))
      }).pipe(Effect.provide(capture(lines)))
      const accepted = [1, 2, 3, 4, 5].map((n) => writer.offer({ n }))
      expect(accepted).toEqual([true, true, true, false, false])
      yield* writer.flush
      expect(written).toEqual([1, 2, 3])
      expect(lines.some((line) => line.includes("test ledger: 2 item(s) not recorded: the write queue (3) was full"))).toBe(true)
    }).pipe(Effect.scoped))
})
