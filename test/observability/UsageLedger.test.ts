import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Deferred, Effect, Fiber, Layer, Logger } from "effect"
import { existsSync, mkdtempSync, rmSync } from "node:fs"
import { DatabaseSync } from "node:sqlite"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import { TestClock } from "effect/testing"
import * as SqlMigrations from "../../src/store/SqlMigrations.ts"
import * as SqlStore from "../../src/store/SqlStore.ts"
import * as SqlClient from "effect/sql/SqlClient"
import { pinnedNode, repoRoot, runProcess } from "../support/runProcess.ts"
import * as LanguageModel from "../../src/LanguageModel.ts"
import * as Observability from "../../src/observability/Observability.ts"
import * as PriceTable from "../../src/pricing/PriceTable.ts"
import * as UsageLedger from "../../src/observability/UsageLedger.ts"
import * as MockLanguageModel from "../../src/providers/mock/MockLanguageModel.ts"

const entry = (overrides: Partial<UsageLedger.Entry>): UsageLedger.Entry => ({
  time: 1_000,
  provider: "openai",
  model: "gpt-4o-mini",
  inputTokens: 10,
  outputTokens: 5,
  totalTokens: 15,
  estimated: false,
  latencyMs: 100,
  outcome: "ok",
  ...overrides
})

/** The ledger's table exactly as the code before versioned migrations created it. */
const LEGACY_DDL = `CREATE TABLE IF NOT EXISTS usage (
  time INTEGER NOT NULL, provider TEXT NOT NULL, model TEXT NOT NULL,
  input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL, total_tokens INTEGER NOT NULL,
  estimated INTEGER NOT NULL, cost_usd REAL, latency_ms REAL NOT NULL, outcome TEXT NOT NULL,
  workflow TEXT, step TEXT, correlation_id TEXT, request_id TEXT);
CREATE INDEX IF NOT EXISTS usage_time ON usage (time);`

/** The table after migration 2 (issue 13: cost in nano-USD, priced, the model asked for, attempts). */
const MIGRATION_2_DDL = `${LEGACY_DDL}
ALTER TABLE usage ADD COLUMN cost_nanos INTEGER; ALTER TABLE usage ADD COLUMN priced INTEGER;
ALTER TABLE usage ADD COLUMN requested_model TEXT; ALTER TABLE usage ADD COLUMN attempts INTEGER;
ALTER TABLE usage ADD COLUMN abandoned_attempts INTEGER;`

/** The table after migrations 3 (issue 14: calls the caller cancelled), 4 (issue 15: the conversation id), 5 (issue 18: the agent) and 6 (the virtual key's name). */
const CURRENT_DDL = `${MIGRATION_2_DDL}
ALTER TABLE usage ADD COLUMN cancelled INTEGER;
ALTER TABLE usage ADD COLUMN conversation_id TEXT;
ALTER TABLE usage ADD COLUMN agent TEXT;
ALTER TABLE usage ADD COLUMN key_name TEXT;`

/** Reads the file with node:sqlite directly, outside the code under test. */
const query = (path: string, text: string) => {
  const db = new DatabaseSync(path)
  try {
    return db.prepare(text).all()
  } finally {
    db.close()
  }
}

const withTempDir = <A, E, R>(body: (dir: string) => Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => mkdtempSync(join(tmpdir(), "ledger-"))),
    body,
    (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
  )

