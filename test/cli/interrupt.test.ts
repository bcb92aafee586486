/**
 * An interrupt keeps the `--json` promise: SIGINT or SIGTERM on `prompt`, or a second Ctrl-C on
 * `run`, prints the one Interrupted error document on stdout and one error line on stderr, and
 * exits 130 (it once exited with nothing printed at all).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { ErrorDocument } from "../../scripts/contracts.ts"
import { events, start, workspace } from "./childCli.ts"

/** The pinned document: `{"error":"interrupted","errorType":"Interrupted"}`, and what the error contract asks of it. */
const assertInterrupted = (stdout: string) => {
  const document = JSON.parse(stdout) as Record<string, unknown>
  assert.strictEqual(document.error, "interrupted")
  assert.strictEqual(document.errorType, "Interrupted")
  assert.strictEqual(document.retryable, false)
  assert.isTrue(Schema.is(ErrorDocument)(document), stdout)
}

const errorLines = (stderr: string) => stderr.split("\n").filter((line) => line.startsWith("llm-connect: error:"))

/** Waits until the child has written `text` to stderr. */
const stderrIncludes = (child: { readonly stderr: () => string }, text: string) =>
  new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      if (child.stderr().includes(text)) {
        clearInterval(timer)
        resolve()
      }
    }, 20)
  })

describe("interrupts (subprocess)", () => {
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    it.live(`prompt --json, ${signal} during the call: the Interrupted document, one error line, exit 130`, () =>
      Effect.promise(async () => {
        const child = start(["prompt", "hi", "--mock-latency", "30s", "--json"], workspace({}))
        await stderrIncludes(child, "using the mock provider")
        process.kill(child.pid, signal)
        assert.strictEqual(await child.exited, 130)
        assertInterrupted(child.stdout())
        assert.deepStrictEqual(errorLines(child.stderr()), ["llm-connect: error: interrupted"])
      }))
  }

  it.live("prompt without --json: one error line on stderr, nothing on stdout", () =>
    Effect.promise(async () => {
      const child = start(["prompt", "hi", "--mock-latency", "30s"], workspace({}))
      await stderrIncludes(child, "using the mock provider")
      process.kill(child.pid, "SIGTERM")
      assert.strictEqual(await child.exited, 130)
      assert.strictEqual(child.stdout(), "")
      assert.deepStrictEqual(errorLines(child.stderr()), ["llm-connect: error: interrupted"])
    }))

  it.live("run --json, a second Ctrl-C: the Interrupted document and one error line with the resume command", () =>
    Effect.promise(async () => {
      const child = start(["run", "long.yaml", "--mock-latency", "60s", "--json"], workspace({
        "long.yaml": "name: long\nsteps: [{ id: a, prompt: x }]\n"
      }))
      const runId = String((await child.waitFor((event) => event.event === "run")).runId)
      await child.waitFor((event) => event.step === "a" && event.state === "running")
      process.kill(child.pid, "SIGINT")
      await child.waitFor((event) => event.state === "cancelling")
      process.kill(child.pid, "SIGINT")
      assert.strictEqual(await child.exited, 130)
      assertInterrupted(child.stdout())
      assert.deepStrictEqual(errorLines(child.stderr()), [
        `llm-connect: error: interrupted (resume with: llm-connect run --resume ${runId})`
      ])
      assert.isFalse(events(child.stderr()).some((event) => event.step === "a" && event.state === "completed"))
    }), 180_000) // a CLI start-up, then two signals each awaited in its output: seconds each on a loaded machine
})
