/**
 * `llm-connect run --resume` continues a run as it started: the provider, model, base URL,
 * request settings and budget journaled at the start are used again (a resume once finished a
 * real run on the mock provider), flags that would change them are refused, a key that is now
 * missing refuses the resume before any call, the journal's inputs are checked again, and a torn
 * journal line left by a kill does not poison the journal for the resumes after it.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { readFileSync, unlinkSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import * as FakeHttpServer from "../../providers/FakeHttpServer.ts"
import { lastUserText, ok } from "../../providers/openai/fakeOpenAi.ts"
import { events, run, start, workspace } from "../childCli.ts"

const twoSteps = "name: two\nsteps:\n  - { id: first, prompt: \"first step\" }\n  - { id: second, needs: [first], prompt: \"second step\" }\n"

/** The resume command printed in the final error line, as arguments. */
const resumeArgs = (stderr: string): ReadonlyArray<string> => {
  const command = /resume with: (llm-connect run --resume [^)\s]+(?: --journal-dir [^)\s]+)?)/.exec(stderr)?.[1]
  assert.isDefined(command, stderr)
  return command!.split(" ").slice(1)
}

const journalOf = (dir: string, runId: string) =>
  readFileSync(join(dir, ".llm-connect", "runs", `${runId}.jsonl`), "utf8")

interface RunDocument {
  readonly runId: string
  readonly state: string
  readonly outputs: Readonly<Record<string, unknown>>
  readonly steps: ReadonlyArray<{ readonly id: string; readonly resumed?: boolean }>
}

interface ChatBody {
  readonly model: string
  readonly messages: ReadonlyArray<{ readonly role: string; readonly content: string }>
  readonly max_tokens?: number
  readonly temperature?: number
}

// Each test here runs several CLI processes (eight in one): on a loaded machine each starts in
// seconds, so a test may pass the default 60 s without anything being wrong.
const SLOW_TEST_TIMEOUT = 180_000

