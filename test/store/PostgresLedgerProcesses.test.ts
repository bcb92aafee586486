// The usage ledger shared by processes through a real PostgreSQL (test/support/postgres.ts):
// real child processes (test/store/fixtures/ledgerChild.ts) call one fake OpenAI-compatible
// server on 127.0.0.1:0 and record their calls in one database; `llm-connect usage` reads them all.
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import * as FakeHttpServer from "../providers/FakeHttpServer.ts"
import { lastUserText, ok } from "../providers/openai/fakeOpenAi.ts"
import { baseEnv, nodeBin, runCli } from "../cli/runCli.ts"
import { postgresAvailable, type PostgresServer, startPostgres } from "../support/postgres.ts"

const TIMEOUT = 240_000
const childScript = fileURLToPath(new URL("./fixtures/ledgerChild.ts", import.meta.url))

/** Usage that differs per call, so that the sums check every row: input = prompt length, output 1..7. */
const usageOf = (prompt: string) => ({ input: prompt.length, output: (prompt.length % 7) + 1 })

interface Child {
  readonly process: ChildProcessWithoutNullStreams
  readonly stdout: () => string
  readonly stderr: () => string
  /** Resolves once stdout has a line `phase <n> <ok>`, with `ok`. */
  readonly phase: (n: number) => Promise<number>
  readonly exited: Promise<number>
}

const startChild = (cwd: string, name: string, env: Record<string, string>): Child => {
  const child = spawn(nodeBin, [childScript], { cwd, env: { ...baseEnv(cwd), CHILD: name, ...env }, stdio: ["pipe", "pipe", "pipe"] })
  let stdout = ""
  let stderr = ""
  const listeners: Array<() => void> = []
  child.stdout.on("data", (chunk) => {
    stdout += String(chunk)
    for (const listener of [...listeners]) listener()
  })
  child.stderr.on("data", (chunk) => (stderr += String(chunk)))
  const exited = new Promise<number>((resolve) => child.on("close", (code) => resolve(code ?? -1)))
  return {
    process: child,
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    phase: (n) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const match = new RegExp(`^phase ${n} (\\d+)$`, "m").exec(stdout)
          if (match !== null) {
            listeners.splice(listeners.indexOf(check), 1)
            resolve(Number(match[1]))
          }
        }
        listeners.push(check)
        void exited.then((code) => reject(new Error(`child ${name} exited ${code} before phase ${n}: ${stderr}`)))
        check()
      })
  }
}

const workspace = (origin: string, url: string): string => {
  const cwd = mkdtempSync(join(tmpdir(), "llmc-pg-ledger-"))
  writeFileSync(
    join(cwd, "llm-connect.yaml"),
    [
      "provider: openai-compatible",
      `baseUrl: ${origin}/v1`,
      "model: local-llama",
      "retry: { maxRetries: 0 }",
      "ledger:",
      "  postgres:",
      `    url: "${url}"`,
      ""
    ].join("\n")
  )
  return cwd
}

