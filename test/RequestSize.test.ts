import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, FileSystem, Layer, Path, Stream } from "effect"
import * as LanguageModel from "../src/LanguageModel.ts"
import * as LlmConnectConfig from "../src/LlmConnectConfig.ts"
import type * as LlmError from "../src/LlmError.ts"
import * as LlmRequest from "../src/LlmRequest.ts"
import * as ModelFactory from "../src/ModelFactory.ts"
import * as NodeProviders from "../src/node/NodeProviders.ts"
import * as UsageLedger from "../src/observability/UsageLedger.ts"
import * as MockLanguageModel from "../src/providers/mock/MockLanguageModel.ts"
import * as ProviderRegistry from "../src/ProviderRegistry.ts"
import * as RequestSize from "../src/RequestSize.ts"
import * as Stack from "../src/Stack.ts"
import * as WorkflowYaml from "../src/workflow/WorkflowYaml.ts"

const MiB = 1024 * 1024

/** CPU milliseconds this process used since `before` (`process.cpuUsage()`). */
const cpuMillisSince = (before: NodeJS.CpuUsage): number => {
  const used = process.cpuUsage(before)
  return (used.user + used.system) / 1_000
}

describe("RequestSize.measure", () => {
  it("counts UTF-8 bytes of the system prompt, every message (parts as their text) and the stop sequences", () => {
    const request: LlmRequest.LlmRequest = {
      system: "é",
      messages: [
        { role: "user", content: "東京" },
        { role: "assistant", content: [{ type: "tool-call", id: "1", name: "f", params: { a: 1 } }] }
      ],
      stop: ["\u{1F600}"]
    }
    assert.strictEqual(RequestSize.measure(request), 2 + 6 + "f{\"a\":1}".length + 4)
  })

  it("excess is the size only past the limit", () => {
    const request = LlmRequest.make("ü".repeat(100))
    assert.isUndefined(RequestSize.excess(request, 200))
    assert.strictEqual(RequestSize.excess(request, 199), 200)
    assert.isUndefined(RequestSize.excess(LlmRequest.make("x".repeat(10)), 10))
  })

  it("formats sizes for people", () => {
    assert.strictEqual(RequestSize.formatBytes(300), "300 bytes")
    assert.strictEqual(RequestSize.formatBytes(512 * 1024), "512 KiB")
    assert.strictEqual(RequestSize.formatBytes(4 * MiB), "4 MiB")
    assert.strictEqual(RequestSize.formatBytes(10_000_000), "9.5 MiB")
  })
})

describe("RequestSize.layer", () => {
  const mock = MockLanguageModel.layer({ reply: "echo" })

  it.effect("a request within the limit reaches the model unchanged", () =>
    Effect.gen(function*() {
      const request = LlmRequest.make("x".repeat(100))
      const response = yield* LanguageModel.LanguageModel.use((model) => model.generate(request))
      assert.strictEqual(response.content, "x".repeat(100))
      const calls = yield* MockLanguageModel.MockLanguageModel.use((control) => control.calls)
      assert.strictEqual(calls[0], request)
    }).pipe(Effect.provide(Layer.provideMerge(RequestSize.layer(100), mock))))

  it.effect("a request over it fails with InvalidRequest naming the size, the limit and the setting; nothing is sent", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(LanguageModel.generate({ prompt: "x".repeat(101), model: "m1" }))
      assert.strictEqual(error.reason._tag, "InvalidRequest")
      assert.strictEqual((error.reason as LlmError.InvalidRequest).parameter, "maxRequestBytes")
      assert.isFalse(error.isRetryable)
      assert.strictEqual(error.provider, "mock")
      assert.strictEqual(error.model, "m1")
      assert.include(error.message, "101 bytes")
      assert.include(error.message, "100 bytes")
      assert.include(error.message, "maxRequestBytes")
      assert.include(error.message, "--max-request-bytes")
      assert.include(error.message, "LLM_CONNECT_MAX_REQUEST_BYTES")
      // the stream path is guarded too
      const streamed = yield* Effect.flip(Stream.runDrain(LanguageModel.stream("x".repeat(101))))
      assert.strictEqual(streamed.reason._tag, "InvalidRequest")
      const calls = yield* MockLanguageModel.MockLanguageModel.use((control) => control.calls)
      assert.strictEqual(calls.length, 0)
    }).pipe(Effect.provide(Layer.provideMerge(RequestSize.layer(100), mock))))

  it.effect("the default limit is 4 MiB", () =>
    Effect.gen(function*() {
      assert.strictEqual(RequestSize.DEFAULT_MAX_REQUEST_BYTES, 4 * MiB)
      yield* LanguageModel.generate({ prompt: "x".repeat(4 * MiB), maxTokens: 1 })
      const error = yield* Effect.flip(LanguageModel.generate("x".repeat(4 * MiB + 1)))
      assert.include(error.message, "over the maximum request size of 4 MiB (4194304 bytes)")
    }).pipe(Effect.provide(Layer.provideMerge(RequestSize.layer(), mock))))
})

