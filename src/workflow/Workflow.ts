/**
 * Typed workflows in TypeScript: a builder where each step's output type flows to the steps
 * that use it, and the whole workflow runs as one Effect.
 *
 * ```ts
 * const article = Workflow.make("article", { topic: Schema.String })
 *   .prompt("outline", ({ input }) => `Outline an article about ${input.topic}`)
 *   .prompt("draft", ({ steps }) => `Write it from:\n${steps.outline}`, { needs: ["outline"] })
 *   .prompt("title", ({ steps }) => `A title for:\n${steps.draft}`, { needs: ["draft"] })
 *
 * const result = yield* Workflow.run(article, { topic: "tides" }, { timeout: "1m" })
 * result.outputs.title // string
 * ```
 *
 * A step sees only the outputs of the steps it `needs` (the type says so), and starts as soon
 * as they are done; steps that do not depend on each other run in parallel. `prompt` steps call
 * the `LanguageModel` in context (text, or JSON decoded with an `output` Schema); `step` runs
 * any Effect, Promise or plain function; `use` runs a registered step type. {@link run} is the
 * synchronous mode (run and wait, with an optional client timeout); `WorkflowRunner` is the
 * asynchronous one. YAML files compile to the same {@link WorkflowDefinition.Definition}.
 *
 * @since 0.1.0
 */
import { Clock, Duration, Effect, type Exit, Option, Random, Schema } from "effect"
import type { Pipeable } from "effect/Pipeable"
import { pipeArguments } from "effect/Pipeable"
import * as DurationText from "../DurationText.ts"
import * as LanguageModel from "../LanguageModel.ts"
import * as LlmError from "../LlmError.ts"
import * as LlmRequest from "../LlmRequest.ts"
import * as Executor from "./Executor.ts"
import * as PromptStep from "./internal/promptStep.ts"
import { schemaProblems } from "./internal/schemaIssues.ts"
import * as StepType from "./StepType.ts"
import * as WorkflowError from "./WorkflowError.ts"
import type * as WorkflowDefinition from "./WorkflowDefinition.ts"

/**
 * What a step's function receives: the run's inputs and the outputs of the steps it needs.
 *
 * @since 0.1.0
 * @category models
 */
export interface StepInput<I, S> {
  readonly input: I
  readonly steps: S
  readonly runId: string
  readonly attempt: number
}

/**
 * Options every step accepts.
 *
 * @since 0.1.0
 * @category models
 */
export interface StepOptions<N extends string> {
  /** Steps whose outputs this step uses; it starts when they are done. */
  readonly needs?: ReadonlyArray<N> | undefined
  /** Attempts after the first on a retryable failure, or a policy. */
  readonly retry?: number | WorkflowDefinition.RetryPolicy | undefined
  /** A timeout per attempt (`30s`, or an Effect duration). */
  readonly timeout?: string | Duration.Input | undefined
  /** The step's own budget, within the run's. */
  readonly budget?: WorkflowDefinition.BudgetLimits | undefined
}

/**
 * Options of a prompt step.
 *
 * @since 0.1.0
 * @category models
 */
export interface PromptOptions<N extends string, A> extends StepOptions<N> {
  readonly model?: string | undefined
  readonly system?: string | undefined
  readonly maxTokens?: number | undefined
  readonly temperature?: number | undefined
  /** Decode the reply as JSON with this Schema (the output type becomes its type). */
  readonly output?: Schema.Codec<A, unknown> | undefined
}

type OutputOf<Out> = Out extends Effect.Effect<infer A, infer _E, infer _R> ? A : Out extends PromiseLike<infer A> ? A : Out
type RequirementsOf<Out> = Out extends Effect.Effect<infer _A, infer _E, infer R> ? Exclude<R, LanguageModel.LanguageModel>
  : never
type Picked<S, N extends keyof S> = { readonly [K in N]: S[K] }
type NewId<S, Id extends string> = Id extends keyof S ? never : Id

/**
 * A workflow under construction; each method returns a new workflow with one more step.
 *
 * @since 0.1.0
 * @category models
 */
export class Workflow<I, S, R> implements Pipeable {
  readonly name: string
  readonly input: Schema.Codec<I, unknown>
  readonly definition: WorkflowDefinition.Definition<R>
  constructor(name: string, input: Schema.Codec<I, unknown>, definition: WorkflowDefinition.Definition<R>) {
    this.name = name
    this.input = input
    this.definition = definition
  }

