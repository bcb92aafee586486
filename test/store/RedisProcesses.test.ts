// Shared budgets across real processes: 4 child processes x 250 concurrent calls against one fake
// provider, one budget in a real redis-server (test/support/redis.ts). Time is real here (a
// TestClock cannot span processes): leases get short TTLs and Redis is polled, bounded.
import { spawn } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, assert, beforeAll, describe, it } from "vitest"
import { pinnedNode, repoRoot } from "../support/runProcess.ts"
import { connectClient, redisForFile } from "../support/redis.ts"
import { startFakeProvider, usagePerCall } from "./fakeProvider.ts"

const { enabled, server } = redisForFile("test/store/RedisProcesses.test.ts")
const worker = join(repoRoot, "test/store/fixtures/redisWorker.ts")
const perCall = usagePerCall.total_tokens

let dir = ""
beforeAll(async () => {
  if (!enabled) return
  dir = mkdtempSync(join(tmpdir(), "llmc-procs-"))
})
afterAll(async () => {
  if (dir !== "") rmSync(dir, { recursive: true, force: true })
})

interface Outcome {
  readonly answered: number
  readonly refused: Record<string, number>
}

const configFile = (name: string, origin: string, extra: string): string => {
  const file = join(dir, `${name}.yaml`)
  writeFileSync(file, [
    "provider: openai",
    "model: gpt-4o-mini",
    `baseUrl: ${origin}/v1`,
    "providers:",
    "  openai:",
    "    apiKey: test-key",
    "retry:",
    "  maxAttempts: 1",
    // The budget sees 250 calls in flight per process; at most 32 of them hold a connection to
    // the fake at once (the test machine may be loaded).
    ...(/^limits:/m.test(extra) ? [] : ["limits:", "  concurrency: 32"]),
    ...(/^timeout:/m.test(extra) ? [] : ["timeout: 60s"]),
    extra
  ].join("\n"))
  return file
}

const startWorker = (args: ReadonlyArray<string>) => {
  const child = spawn(pinnedNode, [worker, ...args], {
    cwd: repoRoot,
    env: { PATH: process.env.PATH ?? "", HOME: dir, XDG_STATE_HOME: join(dir, "state") },
    stdio: ["ignore", "pipe", "pipe"]
  })
  let stdout = ""
  let stderr = ""
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()))
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.on("exit", (code) => resolve({ code, stdout, stderr }))
  )
  return { child, done }
}

const runWorker = async (args: ReadonlyArray<string>): Promise<Outcome> => {
  const { code, stderr, stdout } = await startWorker(args).done
  assert.strictEqual(code, 0, `worker failed: ${stderr}`)
  return JSON.parse(stdout.trim().split("\n").at(-1)!) as Outcome
}

const redis = () => connectClient(server().socket)