describe("the stack refuses a request over maxRequestBytes", () => {
  const registry = ProviderRegistry.layer([MockLanguageModel.provider])

  it.effect("10 MB is refused before the PII guard, the budget and the provider, and observability records it", () =>
    Effect.gen(function*() {
      const ledger = yield* UsageLedger.makeMemory()
      const config: Stack.StackConfig = {
        provider: { provider: "mock", options: { reply: "echo" } },
        pii: { mode: "block" },
        budget: { budget: { totalTokens: 100_000_000 } }
      }
      yield* Effect.gen(function*() {
        const factory = yield* ModelFactory.ModelFactory
        const error = yield* Effect.flip(LanguageModel.generate("x".repeat(10_000_000)))
        assert.strictEqual(error.reason._tag, "InvalidRequest")
        assert.strictEqual((error.reason as LlmError.InvalidRequest).parameter, "maxRequestBytes")
        const snapshot = yield* factory.budget!.snapshot
        assert.strictEqual(snapshot.consumed.totalTokens, 0)
        assert.strictEqual(snapshot.reserved.totalTokens, 0)
        const entries = yield* ledger.entries()
        assert.strictEqual(entries.length, 1)
        assert.strictEqual(entries[0]!.outcome, "InvalidRequest")
      }).pipe(Effect.provide(Stack.layerFactory(config).pipe(
        Layer.provide(registry),
        Layer.provide(Layer.succeed(UsageLedger.UsageLedger, ledger))
      )))
    }))

  it.effect("StackConfig.maxRequestBytes sets the limit", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(LanguageModel.generate("x".repeat(11)))
      assert.include(error.message, "over the maximum request size of 10 bytes")
      const answered = yield* LanguageModel.generate("x".repeat(10))
      assert.strictEqual(answered.content, "x".repeat(10))
    }).pipe(Effect.provide(Stack.layer({ provider: { provider: "mock", options: { reply: "echo" } }, maxRequestBytes: 10 }).pipe(
      Layer.provide(registry)
    ))))
})

const load = (options: { readonly yaml?: string; readonly env?: Record<string, string>; readonly flags?: Record<string, unknown> }) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const dir = yield* Effect.orDie(fs.makeTempDirectoryScoped({ prefix: "llmc-size-" }))
    if (options.yaml !== undefined) yield* Effect.orDie(fs.writeFileString(path.join(dir, "llm-connect.yaml"), options.yaml))
    return yield* LlmConnectConfig.load({ cwd: dir, flags: options.flags ?? {} }).pipe(
      Effect.provide(ConfigProvider.layer(ConfigProvider.fromUnknown(options.env ?? {})))
    )
  }).pipe(Effect.scoped, Effect.provide(NodeServices.layer))

