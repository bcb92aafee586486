// The usage ledger's writes on a worker thread of their own (issue 16, stop 29; ADR 0053): the
// INSERTs and SQLite's WAL checkpoints off the thread that answers requests. Real SQLite files,
// real worker threads; other connections (node:sqlite, outside the code under test) read, lock and
// hold snapshots of the same file.
import { describe, expect, it } from "@effect/vitest"
import { Effect, Logger } from "effect"
import { mkdtempSync, rmSync, statSync } from "node:fs"
import { DatabaseSync, StatementSync } from "node:sqlite"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import { isMainThread } from "node:worker_threads"
import * as UsageLedger from "../../src/observability/UsageLedger.ts"
import * as WriterThread from "../../src/store/internal/writerThread.ts"
import { pinnedNode, repoRoot, runProcess } from "../support/runProcess.ts"
import { post, request, steered, withServe } from "../server/support.ts"

const entry = (n: number, provider = "openai"): UsageLedger.Entry => ({
  time: 1_000 + n,
  provider,
  model: "gpt-4o-mini",
  inputTokens: n,
  outputTokens: 1,
  totalTokens: n + 1,
  estimated: false,
  latencyMs: 1,
  outcome: "ok",
  requestId: `r${n}`
})

const query = (path: string, text: string) => {
  const db = new DatabaseSync(path)
  try {
    return db.prepare(text).all()
  } finally {
    db.close()
  }
}

// Frames in the WAL now (`log` of a PASSIVE checkpoint run from another connection: it copies
// what it can, so call it only where the test wants that).
const walFrames = (db: DatabaseSync): { readonly busy: number; readonly log: number; readonly checkpointed: number } =>
  db.prepare("PRAGMA wal_checkpoint(PASSIVE)").get() as { busy: number; log: number; checkpointed: number }

const withTempDir = <A, E, R>(body: (dir: string) => Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => mkdtempSync(join(tmpdir(), "ledger-thread-"))),
    body,
    (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
  )

// Counts the INSERT statements node:sqlite runs on this (the main) thread while `body` runs.
const countingMainThreadInserts = <A, E, R>(body: Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => {
      const prototype = StatementSync.prototype as unknown as Record<"run" | "all", (...args: ReadonlyArray<unknown>) => unknown>
      const original = { run: prototype.run, all: prototype.all }
      const counter = { inserts: 0 }
      for (const name of ["run", "all"] as const) {
        const method = original[name]
        prototype[name] = function(this: StatementSync, ...args: Array<unknown>) {
          if (/^\s*INSERT INTO usage/i.test(this.sourceSQL)) counter.inserts++
          return method.apply(this, args)
        }
      }
      return { counter, restore: () => Object.assign(prototype, original) }
    }),
    ({ counter }) => Effect.map(body, (value) => [value, counter.inserts] as const),
    ({ restore }) => Effect.sync(restore)
  )

const capture = (lines: Array<string>) => Logger.layer([Logger.formatSimple.pipe(Logger.map((line) => void lines.push(line)))])

