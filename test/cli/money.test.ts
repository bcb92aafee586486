/**
 * Issue 13, items 2 and 3, through the real CLI (a subprocess): costs are exact (whole nano-USD)
 * in `--json` and `usage`, an unpriced call says so (never `$0`), and a budget that lowers the
 * output cap says so on stderr and in the response's warnings.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { LlmResponse } from "../../src/LlmResponse.ts"
import * as FakeHttpServer from "../providers/FakeHttpServer.ts"
import { ok } from "../providers/openai/fakeOpenAi.ts"
import { runCli } from "./runCli.ts"

const TIMEOUT = 120_000

const tempDir = () => mkdtempSync(join(tmpdir(), "llmc-money-"))

/** The number text of a field in a JSON document, as printed. */
const printed = (json: string, field: string): string | undefined => new RegExp(`"${field}": ([0-9.e-]+)`).exec(json)?.[1]

describe("money in the CLI (subprocess)", () => {
  it.live("costs are whole nano-USD: --json prints the exact decimal, usage sums it exactly", () =>
    Effect.gen(function*() {
      const cwd = tempDir()
      // $0.15 / $0.60 per million: in floating point, 9 input + 1 output tokens cost 0.0000019499999999999995.
      writeFileSync(join(cwd, "llm-connect.yaml"), "prices:\n  mock/*: { inputPerMillion: 0.15, outputPerMillion: 0.6 }\n")
      const env = { LLM_CONNECT_LEDGER: join(cwd, "usage.db") }
      const costs: Array<number> = []
      const calls = [["Name three rivers", "ok"], ["Name three rivers", "hello there"], ["Name a mountain", "hello there"]] as const
      for (const [prompt, reply] of calls) {
        const run = yield* runCli(["prompt", prompt, "--json", "--max-cost-usd", "1", "--mock-reply", reply], { cwd, env })
        assert.strictEqual(run.exitCode, 0, run.stderr)
        const response = Schema.decodeUnknownSync(LlmResponse)(JSON.parse(run.stdout))
        // 150 nano-USD per input token, 600 per output token, exactly
        const nanos = response.usage.inputTokens * 150 + response.usage.outputTokens * 600
        assert.strictEqual(response.cost?.usd, nanos / 1e9)
        assert.strictEqual(printed(run.stdout, "usd"), String(nanos / 1e9))
        costs.push(nanos)
        // the usage line shows every nano-USD
        const text = yield* runCli(["prompt", prompt, "--max-cost-usd", "1", "--mock-reply", reply], { cwd, env: {} })
        assert.include(text.stderr, `| $${nanos / 1e9}\n`)
      }
      const usage = yield* runCli(["usage", "--json"], { cwd, env })
      assert.strictEqual(usage.exitCode, 0, usage.stderr)
      const total = costs.reduce((sum, nanos) => sum + nanos, 0) / 1e9
      assert.strictEqual(JSON.parse(usage.stdout).totals.costUsd, total)
      assert.strictEqual(printed(usage.stdout, "costUsd"), String(total))
    }), TIMEOUT)

  it.live("an unpriced call has no cost and priced: false in --json, the usage line and usage (never $0)", () =>
    Effect.gen(function*() {
      const cwd = tempDir()
      const fake = yield* FakeHttpServer.start((request) => ok(request))
      const env = { LLM_CONNECT_LEDGER: join(cwd, "usage.db") }
      const args = ["prompt", "--provider", "openai-compatible", "--base-url", `${fake.origin}/v1`, "--model", "local-llama", "Name a river"]
      const json = yield* runCli([...args, "--json"], { cwd, env })
      assert.strictEqual(json.exitCode, 0, json.stderr)
      const document = JSON.parse(json.stdout) as Record<string, unknown>
      assert.isUndefined(document.cost)
      assert.strictEqual(document.priced, false)
      const text = yield* runCli(args, { cwd, env })
      assert.strictEqual(text.exitCode, 0, text.stderr)
      assert.include(text.stderr, "| unpriced")
      assert.notInclude(text.stderr, "$0")

      const usage = yield* runCli(["usage", "--json"], { cwd, env })
      const totals = JSON.parse(usage.stdout).totals as Record<string, unknown>
      assert.deepStrictEqual([totals.calls, totals.costUsd, totals.priced, totals.unpricedCalls], [2, undefined, false, 2])
      const table = yield* runCli(["usage"], { cwd, env })
      assert.match(table.stdout, /\nall\s+2\s+0\s+\d+\s+\d+\s+\d+\s+unpriced\s/)
      assert.notInclude(table.stdout + table.stderr, "$0.000000")
    }), TIMEOUT)

  it.live("budget.chargeAbandoned in the config file decides what a timed-out call costs (default: its input and output cap)", () =>
    Effect.gen(function*() {
      const spentBy = (config: string) =>
        Effect.gen(function*() {
          const cwd = tempDir()
          writeFileSync(join(cwd, "llm-connect.yaml"), config)
          const env = { LLM_CONNECT_LEDGER: join(cwd, "usage.db") }
          const run = yield* runCli(
            ["prompt", "hi", "--json", "--mock-faults", "hang", "--attempt-timeout", "100ms", "--max-retries", "0", "--max-tokens", "50"],
            { cwd, env }
          )
          assert.strictEqual(JSON.parse(run.stdout).errorType, "Timeout", run.stderr)
          const usage = yield* runCli(["usage", "--json"], { cwd, env })
          return JSON.parse(usage.stdout).totals as { readonly totalTokens: number }
        })
      const charged = yield* spentBy("budget:\n  totalTokens: 5000\n")
      const none = yield* spentBy("budget:\n  totalTokens: 5000\n  chargeAbandoned: none\n")
      const input = yield* spentBy("budget:\n  totalTokens: 5000\n  chargeAbandoned: input\n")
      assert.strictEqual(none.totalTokens, 0)
      assert.strictEqual(charged.totalTokens, input.totalTokens + 50)
      assert.isAbove(input.totalTokens, 0)
    }), TIMEOUT)

  it.live("a budget that lowers the output cap says so on stderr and in the response's warnings", () =>
    Effect.gen(function*() {
      const cwd = tempDir()
      // $0.00005 leaves room for a few output tokens of the mock ($2 per million) after the prompt.
      const run = yield* runCli(["prompt", "Name three rivers", "--json", "--max-cost-usd", "0.00005"], { cwd })
      assert.strictEqual(run.exitCode, 0, run.stderr)
      const response = Schema.decodeUnknownSync(LlmResponse)(JSON.parse(run.stdout))
      const warning = response.warnings?.find((text) => text.includes("lowered the output cap"))
      assert.isDefined(warning)
      assert.match(warning!, /from 4096 to \d+ tokens/)
      assert.include(run.stderr, "lowered the output cap from 4096")
      // an explicit --max-tokens is honoured as asked: no warning
      const asked = yield* runCli(["prompt", "Name three rivers", "--json", "--max-cost-usd", "0.00005", "--max-tokens", "5"], { cwd })
      assert.strictEqual(asked.exitCode, 0, asked.stderr)
      assert.notInclude(asked.stdout + asked.stderr, "lowered the output cap")
    }), TIMEOUT)
})
