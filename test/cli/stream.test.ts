/**
 * `llm-connect prompt --stream` and `--stream --json`, the real CLI as a subprocess: against the
 * mock provider (per-chunk latency, scripted faults) and, for tool calls and the socket closed on
 * Ctrl-C, an OpenAI-compatible fake server on 127.0.0.1:0.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { spawn } from "node:child_process"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { INTERRUPTED_DOCUMENT } from "../../src/cli/Output.ts"
import * as StreamEvents from "../../src/cli/StreamEvents.ts"
import { LlmResponse } from "../../src/LlmResponse.ts"
import * as UsageLedger from "../../src/observability/UsageLedger.ts"
import * as Fake from "../providers/openai/FakeOpenAiServer.ts"
import { start } from "./childCli.ts"
import { baseEnv, binScript, nodeBin, runCli } from "./runCli.ts"

const TIMEOUT = 120_000
const REPLY = "alpha beta gamma delta"

const tempDir = () => mkdtempSync(join(tmpdir(), "llmc-cli-stream-"))

/** The JSON Lines of stdout, each checked against the event Schema. */
const jsonLines = (stdout: string): Array<Record<string, unknown>> => {
  assert.isTrue(stdout.endsWith("\n"), "JSON Lines end with a newline")
  return stdout.slice(0, -1).split("\n").map((line) => {
    const event = JSON.parse(line) as Record<string, unknown>
    assert.isTrue(Schema.is(StreamEvents.StreamEvent)(event), line)
    return event
  })
}

const errorLines = (stderr: string) => stderr.split("\n").filter((line) => line.startsWith("llm-connect: error:"))

const textOf = (events: ReadonlyArray<Record<string, unknown>>) =>
  events.flatMap((event) => (event.type === "text-delta" ? [String(event.text)] : [])).join("")

/** Resolves once `check` holds for what the child has printed on stdout. */
const stdoutReaches = (child: { readonly stdout: () => string }, check: (stdout: string) => boolean) =>
  new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      if (check(child.stdout())) {
        clearInterval(timer)
        resolve()
      }
    }, 10)
  })

/** What the usage ledger of a working directory holds, grouped by outcome. */
const ledgerByOutcome = (cwd: string) =>
  Effect.map(runCli(["usage", "--json", "--by", "outcome"], { cwd }), (run) => {
    assert.strictEqual(run.exitCode, 0, run.stderr)
    return JSON.parse(run.stdout) as {
      readonly ledger: string
      readonly totals: { readonly calls: number; readonly errors: number; readonly inputTokens: number }
      readonly groups: ReadonlyArray<{ readonly key: string; readonly calls: number }>
    }
  })

