import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Schema } from "effect"
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Agent from "../../../src/agent/Agent.ts"
import * as Observability from "../../../src/observability/Observability.ts"
import * as UsageLedger from "../../../src/observability/UsageLedger.ts"
import * as TestModel from "../../../src/testing/TestModel.ts"
import * as Tool from "../../../src/Tool.ts"
import { repoRoot, runCli } from "../runCli.ts"

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

  it.live("usage --by conversation sums the calls of each agent run", () =>
    withTempDir((cwd) =>
      Effect.gen(function*() {
        const ledger = join(cwd, "usage.db")
        const weather = Tool.make("get_weather", { parameters: Schema.Struct({ city: Schema.String }) })
        const tools = [Agent.handle(weather, ({ city }) => Effect.succeed(`${city}: 21°C`))]
        const script = [{ toolCalls: [{ name: "get_weather", arguments: { city: "Oslo" } }] }, "done"]
        const runs = yield* Effect.gen(function*() {
          const first = yield* Agent.run({ tools, prompt: "Weather in Oslo?", conversationId: "conv-one" })
          const second = yield* Agent.run({ tools, prompt: "And again?", conversationId: "conv-two" })
          return [first, second]
        }).pipe(
          Effect.provide(Observability.layer().pipe(Layer.provideMerge(Layer.mergeAll(TestModel.layer([...script, ...script]), UsageLedger.layerSqlite(ledger)))))
        )
        const usage = yield* runCli(["usage", "--json", "--by", "conversation", "--ledger", ledger], { cwd })
        expect(usage.exitCode).toBe(0)
        const document = JSON.parse(usage.stdout) as { groups: ReadonlyArray<Summary> }
        expect(document.groups.map((group) => [group.key, group.calls, group.totalTokens]).sort()).toEqual([
          ["conv-one", 2, runs[0]!.totalUsage.totalTokens],
          ["conv-two", 2, runs[1]!.totalUsage.totalTokens]
        ])
      })
    ), 120_000)

  it.live("with no ledger file yet, usage prints zeros and exits 0; a bad --since is a usage error (exit 2)", () =>
    withTempDir((cwd) =>
      Effect.gen(function*() {
        const run = yield* runCli(["usage", "--json"], { cwd })
        expect(run.exitCode).toBe(0)
        const document = JSON.parse(run.stdout) as { ledger: string; totals: Summary }
        expect(document.ledger).toBe(join(cwd, "state", "llm-connect", "usage.db"))
        expect(document.totals).toMatchObject({ calls: 0, errors: 0, inputTokens: 0, outputTokens: 0, totalTokens: 0 })
        expect(run.stderr).toContain("nothing recorded yet")
        const table = yield* runCli(["usage", "--ledger", join(cwd, "none.db")], { cwd })
        expect(table.exitCode).toBe(0)
        expect(table.stdout).toMatch(/\nall\s+0\s+0\s+0\s+0\s+0\s/)
        const bad = yield* runCli(["usage", "--since", "yesterday"], { cwd })
        expect(bad.exitCode).toBe(2)
        expect(bad.stderr).toContain("not a duration")
      })
    ), 120_000)

  it.live("CLI calls are recorded by default in the state directory, which usage reads; --no-ledger and ledger: false record nothing", () =>
    withTempDir((cwd) =>
      Effect.gen(function*() {
        expect((yield* runCli(["prompt", "one"], { cwd })).exitCode).toBe(0)
        expect((yield* runCli(["run", join(repoRoot, "examples/workflows/demo.yaml")], { cwd })).exitCode).toBe(0)
        expect((yield* runCli(["prompt", "not recorded", "--no-ledger"], { cwd })).exitCode).toBe(0)
        writeFileSync(join(cwd, "off.yaml"), "ledger: false\n")
        expect((yield* runCli(["prompt", "not recorded either", "--config", "off.yaml"], { cwd })).exitCode).toBe(0)
        expect(existsSync(join(cwd, "state", "llm-connect", "usage.db"))).toBe(true)
        const usage = yield* runCli(["usage", "--json", "--by", "workflow"], { cwd })
        expect(usage.exitCode).toBe(0)
        const document = JSON.parse(usage.stdout) as { totals: Summary; groups: ReadonlyArray<Summary> }
        // One prompt and the demo's three steps.
        expect(document.totals.calls).toBe(4)
        expect(document.groups.map((group) => [group.key, group.calls]).sort()).toEqual([["(none)", 1], ["demo", 3]])
        // With HOME alone (no XDG_STATE_HOME), the file is ~/.local/state/llm-connect/usage.db.
        const home = join(cwd, "home")
        expect((yield* runCli(["prompt", "at home"], { cwd, env: { HOME: home, XDG_STATE_HOME: "" } })).exitCode).toBe(0)
        const atHome = yield* runCli(["usage", "--json"], { cwd, env: { HOME: home, XDG_STATE_HOME: "" } })
        const homeDocument = JSON.parse(atHome.stdout) as { ledger: string; totals: Summary }
        expect(homeDocument.ledger).toBe(join(home, ".local", "state", "llm-connect", "usage.db"))
        expect(homeDocument.totals.calls).toBe(1)
      })
    ), 120_000)

  it.live("LLM_CONNECT_LEDGER=off (or none/false) records nothing and creates no file named after the word", () =>
    withTempDir((cwd) =>
      Effect.gen(function*() {
        for (const word of ["off", "NONE", "false"]) {
          const run = yield* runCli(["prompt", "not recorded", "--json"], { cwd, env: { LLM_CONNECT_LEDGER: word } })
          expect(run.exitCode).toBe(0)
          expect(existsSync(join(cwd, word))).toBe(false)
        }
        expect(existsSync(join(cwd, "state", "llm-connect", "usage.db"))).toBe(false)
        const usage = yield* runCli(["usage", "--json"], { cwd, env: { LLM_CONNECT_LEDGER: "off" } })
        expect(usage.exitCode).toBe(0)
        expect((JSON.parse(usage.stdout) as { totals: Summary }).totals.calls).toBe(0)
        expect(existsSync(join(cwd, "off"))).toBe(false)
      })
    ), 120_000)

  it.live("a state directory that cannot be written records nothing, with a notice, and the call still succeeds", () =>
    withTempDir((cwd) =>
      Effect.gen(function*() {
        // A file where the state directory should be: nothing can be created under it (even as root).
        writeFileSync(join(cwd, "not-a-dir"), "x")
        const run = yield* runCli(["prompt", "hi", "--json"], { cwd, env: { XDG_STATE_HOME: join(cwd, "not-a-dir") } })
        expect(run.exitCode).toBe(0)
        expect((JSON.parse(run.stdout) as { provider: string }).provider).toBe("mock")
        expect(run.stderr).toContain("calls are not recorded: cannot write the usage ledger's folder")
        // A ledger the user chose is not a default: it must open (exit 2 otherwise).
        const chosen = yield* runCli(["prompt", "hi", "--ledger", join(cwd, "not-a-dir", "usage.db")], { cwd })
        expect(chosen.exitCode).toBe(2)
      })
    ), 120_000)

  it.live("several CLI processes writing to the default ledger at once lose no row", () =>
    withTempDir((cwd) =>
      Effect.gen(function*() {
        const runs = yield* Effect.all(
          Array.from({ length: 6 }, (_, index) => runCli(["prompt", `call ${index}`], { cwd })),
          { concurrency: "unbounded" }
        )
        expect(runs.map((run) => run.exitCode)).toEqual([0, 0, 0, 0, 0, 0])
        expect(runs.flatMap((run) => run.stderr.split("\n").filter((line) => /warn|error/.test(line)))).toEqual([])
        const usage = yield* runCli(["usage", "--json"], { cwd })
        expect((JSON.parse(usage.stdout) as { totals: Summary }).totals.calls).toBe(6)
      })
    ), 120_000)
})
