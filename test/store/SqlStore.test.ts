import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { DatabaseSync } from "node:sqlite"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import * as SqlStore from "../../src/store/SqlStore.ts"
import * as SqlMigrations from "../../src/store/SqlMigrations.ts"
import { pinnedNode, repoRoot, runProcess } from "../support/runProcess.ts"

const withTempDir = <A, E, R>(body: (dir: string) => Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => mkdtempSync(join(tmpdir(), "sql-store-"))),
    body,
    (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
  )

const slow = { timeout: 60_000 }

/**
 * A module hook for a child process: counts every resolution of `node:sqlite` and, with
 * `BLOCK_SQLITE=1`, fails it as Node 20 does (no such builtin), so both "the import graph never
 * reaches node:sqlite" and "a Node without it" are checked on the Node the tests run on.
 */
const hook = `import { registerHooks } from "node:module"
globalThis.sqliteResolutions = 0
registerHooks({
  resolve(specifier, context, nextResolve) {
    if (specifier === "node:sqlite" || specifier === "sqlite") {
      globalThis.sqliteResolutions += 1
      if (process.env.BLOCK_SQLITE === "1") {
        const error = new Error("No such built-in module: node:sqlite")
        error.code = "ERR_UNKNOWN_BUILTIN_MODULE"
        throw error
      }
    }
    return nextResolve(specifier, context)
  }
})
`

/** Imports the package's root module, makes a mock call through observability, then opens a ledger. */
const program = (ledger: string) => `
const LlmConnect = await import(${JSON.stringify(pathToFileURL(join(repoRoot, "src", "index.ts")).href)})
const { Effect, Layer } = await import("effect")
const afterImport = globalThis.sqliteResolutions
const model = LlmConnect.Observability.layer().pipe(Layer.provide(LlmConnect.MockLanguageModel.layer()))
const response = await Effect.runPromise(LlmConnect.LanguageModel.generate("hi").pipe(Effect.provide(model)))
const afterCall = globalThis.sqliteResolutions
const exit = await Effect.runPromise(Effect.exit(Effect.scoped(LlmConnect.UsageLedger.makeSqlite(${JSON.stringify(ledger)}))))
console.log(JSON.stringify({
  afterImport, afterCall, afterLedger: globalThis.sqliteResolutions, content: response.content,
  ledger: exit._tag, reason: exit._tag === "Failure" ? exit.cause.reasons[0].error.reason._tag : undefined,
  message: exit._tag === "Failure" ? exit.cause.reasons[0].error.message : undefined
}))
`

const runChild = (dir: string, block: boolean) =>
  Effect.gen(function*() {
    const hookPath = join(dir, "hook.mjs")
    writeFileSync(hookPath, hook)
    const result = yield* runProcess(
      pinnedNode,
      ["--import", pathToFileURL(hookPath).href, "--input-type=module", "-e", program(join(dir, "usage.db"))],
      { cwd: repoRoot, env: block ? { BLOCK_SQLITE: "1" } : {} }
    )
    expect(result.exitCode, result.stderr).toBe(0)
    return JSON.parse(result.stdout) as {
      afterImport: number
      afterCall: number
      afterLedger: number
      content: string
      ledger: string
      reason?: string
      message?: string
    }
  })