const poll = async <A>(read: () => Promise<A>, done: (value: A) => boolean, timeoutMs: number): Promise<A> => {
  const started = Date.now()
  while (true) {
    const value = await read()
    if (done(value) || Date.now() - started > timeoutMs) return value
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

describe.runIf(enabled)("a budget shared by processes through Redis", () => {
  it("4 processes x 250 concurrent calls: committed <= limit, no overshoot, every refusal before send", async () => {
    const fake = await startFakeProvider({ delayMs: 5 })
    try {
      const limit = 10_000
      const file = configFile("shared", fake.origin, [
        "store:",
        // The machine running the tests may be loaded: correctness here, not latency.
        "  timeout: 30s",
        "  redis:",
        `    url: unix://${server().socket}`,
        "    prefix: \"{shared}:\"",
        "budget:",
        "  id: team",
        `  totalTokens: ${limit}`
      ].join("\n"))
      const outcomes = await Promise.all([1, 2, 3, 4].map(() => runWorker([file, "250", "flat"])))
      const answered = outcomes.reduce((sum, outcome) => sum + outcome.answered, 0)
      const refused = outcomes.reduce((sum, outcome) => sum + (outcome.refused.BudgetExceeded ?? 0), 0)
      // Every call was answered or refused by the budget; every request the provider received was answered.
      assert.strictEqual(answered + refused, 1_000, JSON.stringify(outcomes))
      assert.strictEqual(fake.received(), answered)
      assert.isAbove(answered, 0)
      assert.isAbove(refused, 0)
      const client = await redis()
      const node = await client.hGetAll("{shared}:node:n:team")
      await client.close()
      // Every answered call is committed, and the total stays within the limit.
      assert.strictEqual(Number(node.ct), answered * perCall)
      assert.isAtMost(Number(node.ct), limit)
      assert.strictEqual(node.rt, "0")
      assert.strictEqual(node.open, "0")
      assert.strictEqual(node.pending, "")
    } finally {
      await fake.close()
    }
  }, 120_000)

  it("a delegation tree across processes: every child and the shared root stay within their limits", async () => {
    const fake = await startFakeProvider({ delayMs: 5 })
    try {
      const file = configFile("tree", fake.origin, "")
      const url = `unix://${server().socket}`
      const outcomes = await Promise.all([1, 2, 3, 4].map(() => runWorker([file, "250", "tree", "1500", url, "{tree}:"])))
      const answered = outcomes.reduce((sum, outcome) => sum + outcome.answered, 0)
      const refused = outcomes.reduce((sum, outcome) => sum + (outcome.refused.BudgetExceeded ?? 0), 0)
      assert.strictEqual(answered + refused, 1_000, JSON.stringify(outcomes))
      assert.strictEqual(fake.received(), answered)
      const client = await redis()
      const root = await client.hGetAll("{tree}:node:n:tree")
      const children = await client.keys("{tree}:node:c*")
      assert.strictEqual(children.length, 4)
      let childSum = 0
      for (const key of children) {
        const child = await client.hGetAll(key)
        assert.strictEqual(child.parent, "n:tree")
        assert.isAtMost(Number(child.ct), 1_500)
        assert.strictEqual(child.open, "0")
        childSum += Number(child.ct)
      }
      await client.close()
      assert.strictEqual(Number(root.ct), answered * perCall)
      assert.strictEqual(childSum, Number(root.ct))
      assert.isAtMost(Number(root.ct), 5_000)
      assert.strictEqual(root.open, "0")
    } finally {
      await fake.close()
    }
  }, 120_000)

  it("kill -9 with calls in flight: sent leases become charges, unsent ones are released, within the TTL", async () => {
    const fake = await startFakeProvider({ delayMs: 0, hang: true })
    try {
      // Lease TTL = 2 x the call timeout = 4s; 4 calls are sent (concurrency 4), 6 wait unsent.
      const file = configFile("killed", fake.origin, [
        "timeout: 2s",
        "limits:",
        "  concurrency: 4",
        "store:",
        "  redis:",
        `    url: unix://${server().socket}`,
        "    prefix: \"{killed}:\"",
        "budget:",
        "  id: killed",
        "  totalTokens: 100000"
      ].join("\n"))
      const { child, done } = startWorker([file, "10", "hold"])
      const client = await redis()
      const leases = async () => {
        const ids = await client.zRange("{killed}:leases", 0, -1)
        const sent = await Promise.all(ids.map((id) => client.hGet(`{killed}:lease:${id}`, "sent")))
        return { open: ids.length, sent: sent.filter((flag) => flag === "1").length }
      }
      const inFlight = await poll(leases, (value) => value.open === 10 && value.sent === 4 && fake.received() === 4, 20_000)
      assert.deepStrictEqual(inFlight, { open: 10, sent: 4 })
      const held = await client.hGetAll("{killed}:node:n:killed")
      const perReservation = Number(held.rt) / 10
      const killedAt = Date.now()
      child.kill("SIGKILL")
      await done
      // A script run by any client settles expired leases; `budget show` runs one (bounded poll).
      const settled = await poll(async () => {
        const { RedisBudgetStoreShow } = await import("./fixtures/show.ts")
        return RedisBudgetStoreShow(`unix://${server().socket}`, "{killed}:", "killed")
      }, (shown) => shown?.figures.open === "0", 15_000)
      const elapsed = Date.now() - killedAt
      assert.strictEqual(settled?.figures.open, "0")
      assert.strictEqual(settled?.figures.rt, "0")
      // The 4 sent are charged what they held (chargeAbandoned: reserved), the 6 unsent released.
      assert.strictEqual(Number(settled?.figures.ct), 4 * perReservation)
      assert.isAtMost(elapsed, 4_000 + 5_000)
      // No lease outlives its TTL.
      assert.strictEqual(await client.zCard("{killed}:leases"), 0)
      await client.close()
    } finally {
      await fake.close()
    }
  }, 120_000)
})