describe("llm-connect run --resume", { timeout: SLOW_TEST_TIMEOUT }, () => {
  it.live("a run started on openai-compatible resumes there with exactly the printed command, with its model and request settings", () =>
    Effect.gen(function*() {
      // The second step's request hangs until the run's --timeout stops it.
      const fake = yield* FakeHttpServer.start((request) => lastUserText(request).includes("second") ? { hang: true } : ok(request))
      const dir = workspace({ "two.yaml": twoSteps })
      const first = yield* run([
        "run", "two.yaml", "--provider", "openai-compatible", "--base-url", `${fake.origin}/v1`, "--model", "m1",
        "--system", "Be terse.", "--max-tokens", "33", "--temperature", "0.3", "--timeout", "2s"
      ], dir)
      assert.strictEqual(first.code, 3, first.stderr)
      // Text mode: the finished step's output is printed although the run timed out.
      assert.include(first.stdout, "── first ── completed")
      assert.include(first.stdout, "echo: first step")
      fake.setHandler((request) => ok(request))

      const resumed = yield* run([...resumeArgs(first.stderr), "--json"], dir)
      assert.strictEqual(resumed.code, 0, resumed.stderr)
      const document = JSON.parse(resumed.stdout) as RunDocument
      assert.strictEqual(document.state, "completed")
      assert.strictEqual(document.outputs.second, "echo: second step")
      assert.deepStrictEqual(document.steps.map((step) => [step.id, step.resumed === true]), [["first", true], ["second", false]])
      assert.notInclude(resumed.stdout + resumed.stderr, "mock provider")
      const seconds = fake.requests.filter((request) => lastUserText(request) === "second step")
      assert.strictEqual(seconds.length, 2) // the hung one, and the resumed one
      for (const request of fake.requests) {
        const body = request.body as ChatBody
        assert.strictEqual(body.model, "m1")
        assert.deepStrictEqual(body.messages[0], { role: "system", content: "Be terse." })
        assert.strictEqual(body.max_tokens, 33)
        assert.strictEqual(body.temperature, 0.3)
      }
    }))

  it.live("a flag that would change the settings is refused (exit 2); a key now missing refuses before any call; the key is never journaled", () =>
    Effect.gen(function*() {
      const fake = yield* FakeHttpServer.start((request) => lastUserText(request).includes("second") ? { hang: true } : ok(request))
      const dir = workspace({ "two.yaml": twoSteps })
      const key = { OPENAI_API_KEY: "sk-resume-secret-0123456789" }
      const first = yield* run(["run", "two.yaml", "--provider", "openai", "--base-url", `${fake.origin}/v1`, "--timeout", "2s"], dir, key)
      assert.strictEqual(first.code, 3, first.stderr)
      const args = resumeArgs(first.stderr)
      const runId = args[2]!
      assert.notInclude(journalOf(dir, runId), key.OPENAI_API_KEY)
      fake.setHandler((request) => ok(request))
      const sent = fake.requests.length

      // Independent refusals (each is refused before the run is opened): run side by side, so
      // that the test's eight CLI processes do not add up to minutes on a loaded machine.
      const refusals = [["--model", "gpt-4o"], ["--provider", "mock"], ["--max-cost-usd", "1"], ["--mock-reply", "x"], ["--system", "S"]]
      const refused = yield* Effect.forEach(refusals, (flags) => run([...args, ...flags, "--json"], dir, key), { concurrency: 3 })
      refusals.forEach((flags, index) => {
        const one = refused[index]!
        assert.strictEqual(one.code, 2, `${flags.join(" ")}: ${one.stderr}`)
        assert.include(one.stderr, `${flags[0]} cannot change run ${runId}`)
        assert.include(one.stderr, "--timeout, --attempt-timeout")
        assert.strictEqual((JSON.parse(one.stdout) as { errorType: string }).errorType, "Configuration")
      })
      const keyless = yield* run(args, dir)
      assert.strictEqual(keyless.code, 2)
      assert.include(keyless.stderr, `run ${runId} cannot resume as it started (provider openai`)
      assert.include(keyless.stderr, "OPENAI_API_KEY")
      assert.strictEqual(fake.requests.length, sent)

      // The environment now names another provider and model: not used (a notice says so);
      // time bounds may be added.
      const resumed = yield* run([...args, "--attempt-timeout", "20s", "--timeout", "1m", "--json"], dir, {
        ...key,
        LLM_CONNECT_PROVIDER: "mock",
        LLM_CONNECT_MODEL: "mock-2"
      })
      assert.strictEqual(resumed.code, 0, resumed.stderr)
      assert.include(resumed.stderr, "LLM_CONNECT_PROVIDER, LLM_CONNECT_MODEL are not used")
      assert.strictEqual((JSON.parse(resumed.stdout) as RunDocument).outputs.second, "echo: second step")
      assert.strictEqual(fake.requests.length, sent + 1)
    }), SLOW_TEST_TIMEOUT)

  it.live("the config file the run started with is read again on resume (its keys); once it is gone the resume is refused", () =>
    Effect.gen(function*() {
      const fake = yield* FakeHttpServer.start((request) => lastUserText(request).includes("second") ? { hang: true } : ok(request))
      const dir = workspace({
        "two.yaml": twoSteps,
        "keys.yaml": `provider: openai\nproviders:\n  openai:\n    apiKey: sk-from-the-file-0123456789\n    baseUrl: ${fake.origin}/v1\n`
      })
      const first = yield* run(["run", "two.yaml", "--config", "keys.yaml", "--timeout", "2s"], dir)
      assert.strictEqual(first.code, 3, first.stderr)
      const args = resumeArgs(first.stderr)
      assert.notInclude(journalOf(dir, args[2]!), "sk-from-the-file")
      fake.setHandler((request) => ok(request))
      const resumed = yield* run(args, dir)
      assert.strictEqual(resumed.code, 0, resumed.stderr)
      assert.strictEqual(fake.requests.at(-1)!.headers.authorization, "Bearer sk-from-the-file-0123456789")
      unlinkSync(join(dir, "keys.yaml"))
      const gone = yield* run(args, dir)
      assert.strictEqual(gone.code, 2)
      assert.include(gone.stderr, `run ${args[2]} cannot resume as it started`)
      assert.include(gone.stderr, "keys.yaml")
    }))

  it.live("a base URL with credentials is journaled as a hash only; the resume needs the same URL again", () =>
    Effect.gen(function*() {
      const dir = workspace({ "two.yaml": twoSteps })
      // Nothing listens on port 9: the step fails (Network) and the run ends failed.
      const secretUrl = "http://127.0.0.1:9/v1?key=SECRET-IN-URL-42"
      const first = yield* run(["run", "two.yaml", "--provider", "openai-compatible", "--base-url", secretUrl, "--max-retries", "0"], dir)
      assert.strictEqual(first.code, 1, first.stderr)
      const runId = String(events(first.stderr)[0]!.runId)
      const journal = journalOf(dir, runId)
      assert.notInclude(journal, "SECRET-IN-URL-42")
      assert.include(journal, "baseUrlSha256")
      const refused = yield* run(["run", "--resume", runId], dir)
      assert.strictEqual(refused.code, 2)
      assert.include(refused.stderr, "carries credentials")
      assert.notInclude(refused.stderr, "SECRET-IN-URL-42")
    }))

  it.live("the budget continues from the journaled spend: a step the remaining budget cannot afford is refused on resume", () =>
    Effect.promise(async () => {
      const dir = workspace({
        "budgeted.yaml": [
          "name: budgeted",
          "steps:",
          "  - { id: a, prompt: \"first step\", provider: mock, options: { latency: 1500ms } }",
          "  - { id: b, needs: [a], prompt: \"summarise {{steps.a.output}}\" }",
          ""
        ].join("\n")
      })
      // a uses 29 of 50 tokens; b's prompt alone is 30 tokens: it fits a fresh budget, not what is left.
      const child = start(["run", "budgeted.yaml", "--max-total-tokens", "50"], dir)
      const runId = String((await child.waitFor((event) => event.event === "run")).runId)
      await child.waitFor((event) => event.step === "a" && event.state === "running")
      process.kill(child.pid, "SIGINT")
      assert.strictEqual(await child.exited, 130)
      assert.include(journalOf(dir, runId), "\"totalTokens\":50")

      const resumed = start(["run", "--resume", runId, "--json"], dir)
      assert.strictEqual(await resumed.exited, 1, resumed.stderr())
      const document = JSON.parse(resumed.stdout()) as { step: string; cause: { errorType: string; dimension: string; consumed: number } }
      assert.strictEqual(document.step, "b")
      assert.strictEqual(document.cause.errorType, "BudgetExceeded")
      assert.strictEqual(document.cause.dimension, "totalTokens")
      assert.strictEqual(document.cause.consumed, 29)
    }))

  it.live("the printed resume command is complete: with another journal folder it names it, and it works as printed", () =>
    Effect.gen(function*() {
      const dir = workspace({
        "slow.yaml": "name: slow\nsteps:\n  - { id: a, prompt: x, provider: mock, options: { latency: 10ms } }\n  - { id: b, needs: [a], prompt: y }\n"
      })
      const first = yield* run(["run", "slow.yaml", "--journal-dir", "my-runs", "--mock-latency", "2s", "--timeout", "1s"], dir)
      assert.strictEqual(first.code, 3)
      const args = resumeArgs(first.stderr)
      assert.deepStrictEqual(args.slice(3), ["--journal-dir", "my-runs"])
      assert.strictEqual(events(first.stderr)[0]!.resume, `llm-connect ${args.join(" ")}`)
      const resumed = yield* run([...args, "--json"], dir)
      assert.strictEqual(resumed.code, 0, resumed.stderr)
      assert.deepStrictEqual((JSON.parse(resumed.stdout) as RunDocument).steps.map((step) => step.resumed === true), [true, false])
    }))

  it.live("journaled inputs are checked again against the workflow's declared inputs (exit 2)", () =>
    Effect.gen(function*() {
      const dir = workspace({ "in.yaml": "name: in\ninputs: { n: integer }\nsteps: [{ id: a, prompt: \"{{input.n}}\" }]\n" })
      const first = yield* run(["run", "in.yaml", "--input", "n=3"], dir)
      assert.strictEqual(first.code, 0, first.stderr)
      const runId = String(events(first.stderr)[0]!.runId)
      const file = join(dir, ".llm-connect", "runs", `${runId}.jsonl`)
      const [startLine, ...rest] = readFileSync(file, "utf8").split("\n")
      writeFileSync(file, [startLine!.replace("\"input\":{\"n\":3}", "\"input\":{\"n\":\"many\"}"), ...rest].join("\n"))
      const resumed = yield* run(["run", "--resume", runId], dir)
      assert.strictEqual(resumed.code, 2)
      assert.include(resumed.stderr, "input \"n\" must be an integer")
    }))

  it.live("killed in the middle of a journal write, the run resumes twice: the torn line does not poison the journal", () =>
    Effect.promise(async () => {
      const dir = workspace({
        "three.yaml": [
          "name: three",
          "steps:",
          "  - { id: a, prompt: \"step a\", provider: mock, options: { latency: 10ms } }",
          "  - { id: b, needs: [a], prompt: \"step b\", provider: mock, options: { latency: 10ms } }",
          "  - { id: c, needs: [b], prompt: \"step c\" }",
          ""
        ].join("\n")
      })
      const child = start(["run", "three.yaml", "--mock-latency", "3s"], dir)
      const runId = String((await child.waitFor((event) => event.event === "run")).runId)
      await child.waitFor((event) => event.step === "c" && event.state === "running")
      process.kill(child.pid, "SIGKILL")
      await child.exited
      // What a kill during the write of b's entry leaves: half of its line, no newline.
      const file = join(dir, ".llm-connect", "runs", `${runId}.jsonl`)
      const text = readFileSync(file, "utf8")
      const lastLine = text.slice(text.lastIndexOf("\n", text.length - 2) + 1)
      assert.include(lastLine, "\"step\":\"b\"")
      writeFileSync(file, text.slice(0, text.length - lastLine.length) + lastLine.slice(0, Math.floor(lastLine.length / 2)))

      // First resume: b runs again (its entry was torn), c is stopped by the timeout.
      const once = start(["run", "--resume", runId, "--timeout", "1s"], dir)
      assert.strictEqual(await once.exited, 3, once.stderr())
      assert.isTrue(events(once.stderr()).some((event) => event.step === "b" && event.state === "completed"))
      // Second resume: a and b come from the journal, c runs, the run completes.
      const twice = start(["run", "--resume", runId, "--json"], dir)
      assert.strictEqual(await twice.exited, 0, twice.stderr())
      const document = JSON.parse(twice.stdout()) as RunDocument
      assert.deepStrictEqual(document.steps.map((step) => [step.id, step.resumed === true]), [["a", true], ["b", true], ["c", false]])
      assert.isFalse(events(twice.stderr()).some((event) => event.step === "a" || event.step === "b"))
      const steps = readFileSync(file, "utf8").trim().split("\n").map((line) => JSON.parse(line) as { type: string; step?: string })
      assert.deepStrictEqual(steps.filter((entry) => entry.type === "step").map((entry) => entry.step), ["a", "b", "c"])
    }))
})
