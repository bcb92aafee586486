/**
 * The model a workflow step calls through (internal to the executor).
 *
 * A step's model comes from, in order: the step's own service (`StepSpec.model`), the
 * `ModelFactory` in context for a step that names a target (`StepSpec.target`: its own
 * provider, model, base URL or options), else the `LanguageModel` in context. Around it, for
 * each attempt, a thin wrapper puts the run's correlation id and the workflow and step names in
 * every request's metadata and counts the usage and cost of the attempt's calls.
 *
 * The run's budget (and the step's own) reaches the calls one of two ways. A model from the
 * factory carries a budget layer inside its observability layer that honours
 * `BudgetTracker.CurrentBudget`: the step's tracker is set on the fiber, so a refusal is logged,
 * counted and recorded like any other call. Any other model is wrapped with the tracker, as a
 * model in context is wrapped when no factory is there (the builder with a plain model).
 *
 * A step that names a target with no factory in context fails with a `Configuration` error:
 * creating a bare provider would skip the configured PII guard, observability, budget and
 * resilience.
 *
 * @since 0.1.0
 */
import { Effect, Exit, Stream } from "effect"
import * as BudgetLanguageModel from "../../budget/BudgetLanguageModel.ts"
import * as BudgetTracker from "../../budget/BudgetTracker.ts"
import * as LanguageModel from "../../LanguageModel.ts"
import * as LlmError from "../../LlmError.ts"
import type { LlmRequest } from "../../LlmRequest.ts"
import type { LlmResponse } from "../../LlmResponse.ts"
import type * as ModelFactory from "../../ModelFactory.ts"
import * as Money from "../../pricing/Money.ts"
import * as Router from "../../routing/Router.ts"
import * as Usage from "../../Usage.ts"
import type * as WorkflowDefinition from "../WorkflowDefinition.ts"
import type { StepSpec } from "../WorkflowDefinition.ts"
import type * as RunBudget from "./runBudget.ts"

/**
 * What one attempt's model calls used.
 *
 * @since 0.1.0
 * @category models
 */
export interface Meter {
  usage: Usage.Usage
  /** Summed in whole nano-USD (exact), turned into USD when read. */
  costNanos: Money.Nanos
}

/**
 * A fresh meter for an attempt.
 *
 * @since 0.1.0
 * @category constructors
 */
export const meter = (): Meter => ({ usage: Usage.empty, costNanos: Money.zero })

/**
 * What a meter's calls cost, in USD.
 *
 * @since 0.1.0
 * @category accessors
 */
export const costUsd = (meter: Meter): number => Money.toUsd(meter.costNanos)

/**
 * A step's model, ready for its attempts.
 *
 * @since 0.1.0
 * @category models
 */
export interface StepModel {
  /** Runs an attempt's work with the step's model in context, counting its calls into `meter`. */
  readonly provide: <A, R>(
    work: Effect.Effect<A, LlmError.LlmError, R>,
    meter: Meter
  ) => Effect.Effect<A, LlmError.LlmError, Exclude<R, LanguageModel.LanguageModel>>
}

/**
 * What the step models of a run are made from.
 *
 * @since 0.1.0
 * @category models
 */
export interface Environment {
  readonly factory: ModelFactory.Service | undefined
  /** The `Router` in context, for the steps with a `taskType`. */
  readonly router?: Router.Service | undefined
  /** The `LanguageModel` in context. */
  readonly model: LanguageModel.Service | undefined
  /** The run's budget, or why it could not be built (which fails every step that calls a model). */
  readonly budget: Exit.Exit<RunBudget.RunBudget, LlmError.LlmError>
  /** The run's correlation id and workflow name, put in every request. */
  readonly metadata: { readonly correlationId: string; readonly workflow: string }
  /** Request settings for the calls that set none (the run's `requestDefaults`). */
  readonly defaults?: WorkflowDefinition.RequestDefaults | undefined
}

/**
 * The error of a step that names a target when no `ModelFactory` is in context.
 *
 * @since 0.1.0
 * @category errors
 */
export const noFactory = (step: string, target: ModelFactory.Target): LlmError.LlmError =>
  LlmError.make(
    target.provider,
    new LlmError.Configuration({
      description: `step "${step}" names its own model (provider "${target.provider}"${
        target.options !== undefined ? " with options" : ""
      }), but there is no ModelFactory in context to build it with the configured guard, observability, budget and retries`,
      setting: "provider",
      fix: "provide the model with Stack.fromConfig(resolved) or Stack.layerFactory(config) (they provide the LanguageModel " +
        "and the ModelFactory), or remove the step's provider and options to use the LanguageModel in context"
    })
  )