describe("the maxRequestBytes setting", () => {
  it.effect("defaults to 4 MiB; the file, LLM_CONNECT_MAX_REQUEST_BYTES and --max-request-bytes set it", () =>
    Effect.gen(function*() {
      assert.strictEqual((yield* load({})).config.maxRequestBytes, 4 * MiB)
      assert.strictEqual((yield* load({ yaml: "maxRequestBytes: 1000\n" })).config.maxRequestBytes, 1000)
      const env = yield* load({ yaml: "maxRequestBytes: 1000\n", env: { LLM_CONNECT_MAX_REQUEST_BYTES: "2000" } })
      assert.strictEqual(env.config.maxRequestBytes, 2000)
      assert.deepStrictEqual(env.sources.maxRequestBytes, { _tag: "Env", variable: "LLM_CONNECT_MAX_REQUEST_BYTES" })
      const flag = yield* load({ env: { LLM_CONNECT_MAX_REQUEST_BYTES: "2000" }, flags: { maxRequestBytes: 3000 } })
      assert.strictEqual(flag.config.maxRequestBytes, 3000)
    }))

  it.effect("a value that is not a whole number of bytes above 0 is a Configuration error naming its source", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(load({ env: { LLM_CONNECT_MAX_REQUEST_BYTES: "4MB" } }))
      assert.strictEqual(error.reason._tag, "Configuration")
      assert.include(error.message, "LLM_CONNECT_MAX_REQUEST_BYTES")
      assert.include(error.message, "8388608")
      const zero = yield* Effect.flip(load({ yaml: "maxRequestBytes: 0\n" }))
      assert.strictEqual(zero.reason._tag, "Configuration")
      assert.include(zero.message, "line 1")
    }))

  it.effect("reaches the stack through Stack.fromConfig", () =>
    Effect.gen(function*() {
      const resolved = yield* load({ yaml: "maxRequestBytes: 10\nmock: { reply: echo }\n" })
      const stack = yield* Stack.fromConfig(resolved).pipe(Effect.provide(NodeProviders.layer), Effect.provide(NodeServices.layer))
      const error = yield* Effect.flip(LanguageModel.generate("x".repeat(11)).pipe(Effect.provide(stack)))
      assert.strictEqual((error.reason as LlmError.InvalidRequest).parameter, "maxRequestBytes")
    }))
})

describe("a workflow with a 10 MB input value", () => {
  const workflow = [
    "name: big-input",
    "inputs:",
    "  blob: { type: string }",
    "steps:",
    "  - id: summarise",
    "    prompt: \"Summarise: {{input.blob}}\""
  ].join("\n")

  const runWith = (yaml: string, blob: string) =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      const dir = yield* Effect.orDie(fs.makeTempDirectoryScoped({ prefix: "llmc-size-wf-" }))
      const file = path.join(dir, "wf.yaml")
      yield* Effect.orDie(fs.writeFileString(file, workflow))
      yield* Effect.orDie(fs.writeFileString(path.join(dir, "llm-connect.yaml"), yaml))
      const resolved = yield* LlmConnectConfig.load({ cwd: dir }).pipe(
        Effect.provide(ConfigProvider.layer(ConfigProvider.fromUnknown({})))
      )
      const stack = yield* Stack.fromConfig(resolved).pipe(Effect.provide(NodeProviders.layer))
      return yield* Effect.result(WorkflowYaml.runFile(file, { blob }).pipe(Effect.provide(stack)))
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer))

  // The run: 10 MB without whitespace ran at 100 % CPU for over 70 minutes.
  // Bounds on the CPU time of this process, not wall time: a loaded machine stretches the wall
  // clock, not the work done.
  it.live("is refused by the default limit at once: the step fails with InvalidRequest", () =>
    Effect.gen(function*() {
      const cpuBefore = process.cpuUsage()
      const result = yield* runWith("mock: { reply: echo }\n", "x".repeat(10_000_000))
      assert.isBelow(cpuMillisSince(cpuBefore), 10_000)
      assert.strictEqual(result._tag, "Failure")
      const failure = result._tag === "Failure" ? result.failure : undefined
      assert.include(String(failure?.message), "maxRequestBytes")
    }))

  it.live("with the limit raised, is counted with bounded work and answered", () =>
    Effect.gen(function*() {
      const cpuBefore = process.cpuUsage()
      const result = yield* runWith("maxRequestBytes: 20000000\nmock: { reply: echo }\n", "x".repeat(10_000_000))
      assert.isBelow(cpuMillisSince(cpuBefore), 10_000)
      assert.strictEqual(result._tag, "Success")
      if (result._tag === "Success") {
        assert.strictEqual(result.success.state, "completed")
        assert.isAbove(result.success.usage.totalTokens, 0)
      }
    }))
})
