/**
 * YAML workflows: read a file, check everything with file and line, and compile it into the
 * same `WorkflowDefinition.Definition` the TypeScript builder produces.
 *
 * {@link parse} reads the text with `yaml`'s `parseDocument` and a `LineCounter`, runs
 * `WorkflowValidation.validate` and places every problem on the line of the node it is about.
 * {@link compile} turns a checked file into a runnable definition with what validation parsed:
 * prompts and `with` arguments are templates rendered at run time. A step that names a provider
 * (other than the configured one) or provider options gets its model from the `ModelFactory` in
 * context (`Stack.fromConfig`), with the configuration's PII guard, observability, budget,
 * retry, limits and breaker and that provider's `providers.<name>` key and base URL; compile
 * asks the factory for it once, so a missing key fails before anything runs. Without a factory
 * such a step is a `Configuration` error: a bare provider would skip all of that.
 *
 * @since 0.1.0
 */
import { createHash } from "node:crypto"
import { Effect, FileSystem, Option, Result } from "effect"
import { isMap, isScalar, isSeq, LineCounter, parseDocument } from "yaml"
import type { Node } from "yaml"
import * as DurationText from "../DurationText.ts"
import * as LanguageModel from "../LanguageModel.ts"
import * as YamlDocument from "../internal/yamlDocument.ts"
import type * as LlmError from "../LlmError.ts"
import * as Message from "../Message.ts"
import * as ModelFactory from "../ModelFactory.ts"
import * as Router from "../routing/Router.ts"
import * as ProviderRegistry from "../ProviderRegistry.ts"
import * as PromptStep from "./internal/promptStep.ts"
import * as StepModel from "./internal/stepModel.ts"
import * as StepType from "./StepType.ts"
import * as Template from "./Template.ts"
import * as Workflow from "./Workflow.ts"
import * as WorkflowError from "./WorkflowError.ts"
import * as WorkflowFile from "./WorkflowFile.ts"
import * as WorkflowValidation from "./WorkflowValidation.ts"
import type * as WorkflowDefinition from "./WorkflowDefinition.ts"

/**
 * A checked workflow file.
 *
 * @since 0.1.0
 * @category models
 */
export interface Loaded {
  readonly file: WorkflowFile.WorkflowFile
  /** Each step as validation read it (parsed templates, output Schema), in order. */
  readonly steps: ReadonlyArray<WorkflowValidation.CheckedStep>
  /** The path it was read from, when read from a file. */
  readonly path?: string | undefined
  /** SHA-256 of the text (the journal refuses to resume a changed file). */
  readonly hash: string
  /** Places a problem path on a line. */
  readonly locate: (path: ReadonlyArray<string | number>) => { readonly line: number; readonly column: number } | undefined
}

const formatPath = (path: ReadonlyArray<string | number>): string =>
  path.map((key, index) => (typeof key === "number" ? `[${key}]` : index === 0 ? key : `.${key}`)).join("")

/**
 * Parses and checks workflow text; every problem is returned at once, with its line.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parse = (
  source: string,
  environment: WorkflowValidation.Environment,
  fileName?: string
): Result.Result<Loaded, ReadonlyArray<WorkflowError.Issue>> => {
  const lineCounter = new LineCounter()
  const document = parseDocument(source, { lineCounter, prettyErrors: false })
  const file = fileName !== undefined ? { file: fileName } : {}
  if (document.errors.length > 0) {
    return Result.fail(document.errors.map((error) => {
      const position = lineCounter.linePos(error.pos[0])
      return { message: `YAML syntax: ${error.message.split("\n")[0]}`, path: "", ...file, line: position.line, column: position.col }
    }))
  }
  const locate = (path: ReadonlyArray<string | number>) => {
    let node: unknown = document.contents
    let offset = (node as Node | null)?.range?.[0]
    for (const key of path) {
      if (isMap(node)) {
        const pair = node.items.find((item) => isScalar(item.key) && item.key.value === key)
        if (pair === undefined) break
        offset = (pair.key as Node).range?.[0] ?? offset
        node = pair.value
      } else if (isSeq(node) && typeof key === "number") {
        const item = node.items[key] as Node | undefined
        if (item === undefined) break
        offset = item.range?.[0] ?? offset
        node = item
      } else break
    }
    if (offset === undefined) return undefined
    const position = lineCounter.linePos(offset)
    return { line: position.line, column: position.col }
  }
  const plain = YamlDocument.toPlain(document, lineCounter)
  if (Result.isFailure(plain)) {
    const { column, line, message } = plain.failure
    return Result.fail([{ message: `YAML: ${message}`, path: "", ...file, line, column }])
  }
  const checked = WorkflowValidation.validate(plain.success, environment)
  if (Result.isFailure(checked)) {
    return Result.fail(checked.failure.map((problem) => {
      const position = locate(problem.path)
      return { message: problem.message, path: formatPath(problem.path), ...file, ...(position ?? {}) }
    }))
  }
  return Result.succeed({
    file: checked.success.file,
    steps: checked.success.steps,
    ...(fileName !== undefined ? { path: fileName } : {}),
    hash: createHash("sha256").update(source).digest("hex"),
    locate
  })
}

/**
 * The names validation checks against: the providers of the `ProviderRegistry` (when there is
 * one) and the registered step types.
 *
 * @since 0.1.0
 * @category validation
 */
