// Virtual keys across `serve` processes (real child processes, a real redis-server from
// test/support/redis.ts, a fake OpenAI upstream that counts the requests it receives):
// two replicas share one key's budget and rpm exactly; a key's totals survive a restart of
// serve, with Redis and without it (saved in the key store); /ready names Redis when it is down;
// Redis stopped under two replicas refuses requests before they are sent and loses no acknowledged
// commit, and both replicas recover by themselves.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, assert, beforeAll, describe, it } from "vitest"
import * as ChildCli from "../cli/childCli.ts"
import { redisForFile, startRedis } from "../support/redis.ts"
import { type FakeProvider, startFakeProvider, usagePerCall } from "../store/fakeProvider.ts"

const { enabled, server: redis } = redisForFile("test/server/SharedKeys.test.ts")
const perCall = usagePerCall.total_tokens

let fake: FakeProvider | undefined
let dir = ""
beforeAll(async () => {
  if (!enabled) return
  fake = await startFakeProvider({ delayMs: 20 })
  dir = mkdtempSync(join(tmpdir(), "llmc-shared-keys-"))
})
afterAll(async () => {
  await fake?.close()
  if (dir !== "") rmSync(dir, { recursive: true, force: true })
})

const configFile = (name: string, redisUrl: string | undefined): string => {
  const file = join(dir, `${name}.yaml`)
  writeFileSync(file, [
    "provider: openai",
    "model: gpt-4o-mini",
    `baseUrl: ${fake!.origin}/v1`,
    "providers:",
    "  openai:",
    "    apiKey: test-key",
    "retry:",
    "  maxAttempts: 1",
    "timeout: 60s",
    ...(redisUrl === undefined ? [] : ["store:", "  redis:", `    url: ${redisUrl}`])
  ].join("\n"))
  return file
}

const cli = async (args: ReadonlyArray<string>) => {
  const child = ChildCli.start(args, dir)
  const code = await child.exited
  return { code, stdout: child.stdout(), stderr: child.stderr() }
}

const createKey = async (ledger: string, name: string, ...limits: ReadonlyArray<string>): Promise<string> => {
  const made = await cli(["keys", "create", "--ledger", ledger, "--name", name, ...limits])
  assert.strictEqual(made.code, 0, made.stderr)
  return made.stdout.trim()
}

interface Replica {
  readonly child: ChildCli.Child
  readonly url: string
  readonly stop: () => Promise<number>
}

const startServe = async (config: string, ledger: string): Promise<Replica> => {
  const child = ChildCli.start(["serve", "--port", "0", "--config", config, "--ledger", ledger], dir)
  const started = Date.now()
  while (!child.stdout().includes("\n")) {
    const exited = await Promise.race([child.exited.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 25))])
    if (exited) throw new Error(`serve exited early: ${child.stderr()}`)
    if (Date.now() - started > 60_000) throw new Error(`serve did not start: ${child.stderr()}`)
  }
  const url = child.stdout().split("\n")[0]!.slice("listening on ".length)
  return {
    child,
    url,
    stop: async () => {
      process.kill(child.pid, "SIGTERM")
      return await child.exited
    }
  }
}

interface Answer {
  readonly status: number
  readonly retryAfter: string | null
  readonly body: { readonly errorType?: string; readonly error?: string; readonly tokensIn?: number; readonly tokensOut?: number }
}

const execute = async (url: string, key: string): Promise<Answer> => {
  const response = await fetch(`${url}/execute`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
    body: JSON.stringify({ prompt: "Hi", systemPrompt: null, maxTokens: 20 })
  })
  return { status: response.status, retryAfter: response.headers.get("retry-after"), body: await response.json() as Answer["body"] }
}

// The key's budget figures in Redis, through `llm-connect budget show` (its id: key:<name>:<created>).
const shownFigures = async (config: string, ledger: string, name: string): Promise<Record<string, string>> => {
  const listed = await cli(["keys", "list", "--ledger", ledger, "--json"])
  assert.strictEqual(listed.code, 0, listed.stderr)
  const info = (JSON.parse(listed.stdout) as ReadonlyArray<{ name: string; createdAt: number }>).find((key) => key.name === name)!
  const shown = await cli(["budget", "show", `key:${name}:${info.createdAt}`, "--config", config, "--json"])
  assert.strictEqual(shown.code, 0, shown.stderr)
  return (JSON.parse(shown.stdout) as { figures: Record<string, string> }).figures
}

