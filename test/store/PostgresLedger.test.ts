// The usage ledger on a real PostgreSQL (test/support/postgres.ts): the same rows as SQLite,
// schema migrated by the project, errors that name the setting and never the password.
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, Logger } from "effect"
import * as SqlStore from "../../src/store/SqlStore.ts"
import * as UsageLedger from "../../src/observability/UsageLedger.ts"
import { postgresAvailable, type PostgresServer, startPostgres } from "../support/postgres.ts"

const entry = (overrides: Partial<UsageLedger.Entry>): UsageLedger.Entry => ({
  time: 1_700_000_000_000,
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

describe.runIf(postgresAvailable)("usage ledger on PostgreSQL", () => {
  let pg: PostgresServer
  beforeAll(() => {
    pg = startPostgres()
  })
  afterAll(() => pg?.destroy())

  it.effect("writes and reads back the same entries as SQLite, in both backends", () =>
    Effect.gen(function*() {
      const url = pg.createDatabase("roundtrip")
      const full = entry({
        requestedModel: "gpt-4o",
        costUsd: 12.345678901,
        priced: false,
        attempts: 3,
        abandonedAttempts: 1,
        estimated: true,
        workflow: "w",
        step: "s",
        correlationId: "c",
        requestId: "r",
        latencyMs: 12.5
      })
      const second = entry({ time: 1_700_000_000_001, provider: "anthropic", costUsd: 0.000000001, outcome: "RateLimited" })
      const read = (where: string) =>
        Effect.scoped(Effect.gen(function*() {
          const ledger = yield* UsageLedger.makeSqlite(where)
          yield* ledger.record(full)
          yield* ledger.record(second)
          return yield* ledger.entries()
        }))
      const fromPg = yield* read(url)
      const fromSqlite = yield* read(":memory:")
      expect(fromPg).toEqual([full, second])
      expect(fromPg).toEqual(fromSqlite)
      // Exact cost in nano-USD, beyond PostgreSQL's 32-bit INTEGER.
      expect(pg.psql("roundtrip", "SELECT cost_nanos FROM usage ORDER BY seq")).toBe("12345678901\n1")
      expect(pg.psql("roundtrip", "SELECT component || ':' || id || ':' || name FROM llm_connect_migrations ORDER BY id"))
        .toBe("usage-ledger:1:create_usage\nusage-ledger:2:cost_nanos_priced_attempts\nusage-ledger:3:cancelled\nusage-ledger:4:conversation_id\nusage-ledger:5:agent\nusage-ledger:6:key_name")
    }))

  it.live("rows that cannot be written before the close window ends are logged as lost, with their count", () =>
    Effect.gen(function*() {
      const url = pg.createDatabase("lost")
      const lines: Array<string> = []
      const capture = Logger.layer([Logger.formatSimple.pipe(Logger.map((line) => void lines.push(line)))])
      yield* Effect.scoped(Effect.gen(function*() {
        const ledger = yield* UsageLedger.makeSqlite(url)
        yield* ledger.record(entry({}))
        yield* ledger.entries() // written
        pg.stop()
        for (let index = 0; index < 3; index++) yield* ledger.record(entry({ inputTokens: index }))
      })).pipe(Effect.provide(capture), Effect.ensuring(Effect.sync(() => pg.start())))
      // The close window (5 s) passed with the server down: the 3 rows are reported, by count.
      const lost = lines.filter((line) => line.includes("could not be written and are lost"))
      expect(lost).toHaveLength(1)
      expect(lost[0]).toContain("3 item(s)")
      expect(lines.some((line) => line.includes("retrying"))).toBe(true)
      expect(lines.join("\n")).not.toContain(pg.password)
      expect(pg.psql("lost", "SELECT count(*) FROM usage")).toBe("1")
    }), 60_000)

  it.effect("a bad password is a Configuration error naming the setting, without the password", () =>
    Effect.gen(function*() {
      const url = pg.url.replace(encodeURIComponent(pg.password), "wrong-secret-xyz")
      const error = yield* Effect.flip(Effect.scoped(UsageLedger.makeSqlite(url)))
      expect(error.reason._tag).toBe("Configuration")
      const text = `${error.message} ${JSON.stringify(error)}`
      expect(text).toContain("ledger")
      expect(text).toContain("postgres://postgres:***@localhost/postgres")
      expect(text).not.toContain("wrong-secret-xyz")
      expect(text).not.toContain(pg.password)
    }))

  it.effect("an unparsable postgres:// URL is refused without repeating it", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(SqlStore.parse("postgres://user:hunter2@[bad/db", { setting: "ledger.postgres.url" }))
      expect(error.message).toContain("ledger.postgres.url is not a valid postgres:// URL")
      expect(`${error.message} ${JSON.stringify(error)}`).not.toContain("hunter2")
    }))
})
