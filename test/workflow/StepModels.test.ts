/**
 * Where a workflow step's model comes from: the configuration's stack (`Stack.fromConfig`) for
 * every step, including a YAML step that names its own provider or options, and the run's
 * budget inside that stack's observability.
 */
import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Exit, FileSystem, Layer, Metric, Path, Redacted, Result } from "effect"
import * as LanguageModel from "../../src/LanguageModel.ts"
import * as LlmConnectConfig from "../../src/LlmConnectConfig.ts"
import type { LlmRequest } from "../../src/LlmRequest.ts"
import * as LlmMetrics from "../../src/observability/LlmMetrics.ts"
import * as UsageLedger from "../../src/observability/UsageLedger.ts"
import * as ProviderRegistry from "../../src/ProviderRegistry.ts"
import * as MockLanguageModel from "../../src/providers/mock/MockLanguageModel.ts"
import * as Stack from "../../src/Stack.ts"
import * as Workflow from "../../src/workflow/Workflow.ts"
import type * as WorkflowDefinition from "../../src/workflow/WorkflowDefinition.ts"
import type * as WorkflowError from "../../src/workflow/WorkflowError.ts"
import * as WorkflowYaml from "../../src/workflow/WorkflowYaml.ts"

/** A provider that records what it was built with and every request it was sent (an echo). */
const makeRecorder = () => {
  const made: Array<ProviderRegistry.ProviderConfig> = []
  const sent: Array<LlmRequest> = []
  const provider: ProviderRegistry.Provider = {
    name: "recorder",
    description: "records what it is sent",
    defaultModel: "rec-1",
    keyEnv: [],
    requiresKey: false,
    make: (config) =>
      Effect.map(MockLanguageModel.provider.make({ options: { reply: "echo" } }), (mock) => {
        made.push(config)
        return LanguageModel.wrap(mock, {
          generate: (request, next) => {
            sent.push(request)
            return Effect.map(next(request), (response) => ({ ...response, provider: "recorder" }))
          },
          stream: "unchanged"
        }, { provider: "recorder", defaultModel: config.model ?? "rec-1" })
      })
  }
  return { provider, made, sent }
}

/** Loads `config` as an llm-connect.yaml, builds its stack, then compiles and runs `workflow` on it. */
const runWith = (
  recorder: ProviderRegistry.Provider | ReadonlyArray<ProviderRegistry.Provider>,
  ledger: UsageLedger.Service,
  config: string,
  workflow: string
) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const dir = yield* Effect.orDie(fs.makeTempDirectoryScoped({ prefix: "llmc-steps-" }))
    yield* Effect.orDie(fs.writeFileString(path.join(dir, "llm-connect.yaml"), config))
    const resolved = yield* LlmConnectConfig.load({ cwd: dir })
    const stack = yield* Stack.fromConfig(resolved)
    return yield* Effect.gen(function*() {
      const parsed = WorkflowYaml.parse(workflow, yield* WorkflowYaml.environment, "wf.yaml")
      if (Result.isFailure(parsed)) return yield* Effect.die(parsed.failure)
      const definition = yield* WorkflowYaml.compile(parsed.success)
      return yield* Effect.exit(Workflow.runDefinition(definition, { runId: "r1", input: {} }))
    }).pipe(Effect.provide(stack))
  }).pipe(
    Effect.provideService(UsageLedger.UsageLedger, ledger),
    Effect.provide(ProviderRegistry.layer([MockLanguageModel.provider, ...(Array.isArray(recorder) ? recorder : [recorder])])),
    Effect.provide(Layer.merge(ConfigProvider.layer(ConfigProvider.fromUnknown({})), NodeServices.layer))
  )

const stepFailed = (exit: Exit.Exit<WorkflowDefinition.RunResult, WorkflowError.WorkflowError>) => {
  if (Exit.isSuccess(exit)) return assert.fail("expected the run to fail")
  const error = exit.cause.reasons.find((reason) => reason._tag === "Fail")?.error
  if (error === undefined || error.reason._tag !== "StepFailed") return assert.fail(`expected StepFailed, got ${String(exit.cause)}`)
  return error.reason
}

const ledgerRows = (ledger: UsageLedger.Service) =>
  Effect.map(ledger.entries(), (entries) => entries.map((entry) => [entry.provider, entry.step, entry.outcome]))