describe("the ledger's writer thread", () => {
  it.live("writes every row from another thread: none of its INSERTs runs on the main thread, and a reader on another connection sees every row", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        expect(isMainThread).toBe(true)
        const path = join(dir, "usage.db")
        const [seen, mainInserts] = yield* countingMainThreadInserts(Effect.scoped(Effect.gen(function*() {
          const ledger = yield* UsageLedger.makeSqlite(path, { writeOffThread: true })
          for (let n = 0; n < 1_000; n++) {
            ledger.recordNow!(entry(n))
            if (n % 100 === 99) yield* Effect.sleep("1 millis")
          }
          // `entries` waits for the rows recorded before it, written by the thread.
          const entries = yield* ledger.entries()
          // Another connection (another process would see the same) reads them all.
          const other = query(path, "SELECT COUNT(*) AS n, SUM(input_tokens) AS sum FROM usage")
          return { entries: entries.length, other }
        })))
        expect(seen).toEqual({ entries: 1_000, other: [{ n: 1_000, sum: (999 * 1_000) / 2 }] })
        expect(mainInserts).toBe(0)
        expect(query(path, "PRAGMA integrity_check")).toEqual([{ integrity_check: "ok" }])
      })
    ), { timeout: 30_000 })

  it.live("without it (the default: short-lived commands) the rows are written on the calling thread, as before", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        const path = join(dir, "usage.db")
        const [count, mainInserts] = yield* countingMainThreadInserts(Effect.scoped(Effect.gen(function*() {
          const ledger = yield* UsageLedger.makeSqlite(path)
          for (let n = 0; n < 10; n++) ledger.recordNow!(entry(n))
          return (yield* ledger.entries()).length
        })))
        expect(count).toBe(10)
        expect(mainInserts).toBeGreaterThan(0)
      })
    ), { timeout: 30_000 })

  it.live("UsageLedger.WriteOffThread in context (what Serve.make sets) starts the thread", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        const path = join(dir, "usage.db")
        const [count, mainInserts] = yield* countingMainThreadInserts(Effect.scoped(Effect.gen(function*() {
          const ledger = yield* UsageLedger.makeSqlite(path)
          for (let n = 0; n < 10; n++) ledger.recordNow!(entry(n))
          return (yield* ledger.entries()).length
        }).pipe(Effect.provideService(UsageLedger.WriteOffThread, true))))
        expect(count).toBe(10)
        expect(mainInserts).toBe(0)
      })
    ), { timeout: 30_000 })

  it.live("the WAL stays bounded under constant writes: the thread's connection runs the checkpoints", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        const path = join(dir, "usage.db")
        // 50 pages (200 KiB at SQLite's 4 KiB pages) instead of 1,000, so that the test writes little.
        const pages = 50
        const observer = new DatabaseSync(path)
        const frames = yield* Effect.scoped(Effect.gen(function*() {
          const ledger = yield* UsageLedger.makeSqlite(path, { writeOffThread: true, autocheckpointPages: pages })
          const seen: Array<number> = []
          // 600 commits (a flush after each record ends the batch writer's linger): several
          // frames each, many times the bound in all.
          for (let n = 0; n < 600; n++) {
            ledger.recordNow!(entry(n))
            yield* ledger.entries({ since: Number.MAX_SAFE_INTEGER })
            // The WAL's size on disk never passes the bound by more than a commit's frames.
            if (n % 50 === 49) seen.push(statSync(`${path}-wal`).size)
          }
          return seen
        }))
        const frameBytes = 4096 + 24
        for (const size of frames) expect(size).toBeLessThanOrEqual(32 + (pages + 20) * frameBytes)
        expect(query(path, "SELECT COUNT(*) AS n FROM usage")).toEqual([{ n: 600 }])
        observer.close()
      })
    ), { timeout: 60_000 })

  it.live("a checkpoint held back by a reader's snapshot is done later; no row is lost or corrupted", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        const path = join(dir, "usage.db")
        const pages = 20
        const { duringRead, afterRead } = yield* Effect.scoped(Effect.gen(function*() {
          const ledger = yield* UsageLedger.makeSqlite(path, { writeOffThread: true, autocheckpointPages: pages })
          ledger.recordNow!(entry(0))
          yield* ledger.entries({ since: Number.MAX_SAFE_INTEGER })
          // Another connection holds a read snapshot: checkpoints cannot reset the WAL meanwhile.
          const reader = new DatabaseSync(path)
          reader.exec("BEGIN")
          const before = reader.prepare("SELECT COUNT(*) AS n FROM usage").get() as { n: number }
          for (let n = 1; n < 200; n++) {
            ledger.recordNow!(entry(n))
            yield* ledger.entries({ since: Number.MAX_SAFE_INTEGER })
          }
          // The reader still sees its snapshot; the WAL has grown past the bound (the checkpoints
          // the thread tried could not finish).
          const still = reader.prepare("SELECT COUNT(*) AS n FROM usage").get() as { n: number }
          const observer = new DatabaseSync(path)
          const duringRead = { before: before.n, still: still.n, size: statSync(`${path}-wal`).size }
          reader.exec("COMMIT")
          reader.close()
          // The next commits' checkpoints finish: the WAL starts over from its beginning.
          for (let n = 200; n < 400; n++) {
            ledger.recordNow!(entry(n))
            yield* ledger.entries({ since: Number.MAX_SAFE_INTEGER })
          }
          const afterRead = walFrames(observer)
          observer.close()
          return { duringRead, afterRead }
        }))
        expect(duringRead.before).toBe(1)
        expect(duringRead.still).toBe(1)
        expect(duringRead.size).toBeGreaterThan(32 + 2 * pages * (4096 + 24))
        // Frames in the WAL at the end: at most the bound and a commit's worth, not all 400 commits'.
        expect(afterRead.busy).toBe(0)
        expect(afterRead.log).toBeLessThanOrEqual(pages + 20)
        expect(query(path, "SELECT COUNT(*) AS n, COUNT(DISTINCT request_id) AS distinct_ids FROM usage")).toEqual([{ n: 400, distinct_ids: 400 }])
        expect(query(path, "PRAGMA integrity_check")).toEqual([{ integrity_check: "ok" }])
      })
    ), { timeout: 60_000 })

  it.live("a write that finds the file locked waits on the thread: the main thread's event loop keeps running", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        const path = join(dir, "usage.db")
        const result = yield* Effect.scoped(Effect.gen(function*() {
          const ledger = yield* UsageLedger.makeSqlite(path, { writeOffThread: true })
          ledger.recordNow!(entry(0))
          yield* ledger.entries()
          // Another connection takes the write lock (another process writing, a long transaction).
          const locker = new DatabaseSync(path)
          locker.exec("BEGIN IMMEDIATE")
          ledger.recordNow!(entry(1))
          // The main thread answers 10 ms timers while the thread waits for the lock (busy timeout 5 s).
          let worst = 0
          let last = performance.now()
          const started = last
          while (performance.now() - started < 1_000) {
            yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 10)))
            const now = performance.now()
            worst = Math.max(worst, now - last)
            last = now
          }
          const whileLocked = query(path, "SELECT COUNT(*) AS n FROM usage")
          locker.exec("COMMIT")
          locker.close()
          const entries = yield* ledger.entries()
          return { worst, whileLocked, entries: entries.length }
        }))
        // A write waiting on the main thread would have stopped the loop for the whole second.
        expect(result.worst).toBeLessThan(750)
        expect(result.whileLocked).toEqual([{ n: 1 }])
        expect(result.entries).toBe(2)
      })
    ), { timeout: 30_000 })

  it.live("a write that fails (busy past its timeout) is logged and retried; every row is written once, and recording never fails", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        const path = join(dir, "usage.db")
        const lines: Array<string> = []
        const entries = yield* Effect.scoped(Effect.gen(function*() {
          const ledger = yield* UsageLedger.makeSqlite(path, { writeOffThread: true, busyTimeoutMs: 20 })
          ledger.recordNow!(entry(0))
          yield* ledger.entries()
          const locker = new DatabaseSync(path)
          locker.exec("BEGIN IMMEDIATE")
          for (let n = 1; n <= 5; n++) yield* ledger.record(entry(n))
          while (lines.filter((line) => line.includes("could not write")).length < 2) yield* Effect.sleep("10 millis")
          locker.exec("COMMIT")
          locker.close()
          // A reader does not wait for failing writes; once the retry succeeds every row is there.
          let seen = yield* ledger.entries()
          while (seen.length < 6) {
            yield* Effect.sleep("20 millis")
            seen = yield* ledger.entries()
          }
          return seen
        })).pipe(Effect.provide(capture(lines)))
        expect(entries.map((e) => e.requestId)).toEqual(["r0", "r1", "r2", "r3", "r4", "r5"])
        expect(lines.find((line) => line.includes("could not write"))).toContain("database is locked")
        expect(query(path, "SELECT COUNT(*) AS n, COUNT(DISTINCT request_id) AS distinct_ids FROM usage")).toEqual([{ n: 6, distinct_ids: 6 }])
      })
    ), { timeout: 30_000 })

  it.live("a thread that dies: its pending write fails, and later writes can be detected as gone", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        const path = join(dir, "t.db")
        const db = new DatabaseSync(path)
        db.exec("PRAGMA journal_mode = WAL; CREATE TABLE t (n INTEGER)")
        const thread = yield* WriterThread.make({ path, busyTimeoutMs: 1_000 })
        yield* thread.run("INSERT INTO t VALUES (?)", [1])
        expect(thread.alive()).toBe(true)
        yield* Effect.promise(() => thread.terminate())
        expect(thread.alive()).toBe(false)
        const failed = yield* Effect.flip(thread.run("INSERT INTO t VALUES (?)", [2]))
        expect(failed.message).toContain("writer thread stopped")
        expect(db.prepare("SELECT n FROM t").all()).toEqual([{ n: 1 }])
        db.close()
      }).pipe(Effect.scoped)
    ), { timeout: 30_000 })

  it.live("a file the thread cannot open fails its start with SQLite's message, and the thread is stopped", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        const failed = yield* Effect.flip(Effect.scoped(WriterThread.make({ path: join(dir, "missing", "t.db"), busyTimeoutMs: 100 })))
        expect(failed._tag).toBe("WriteFailed")
        expect(failed.message).toContain("unable to open database file")
      })
    ), { timeout: 30_000 })

  it.live("options that are not whole numbers are refused before a thread is started", () =>
    Effect.gen(function*() {
      const failed = yield* Effect.flip(Effect.scoped(WriterThread.make({ path: "unused.db", busyTimeoutMs: 10, autocheckpointPages: -1 })))
      expect(failed.message).toContain("must be whole numbers of at least 0")
      const again = yield* Effect.flip(Effect.scoped(WriterThread.make({ path: "unused.db", busyTimeoutMs: Number.NaN })))
      expect(again.message).toContain("busyTimeoutMs (NaN)")
    }))

  it.live("a private in-memory SQLite ledger ignores writeOffThread (a second connection would be another database): rows written as before", () =>
    Effect.gen(function*() {
      const lines: Array<string> = []
      const count = yield* Effect.scoped(Effect.gen(function*() {
        const ledger = yield* UsageLedger.makeSqlite(":memory:", { writeOffThread: true })
        for (let n = 0; n < 3; n++) ledger.recordNow!(entry(n))
        return (yield* ledger.entries()).length
      })).pipe(Effect.provide(capture(lines)))
      expect(count).toBe(3)
      expect(lines.filter((line) => line.includes("could not write"))).toEqual([])
    }), { timeout: 30_000 })

  it.live("a statement the thread cannot run fails with SQLite's message; the thread goes on", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        const path = join(dir, "t.db")
        const db = new DatabaseSync(path)
        db.exec("PRAGMA journal_mode = WAL; CREATE TABLE t (n INTEGER)")
        const thread = yield* WriterThread.make({ path, busyTimeoutMs: 1_000 })
        const failed = yield* Effect.flip(thread.run("INSERT INTO missing VALUES (?)", [1]))
        expect(failed.message).toContain("no such table: missing")
        yield* thread.run("INSERT INTO t VALUES (?)", [2])
        expect(thread.alive()).toBe(true)
        expect(db.prepare("SELECT n FROM t").all()).toEqual([{ n: 2 }])
        db.close()
      }).pipe(Effect.scoped)
    ), { timeout: 30_000 })

  it.live("several processes, some writing from a thread and some not, write to one new ledger file at once; every row is kept", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        const path = join(dir, "shared", "usage.db")
        const module = pathToFileURL(join(repoRoot, "src", "observability", "UsageLedger.ts")).href
        const child = (worker: number) => `
const UsageLedger = await import(${JSON.stringify(module)})
const { Effect } = await import("effect")
await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
  const ledger = yield* UsageLedger.makeSqlite(${JSON.stringify(path)}, { writeOffThread: ${worker % 2 === 0} })
  for (let index = 0; index < 300; index++) {
    yield* ledger.record({ time: index, provider: "worker-${worker}", model: "m", inputTokens: 1, outputTokens: 2,
      totalTokens: 3, estimated: false, latencyMs: 1, outcome: "ok" })
    if (index % 25 === 0) yield* Effect.sleep("1 millis")
  }
})))
`
        const results = yield* Effect.all(
          [1, 2, 3, 4].map((worker) => runProcess(pinnedNode, ["--input-type=module", "-e", child(worker)], { cwd: repoRoot, env: {} })),
          { concurrency: "unbounded" }
        )
        for (const result of results) expect(result.exitCode, result.stderr).toBe(0)
        expect(query(path, "SELECT provider, COUNT(*) AS n FROM usage GROUP BY provider ORDER BY provider")).toEqual(
          [1, 2, 3, 4].map((worker) => ({ provider: `worker-${worker}`, n: 300 }))
        )
        expect(query(path, "PRAGMA integrity_check")).toEqual([{ integrity_check: "ok" }])
      })
    ), { timeout: 120_000 })

  it.live("serve (Serve.make) writes its SQLite ledger from the thread: every call recorded, no INSERT on the main thread", () => {
    const fake = steered()
    let ledgerPath = ""
    return Effect.gen(function*() {
      const [rows, mainInserts] = yield* countingMainThreadInserts(
        withServe({ providers: [fake.provider], yaml: (dir) => `ledger:\n  path: ${(ledgerPath = join(dir, "usage.db"))}\n` }, ({ url }) =>
          Effect.gen(function*() {
            const consumer = { provider: "steered", model: null, systemPrompt: null, prompt: "Hi", maxTokens: 10, temperature: 0 }
            for (let n = 0; n < 20; n++) expect((yield* post(`${url}/execute`, consumer)).status).toBe(200)
            // GET /v1/usage waits for the rows recorded before it.
            const usage = (yield* request(`${url}/v1/usage?since=1h`)).json as { totals: { calls: number } }
            expect(usage.totals.calls).toBe(20)
            // Another connection (as `llm-connect usage` in another process) reads every row.
            return query(ledgerPath, "SELECT COUNT(*) AS n FROM usage")
          }))
      )
      expect(rows).toEqual([{ n: 20 }])
      expect(mainInserts).toBe(0)
    })
  }, { timeout: 30_000 })
})
