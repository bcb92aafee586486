/**
 * Issue 13, item 1b: a Claude Code call that fails after paying, retried. The real provider (a
 * subprocess per attempt, the real output parsing and error mapping) runs a fake `claude`: a
 * shell script that, like the CLI, reads `--max-budget-usd`, spends $0.02 per run (or stops at
 * its cap, reporting `error_max_budget_usd`) and reports an overloaded API (`is_error`, HTTP 529,
 * retryable) with `total_cost_usd`. Each attempt must get what is left after the earlier
 * attempts' spend, every attempt's spend is committed, and the ledger row records the spend.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, References } from "effect"
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as LanguageModel from "../../../src/LanguageModel.ts"
import * as ModelFactory from "../../../src/ModelFactory.ts"
import * as NodeProviders from "../../../src/node/NodeProviders.ts"
import * as UsageLedger from "../../../src/observability/UsageLedger.ts"
import * as Stack from "../../../src/Stack.ts"

const SCRIPT = `#!/bin/sh
budget=""
previous=""
for argument in "$@"; do
  if [ "$previous" = "--max-budget-usd" ]; then budget="$argument"; fi
  previous="$argument"
done
cat > /dev/null
capped=$(awk -v b="$budget" 'BEGIN { print (b != "" && b + 0 < 0.02) ? 1 : 0 }')
spend=$(awk -v b="$budget" 'BEGIN { s = 0.02; if (b != "" && b + 0 < s) s = b + 0; printf "%.8f", s }')
echo "$budget $spend" >> "$CLAUDE_FAKE_LOG"
if [ "$capped" = "1" ]; then
  printf '{"type":"result","subtype":"error_max_budget_usd","is_error":true,"total_cost_usd":%s,"usage":{"input_tokens":100,"output_tokens":20}}\\n' "$spend"
else
  printf '{"type":"result","subtype":"success","is_error":true,"result":"API Error: 529 Overloaded","api_error_status":529,"total_cost_usd":%s,"usage":{"input_tokens":100,"output_tokens":50}}\\n' "$spend"
fi
exit 1
`

const fakeClaude = Effect.acquireRelease(
  Effect.sync(() => {
    const dir = mkdtempSync(join(tmpdir(), "llm-connect-fake-claude-"))
    const binary = join(dir, "claude")
    const log = join(dir, "runs.log")
    writeFileSync(binary, SCRIPT)
    chmodSync(binary, 0o755)
    writeFileSync(log, "")
    const runs = () =>
      readFileSync(log, "utf8").split("\n").filter((line) => line !== "").map((line) => {
        const [budget, spend] = line.split(" ")
        return { maxBudgetUsd: budget!, spentUsd: Number(spend) }
      })
    return { dir, binary, log, runs }
  }),
  ({ dir }) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

describe("Claude Code under a USD budget, retried after paid failures", () => {
  it.live("each attempt gets what is left after the earlier attempts' spend; every spend is committed and recorded", () =>
    Effect.gen(function*() {
      const claude = yield* fakeClaude
      const layer = Stack.layerFactory({
        provider: { provider: "claude-code", options: { binaryPath: claude.binary, env: { CLAUDE_FAKE_LOG: claude.log } } },
        budget: { budget: { costUsd: 0.05 } },
        resilience: { retry: { maxAttempts: 5, baseDelay: "5ms", jitter: false } }
      }).pipe(Layer.provide(NodeProviders.layer), Layer.provideMerge(UsageLedger.layerMemory()))
      yield* Effect.gen(function*() {
        const error = yield* Effect.flip(LanguageModel.generate("Summarise the report"))
        // Two overloaded runs of $0.02, then a run capped at the $0.01 left, which stops there.
        assert.deepStrictEqual(claude.runs(), [
          { maxBudgetUsd: "0.05", spentUsd: 0.02 },
          { maxBudgetUsd: "0.03", spentUsd: 0.02 },
          { maxBudgetUsd: "0.01", spentUsd: 0.01 }
        ])
        assert.strictEqual(error.reason._tag, "BudgetExceeded")
        const providerSpend = claude.runs().reduce((sum, run) => sum + run.spentUsd, 0)
        const snapshot = yield* (yield* ModelFactory.ModelFactory).budget!.snapshot
        assert.closeTo(providerSpend, 0.05, 1e-12)
        assert.strictEqual(snapshot.consumed.costUsd, 0.05)
        assert.deepStrictEqual([snapshot.reserved.costUsd, snapshot.openReservations], [0, 0])
        // The failed call's one ledger row: its three attempts and everything they spent.
        const [row] = yield* UsageLedger.UsageLedger.use((ledger) => ledger.entries())
        assert.deepStrictEqual(
          [row!.outcome, row!.attempts, row!.abandonedAttempts, row!.costUsd, row!.inputTokens, row!.outputTokens],
          ["BudgetExceeded", 3, 0, 0.05, 300, 120]
        )
      }).pipe(Effect.provide(layer))
    }).pipe(Effect.provideService(References.MinimumLogLevel, "None")), 60_000)
})