describe("SqlStore", () => {
  it.live("importing llm-connect and a mock call never load node:sqlite; opening a store does", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        const seen = yield* runChild(dir, false)
        expect(seen.content).toContain("hi")
        expect(seen.afterImport).toBe(0)
        expect(seen.afterCall).toBe(0)
        // The hook does see the driver's import (so the zeros above mean something).
        expect(seen.afterLedger).toBeGreaterThan(0)
        expect(seen.ledger).toBe("Success")
      })
    ), slow)

  it.live("on a Node without node:sqlite, the package still works and a store is a Configuration error saying which Node", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        const seen = yield* runChild(dir, true)
        expect(seen.content).toContain("hi")
        expect(seen.ledger).toBe("Failure")
        expect(seen.reason).toBe("Configuration")
        expect(seen.message).toContain(`llm-connect needs Node.js >= 22.19 but this is ${process.version}`)
        expect(seen.message).toContain("nvm install 24")
        expect(seen.message).toContain("ledger.path (or LLM_CONNECT_LEDGER)")
        expect(seen.message?.split("\n")).toHaveLength(1)
      })
    ), slow)

  it.live("opens a SQLite file (its folder created) in WAL mode, and :memory:", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        const path = join(dir, "a", "b", "state.db")
        const mode = yield* Effect.scoped(Effect.gen(function*() {
          const store = yield* SqlStore.make(path)
          expect(store.location).toEqual({ _tag: "Sqlite", path })
          return (yield* store.sql<{ journal_mode: string }>`PRAGMA journal_mode`)[0]!.journal_mode
        }))
        expect(mode).toBe("wal")
        const memory = yield* Effect.scoped(Effect.flatMap(SqlStore.make(":memory:"), (store) => store.sql`SELECT 1 AS one`))
        expect(memory).toEqual([{ one: 1 }])
      })
    ))

  it.effect("a postgres:// URL is a PostgreSQL location (kept Redacted); another URL is refused without repeating it", () =>
    Effect.gen(function*() {
      const options = { setting: "ledger.path", env: "LLM_CONNECT_LEDGER", example: ".llm-connect/usage.db" }
      const postgres = yield* SqlStore.parse("postgres://user:s3cret@db:5432/llm", options)
      expect(postgres._tag).toBe("Postgres")
      expect(postgres._tag === "Postgres" ? postgres.display : "").toBe("postgres://user:***@db:5432/llm")
      expect(JSON.stringify(postgres)).not.toContain("s3cret")
      expect(String(postgres._tag === "Postgres" ? postgres.url : "")).not.toContain("s3cret")
      const inParameter = yield* SqlStore.parse("postgresql://user@db/llm?password=s3cret&host=/run/pg", options)
      expect(inParameter._tag === "Postgres" ? inParameter.display : "").not.toContain("s3cret")
      const other = yield* Effect.flip(SqlStore.parse("mysql://root:pw@host/db", options))
      expect(other.reason._tag).toBe("Configuration")
      expect(other.message).toContain("mysql:// URL")
      expect(other.message).toContain("ledger.path (or LLM_CONNECT_LEDGER)")
      expect(other.message).not.toContain("pw@")
      expect(yield* SqlStore.parse("state/usage.db")).toEqual(SqlStore.sqlite("state/usage.db"))
    }))

  it.effect("a path inside /proc or /sys is refused with a Configuration error before anything is created", () =>
    Effect.gen(function*() {
      const options = { setting: "ledger.path", env: "LLM_CONNECT_LEDGER", example: ".llm-connect/usage.db" }
      for (const path of ["/proc/llmc/usage.db", "/proc/usage.db", "/sys/kernel/llmc.db", "/proc/../proc/self/x.db"]) {
        const error = yield* Effect.flip(SqlStore.parse(path, options))
        expect(error.reason._tag).toBe("Configuration")
        expect(error.message).toContain("kernel file system")
        expect(error.message).toContain("ledger.path (or LLM_CONNECT_LEDGER)")
      }
      expect(yield* SqlStore.parse("/processing/usage.db")).toEqual(SqlStore.sqlite("/processing/usage.db"))
    }))

  it.live("a folder that cannot be created fails at once (never the endless loop of a recursive mkdir under /proc)", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        // In a child process: before the fix, Node's recursive mkdir looped for ever in /proc.
        const script = `
const SqlStore = await import(${JSON.stringify(pathToFileURL(join(repoRoot, "src", "store", "SqlStore.ts")).href)})
const { Effect } = await import("effect")
const exit = await Effect.runPromise(Effect.exit(Effect.scoped(SqlStore.make(SqlStore.sqlite("/proc/llmc-test/a/usage.db")))))
console.log(JSON.stringify({ exit: exit._tag, reason: exit._tag === "Failure" ? exit.cause.reasons[0].error.reason._tag : undefined }))
`
        const child = yield* runProcess(pinnedNode, ["--input-type=module", "-e", script], { cwd: repoRoot, env: {} }).pipe(
          Effect.timeoutOption("30 seconds")
        )
        expect(child._tag).toBe("Some")
        if (child._tag === "Some") {
          expect(child.value.exitCode, child.value.stderr).toBe(0)
          expect(JSON.parse(child.value.stdout)).toEqual({ exit: "Failure", reason: "Configuration" })
        }
        // Nested folders that can be made still are.
        const nested = join(dir, "x", "y", "z", "usage.db")
        yield* Effect.scoped(SqlStore.make(nested))
      })
    ), slow)

  it.live("a path that cannot be opened is a Configuration error naming the setting", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        writeFileSync(join(dir, "file"), "")
        const error = yield* Effect.flip(
          Effect.scoped(SqlStore.make(join(dir, "file", "state.db"), { setting: "keys.path", label: "the key store" }))
        )
        expect(error.reason._tag).toBe("Configuration")
        expect(error.message).toContain("cannot open the key store at")
        expect(error.message).toContain("point keys.path at a writable file")
      })
    ))

  it.live("components share one store through the layer", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        const path = join(dir, "state.db")
        const first = SqlMigrations.component("first", [{ id: 1, name: "create_first", up: Effect.void }])
        const applied = yield* Effect.all([SqlStore.migrate(first), SqlStore.migrate(first)]).pipe(
          Effect.provide(SqlStore.layer(path))
        )
        expect(applied).toEqual([[1], []])
        const db = new DatabaseSync(path)
        expect(db.prepare(`SELECT component, id FROM ${SqlMigrations.TABLE}`).all()).toEqual([{ component: "first", id: 1 }])
        db.close()
      })
    ))
})