  /** Adds a step that sends a prompt to the model; its output is the reply (or decoded JSON). */
  prompt<const Id extends string, N extends keyof S & string = never, A = string>(
    id: NewId<S, Id>,
    template: (context: StepInput<I, Picked<S, N>>) => LlmRequest.Input,
    options: PromptOptions<N, A> = {}
  ): Workflow<I, S & { readonly [K in Id]: A }, R> {
    const needs = options.needs ?? []
    const step = PromptStep.make({
      ...common(id, options),
      output: options.output === undefined ? { type: "text" } : { type: "json", schema: options.output },
      request: (context) => {
        const base = LlmRequest.make(template(stepInput<I>(context, needs) as StepInput<I, Picked<S, N>>))
        return {
          ...base,
          ...(options.model !== undefined && base.model === undefined ? { model: options.model } : {}),
          ...(options.system !== undefined && base.system === undefined ? { system: options.system } : {}),
          ...(options.maxTokens !== undefined && base.maxTokens === undefined ? { maxTokens: options.maxTokens } : {}),
          ...(options.temperature !== undefined && base.temperature === undefined ? { temperature: options.temperature } : {})
        }
      }
    })
    return new Workflow(this.name, this.input, { ...this.definition, steps: [...this.definition.steps, step] })
  }

  /** Adds a step that runs an Effect, a Promise function or a plain function. */
  step<const Id extends string, Out, N extends keyof S & string = never>(
    id: NewId<S, Id>,
    run: (context: StepInput<I, Picked<S, N>>) => Out,
    options: StepOptions<N> = {}
  ): Workflow<I, S & { readonly [K in Id]: OutputOf<Out> }, R | RequirementsOf<Out>> {
    return this.add<Id, OutputOf<Out>, RequirementsOf<Out>>(id, options, (context) =>
      Effect.suspend(() => {
        const out: unknown = run(context)
        if (Effect.isEffect(out)) return out as Effect.Effect<OutputOf<Out>, LlmError.LlmError, RequirementsOf<Out>>
        if (isThenable(out)) {
          return Effect.tryPromise({
            try: () => out as PromiseLike<OutputOf<Out>>,
            catch: (error) => StepType.pluginFailure(context.step, "function", error)
          })
        }
        return Effect.succeed(out as OutputOf<Out>)
      }))
  }

  /** Adds a step run by a registered step type (init once per run, cleanup at the end). */
  use<const Id extends string, N extends keyof S & string = never>(
    id: NewId<S, Id>,
    type: StepType.StepType,
    args: (context: StepInput<I, Picked<S, N>>) => unknown,
    options: StepOptions<N> = {}
  ): Workflow<I, S & { readonly [K in Id]: unknown }, R> {
    return this.add<Id, unknown, never>(id, options, (context) =>
      Effect.gen(function*() {
        const state = yield* context.stateOf(type)
        return yield* type.execute(args(context), { ...context, state })
      }))
  }

  /** Limits how many steps run at once. */
  concurrency(limit: number): Workflow<I, S, R> {
    return new Workflow(this.name, this.input, { ...this.definition, concurrency: limit })
  }

  /** Sets the run's budget, shared by all its steps. */
  budget(limits: WorkflowDefinition.BudgetLimits): Workflow<I, S, R> {
    return new Workflow(this.name, this.input, { ...this.definition, budget: limits })
  }

  pipe() {
    // eslint-disable-next-line prefer-rest-params
    return pipeArguments(this, arguments)
  }

  private add<Id extends string, A, R2>(
    id: string,
    options: StepOptions<string>,
    work: (
      context: StepInput<I, never> & Omit<WorkflowDefinition.StepContext, "input">
    ) => Effect.Effect<A, LlmError.LlmError, R2 | LanguageModel.LanguageModel>
  ): Workflow<I, S & { readonly [K in Id]: A }, R | R2> {
    const needs = options.needs ?? []
    const spec: WorkflowDefinition.StepSpec<R | R2> = {
      ...common(id, options),
      run: (context) => Effect.suspend(() => work(stepInput<I>(context, needs)))
    }
    return new Workflow(this.name, this.input, { ...this.definition, steps: [...this.definition.steps, spec] })
  }
}

// What every kind of step takes from its options.
const common = (id: string, options: StepOptions<string>) => ({
  id,
  needs: options.needs ?? [],
  retry: typeof options.retry === "number" ? { times: options.retry } : options.retry,
  timeoutMs: options.timeout === undefined ? undefined : toMillis(options.timeout),
  budget: options.budget
})

// A step's view of the run: its inputs and the outputs of the steps it needs.
const stepInput = <I>(
  context: WorkflowDefinition.StepContext,
  needs: ReadonlyArray<string>
): StepInput<I, never> & Omit<WorkflowDefinition.StepContext, "input"> => {
  const steps: Record<string, unknown> = {}
  for (const need of needs) steps[need] = context.outputs.get(need)
  return { ...context, input: context.input as I, steps: steps as never }
}

const isThenable = (value: unknown): value is PromiseLike<unknown> =>
  typeof value === "object" && value !== null && typeof (value as { then?: unknown }).then === "function"

const toMillis = (input: string | Duration.Input): number => {
  if (typeof input === "string") {
    const parsed = DurationText.parseMillis(input)
    if (parsed._tag === "Success") return parsed.success
  }
  return Duration.toMillis(Duration.fromInputUnsafe(input as Duration.Input))
}