describe("llm-connect prompt --stream (subprocess)", () => {
  it.live("prints the same stdout as prompt without --stream, and the usage line on stderr at the end", () =>
    Effect.gen(function*() {
      const cwd = tempDir()
      const streamed = yield* runCli(["prompt", "hi", "--stream", "--mock-reply", REPLY], { cwd })
      const whole = yield* runCli(["prompt", "hi", "--mock-reply", REPLY], { cwd })
      assert.strictEqual(streamed.exitCode, 0, streamed.stderr)
      assert.strictEqual(streamed.stdout, `${REPLY}\n`)
      assert.strictEqual(streamed.stdout, whole.stdout)
      const stderr = streamed.stderr.trimEnd().split("\n")
      assert.match(stderr.at(-1)!, /^llm-connect: usage: \d+ in \+ \d+ out = \d+ tokens \| model mock-1 \| provider mock \| \d+m?s/)
    }), TIMEOUT)

  it.live("writes each delta as it arrives: the first word is read from the pipe while the rest is still coming", () =>
    Effect.gen(function*() {
      const cwd = tempDir()
      // 1 s per chunk: the first word is written about 3 s before the answer is whole.
      const child = spawn(nodeBin, [binScript, "prompt", "hi", "--stream", "--mock-reply", REPLY, "--mock-latency", "1s"], {
        cwd,
        env: baseEnv(cwd),
        stdio: ["ignore", "pipe", "pipe"]
      })
      const reads: Array<string> = []
      let stderr = ""
      child.stderr.on("data", (chunk) => (stderr += String(chunk)))
      const first = new Promise<boolean>((resolve) =>
        child.stdout.on("data", (chunk) => {
          reads.push(String(chunk))
          // Whether the process was still running when its first write reached us.
          if (reads.length === 1) resolve(child.exitCode === null)
        })
      )
      const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)))
      assert.isTrue(yield* Effect.promise(() => first))
      assert.strictEqual(reads[0], "alpha ")
      assert.strictEqual(yield* Effect.promise(() => exited), 0)
      assert.strictEqual(reads.join(""), `${REPLY}\n`)
      assert.isAtLeast(reads.length, 4, JSON.stringify(reads))
      assert.include(stderr, "llm-connect: usage: ")
    }), TIMEOUT)

  it.live("--json: one text-delta line per delta, then exactly one finish line whose response is the --json document", () =>
    Effect.gen(function*() {
      const cwd = tempDir()
      const streamed = yield* runCli(["prompt", "hi", "--stream", "--json", "--mock-reply", REPLY], { cwd })
      const whole = yield* runCli(["prompt", "hi", "--json", "--mock-reply", REPLY], { cwd })
      assert.strictEqual(streamed.exitCode, 0, streamed.stderr)
      const events = jsonLines(streamed.stdout)
      assert.deepStrictEqual(events.slice(0, -1), [
        { type: "text-delta", text: "alpha " },
        { type: "text-delta", text: "beta " },
        { type: "text-delta", text: "gamma " },
        { type: "text-delta", text: "delta" }
      ])
      const last = events.at(-1)!
      assert.deepStrictEqual(Object.keys(last), ["type", "response"])
      assert.strictEqual(last.type, "finish")
      const response = Schema.decodeUnknownSync(LlmResponse)(last.response)
      assert.strictEqual(response.content, textOf(events))
      // The same document as `--json` prints, but for the time the call took.
      const document = JSON.parse(whole.stdout) as Record<string, unknown>
      assert.deepStrictEqual(Object.keys(last.response as object), Object.keys(document))
      assert.deepStrictEqual({ ...(last.response as object), latencyMs: 0 }, { ...document, latencyMs: 0 })
      // No usage line with --json: stdout holds the whole result.
      assert.notInclude(streamed.stderr, "usage:")
    }), TIMEOUT)

  it.live("--json, a failure before any part: one error line (the error document), exit 1", () =>
    Effect.gen(function*() {
      const run = yield* runCli(["prompt", "hi", "--stream", "--json", "--mock-faults", "500", "--max-retries", "0"], { cwd: tempDir() })
      assert.strictEqual(run.exitCode, 1)
      const events = jsonLines(run.stdout)
      assert.strictEqual(events.length, 1)
      assert.strictEqual(events[0]!.type, "error")
      assert.strictEqual(events[0]!.errorType, "ServerError")
      assert.strictEqual(events[0]!.status, 500)
      assert.strictEqual(events[0]!.retryable, true)
      assert.deepStrictEqual(errorLines(run.stderr), [`llm-connect: error: ${String(events[0]!.error)}`])
    }), TIMEOUT)

  it.live("--json, a stream dropped after two chunks: two text-delta lines, then the error line, exit 1", () =>
    Effect.gen(function*() {
      const run = yield* runCli(["prompt", "hi", "--stream", "--json", "--mock-reply", REPLY, "--mock-faults", "cut:2"], { cwd: tempDir() })
      assert.strictEqual(run.exitCode, 1)
      const events = jsonLines(run.stdout)
      assert.deepStrictEqual(events.map((event) => event.type), ["text-delta", "text-delta", "error"])
      assert.strictEqual(textOf(events), "alpha beta ")
      assert.strictEqual(events[2]!.errorType, "Network")
      assert.strictEqual(errorLines(run.stderr).length, 1)
    }), TIMEOUT)

  it.live("plain text, a stream dropped after two chunks: the text so far ends its line; the error on stderr, exit 1", () =>
    Effect.gen(function*() {
      const run = yield* runCli(["prompt", "hi", "--stream", "--mock-reply", REPLY, "--mock-faults", "cut:2"], { cwd: tempDir() })
      assert.strictEqual(run.exitCode, 1)
      assert.strictEqual(run.stdout, "alpha beta \n")
      assert.strictEqual(errorLines(run.stderr).length, 1)
      assert.include(errorLines(run.stderr)[0], "Network")
      assert.notInclude(run.stderr, "usage:")
    }), TIMEOUT)

  it.live("--json, the usual exit codes: a timeout exits 3, a budget refusal 1, bad configuration 2, each with one error line", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [ReadonlyArray<string>, string, number]> = [
        [["--mock-faults", "timeout", "--max-retries", "0"], "Timeout", 3],
        [["--max-total-tokens", "1"], "BudgetExceeded", 1],
        [["--provider", "no-such-provider"], "Configuration", 2],
        [["--no-such-flag"], "Configuration", 2]
      ]
      for (const [args, errorType, code] of cases) {
        const run = yield* runCli(["prompt", "hi", "--stream", "--json", ...args], { cwd: tempDir() })
        assert.strictEqual(run.exitCode, code, `${args.join(" ")}: ${run.stderr}`)
        const events = jsonLines(run.stdout)
        assert.strictEqual(events.length, 1, run.stdout)
        assert.strictEqual(events[0]!.type, "error")
        assert.strictEqual(events[0]!.errorType, errorType, run.stdout)
      }
    }), TIMEOUT)

  it.live("--timeout bounds the whole stream: parts arriving steadily still end at the call timeout, exit 3", () =>
    Effect.gen(function*() {
      // 300 ms per chunk (each well within the idle timeout), 4 chunks: the 500 ms call timeout ends it.
      const run = yield* runCli(
        ["prompt", "hi", "--stream", "--json", "--mock-reply", REPLY, "--mock-latency", "300ms", "--timeout", "500ms"],
        { cwd: tempDir() }
      )
      assert.strictEqual(run.exitCode, 3, run.stderr)
      const events = jsonLines(run.stdout)
      const last = events.at(-1)!
      assert.strictEqual(last.type, "error")
      assert.strictEqual(last.errorType, "Timeout")
      assert.strictEqual(last.scope, "call")
      assert.isTrue(events.slice(0, -1).every((event) => event.type === "text-delta"))
      assert.notStrictEqual(textOf(events), REPLY)
    }), TIMEOUT)

  it.live("--stream-idle-timeout: a pause between parts longer than it fails the stream with Timeout (scope idle), exit 3", () =>
    Effect.gen(function*() {
      // 400 ms per chunk: the first part is within the attempt timeout, the wait for the second is not within 150 ms.
      const run = yield* runCli(
        ["prompt", "hi", "--stream", "--json", "--mock-reply", REPLY, "--mock-latency", "400ms", "--stream-idle-timeout", "150ms"],
        { cwd: tempDir() }
      )
      assert.strictEqual(run.exitCode, 3, run.stderr)
      const events = jsonLines(run.stdout)
      assert.deepStrictEqual(events.map((event) => event.type), ["text-delta", "error"])
      assert.strictEqual(events[0]!.text, "alpha ")
      assert.strictEqual(events[1]!.errorType, "Timeout")
      assert.strictEqual(events[1]!.scope, "idle")
      assert.include(String(events[1]!.error), "--stream-idle-timeout")
    }), TIMEOUT)

  it.live("--json with a provider that streams tool calls: tool-call-delta lines, then the finish line with the calls", () =>
    Effect.gen(function*() {
      const call = (index: number, fields: Record<string, unknown>) => Fake.data(Fake.chunk({ delta: { tool_calls: [{ index, ...fields }] } }))
      const fake = yield* Fake.start(() =>
        Fake.sse([
          Fake.data(Fake.chunk({ delta: { role: "assistant", content: "Checking." } })),
          call(0, { id: "call_weather", type: "function", function: { name: "weather", arguments: "{\"city\": " } }),
          call(0, { function: { arguments: "\"Paris\"}" } }),
          Fake.data(Fake.chunk({ delta: {}, finish_reason: "tool_calls" })),
          Fake.data(Fake.chunk(undefined, { usage: Fake.usage })),
          Fake.DONE
        ])
      )
      const run = yield* runCli(
        ["prompt", "Weather in Paris?", "--stream", "--json", "--provider", "openai-compatible", "--base-url", `${fake.origin}/v1`],
        { cwd: tempDir() }
      )
      assert.strictEqual(run.exitCode, 0, run.stderr)
      const events = jsonLines(run.stdout)
      assert.deepStrictEqual(events.slice(0, -1), [
        { type: "text-delta", text: "Checking." },
        { type: "tool-call-delta", index: 0, id: "call_weather", name: "weather", argumentsDelta: "{\"city\": " },
        { type: "tool-call-delta", index: 0, argumentsDelta: "\"Paris\"}" }
      ])
      const response = Schema.decodeUnknownSync(LlmResponse)(events.at(-1)!.response)
      assert.strictEqual(response.finishReason, "tool-calls")
      assert.deepStrictEqual(response.parts, [
        { type: "text", text: "Checking." },
        { type: "tool-call", id: "call_weather", name: "weather", params: { city: "Paris" } }
      ])
      assert.strictEqual((fake.requests[0]!.body as { stream?: boolean }).stream, true)
    }), TIMEOUT)
})

