/**
 * `GET /v1/usage` per virtual key, on real HTTP at 127.0.0.1:0 with a SQLite ledger: each row
 * names the key its call was made for (a workflow run's calls too); a non-admin key sees only its
 * own usage and is refused another's (403); an admin key sees every key's and may filter with
 * `key=` or group `by=key`; without keys (loopback) every caller sees all and may filter.
 * JSON-RPC `usage` follows the same rule.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import { mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import * as VirtualKeys from "../../src/server/VirtualKeys.ts"
import * as SqlStore from "../../src/store/SqlStore.ts"
import { post, request, steered, withServe } from "./support.ts"

const consumer = { provider: "steered", model: null, systemPrompt: null, prompt: "Hi", maxTokens: 100, temperature: 0.2 }

const ONE_STEP = `name: one
steps:
  - id: only
    prompt: "Say hi"
`

// A SQLite ledger and a workflows folder in the test's directory.
const config = (dir: string) => {
  const folder = join(dir, "workflows")
  mkdirSync(folder, { recursive: true })
  writeFileSync(join(folder, "one.yaml"), ONE_STEP)
  return [
    "provider: steered",
    `ledger: { path: ${join(dir, "usage.db")} }`,
    "serve:",
    `  workflows: ${folder}`,
    "  runs:",
    `    journal: ${join(dir, "runs")}`,
    ""
  ].join("\n")
}

interface Report {
  readonly key?: string
  readonly totals: { readonly calls: number; readonly totalTokens: number }
  readonly groups: ReadonlyArray<{ readonly key: string; readonly calls: number }>
}

const bearer = (key: string) => ({ authorization: `Bearer ${key}` })

describe("GET /v1/usage per virtual key", () => {
  it.live("a key sees its own usage only (403 for another's); an admin key sees all, filters with key= and groups by key", () =>
    Effect.scoped(Effect.gen(function*() {
      const fake = steered()
      const keys = yield* VirtualKeys.make(yield* SqlStore.make(":memory:"))
      const a = Redacted.value((yield* keys.create("team-a", { per: "total" })).key)
      const b = Redacted.value((yield* keys.create("team-b", { per: "total" })).key)
      const ops = Redacted.value((yield* keys.create("ops", { per: "total" }, { admin: true })).key)
      assert.deepStrictEqual((yield* keys.list).map((info) => [info.name, info.admin === true]), [["ops", true], ["team-a", false], [
        "team-b",
        false
      ]])
      yield* withServe({ providers: [fake.provider], keys, yaml: config }, ({ url }) =>
        Effect.gen(function*() {
          assert.strictEqual((yield* post(`${url}/execute`, consumer, bearer(a))).status, 200)
          for (let index = 0; index < 2; index++) assert.strictEqual((yield* post(`${url}/execute`, consumer, bearer(b))).status, 200)
          // A workflow run started with team-b's key: its call is team-b's too.
          const run = yield* post(`${url}/v1/workflows/one/runs?wait=10s`, {}, bearer(b))
          assert.strictEqual((run.json as { status: string }).status, "succeeded")
          assert.strictEqual(fake.seen.length, 4)

          const own = yield* request(`${url}/v1/usage`, { headers: bearer(a) })
          assert.strictEqual(own.status, 200)
          const ownReport = own.json as Report
          assert.strictEqual(ownReport.key, "team-a")
          assert.strictEqual(ownReport.totals.calls, 1)
          assert.strictEqual(ownReport.totals.totalTokens, 15)
          const ownNamed = yield* request(`${url}/v1/usage?key=team-a`, { headers: bearer(a) })
          assert.strictEqual((ownNamed.json as Report).totals.calls, 1)
          const bOwn = yield* request(`${url}/v1/usage?by=workflow`, { headers: bearer(b) })
          assert.deepStrictEqual((bOwn.json as Report).groups.map((group) => [group.key, group.calls]), [["(none)", 2], ["one", 1]])

          const other = yield* request(`${url}/v1/usage?key=team-b`, { headers: bearer(a) })
          assert.strictEqual(other.status, 403)
          assert.strictEqual((other.json as { errorType: string }).errorType, "PermissionDenied")
          assert.include((other.json as { fix: string }).fix, "--admin")
          assert.notInclude(other.text, b)
          assert.strictEqual((yield* request(`${url}/v1/usage`)).status, 401)

          const all = yield* request(`${url}/v1/usage?by=key`, { headers: bearer(ops) })
          assert.strictEqual(all.status, 200)
          const allReport = all.json as Report
          assert.isUndefined(allReport.key)
          assert.strictEqual(allReport.totals.calls, 4)
          assert.deepStrictEqual(allReport.groups.map((group) => [group.key, group.calls]), [["team-b", 3], ["team-a", 1]])
          const filtered = yield* request(`${url}/v1/usage?key=team-b`, { headers: bearer(ops) })
          assert.strictEqual((filtered.json as Report).key, "team-b")
          assert.strictEqual((filtered.json as Report).totals.calls, 3)
          const empty = yield* request(`${url}/v1/usage?key=`, { headers: bearer(ops) })
          assert.strictEqual(empty.status, 400)
          assert.strictEqual((empty.json as { setting: string }).setting, "key")

          // JSON-RPC usage: the same rule.
          const rpc = yield* post(`${url}/rpc`, { jsonrpc: "2.0", id: 1, method: "usage", params: {} }, bearer(a))
          assert.strictEqual((rpc.json as { result: Report }).result.totals.calls, 1)
          const rpcOther = yield* post(`${url}/rpc`, { jsonrpc: "2.0", id: 2, method: "usage", params: { key: "team-b" } }, bearer(a))
          // Refused, not bad params: our failure code with the errorType, as over HTTP (403).
          const refused = (rpcOther.json as { error: { code: number; data: { errorType: string } } }).error
          assert.strictEqual(refused.code, -32000)
          assert.strictEqual(refused.data.errorType, "PermissionDenied")
          const rpcBad = yield* post(`${url}/rpc`, { jsonrpc: "2.0", id: 4, method: "usage", params: { since: "soon" } }, bearer(a))
          assert.strictEqual((rpcBad.json as { error: { code: number } }).error.code, -32602)
          const rpcAdmin = yield* post(`${url}/rpc`, { jsonrpc: "2.0", id: 3, method: "usage", params: { key: "team-b" } }, bearer(ops))
          assert.strictEqual((rpcAdmin.json as { result: Report }).result.totals.calls, 3)
        }))
    })))

  it.live("without keys (loopback) every caller sees all usage and may filter with key=", () => {
    const fake = steered()
    return withServe({ providers: [fake.provider], yaml: config }, ({ url }) =>
      Effect.gen(function*() {
        assert.strictEqual((yield* post(`${url}/execute`, consumer)).status, 200)
        const all = yield* request(`${url}/v1/usage?by=key`)
        assert.strictEqual(all.status, 200)
        assert.deepStrictEqual((all.json as Report).groups.map((group) => [group.key, group.calls]), [["(none)", 1]])
        const filtered = yield* request(`${url}/v1/usage?key=team-a`)
        assert.strictEqual(filtered.status, 200)
        assert.strictEqual((filtered.json as Report).totals.calls, 0)
      }))
  })
})
