// serve over a usage ledger on a real PostgreSQL (test/support/postgres.ts): /ready says the
// ledger is writable while the server answers and 503 naming the ledger (never its password) when
// it is stopped; the keys' saved totals round-trip through PostgreSQL as through SQLite; keys made
// with `keys create --ledger postgres://...` are enforced by a `serve` process on that ledger.
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as VirtualKeys from "../../src/server/VirtualKeys.ts"
import * as SqlStore from "../../src/store/SqlStore.ts"
import { postgresAvailable, type PostgresServer, startPostgres } from "../support/postgres.ts"
import * as ChildCli from "../cli/childCli.ts"
import { post, request, withServe } from "./support.ts"

let server: PostgresServer | undefined
beforeAll(() => {
  if (postgresAvailable) server = startPostgres()
}, 120_000)
afterAll(() => server?.destroy())

interface Ready {
  readonly ready: boolean
  readonly checks: Record<string, string>
  readonly failing?: ReadonlyArray<string>
}

describe.runIf(postgresAvailable)("serve with a PostgreSQL ledger", { timeout: 120_000 }, () => {
  it.live("/ready: the ledger is ok while PostgreSQL answers, 503 naming it (without the password) when it is stopped, ok again after", () =>
    Effect.gen(function*() {
      const url = server!.createDatabase("ready")
      const yaml = ["provider: mock", "ledger:", "  postgres:", `    url: "${url}"`].join("\n")
      yield* withServe({ yaml }, ({ url: base }) =>
        Effect.gen(function*() {
          const up = yield* request(`${base}/ready`)
          assert.strictEqual(up.status, 200, up.text)
          assert.deepStrictEqual((up.json as Ready).checks, { config: "ok", ledger: "ok" })
          server!.stop()
          try {
            const down = yield* request(`${base}/ready`)
            assert.strictEqual(down.status, 503)
            const body = down.json as Ready
            assert.isFalse(body.ready)
            assert.deepStrictEqual(body.failing, ["ledger"])
            assert.include(body.checks["ledger"]!, "cannot reach the ledger's database")
            assert.notInclude(down.text, server!.password)
          } finally {
            server!.start()
          }
          let again = yield* request(`${base}/ready`)
          for (let tries = 0; again.status !== 200 && tries < 100; tries++) {
            yield* Effect.sleep("100 millis")
            again = yield* request(`${base}/ready`)
          }
          assert.strictEqual(again.status, 200, again.text)
        }))
    }))

  it.live("a key's saved totals round-trip through PostgreSQL; a second save replaces the first", () =>
    Effect.scoped(Effect.gen(function*() {
      const store = yield* SqlStore.make(server!.createDatabase("totals"))
      const keys = yield* VirtualKeys.make(store)
      const { info } = yield* keys.create("pg-key", { per: "total", maxCostUsd: 5 })
      assert.strictEqual(yield* keys.totals(info, "total"), undefined)
      yield* keys.saveTotals(info, "total", { inputTokens: 1, outputTokens: 2, totalTokens: 3, costNanos: 4_000_000_000_123 })
      yield* keys.saveTotals(info, "total", { inputTokens: 10, outputTokens: 20, totalTokens: 30, costNanos: 5_000_000_000_123 })
      assert.deepStrictEqual(yield* keys.totals(info, "total"), { inputTokens: 10, outputTokens: 20, totalTokens: 30, costNanos: 5_000_000_000_123 })
    })))

  it.live("keys made in a PostgreSQL ledger are enforced by serve on that ledger; their totals are saved there", () =>
    Effect.gen(function*() {
      const url = server!.createDatabase("keys")
      const dir = ChildCli.workspace({})
      const made = yield* ChildCli.run(["keys", "create", "--ledger", url, "--name", "pg-team", "--max-tokens", "1000"], dir)
      assert.strictEqual(made.code, 0, made.stderr)
      const key = made.stdout.trim()
      const child = ChildCli.start(["serve", "--port", "0", "--provider", "mock", "--ledger", url], dir)
      const base = yield* ChildCli.listeningUrl(child)
      const body = { prompt: "Hi", systemPrompt: null, maxTokens: 20 }
      assert.strictEqual((yield* post(`${base}/execute`, body)).status, 401)
      assert.strictEqual((yield* post(`${base}/execute`, body, { authorization: `Bearer ${key}` })).status, 200)
      process.kill(child.pid, "SIGTERM")
      assert.strictEqual(yield* Effect.promise(() => child.exited), 0)
      assert.notInclude(child.stderr(), server!.password)
      const saved = Number(server!.psql("keys", "SELECT total_tokens FROM llm_connect_key_totals WHERE name = 'pg-team'"))
      assert.isAbove(saved, 0)
    }), 120_000)
})
