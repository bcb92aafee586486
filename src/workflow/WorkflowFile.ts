/**
 * The YAML workflow format, as a Schema (the source of `contracts/workflow.schema.json`).
 *
 * ```yaml
 * name: article
 * inputs:
 *   topic: { type: string, description: What the article is about }
 * defaults: { provider: mock, params: { maxTokens: 400 }, retry: 2, timeout: 30s }
 * budget: { totalTokens: 20000 }
 * steps:
 *   - id: outline
 *     prompt: "Outline an article about {{input.topic}}"
 *   - id: draft
 *     needs: [outline]
 *     prompt: "Write the article from this outline: {{steps.outline.output}}"
 * ```
 *
 * This module checks the shape only; `WorkflowYaml` adds what a Schema cannot see (unknown
 * steps and variables, cycles, providers, models, step types) and reports every problem with
 * its file and line.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import * as Budget from "../budget/Budget.ts"
import { DurationString } from "../DurationText.ts"

const Identifier = Schema.String.check(
  Schema.isPattern(/^[A-Za-z_][A-Za-z0-9_-]*$/, {
    message: "expected an identifier: letters, digits, _ and -, starting with a letter or _"
  })
)
const Count = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))
const PositiveInt = Schema.Int.check(Schema.isGreaterThan(0))

/**
 * The type of a declared input.
 *
 * @since 0.1.0
 * @category schemas
 */
export const InputType = Schema.Literals(["string", "number", "integer", "boolean"]).annotate({
  identifier: "WorkflowInputType"
})

/**
 * A declared input: a type name, or the long form with a description and a default. An input
 * without a default is required.
 *
 * @since 0.1.0
 * @category schemas
 */
export const InputSpec = Schema.Union([
  InputType,
  Schema.Struct({
    type: Schema.optionalKey(InputType),
    description: Schema.optionalKey(Schema.String),
    default: Schema.optionalKey(Schema.Union([Schema.String, Schema.Finite, Schema.Boolean]))
  })
]).annotate({ identifier: "WorkflowInput" })

/**
 * @since 0.1.0
 * @category models
 */
export type InputSpec = typeof InputSpec.Type

/**
 * Sampling parameters of a model step (an unknown key is an error).
 *
 * @since 0.1.0
 * @category schemas
 */
export const Params = Schema.Struct({
  maxTokens: Schema.optionalKey(PositiveInt),
  temperature: Schema.optionalKey(Schema.Finite.check(Schema.isBetween({ minimum: 0, maximum: 2 }))),
  topP: Schema.optionalKey(Schema.Finite.check(Schema.isBetween({ minimum: 0, maximum: 1 }))),
  stop: Schema.optionalKey(Schema.Array(Schema.String))
}).annotate({ identifier: "WorkflowParams" })

/**
 * Retries: a number of attempts after the first, or `{ times, delay }` (delay doubles each time).
 * Only retryable failures are retried.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Retry = Schema.Union([
  Count,
  Schema.Struct({ times: Count, delay: Schema.optionalKey(DurationString) })
]).annotate({ identifier: "WorkflowRetry" })

/**
 * The budget of a whole run (shared by its steps; `deadline` counts from the start of the run).
 *
 * @since 0.1.0
 * @category schemas
 */
export const RunBudget = Budget.BudgetConfig

/**
 * A step's own budget, a child of the run's: its calls count toward both.
 *
 * @since 0.1.0
 * @category schemas
 */
export const StepBudget = Budget.BudgetLimits

/**
 * A step's output: `text` (the default), or `json` checked against an optional JSON Schema.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Output = Schema.Union([
  Schema.Literals(["text", "json"]),
  Schema.Struct({
    type: Schema.Literals(["text", "json"]),
    schema: Schema.optionalKey(Schema.Record(Schema.String, Schema.Unknown).annotate({
      description: "A JSON Schema (draft 2020-12) the JSON output must match."
    }))
  })
]).annotate({ identifier: "WorkflowOutput" })

/**
 * Settings every model step inherits unless it sets its own.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Defaults = Schema.Struct({
  provider: Schema.optionalKey(Schema.String),
  model: Schema.optionalKey(Schema.String),
  params: Schema.optionalKey(Params),
  retry: Schema.optionalKey(Retry),
  timeout: Schema.optionalKey(DurationString)
}).annotate({ identifier: "WorkflowDefaults" })

/**
 * One step: a `prompt` for the model, or a registered `type` with its `with` arguments.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Step = Schema.Struct({
  id: Identifier,
  description: Schema.optionalKey(Schema.String),
  prompt: Schema.optionalKey(Schema.String).annotate({ description: "A template: {{input.x}}, {{steps.id.output}}." }),
  system: Schema.optionalKey(Schema.String),
  type: Schema.optionalKey(Schema.String).annotate({ description: "A registered step type (instead of prompt)." }),
  with: Schema.optionalKey(Schema.Unknown).annotate({ description: "The step type's arguments (strings are templates)." }),
  provider: Schema.optionalKey(Schema.String),
  model: Schema.optionalKey(Schema.String),
  options: Schema.optionalKey(Schema.Record(Schema.String, Schema.Unknown)).annotate({
    description: "Provider-specific settings for this step's model (e.g. the mock's latency)."
  }),
  taskType: Schema.optionalKey(Schema.String.check(Schema.isNonEmpty())).annotate({
    description: "Route this step's calls by task type (routes: in the config) instead of naming a provider or model."
  }),
  params: Schema.optionalKey(Params),
  needs: Schema.optionalKey(Schema.Array(Schema.String)),
  retry: Schema.optionalKey(Retry),
  timeout: Schema.optionalKey(DurationString),
  budget: Schema.optionalKey(StepBudget),
  output: Schema.optionalKey(Output)
}).annotate({ identifier: "WorkflowStep" })

/**
 * @since 0.1.0
 * @category models
 */
export type Step = typeof Step.Type

/**
 * A workflow file.
 *
 * @since 0.1.0
 * @category schemas
 */
export const WorkflowFile = Schema.Struct({
  name: Schema.String.check(Schema.isNonEmpty()),
  description: Schema.optionalKey(Schema.String),
  inputs: Schema.optionalKey(Schema.Record(Schema.String, InputSpec)),
  defaults: Schema.optionalKey(Defaults),
  budget: Schema.optionalKey(RunBudget),
  concurrency: Schema.optionalKey(PositiveInt).annotate({ description: "At most this many steps at once." }),
  steps: Schema.Array(Step).check(Schema.isMinLength(1))
}).annotate({ identifier: "WorkflowFile", description: "An llm-connect workflow (YAML or JSON)." })

/**
 * @since 0.1.0
 * @category models
 */
export type WorkflowFile = typeof WorkflowFile.Type

/**
 * How the JSON Schema of the format is generated: closed objects (an unknown key is an error,
 * as in validation).
 *
 * @since 0.1.0
 * @category contracts
 */
export const jsonSchemaOptions: Schema.ToJsonSchemaOptions = { onExcessProperty: "error" }

/**
 * The normalised form of a declared input.
 *
 * @since 0.1.0
 * @category accessors
 */
export const inputSpec = (spec: InputSpec): {
  readonly type: typeof InputType.Type
  readonly description?: string | undefined
  readonly default?: string | number | boolean | undefined
} => (typeof spec === "string" ? { type: spec } : { ...spec, type: spec.type ?? "string" })