describe("UsageLedger", () => {
  it("summarize: groups, sums and sorts by cost", () => {
    const entries = [
      entry({ costUsd: 0.01 }),
      entry({ provider: "gemini", model: "gemini-2.5-flash", costUsd: 0.03, outputTokens: 7, totalTokens: 17 }),
      entry({ outcome: "RateLimited", inputTokens: 0, outputTokens: 0, totalTokens: 0, latencyMs: 300 })
    ]
    expect(UsageLedger.summarize(entries, "provider")).toEqual([
      { key: "gemini", calls: 1, errors: 0, inputTokens: 10, outputTokens: 7, totalTokens: 17, costUsd: 0.03, meanLatencyMs: 100 },
      { key: "openai", calls: 2, errors: 1, inputTokens: 10, outputTokens: 5, totalTokens: 15, costUsd: 0.01, meanLatencyMs: 200 }
    ])
    expect(UsageLedger.summarize(entries)[0]).toMatchObject({ key: "all", calls: 3, inputTokens: 20, outputTokens: 12 })
    expect(UsageLedger.summarize([entry({})], "workflow")[0]!.key).toBe("(none)")
  })

  it.effect("memory: keeps the most recent entries up to its capacity, filters by time", () =>
    Effect.gen(function*() {
      const ledger = yield* UsageLedger.makeMemory({ capacity: 2 })
      for (const time of [1, 2, 3]) yield* ledger.record(entry({ time }))
      expect((yield* ledger.entries()).map((e) => e.time)).toEqual([2, 3])
      expect((yield* ledger.entries({ since: 3 })).map((e) => e.time)).toEqual([3])
    }))

  it.live("layerConfig: LLM_CONNECT_LEDGER=off, none or false is an in-memory ledger, never a file named after the word", () =>
    Effect.gen(function*() {
      for (const word of ["off", "None", "FALSE"]) {
        const entries = yield* Effect.gen(function*() {
          const ledger = yield* UsageLedger.UsageLedger
          yield* ledger.record(entry({ time: 7 }))
          return yield* ledger.entries()
        }).pipe(
          Effect.provide(UsageLedger.layerConfig),
          Effect.provide(ConfigProvider.layer(ConfigProvider.fromUnknown({ LLM_CONNECT_LEDGER: word })))
        )
        expect(entries.map((e) => e.time)).toEqual([7])
        expect(existsSync(join(process.cwd(), word))).toBe(false)
      }
    }))

  it.live("SQLite: entries survive across runs (two separate opens of the same file)", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        const path = join(dir, "nested", "usage.db")
        const full = entry({
          costUsd: 0.5,
          workflow: "digest",
          step: "summarise",
          correlationId: "c-1",
          requestId: "req_1",
          estimated: true
        })
        yield* UsageLedger.UsageLedger.use((ledger) => ledger.record(full)).pipe(Effect.provide(UsageLedger.layerSqlite(path)))
        yield* UsageLedger.UsageLedger.use((ledger) => ledger.record(entry({ time: 5_000, outcome: "Timeout" }))).pipe(
          Effect.provide(UsageLedger.layerSqlite(path))
        )
        const all = yield* UsageLedger.UsageLedger.use((ledger) => ledger.entries()).pipe(
          Effect.provide(UsageLedger.layerSqlite(path))
        )
        expect(all).toEqual([full, entry({ time: 5_000, outcome: "Timeout" })])
        const recent = yield* UsageLedger.UsageLedger.use((ledger) => ledger.entries({ since: 2_000 })).pipe(
          Effect.provide(UsageLedger.layerSqlite(path))
        )
        expect(recent.map((e) => e.outcome)).toEqual(["Timeout"])
      })
    ))

  it.live("SQLite: a path that cannot be opened is a Configuration error naming the setting", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(Effect.scoped(UsageLedger.makeSqlite(join(dir, "\u0000bad"))))
        expect(error.reason._tag).toBe("Configuration")
        expect(error.message).toContain("ledger.path")
      })
    ))

  it.effect("memory: recordNow adds an entry at once, as record does (trimmed to the capacity the same way)", () =>
    Effect.gen(function*() {
      const ledger = yield* UsageLedger.makeMemory({ capacity: 2 })
      expect(ledger.recordNow).toBeDefined()
      ledger.recordNow!(entry({ time: 1 }))
      yield* ledger.record(entry({ time: 2 }))
      ledger.recordNow!(entry({ time: 3 }))
      expect((yield* ledger.entries()).map((e) => e.time)).toEqual([2, 3])
    }))

  it.effect("Observability writes a call's entry through recordNow when the ledger has one, else through record", () =>
    Effect.gen(function*() {
      const written: Array<string> = []
      const ledgerWith = (now: boolean): UsageLedger.Service => ({
        record: (e) => Effect.sync(() => void written.push(`record ${e.outcome}`)),
        ...(now ? { recordNow: (e: UsageLedger.Entry) => void written.push(`recordNow ${e.outcome}`) } : {}),
        entries: () => Effect.succeed([])
      })
      const call = (now: boolean) =>
        LanguageModel.generate("hello").pipe(
          Effect.provide(Observability.layer().pipe(Layer.provide(MockLanguageModel.layer()), Layer.provide(Layer.succeed(UsageLedger.UsageLedger, ledgerWith(now)))))
        )
      yield* call(true)
      yield* call(false)
      expect(written).toEqual(["recordNow ok", "record ok"])
    }))

  it.effect("Observability runs the wait recordNow returns (a full write queue, ADR 0060): the call returns once its entry is queued", () =>
    Effect.gen(function*() {
      const events: Array<string> = []
      const room = yield* Deferred.make<void>()
      const ledger: UsageLedger.Service = {
        record: () => Effect.die("not used: the ledger has recordNow"),
        // The entry is taken at once; the caller is asked to wait for room.
        recordNow: (e) => {
          events.push(`handed over ${e.outcome}`)
          return Effect.andThen(Deferred.await(room), Effect.sync(() => void events.push("room")))
        },
        entries: () => Effect.succeed([])
      }
      const call = yield* Effect.forkChild(
        LanguageModel.generate("hello").pipe(
          Effect.provide(Observability.layer().pipe(Layer.provide(MockLanguageModel.layer()), Layer.provide(Layer.succeed(UsageLedger.UsageLedger, ledger))))
        )
      )
      yield* TestClock.adjust("1 second")
      expect(events).toEqual(["handed over ok"])
      expect(call.pollUnsafe()).toBeUndefined()
      yield* Deferred.succeed(room, void 0)
      const response = yield* Fiber.join(call)
      expect(response.content.length).toBeGreaterThan(0)
      expect(events).toEqual(["handed over ok", "room"])
    }))

  it.effect("recorded usage equals what the provider reported, exactly, and times come from the Clock", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(1_700_000_000_000)
      const responses = []
      for (const prompt of ["short", "a much longer prompt with several words in it", "日本語のテキスト 😀"]) {
        responses.push(yield* LanguageModel.generate(prompt))
      }
      const entries = yield* UsageLedger.UsageLedger.use((ledger) => ledger.entries())
      expect(entries.map((e) => [e.inputTokens, e.outputTokens, e.totalTokens])).toEqual(
        responses.map((r) => [r.usage.inputTokens, r.usage.outputTokens, r.usage.totalTokens])
      )
      expect(entries.every((e) => e.time === 1_700_000_000_000)).toBe(true)
    }).pipe(Effect.provide(
      Observability.layer().pipe(Layer.provideMerge(Layer.mergeAll(MockLanguageModel.layer(), UsageLedger.layerMemory())))
    )))

  it.effect("cost: the provider's when given, else the price table's; the response is left as it is", () =>
    Effect.gen(function*() {
      const usage = { inputTokens: 1_000_000, outputTokens: 500_000, totalTokens: 1_500_000 }
      const base = { content: "x", provider: "openai", usage, finishReason: "stop" as const, latencyMs: 1 }
      const inner: LanguageModel.Service = LanguageModel.make({
        provider: "openai",
        defaultModel: "gpt-4o-mini",
        generate: (request) =>
          Effect.succeed(
            request.model === "priced"
              ? { ...base, model: "priced", cost: { usd: 0.42, source: "provider" as const } }
              : { ...base, model: "gpt-4o-mini" }
          )
      })
      const model = Observability.layer().pipe(
        Layer.provide(Layer.succeed(LanguageModel.LanguageModel, inner)),
        Layer.provideMerge(UsageLedger.layerMemory())
      )
      yield* Effect.gen(function*() {
        const fromTable = yield* LanguageModel.generate("a")
        expect(fromTable.cost).toBeUndefined()
        yield* LanguageModel.generate({ prompt: "b", model: "priced" })
        const entries = yield* UsageLedger.UsageLedger.use((ledger) => ledger.entries())
        expect(entries.map((entry) => entry.costUsd)).toEqual([1 + 0.5 * 4, 0.42])
      }).pipe(
        Effect.provide(model),
        Effect.provide(PriceTable.layer({ "openai/gpt-4o-mini": { inputPerMillion: 1, outputPerMillion: 4 } }))
      )
    }))

  it.live("Observability writes to a SQLite ledger given by path when none is in context", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        const path = join(dir, "usage.db")
        yield* LanguageModel.generate("hello").pipe(
          Effect.provide(Observability.layer({ ledgerPath: path }).pipe(Layer.provide(MockLanguageModel.layer())))
        )
        const entries = yield* UsageLedger.UsageLedger.use((ledger) => ledger.entries()).pipe(
          Effect.provide(UsageLedger.layerSqlite(path))
        )
        expect(entries.length).toBe(1)
        expect(entries[0]!.provider).toBe("mock")
      })
    ))

  it.live("SQLite: a ledger written before migrations existed is adopted with its rows", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        const path = join(dir, "usage.db")
        const db = new DatabaseSync(path)
        db.exec("PRAGMA journal_mode = WAL")
        db.exec(LEGACY_DDL)
        const insert = db.prepare(
          "INSERT INTO usage VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        )
        insert.run(1_000, "openai", "gpt-4o-mini", 10, 5, 15, 0, 0.25, 100, "ok", "digest", "summarise", "c-1", "req_1")
        insert.run(2_000, "gemini", "gemini-2.5-flash", 0, 0, 0, 1, null, 300, "RateLimited", null, null, null, null)
        db.close()

        const entries = yield* Effect.scoped(Effect.gen(function*() {
          const ledger = yield* UsageLedger.makeSqlite(path)
          yield* ledger.record(entry({ time: 3_000 }))
          return yield* ledger.entries()
        }))
        expect(entries).toEqual([
          entry({ costUsd: 0.25, workflow: "digest", step: "summarise", correlationId: "c-1", requestId: "req_1" }),
          entry({
            time: 2_000,
            provider: "gemini",
            model: "gemini-2.5-flash",
            inputTokens: 0,
            outputTokens: 0,
            totalTokens: 0,
            estimated: true,
            latencyMs: 300,
            outcome: "RateLimited"
          }),
          entry({ time: 3_000 })
        ])
        expect(query(path, `SELECT component, id, name FROM ${SqlMigrations.TABLE}`)).toEqual([
          { component: "usage-ledger", id: 1, name: "create_usage" },
          { component: "usage-ledger", id: 2, name: "cost_nanos_priced_attempts" },
          { component: "usage-ledger", id: 3, name: "cancelled" },
          { component: "usage-ledger", id: 4, name: "conversation_id" },
          { component: "usage-ledger", id: 5, name: "agent" },
          { component: "usage-ledger", id: 6, name: "key_name" }
        ])
        // migration 2 filled the exact cost of the legacy row
        expect(query(path, "SELECT cost_nanos FROM usage WHERE time = 1000")).toEqual([{ cost_nanos: 250_000_000 }])
      })
    ))

  it.live("SQLite: migration 4 adds conversation_id to a ledger at migration 2, keeping its rows; usage sums by conversation", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        const path = join(dir, "usage.db")
        const db = new DatabaseSync(path)
        db.exec(MIGRATION_2_DDL)
        db.exec(`CREATE TABLE ${SqlMigrations.TABLE} (component TEXT NOT NULL, id INTEGER NOT NULL, name TEXT NOT NULL, applied_at BIGINT NOT NULL, PRIMARY KEY (component, id))`)
        db.exec(`INSERT INTO ${SqlMigrations.TABLE} VALUES ('usage-ledger', 1, 'create_usage', 0), ('usage-ledger', 2, 'cost_nanos_priced_attempts', 0)`)
        db.prepare("INSERT INTO usage (time, provider, model, input_tokens, output_tokens, total_tokens, estimated, latency_ms, outcome) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
          .run(1_000, "openai", "gpt-4o-mini", 10, 5, 15, 0, 100, "ok")
        db.close()
        const entries = yield* Effect.scoped(Effect.gen(function*() {
          const ledger = yield* UsageLedger.makeSqlite(path)
          yield* ledger.record(entry({ time: 2_000, conversationId: "conv-a" }))
          yield* ledger.record(entry({ time: 3_000, conversationId: "conv-a", inputTokens: 20, totalTokens: 25 }))
          yield* ledger.record(entry({ time: 4_000, conversationId: "conv-b" }))
          return yield* ledger.entries()
        }))
        expect(entries.map((e) => e.conversationId)).toEqual([undefined, "conv-a", "conv-a", "conv-b"])
        expect(UsageLedger.summarize(entries, "conversation").map((group) => [group.key, group.calls, group.totalTokens])).toEqual([
          ["conv-a", 2, 40],
          ["(none)", 1, 15],
          ["conv-b", 1, 15]
        ])
        expect(query(path, `SELECT id FROM ${SqlMigrations.TABLE} ORDER BY id`)).toEqual([{ id: 1 }, { id: 2 }, { id: 3 }, { id: 4 }, { id: 5 }, { id: 6 }])
      })
    ))

  it.live("SQLite: every entry recorded just before the scope closes is in the file", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        const path = join(dir, "usage.db")
        // More than one batch, recorded without a pause, then the scope closes at once.
        yield* Effect.scoped(Effect.gen(function*() {
          const ledger = yield* UsageLedger.makeSqlite(path)
          for (let index = 0; index < 1_234; index++) yield* ledger.record(entry({ time: index }))
        }))
        expect(query(path, "SELECT COUNT(*) AS n, MIN(time) AS first, MAX(time) AS last FROM usage")).toEqual([
          { n: 1_234, first: 0, last: 1_233 }
        ])
      })
    ))

  it.live("SQLite: entries sees what this ledger recorded just before", () =>
    Effect.scoped(Effect.gen(function*() {
      const ledger = yield* UsageLedger.makeSqlite(":memory:")
      yield* ledger.record(entry({ time: 1 }))
      yield* ledger.record(entry({ time: 2 }))
      expect((yield* ledger.entries()).map((e) => e.time)).toEqual([1, 2])
    })))

  it.live("SQLite: a ledger at migration 2 gains the cancelled column, its rows kept; a cancelled entry round-trips", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        const path = join(dir, "usage.db")
        const db = new DatabaseSync(path)
        db.exec(MIGRATION_2_DDL)
        db.exec(`CREATE TABLE ${SqlMigrations.TABLE} (component TEXT NOT NULL, id INTEGER NOT NULL, name TEXT NOT NULL, applied_at INTEGER NOT NULL, PRIMARY KEY (component, id))`)
        db.exec(`INSERT INTO ${SqlMigrations.TABLE} VALUES ('usage-ledger', 1, 'create_usage', 0), ('usage-ledger', 2, 'cost_nanos_priced_attempts', 0)`)
        db.prepare(
          "INSERT INTO usage (time, provider, model, input_tokens, output_tokens, total_tokens, estimated, latency_ms, outcome, attempts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ).run(1_000, "openai", "gpt-4o-mini", 10, 5, 15, 0, 100, "ok", 1)
        db.close()
        const entries = yield* Effect.scoped(Effect.gen(function*() {
          const ledger = yield* UsageLedger.makeSqlite(path)
          yield* ledger.record(entry({ time: 2_000, outcome: "Interrupted", cancelled: true, estimated: true }))
          return yield* ledger.entries()
        }))
        expect(entries).toEqual([
          entry({ time: 1_000, provider: "openai", model: "gpt-4o-mini", attempts: 1 }),
          entry({ time: 2_000, outcome: "Interrupted", cancelled: true, estimated: true })
        ])
        expect(query(path, "SELECT time, cancelled FROM usage ORDER BY time")).toEqual([
          { time: 1_000, cancelled: null },
          { time: 2_000, cancelled: 1 }
        ])
      })
    ))

  it.live("SQLite: a ledger from a newer llm-connect is refused with a Configuration error and left as it is", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        const path = join(dir, "usage.db")
        yield* Effect.scoped(Effect.flatMap(UsageLedger.makeSqlite(path), (ledger) => ledger.record(entry({}))))
        const db = new DatabaseSync(path)
        db.exec(`INSERT INTO ${SqlMigrations.TABLE} VALUES ('usage-ledger', 7, 'add_tenant', 0)`)
        db.close()
        const error = yield* Effect.flip(Effect.scoped(UsageLedger.makeSqlite(path)))
        expect(error.reason._tag).toBe("Configuration")
        expect(error.message).toContain(`the usage ledger at ${path} was written by a newer llm-connect`)
        expect(error.message).toContain("migration 7 (add_tenant)")
        expect(error.message).toContain("ledger.path")
        expect(query(path, "SELECT COUNT(*) AS n FROM usage")).toEqual([{ n: 1 }])
      })
    ))

  it.live("SQLite: a failed write is logged and retried; the call that recorded it does not fail", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        const path = join(dir, "usage.db")
        const lines: Array<string> = []
        const capture = Logger.layer([Logger.formatSimple.pipe(Logger.map((line) => void lines.push(line)))])
        const entries = yield* Effect.scoped(Effect.gen(function*() {
          const ledger = yield* UsageLedger.makeSqlite(path)
          // Another process drops the table: writes now fail.
          const other = new DatabaseSync(path)
          other.exec("DROP TABLE usage")
          yield* ledger.record(entry({ time: 7 }))
          while (!lines.some((line) => line.includes("could not write"))) yield* Effect.sleep("10 millis")
          // The table is back: a retry writes the entry that failed. Meanwhile a reader does not
          // wait for the failing writes: it sees the file as it is.
          other.exec(CURRENT_DDL)
          other.close()
          let seen = yield* ledger.entries()
          while (seen.length === 0) {
            yield* Effect.sleep("20 millis")
            seen = yield* ledger.entries()
          }
          return seen
        })).pipe(Effect.provide(capture))
        expect(entries).toEqual([entry({ time: 7 })])
        expect(lines.find((line) => line.includes("could not write"))).toContain("no such table: usage")
        expect(query(path, "SELECT time FROM usage")).toEqual([{ time: 7 }])
      })
    ), { timeout: 20_000 })

  it.live("SQLite: several processes write to one new ledger file at once; every row is kept", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        const path = join(dir, "shared", "usage.db")
        const module = pathToFileURL(join(repoRoot, "src", "observability", "UsageLedger.ts")).href
        const child = (worker: number) => `
const UsageLedger = await import(${JSON.stringify(module)})
const { Effect } = await import("effect")
await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
  const ledger = yield* UsageLedger.makeSqlite(${JSON.stringify(path)})
  for (let index = 0; index < 200; index++) {
    yield* ledger.record({ time: index, provider: "worker-${worker}", model: "m", inputTokens: 1, outputTokens: 2,
      totalTokens: 3, estimated: false, latencyMs: 1, outcome: "ok" })
    if (index % 50 === 0) yield* Effect.sleep("1 millis")
  }
})))
`
        const results = yield* Effect.all(
          [1, 2, 3, 4].map((worker) =>
            runProcess(pinnedNode, ["--input-type=module", "-e", child(worker)], { cwd: repoRoot, env: {} })
          ),
          { concurrency: "unbounded" }
        )
        for (const result of results) expect(result.exitCode, result.stderr).toBe(0)
        expect(query(path, "SELECT provider, COUNT(*) AS n FROM usage GROUP BY provider ORDER BY provider")).toEqual(
          [1, 2, 3, 4].map((worker) => ({ provider: `worker-${worker}`, n: 200 }))
        )
        expect(query(path, `SELECT component, id FROM ${SqlMigrations.TABLE}`)).toEqual([
          { component: "usage-ledger", id: 1 },
          { component: "usage-ledger", id: 2 },
          { component: "usage-ledger", id: 3 },
          { component: "usage-ledger", id: 4 },
          { component: "usage-ledger", id: 5 },
          { component: "usage-ledger", id: 6 }
        ])
      })
    ), { timeout: 60_000 })

  it.live("SQLite: the ledger shares a store with another component (one file, each with its own migrations)", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        const path = join(dir, "state.db")
        const keys = SqlMigrations.component("virtual-keys", [
          {
            id: 1,
            name: "create_keys",
            up: Effect.flatMap(SqlClient.SqlClient, (sql) => sql`CREATE TABLE virtual_keys (name TEXT PRIMARY KEY, hash TEXT NOT NULL)`)
          }
        ])
        const store = SqlStore.layer(path, { setting: "store.path" })
        yield* Effect.gen(function*() {
          yield* SqlStore.migrate(keys)
          yield* UsageLedger.UsageLedger.use((ledger) => ledger.record(entry({})))
        }).pipe(Effect.provide(UsageLedger.layerStore.pipe(Layer.provideMerge(store))))
        expect(query(path, `SELECT component, id FROM ${SqlMigrations.TABLE} ORDER BY component`)).toEqual([
          { component: "usage-ledger", id: 1 },
          { component: "usage-ledger", id: 2 },
          { component: "usage-ledger", id: 3 },
          { component: "usage-ledger", id: 4 },
          { component: "usage-ledger", id: 5 },
          { component: "usage-ledger", id: 6 },
          { component: "virtual-keys", id: 1 }
        ])
        expect(query(path, "SELECT COUNT(*) AS n FROM usage")).toEqual([{ n: 1 }])
      })
    ))
})
