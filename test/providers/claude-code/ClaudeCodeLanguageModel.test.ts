/**
 * The Claude Code provider with the REAL `claude` binary (the devDependency), run against a fake
 * Anthropic Messages API on 127.0.0.1. A wrapper script records how the binary was started.
 */
import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Duration, Effect, Fiber, FileSystem, Layer, Logger, Redacted, Stream } from "effect"
import { existsSync } from "node:fs"
import * as CallContext from "../../../src/CallContext.ts"
import type * as LlmError from "../../../src/LlmError.ts"
import * as LlmRequest from "../../../src/LlmRequest.ts"
import * as NodeProviders from "../../../src/node/NodeProviders.ts"
import * as ClaudeCodeLanguageModel from "../../../src/providers/claude-code/ClaudeCodeLanguageModel.ts"
import * as Invocation from "../../../src/providers/claude-code/internal/invocation.ts"
import * as ProviderRegistry from "../../../src/ProviderRegistry.ts"
import * as Harness from "./ClaudeCodeHarness.ts"
import * as FakeAnthropicApi from "./FakeAnthropicApi.ts"

const TIMEOUT = 120_000

/** A model on the real binary (through the recording wrapper) against the fake API. */
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

const argAfter = (args: ReadonlyArray<string>, flag: string): string | undefined => {
  const index = args.indexOf(flag)
  return index === -1 ? undefined : args[index + 1]
}

