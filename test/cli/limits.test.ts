/**
 * The CLI's bounds, as a subprocess: the maximum request size, SIGTERM during a call (against a
 * silent HTTP server, a hung `claude`, the mock) ending the process well within its drain bound,
 * and `providers` saying whether the `claude` binary was found.
 */
import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, FileSystem, Path, Stream } from "effect"
import { ChildProcess } from "effect/process"
import { existsSync, readFileSync } from "node:fs"
import * as FakeHttpServer from "../providers/FakeHttpServer.ts"
import * as Harness from "../providers/claude-code/ClaudeCodeHarness.ts"
import { baseEnv, binScript, nodeBin, runCli } from "./runCli.ts"

const TIMEOUT = 120_000

/**
 * How long a process may take to end after SIGTERM. Generous (a loaded machine), yet far below
 * every call's own bound in these tests (60 s and more), so only an ignored signal fails it.
 */
const EXIT_BOUND_MS = 15_000

const tempDir = (files: Record<string, string> = {}) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const dir = yield* Effect.orDie(fs.makeTempDirectoryScoped({ prefix: "llmc-cli-limits-" }))
    for (const [name, text] of Object.entries(files)) {
      yield* Effect.orDie(fs.writeFileString(path.join(dir, name), text))
    }
    return dir
  })

/** A script file, executable. */
const script = (dir: string, name: string, text: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const file = `${dir}/${name}`
    yield* Effect.orDie(fs.writeFileString(file, text))
    yield* Effect.orDie(fs.chmod(file, 0o755))
    return file
  })

/**
 * Starts the CLI, waits until `underWay` says the call is in flight, sends SIGTERM to the CLI's
 * process only (as `timeout` does) and measures how long it takes to exit.
 */
const terminateDuringCall = (options: {
  readonly args: ReadonlyArray<string>
  readonly cwd: string
  readonly env?: Record<string, string>
  readonly underWay: Effect.Effect<void>
}) =>
  Effect.gen(function*() {
    const handle = yield* ChildProcess.make(nodeBin, [binScript, ...options.args], {
      cwd: options.cwd,
      env: { ...baseEnv(options.cwd), ...options.env },
      extendEnv: false
    })
    const output = yield* Effect.forkScoped(Effect.all([
      handle.stdout.pipe(Stream.decodeText(), Stream.mkString),
      handle.stderr.pipe(Stream.decodeText(), Stream.mkString)
    ], { concurrency: 2 }))
    yield* options.underWay
    const sent = Date.now()
    try {
      process.kill(handle.pid, "SIGTERM")
    } catch {
      // it has already ended: nothing to stop
    }
    const exitCode = Number(yield* handle.exitCode)
    const elapsedMs = Date.now() - sent
    return { exitCode, elapsedMs, output }
  }).pipe(Effect.scoped)

/** Polls (real time) until `check` holds, up to 60 s. */
const until = (check: () => boolean) =>
  Effect.gen(function*() {
    for (let waited = 0; waited < 60_000 && !check(); waited += 25) yield* Effect.sleep("25 millis")
  })

describe("SIGTERM during a call ends the CLI within its drain bound", () => {
  it.live("prompt against a server that never answers: exit 130, the request's socket closed", () =>
    Effect.gen(function*() {
      const fake = yield* FakeHttpServer.start(() => ({ hang: true }))
      const cwd = yield* tempDir()
      const ended = yield* terminateDuringCall({
        args: ["prompt", "hi", "--provider", "openai-compatible", "--base-url", `${fake.origin}/v1`, "--timeout", "10m"],
        cwd,
        underWay: Effect.asVoid(fake.nextRequest)
      })
      assert.strictEqual(ended.exitCode, 130)
      assert.isBelow(ended.elapsedMs, EXIT_BOUND_MS)
      yield* fake.abandoned.pipe(Effect.timeout("10 seconds"))
    }).pipe(Effect.provide(NodeServices.layer)), TIMEOUT)

  it.live("prompt on claude-code while the claude process hangs: exit 130, the claude process gone", () =>
    Effect.gen(function*() {
      const cwd = yield* tempDir()
      const claude = yield* script(cwd, "claude", `#!/bin/sh\necho $$ > "${cwd}/claude.pid"\nexec sleep 300\n`)
      const ended = yield* terminateDuringCall({
        args: ["prompt", "hi", "--provider", "claude-code"],
        cwd,
        env: { CLAUDE_CODE_PATH: claude, PATH: "/usr/bin:/bin" },
        underWay: until(() => existsSync(`${cwd}/claude.pid`))
      })
      assert.strictEqual(ended.exitCode, 130)
      assert.isBelow(ended.elapsedMs, EXIT_BOUND_MS)
      const pid = Number(readFileSync(`${cwd}/claude.pid`, "utf8").trim())
      assert.isTrue(yield* Harness.awaitGone(pid), "the claude process is gone")
    }).pipe(Effect.provide(NodeServices.layer)), TIMEOUT)

  it.live("run of a workflow whose step is in flight on the mock: the process ends", () =>
    Effect.gen(function*() {
      const cwd = yield* tempDir({
        "wf.yaml": ["name: slow", "steps:", "  - id: one", "    prompt: \"hello\""].join("\n")
      })
      const ended = yield* terminateDuringCall({
        args: ["run", "wf.yaml", "--mock-latency", "10m"],
        cwd,
        underWay: until(() => existsSync(`${cwd}/.llm-connect/runs`)).pipe(Effect.andThen(Effect.sleep("500 millis")))
      })
      assert.notStrictEqual(ended.exitCode, 0)
      assert.isBelow(ended.elapsedMs, EXIT_BOUND_MS)
    }).pipe(Effect.provide(NodeServices.layer)), TIMEOUT)
})