describe("a YAML step that names its own provider", () => {
  it.effect("gets the configured PII guard: with pii block, nothing is sent and the step fails with the block error", () =>
    Effect.gen(function*() {
      const recorder = makeRecorder()
      const ledger = yield* UsageLedger.makeMemory()
      const exit = yield* runWith(
        recorder.provider,
        ledger,
        "pii: { mode: block }\n",
        "name: leak\nsteps:\n  - { id: leak, prompt: \"write to ada@example.com\", provider: recorder }\n"
      )
      const failed = stepFailed(exit)
      assert.strictEqual(failed.step, "leak")
      assert.strictEqual(failed.cause.reason._tag, "InvalidRequest")
      assert.include(failed.cause.message, "email")
      assert.deepStrictEqual(recorder.sent, [])
      assert.deepStrictEqual(yield* ledgerRows(ledger), [["recorder", "leak", "InvalidRequest"]])
    }).pipe(Effect.provideService(Metric.MetricRegistry, new Map())))

  it.effect("is observed (a ledger row and metrics) and built from providers.<name>: key, base URL, options", () =>
    Effect.gen(function*() {
      const recorder = makeRecorder()
      const ledger = yield* UsageLedger.makeMemory()
      const exit = yield* runWith(
        recorder.provider,
        ledger,
        [
          "providers:",
          "  recorder: { apiKey: rk-test, baseUrl: \"http://127.0.0.1:9/v1\", options: { tone: dry, size: 1 } }",
          ""
        ].join("\n"),
        [
          "name: own",
          "steps:",
          "  - { id: first, prompt: one, provider: recorder, model: rec-2, options: { size: 2 } }",
          "  - { id: second, prompt: two, provider: recorder, options: { size: 2 }, needs: [first] }",
          "  - { id: default, prompt: three }",
          ""
        ].join("\n")
      )
      assert.isTrue(Exit.isSuccess(exit))
      // Built once for the two steps with the same target, from the file's providers.recorder.
      assert.strictEqual(recorder.made.length, 1)
      const made = recorder.made[0]!
      assert.strictEqual(made.apiKey !== undefined ? Redacted.value(made.apiKey) : undefined, "rk-test")
      assert.strictEqual(made.baseUrl, "http://127.0.0.1:9/v1")
      assert.deepStrictEqual(made.options, { tone: "dry", size: 2 })
      assert.deepStrictEqual(recorder.sent.map((request) => [request.model, request.metadata?.workflow, request.metadata?.step]), [
        ["rec-2", "own", "first"],
        [undefined, "own", "second"]
      ])
      assert.deepStrictEqual((yield* ledgerRows(ledger)).sort(), [
        ["mock", "default", "ok"],
        ["recorder", "first", "ok"],
        ["recorder", "second", "ok"]
      ])
      const calls = Metric.withAttributes(LlmMetrics.calls, { provider: "recorder", model: "rec-2", outcome: "ok" })
      assert.strictEqual((yield* Metric.value(calls)).count, 1)
    }).pipe(Effect.provideService(Metric.MetricRegistry, new Map())))

  it.effect("a missing key for a step's provider fails before anything runs", () =>
    Effect.gen(function*() {
      const recorder = makeRecorder()
      const ledger = yield* UsageLedger.makeMemory()
      const keyed: ProviderRegistry.Provider = { ...recorder.provider, name: "keyed", keyEnv: ["KEYED_API_KEY"], requiresKey: true }
      const error = yield* Effect.flip(runWith(
        [recorder.provider, keyed],
        ledger,
        "",
        "name: keyless\nsteps:\n  - { id: first, prompt: one }\n  - { id: paid, prompt: two, provider: keyed }\n"
      ))
      assert.strictEqual(error.reason._tag, "Configuration")
      assert.include(error.message, "KEYED_API_KEY")
      assert.deepStrictEqual(recorder.made, [])
      assert.deepStrictEqual(yield* ledger.entries(), [])
    }))
})

