/**
 * Registered step types: plugins that do a step's work instead of a prompt.
 *
 * A step type has a lifecycle: `init` once per run (the first time a step of that type starts),
 * `execute` for each step, and `cleanup` always at the end of the run, also on failure and on
 * cancellation. It may be written with Effects ({@link make}), Promise functions
 * ({@link fromPromise}) or plain functions ({@link fromSync}). Whatever a plugin does (fail,
 * throw, reject, die), only its own step fails, with the step named; the run's other steps and
 * the process carry on. YAML steps name a type with `type:` and pass `with:` arguments, which
 * are checked against the type's `args` Schema before anything runs.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer, Schema } from "effect"
import type * as LanguageModel from "../LanguageModel.ts"
import * as LlmError from "../LlmError.ts"
import { schemaProblems } from "./internal/schemaIssues.ts"

/**
 * What a run tells a step type.
 *
 * @since 0.1.0
 * @category models
 */
export interface RunInfo {
  readonly runId: string
  readonly workflow: string
}

/**
 * What `execute` receives besides its arguments.
 *
 * @since 0.1.0
 * @category models
 */
export interface ExecuteContext<State> extends RunInfo {
  readonly step: string
  readonly attempt: number
  /** The value `init` returned for this run. */
  readonly state: State
}

/**
 * A step type as the runner sees it (state and arguments erased).
 *
 * @since 0.1.0
 * @category models
 */
export interface StepType {
  readonly name: string
  readonly description: string
  /** Checks and decodes the `with` arguments; absent means any JSON value. */
  readonly args: Schema.Top | undefined
  readonly init: (run: RunInfo) => Effect.Effect<unknown, LlmError.LlmError>
  readonly execute: (
    args: unknown,
    context: ExecuteContext<unknown>
  ) => Effect.Effect<unknown, LlmError.LlmError, LanguageModel.LanguageModel>
  readonly cleanup: (state: unknown, run: RunInfo) => Effect.Effect<void>
}

/**
 * The Effect form of a step type.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options<Args, State> {
  readonly name: string
  readonly description?: string | undefined
  readonly args?: Schema.Codec<Args, unknown> | undefined
  readonly init?: ((run: RunInfo) => Effect.Effect<State, LlmError.LlmError>) | undefined
  readonly execute: (
    args: Args,
    context: ExecuteContext<State>
  ) => Effect.Effect<unknown, LlmError.LlmError, LanguageModel.LanguageModel>
  readonly cleanup?: ((state: State, run: RunInfo) => Effect.Effect<void>) | undefined
}

/**
 * Builds a step type from Effects.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <Args = unknown, State = undefined>(options: Options<Args, State>): StepType => ({
  name: options.name,
  description: options.description ?? `${options.name} (step type)`,
  args: options.args,
  init: (run) => options.init !== undefined ? options.init(run) : Effect.succeed(undefined),
  execute: (args, context) => options.execute(args as Args, context as ExecuteContext<State>),
  cleanup: (state, run) => options.cleanup !== undefined ? options.cleanup(state as State, run) : Effect.void
})

/**
 * The failure of a plugin that threw or rejected, attributed to the step type.
 *
 * @since 0.1.0
 * @category errors
 */
export const pluginFailure = (type: string, phase: string, error: unknown): LlmError.LlmError =>
  LlmError.make(
    `step-type:${type}`,
    new LlmError.Unknown({
      description: `step type "${type}" ${phase} threw: ${error instanceof Error ? error.message : String(error)}`
    })
  )

/**
 * A step type written with Promise functions (`execute` gets an `AbortSignal` that fires when
 * the step is interrupted).
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromPromise = <Args = unknown, State = undefined>(options: {
  readonly name: string
  readonly description?: string | undefined
  readonly args?: Schema.Codec<Args, unknown> | undefined
  readonly init?: ((run: RunInfo) => PromiseLike<State>) | undefined
  readonly execute: (args: Args, context: ExecuteContext<State> & { readonly signal: AbortSignal }) => PromiseLike<unknown>
  readonly cleanup?: ((state: State, run: RunInfo) => PromiseLike<void>) | undefined
}): StepType => {
  const init = options.init
  const cleanup = options.cleanup
  return make<Args, State>({
    name: options.name,
    description: options.description,
    args: options.args,
    init: init === undefined ? undefined : (run) =>
      Effect.tryPromise({ try: () => init(run), catch: (error) => pluginFailure(options.name, "init", error) }),
    execute: (args, context) =>
      Effect.tryPromise({
        try: (signal) => options.execute(args, { ...context, signal }),
        catch: (error) => pluginFailure(options.name, "execute", error)
      }),
    cleanup: cleanup === undefined ? undefined : (state, run) =>
      Effect.tryPromise(() => cleanup(state, run)).pipe(Effect.ignore)
  })
}

/**
 * A step type written with plain synchronous functions.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromSync = <Args = unknown, State = undefined>(options: {
  readonly name: string
  readonly description?: string | undefined
  readonly args?: Schema.Codec<Args, unknown> | undefined
  readonly init?: ((run: RunInfo) => State) | undefined
  readonly execute: (args: Args, context: ExecuteContext<State>) => unknown
  readonly cleanup?: ((state: State, run: RunInfo) => void) | undefined
}): StepType => {
  const init = options.init
  const cleanup = options.cleanup
  return make<Args, State>({
    name: options.name,
    description: options.description,
    args: options.args,
    init: init === undefined ? undefined : (run) =>
      Effect.try({ try: () => init(run), catch: (error) => pluginFailure(options.name, "init", error) }),
    execute: (args, context) =>
      Effect.try({
        try: () => options.execute(args, context),
        catch: (error) => pluginFailure(options.name, "execute", error)
      }),
    cleanup: cleanup === undefined ? undefined : (state, run) => Effect.sync(() => cleanup(state, run)).pipe(Effect.ignoreCause)
  })
}

/**
 * The step types available to workflows, by name (none by default).
 *
 * @since 0.1.0
 * @category references
 */
export const StepTypes = Context.Reference<ReadonlyMap<string, StepType>>("llm-connect/workflow/StepTypes", {
  defaultValue: () => new Map()
})

/**
 * Registers step types (added to any already registered).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (types: ReadonlyArray<StepType>): Layer.Layer<never> =>
  Layer.effectContext(
    Effect.gen(function*() {
      const current = yield* StepTypes
      return Context.make(StepTypes, new Map([...current, ...types.map((type) => [type.name, type] as const)]))
    })
  )

/**
 * Decodes a step's `with` arguments against its type's Schema, returning every problem.
 *
 * @since 0.1.0
 * @category validation
 */
export const checkArgs = (type: StepType, args: unknown): ReadonlyArray<string> => {
  if (type.args === undefined) return []
  return schemaProblems(type.args, args).map((problem) =>
    problem.path.length === 0 ? problem.message : `${problem.path.join(".")}: ${problem.message}`
  )
}
