/**
 * serve's /ready with a shared budget store (store.redis) against a real redis-server: ready
 * while Redis answers, 503 naming the store (never its password) once it is down.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { redisForFile } from "../support/redis.ts"
import { request, steered, withServe } from "./support.ts"

const { enabled, server } = redisForFile("test/server/Ready.test.ts")

describe.runIf(enabled)("GET /ready with store.redis", () => {
  it.live("ready while Redis answers; 503 naming the store (its URL as the store redacts it) when it is down", () => {
    const fake = steered()
    const yaml = () => `ledger: false\nstore:\n  redis: { url: "${server().url}" }\n  timeout: 500ms\n`
    return withServe({ providers: [fake.provider], yaml }, ({ url }) =>
      Effect.gen(function*() {
        const up = yield* request(`${url}/ready`)
        assert.strictEqual(up.status, 200, up.text)
        assert.deepStrictEqual(up.json, { ready: true, checks: { config: "ok", ledger: "off", store: "ok" } })
        yield* Effect.promise(() => server().stop())
        const down = yield* request(`${url}/ready`)
        assert.strictEqual(down.status, 503)
        assert.include((down.json as { checks: { store: string } }).checks.store, "cannot reach the redis budget store")
        yield* Effect.promise(() => server().start())
      }))
  }, 30_000)
})