describe("llm-connect prompt --stream, Ctrl-C mid-stream (subprocess)", () => {
  it.live("--json: the deltas so far, then the interrupted error line; exit 130; the call is in the usage ledger", () =>
    Effect.gen(function*() {
      const cwd = tempDir()
      const child = start(["prompt", "hi", "--stream", "--json", "--mock-reply", REPLY, "--mock-latency", "1s"], cwd)
      yield* Effect.promise(() => stdoutReaches(child, (stdout) => stdout.includes("\n")))
      process.kill(child.pid, "SIGINT")
      assert.strictEqual(yield* Effect.promise(() => child.exited), 130)
      const events = jsonLines(child.stdout())
      const last = events.at(-1)!
      assert.deepStrictEqual(last, { type: "error", ...INTERRUPTED_DOCUMENT })
      const deltas = events.slice(0, -1)
      assert.isAtLeast(deltas.length, 1)
      assert.isTrue(deltas.every((event) => event.type === "text-delta"))
      assert.isTrue(REPLY.startsWith(textOf(deltas)))
      assert.notStrictEqual(textOf(deltas), REPLY)
      assert.deepStrictEqual(errorLines(child.stderr()), ["llm-connect: error: interrupted"])
      // The interrupted stream was recorded as one cancelled call, with what it had used by then.
      const ledger = yield* ledgerByOutcome(cwd)
      assert.strictEqual(ledger.totals.calls, 1)
      assert.strictEqual(ledger.totals.errors, 1)
      assert.deepStrictEqual(ledger.groups.map((group) => [group.key, group.calls]), [["Interrupted", 1]])
      assert.isAbove(ledger.totals.inputTokens, 0)
      const rows = yield* Effect.scoped(Effect.flatMap(UsageLedger.makeSqlite(ledger.ledger), (opened) => opened.entries()))
      assert.strictEqual(rows.length, 1)
      assert.strictEqual(rows[0]!.outcome, "Interrupted")
      assert.isTrue(rows[0]!.cancelled)
      assert.isAbove(rows[0]!.inputTokens, 0)
      assert.isAbove(rows[0]!.totalTokens, 0)
    }), TIMEOUT)

  it.live("plain text: the text so far ends its line, one error line, nothing after; exit 130", () =>
    Effect.promise(async () => {
      const child = start(["prompt", "hi", "--stream", "--mock-reply", REPLY, "--mock-latency", "1s"], tempDir())
      await stdoutReaches(child, (stdout) => stdout.length > 0)
      process.kill(child.pid, "SIGINT")
      assert.strictEqual(await child.exited, 130)
      const stdout = child.stdout()
      assert.isTrue(stdout.endsWith("\n"), JSON.stringify(stdout))
      assert.isTrue(REPLY.startsWith(stdout.slice(0, -1)), JSON.stringify(stdout))
      assert.isTrue(stdout.startsWith("alpha "))
      assert.deepStrictEqual(errorLines(child.stderr()), ["llm-connect: error: interrupted"])
      assert.notInclude(child.stderr(), "usage:")
    }), TIMEOUT)

  it.live("an HTTP provider: Ctrl-C closes the connection (the server sees it), exit 130", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.start(() => Fake.sse(Fake.textStream({ texts: ["The Nile "] }).slice(0, 2), { then: "hang" }))
      const child = start(
        ["prompt", "Name a river", "--stream", "--json", "--provider", "openai-compatible", "--base-url", `${fake.origin}/v1`],
        tempDir()
      )
      yield* Effect.promise(() => stdoutReaches(child, (stdout) => stdout.includes("\n")))
      assert.deepStrictEqual(jsonLines(child.stdout()), [{ type: "text-delta", text: "The Nile " }])
      process.kill(child.pid, "SIGINT")
      yield* fake.abandoned
      assert.strictEqual(yield* Effect.promise(() => child.exited), 130)
      assert.deepStrictEqual(jsonLines(child.stdout()).at(-1), { type: "error", ...INTERRUPTED_DOCUMENT })
      assert.strictEqual(yield* fake.abandonedTotal, 1)
    }), TIMEOUT)

  it.live("stdout closed by its reader (| head): the stream stops, one error line on stderr, exit 1, the call recorded", () =>
    Effect.gen(function*() {
      const cwd = tempDir()
      const child = spawn(nodeBin, [binScript, "prompt", "hi", "--stream", "--mock-reply", REPLY, "--mock-latency", "300ms"], {
        cwd,
        env: baseEnv(cwd),
        stdio: ["ignore", "pipe", "pipe"]
      })
      let stderr = ""
      child.stderr.on("data", (chunk) => (stderr += String(chunk)))
      const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)))
      // The reader takes the first delta and goes away, as `head -c 1` does.
      yield* Effect.promise(() => new Promise<void>((resolve) => child.stdout.once("data", () => resolve())))
      child.stdout.destroy()
      assert.strictEqual(yield* Effect.promise(() => exited), 1)
      assert.deepStrictEqual(errorLines(stderr).length, 1, stderr)
      assert.include(errorLines(stderr)[0], "could not write the answer to stdout")
      assert.notInclude(stderr, "Unhandled")
      const ledger = yield* ledgerByOutcome(cwd)
      assert.strictEqual(ledger.totals.calls, 1)
    }), TIMEOUT)
})
