import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, FileSystem, Path, Schema } from "effect"
import { LlmResponse } from "../../src/LlmResponse.ts"
import { runCli } from "./runCli.ts"

const TIMEOUT = 120_000

const tempDir = (files: Record<string, string> = {}) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const dir = yield* Effect.orDie(fs.makeTempDirectoryScoped({ prefix: "llmc-budget-" }))
    for (const [name, text] of Object.entries(files)) yield* Effect.orDie(fs.writeFileString(path.join(dir, name), text))
    return dir
  }).pipe(Effect.provide(NodeServices.layer))

describe("llm-connect prompt with a budget (subprocess)", () => {
  it.live("a call inside the budget succeeds, with its cost from the price table", () =>
    Effect.gen(function*() {
      const cwd = yield* tempDir()
      const run = yield* runCli(["prompt", "hello", "--json", "--mock-reply", "pong", "--max-total-tokens", "500", "--max-cost-usd", "0.01"], { cwd })
      assert.strictEqual(run.exitCode, 0)
      const response = Schema.decodeUnknownSync(LlmResponse)(JSON.parse(run.stdout))
      assert.strictEqual(response.content, "pong")
      assert.deepStrictEqual(response.cost?.source, "table")
      // mock price: $1 per million input tokens, $2 per million output tokens
      assert.closeTo(response.cost?.usd ?? -1, (response.usage.inputTokens + 2 * response.usage.outputTokens) / 1e6, 1e-12)
    }), TIMEOUT)

  it.live("a refusal exits 1 with errorType BudgetExceeded and the dimension, before any call", () =>
    Effect.gen(function*() {
      const cwd = yield* tempDir()
      const run = yield* runCli(["prompt", "hello", "--json", "--max-tokens", "100", "--max-total-tokens", "50"], { cwd })
      assert.strictEqual(run.exitCode, 1)
      const document = JSON.parse(run.stdout)
      assert.strictEqual(document.errorType, "BudgetExceeded")
      assert.strictEqual(document.dimension, "totalTokens")
      assert.strictEqual(document.limit, 50)
      assert.isAbove(document.requested, 100)
    }), TIMEOUT)

  it.live("the budget section of the config file applies, and flags override it", () =>
    Effect.gen(function*() {
      const cwd = yield* tempDir({ "llm-connect.yaml": "budget:\n  outputTokens: 5\n" })
      const refused = yield* runCli(["prompt", "hello", "--json", "--max-tokens", "50"], { cwd })
      assert.strictEqual(refused.exitCode, 1)
      assert.strictEqual(JSON.parse(refused.stdout).dimension, "outputTokens")
      const admitted = yield* runCli(["prompt", "hello", "--json", "--max-tokens", "50", "--max-output-tokens", "500"], { cwd })
      assert.strictEqual(admitted.exitCode, 0)
    }), TIMEOUT)

  it.live("an invalid limit exits 2 and names the flag", () =>
    Effect.gen(function*() {
      const cwd = yield* tempDir()
      for (const args of [["--max-total-tokens", "0"], ["--max-cost-usd", "-1"], ["--deadline", "soon"]]) {
        const run = yield* runCli(["prompt", "hello", ...args], { cwd })
        assert.strictEqual(run.exitCode, 2, args.join(" "))
        assert.include(run.stderr, args[0]!)
      }
    }), TIMEOUT)

  it.live("the prices section of the config file overrides the built-in price table", () =>
    Effect.gen(function*() {
      const cwd = yield* tempDir({ "priced.yaml": "prices:\n  mock/special:\n    inputPerMillion: 1000\n    outputPerMillion: 1000\n" })
      const run = yield* runCli(
        ["prompt", "hello", "--json", "--model", "special", "--max-cost-usd", "1", "--config", "priced.yaml", "--mock-reply", "ok"],
        { cwd }
      )
      assert.strictEqual(run.exitCode, 0)
      const response = Schema.decodeUnknownSync(LlmResponse)(JSON.parse(run.stdout))
      assert.closeTo(response.cost?.usd ?? -1, response.usage.totalTokens / 1_000, 1e-12)
    }), TIMEOUT)
})