/**
 * The error of a step with a `taskType` when no `Router` is in context.
 *
 * @since 0.1.0
 * @category errors
 */
export const noRouter = (step: string, taskType: string): LlmError.LlmError =>
  LlmError.make(
    "router",
    new LlmError.Configuration({
      description: `step "${step}" is routed by taskType "${taskType}", but there is no Router in context`,
      setting: "taskType",
      fix: "build the stack with RoutingStack.fromConfig(resolved) (routes: in the config), or remove the step's taskType"
    })
  )

interface Source {
  readonly model: LanguageModel.Service
  /** Honours `BudgetTracker.CurrentBudget` inside its observability layer (it comes from the factory). */
  readonly fromFactory: boolean
}

const sourceOf = <R>(spec: StepSpec<R>, env: Environment): Effect.Effect<Source | undefined, LlmError.LlmError> => {
  const factory = env.factory
  if (spec.model !== undefined) return Effect.succeed({ model: spec.model, fromFactory: spec.model === factory?.model })
  if (spec.taskType !== undefined) {
    if (env.router === undefined) return Effect.fail(noRouter(spec.id, spec.taskType))
    // Every candidate is a stack of the factory: it honours the run's budget on the fiber.
    return Effect.succeed({ model: Router.taskModel(env.router, spec.taskType), fromFactory: true })
  }
  if (spec.target !== undefined) {
    if (factory === undefined) return Effect.fail(noFactory(spec.id, spec.target))
    return Effect.map(factory.forProvider(spec.target), (model) => ({ model, fromFactory: true }))
  }
  if (env.model === undefined) return Effect.succeed(undefined)
  return Effect.succeed({ model: env.model, fromFactory: env.model === factory?.model })
}

const count = (meter: Meter, response: LlmResponse): LlmResponse => {
  meter.usage = Usage.add(meter.usage, response.usage)
  if (response.cost !== undefined) meter.costNanos = Money.add(meter.costNanos, Money.fromUsd(response.cost.usd))
  return response
}

/**
 * The model of a step (`undefined` when there is none: the step calls no model), held to the
 * run's budget and the step's own.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <R>(spec: StepSpec<R>, env: Environment): Effect.Effect<StepModel | undefined, LlmError.LlmError> =>
  Effect.flatMap(sourceOf(spec, env), (source) => {
    if (source === undefined) return Effect.succeed(undefined)
    if (Exit.isFailure(env.budget)) return Effect.failCause(env.budget.cause)
    const budget = env.budget.value
    return Effect.map(budget.forStep(spec.id, spec.budget), (tracker): StepModel => {
      const onFiber = tracker !== undefined && source.fromFactory ? tracker : undefined
      const model = tracker !== undefined && !source.fromFactory ? BudgetLanguageModel.wrap(tracker)(source.model) : source.model
      const metadata = { ...env.metadata, step: spec.id }
      const defaults = env.defaults
      // The run's own output cap first, else the budget's (what a budget's output cap amounts to).
      const maxTokens = defaults?.maxTokens ?? (tracker !== undefined ? budget.defaultMaxTokens : undefined)
      const system = defaults?.system
      const temperature = defaults?.temperature
      const request = (request: LlmRequest): LlmRequest => ({
        ...request,
        ...(system !== undefined && request.system === undefined ? { system } : {}),
        ...(maxTokens !== undefined && request.maxTokens === undefined ? { maxTokens } : {}),
        ...(temperature !== undefined && request.temperature === undefined ? { temperature } : {}),
        metadata: { ...request.metadata, ...metadata }
      })
      return {
        provide: (work, meter) => {
          const provided = Effect.provideService(
            work,
            LanguageModel.LanguageModel,
            LanguageModel.wrap(model, {
              request,
              generate: (request, next) => Effect.map(next(request), (response) => count(meter, response)),
              stream: (request, next) =>
                Stream.map(next(request), (part) => {
                  if (part.type === "finish") count(meter, part.response)
                  return part
                })
            })
          )
          return onFiber === undefined ? provided : Effect.provideService(provided, BudgetTracker.CurrentBudget, onFiber)
        }
      }
    })
  })
