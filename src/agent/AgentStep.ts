/**
 * An agent as a workflow step: a step type (plugin) whose tools are registered in code and
 * whose prompt comes from the workflow (YAML `type: <name>`, `with: { prompt, ... }`, or the
 * builder's `.use`).
 *
 * The step runs {@link Agent.run} on the step's model, so its calls go through the step's
 * stack and budget (the run's, and the step's own `budget:`), and, when the step's budget is on
 * the fiber (a model built by the configuration's `ModelFactory`, as the CLI's), the loop also
 * checks it after every model response and every tool call. The conversation id is
 * `<runId>/<step>`, so `llm-connect usage --by conversation` sums one step of one run. The
 * step's output is the final answer's text (`{{steps.<id>.output}}` in YAML; the step's usage is
 * the workflow's, summed over the loop's calls); a run the budget stops
 * fails the step with the `BudgetExceeded` error (a failing tool with `onToolError: "fail"`, with
 * an `Unknown` error naming the tool).
 *
 * @since 0.1.0
 */
import { Effect, Schema } from "effect"
import * as LlmError from "../LlmError.ts"
import * as StepType from "../workflow/StepType.ts"
import * as Agent from "./Agent.ts"

/**
 * The options of {@link make}: the step type's name, its tools and its defaults.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The step type's name, used as `type:` in YAML. */
  readonly name: string
  readonly description?: string | undefined
  /** Every tool the step may offer the model (a step's `with.tools` may pick some by name). */
  readonly tools: ReadonlyArray<Agent.ToolHandler>
  /** The system prompt when the step gives none. */
  readonly system?: string | undefined
  readonly maxSteps?: number | undefined
  readonly toolConcurrency?: number | undefined
  readonly onToolError?: "result" | "fail" | undefined
}

const positive = Schema.Int.check(Schema.isGreaterThanOrEqualTo(1))

/**
 * The arguments a step gives (`with:` in YAML), for a step type offering `toolNames`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const args = (toolNames: ReadonlyArray<string>) =>
  Schema.Struct({
    prompt: Schema.String.check(Schema.isNonEmpty()).annotate({ description: "The task (a template in YAML)." }),
    system: Schema.optionalKey(Schema.String),
    maxSteps: Schema.optionalKey(positive),
    toolConcurrency: Schema.optionalKey(positive),
    onToolError: Schema.optionalKey(Schema.Literals(["result", "fail"])),
    tools: Schema.optionalKey(
      Schema.Array(toolNames.length === 0 ? Schema.Never : Schema.Literals(toolNames as [string, ...Array<string>]))
    ).annotate({ description: "Which of the registered tools to offer (all when absent)." })
  })

/**
 * The arguments, decoded.
 *
 * @since 0.1.0
 * @category models
 */
export type Args = ReturnType<typeof args>["Type"]

/**
 * The error a step fails with when its agent run stopped early.
 *
 * @since 0.1.0
 * @category errors
 */
export const toLlmError = (error: Agent.AgentError): LlmError.LlmError =>
  LlmError.isLlmError(error.error)
    ? error.error
    : LlmError.make("agent", new LlmError.Unknown({ description: error.message }))

/**
 * Makes the step type. Register it with `StepType.layer([AgentStep.make(...)])`.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * const researcher = AgentStep.make({ name: "researcher", tools: [Agent.handle(search, runSearch)], maxSteps: 6 })
 * // YAML:  - { id: notes, type: researcher, with: { prompt: "Notes on {{input.topic}}" } }
 */
export const make = (options: Options): StepType.StepType => {
  const names = options.tools.map((handler) => handler.tool.name)
  const schema = args(names)
  return StepType.make<Args>({
    name: options.name,
    description: options.description ?? `an agent with the tools ${names.join(", ") || "(none)"}`,
    args: schema as Schema.Codec<Args, unknown>,
    execute: (given, context) => {
      const chosen = given.tools === undefined ? options.tools : options.tools.filter((handler) => given.tools!.includes(handler.tool.name))
      const system = given.system ?? options.system
      const maxSteps = given.maxSteps ?? options.maxSteps
      const toolConcurrency = given.toolConcurrency ?? options.toolConcurrency
      const onToolError = given.onToolError ?? options.onToolError
      return Agent.run({
        prompt: given.prompt,
        tools: chosen,
        conversationId: `${context.runId}/${context.step}`,
        ...(system !== undefined ? { system } : {}),
        ...(maxSteps !== undefined ? { maxSteps } : {}),
        ...(toolConcurrency !== undefined ? { toolConcurrency } : {}),
        ...(onToolError !== undefined ? { onToolError } : {})
      }).pipe(
        Effect.map((result) => result.text),
        Effect.mapError(toLlmError)
      )
    }
  })
}
