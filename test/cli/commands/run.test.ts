/**
 * `llm-connect run` as a real subprocess: output, exit codes, Ctrl-C and resume after a kill.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { existsSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { events, run, start, workspace } from "../childCli.ts"
import { repoRoot } from "../runCli.ts"

const slowSecond = `name: slow
steps:
  - id: first
    prompt: "first step"
    provider: mock
    options: { latency: 10ms }
  - id: second
    needs: [first]
    prompt: "second step after {{steps.first.output}}"
`

describe("llm-connect run", () => {
  it.live("runs the demo on the mock provider: each step's output and the usage totals, exit 0", () =>
    Effect.gen(function*() {
      const result = yield* run(["run", join(repoRoot, "examples/workflows/demo.yaml")], workspace({}))
      assert.strictEqual(result.code, 0)
      for (const step of ["outline", "draft_plain", "draft_vivid"]) assert.include(result.stdout, `── ${step} ── completed`)
      assert.match(result.stdout, /run \S+ completed in \d+m?s: 3 steps, \d+ tokens \(\d+ in \+ \d+ out\)/)
      const progress = events(result.stderr)
      assert.deepStrictEqual(progress.filter((event) => event.state === "completed" && event.event === "step").map((event) => event.step).sort(), [
        "draft_plain", "draft_vivid", "outline"
      ])
      assert.isTrue(progress.every((event) => event.runId === progress[0]!.runId))
    }))

  it.live("--json prints one JSON document with the run id, states, outputs and usage", () =>
    Effect.gen(function*() {
      const result = yield* run(["run", join(repoRoot, "examples/workflows/demo.yaml"), "--input", "topic=volcanoes", "--mock-reply", "echo", "--json"], workspace({}))
      assert.strictEqual(result.code, 0)
      const document = JSON.parse(result.stdout) as {
        runId: string; state: string; outputs: Record<string, string>; usage: { totalTokens: number }
      }
      assert.strictEqual(document.state, "completed")
      assert.match(document.outputs.outline!, /volcanoes/)
      assert.isTrue(document.usage.totalTokens > 0)
      assert.strictEqual(events(result.stderr)[0]!.runId, document.runId)
    }))

  it.live("an invalid workflow exits 2 before any call, listing every problem with file:line:column", () =>
    Effect.gen(function*() {
      const dir = workspace({ "bad.yaml": "name: bad\nsteps:\n  - id: a\n    prompt: \"{{input.nope}}\"\n  - id: b\n    needs: [zz]\n    prompt: x\n" })
      const result = yield* run(["run", "bad.yaml"], dir)
      assert.strictEqual(result.code, 2)
      assert.include(result.stderr, "bad.yaml:4:5: unknown variable {{input.nope}}")
      assert.include(result.stderr, "bad.yaml:6:13: step \"b\" needs \"zz\"")
      assert.strictEqual(result.stdout, "")
    }))

  it.live("inputs that do not match the declared inputs exit 2; a failed step exits 1 naming it", () =>
    Effect.gen(function*() {
      const dir = workspace({
        "in.yaml": "name: in\ninputs: { n: integer }\nsteps: [{ id: a, prompt: \"{{input.n}}\" }]\n",
        "fail.yaml": "name: fail\nsteps:\n  - { id: ok, prompt: fine }\n  - { id: broken, prompt: x, provider: mock, options: { faults: [\"400\"] } }\n"
      })
      const bad = yield* run(["run", "in.yaml", "--input", "n=many"], dir)
      assert.strictEqual(bad.code, 2)
      assert.include(bad.stderr, "input \"n\" must be an integer")
      const failed = yield* run(["run", "fail.yaml", "--json"], dir)
      assert.strictEqual(failed.code, 1)
      const document = JSON.parse(failed.stdout) as { errorType: string; step: string; attempt: number; cause: { errorType: string } }
      assert.strictEqual(document.errorType, "WorkflowStepFailed")
      assert.strictEqual(document.step, "broken")
      assert.strictEqual(document.attempt, 1)
      assert.strictEqual(document.cause.errorType, "InvalidRequest")
    }))

  it.live("--timeout exits 3 and reports finished and running steps", () =>
    Effect.gen(function*() {
      const dir = workspace({ "slow.yaml": slowSecond })
      const result = yield* run(["run", "slow.yaml", "--timeout", "1s", "--mock-latency", "30s", "--json"], dir)
      assert.strictEqual(result.code, 3)
      const document = JSON.parse(result.stdout) as { errorType: string; snapshot: { steps: Array<{ id: string; state: string }> } }
      assert.strictEqual(document.errorType, "WorkflowTimeout")
      assert.deepStrictEqual(document.snapshot.steps.map((step) => [step.id, step.state]), [["first", "completed"], ["second", "running"]])
    }))

  it.live("without --json, a timed-out run prints the output of its finished steps on stdout", () =>
    Effect.gen(function*() {
      const dir = workspace({ "slow.yaml": slowSecond })
      const result = yield* run(["run", "slow.yaml", "--timeout", "1s", "--mock-latency", "30s"], dir)
      assert.strictEqual(result.code, 3)
      assert.match(result.stdout, /^── first ── completed in \d+m?s, \d+ tokens\nThis is the mock provider's answer to "first step"/)
      assert.notInclude(result.stdout, "second")
      assert.include(result.stderr, "the run timed out after 1s")
    }))

  it.live("run takes --max-retries, --attempt-timeout, --system, --max-tokens and --temperature like prompt", () =>
    Effect.gen(function*() {
      const dir = workspace({ "one.yaml": "name: one\nsteps: [{ id: a, prompt: x }]\n" })
      const noRetry = yield* run(["run", "one.yaml", "--mock-faults", "500", "--max-retries", "0", "--json"], dir)
      assert.strictEqual(noRetry.code, 1)
      assert.notInclude(noRetry.stderr, "retrying LLM call")
      assert.strictEqual((JSON.parse(noRetry.stdout) as { cause: { errorType: string } }).cause.errorType, "ServerError")
      const attempt = yield* run(["run", "one.yaml", "--mock-latency", "5s", "--attempt-timeout", "100ms", "--max-retries", "1", "--json"], dir)
      assert.strictEqual(attempt.code, 1)
      const timedOut = JSON.parse(attempt.stdout) as { cause: { errorType: string; scope: string; attempts: number } }
      assert.deepStrictEqual([timedOut.cause.errorType, timedOut.cause.scope, timedOut.cause.attempts], ["Timeout", "attempt", 2])
      const shaped = yield* run(["run", "one.yaml", "--system", "Be terse.", "--max-tokens", "3", "--temperature", "0.5", "--json"], dir)
      assert.strictEqual(shaped.code, 0, shaped.stderr)
      // The mock stops at the output cap: three tokens of its canned answer.
      assert.strictEqual((JSON.parse(shaped.stdout) as { steps: ReadonlyArray<{ usage: { outputTokens: number } }> }).steps[0]!.usage.outputTokens, 3)
    }))

  it.live("retry warnings are one line each on stderr", () =>
    Effect.gen(function*() {
      const dir = workspace({ "one.yaml": "name: one\nsteps: [{ id: a, prompt: x }]\n" })
      const result = yield* run(["run", "one.yaml", "--mock-faults", "500,500"], dir)
      assert.strictEqual(result.code, 0, result.stderr)
      const warnings = result.stderr.split("\n").filter((line) => line.includes("retrying LLM call"))
      assert.strictEqual(warnings.length, 2)
      for (const [index, line] of warnings.entries()) {
        assert.match(line, new RegExp(`^llm-connect: warn: retrying LLM call \\(.*provider=mock .*step=a attempt=${index + 1} reason=ServerError status=500 delayMs=\\d+\\)$`))
      }
      // Every stderr line is a progress event, or one of the CLI's own lines.
      for (const line of result.stderr.split("\n").filter((text) => text !== "")) assert.match(line, /^(\{|llm-connect: )/)
    }))

  it.live("Ctrl-C lets the step in flight finish, starts no new one, exits 130", () =>
    Effect.promise(async () => {
      const dir = workspace({
        "two.yaml": "name: two\nsteps:\n  - { id: a, prompt: x }\n  - { id: b, prompt: y, needs: [a] }\n"
      })
      const child = start(["run", "two.yaml", "--mock-latency", "2s"], dir)
      await child.waitFor((event) => event.step === "a" && event.state === "running")
      process.kill(child.pid, "SIGINT")
      const code = await child.exited
      assert.strictEqual(code, 130)
      const progress = events(child.stderr())
      assert.isTrue(progress.some((event) => event.step === "a" && event.state === "completed"))
      assert.isFalse(progress.some((event) => event.step === "b"))
      assert.match(child.stderr(), /b: cancelled/)
    }))

  it.live("a second Ctrl-C interrupts at once", () =>
    Effect.promise(async () => {
      const dir = workspace({ "long.yaml": "name: long\nsteps: [{ id: a, prompt: x }]\n" })
      const child = start(["run", "long.yaml", "--mock-latency", "60s"], dir)
      await child.waitFor((event) => event.step === "a" && event.state === "running")
      process.kill(child.pid, "SIGINT")
      await child.waitFor((event) => event.state === "cancelling")
      process.kill(child.pid, "SIGINT")
      assert.strictEqual(await child.exited, 130)
      assert.isFalse(events(child.stderr()).some((event) => event.step === "a" && event.state === "completed"))
    }))

  it.live("resume after a kill: the finished step is not run again, the run completes", () =>
    Effect.promise(async () => {
      const dir = workspace({ "slow.yaml": slowSecond })
      // The resume keeps the mock's settings too (3s for the second step), as a resume keeps the
      // provider's.
      const child = start(["run", "slow.yaml", "--mock-latency", "3s"], dir)
      const started = await child.waitFor((event) => event.event === "run")
      const runId = String(started.runId)
      const journalFile = join(dir, ".llm-connect", "runs", `${runId}.jsonl`)
      await child.waitFor((event) => event.step === "second" && event.state === "running")
      assert.isTrue(existsSync(journalFile))
      assert.include(readFileSync(journalFile, "utf8"), "\"step\":\"first\"")
      process.kill(child.pid, "SIGKILL")
      await child.exited

      const resumed = start(["run", "--resume", runId, "--json"], dir)
      assert.strictEqual(await resumed.exited, 0)
      const document = JSON.parse(resumed.stdout()) as { runId: string; state: string; steps: Array<{ id: string; resumed?: boolean }> }
      assert.strictEqual(document.runId, runId)
      assert.strictEqual(document.state, "completed")
      assert.deepStrictEqual(document.steps.map((step) => [step.id, step.resumed === true]), [["first", true], ["second", false]])
      assert.isFalse(events(resumed.stderr()).some((event) => event.step === "first"))
      const entries = readFileSync(journalFile, "utf8").trim().split("\n").map((line) => JSON.parse(line) as { type: string; step?: string })
      assert.deepStrictEqual(entries.filter((entry) => entry.type === "step").map((entry) => entry.step), ["first", "second"])
    }))

  it.live("resume refuses a workflow file that changed, and an unknown run id", () =>
    Effect.promise(async () => {
      const dir = workspace({ "wf.yaml": "name: wf\nsteps: [{ id: a, prompt: x }]\n" })
      const first = start(["run", "wf.yaml"], dir)
      const runId = String((await first.waitFor((event) => event.event === "run")).runId)
      assert.strictEqual(await first.exited, 0)
      writeFileSync(join(dir, "wf.yaml"), "name: wf\nsteps: [{ id: a, prompt: changed }]\n")
      const refused = start(["run", "--resume", runId], dir)
      assert.strictEqual(await refused.exited, 2)
      assert.match(refused.stderr(), /wf\.yaml changed since run .* started/)
      const unknown = start(["run", "--resume", "nope"], dir)
      assert.strictEqual(await unknown.exited, 2)
      assert.match(unknown.stderr(), /no journal for run nope/)
    }))

  it.live("a step that names its own provider gets the configured PII guard and observability: blocked, nothing sent, one ledger row", () =>
    Effect.gen(function*() {
      const dir = workspace({
        "llm-connect.yaml": "pii: { mode: block }\nledger: { path: usage.db }\nmock: { reply: echo }\n",
        "leak.yaml": [
          "name: leak",
          "steps:",
          "  - { id: fine, prompt: \"nothing personal\" }",
          "  - { id: leak, prompt: \"write to ada@example.com\", provider: mock, options: { latency: 1ms } }",
          ""
        ].join("\n")
      })
      const result = yield* run(["run", "leak.yaml", "--json"], dir)
      assert.strictEqual(result.code, 1)
      assert.notInclude(result.stdout, "ada@example.com")
      const document = JSON.parse(result.stdout) as { step: string; cause: { errorType: string; error: string } }
      assert.strictEqual(document.step, "leak")
      assert.strictEqual(document.cause.errorType, "InvalidRequest")
      assert.include(document.cause.error, "email")
      const usage = yield* run(["usage", "--json", "--by", "step"], dir)
      assert.strictEqual(usage.code, 0)
      const groups = (JSON.parse(usage.stdout) as { groups: ReadonlyArray<{ key: string; calls: number; errors: number }> }).groups
      assert.deepStrictEqual(groups.map((group) => [group.key, group.calls, group.errors]).sort(), [["fine", 1, 0], ["leak", 1, 1]])
    }))

  it.live("the run's budget is enforced inside observability: its refusal is a ledger row", () =>
    Effect.gen(function*() {
      const dir = workspace({
        "llm-connect.yaml": "ledger: { path: usage.db }\n",
        "tight.yaml": "name: tight\nbudget: { totalTokens: 5 }\nsteps:\n  - { id: big, prompt: \"longer than five tokens, surely\" }\n"
      })
      const result = yield* run(["run", "tight.yaml", "--json"], dir)
      assert.strictEqual(result.code, 1)
      assert.strictEqual((JSON.parse(result.stdout) as { cause: { errorType: string } }).cause.errorType, "BudgetExceeded")
      const usage = yield* run(["usage", "--json", "--by", "outcome"], dir)
      assert.strictEqual(usage.code, 0)
      const groups = (JSON.parse(usage.stdout) as { groups: ReadonlyArray<{ key: string; calls: number }> }).groups
      assert.deepStrictEqual(groups.map((group) => [group.key, group.calls]), [["BudgetExceeded", 1]])
    }))
})
