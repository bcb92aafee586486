/**
 * The Claude Code provider's native stream: the REAL `claude` binary (the devDependency) run with
 * `--output-format stream-json --verbose --include-partial-messages` against a fake Anthropic
 * Messages API on 127.0.0.1, and shell scripts standing in for the binary where a test needs
 * output the real one would not print.
 */
import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Fiber, FileSystem, Stream } from "effect"
import { existsSync } from "node:fs"
import * as CallContext from "../../../src/CallContext.ts"
import type * as LlmError from "../../../src/LlmError.ts"
import * as LlmRequest from "../../../src/LlmRequest.ts"
import * as ClaudeCodeLanguageModel from "../../../src/providers/claude-code/ClaudeCodeLanguageModel.ts"
import type * as StreamPart from "../../../src/StreamPart.ts"
import * as Harness from "./ClaudeCodeHarness.ts"
import * as FakeAnthropicApi from "./FakeAnthropicApi.ts"

const TIMEOUT = 120_000

const setup = (options: {
  readonly mode?: FakeAnthropicApi.Mode
  readonly spawnChild?: boolean
  readonly timeout?: Duration.Input
} = {}) =>
  Effect.gen(function*() {
    const api = yield* FakeAnthropicApi.start(options.mode)
    const wrapper = yield* Harness.makeWrapper({ spawnChild: options.spawnChild ?? false })
    const model = yield* ClaudeCodeLanguageModel.make({
      binaryPath: wrapper.path,
      baseUrl: api.origin,
      env: wrapper.env,
      ...(options.timeout !== undefined ? { timeout: options.timeout } : {})
    })
    return { api, wrapper, model }
  })

/** The parts a stream emitted before it failed, and its error. */
const failing = <R>(stream: Stream.Stream<StreamPart.StreamPart, LlmError.LlmError, R>, onPart: () => void = () => undefined) =>
  Effect.gen(function*() {
    const seen: Array<StreamPart.StreamPart> = []
    const error = yield* Effect.flip(Stream.runForEach(stream, (part) =>
      Effect.sync(() => {
        seen.push(part)
        onPart()
      })))
    return { seen, error }
  })

/**
 * What the fake API waits for before it writes past the first delta (`holdAfterFirstDelta`):
 * opened by the test once its consumer has that delta, so what the consumer saw does not depend
 * on how fast a loaded machine moves bytes through the CLI. After 30 s it opens by itself, so a
 * provider that held the deltas back until the end fails the assertions instead of hanging.
 */
const firstDeltaGate = () => {
  let resolve: () => void = () => undefined
  const opened = new Promise<void>((done) => {
    resolve = done
  })
  const timer = setTimeout(() => resolve(), 30_000)
  return {
    opened,
    open: () => {
      clearTimeout(timer)
      resolve()
    }
  }
}

const textOf = (parts: ReadonlyArray<StreamPart.StreamPart>): string =>
  parts.map((part) => (part.type === "text-delta" ? part.text : "")).join("")

const finishOf = (parts: ReadonlyArray<StreamPart.StreamPart>) => {
  const last = parts.at(-1)
  assert.strictEqual(last?.type, "finish")
  assert.strictEqual(parts.filter((part) => part.type === "finish").length, 1)
  return (last as StreamPart.Finish).response
}

/** A stand-in for the binary: a shell script with the given body, after it reads its stdin. */
const scriptBinary = (body: (dir: string) => string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const dir = yield* Effect.orDie(fs.makeTempDirectoryScoped({ prefix: "llm-connect-fake-claude-" }))
    const file = `${dir}/claude`
    yield* Effect.orDie(fs.writeFileString(file, `#!/bin/sh\ncat >/dev/null\n${body(dir)}\n`))
    yield* Effect.orDie(fs.chmod(file, 0o755))
    return { file, dir }
  })