describe.runIf(postgresAvailable)("usage ledger on PostgreSQL, several processes", () => {
  let pg: PostgresServer
  beforeAll(() => {
    pg = startPostgres()
  })
  afterAll(() => pg?.destroy())

  const fakeProvider = FakeHttpServer.start((request) => {
    const { input, output } = usageOf(lastUserText(request))
    return ok(request, { usage: { prompt_tokens: input, completion_tokens: output, total_tokens: input + output } })
  })

  const fakeSums = (fake: FakeHttpServer.FakeServer) =>
    fake.requests.reduce(
      (sum, request) => {
        const { input, output } = usageOf(lastUserText(request))
        return { input: sum.input + input, output: sum.output + output }
      },
      { input: 0, output: 0 }
    )

  it.live("4 processes write concurrently: as many rows as calls, totals equal the fake's usage, usage reads them all", () =>
    Effect.gen(function*() {
      const fake = yield* fakeProvider
      const url = pg.createDatabase("four")
      const cwd = workspace(fake.origin, url)
      const calls = 25
      const children = ["a", "b", "c", "d"].map((name) => startChild(cwd, name, { CALLS: String(calls) }))
      const codes = yield* Effect.promise(() => Promise.all(children.map((child) => child.exited)))
      children.forEach((child, index) => assert.strictEqual(codes[index], 0, child.stderr()))
      assert.deepStrictEqual(yield* Effect.promise(() => Promise.all(children.map((child) => child.phase(1)))), [calls, calls, calls, calls])

      const made = 4 * calls
      assert.strictEqual(fake.requests.length, made)
      const sums = fakeSums(fake)
      assert.strictEqual(pg.psql("four", "SELECT count(*) FROM usage"), String(made))
      assert.strictEqual(
        pg.psql("four", "SELECT sum(input_tokens) || ' ' || sum(output_tokens) FROM usage"),
        `${sums.input} ${sums.output}`
      )

      // `llm-connect usage` reads every process's rows from PostgreSQL, and never shows the password.
      const usage = yield* runCli(["usage", "--json", "--by", "provider"], { cwd, env: { LLM_CONNECT_LEDGER: url } })
      assert.strictEqual(usage.exitCode, 0, usage.stderr)
      const document = JSON.parse(usage.stdout) as {
        readonly ledger: string
        readonly totals: { readonly calls: number; readonly inputTokens: number; readonly outputTokens: number }
      }
      assert.deepStrictEqual(
        [document.totals.calls, document.totals.inputTokens, document.totals.outputTokens],
        [made, sums.input, sums.output]
      )
      assert.include(document.ledger, "postgres://postgres:***@localhost/four")
      // The same from the config file's ledger.postgres.url (no variable).
      const fromFile = yield* runCli(["usage"], { cwd })
      assert.strictEqual(fromFile.exitCode, 0, fromFile.stderr)
      assert.include(fromFile.stderr, `${made} call(s)`)
      for (const text of [usage.stdout, usage.stderr, fromFile.stdout, fromFile.stderr, ...children.map((child) => child.stderr())]) {
        assert.notInclude(text, pg.password)
      }
      rmSync(cwd, { recursive: true, force: true })
    }).pipe(Effect.scoped), TIMEOUT)

  it.live("PostgreSQL stopped mid-run: calls go on, writes are retried, no row is lost once it is back", () =>
    Effect.gen(function*() {
      const fake = yield* fakeProvider
      const url = pg.createDatabase("outage")
      const cwd = workspace(fake.origin, url)
      const calls = 10
      const children = ["a", "b", "c", "d"].map((name) => startChild(cwd, name, { CALLS: String(calls), PHASES: "3" }))
      const all = (n: number) => Effect.promise(() => Promise.all(children.map((child) => child.phase(n))))
      const next = () => children.forEach((child) => child.process.stdin.write("go\n"))

      assert.deepStrictEqual(yield* all(1), [calls, calls, calls, calls])
      pg.stop()
      next()
      // Every call of phase 2 succeeded while the ledger's database was down.
      assert.deepStrictEqual(yield* all(2), [calls, calls, calls, calls])
      pg.start()
      next()
      assert.deepStrictEqual(yield* all(3), [calls, calls, calls, calls])
      const codes = yield* Effect.promise(() => Promise.all(children.map((child) => child.exited)))
      children.forEach((child, index) => assert.strictEqual(codes[index], 0, child.stderr()))

      const made = 4 * 3 * calls
      assert.strictEqual(fake.requests.length, made)
      const sums = fakeSums(fake)
      assert.strictEqual(pg.psql("outage", "SELECT count(*) FROM usage"), String(made))
      assert.strictEqual(
        pg.psql("outage", "SELECT sum(input_tokens) || ' ' || sum(output_tokens) FROM usage"),
        `${sums.input} ${sums.output}`
      )
      // The failed writes were logged (Effect's default logger: stdout) and retried, never with the password.
      const logs = children.map((child) => `${child.stdout()}\n${child.stderr()}`).join("\n")
      assert.include(logs, "could not write")
      assert.include(logs, "retrying")
      assert.notInclude(logs, "are lost")
      assert.notInclude(logs, pg.password)
      rmSync(cwd, { recursive: true, force: true })
    }).pipe(Effect.scoped), TIMEOUT)

  it.live("a ledger URL with a wrong password, or one that cannot be parsed, exits 2 naming the setting, never the password", () =>
    Effect.gen(function*() {
      const cwd = mkdtempSync(join(tmpdir(), "llmc-pg-bad-"))
      const wrong = pg.url.replace(encodeURIComponent(pg.password), "wrong-pw-9876")
      const denied = yield* runCli(["prompt", "hi"], { cwd, env: { LLM_CONNECT_LEDGER: wrong } })
      assert.strictEqual(denied.exitCode, 2, denied.stderr)
      assert.include(denied.stderr, "ledger.postgres.url")
      assert.match(denied.stderr, /postgres:\/\/postgres:(\*\*\*|<redacted>)@localhost\/postgres/)
      assert.notInclude(denied.stderr + denied.stdout, "wrong-pw-9876")

      const unparsable = yield* runCli(["prompt", "hi"], { cwd, env: { LLM_CONNECT_LEDGER: "postgres://me:hunter2@[oops/db" } })
      assert.strictEqual(unparsable.exitCode, 2, unparsable.stderr)
      assert.include(unparsable.stderr, "not a valid postgres:// URL")
      assert.notInclude(unparsable.stderr + unparsable.stdout, "hunter2")
      rmSync(cwd, { recursive: true, force: true })
    }), TIMEOUT)
})