describe.runIf(enabled)("virtual keys across serve processes", { timeout: 240_000 }, () => {
  it("two replicas share one key's budget and rpm exactly: concurrent requests over both, nothing refused was sent", async () => {
    const ledger = join(dir, "replicas.db")
    const config = configFile("replicas", redis().url)
    const budgetKey = await createKey(ledger, "team-budget", "--max-tokens", "1000")
    const rpmKey = await createKey(ledger, "team-rpm", "--rpm", "10")
    const replicas = [await startServe(config, ledger), await startServe(config, ledger)]
    try {
      // One request through each replica first (both spend the key's budget), then 120 concurrent
      // requests, alternating replicas.
      const before = fake!.received()
      for (const replica of replicas) assert.strictEqual((await execute(replica.url, budgetKey)).status, 200)
      const answers = await Promise.all(Array.from({ length: 120 }, (_, index) => execute(replicas[index % 2]!.url, budgetKey)))
      const ok = answers.filter((answer) => answer.status === 200).length + 2
      const refused = answers.filter((answer) => answer.status !== 200)
      assert.isTrue(refused.every((answer) => answer.status === 429 && answer.body.errorType === "BudgetExceeded"), JSON.stringify(refused[0]))
      assert.include(refused[0]!.body.error, "key team-budget")
      assert.isAtMost(ok * perCall, 1000)
      // Most of the budget is spent: each reservation holds the input bound and 20 output tokens.
      assert.isAtLeast(ok, 20)
      // Every refused call was refused before it was sent: the upstream saw exactly the answered ones.
      assert.strictEqual(fake!.received() - before, ok)
      const figures = await shownFigures(config, ledger, "team-budget")
      assert.strictEqual(Number(figures["ct"]), ok * perCall)
      assert.strictEqual(Number(figures["rt"]), 0)

      // rpm 10 across both replicas: 30 concurrent requests, exactly 10 admitted.
      const beforeRpm = fake!.received()
      const limited = await Promise.all(Array.from({ length: 30 }, (_, index) => execute(replicas[index % 2]!.url, rpmKey)))
      assert.strictEqual(limited.filter((answer) => answer.status === 200).length, 10)
      const over = limited.filter((answer) => answer.status !== 200)
      assert.strictEqual(over.length, 20)
      for (const answer of over) {
        assert.strictEqual(answer.status, 429)
        assert.strictEqual(answer.body.errorType, "RateLimited")
        assert.include(answer.body.error, "10 requests per minute (rpm)")
        assert.isAtLeast(Number(answer.retryAfter), 1)
        assert.isAtMost(Number(answer.retryAfter), 60)
      }
      assert.strictEqual(fake!.received() - beforeRpm, 10)
    } finally {
      const codes = await Promise.all(replicas.map((replica) => replica.stop()))
      assert.deepStrictEqual(codes, [0, 0])
    }
  })

  for (const withRedis of [false, true]) {
    it(`a key's totals survive a restart of serve (${withRedis ? "in Redis" : "without Redis: saved in the key store"})`, async () => {
      const name = withRedis ? "restart-redis" : "restart-local"
      const ledger = join(dir, `${name}.db`)
      const config = configFile(name, withRedis ? redis().url : undefined)
      // 100 tokens: three calls of 25 fit in a fresh budget (a fourth's reservation does not).
      const key = await createKey(ledger, name, "--max-tokens", "100", "--per", withRedis ? "total" : "day")
      const before = fake!.received()
      const first = await startServe(config, ledger)
      assert.strictEqual((await execute(first.url, key)).status, 200)
      assert.strictEqual((await execute(first.url, key)).status, 200)
      assert.strictEqual(await first.stop(), 0)

      const second = await startServe(config, ledger)
      try {
        const third = await execute(second.url, key)
        assert.strictEqual(third.status, 200)
        // A budget that started again would admit this one; the restored one (75 of 100) refuses it.
        const fourth = await execute(second.url, key)
        assert.strictEqual(fourth.status, 429, JSON.stringify(fourth.body))
        assert.strictEqual(fourth.body.errorType, "BudgetExceeded")
        assert.strictEqual(fake!.received() - before, 3)
      } finally {
        assert.strictEqual(await second.stop(), 0)
      }
      if (withRedis) assert.strictEqual(Number((await shownFigures(config, ledger, name))["ct"]), 3 * perCall)
    })
  }

  it("/ready reports Redis: 200 while it answers PING, 503 naming it when it is stopped, 200 again once it is back", async () => {
    const own = await startRedis()
    const ledger = join(dir, "ready.db")
    const replica = await startServe(configFile("ready", own.url), ledger)
    try {
      const ready = async () => {
        const response = await fetch(`${replica.url}/ready`)
        return { status: response.status, body: await response.json() as { ready: boolean; checks: Record<string, string>; failing?: Array<string> } }
      }
      const up = await ready()
      assert.strictEqual(up.status, 200)
      assert.deepStrictEqual(up.body.checks, { config: "ok", ledger: "ok", store: "ok" })
      await own.stop()
      const down = await ready()
      assert.strictEqual(down.status, 503)
      assert.isFalse(down.body.ready)
      assert.deepStrictEqual(down.body.failing, ["store"])
      assert.match(down.body.checks["store"]!, /^cannot reach the redis budget store unix:\/\//)
      await own.start()
      const started = Date.now()
      let again = await ready()
      while (again.status !== 200 && Date.now() - started < 15_000) {
        await new Promise((resolve) => setTimeout(resolve, 100))
        again = await ready()
      }
      assert.strictEqual(again.status, 200)
    } finally {
      await replica.stop()
      await own.dispose()
    }
  })

  it("Redis stopped mid-run under two replicas: requests refused before they are sent (503), no acknowledged commit lost, both recover without a restart", async () => {
    const durable = await startRedis({ persistent: true })
    const ledger = join(dir, "outage.db")
    const config = configFile("outage", durable.url)
    const key = await createKey(ledger, "outage", "--max-tokens", "100000", "--rpm", "1000")
    const replicas = [await startServe(config, ledger), await startServe(config, ledger)]
    try {
      const before = fake!.received()
      const first = await Promise.all([0, 1, 0, 1].map((index) => execute(replicas[index]!.url, key)))
      assert.deepStrictEqual(first.map((answer) => answer.status), [200, 200, 200, 200])
      await durable.stop()
      const down = await Promise.all([0, 1].map((index) => execute(replicas[index]!.url, key)))
      for (const answer of down) {
        assert.strictEqual(answer.status, 503, JSON.stringify(answer.body))
        assert.strictEqual(answer.body.errorType, "Unavailable")
        assert.match(answer.body.error!, /redis|rate-limit store/)
      }
      assert.strictEqual(fake!.received() - before, 4)
      await durable.start()
      // Both replicas reconnect by themselves (bounded wait).
      for (const replica of replicas) {
        const started = Date.now()
        let answer = await execute(replica.url, key)
        while (answer.status !== 200 && Date.now() - started < 20_000) {
          await new Promise((resolve) => setTimeout(resolve, 200))
          answer = await execute(replica.url, key)
        }
        assert.strictEqual(answer.status, 200, JSON.stringify(answer.body))
      }
      // The 4 commits acknowledged before the outage and the 2 after are all there.
      const sent = fake!.received() - before
      assert.strictEqual(sent, 6)
      const figures = await shownFigures(config, ledger, "outage")
      assert.strictEqual(Number(figures["ct"]), sent * perCall)
      assert.strictEqual(Number(figures["rt"]), 0)
    } finally {
      await Promise.all(replicas.map((replica) => replica.stop()))
      await durable.dispose()
    }
  })

  it("serve starts while Redis is down: /ready 503 and keys' requests refused before they are sent, then both work once Redis is up", async () => {
    const late = await startRedis()
    await late.stop()
    const ledger = join(dir, "late.db")
    const key = await createKey(ledger, "late", "--max-tokens", "1000", "--rpm", "100")
    const replica = await startServe(configFile("late", late.url), ledger)
    try {
      const before = fake!.received()
      const ready = await fetch(`${replica.url}/ready`)
      assert.strictEqual(ready.status, 503)
      assert.deepStrictEqual(((await ready.json()) as { failing: Array<string> }).failing, ["store"])
      const refused = await execute(replica.url, key)
      assert.strictEqual(refused.status, 503, JSON.stringify(refused.body))
      assert.strictEqual(refused.body.errorType, "Unavailable")
      assert.strictEqual(fake!.received(), before)
      await late.start()
      const started = Date.now()
      let answer = await execute(replica.url, key)
      while (answer.status !== 200 && Date.now() - started < 20_000) {
        await new Promise((resolve) => setTimeout(resolve, 200))
        answer = await execute(replica.url, key)
      }
      assert.strictEqual(answer.status, 200, JSON.stringify(answer.body))
      assert.strictEqual((await fetch(`${replica.url}/ready`)).status, 200)
      assert.strictEqual(fake!.received() - before, 1)
    } finally {
      await replica.stop()
      await late.dispose()
    }
  })
})
