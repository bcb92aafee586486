/**
 * Settings that cannot work are refused before any call, with exit code 2 and the setting named:
 * a ledger under /proc (which used to hang for ever), a budget deadline already past, a YAML
 * alias bomb in the config file or a workflow file, a retry count past the cap.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { runCli } from "./runCli.ts"

const TIMEOUT = 120_000
const tempDir = () => mkdtempSync(join(tmpdir(), "llmc-cli-hard-"))

const bomb = (first: string): string => {
  const levels = [`${first}\na: &a [x, x, x, x, x, x, x, x, x]`]
  let previous = "a"
  for (const name of ["b", "c", "d", "e", "f", "g", "h", "i"]) {
    levels.push(`${name}: &${name} [${Array.from({ length: 9 }, () => `*${previous}`).join(", ")}]`)
    previous = name
  }
  return `${levels.join("\n")}\n`
}

const errorOf = (stdout: string) => JSON.parse(stdout) as { errorType: string; setting?: string; error: string }

describe("refused before any call (exit 2)", () => {
  it.live("LLM_CONNECT_LEDGER under /proc: exit 2 at once, naming the setting (it used to hang)", () =>
    Effect.gen(function*() {
      const run = yield* runCli(["prompt", "--json", "hi"], { cwd: tempDir(), env: { LLM_CONNECT_LEDGER: "/proc/llmc-ledger/usage.db" } }).pipe(
        Effect.timeoutOption("60 seconds")
      )
      assert.strictEqual(run._tag, "Some")
      if (run._tag !== "Some") return
      assert.strictEqual(run.value.exitCode, 2, run.value.stderr)
      const error = errorOf(run.value.stdout)
      assert.strictEqual(error.errorType, "Configuration")
      assert.strictEqual(error.setting, "ledger.path")
      assert.include(error.error, "LLM_CONNECT_LEDGER")
    }), TIMEOUT)

  it.live("a budget deadline already past: exit 2, not a BudgetExceeded at call time", () =>
    Effect.gen(function*() {
      const run = yield* runCli(["prompt", "--json", "--deadline", "2020-01-01T00:00:00Z", "hi"], { cwd: tempDir() })
      assert.strictEqual(run.exitCode, 2, run.stderr)
      const error = errorOf(run.stdout)
      assert.strictEqual(error.errorType, "Configuration")
      assert.strictEqual(error.setting, "budget.deadline")
    }), TIMEOUT)

  it.live("--max-retries 100000: exit 2 with the cap", () =>
    Effect.gen(function*() {
      const run = yield* runCli(["prompt", "--json", "--max-retries", "100000", "hi"], { cwd: tempDir() })
      assert.strictEqual(run.exitCode, 2, run.stderr)
      assert.include(errorOf(run.stdout).error, "from 0 to 10")
    }), TIMEOUT)

  it.live("a YAML alias bomb in the config file or a workflow file: exit 2 with file and line", () =>
    Effect.gen(function*() {
      const cwd = tempDir()
      writeFileSync(join(cwd, "llm-connect.yaml"), bomb("provider: mock"))
      const config = yield* runCli(["prompt", "--json", "hi"], { cwd })
      assert.strictEqual(config.exitCode, 2, config.stderr)
      const error = errorOf(config.stdout)
      assert.strictEqual(error.errorType, "Configuration")
      assert.include(error.error, "llm-connect.yaml line 7")
      const other = tempDir()
      writeFileSync(join(other, "bomb.yaml"), bomb("name: bomb\nsteps: [{ id: a, prompt: hi }]"))
      const workflow = yield* runCli(["run", "bomb.yaml"], { cwd: other })
      assert.strictEqual(workflow.exitCode, 2, workflow.stderr)
      assert.include(workflow.stderr, "bomb.yaml:")
      assert.include(workflow.stderr, "aliases expand to more than 100000 values")
    }), TIMEOUT)
})
