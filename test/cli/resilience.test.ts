import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, FileSystem, Path } from "effect"
import * as ExitCode from "../../src/cli/ExitCode.ts"
import { runCli } from "./runCli.ts"

const TIMEOUT = 120_000

/** A fresh working directory whose config file makes retries wait 10 ms (keeps the runs fast). */
const quickRetries = Effect.gen(function*() {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const dir = yield* Effect.orDie(fs.makeTempDirectoryScoped({ prefix: "llmc-resilience-" }))
  yield* Effect.orDie(fs.writeFileString(path.join(dir, "llm-connect.yaml"), "retry:\n  baseDelay: 10ms\n  jitter: false\n"))
  return dir
}).pipe(Effect.provide(NodeServices.layer))

describe("llm-connect prompt: retries and timeouts (subprocess)", () => {
  it.live("429 (Retry-After 10ms) then 500, with --max-retries 2: the third attempt answers", () =>
    Effect.gen(function*() {
      const cwd = yield* quickRetries
      const run = yield* runCli(["prompt", "my secret prompt", "--mock-faults", "429:10ms,500", "--max-retries", "2", "--mock-reply", "pong", "--json"], {
        cwd
      })
      assert.strictEqual(run.exitCode, 0, run.stderr)
      assert.strictEqual(JSON.parse(run.stdout).content, "pong")
      // Each retry is logged on stderr (stdout keeps exactly one JSON document), never the prompt.
      assert.strictEqual(run.stderr.split("retrying LLM call").length - 1, 2)
      assert.notInclude(run.stderr, "secret prompt")
    }), TIMEOUT)

  it.live("--max-retries 1 against two 500s: the second failure is the answer (exit 1)", () =>
    Effect.gen(function*() {
      const cwd = yield* quickRetries
      const run = yield* runCli(["prompt", "hi", "--mock-faults", "500,502", "--max-retries", "1", "--json"], { cwd })
      assert.strictEqual(run.exitCode, 1)
      const document = JSON.parse(run.stdout)
      assert.strictEqual(document.errorType, "ServerError")
      assert.strictEqual(document.status, 502)
    }), TIMEOUT)

  it.live("--attempt-timeout bounds each attempt: a hanging call fails with Timeout (scope attempt)", () =>
    Effect.gen(function*() {
      const cwd = yield* quickRetries
      const run = yield* runCli(["prompt", "hi", "--mock-faults", "hang", "--attempt-timeout", "100ms", "--max-retries", "0", "--json"], { cwd })
      assert.strictEqual(run.exitCode, ExitCode.TimedOut)
      const document = JSON.parse(run.stdout)
      assert.strictEqual(document.errorType, "Timeout")
      assert.strictEqual(document.scope, "attempt")
      assert.strictEqual(document.attempts, 1)
      assert.isAtLeast(document.elapsedMs, 100)
    }), TIMEOUT)

  it.live("an invalid --max-retries is a usage error (exit 2) that names the flag", () =>
    Effect.gen(function*() {
      const cwd = yield* quickRetries
      const run = yield* runCli(["prompt", "hi", "--max-retries", "-1"], { cwd })
      assert.strictEqual(run.exitCode, 2)
      assert.include(run.stderr, "--max-retries")
    }), TIMEOUT)
})
