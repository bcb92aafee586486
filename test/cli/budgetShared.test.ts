// `budget.id` with `store.redis` from the CLI, against a real redis-server: two runs share the
// budget, other limits under the same id exit 2, `budget show` / `budget reset`, and a store that
// is down refuses the call (exit 1, nothing sent).
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll } from "vitest"
import { adminClient, redisForFile } from "../support/redis.ts"
import { startFakeProvider, usagePerCall } from "../store/fakeProvider.ts"
import { runCli } from "./runCli.ts"

const { enabled, server } = redisForFile("test/cli/budgetShared.test.ts")
let dir = ""
beforeAll(async () => {
  if (!enabled) return
  dir = mkdtempSync(join(tmpdir(), "llmc-cli-budget-"))
})
afterAll(async () => {
  if (dir !== "") rmSync(dir, { recursive: true, force: true })
})

const config = (name: string, totalTokens: number, url = `unix://${server().socket}`) => {
  const file = join(dir, name)
  writeFileSync(file, `provider: mock\nstore:\n  redis:\n    url: ${url}\nbudget:\n  id: team\n  totalTokens: ${totalTokens}\n  defaultMaxTokens: 50\n`)
  return file
}

describe.runIf(enabled)("llm-connect with a shared budget (store.redis)", () => {
  it.effect("two runs spend one budget; budget show, other limits exit 2, budget reset", () =>
    Effect.gen(function*() {
      const file = config("a.yaml", 1_000)
      const first = yield* runCli(["prompt", "--config", file, "hello"], { cwd: dir })
      assert.strictEqual(first.exitCode, 0, first.stderr)
      const second = yield* runCli(["prompt", "--config", file, "hello"], { cwd: dir })
      assert.strictEqual(second.exitCode, 0, second.stderr)
      const shown = yield* runCli(["budget", "show", "team", "--config", file, "--json"], { cwd: dir })
      assert.strictEqual(shown.exitCode, 0, shown.stderr)
      const document = JSON.parse(shown.stdout) as { figures: Record<string, string>; definition: Record<string, string> }
      assert.strictEqual(document.definition.lt, "1000")
      assert.strictEqual(document.figures.ct, "54")
      assert.strictEqual(document.figures.rt, "0")
      const other = yield* runCli(["prompt", "--config", config("b.yaml", 2_000), "hello"], { cwd: dir })
      assert.strictEqual(other.exitCode, 2)
      assert.match(other.stderr, /budget\.id "team" is already stored .* with other limits/)
      const reset = yield* runCli(["budget", "reset", "team", "--config", file], { cwd: dir })
      assert.strictEqual(reset.exitCode, 0, reset.stderr)
      const gone = yield* runCli(["budget", "show", "team", "--config", file], { cwd: dir })
      assert.strictEqual(gone.exitCode, 1)
      assert.match(gone.stderr, /no budget "team" is stored/)
    }))

  it.effect("prompt exits only once its commit is in Redis (the commit runs off the call's path, the exit waits for it)", () =>
    Effect.gen(function*() {
      const redis = yield* adminClient(server().socket)
      // The request reaches the provider after its reservation; from then Redis holds every write
      // (the commit included) for 1 s, so the CLI has its answer before its commit is written.
      let pausedAt = 0
      const fake = yield* Effect.acquireRelease(
        Effect.promise(() =>
          startFakeProvider({
            delayMs: 0,
            onRequest: async () => {
              await redis.sendCommand(["CLIENT", "PAUSE", "1000", "WRITE"])
              pausedAt = Date.now()
            }
          })
        ),
        (provider) => Effect.promise(() => provider.close())
      )
      const file = join(dir, "paused.yaml")
      writeFileSync(file, [
        "provider: openai",
        "model: gpt-4o-mini",
        `baseUrl: ${fake.origin}/v1`,
        "providers:",
        "  openai:",
        "    apiKey: test-key",
        "store:",
        "  timeout: 10s",
        "  redis:",
        `    url: unix://${server().socket}`,
        "    prefix: \"{exit}:\"",
        "budget:",
        "  id: exit",
        "  totalTokens: 10000",
        ""
      ].join("\n"))
      const run = yield* runCli(["prompt", "--config", file, "hello"], { cwd: dir })
      const exitedAt = Date.now()
      assert.strictEqual(run.exitCode, 0, run.stderr)
      assert.strictEqual(fake.received(), 1)
      assert.notMatch(run.stderr, /unaccounted usage/)
      assert.isAtLeast(exitedAt - pausedAt, 900)
      const node = yield* Effect.promise(() => redis.hGetAll("{exit}:node:n:exit"))
      assert.deepStrictEqual([node.ct, node.rt, node.open], [`${usagePerCall.total_tokens}`, "0", "0"])
    }).pipe(Effect.scoped), 60_000)

  it.effect("a store that cannot be reached refuses the call before it is sent (exit 1, Unavailable)", () =>
    Effect.gen(function*() {
      const file = config("down.yaml", 1_000, `unix://${dir}/absent.sock`)
      const run = yield* runCli(["prompt", "--config", file, "hello"], { cwd: dir })
      assert.strictEqual(run.exitCode, 1)
      // The first of the stack's Redis connections to fail names the store (the rate-limit and breaker
      // stores connect when the stack is built, the budget's at its first call).
      assert.match(run.stderr, /Unavailable \(budget-store\): the redis (budget )?store unix:\/\/.*absent\.sock/)
      assert.notMatch(run.stdout, /mock provider's answer/)
    }))
})