describe("ClaudeCodeLanguageModel (real claude binary, fake API)", () => {
  it.live("answers with the content, normalised usage, the provider's cost and warnings", () =>
    Effect.gen(function*() {
      const { api, model, wrapper } = yield* setup()
      const logs: Array<string> = []
      const capture = Logger.layer([Logger.formatSimple.pipe(Logger.map((line) => void logs.push(line)))])
      const response = yield* model.generate(LlmRequest.make({
        prompt: "Name one river",
        system: "You answer in one word.",
        model: "haiku",
        temperature: 0.2,
        topP: 0.9,
        maxTokens: 50,
        stop: ["\n"]
      })).pipe(Effect.provide(capture))

      assert.strictEqual(response.content, FakeAnthropicApi.defaultAnswer.text)
      assert.strictEqual(response.provider, "claude-code")
      assert.strictEqual(response.finishReason, "stop")
      assert.strictEqual(response.rawFinishReason, "end_turn")
      // 12 uncached + 3 cache reads + 2 cache writes
      assert.deepStrictEqual(response.usage, { inputTokens: 17, outputTokens: 7, totalTokens: 24, cachedInputTokens: 3 })
      assert.strictEqual(response.cost?.source, "provider")
      assert.isAbove(response.cost?.usd ?? 0, 0)
      assert.isString(response.requestId)
      assert.strictEqual(response.metadata?.sessionId, response.requestId)
      // the model the CLI resolved the alias to, as the fake saw it
      const sent = api.messageRequests()
      assert.strictEqual(sent.length, 1)
      assert.strictEqual(response.model, sent[0]!.model)
      assert.match(String(sent[0]!.model), /haiku/)
      assert.strictEqual(sent[0]!.stream, true)

      const warned = ["temperature", "topP", "maxTokens", "stop"]
      assert.strictEqual(response.warnings?.length, 4)
      for (const name of warned) {
        assert.isTrue(response.warnings!.some((warning) => warning.includes(name)), `warning for ${name}`)
        assert.isTrue(logs.some((line) => line.includes("WARN") && line.includes(name)), `log line for ${name}`)
      }
      // the prompt is never logged
      assert.isFalse(logs.some((line) => line.includes("Name one river")))

      // what the fake received: our system prompt (not Claude Code's agent prompt), our prompt, no tools
      assert.include(FakeAnthropicApi.systemTexts(sent[0]!), "You answer in one word.")
      assert.isFalse(FakeAnthropicApi.systemTexts(sent[0]!).some((text) => text.includes("You are an agent")))
      assert.include(FakeAnthropicApi.userTexts(sent[0]!), "Name one river")
      assert.isTrue(sent[0]!.tools === undefined || (Array.isArray(sent[0]!.tools) && sent[0]!.tools.length === 0))

      // how the binary was started
      const [run] = wrapper.runs()
      assert.isDefined(run)
      assert.deepStrictEqual(run!.args.slice(0, 3), ["-p", "--output-format", "json"])
      assert.strictEqual(argAfter(run!.args, "--model"), "haiku")
      assert.strictEqual(argAfter(run!.args, "--tools"), "")
      assert.strictEqual(argAfter(run!.args, "--max-turns"), "1")
      assert.include(run!.args, "--no-session-persistence")
      assert.notInclude(run!.args, "--max-budget-usd")
      assert.isFalse(run!.args.some((arg) => arg.includes("Name one river")), "the prompt is not an argument")
      assert.deepStrictEqual(run!.env, {
        DISABLE_AUTOUPDATER: "1",
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
        CLAUDE_CODE_MAX_RETRIES: "0",
        ANTHROPIC_BASE_URL: api.origin
      })
      // a fresh working directory, removed afterwards
      assert.match(run!.cwd, /llm-connect-claude-/)
      assert.isFalse(existsSync(run!.cwd))
    }).pipe(Effect.provide(NodeServices.layer)), TIMEOUT)

  it.live("renders a conversation into one prompt and system messages into the system prompt", () =>
    Effect.gen(function*() {
      const { api, model } = yield* setup()
      const request = LlmRequest.make({
        messages: [
          { role: "system", content: "Be brief." },
          { role: "user", content: "What is 2+2?" },
          { role: "assistant", content: "4" },
          { role: "user", content: "And doubled?" }
        ]
      })
      const response = yield* model.generate(request)
      assert.isUndefined(response.warnings)
      const [sent] = api.messageRequests()
      assert.include(FakeAnthropicApi.systemTexts(sent!), "Be brief.")
      const prompt = FakeAnthropicApi.userTexts(sent!).join("\n")
      assert.include(prompt, Invocation.renderPrompt(request).prompt)
      assert.include(prompt, "<assistant>\n4\n</assistant>")
      assert.isBelow(prompt.indexOf("What is 2+2?"), prompt.indexOf("And doubled?"))
    }).pipe(Effect.provide(NodeServices.layer)), TIMEOUT)

  it.live("passes the remaining USD budget as --max-budget-usd", () =>
    Effect.gen(function*() {
      const { model, wrapper } = yield* setup()
      yield* model.generate(LlmRequest.make("hi")).pipe(
        Effect.provideService(CallContext.RemainingBudget, { costUsd: 0.25, totalTokens: 1000 })
      )
      assert.strictEqual(argAfter(wrapper.runs()[0]!.args, "--max-budget-usd"), "0.25")
    }).pipe(Effect.provide(NodeServices.layer)), TIMEOUT)

  it.live("a run stopped by the CLI at its USD budget fails with BudgetExceeded and the cost it spent", () =>
    Effect.gen(function*() {
      const { model } = yield* setup()
      const error = yield* Effect.flip(model.generate(LlmRequest.make("hi")).pipe(
        Effect.provideService(CallContext.RemainingBudget, { costUsd: 0.00000001 })
      ))
      assert.strictEqual(error.reason._tag, "BudgetExceeded")
      const reason = error.reason as LlmError.BudgetExceeded
      assert.strictEqual(reason.dimension, "costUsd")
      assert.strictEqual(reason.limit, 0.00000001)
      assert.isAbove(reason.consumed, 0)
      assert.isFalse(error.isRetryable)
    }).pipe(Effect.provide(NodeServices.layer)), TIMEOUT)

  it.live("no USD budget left: fails before starting the CLI", () =>
    Effect.gen(function*() {
      const { api, model, wrapper } = yield* setup()
      const error = yield* Effect.flip(model.generate(LlmRequest.make("hi")).pipe(
        Effect.provideService(CallContext.RemainingBudget, { costUsd: 0 })
      ))
      assert.strictEqual(error.reason._tag, "BudgetExceeded")
      assert.strictEqual(wrapper.runs().length, 0)
      assert.strictEqual(api.messageRequests().length, 0)
    }).pipe(Effect.provide(NodeServices.layer)), TIMEOUT)

  const apiErrors: ReadonlyArray<readonly [number, LlmError.ReasonTag, boolean]> = [
    [401, "Authentication", false],
    [400, "InvalidRequest", false],
    [429, "RateLimited", true],
    [500, "ServerError", true],
    [529, "Unavailable", true]
  ]
  it.live.each(apiErrors)("API answers %i: %s (retryable %s)", ([status, tag, retryable]) =>
    Effect.gen(function*() {
      const { api, model } = yield* setup({ mode: { _tag: "Status", status, message: `fake failure ${status}` } })
      const error = yield* Effect.flip(model.generate(LlmRequest.make("hi")))
      assert.strictEqual(error.reason._tag, tag)
      assert.strictEqual(error.status, status)
      assert.strictEqual(error.provider, "claude-code")
      assert.strictEqual(error.isRetryable, retryable)
      assert.notInclude(error.message, "test") // the key given to the CLI
      // the CLI's own retries of transient failures are off: retrying belongs to the resilience
      // layer (on a 400 the CLI itself tries again without some beta features: not a retry)
      if (retryable) assert.strictEqual(api.messageRequests().length, 1)
    }).pipe(Effect.provide(NodeServices.layer)), TIMEOUT)

  it.live("a request with tools is Unsupported before the CLI starts, on both paths (not silently ignored)", () =>
    Effect.gen(function*() {
      const { api, model, wrapper } = yield* setup()
      const request = LlmRequest.make({ prompt: "weather?", tools: [{ name: "get_weather", parameters: { type: "object" } }] })
      const error = yield* Effect.flip(model.generate(request))
      assert.strictEqual(error.reason._tag, "Unsupported")
      assert.strictEqual((error.reason as LlmError.Unsupported).feature, "tools")
      assert.include(error.message, "does not offer tool calling")
      const streamed = yield* Effect.flip(Stream.runDrain(model.stream(LlmRequest.make({ prompt: "hi", toolChoice: "required" }))))
      assert.strictEqual(streamed.reason._tag, "Unsupported")
      assert.strictEqual(wrapper.runs().length, 0)
      assert.strictEqual(api.messageRequests().length, 0)
    }).pipe(Effect.provide(NodeServices.layer)), TIMEOUT)

  it.live("a request for structured output is Unsupported before the CLI starts, on both paths", () =>
    Effect.gen(function*() {
      const { api, model, wrapper } = yield* setup()
      const responseFormat = { type: "json" as const, schema: { type: "object", properties: {} } }
      const error = yield* Effect.flip(model.generate(LlmRequest.make({ prompt: "x", responseFormat })))
      assert.strictEqual(error.reason._tag, "Unsupported")
      assert.strictEqual((error.reason as LlmError.Unsupported).feature, "structured-output")
      assert.include(error.message, "does not offer structured output")
      const streamed = yield* Effect.flip(Stream.runDrain(model.stream(LlmRequest.make({ prompt: "x", responseFormat }))))
      assert.strictEqual(streamed.reason._tag, "Unsupported")
      assert.strictEqual(wrapper.runs().length, 0)
      assert.strictEqual(api.messageRequests().length, 0)
    }).pipe(Effect.provide(NodeServices.layer)), TIMEOUT)

  it.live("an empty prompt is refused before the CLI starts", () =>
    Effect.gen(function*() {
      const { api, model, wrapper } = yield* setup()
      const error = yield* Effect.flip(model.generate(LlmRequest.make("  \n")))
      assert.strictEqual(error.reason._tag, "InvalidRequest")
      assert.strictEqual(wrapper.runs().length, 0)
      assert.strictEqual(api.messageRequests().length, 0)
    }).pipe(Effect.provide(NodeServices.layer)), TIMEOUT)

  it.live("a missing binary is a Configuration error that says how to install it", () =>
    Effect.gen(function*() {
      const model = yield* ClaudeCodeLanguageModel.make({ binaryPath: "/nonexistent/claude-llm-connect-test" })
      const error = yield* Effect.flip(model.generate(LlmRequest.make("hi")))
      assert.strictEqual(error.reason._tag, "Configuration")
      const reason = error.reason as LlmError.Configuration
      assert.strictEqual(reason.setting, "CLAUDE_CODE_PATH")
      assert.include(reason.fix, "npm i -g @anthropic-ai/claude-code")
      assert.include(error.message, "/nonexistent/claude-llm-connect-test")
    }).pipe(Effect.provide(NodeServices.layer)), TIMEOUT)

  /** A stand-in for the binary: a shell script that prints `stdout` and exits with `code`. */
  const fakeBinary = (stdout: string, code: number, stderr = "") =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const dir = yield* Effect.orDie(fs.makeTempDirectoryScoped({ prefix: "llm-connect-fake-claude-" }))
      const file = `${dir}/claude`
      const script = `#!/bin/sh\ncat >/dev/null\nprintf '%s' '${stdout}'\nprintf '%s' '${stderr}' >&2\nexit ${code}\n`
      yield* Effect.orDie(fs.writeFileString(file, script))
      yield* Effect.orDie(fs.chmod(file, 0o755))
      return file
    })

  it.live("output that is not a JSON result is ResponseMalformed; a refused argument is Unknown with stderr", () =>
    Effect.gen(function*() {
      const garbage = yield* fakeBinary("Welcome to Claude Code!", 0)
      const malformed = yield* Effect.flip(
        Effect.flatMap(ClaudeCodeLanguageModel.make({ binaryPath: garbage }), (model) => model.generate(LlmRequest.make("hi")))
      )
      assert.strictEqual(malformed.reason._tag, "ResponseMalformed")
      assert.notInclude(malformed.message, "Welcome", "the output itself is not quoted")

      const refusing = yield* fakeBinary("", 1, "error: unknown option --strict-mcp-config")
      const refused = yield* Effect.flip(
        Effect.flatMap(ClaudeCodeLanguageModel.make({ binaryPath: refusing }), (model) => model.generate(LlmRequest.make("hi")))
      )
      assert.strictEqual(refused.reason._tag, "Unknown")
      assert.include(refused.message, "unknown option --strict-mcp-config")
      assert.include(refused.message, "exited with code 1")
    }).pipe(Effect.provide(NodeServices.layer)), TIMEOUT)

  /** A stand-in for the binary: a shell script with the given body (after it reads its stdin, unless told not to). */
  const scriptBinary = (body: (dir: string) => string, options: { readonly readStdin?: boolean } = {}) =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const dir = yield* Effect.orDie(fs.makeTempDirectoryScoped({ prefix: "llm-connect-fake-claude-" }))
      const file = `${dir}/claude`
      const read = options.readStdin === false ? "" : "cat >/dev/null\n"
      yield* Effect.orDie(fs.writeFileString(file, `#!/bin/sh\n${read}${body(dir)}\n`))
      yield* Effect.orDie(fs.chmod(file, 0o755))
      return { file, dir }
    })

  const okResult = JSON.stringify({
    type: "result",
    subtype: "success",
    is_error: false,
    result: "done",
    session_id: "s-1",
    usage: { input_tokens: 5, output_tokens: 1 }
  })

  // The issue: a claude that printed its result and exited 0 but left a descendant holding stdout
  // was waited for until the provider timeout (10 minutes, then retried).
  it.live("a result printed before exit is the answer, even while a descendant holds stdout open", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const { dir, file } = yield* scriptBinary((dir) =>
        `printf '%s' '${okResult}'\nsleep 300 &\necho $! > ${dir}/child.pid\nexit 0`
      )
      const model = yield* ClaudeCodeLanguageModel.make({ binaryPath: file, timeout: "60 seconds" })
      const started = Date.now()
      const response = yield* model.generate(LlmRequest.make("hi"))
      assert.isBelow(Date.now() - started, 15_000, "not held until the 60 s timeout")
      assert.strictEqual(response.content, "done")
      assert.strictEqual(response.usage.inputTokens, 5)
      assert.strictEqual(response.usage.outputTokens, 1)
      // the descendant is stopped with the process group
      const child = Number((yield* Effect.orDie(fs.readFileString(`${dir}/child.pid`))).trim())
      assert.isTrue(yield* Harness.awaitGone(child), "the descendant is gone")
    }).pipe(Effect.provide(NodeServices.layer)), TIMEOUT)

  it.live("output past maxResponseBytes stops the CLI: ResponseMalformed naming the cap", () =>
    Effect.gen(function*() {
      const { dir, file } = yield* scriptBinary((dir) =>
        `echo $$ > ${dir}/self.pid\nhead -c 50000000 /dev/zero | tr '\\0' x\nprintf '%s' '${okResult}'`
      )
      const fs = yield* FileSystem.FileSystem
      const model = yield* ClaudeCodeLanguageModel.make({ binaryPath: file, maxResponseBytes: 1024 * 1024 })
      const error = yield* Effect.flip(model.generate(LlmRequest.make("hi")))
      assert.strictEqual(error.reason._tag, "ResponseMalformed")
      assert.isFalse(error.isRetryable)
      assert.include(error.message, "the output of the claude CLI")
      assert.include(error.message, "1 MiB")
      assert.include(error.message, "maxResponseBytes")
      const pid = Number((yield* Effect.orDie(fs.readFileString(`${dir}/self.pid`))).trim())
      assert.isTrue(yield* Harness.awaitGone(pid), "the CLI is stopped")
    }).pipe(Effect.provide(NodeServices.layer)), TIMEOUT)

  it.live("a large stderr does not fail a run that printed its result; it is quoted short", () =>
    Effect.gen(function*() {
      const { file } = yield* scriptBinary(() => `head -c 5000000 /dev/zero | tr '\\0' e >&2\nprintf '%s' '${okResult}'`)
      const model = yield* ClaudeCodeLanguageModel.make({ binaryPath: file })
      assert.strictEqual((yield* model.generate(LlmRequest.make("hi"))).content, "done")
      const { file: failing } = yield* scriptBinary(() => `head -c 5000000 /dev/zero | tr '\\0' e >&2\nexit 3`)
      const failed = yield* Effect.flip(Effect.flatMap(ClaudeCodeLanguageModel.make({ binaryPath: failing }), (m) => m.generate(LlmRequest.make("hi"))))
      assert.include(failed.message, "exited with code 3")
      assert.isBelow(failed.message.length, 1_000)
    }).pipe(Effect.provide(NodeServices.layer)), TIMEOUT)

  it.live("the real binary without a login or key: Authentication saying to log in, no HTTP status", () =>
    Effect.gen(function*() {
      const api = yield* FakeAnthropicApi.start()
      const wrapper = yield* Harness.makeWrapper()
      // The CLI with no key and an empty HOME: nothing to log in with.
      const { file } = yield* scriptBinary(
        () => `unset ANTHROPIC_API_KEY ANTHROPIC_AUTH_TOKEN CLAUDE_CODE_OAUTH_TOKEN CLAUDE_CONFIG_DIR\nexec "${wrapper.env.CLAUDE_REAL_BINARY}" "$@"`,
        { readStdin: false }
      )
      const { ANTHROPIC_API_KEY: _unused, ...env } = wrapper.env
      const model = yield* ClaudeCodeLanguageModel.make({ binaryPath: file, baseUrl: api.origin, env })
      const error = yield* Effect.flip(model.generate(LlmRequest.make("hi")))
      assert.strictEqual(error.reason._tag, "Authentication", error.message)
      assert.isUndefined(error.status)
      assert.notInclude(error.message, "HTTP 401")
      assert.include(error.message, "`claude /login`")
      assert.include(error.message, "ANTHROPIC_API_KEY")
      assert.strictEqual(api.messageRequests().length, 0, "no request was made")
    }).pipe(Effect.provide(NodeServices.layer)), TIMEOUT)

  it.live("interrupting the call kills the CLI and the processes it started", () =>
    Effect.gen(function*() {
      const { api, model, wrapper } = yield* setup({ mode: { _tag: "Hang" }, spawnChild: true })
      const fiber = yield* Effect.forkChild(model.generate(LlmRequest.make("hi")))
      yield* api.server.nextRequest // the CLI is waiting on the API
      const [run] = wrapper.runs()
      assert.isTrue(Harness.isAlive(run!.pid))
      assert.isTrue(Harness.isAlive(run!.child!))
      yield* Fiber.interrupt(fiber)
      assert.isTrue(yield* Harness.awaitGone(run!.pid), "the claude process is gone")
      assert.isTrue(yield* Harness.awaitGone(run!.child!), "its child is gone")
      assert.isFalse(existsSync(run!.cwd), "the working directory is removed")
    }).pipe(Effect.provide(NodeServices.layer)), TIMEOUT)

  it.live("a run past its timeout is stopped: Timeout, and the process is gone", () =>
    Effect.gen(function*() {
      const { api, model, wrapper } = yield* setup({ mode: { _tag: "Hang" }, timeout: Duration.seconds(3) })
      const error = yield* Effect.flip(model.generate(LlmRequest.make("hi")))
      assert.strictEqual(error.reason._tag, "Timeout")
      assert.isTrue(error.isRetryable)
      assert.strictEqual(api.messageRequests().length, 1)
      const [run] = wrapper.runs()
      assert.isTrue(yield* Harness.awaitGone(run!.pid))
    }).pipe(Effect.provide(NodeServices.layer)), TIMEOUT)

  it.live("from the registry: an explicit key reaches the CLI as ANTHROPIC_API_KEY, baseUrl as ANTHROPIC_BASE_URL", () =>
    Effect.gen(function*() {
      const api = yield* FakeAnthropicApi.start({ _tag: "Status", status: 401, message: "invalid x-api-key" })
      const wrapper = yield* Harness.makeWrapper()
      const entry = yield* ClaudeCodeLanguageModel.provider
      const { ANTHROPIC_API_KEY: _unused, ...env } = wrapper.env
      assert.isFalse(entry.requiresKey)
      const model = yield* ProviderRegistry.make([entry]).pipe(Effect.flatMap((registry) =>
        registry.create({
          provider: "claude-code",
          model: "opus",
          baseUrl: api.origin,
          apiKey: Redacted.make("sk-ant-registry-key-123456"),
          // the wrapper's own variables go in options.env; the key must come from the config
          options: { binaryPath: wrapper.path, timeout: "2m", env }
        })
      ))
      assert.strictEqual(model.defaultModel, "opus")
      const error = yield* Effect.flip(model.generate(LlmRequest.make("hi")))
      assert.strictEqual(error.reason._tag, "Authentication")
      assert.notInclude(error.message, "sk-ant-registry-key-123456")
      const [sent] = api.server.requests.filter((request) => request.url.startsWith("/v1/messages"))
      assert.strictEqual(sent!.headers["x-api-key"], "sk-ant-registry-key-123456")
      assert.strictEqual(wrapper.runs()[0]!.env.ANTHROPIC_BASE_URL, api.origin)
    }).pipe(Effect.provide(NodeServices.layer)), TIMEOUT)

  it.live("is a built-in provider; CLAUDE_CODE_PATH names the binary", () =>
    Effect.gen(function*() {
      const api = yield* FakeAnthropicApi.start()
      const wrapper = yield* Harness.makeWrapper()
      const response = yield* Effect.gen(function*() {
        const entry = yield* ProviderRegistry.ProviderRegistry.use((registry) => registry.get("claude-code"))
        assert.strictEqual(entry.defaultModel, "sonnet")
        assert.isFalse(entry.requiresKey)
        assert.deepStrictEqual(entry.keyEnv, ["ANTHROPIC_API_KEY"])
        const model = yield* ProviderRegistry.create({ provider: "claude-code", baseUrl: api.origin, options: { env: wrapper.env } })
        return yield* model.generate(LlmRequest.make("hi"))
      }).pipe(Effect.provide(Layer.merge(
        NodeProviders.layer,
        ConfigProvider.layer(ConfigProvider.fromUnknown({ CLAUDE_CODE_PATH: wrapper.path }))
      )))
      assert.strictEqual(response.content, FakeAnthropicApi.defaultAnswer.text)
      assert.strictEqual(wrapper.runs().length, 1)
      assert.strictEqual(argAfter(wrapper.runs()[0]!.args, "--model"), "sonnet")
    }).pipe(Effect.provide(NodeServices.layer)), TIMEOUT)
})