describe("a workflow run's budget", () => {
  it.effect("sits inside observability: a refusal is recorded in the ledger and counted as a budget refusal", () =>
    Effect.gen(function*() {
      const recorder = makeRecorder()
      const ledger = yield* UsageLedger.makeMemory()
      const exit = yield* runWith(
        recorder.provider,
        ledger,
        "",
        "name: tight\nbudget: { totalTokens: 5 }\nsteps:\n  - { id: big, prompt: \"a prompt longer than five tokens, surely\" }\n"
      )
      const failed = stepFailed(exit)
      assert.strictEqual(failed.cause.reason._tag, "BudgetExceeded")
      assert.deepStrictEqual(yield* ledgerRows(ledger), [["mock", "big", "BudgetExceeded"]])
      const refusals = Metric.withAttributes(LlmMetrics.budgetRefusals, { dimension: "totalTokens" })
      assert.strictEqual((yield* Metric.value(refusals)).count, 1)
    }).pipe(Effect.provideService(Metric.MetricRegistry, new Map())))

  it.effect("and the configuration's budget both hold (the run's is a child of it)", () =>
    Effect.gen(function*() {
      const workflow = (limit: number) =>
        `name: both\nbudget: { totalTokens: ${limit} }\nsteps:\n  - { id: a, prompt: hello, params: { maxTokens: 50 } }\n`
      const limitOf = (exit: Exit.Exit<WorkflowDefinition.RunResult, WorkflowError.WorkflowError>) => {
        const reason = stepFailed(exit).cause.reason
        return reason._tag === "BudgetExceeded" ? reason.limit : assert.fail(`expected BudgetExceeded, got ${reason._tag}`)
      }
      const tightConfig = yield* runWith(makeRecorder().provider, yield* UsageLedger.makeMemory(), "budget: { totalTokens: 40 }\n", workflow(10_000))
      assert.strictEqual(limitOf(tightConfig), 40)
      const tightRun = yield* runWith(makeRecorder().provider, yield* UsageLedger.makeMemory(), "budget: { totalTokens: 10000 }\n", workflow(30))
      assert.strictEqual(limitOf(tightRun), 30)
      const roomy = yield* runWith(makeRecorder().provider, yield* UsageLedger.makeMemory(), "budget: { totalTokens: 10000 }\n", workflow(10_000))
      assert.isTrue(Exit.isSuccess(roomy))
    }))
})

describe("a run budget's defaultMaxTokens", () => {
  it.effect("is the output cap sent when a request sets none, also when the run's budget is a child of the configuration's", () =>
    Effect.gen(function*() {
      for (const config of ["", "budget: { totalTokens: 100000 }\n"]) {
        const recorder = makeRecorder()
        const exit = yield* runWith(
          recorder.provider,
          yield* UsageLedger.makeMemory(),
          config,
          "name: capped\nbudget: { totalTokens: 10000, defaultMaxTokens: 64 }\nsteps:\n  - { id: a, prompt: hi, provider: recorder }\n"
        )
        assert.isTrue(Exit.isSuccess(exit))
        assert.deepStrictEqual(recorder.sent.map((request) => request.maxTokens), [64])
      }
    }))
})

describe("without a ModelFactory (the builder's path: a LanguageModel in context)", () => {
  it.effect("steps use the model in context; a step naming another provider is a Configuration error naming the fix", () =>
    Effect.gen(function*() {
      const env = yield* WorkflowYaml.environment
      const plain = WorkflowYaml.parse("name: plain\nsteps:\n  - { id: a, prompt: hi, provider: mock }\n", env)
      if (Result.isFailure(plain)) return assert.fail("expected a valid workflow")
      const result = yield* Workflow.runDefinition(yield* WorkflowYaml.compile(plain.success), { runId: "r1", input: {} })
      assert.strictEqual(result.outputs.a, "hi")
      const own = WorkflowYaml.parse("name: own\nsteps:\n  - { id: a, prompt: hi, provider: mock, options: { reply: x } }\n", env)
      if (Result.isFailure(own)) return assert.fail("expected a valid workflow")
      const error = yield* Effect.flip(WorkflowYaml.compile(own.success))
      assert.strictEqual(error.reason._tag, "Configuration")
      assert.include(error.message, "step \"a\"")
      assert.include(error.message, "Stack.fromConfig")
    }).pipe(Effect.provide(Layer.merge(MockLanguageModel.layer({ reply: "echo" }), ProviderRegistry.layer([MockLanguageModel.provider])))))
})