export const environment: Effect.Effect<WorkflowValidation.Environment> = Effect.gen(function*() {
  const registry = yield* Effect.serviceOption(ProviderRegistry.ProviderRegistry)
  const stepTypes = yield* StepType.StepTypes
  return {
    stepTypes,
    ...(Option.isSome(registry) ? { providers: yield* registry.value.list } : {})
  }
})

/**
 * Reads and checks a workflow file.
 *
 * @since 0.1.0
 * @category parsing
 */
export const load = (path: string): Effect.Effect<Loaded, WorkflowError.WorkflowError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const source = yield* fs.readFileString(path).pipe(
      Effect.mapError((error) =>
        WorkflowError.invalid(path, [{ message: `cannot read the workflow file: ${error.message}`, path: "", file: path }])
      )
    )
    const env = yield* environment
    const parsed = parse(source, env, path)
    if (Result.isFailure(parsed)) return yield* Effect.fail(WorkflowError.invalid(nameOf(source, path), parsed.failure))
    return parsed.success
  })

const nameOf = (source: string, path: string): string => source.match(/^name:\s*["']?([^"'\n]+)/m)?.[1]?.trim() ?? path

/**
 * Checks inputs (e.g. from `--input key=value`) against the declared ones, with the line of
 * each declaration.
 *
 * @since 0.1.0
 * @category validation
 */
export const checkInputs = (
  loaded: Loaded,
  provided: Readonly<Record<string, unknown>>
): Effect.Effect<Record<string, unknown>, WorkflowError.WorkflowError> => {
  const result = WorkflowValidation.checkInputs(loaded.file, provided)
  if (Result.isSuccess(result)) return Effect.succeed(result.success)
  return Effect.fail(WorkflowError.invalid(loaded.file.name, result.failure.map((problem) => ({
    message: problem.message,
    path: formatPath(problem.path),
    ...(loaded.path !== undefined ? { file: loaded.path } : {}),
    ...(loaded.locate(problem.path) ?? {})
  }))))
}

const millis = (text: string | undefined): number | undefined => {
  if (text === undefined) return undefined
  const parsed = DurationText.parseMillis(text)
  return Result.isSuccess(parsed) ? parsed.success : undefined
}

const retryPolicy = (retry: typeof WorkflowFile.Retry.Type | undefined): WorkflowDefinition.RetryPolicy | undefined => {
  if (retry === undefined) return undefined
  if (typeof retry === "number") return { times: retry }
  return { times: retry.times, delayMs: millis(retry.delay) }
}

/**
 * Compiles a checked file into a runnable definition. A step that names its own provider or
 * options gets a `target`, whose model the `ModelFactory` in context builds now (so that an
 * unknown provider or a missing key fails before anything runs) and the executor asks it for.
 *
 * @since 0.1.0
 * @category compiling
 */
export const compile = (loaded: Loaded): Effect.Effect<WorkflowDefinition.Definition, LlmError.LlmError> =>
  Effect.gen(function*() {
    const file = loaded.file
    const defaults = file.defaults ?? {}
    const factory = Option.getOrUndefined(yield* Effect.serviceOption(ModelFactory.ModelFactory))
    const contextModel = Option.getOrUndefined(yield* Effect.serviceOption(LanguageModel.LanguageModel))
    const configured = factory?.model.provider ?? contextModel?.provider
    const router = Option.getOrUndefined(yield* Effect.serviceOption(Router.Router))
    const steps: Array<WorkflowDefinition.StepSpec> = []
    for (const [index, step] of file.steps.entries()) {
      const checked = loaded.steps[index]!
      // A routed step (taskType:) takes its model from the Router, never from defaults.provider.
      const provider = step.taskType !== undefined ? undefined : step.provider ?? defaults.provider
      const target: ModelFactory.Target | undefined = provider !== undefined && (step.options !== undefined || provider !== configured)
        ? { provider, ...(step.options !== undefined ? { options: step.options } : {}) }
        : undefined
      if (target !== undefined) {
        if (factory === undefined) return yield* Effect.fail(StepModel.noFactory(step.id, target))
        yield* factory.forProvider(target)
      }
      if (step.taskType !== undefined) {
        // The route must exist now (an unknown task type fails before anything runs).
        if (router === undefined) return yield* Effect.fail(StepModel.noRouter(step.id, step.taskType))
        yield* router.explain(step.taskType)
      }
      const common = {
        id: step.id,
        needs: step.needs ?? [],
        retry: retryPolicy(step.retry ?? defaults.retry),
        timeoutMs: millis(step.timeout ?? defaults.timeout),
        budget: step.budget,
        ...(target !== undefined ? { target } : {}),
        ...(step.taskType !== undefined ? { taskType: step.taskType } : {})
      }
      if (checked._tag === "Type") {
        const { type, with: args } = checked
        steps.push({
          ...common,
          run: (context) =>
            Effect.gen(function*() {
              const state = yield* context.stateOf(type)
              const rendered = args === undefined ? undefined : Template.renderTree(args, { input: context.input, outputs: context.outputs })
              return yield* type.execute(rendered, { ...context, state })
            })
        })
        continue
      }
      const model = step.taskType !== undefined ? undefined : step.model ?? (step.provider === undefined ? defaults.model : undefined)
      const { prompt, system } = checked
      const params = { ...defaults.params, ...step.params }
      steps.push(PromptStep.make({
        ...common,
        output: checked.output,
        request: (context) => {
          const scope = { input: context.input, outputs: context.outputs }
          return {
            messages: Message.fromPrompt(Template.render(prompt, scope)),
            ...(system !== undefined ? { system: Template.render(system, scope) } : {}),
            ...(model !== undefined ? { model } : {}),
            ...params
          }
        }
      }))
    }
    return {
      name: file.name,
      steps,
      ...(file.concurrency !== undefined ? { concurrency: file.concurrency } : {}),
      ...(file.budget !== undefined ? { budget: file.budget } : {})
    }
  })

/**
 * Reads, checks, compiles and runs a workflow file, waiting for its result (the synchronous
 * mode from code). Inputs are checked against the declared ones; text values are converted.
 *
 * @since 0.1.0
 * @category running
 * @example
 * const result = yield* WorkflowYaml.runFile("examples/workflows/demo.yaml", { topic: "tides" })
 */
export const runFile = (
  path: string,
  input: Readonly<Record<string, unknown>> = {},
  options: { readonly runId?: string | undefined; readonly timeoutMs?: number | undefined } = {}
): Effect.Effect<WorkflowDefinition.RunResult, WorkflowError.WorkflowError | LlmError.LlmError, FileSystem.FileSystem | LanguageModel.LanguageModel> =>
  Effect.gen(function*() {
    const loaded = yield* load(path)
    const checked = yield* checkInputs(loaded, input)
    const definition = yield* compile(loaded)
    const runId = options.runId ?? (yield* Workflow.makeRunId)
    return yield* Workflow.runDefinition(definition, {
      runId,
      input: checked,
      source: { path: loaded.path, hash: loaded.hash },
      timeoutMs: options.timeoutMs
    })
  })

