/**
 * The one prompt-step builder, shared by the TypeScript builder (`Workflow.prompt`) and YAML
 * files (`WorkflowYaml.compile`): a step that builds a request from its context, sends it to
 * the step's model and reads the reply as text or as JSON (checked against a Schema when there
 * is one).
 *
 * @since 0.1.0
 */
import { Effect, type Schema } from "effect"
import * as LanguageModel from "../../LanguageModel.ts"
import type * as LlmError from "../../LlmError.ts"
import type { LlmRequest } from "../../LlmRequest.ts"
import type * as ModelFactory from "../../ModelFactory.ts"
import type { BudgetLimits, RetryPolicy, StepContext, StepSpec } from "../WorkflowDefinition.ts"
import { decodeReply } from "./jsonOutput.ts"

/**
 * How the reply is read: its text, or JSON (decoded with `schema` when there is one).
 *
 * @since 0.1.0
 * @category models
 */
export type Output =
  | { readonly type: "text" }
  | { readonly type: "json"; readonly schema?: Schema.Top | undefined }

/**
 * A prompt step.
 *
 * @since 0.1.0
 * @category models
 */
export interface PromptStep {
  readonly id: string
  readonly needs: ReadonlyArray<string>
  readonly retry?: RetryPolicy | undefined
  readonly timeoutMs?: number | undefined
  readonly budget?: BudgetLimits | undefined
  /** The model the step asks the `ModelFactory` for (default: the `LanguageModel` in context). */
  readonly target?: ModelFactory.Target | undefined
  /** The task type its calls are routed as (the `Router` in context). */
  readonly taskType?: string | undefined
  /** The request, built from the step's context when an attempt starts. */
  readonly request: (context: StepContext) => LlmRequest
  readonly output: Output
}

/**
 * Sends a request with the `LanguageModel` in context and reads the reply.
 *
 * @since 0.1.0
 * @category running
 */
export const call = (step: string, request: LlmRequest, output: Output): Effect.Effect<unknown, LlmError.LlmError, LanguageModel.LanguageModel> => {
  const response = LanguageModel.LanguageModel.use((model) => model.generate(request))
  return output.type === "text"
    ? Effect.map(response, (reply) => reply.content)
    : Effect.flatMap(response, (reply) => decodeReply(step, reply, output.schema))
}

/**
 * The runnable step.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (step: PromptStep): StepSpec => ({
  id: step.id,
  needs: step.needs,
  retry: step.retry,
  timeoutMs: step.timeoutMs,
  budget: step.budget,
  ...(step.target !== undefined ? { target: step.target } : {}),
  ...(step.taskType !== undefined ? { taskType: step.taskType } : {}),
  run: (context) => Effect.suspend(() => call(context.step, step.request(context), step.output))
})
