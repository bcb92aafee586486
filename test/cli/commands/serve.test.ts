/**
 * `llm-connect serve` as a process: the exact first stdout line with --port 0, SIGTERM with
 * calls in flight (none lost, every call's ledger row written, exit 0), and the refusal to bind
 * a non-loopback address without keys (exit 2).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import * as UsageLedger from "../../../src/observability/UsageLedger.ts"
import * as ChildCli from "../childCli.ts"
import { repoRoot, runProcess } from "../../support/runProcess.ts"
import { post, request } from "../../server/support.ts"

// Waits for the first stdout line (the server is up once it is there).

describe("llm-connect serve (process)", () => {
  it.live("SIGTERM drains the calls in flight: every one answered, every ledger row written, exit 0", () =>
    Effect.gen(function*() {
      const dir = ChildCli.workspace({})
      const ledger = join(dir, "usage.db")
      const child = ChildCli.start(
        ["serve", "--port", "0", "--provider", "mock", "--mock-latency", "1500ms", "--ledger", ledger],
        dir
      )
      const line = yield* ChildCli.listeningLine(child)
      assert.match(line, /^listening on http:\/\/127\.0\.0\.1:\d+$/)
      const url = line.slice("listening on ".length)
      const calls = yield* Effect.forkChild(
        Effect.all([1, 2, 3].map((n) => post(`${url}/execute`, { prompt: `call ${n}`, systemPrompt: null })), { concurrency: "unbounded" })
      )
      // Wait until the three are in the server (the metrics request itself is the fourth).
      while (!/llm_connect_serve_requests_in_flight 4\b/.test((yield* request(`${url}/metrics`)).text)) yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 20)))
      process.kill(child.pid, "SIGTERM")
      const answers = yield* Fiber.join(calls)
      assert.deepStrictEqual(answers.map((answer) => answer.status), [200, 200, 200])
      assert.deepStrictEqual(answers.map((answer) => (answer.json as { content: string }).content.includes(`call`)), [true, true, true])
      const code = yield* Effect.promise(() => child.exited)
      assert.strictEqual(code, 0)
      assert.strictEqual(child.stdout(), `${line}\n`)
      const entries = yield* Effect.scoped(Effect.flatMap(UsageLedger.makeSqlite(ledger), (opened) => opened.entries()))
      assert.strictEqual(entries.filter((entry) => entry.outcome === "ok").length, 3)
      const access = ChildCli.events(child.stderr()).filter((event) => event.path === "/execute")
      assert.deepStrictEqual(access.map((event) => event.status), [200, 200, 200])
    }), 60_000)

  it.live("SIGTERM with workflow runs in flight: one that ends within serve.drainTimeout finishes, the other is cancelled and journaled so; exit 0", () =>
    Effect.gen(function*() {
      const dir = ChildCli.workspace({
        "llm-connect.yaml": "serve:\n  drainTimeout: 2500ms\n  runs:\n    journal: runs\n"
      })
      mkdirSync(join(dir, "flows"))
      writeFileSync(join(dir, "flows", "short.yaml"), "name: short\nsteps:\n  - id: only\n    prompt: hello\n")
      writeFileSync(
        join(dir, "flows", "long.yaml"),
        "name: long\nsteps:\n  - id: a\n    prompt: one\n  - id: b\n    needs: [a]\n    prompt: two\n  - id: c\n    needs: [b]\n    prompt: three\n  - id: d\n    needs: [c]\n    prompt: four\n"
      )
      const child = ChildCli.start(
        ["serve", "--port", "0", "--provider", "mock", "--mock-latency", "900ms", "--no-ledger", "--workflows", "flows"],
        dir
      )
      const url = yield* ChildCli.listeningUrl(child)
      const short = (yield* post(`${url}/v1/workflows/short/runs`, {})).json as { runId: string }
      const long = (yield* post(`${url}/v1/workflows/long/runs`, {})).json as { runId: string }
      process.kill(child.pid, "SIGTERM")
      assert.strictEqual(yield* Effect.promise(() => child.exited), 0)
      const endOf = (runId: string) => {
        const lines = readFileSync(join(dir, "runs", `${runId}.jsonl`), "utf8").trim().split("\n").map((line) => JSON.parse(line) as { type: string; state?: string })
        return lines.filter((line) => line.type === "end").map((line) => line.state)
      }
      assert.deepStrictEqual(endOf(short.runId), ["completed"])
      assert.deepStrictEqual(endOf(long.runId), ["cancelled"])
      assert.include(child.stderr(), "1 workflow run(s) still running after the drain timeout: cancelled")
    }), 60_000)

  it.live("a bad workflow file refuses to start (exit 2) naming the file", () =>
    Effect.gen(function*() {
      const dir = ChildCli.workspace({})
      mkdirSync(join(dir, "flows"))
      writeFileSync(join(dir, "flows", "bad.yaml"), "name: bad\nsteps: []\n")
      const refused = yield* ChildCli.run(["serve", "--port", "0", "--provider", "mock", "--no-ledger", "--workflows", "flows"], dir)
      assert.strictEqual(refused.code, 2)
      assert.strictEqual(refused.stdout, "")
      assert.include(refused.stderr, "bad.yaml")
    }), 60_000)

  it.live("a bad --keep-alive-timeout is refused (exit 2) naming the flag and what it accepts", () =>
    Effect.gen(function*() {
      const dir = ChildCli.workspace({})
      for (const [value, problem] of [["2h", /at most 1h/], ["soon", /not a duration/]] as const) {
        const refused = yield* ChildCli.run(["serve", "--port", "0", "--provider", "mock", "--no-ledger", "--keep-alive-timeout", value], dir)
        assert.strictEqual(refused.code, 2, refused.stderr)
        assert.strictEqual(refused.stdout, "")
        assert.match(refused.stderr, /--keep-alive-timeout/)
        assert.match(refused.stderr, problem)
      }
    }), 90_000)

  it.live("a non-loopback address without keys is refused (exit 2) unless --no-auth", () =>
    Effect.gen(function*() {
      const dir = ChildCli.workspace({})
      const refused = yield* ChildCli.run(["serve", "--host", "0.0.0.0", "--port", "0", "--provider", "mock"], dir)
      assert.strictEqual(refused.code, 2)
      assert.strictEqual(refused.stdout, "")
      assert.match(refused.stderr, /refusing to listen on 0\.0\.0\.0 without keys/)
      assert.match(refused.stderr, /--no-auth/)
    }), 60_000)

  it.live("with virtual keys (llm-connect keys create): any address, 401 without the key, the access log names it, never the key", () =>
    Effect.gen(function*() {
      const dir = ChildCli.workspace({})
      const ledger = join(dir, "usage.db")
      const created = yield* ChildCli.run(["keys", "create", "--ledger", ledger, "--name", "team-a", "--max-cost-usd", "5", "--per", "day", "--rpm", "60"], dir)
      assert.strictEqual(created.code, 0)
      const key = created.stdout.trim()
      assert.match(key, /^llmc_[A-Za-z0-9_-]{43}$/)

      const child = ChildCli.start(["serve", "--host", "0.0.0.0", "--port", "0", "--provider", "mock", "--ledger", ledger], dir)
      const line = yield* ChildCli.listeningLine(child)
      const url = `http://127.0.0.1:${line.slice(line.lastIndexOf(":") + 1)}`
      const body = { prompt: "Hi", systemPrompt: null, maxTokens: 20 }
      assert.strictEqual((yield* post(`${url}/execute`, body)).status, 401)
      const answered = yield* post(`${url}/execute`, body, { authorization: `Bearer ${key}` })
      assert.strictEqual(answered.status, 200)
      process.kill(child.pid, "SIGTERM")
      assert.strictEqual(yield* Effect.promise(() => child.exited), 0)
      const access = ChildCli.events(child.stderr()).filter((event) => event.path === "/execute")
      assert.deepStrictEqual(access.map((event) => event.key), ["anonymous", "team-a"])
      assert.notInclude(child.stderr(), key)
    }), 120_000)

  it.live("keys create --admin: keys list marks it; on serve it sees every key's usage, a plain key only its own", () =>
    Effect.gen(function*() {
      const dir = ChildCli.workspace({})
      const ledger = join(dir, "usage.db")
      const team = (yield* ChildCli.run(["keys", "create", "--ledger", ledger, "--name", "team-a"], dir)).stdout.trim()
      const created = yield* ChildCli.run(["keys", "create", "--ledger", ledger, "--name", "ops", "--admin"], dir)
      assert.strictEqual(created.code, 0)
      assert.include(created.stderr, "admin key ops created")
      const ops = created.stdout.trim()
      const listed = JSON.parse((yield* ChildCli.run(["keys", "list", "--ledger", ledger, "--json"], dir)).stdout) as ReadonlyArray<
        { name: string; admin?: boolean }
      >
      assert.deepStrictEqual(listed.map((key) => [key.name, key.admin === true]), [["ops", true], ["team-a", false]])

      const child = ChildCli.start(["serve", "--port", "0", "--provider", "mock", "--ledger", ledger], dir)
      const line = yield* ChildCli.listeningLine(child)
      const url = `http://127.0.0.1:${line.slice(line.lastIndexOf(":") + 1)}`
      const body = { prompt: "Hi", systemPrompt: null, maxTokens: 20 }
      assert.strictEqual((yield* post(`${url}/execute`, body, { authorization: `Bearer ${team}` })).status, 200)
      const usage = (key: string, query: string) =>
        Effect.promise(() => fetch(`${url}/v1/usage${query}`, { headers: { authorization: `Bearer ${key}` } }))
      const all = yield* usage(ops, "?by=key")
      assert.strictEqual(all.status, 200)
      const report = (yield* Effect.promise(() => all.json())) as { groups: ReadonlyArray<{ key: string; calls: number }> }
      assert.deepStrictEqual(report.groups.map((group) => [group.key, group.calls]), [["team-a", 1]])
      assert.strictEqual((yield* usage(team, "?key=ops")).status, 403)
      process.kill(child.pid, "SIGTERM")
      assert.strictEqual(yield* Effect.promise(() => child.exited), 0)
    }), 120_000)

  it.live("the real claude -p with ANTHROPIC_BASE_URL pointing at serve answers through the mock upstream", () =>
    Effect.gen(function*() {
      const dir = ChildCli.workspace({})
      const child = ChildCli.start(["serve", "--port", "0", "--provider", "mock", "--mock-reply", "pong from llm-connect", "--no-ledger"], dir)
      const url = yield* ChildCli.listeningUrl(child)
      const claude = yield* runProcess(join(repoRoot, "node_modules/.bin/claude"), ["-p", "say ping"], {
        cwd: dir,
        env: {
          PATH: process.env.PATH ?? "",
          HOME: dir,
          XDG_STATE_HOME: join(dir, "state"),
          ANTHROPIC_BASE_URL: url,
          ANTHROPIC_API_KEY: "sk-ant-test-not-a-key",
          CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
          DISABLE_TELEMETRY: "1",
          DISABLE_AUTOUPDATER: "1"
        }
      })
      process.kill(child.pid, "SIGTERM")
      assert.strictEqual(claude.exitCode, 0, claude.stderr)
      assert.strictEqual(claude.stdout.trim(), "pong from llm-connect")
      assert.strictEqual(yield* Effect.promise(() => child.exited), 0)
      const calls = ChildCli.events(child.stderr()).filter((event) => event.path === "/v1/messages")
      assert.isAbove(calls.length, 0)
      assert.isTrue(calls.every((event) => event.status === 200))
      assert.notInclude(child.stderr(), "sk-ant-test-not-a-key")
    }), 120_000)
})
