/**
 * The Promise client's per-call budgets leave the budget store with their call: over a real
 * redis-server (test/support/redis.ts), calls, streams read to the end, streams left part-way
 * and failed calls each under `{ budget }` leave no child key behind, and the client's budget
 * holds what they used.
 */
import { assert, describe, it } from "@effect/vitest"
import type * as Client from "../../src/client/Client.ts"
import { createClient } from "../../src/index.ts"
import { connectClient, redisForFile } from "../support/redis.ts"

const { enabled, server } = redisForFile("test/client/ClientBudgetRelease.test.ts")

describe.runIf(enabled)("createClient: per-call budgets", () => {
  it("calls, streams (read or left) and failures under { budget } leave no child budget in the store", async () => {
    const prefix = "{client-release}:"
    const llm = createClient({
      provider: "mock",
      budget: { totalTokens: 10_000_000 },
      store: { redis: { url: server().url, prefix } },
      ledger: false
    } as Client.Options)
    const redis = await connectClient(server().socket)
    try {
      let used = 0
      for (let call = 0; call < 200; call++) {
        const response = await llm.generate(`question ${call}`, { budget: { totalTokens: 5_000 } })
        used += response.usage.totalTokens
      }
      for (let call = 0; call < 10; call++) {
        for await (const part of llm.stream(`story ${call}`, { budget: { totalTokens: 5_000 } })) {
          if (part.type === "finish") used += part.response.usage.totalTokens
        }
        // Left after its first part: the stream ends, its budget is closed.
        for await (const _part of llm.stream(`other ${call}`, { budget: { totalTokens: 5_000 } })) break
      }
      // Refused by its own budget before anything is sent.
      const refused = await llm.generate("x".repeat(4_000), { budget: { totalTokens: 10 } }).then(() => false, () => true)
      assert.isTrue(refused)
      const children: Array<string> = []
      for await (const keys of redis.scanIterator({ MATCH: `${prefix}node:c*`, COUNT: 1000 })) children.push(...keys)
      assert.deepStrictEqual(children, [])
      const usage = await llm.usage()
      // The streams left part-way were charged by chargeAbandoned too: at least what returned.
      assert.isAtLeast(usage.totalTokens, used)
      assert.strictEqual(usage.budget?.openReservations, 0)
    } finally {
      await llm.close()
      await redis.close()
    }
  }, 120_000)
})
