import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { runCli } from "../runCli.ts"

const withTempDir = <A, E, R>(body: (dir: string) => Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => mkdtempSync(join(tmpdir(), "usage-cli-"))),
    body,
    (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
  )

interface Summary {
  readonly key: string
  readonly calls: number
  readonly errors: number
  readonly inputTokens: number
  readonly outputTokens: number
  readonly totalTokens: number
}

describe("llm-connect usage", () => {
  it.live("two prompt runs with a ledger, then usage --json sums exactly what they reported", () =>
    withTempDir((cwd) =>
      Effect.gen(function*() {
        const ledger = join(cwd, "state", "usage.db")
        const env = { LLM_CONNECT_LEDGER: ledger }
        const first = yield* runCli(["prompt", "Name three rivers", "--json"], { cwd, env })
        const second = yield* runCli(["prompt", "Name a mountain in Japan", "--json", "--model", "mock-2"], { cwd, env })
        expect(first.exitCode).toBe(0)
        expect(second.exitCode).toBe(0)
        const reported = [first, second].map((run) =>
          (JSON.parse(run.stdout) as { usage: { inputTokens: number; outputTokens: number } }).usage
        )

        const usage = yield* runCli(["usage", "--json", "--by", "model"], { cwd, env })
        expect(usage.exitCode).toBe(0)
        const document = JSON.parse(usage.stdout) as { ledger: string; totals: Summary; groups: ReadonlyArray<Summary> }
        expect(document.ledger).toBe(ledger)
        expect(document.totals).toMatchObject({
          calls: 2,
          errors: 0,
          inputTokens: reported[0]!.inputTokens + reported[1]!.inputTokens,
          outputTokens: reported[0]!.outputTokens + reported[1]!.outputTokens
        })
        expect(document.groups.map((group) => [group.key, group.calls, group.inputTokens]).sort()).toEqual([
          ["mock-1", 1, reported[0]!.inputTokens],
          ["mock-2", 1, reported[1]!.inputTokens]
        ])

        // A failed call is recorded with its reason; --since narrows the window.
        const failed = yield* runCli(["prompt", "boom", "--mock-faults", "400"], { cwd, env })
        expect(failed.exitCode).not.toBe(0)
        const table = yield* runCli(["usage", "--by", "outcome", "--ledger", ledger, "--since", "1h"], { cwd })
        expect(table.exitCode).toBe(0)
        expect(table.stdout).toMatch(/^OUTCOME\s+CALLS/)
        expect(table.stdout).toMatch(/\nInvalidRequest\s+1\s+1\s/)
        expect(table.stdout).toMatch(/\nok\s+2\s+0\s/)
      })
    ), 120_000)

  it.live("a missing ledger is a usage error (exit 2) saying how to record one", () =>
    withTempDir((cwd) =>
      Effect.gen(function*() {
        const run = yield* runCli(["usage", "--ledger", join(cwd, "none.db")], { cwd })
        expect(run.exitCode).toBe(2)
        expect(run.stderr).toContain("no usage ledger at")
        expect(run.stderr).toContain("LLM_CONNECT_LEDGER=")
        const bad = yield* runCli(["usage", "--since", "yesterday", "--ledger", join(cwd, "none.db")], { cwd })
        expect(bad.exitCode).toBe(2)
        expect(bad.stderr).toContain("not a duration")
      })
    ), 120_000)
})