const line = (value: unknown) => `${JSON.stringify(value)}\n`
const deltaLine = (text: string) =>
  line({
    type: "stream_event",
    event: { type: "content_block_delta", index: 0, delta: { type: "text_delta", text } },
    parent_tool_use_id: null,
    session_id: "s-1"
  })
const resultLine = (text: string) =>
  line({
    type: "result",
    subtype: "success",
    is_error: false,
    result: text,
    session_id: "s-1",
    total_cost_usd: 0.0001,
    usage: { input_tokens: 5, output_tokens: 2 }
  })
/** A shell line printing `text` as is (single-quoted). */
const print = (text: string) => `printf '%s' '${text.replaceAll("'", "'\\''")}'`

describe("ClaudeCodeLanguageModel.stream (real claude binary, fake API)", () => {
  it.live("runs stream-json with partial messages; text deltas arrive before the end, then one finish from the result", () =>
    Effect.gen(function*() {
      const texts = ["Hello ", "from ", "the ", "stream"]
      // The API holds the rest of its answer until the consumer has the first delta.
      const gate = firstDeltaGate()
      const { api, model, wrapper } = yield* setup({ mode: { _tag: "Paced", texts, pauseMs: 50, holdAfterFirstDelta: gate.opened } })
      const parts: Array<StreamPart.StreamPart> = []
      let writtenAtFirstDelta = -1
      yield* Stream.runForEach(model.stream(LlmRequest.make({ prompt: "Say hello", model: "haiku" })), (part) =>
        Effect.gen(function*() {
          if (parts.length === 0) {
            writtenAtFirstDelta = yield* api.server.chunksWritten
            gate.open()
          }
          parts.push(part)
        }))
      // message_start, content_block_start and the first delta of the 9 events of the answer
      const total = FakeAnthropicApi.events("haiku", FakeAnthropicApi.defaultAnswer, texts).length
      assert.strictEqual(total, 5 + texts.length)
      assert.strictEqual(writtenAtFirstDelta, 3, "the first delta came while the API was still answering")
      assert.deepStrictEqual(parts.slice(0, texts.length), texts.map((text) => ({ type: "text-delta", text })))
      const response = finishOf(parts)
      assert.strictEqual(response.content, texts.join(""))
      assert.strictEqual(textOf(parts), response.content)
      assert.strictEqual(response.provider, "claude-code")
      assert.strictEqual(response.finishReason, "stop")
      assert.strictEqual(response.rawFinishReason, "end_turn")
      assert.match(response.model, /haiku/)
      assert.isString(response.requestId)

      const [run] = wrapper.runs()
      assert.deepStrictEqual(run!.args.slice(0, 6), ["-p", "--output-format", "stream-json", "--verbose", "--include-partial-messages", "--model"])
      assert.isFalse(existsSync(run!.cwd), "the working directory is removed")
    }).pipe(Effect.provide(NodeServices.layer)), TIMEOUT)

  it.live("usage and cost come from the result event: the same as generate reports for the same answer", () =>
    Effect.gen(function*() {
      const { model } = yield* setup({ mode: { _tag: "Paced", texts: ["One ", "two ", "three"], pauseMs: 20 } })
      const streamed = finishOf(yield* Stream.runCollect(model.stream(LlmRequest.make("Count"))))
      const generated = yield* model.generate(LlmRequest.make("Count"))
      // 12 uncached + 3 cache reads + 2 cache writes, 7 out: the message's usage once
      assert.deepStrictEqual(streamed.usage, { inputTokens: 17, outputTokens: 7, totalTokens: 24, cachedInputTokens: 3 })
      assert.deepStrictEqual(streamed.usage, generated.usage)
      assert.strictEqual(streamed.cost?.source, "provider")
      assert.isAbove(streamed.cost?.usd ?? 0, 0)
      assert.strictEqual(streamed.cost?.usd, generated.cost?.usd)
      assert.strictEqual(streamed.content, generated.content)
    }).pipe(Effect.provide(NodeServices.layer)), TIMEOUT)

  it.live("interrupting the consumer mid-stream kills the CLI and the processes it started", () =>
    Effect.gen(function*() {
      const { api, model, wrapper } = yield* setup({
        mode: { _tag: "Paced", texts: ["Hel"], pauseMs: 10, then: "hang" },
        spawnChild: true
      })
      let firstDelta: () => void = () => undefined
      const gotDelta = new Promise<void>((resolve) => {
        firstDelta = resolve
      })
      const seen: Array<StreamPart.StreamPart> = []
      const fiber = yield* Effect.forkChild(Stream.runForEach(model.stream(LlmRequest.make("hi")), (part) =>
        Effect.sync(() => {
          seen.push(part)
          firstDelta()
        })))
      yield* Effect.promise(() => gotDelta)
      const [run] = wrapper.runs()
      assert.isTrue(Harness.isAlive(run!.pid))
      yield* Fiber.interrupt(fiber)
      assert.deepStrictEqual(seen, [{ type: "text-delta", text: "Hel" }])
      assert.isTrue(yield* Harness.awaitGone(run!.pid), "the claude process is gone")
      assert.isTrue(yield* Harness.awaitGone(run!.child!), "its child is gone")
      assert.isFalse(existsSync(run!.cwd), "the working directory is removed")
      yield* api.server.abandoned.pipe(Effect.timeout("10 seconds"))
    }).pipe(Effect.provide(NodeServices.layer)), TIMEOUT)

  it.live("a consumer that stops after the first delta stops the CLI too", () =>
    Effect.gen(function*() {
      const { model, wrapper } = yield* setup({ mode: { _tag: "Paced", texts: ["a", "b", "c"], pauseMs: 10, then: "hang" } })
      const parts = yield* Stream.runCollect(model.stream(LlmRequest.make("hi")).pipe(Stream.take(1)))
      assert.deepStrictEqual(parts, [{ type: "text-delta", text: "a" }])
      assert.isTrue(yield* Harness.awaitGone(wrapper.runs()[0]!.pid))
    }).pipe(Effect.provide(NodeServices.layer)), TIMEOUT)

  it.live("an error result fails the stream as generate fails (429 -> RateLimited, status kept); nothing was sent", () =>
    Effect.gen(function*() {
      const { api, model } = yield* setup({ mode: { _tag: "Status", status: 429, message: "fake rate limit" } })
      const { error, seen } = yield* failing(model.stream(LlmRequest.make("hi")))
      assert.deepStrictEqual(seen, [])
      assert.strictEqual(error.reason._tag, "RateLimited")
      assert.strictEqual(error.status, 429)
      assert.isTrue(error.isRetryable)
      assert.strictEqual(api.messageRequests().length, 1, "the CLI's own retries are off")
    }).pipe(Effect.provide(NodeServices.layer)), TIMEOUT)

  it.live("a run stopped at its USD budget fails with BudgetExceeded carrying what it spent (LlmError.spent)", () =>
    Effect.gen(function*() {
      const { model } = yield* setup({ mode: { _tag: "Paced", texts: ["Some ", "text"], pauseMs: 10 } })
      const { error } = yield* failing(model.stream(LlmRequest.make("hi")).pipe(
        Stream.provideService(CallContext.RemainingBudget, { costUsd: 0.00000001 })
      ))
      assert.strictEqual(error.reason._tag, "BudgetExceeded")
      assert.isFalse(error.isRetryable)
      assert.isAbove(error.spent?.costUsd ?? 0, 0)
    }).pipe(Effect.provide(NodeServices.layer)), TIMEOUT)

  it.live("the CLI lost its API stream and answered anew: Network (the text sent cannot be taken back), with what it spent", () =>
    Effect.gen(function*() {
      // The connection drops once the consumer has the first delta.
      const gate = firstDeltaGate()
      const { api, model } = yield* setup({
        mode: { _tag: "Paced", texts: ["Partial "], pauseMs: 10, then: "destroy", fallbackText: "A different answer", holdAfterFirstDelta: gate.opened }
      })
      const { error, seen } = yield* failing(model.stream(LlmRequest.make("hi")), gate.open)
      assert.deepStrictEqual(seen, [{ type: "text-delta", text: "Partial " }])
      assert.strictEqual(error.reason._tag, "Network")
      assert.include(error.message, "cannot be taken back")
      assert.isAbove(error.spent?.costUsd ?? 0, 0)
      assert.deepStrictEqual(api.messageRequests().map((body) => body.stream), [true, false])
    }).pipe(Effect.provide(NodeServices.layer)), TIMEOUT)

  it.live("an answer that continues what was streamed finishes: the rest goes out as one more delta", () =>
    Effect.gen(function*() {
      // The connection drops once the consumer has the first delta.
      const gate = firstDeltaGate()
      const { model } = yield* setup({
        mode: { _tag: "Paced", texts: ["Partial "], pauseMs: 10, then: "destroy", fallbackText: "Partial answer, whole", holdAfterFirstDelta: gate.opened }
      })
      const parts = yield* Stream.runCollect(model.stream(LlmRequest.make("hi")).pipe(Stream.tap(() => Effect.sync(gate.open))))
      assert.deepStrictEqual(parts.slice(0, 2), [
        { type: "text-delta", text: "Partial " },
        { type: "text-delta", text: "answer, whole" }
      ])
      assert.strictEqual(finishOf(parts).content, "Partial answer, whole")
      // Two CLI processes (the stream, then the whole answer): seconds each on a loaded machine.
    }).pipe(Effect.provide(NodeServices.layer)), 180_000)

  it.live("a run past its timeout is stopped: Timeout, and the process is gone", () =>
    Effect.gen(function*() {
      const { model, wrapper } = yield* setup({ mode: { _tag: "Hang" }, timeout: Duration.seconds(3) })
      const { error } = yield* failing(model.stream(LlmRequest.make("hi")))
      assert.strictEqual(error.reason._tag, "Timeout")
      assert.isTrue(error.isRetryable)
      assert.isTrue(yield* Harness.awaitGone(wrapper.runs()[0]!.pid))
    }).pipe(Effect.provide(NodeServices.layer)), TIMEOUT)
})

