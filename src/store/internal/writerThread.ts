/**
 * A SQLite connection in a worker thread of its own, for a long-lived process's writes (issue 16,
 * stop 29; ADR 0053).
 *
 * `node:sqlite` is synchronous: a statement runs on the thread that calls it. On serve's main
 * thread, the usage ledger's INSERTs ran between requests, and so did SQLite's WAL
 * auto-checkpoints, which a commit runs once the WAL passes 1,000 pages: 5-9 ms each (one of 54
 * ms, its `fsync`s), about once per 7,700 requests, with every request in flight waiting behind it
 * (docs/performance.md, Serve, stop 28). Here the statements run in a worker thread on a second
 * connection to the same file: the commit, its WAL frames and the checkpoints it triggers block
 * that thread only. The main thread compiles the statement and posts its text and parameters (a
 * structured clone), and resumes when the worker answers.
 *
 * SQLite keeps its own bound on the WAL: the worker's connection keeps the automatic checkpoint
 * (`wal_autocheckpoint`, 1,000 pages by default: about 4 MiB), run by the worker after a commit.
 * A checkpoint that cannot finish (a reader holds an old snapshot: a PASSIVE checkpoint copies
 * what it can and leaves the rest) is tried again after the next commit, as on any connection.
 *
 * The worker is plain JavaScript evaluated from a string (`eval: true`, CommonJS): it needs only
 * `node:sqlite` and `node:worker_threads`, and so runs the same from `src/` (TypeScript), from
 * `dist/` and under a test runner, with no file of its own to resolve. It is `unref`ed while no
 * write is waiting for it (it never keeps a process alive) and closed with the scope: the writes
 * posted before are run first (messages are handled in order), then the connection is closed.
 *
 * @since 0.1.0
 */
import { Data, Deferred, Effect, Exit } from "effect"
import type * as Scope from "effect/Scope"
import { Worker } from "node:worker_threads"

/** A write the worker could not do (its SQLite error), or the worker is gone. */
export class WriteFailed extends Data.TaggedError("WriteFailed")<{ readonly message: string }> {}

/** A connection in a worker thread. */
export interface WriterThread {
  /** Runs one statement (its own transaction) on the worker's connection; succeeds once committed. */
  readonly run: (statement: string, params: ReadonlyArray<unknown>) => Effect.Effect<void, WriteFailed>
  /** Whether the worker still runs (`false` once it stopped: closed, crashed or terminated). */
  readonly alive: () => boolean
  /** The worker's thread id, for tests. */
  readonly threadId: number
  /** Stops the worker at once (tests: a worker that died); pending writes fail. */
  readonly terminate: () => Promise<number>
}

/** How the worker's connection is opened. */
export interface Options {
  /** The database file (never `:memory:`: the worker's connection is its own). */
  readonly path: string
  /** How long a write waits for another connection's lock, ms (SQLite's `busy_timeout`). */
  readonly busyTimeoutMs: number
  /** SQLite's `wal_autocheckpoint` on the worker's connection, pages (default SQLite's 1,000). */
  readonly autocheckpointPages?: number | undefined
}

// Messages: main -> worker `{ id, sql, params }` (a write) or `{ close: true }`; worker -> main
// `{ id, error }` (`id` 0: the connection opened, or not; `error` null when it succeeded).
const SCRIPT = `"use strict"
const { parentPort, workerData } = require("node:worker_threads")
const { DatabaseSync } = require("node:sqlite")
const text = (error) => error instanceof Error ? error.message : String(error)
let db
try {
  db = new DatabaseSync(workerData.path, { timeout: workerData.busyTimeoutMs })
  db.exec("PRAGMA synchronous = NORMAL")
  if (workerData.autocheckpointPages !== undefined) db.exec("PRAGMA wal_autocheckpoint = " + workerData.autocheckpointPages)
  parentPort.postMessage({ id: 0, error: null })
} catch (error) {
  parentPort.postMessage({ id: 0, error: text(error) })
}
// Prepared statements by text (a batch's INSERT has one text per row count), at most 64.
const statements = new Map()
parentPort.on("message", (message) => {
  if (message.close === true) {
    try { if (db !== undefined) db.close() } catch {}
    parentPort.close()
    return
  }
  try {
    if (db === undefined) throw new Error("the connection is not open")
    let statement = statements.get(message.sql)
    if (statement === undefined) {
      if (statements.size >= 64) statements.delete(statements.keys().next().value)
      statement = db.prepare(message.sql)
      statements.set(message.sql, statement)
    }
    statement.run(...message.params)
    parentPort.postMessage({ id: message.id, error: null })
  } catch (error) {
    parentPort.postMessage({ id: message.id, error: text(error) })
  }
})
`