/**
 * Starts a workflow whose inputs are described by Schema fields.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * Workflow.make("article", { topic: Schema.String })
 */
export const make = <const Fields extends Schema.Struct.Fields = {}>(
  name: string,
  inputs?: Fields
): Workflow<Schema.Struct<Fields>["Type"], {}, never> =>
  new Workflow(name, Schema.Struct(inputs ?? ({} as Fields)) as unknown as Schema.Codec<Schema.Struct<Fields>["Type"], unknown>, {
    name,
    steps: []
  })

/**
 * The result of a completed run, with typed outputs.
 *
 * @since 0.1.0
 * @category models
 */
export type Result<S> = Omit<WorkflowDefinition.RunResult, "outputs"> & { readonly outputs: S }

/**
 * Options of a run.
 *
 * @since 0.1.0
 * @category models
 */
export interface RunOptions {
  /** The client timeout: past it the run is stopped and fails with the state so far. */
  readonly timeout?: string | Duration.Input | undefined
  readonly runId?: string | undefined
  readonly correlationId?: string | undefined
}

/**
 * A new run id: the date and a random suffix, e.g. `20261125-k3x9q2`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeRunId: Effect.Effect<string> = Effect.gen(function*() {
  const now = yield* Clock.currentTimeMillis
  const suffix = yield* Random.nextIntBetween(0, 36 ** 6)
  return `${new Date(now).toISOString().slice(0, 10).replaceAll("-", "")}-${suffix.toString(36).padStart(6, "0")}`
})

/**
 * Runs a definition and waits for its end (the synchronous mode).
 *
 * @since 0.1.0
 * @category running
 */
export const runDefinition = <R>(
  definition: WorkflowDefinition.Definition<R>,
  options: WorkflowDefinition.StartOptions & { readonly timeoutMs?: number | undefined }
): Effect.Effect<WorkflowDefinition.RunResult, WorkflowError.WorkflowError, R> =>
  options.timeoutMs === undefined ? Executor.execute(definition, options) : Effect.scoped(Effect.gen(function*() {
    const control = yield* Executor.start(definition, options)
    const timeoutMs = options.timeoutMs!
    const outcome = yield* Effect.timeoutOption(control.await, Duration.millis(timeoutMs))
    if (Option.isSome(outcome)) return outcome.value
    const snapshot = yield* control.interrupt("timeout")
    return yield* Effect.fail(
      WorkflowError.make(definition.name, new WorkflowError.Timeout({ timeoutMs, snapshot }), options.runId)
    )
  }))

const decoders = new WeakMap<object, (input: unknown) => Exit.Exit<unknown, Schema.SchemaError>>()
const decoderOf = <I>(schema: Schema.Codec<I, unknown>): (input: unknown) => Exit.Exit<I, Schema.SchemaError> => {
  let decoder = decoders.get(schema)
  if (decoder === undefined) {
    decoder = Schema.decodeUnknownExit(schema)
    decoders.set(schema, decoder)
  }
  return decoder as (input: unknown) => Exit.Exit<I, Schema.SchemaError>
}

/**
 * Checks a workflow's inputs against its Schema, reporting every problem.
 *
 * @since 0.1.0
 * @category validation
 */
export const decodeInput = <I, S, R>(
  workflow: Workflow<I, S, R>,
  input: unknown
): Effect.Effect<I, WorkflowError.WorkflowError> => {
  const decoded = decoderOf(workflow.input)(input)
  if (decoded._tag === "Success") return Effect.succeed(decoded.value)
  const problems = schemaProblems(workflow.input, input)
  return Effect.fail(WorkflowError.invalid(workflow.name, problems.map((problem) => ({
    message: `input ${problem.path.map(String).join(".")}: ${problem.message}`,
    path: ["input", ...problem.path.map(String)].join(".")
  }))))
}

/**
 * Runs a workflow and waits for its result (the synchronous mode). Fails with a
 * `WorkflowError`: `Invalid` inputs, `StepFailed` (naming the step and attempt), `Timeout`
 * (with the state: finished steps and their outputs, running steps) or `Cancelled`.
 *
 * @since 0.1.0
 * @category running
 */
export const run = <I, S, R>(
  workflow: Workflow<I, S, R>,
  input: NoInfer<I>,
  options: RunOptions = {}
): Effect.Effect<Result<S>, WorkflowError.WorkflowError, R | LanguageModel.LanguageModel> =>
  Effect.gen(function*() {
    const decoded = yield* decodeInput(workflow, input)
    const runId = options.runId ?? (yield* makeRunId)
    const result = yield* runDefinition(workflow.definition, {
      runId,
      input: decoded as Record<string, unknown>,
      correlationId: options.correlationId,
      timeoutMs: options.timeout === undefined ? undefined : toMillis(options.timeout)
    })
    return result as Result<S>
  })