// The run: a workflow with a 10 MB input value pinned the CPU for over 70 minutes and
// ignored SIGTERM (the event loop never yielded).
describe("a workflow with a 10 MB input value", () => {
  const workflow = (blob: string) =>
    ["name: big", "inputs:", `  blob: { type: string, default: "${blob}" }`, "steps:", "  - id: one", "    prompt: \"{{input.blob}}\""]
      .join("\n")

  it.live("is refused by the default request size at once (exit 1, InvalidRequest)", () =>
    Effect.gen(function*() {
      const cwd = yield* tempDir({ "wf.yaml": workflow("x".repeat(10_000_000)) })
      const started = Date.now()
      const run = yield* runCli(["run", "wf.yaml", "--json"], { cwd })
      assert.isBelow(Date.now() - started, 30_000)
      assert.strictEqual(run.exitCode, 1)
      assert.include(run.stdout, "maxRequestBytes")
    }).pipe(Effect.provide(NodeServices.layer)), TIMEOUT)

  it.live("with the limit raised, SIGTERM during the run still ends it", () =>
    Effect.gen(function*() {
      // Whitespace: one BPE pre-token of 10 MB, quadratic to count whole.
      const cwd = yield* tempDir({ "wf.yaml": workflow(" ".repeat(10_000_000)) })
      // The mock counts the prompt once its latency has passed: the signal comes while it counts.
      const ended = yield* terminateDuringCall({
        args: ["run", "wf.yaml", "--max-request-bytes", "20000000", "--mock-latency", "1s"],
        cwd,
        underWay: until(() => existsSync(`${cwd}/.llm-connect/runs`)).pipe(Effect.andThen(Effect.sleep("1500 millis")))
      })
      assert.isBelow(ended.elapsedMs, EXIT_BOUND_MS)
    }).pipe(Effect.provide(NodeServices.layer)), TIMEOUT)
})

describe("--max-request-bytes", () => {
  it.live("a prompt over the limit exits 1 with InvalidRequest naming the size, the limit and the setting", () =>
    Effect.gen(function*() {
      const cwd = yield* tempDir()
      const run = yield* runCli(["prompt", "x".repeat(200), "--max-request-bytes", "100", "--json"], { cwd })
      assert.strictEqual(run.exitCode, 1)
      const document = JSON.parse(run.stdout)
      assert.strictEqual(document.errorType, "InvalidRequest")
      assert.strictEqual(document.parameter, "maxRequestBytes")
      assert.include(document.error, "200 bytes")
      assert.include(document.error, "100 bytes")
      assert.include(run.stderr, "--max-request-bytes")
      const env = yield* runCli(["prompt", "x".repeat(200)], { cwd, env: { LLM_CONNECT_MAX_REQUEST_BYTES: "100" } })
      assert.strictEqual(env.exitCode, 1)
      const within = yield* runCli(["prompt", "x".repeat(200), "--max-request-bytes", "1000"], { cwd })
      assert.strictEqual(within.exitCode, 0)
    }).pipe(Effect.provide(NodeServices.layer)), TIMEOUT)
})

describe("llm-connect providers: the claude binary", () => {
  it.live("says where the claude binary was found, or that it was not and how to get it", () =>
    Effect.gen(function*() {
      const cwd = yield* tempDir()
      const bin = `${cwd}/bin`
      const fs = yield* FileSystem.FileSystem
      yield* Effect.orDie(fs.makeDirectory(bin))
      const missing = yield* runCli(["providers"], { cwd, env: { PATH: "/nonexistent" } })
      assert.strictEqual(missing.exitCode, 0)
      assert.include(missing.stdout, "claude-code: binary not found (looked for \"claude\" on PATH)")
      assert.include(missing.stdout, "npm i -g @anthropic-ai/claude-code")

      const claude = yield* script(bin, "claude", "#!/bin/sh\nexit 0\n")
      const onPath = yield* runCli(["providers", "--json"], { cwd, env: { PATH: `/nonexistent:${bin}` } })
      const row = JSON.parse(onPath.stdout).providers.find((entry: { name: string }) => entry.name === "claude-code")
      assert.deepStrictEqual(row.binary, { found: true, name: "claude", source: "PATH", path: claude })

      const named = yield* runCli(["providers"], { cwd, env: { CLAUDE_CODE_PATH: claude } })
      assert.include(named.stdout, `claude-code: binary found at ${claude} (looked for "${claude}" (from CLAUDE_CODE_PATH))`)

      // a file that is not executable is not a binary
      yield* Effect.orDie(fs.chmod(claude, 0o644))
      const notExecutable = yield* runCli(["providers"], { cwd, env: { CLAUDE_CODE_PATH: claude } })
      assert.include(notExecutable.stdout, "claude-code: binary not found")
    }).pipe(Effect.provide(NodeServices.layer)), TIMEOUT)
})