interface Reply {
  readonly id: number
  readonly error: string | null
}

const isReply = (value: unknown): value is Reply =>
  typeof value === "object" && value !== null && "id" in value && typeof value.id === "number" && "error" in value

/**
 * Starts the worker and opens its connection (fails when it cannot be opened), closed when the
 * scope ends.
 */
export const make = (options: Options): Effect.Effect<WriterThread, WriteFailed, Scope.Scope> =>
  Effect.gen(function*() {
    const whole = (value: number | undefined) => value === undefined || (Number.isSafeInteger(value) && value >= 0)
    if (!whole(options.busyTimeoutMs) || !whole(options.autocheckpointPages)) {
      return yield* new WriteFailed({
        message: `busyTimeoutMs (${options.busyTimeoutMs}) and autocheckpointPages (${options.autocheckpointPages}) must be whole numbers of at least 0`
      })
    }
    const pending = new Map<number, Deferred.Deferred<void, WriteFailed>>()
    const opened = Deferred.makeUnsafe<void, WriteFailed>()
    let nextId = 1
    let gone: string | undefined
    const worker = yield* Effect.acquireRelease(
      Effect.try({
        try: () =>
          new Worker(SCRIPT, {
            eval: true,
            workerData: {
              path: options.path,
              busyTimeoutMs: options.busyTimeoutMs,
              ...(options.autocheckpointPages !== undefined ? { autocheckpointPages: options.autocheckpointPages } : {})
            },
            // The worker gets none of the process's preloads or flags (`--import`, `--cpu-prof`...).
            execArgv: [],
            stdout: false,
            stderr: false
          }),
        catch: (cause) => new WriteFailed({ message: `cannot start a worker thread: ${cause instanceof Error ? cause.message : String(cause)}` })
      }),
      (worker) =>
        Effect.callback<void>((resume) => {
          if (gone !== undefined) return resume(Effect.void)
          // Posted after every write: the worker runs them first, then closes its connection.
          worker.ref()
          worker.once("exit", () => resume(Effect.void))
          worker.postMessage({ close: true })
        })
    )
    const stop = (reason: string) => {
      gone ??= reason
      const failure = Exit.fail(new WriteFailed({ message: `the ledger's writer thread stopped (${gone})` }))
      Deferred.doneUnsafe(opened, failure)
      for (const done of pending.values()) Deferred.doneUnsafe(done, failure)
      pending.clear()
    }
    worker.on("message", (message: unknown) => {
      if (!isReply(message)) return
      const done = message.id === 0 ? opened : pending.get(message.id)
      if (done === undefined) return
      pending.delete(message.id)
      // Nothing waits for the worker any more: it must not keep the process alive.
      if (pending.size === 0) worker.unref()
      Deferred.doneUnsafe(done, message.error === null ? Exit.void : Exit.fail(new WriteFailed({ message: message.error })))
    })
    worker.on("error", (error) => stop(error.message))
    worker.on("exit", (code) => stop(`exit code ${code}`))
    // A connection that could not be opened: the worker is stopped at once.
    yield* Deferred.await(opened).pipe(
      Effect.tapError(() =>
        Effect.sync(() => {
          gone ??= "its connection could not be opened"
          void worker.terminate()
        })
      )
    )
    worker.unref()
    return {
      threadId: worker.threadId,
      alive: () => gone === undefined,
      terminate: () => worker.terminate(),
      run: (statement, params) =>
        Effect.suspend(() => {
          if (gone !== undefined) return Effect.fail(new WriteFailed({ message: `the ledger's writer thread stopped (${gone})` }))
          const id = nextId++
          const done = Deferred.makeUnsafe<void, WriteFailed>()
          pending.set(id, done)
          // A write is waiting: the process stays alive until it is answered.
          if (pending.size === 1) worker.ref()
          worker.postMessage({ id, sql: statement, params })
          return Deferred.await(done)
        })
    }
  })
