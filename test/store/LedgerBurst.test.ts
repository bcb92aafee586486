// The usage ledger under a burst larger than its write queue (10,000 rows): no row is lost
// (issue 16 follow-up, ADR 0060). Real SQLite files in temp dirs; the writer thread where serve
// uses it; another connection (node:sqlite, outside the code under test) locks the file to make
// the store fail.
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Logger } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { DatabaseSync } from "node:sqlite"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as LanguageModel from "../../src/LanguageModel.ts"
import * as Observability from "../../src/observability/Observability.ts"
import * as UsageLedger from "../../src/observability/UsageLedger.ts"
import * as MockLanguageModel from "../../src/providers/mock/MockLanguageModel.ts"

const entry = (n: number): UsageLedger.Entry => ({
  time: 1_000 + n,
  provider: "openai",
  model: "gpt-4o-mini",
  inputTokens: n,
  outputTokens: 1,
  totalTokens: n + 1,
  estimated: false,
  latencyMs: 1,
  outcome: "ok",
  requestId: `r${n}`
})

const count = (path: string) => {
  const db = new DatabaseSync(path)
  try {
    return db.prepare("SELECT COUNT(*) AS n, COUNT(DISTINCT request_id) AS distinct_ids, SUM(input_tokens) AS sum FROM usage").get()
  } finally {
    db.close()
  }
}

const withTempDir = <A, E, R>(body: (dir: string) => Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => mkdtempSync(join(tmpdir(), "ledger-burst-"))),
    body,
    (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
  )

const capture = (lines: Array<string>) => Logger.layer([Logger.formatSimple.pipe(Logger.map((line) => void lines.push(line)))])

// Records `rows` entries as fast as one producer can: `recordNow`, and its wait when it returns one.
const burst = (ledger: UsageLedger.Service, rows: number, from = 0) =>
  Effect.gen(function*() {
    let waits = 0
    for (let n = from; n < from + rows; n++) {
      const wait = ledger.recordNow!(entry(n))
      if (wait !== undefined) {
        waits += 1
        yield* wait
      }
    }
    return waits
  })

describe("the usage ledger under a burst larger than its write queue", () => {
  for (const writeOffThread of [false, true]) {
    it.live(`every row reaches the file; the producer waits for room instead of dropping rows (${writeOffThread ? "writer thread" : "main thread"})`, () =>
      withTempDir((dir) =>
        Effect.gen(function*() {
          const path = join(dir, "usage.db")
          const rows = 25_000
          const waits = yield* Effect.scoped(Effect.gen(function*() {
            const ledger = yield* UsageLedger.makeSqlite(path, { writeOffThread })
            const waits = yield* burst(ledger, rows)
            expect((yield* ledger.entries()).length).toBe(rows)
            return waits
          }))
          // One synchronous producer fills the 10,000-row queue before the writer runs: it waited.
          expect(waits).toBeGreaterThan(0)
          expect(count(path)).toEqual({ n: rows, distinct_ids: rows, sum: ((rows - 1) * rows) / 2 })
        })
      ), { timeout: 120_000 })
  }

  it.live("12,000 concurrent calls through the observability layer: one row each, none lost", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        const path = join(dir, "usage.db")
        const calls = 12_000
        yield* Effect.scoped(Effect.gen(function*() {
          const ledger = yield* UsageLedger.makeSqlite(path, { writeOffThread: true })
          const layer = Observability.layer({ logCalls: false }).pipe(
            Layer.provide(MockLanguageModel.layer()),
            Layer.provide(Layer.succeed(UsageLedger.UsageLedger, ledger))
          )
          yield* Effect.forEach(Array.from({ length: calls }), () => LanguageModel.generate("hello"), {
            concurrency: "unbounded",
            discard: true
          }).pipe(Effect.provide(layer))
        }))
        expect(count(path)).toMatchObject({ n: calls })
      })
    ), { timeout: 120_000 })

  it.live("a producer interrupted while it waits for room loses nothing: its row was handed over first", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        const path = join(dir, "usage.db")
        yield* Effect.scoped(Effect.gen(function*() {
          const ledger = yield* UsageLedger.makeSqlite(path)
          // The writer has not run yet: 10,000 rows fill the queue, the next is held.
          for (let n = 0; n < 10_000; n++) expect(ledger.recordNow!(entry(n))).toBeUndefined()
          const waiting = yield* Effect.forkChild(ledger.record(entry(10_000)), { startImmediately: true })
          expect(waiting.pollUnsafe()).toBeUndefined()
          yield* Fiber.interrupt(waiting)
          expect((yield* ledger.entries()).length).toBe(10_001)
        }))
        expect(count(path)).toEqual({ n: 10_001, distinct_ids: 10_001, sum: (10_000 * 10_001) / 2 })
      })
    ), { timeout: 120_000 })

  it.live("a failing store (the file locked by another process) does not stall the calls: rows are held in memory, said loudly, and written once it is back", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        const path = join(dir, "usage.db")
        const rows = 15_000
        const lines: Array<string> = []
        yield* Effect.scoped(Effect.gen(function*() {
          const ledger = yield* UsageLedger.makeSqlite(path, { writeOffThread: true, busyTimeoutMs: 10 })
          yield* ledger.entries()
          // Another connection holds the write lock: every INSERT fails (SQLITE_BUSY) and is retried.
          const other = new DatabaseSync(path)
          other.exec("BEGIN IMMEDIATE")
          ledger.recordNow!(entry(0))
          // The first write fails within the busy timeout: the store is failing.
          yield* Effect.sleep("300 millis")
          const waits = yield* burst(ledger, rows - 1, 1)
          // Nobody waited for the failing store: the queue's 10,000 rows and 5,000 held.
          expect(waits).toBe(0)
          expect(lines.some((line) => line.includes("could not write") && line.includes("retrying"))).toBe(true)
          yield* Effect.sleep("2500 millis")
          expect(lines.some((line) => line.includes("level=ERROR") && line.includes("held in memory behind the full queue"))).toBe(true)
          other.exec("COMMIT")
          other.close()
          // Back: the retries write everything; a reader waits for it once the store is healthy.
          while ((yield* ledger.entries()).length < rows) yield* Effect.sleep("200 millis")
        }).pipe(Effect.provide(capture(lines))))
        expect(count(path)).toEqual({ n: rows, distinct_ids: rows, sum: ((rows - 1) * rows) / 2 })
      })
    ), { timeout: 120_000 })
})
