import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import * as SqlClient from "effect/sql/SqlClient"
import { mkdtempSync, rmSync } from "node:fs"
import { DatabaseSync } from "node:sqlite"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as SqlMigrations from "../../src/store/SqlMigrations.ts"
import * as SqlStore from "../../src/store/SqlStore.ts"

const withTempDir = <A, E, R>(body: (dir: string) => Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => mkdtempSync(join(tmpdir(), "migrations-"))),
    body,
    (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
  )

const exec = (text: string): SqlMigrations.Migration["up"] =>
  Effect.flatMap(SqlClient.SqlClient, (sql) => Effect.asVoid(sql.unsafe(text)))

const notesV1 = SqlMigrations.component("notes", [
  { id: 1, name: "create_notes", up: exec("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)") }
])
const notesV2 = SqlMigrations.component("notes", [
  ...notesV1.migrations,
  { id: 2, name: "add_author", up: exec("ALTER TABLE notes ADD COLUMN author TEXT") }
])
const tags = SqlMigrations.component("tags", [
  { id: 1, name: "create_tags", up: exec("CREATE TABLE tags (name TEXT PRIMARY KEY)") }
])

/** What the migrations table says (none when it does not exist), read with node:sqlite directly. */
const recorded = (path: string) => {
  const db = new DatabaseSync(path)
  try {
    const exists = db.prepare("SELECT 1 FROM sqlite_master WHERE name = ?").get(SqlMigrations.TABLE) !== undefined
    if (!exists) return []
    return db.prepare(`SELECT component, id, name FROM ${SqlMigrations.TABLE} ORDER BY component, id`).all()
      .map((row) => `${String(row.component)}:${String(row.id)}:${String(row.name)}`)
  } finally {
    db.close()
  }
}

const columns = (path: string, table: string) => {
  const db = new DatabaseSync(path)
  try {
    return db.prepare(`SELECT name FROM pragma_table_info('${table}')`).all().map((row) => String(row.name))
  } finally {
    db.close()
  }
}

const migrateWith = (path: string, ...components: ReadonlyArray<SqlMigrations.Component>) =>
  Effect.scoped(Effect.gen(function*() {
    const store = yield* SqlStore.make(path, { setting: "test.path", label: "the test store" })
    const applied: Array<ReadonlyArray<number>> = []
    for (const component of components) applied.push(yield* store.migrate(component))
    return applied
  }))

describe("SqlMigrations", () => {
  it.live("applies a component's migrations in order, once; a later version applies only what is new", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        const path = join(dir, "state.db")
        expect(yield* migrateWith(path, notesV1)).toEqual([[1]])
        expect(yield* migrateWith(path, notesV1)).toEqual([[]])
        expect(recorded(path)).toEqual(["notes:1:create_notes"])
        expect(yield* migrateWith(path, notesV2)).toEqual([[2]])
        expect(recorded(path)).toEqual(["notes:1:create_notes", "notes:2:add_author"])
        expect(columns(path, "notes")).toEqual(["id", "text", "author"])
      })
    ))

  it.live("tracks each component separately in one table", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        const path = join(dir, "state.db")
        expect(yield* migrateWith(path, notesV2, tags)).toEqual([[1, 2], [1]])
        // An older notes (knows only 1) next to tags: fine, tags' rows are not its business.
        yield* Effect.scoped(Effect.flatMap(SqlStore.make(path), (store) => store.migrate(tags)))
        expect(recorded(path)).toEqual(["notes:1:create_notes", "notes:2:add_author", "tags:1:create_tags"])
      })
    ))

  it.live("a database from a newer version (an id this one does not know) is refused and left untouched", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        const path = join(dir, "state.db")
        yield* migrateWith(path, notesV2)
        const before = recorded(path)
        const error = yield* Effect.flip(migrateWith(path, notesV1))
        expect(error.reason._tag).toBe("Configuration")
        expect(error.message).toContain("the test store at")
        expect(error.message).toContain("newer llm-connect")
        expect(error.message).toContain("migration 2 (add_author)")
        expect(error.message).toContain("it knows up to 1")
        expect(error.message).toContain("test.path")
        expect(recorded(path)).toEqual(before)
        expect(columns(path, "notes")).toEqual(["id", "text", "author"])
      })
    ))

  it.live("an unknown id refuses the open even when this version also has a pending migration", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        const path = join(dir, "state.db")
        yield* migrateWith(path, notesV1)
        const db = new DatabaseSync(path)
        db.exec(`INSERT INTO ${SqlMigrations.TABLE} (component, id, name, applied_at) VALUES ('notes', 3, 'from_the_future', 0)`)
        db.close()
        const error = yield* Effect.flip(migrateWith(path, notesV2))
        expect(error.message).toContain("migration 3 (from_the_future)")
        // Migration 2 was not applied to the newer database.
        expect(columns(path, "notes")).toEqual(["id", "text"])
        expect(recorded(path)).toEqual(["notes:1:create_notes", "notes:3:from_the_future"])
      })
    ))

  it.live("a migration that fails keeps nothing of its run and names the migration", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        const path = join(dir, "state.db")
        const broken = SqlMigrations.component("notes", [
          ...notesV1.migrations,
          { id: 2, name: "add_index", up: exec("CREATE INDEX notes_text ON notes (text)") },
          { id: 3, name: "broken", up: exec("ALTER TABLE no_such_table ADD COLUMN x TEXT") }
        ])
        const error = yield* Effect.flip(migrateWith(path, broken))
        expect(error.reason._tag).toBe("Configuration")
        expect(error.message).toContain("migration 3 broken")
        expect(error.message).toContain("no_such_table")
        // Rolled back as a whole: not even migration 1 (nor the migrations table) is kept.
        expect(recorded(path)).toEqual([])
        const db = new DatabaseSync(path)
        const tables = db.prepare("SELECT name FROM sqlite_master WHERE type IN ('table', 'index') AND name LIKE 'notes%'").all()
        db.close()
        expect(tables).toEqual([])
      })
    ))

  it.live("several stores opening one new file at once each see every migration applied exactly once", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        const path = join(dir, "state.db")
        const results = yield* Effect.all(
          Array.from({ length: 4 }, () => migrateWith(path, notesV2, tags)),
          { concurrency: "unbounded" }
        )
        // One store applied each migration; the others found nothing left to do.
        expect(results.flat().flat().sort()).toEqual([1, 1, 2])
        expect(recorded(path)).toEqual(["notes:1:create_notes", "notes:2:add_author", "tags:1:create_tags"])
      })
    ))

  it("a component's ids must increase", () => {
    expect(() =>
      SqlMigrations.component("bad", [
        { id: 2, name: "b", up: Effect.void },
        { id: 1, name: "a", up: Effect.void }
      ])
    ).toThrow(/increasing order/)
    expect(() => SqlMigrations.component("bad", [{ id: 0, name: "zero", up: Effect.void }])).toThrow(/positive/)
  })

  it.live("migrations run with the store's client, and the migrations table is readable through it", () =>
    Effect.scoped(Effect.gen(function*() {
      const store = yield* SqlStore.make(":memory:")
      yield* store.migrate(notesV2)
      const sql = store.sql
      yield* sql`INSERT INTO notes ${sql.insert({ text: "hello", author: "ada" })}`
      expect(yield* sql`SELECT text, author FROM notes`).toEqual([{ text: "hello", author: "ada" }])
      const exit = yield* Effect.exit(sql`SELECT id FROM ${sql(SqlMigrations.TABLE)} WHERE component = ${"notes"}`)
      expect(Exit.isSuccess(exit) && exit.value.map((row) => row.id)).toEqual([1, 2])
    })))
})