describe("ClaudeCodeLanguageModel.stream: reading the CLI's output", () => {
  it.live("the stream ends when the CLI exits, even while a descendant holds stdout open; the descendant is stopped", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const { dir, file } = yield* scriptBinary((dir) =>
        [print(deltaLine("do") + deltaLine("ne") + resultLine("done")), "sleep 300 &", `echo $! > ${dir}/child.pid`, "exit 0"]
          .join("\n")
      )
      const model = yield* ClaudeCodeLanguageModel.make({ binaryPath: file, timeout: "60 seconds" })
      const started = Date.now()
      const parts = yield* Stream.runCollect(model.stream(LlmRequest.make("hi")))
      assert.isBelow(Date.now() - started, 15_000, "not held until the 60 s timeout")
      assert.deepStrictEqual(parts.slice(0, 2), [{ type: "text-delta", text: "do" }, { type: "text-delta", text: "ne" }])
      const response = finishOf(parts)
      assert.strictEqual(response.content, "done")
      assert.deepStrictEqual(response.usage, { inputTokens: 5, outputTokens: 2, totalTokens: 7, cachedInputTokens: 0 })
      assert.deepStrictEqual(response.cost, { usd: 0.0001, source: "provider" })
      const child = Number((yield* Effect.orDie(fs.readFileString(`${dir}/child.pid`))).trim())
      assert.isTrue(yield* Harness.awaitGone(child), "the descendant is gone")
    }).pipe(Effect.provide(NodeServices.layer)), TIMEOUT)

  it.live("output after the result line is read and dropped: the CLI never blocks on a full pipe", () =>
    Effect.gen(function*() {
      const { file } = yield* scriptBinary(() => [print(resultLine("done")), "head -c 2000000 /dev/zero | tr '\\0' y", "exit 0"].join("\n"))
      const model = yield* ClaudeCodeLanguageModel.make({ binaryPath: file, timeout: "60 seconds" })
      const started = Date.now()
      const parts = yield* Stream.runCollect(model.stream(LlmRequest.make("hi")))
      assert.isBelow(Date.now() - started, 15_000, "not held until the 60 s timeout")
      assert.strictEqual(finishOf(parts).content, "done")
    }).pipe(Effect.provide(NodeServices.layer)), TIMEOUT)

  it.live("lines that are not JSON are skipped; a result without deltas is sent as one delta", () =>
    Effect.gen(function*() {
      const { file } = yield* scriptBinary(() => print(`Warning: something\n${resultLine("whole answer")}`))
      const model = yield* ClaudeCodeLanguageModel.make({ binaryPath: file })
      const parts = yield* Stream.runCollect(model.stream(LlmRequest.make("hi")))
      assert.deepStrictEqual(parts[0], { type: "text-delta", text: "whole answer" })
      assert.strictEqual(finishOf(parts).content, "whole answer")
    }).pipe(Effect.provide(NodeServices.layer)), TIMEOUT)

  it.live("no result: Unknown with the exit code after JSON lines; ResponseMalformed after lines that are not JSON", () =>
    Effect.gen(function*() {
      const { file } = yield* scriptBinary(() => [print(deltaLine("par")), "exit 2"].join("\n"))
      const crashed = yield* failing(
        Stream.unwrap(Effect.map(ClaudeCodeLanguageModel.make({ binaryPath: file }), (model) => model.stream(LlmRequest.make("hi"))))
      )
      assert.deepStrictEqual(crashed.seen, [{ type: "text-delta", text: "par" }])
      assert.strictEqual(crashed.error.reason._tag, "Unknown")
      assert.include(crashed.error.message, "exited with code 2")
      const { file: garbage } = yield* scriptBinary(() => print("Welcome to Claude Code!\n"))
      const malformed = yield* failing(
        Stream.unwrap(Effect.map(ClaudeCodeLanguageModel.make({ binaryPath: garbage }), (model) => model.stream(LlmRequest.make("hi"))))
      )
      assert.strictEqual(malformed.error.reason._tag, "ResponseMalformed")
      assert.notInclude(malformed.error.message, "Welcome", "the output itself is not quoted")
    }).pipe(Effect.provide(NodeServices.layer)), TIMEOUT)

  it.live("output past maxResponseBytes (one endless line) stops the CLI: ResponseMalformed naming the cap", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const { dir, file } = yield* scriptBinary((dir) => `echo $$ > ${dir}/self.pid\nhead -c 50000000 /dev/zero | tr '\\0' x`)
      const model = yield* ClaudeCodeLanguageModel.make({ binaryPath: file, maxResponseBytes: 1024 * 1024 })
      const { error } = yield* failing(model.stream(LlmRequest.make("hi")))
      assert.strictEqual(error.reason._tag, "ResponseMalformed")
      assert.include(error.message, "the output of the claude CLI")
      assert.include(error.message, "1 MiB")
      const pid = Number((yield* Effect.orDie(fs.readFileString(`${dir}/self.pid`))).trim())
      assert.isTrue(yield* Harness.awaitGone(pid), "the CLI is stopped")
    }).pipe(Effect.provide(NodeServices.layer)), TIMEOUT)

  it.live("a request refused before the CLI starts fails the stream the same way (empty prompt: InvalidRequest)", () =>
    Effect.gen(function*() {
      const { api, model, wrapper } = yield* setup()
      const { error, seen } = yield* failing(model.stream(LlmRequest.make("  \n")))
      assert.deepStrictEqual(seen, [])
      assert.strictEqual(error.reason._tag, "InvalidRequest")
      assert.strictEqual(wrapper.runs().length, 0)
      assert.strictEqual(api.messageRequests().length, 0)
    }).pipe(Effect.provide(NodeServices.layer)), TIMEOUT)
})
