/**
 * The agent loop: a model that calls tools, reads their results and answers, held to the budget
 * at every checkpoint.
 *
 * {@link run} calls the `LanguageModel` in context (the whole stack: observability, budget,
 * retry...), runs the tools the model asked for (concurrently, at most `toolConcurrency` at a
 * time), sends their results back as a `tool` message (linked to each call by its id), and goes
 * on until the model answers without calling a tool, `maxSteps` model calls were made, or the
 * budget stops it. A step is one model call and the tools it asked for.
 *
 * Budget checkpoints: the budget layer reserves before each model call and commits what it
 * really used (or, for a call abandoned after it was sent, the estimate its policy gives); the
 * loop also checks the fiber's budget (`BudgetTracker.CurrentBudget`, else the `BudgetTracker` in
 * context) after every model response and after every tool call, and bounds every tool by the
 * budget's deadline, so a deadline that passes during a slow tool interrupts it.
 *
 * How a run ends: a final answer or `maxSteps` succeed with an {@link AgentResult} (its
 * `stopReason` says which). The budget running out (a refused reservation, a failed checkpoint,
 * the deadline), a model call that fails, or a failing tool with `onToolError: "fail"` fail the
 * run with an {@link AgentError} that carries the result so far (`error.result`: the transcript,
 * the steps and their usage), so nothing that was paid for is lost. A failed checkpoint is a
 * failure rather than a quiet result so that a caller cannot mistake a cut-short run for an
 * answer. Interrupting the run interrupts the model call or tools in flight; the budget keeps
 * what the finished calls cost (and charges the interrupted call by its policy), and `onStep`
 * has already seen every finished step.
 *
 * Sub-agents: a tool may run a child loop under a budget of its own with {@link delegate}
 * (`BudgetTracker.delegate`): the child's calls are reserved on the child budget, and what they
 * use counts in the parent's too.
 *
 * `conversationId` (given, or generated) travels in every request's `metadata.conversationId`,
 * so the budget counts the conversation, the observability layer writes it on spans
 * (`gen_ai.conversation.id`) and ledger rows (`llm-connect usage --by conversation`), and every
 * log line of the run is annotated with it.
 *
 * @since 0.1.0
 */
import { Cause, Clock, Context, Data, Effect, Exit, Random, Schema } from "effect"
import * as BudgetTracker from "../budget/BudgetTracker.ts"
import type * as Budget from "../budget/Budget.ts"
import * as CallContext from "../CallContext.ts"
import * as LanguageModel from "../LanguageModel.ts"
import * as LlmError from "../LlmError.ts"
import type * as LlmRequest from "../LlmRequest.ts"
import * as LlmResponse from "../LlmResponse.ts"
import * as Message from "../Message.ts"
import * as Tool from "../Tool.ts"
import * as ToolCall from "../ToolCall.ts"
import * as Usage from "../Usage.ts"

/**
 * A declared tool and the Effect that runs it: what {@link run} offers the model.
 *
 * @since 0.1.0
 * @category models
 */
export interface ToolHandler<R = never> {
  readonly tool: Tool.Any
  /** Decodes the call's arguments with the tool's Schema and runs the tool. */
  readonly execute: (call: ToolCall.ToolCall) => Effect.Effect<unknown, ToolFailure, R>
}

/**
 * Why a tool call did not produce a result: its arguments did not decode (`InvalidArguments`,
 * always sent back to the model), or the tool failed (`Failed`, sent back or failing the run by
 * `onToolError`).
 *
 * @since 0.1.0
 * @category models
 */
export type ToolFailure =
  | { readonly _tag: "InvalidArguments"; readonly message: string }
  | { readonly _tag: "Failed"; readonly message: string; readonly error: unknown }

const errorText = (error: unknown): string => {
  if (LlmError.isLlmError(error)) return error.message
  if (error instanceof Error) return error.message
  if (typeof error === "object" && error !== null && "_tag" in error) {
    const tag = String(error._tag)
    return "message" in error && typeof error.message === "string" && error.message !== "" ? `${tag}: ${error.message}` : tag
  }
  if (typeof error === "string") return error
  try {
    return JSON.stringify(error) ?? String(error)
  } catch {
    return String(error)
  }
}

/**
 * The services a tool's `success` Schema needs to encode a result (none when it declares none).
 *
 * @since 0.1.0
 * @category models
 */
export type SuccessServices<T extends Tool.Any> = T extends Tool.Tool<string, Schema.Top, infer S>
  ? Schema.Top extends S ? never : S["EncodingServices"]
  : never

/**
 * Pairs a tool with its implementation: `run` gets the arguments decoded with the tool's Schema
 * (a decode failure goes back to the model as an error result, naming what is wrong) and
 * returns the result the model reads (encoded with the tool's `success` Schema when it has one).
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * const weather = Tool.make("get_weather", { parameters: Schema.Struct({ city: Schema.String }) })
 * const handler = Agent.handle(weather, ({ city }) => Effect.succeed({ city, celsius: 21 }))
 */
export const handle = <T extends Tool.Any, A, E, R>(
  tool: T,
  run: (args: T["parametersSchema"]["Type"], call: ToolCall.ToolCall) => Effect.Effect<A, E, R>
): ToolHandler<R | T["parametersSchema"]["DecodingServices"] | SuccessServices<T>> => {
  const decode = Schema.decodeUnknownEffect(tool.parametersSchema)
  const encode = tool.successSchema === undefined ? undefined : Schema.encodeUnknownEffect(tool.successSchema)
  return {
    tool,
    execute: (call) => {
      if (ToolCall.isUnparsed(call)) {
        return Effect.fail({
          _tag: "InvalidArguments",
          message: `the arguments of ${call.name} are not JSON (${call.argumentsError}); send them again as one JSON object`
        })
      }
      const decoded = Effect.mapError(decode(call.arguments, { errors: "all" }), (error): ToolFailure => ({
        _tag: "InvalidArguments",
        message: `the arguments of ${call.name} do not match its parameters: ${error.message}`
      }))
      return Effect.flatMap(decoded, (args) => {
        const result = Effect.mapError(run(args, call), (error): ToolFailure => ({ _tag: "Failed", message: errorText(error), error }))
        return encode === undefined ? result : Effect.flatMap(result, (value) =>
          Effect.mapError(encode(value), (error): ToolFailure => ({
            _tag: "Failed",
            message: `the result of ${call.name} does not match its success Schema: ${error.message}`,
            error
          })))
      })
    }
  }
}

/**
 * What one tool call of a step came to.
 *
 * @since 0.1.0
 * @category models
 */
export interface ToolOutcome {
  readonly id: string
  readonly name: string
  /** `true` when the model was sent an error (unknown tool, bad arguments, a failure). */
  readonly isFailure: boolean
  /** How long the tool ran, in milliseconds (`Clock`). */
  readonly millis: number
}

/**
 * One step: a model call and the tools it asked for.
 *
 * @since 0.1.0
 * @category models
 */
export interface Step {
  /** 1 for the first model call. */
  readonly index: number
  /** When the step started, epoch milliseconds (`Clock`). */
  readonly startedAt: number
  /** How long the model call took, in milliseconds. */
  readonly modelMillis: number
  /** How long its tools took together (they run concurrently), in milliseconds. */
  readonly toolMillis: number
  /**
   * What the budget charged for the model call: every attempt (retries, abandoned attempts
   * charged by the policy) when the budget layer reports them, else the response's usage.
   */
  readonly usage: Usage.Usage
  /** The cost charged for the call, when known. */
  readonly costUsd?: number | undefined
  /** The model's response (absent when the call failed). */
  readonly response?: LlmResponse.LlmResponse | undefined
  /** The tools it ran, in the order the model asked for them. */
  readonly tools: ReadonlyArray<ToolOutcome>
}

/**
 * Why a run stopped: `final-answer` (the model answered without calling a tool), `max-steps`,
 * or, in an {@link AgentError}, `budget-exceeded`, `model-error`, `tool-error` or
 * `invalid-options`.
 *
 * @since 0.1.0
 * @category models
 */
export type StopReason = "final-answer" | "max-steps" | "budget-exceeded" | "model-error" | "tool-error" | "invalid-options"

/**
 * What a run produced (also the partial result an {@link AgentError} carries).
 *
 * @since 0.1.0
 * @category models
 */
export interface AgentResult {
  readonly conversationId: string
  /** The final answer's text (the last response's, when the run stopped before one). */
  readonly text: string
  /** The conversation: the input messages, then every assistant message and tool result. */
  readonly messages: ReadonlyArray<Message.Message>
  readonly steps: ReadonlyArray<Step>
  /** The last step's usage (empty when no step was made). */
  readonly lastStepUsage: Usage.Usage
  /** The usage of every step together. */
  readonly totalUsage: Usage.Usage
  /** The cost of every step together, when some step's cost is known. */
  readonly totalCostUsd?: number | undefined
  readonly stopReason: StopReason
}

/**
 * A tool failed and the run was asked to fail with it (`onToolError: "fail"`).
 *
 * @since 0.1.0
 * @category errors
 */
export class ToolError extends Data.TaggedError("ToolError")<{
  readonly tool: string
  readonly callId: string
  readonly message: string
  readonly error: unknown
}> {}

/**
 * A run that stopped before a final answer or `maxSteps`: why (`stopReason`), the error that
 * stopped it (an `LlmError`, e.g. reason `BudgetExceeded`, or a {@link ToolError}), and the
 * result so far (`result`: transcript, steps, usage).
 *
 * @since 0.1.0
 * @category errors
 */
export class AgentError extends Data.TaggedError("AgentError")<{
  readonly stopReason: Exclude<StopReason, "final-answer" | "max-steps">
  readonly error: LlmError.LlmError | ToolError
  readonly result: AgentResult
  readonly message: string
}> {}

/**
 * The options of {@link run}.
 *
 * @since 0.1.0
 * @category models
 */
export type Options<R> =
  & {
    /** The tools the model may call, with their implementations. */
    readonly tools?: ReadonlyArray<ToolHandler<R>> | undefined
    readonly system?: string | undefined
    /** At most this many model calls (default 10). */
    readonly maxSteps?: number | undefined
    /** At most this many tools running at once (default 4). */
    readonly toolConcurrency?: number | undefined
    /** A failing tool: its error goes back to the model (`"result"`, the default), or fails the run (`"fail"`). */
    readonly onToolError?: "result" | "fail" | undefined
    /** Ties the run's calls together (generated when absent). */
    readonly conversationId?: string | undefined
    /** Called after every step (e.g. to keep progress should the run be interrupted). */
    readonly onStep?: ((step: Step) => Effect.Effect<void>) | undefined
    /** Request settings sent with every call. */
    readonly model?: string | undefined
    readonly maxTokens?: number | undefined
    readonly temperature?: number | undefined
    readonly toolChoice?: Tool.ToolChoice | undefined
    readonly metadata?: LlmRequest.Metadata | undefined
  }
  & ({ readonly prompt: string } | { readonly messages: ReadonlyArray<Message.Message> })

/**
 * The defaults of {@link run}.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaults = { maxSteps: 10, toolConcurrency: 4, onToolError: "result" } as const

/**
 * The fiber's budget: `BudgetTracker.CurrentBudget` (a sub-agent's, a workflow run's), else the
 * `BudgetTracker` in context, else none (then only the budget layer's own checks apply).
 *
 * @since 0.1.0
 * @category budget
 */
export const currentTracker: Effect.Effect<BudgetTracker.Service | undefined> = Effect.withFiber((fiber) =>
  Effect.succeed(fiber.getRef(BudgetTracker.CurrentBudget) ?? Context.getOrUndefined(fiber.context, BudgetTracker.BudgetTracker))
)

/**
 * A new conversation id, e.g. `conv-3f9a0c12b7e4d851`, from `Random`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const newConversationId: Effect.Effect<string> = Effect.map(
  Effect.all([Random.nextInt, Random.nextInt]),
  ([a, b]) => `conv-${(a >>> 0).toString(16).padStart(8, "0")}${(b >>> 0).toString(16).padStart(8, "0")}`
)

const invalid = (conversationId: string, messages: ReadonlyArray<Message.Message>, description: string) =>
  new AgentError({
    stopReason: "invalid-options",
    error: LlmError.make("agent", new LlmError.InvalidRequest({ description })),
    result: summarise(conversationId, messages, [], "invalid-options", ""),
    message: `the agent was not started: ${description}`
  })

const summarise = (
  conversationId: string,
  messages: ReadonlyArray<Message.Message>,
  steps: ReadonlyArray<Step>,
  stopReason: StopReason,
  text: string
): AgentResult => {
  let totalUsage = Usage.empty
  let cost: number | undefined
  for (const step of steps) {
    totalUsage = Usage.add(totalUsage, step.usage)
    if (step.costUsd !== undefined) cost = (cost ?? 0) + step.costUsd
  }
  return {
    conversationId,
    text,
    messages,
    steps,
    lastStepUsage: steps.at(-1)?.usage ?? Usage.empty,
    totalUsage,
    ...(cost !== undefined ? { totalCostUsd: Math.round(cost * 1e9) / 1e9 } : {}),
    stopReason
  }
}

const stopReasonOf = (error: LlmError.LlmError): "budget-exceeded" | "model-error" =>
  error.reason._tag === "BudgetExceeded" ? "budget-exceeded" : "model-error"

// What a failed effect failed with, when it is an LlmError (the budget, the model) or a ToolError.
const stoppingError = (cause: Cause.Cause<LlmError.LlmError | ToolError>): LlmError.LlmError | ToolError | undefined => {
  for (const reason of cause.reasons) if (Cause.isFailReason(reason)) return reason.error
  return undefined
}

/**
 * Runs the agent loop (see the module description).
 *
 * @since 0.1.0
 * @category running
 * @example
 * const result = yield* Agent.run({
 *   tools: [Agent.handle(weather, ({ city }) => Effect.succeed({ city, celsius: 21 }))],
 *   prompt: "What is the weather in Paris?",
 *   maxSteps: 5
 * })
 * result.text; result.totalUsage; result.steps.length
 */
export const run = <R = never>(options: Options<R>): Effect.Effect<AgentResult, AgentError, LanguageModel.LanguageModel | R> =>
  Effect.flatMap(
    options.conversationId === undefined ? newConversationId : Effect.succeed(options.conversationId),
    (conversationId) =>
      loop(options, conversationId).pipe(
        Effect.annotateLogs({ conversationId }),
        Effect.withSpan("Agent.run", { attributes: { "gen_ai.conversation.id": conversationId } }, { captureStackTrace: false })
      )
  )

const loop = <R>(options: Options<R>, conversationId: string): Effect.Effect<AgentResult, AgentError, LanguageModel.LanguageModel | R> =>
  Effect.gen(function*() {
    const input = "prompt" in options ? Message.fromPrompt(options.prompt) : options.messages
    const maxSteps = options.maxSteps ?? defaults.maxSteps
    const toolConcurrency = options.toolConcurrency ?? defaults.toolConcurrency
    const onToolError = options.onToolError ?? defaults.onToolError
    if (!Number.isSafeInteger(maxSteps) || maxSteps < 1) {
      return yield* invalid(conversationId, input, `maxSteps must be a whole number of model calls, at least 1, got ${maxSteps}`)
    }
    if (!Number.isSafeInteger(toolConcurrency) || toolConcurrency < 1) {
      return yield* invalid(conversationId, input, `toolConcurrency must be a whole number, at least 1, got ${toolConcurrency}`)
    }
    if (input.length === 0) return yield* invalid(conversationId, input, "the conversation is empty; give a prompt or at least one message")
    const handlers = new Map<string, ToolHandler<R>>()
    for (const handler of options.tools ?? []) {
      if (handlers.has(handler.tool.name)) {
        return yield* invalid(conversationId, input, `tool ${handler.tool.name} is given twice; give each tool its own name`)
      }
      handlers.set(handler.tool.name, handler)
    }
    const known = [...handlers.keys()].join(", ")
    const definitions = [...handlers.values()].map((handler) => handler.tool.definition)
    const model = yield* LanguageModel.LanguageModel
    const clock = yield* Clock.Clock
    const tracker = yield* currentTracker

    // Every request of the run shares these fields; only the messages grow.
    const base: Omit<LlmRequest.LlmRequest, "messages"> = {
      ...(options.model !== undefined ? { model: options.model } : {}),
      ...(options.system !== undefined ? { system: options.system } : {}),
      ...(options.maxTokens !== undefined ? { maxTokens: options.maxTokens } : {}),
      ...(options.temperature !== undefined ? { temperature: options.temperature } : {}),
      ...(definitions.length > 0 ? { tools: definitions } : {}),
      ...(options.toolChoice !== undefined ? { toolChoice: options.toolChoice } : {}),
      metadata: { ...options.metadata, conversationId }
    }

    const messages: Array<Message.Message> = [...input]
    const steps: Array<Step> = []
    let text = ""

    const stop = (stopReason: AgentError["stopReason"], error: LlmError.LlmError | ToolError) =>
      new AgentError({
        stopReason,
        error,
        result: summarise(conversationId, [...messages], [...steps], stopReason, text),
        message: `the agent stopped after ${steps.length} step(s) (${stopReason}): ${error.message}`
      })

    // Plain combinators rather than a generator: this runs for every tool call (bench/agent.ts).
    const runTool = (
      call: ToolCall.ToolCall,
      results: Array<Message.ToolResultPart | undefined>,
      outcomes: Array<ToolOutcome | undefined>,
      index: number
    ): Effect.Effect<void, LlmError.LlmError | ToolError, R> =>
      Effect.clockWith((clock) => {
        const started = clock.currentTimeMillisUnsafe()
        const handler = handlers.get(call.name)
        const execution: Effect.Effect<unknown, ToolFailure, R> = handler === undefined
          ? Effect.fail({
            _tag: "InvalidArguments",
            message: `there is no tool named ${call.name}; ${known === "" ? "no tools are available" : `the tools are: ${known}`}`
          })
          : handler.execute(call)
        const bounded: Effect.Effect<unknown, ToolFailure | LlmError.LlmError, R> = tracker === undefined
          ? execution
          : tracker.withinDeadline(execution, { provider: "agent", model: `tool ${call.name}` })
        const after = tracker === undefined ? Effect.void : tracker.checkpoint(`agent tool ${call.name}`)
        return Effect.matchCauseEffect(bounded, {
          onFailure: (cause): Effect.Effect<void, LlmError.LlmError | ToolError> => {
            const millis = clock.currentTimeMillisUnsafe() - started
            const error = Cause.findErrorOption(cause)
            // Interrupted or a defect: not the loop's to turn into a result.
            if (error._tag === "None") return Effect.failCause(cause as Cause.Cause<never>)
            const failure = error.value
            // The budget's deadline passed while the tool ran: the run stops.
            if (LlmError.isLlmError(failure)) return Effect.fail(failure)
            if (failure._tag === "Failed" && onToolError === "fail") {
              return Effect.fail(
                new ToolError({ tool: call.name, callId: call.id, message: `tool ${call.name} failed: ${failure.message}`, error: failure.error })
              )
            }
            results[index] = { type: "tool-result", id: call.id, name: call.name, result: { error: failure.message }, isFailure: true }
            outcomes[index] = { id: call.id, name: call.name, isFailure: true, millis }
            return after
          },
          onSuccess: (value) => {
            results[index] = { type: "tool-result", id: call.id, name: call.name, result: value }
            outcomes[index] = { id: call.id, name: call.name, isFailure: false, millis: clock.currentTimeMillisUnsafe() - started }
            return after
          }
        })
      })

    while (true) {
      const index = steps.length + 1
      const startedAt = clock.currentTimeMillisUnsafe()
      const totals = CallContext.makeTotals()
      const request: LlmRequest.LlmRequest = { ...base, messages: [...messages] }
      const exit = yield* Effect.exit(Effect.provideService(model.generate(request), CallContext.CurrentTotals, totals))
      const answeredAt = clock.currentTimeMillisUnsafe()
      if (Exit.isFailure(exit)) {
        const error = Cause.findErrorOption(exit.cause)
        // Interrupted or a defect: not the loop's to turn into a result.
        if (error._tag === "None") return yield* Effect.failCause(exit.cause as Cause.Cause<never>)
        // A failed call may still have been charged (an abandoned attempt): keep it in the steps.
        if (totals.usage !== undefined) {
          steps.push({ index, startedAt, modelMillis: answeredAt - startedAt, toolMillis: 0, usage: totals.usage, costUsd: totals.costUsd, tools: [] })
        }
        return yield* Effect.fail(stop(stopReasonOf(error.value), error.value))
      }
      const response = exit.value
      const usage = totals.usage ?? response.usage
      const costUsd = totals.usage !== undefined ? totals.costUsd : response.cost?.usd
      const calls = LlmResponse.toolCallsOf(response)
      text = response.content
      messages.push(Message.assistant(calls.length === 0 ? response.content : LlmResponse.partsOf(response)))
      const step: { -readonly [K in keyof Step]: Step[K] } = {
        index,
        startedAt,
        modelMillis: answeredAt - startedAt,
        toolMillis: 0,
        usage,
        ...(costUsd !== undefined ? { costUsd } : {}),
        response,
        tools: []
      }
      steps.push(step)
      const afterResponse = tracker === undefined ? Exit.void : yield* Effect.exit(tracker.checkpoint(`agent step ${index}`))
      if (Exit.isFailure(afterResponse)) {
        const error = Cause.findErrorOption(afterResponse.cause)
        if (error._tag === "Some") return yield* Effect.fail(stop("budget-exceeded", error.value))
        return yield* Effect.failCause(afterResponse.cause as Cause.Cause<never>)
      }
      if (calls.length === 0) {
        if (options.onStep !== undefined) yield* options.onStep(step)
        return summarise(conversationId, messages, steps, "final-answer", text)
      }
      if (index >= maxSteps) {
        if (options.onStep !== undefined) yield* options.onStep(step)
        return summarise(conversationId, messages, steps, "max-steps", text)
      }
      const results: Array<Message.ToolResultPart | undefined> = new Array(calls.length)
      const outcomes: Array<ToolOutcome | undefined> = new Array(calls.length)
      const toolsExit = yield* Effect.exit(
        Effect.forEach(calls, (call, i) => runTool(call, results, outcomes, i), { concurrency: toolConcurrency, discard: true })
      )
      const toolsDone = clock.currentTimeMillisUnsafe()
      step.toolMillis = toolsDone - answeredAt
      step.tools = outcomes.filter((outcome) => outcome !== undefined)
      const finished = results.filter((result) => result !== undefined)
      if (finished.length > 0) messages.push(Message.tool(finished))
      if (Exit.isFailure(toolsExit)) {
        const error = stoppingError(toolsExit.cause)
        if (error === undefined) return yield* Effect.failCause(toolsExit.cause as Cause.Cause<never>)
        return yield* Effect.fail(
          error._tag === "ToolError" ? stop("tool-error", error) : stop(stopReasonOf(error), error)
        )
      }
      if (options.onStep !== undefined) yield* options.onStep(step)
    }
  })

/**
 * Runs a sub-agent under a budget of its own (`BudgetTracker.delegate`: a child of the fiber's
 * budget with `limits`; what the child uses counts in the parent's budget too). Needs a
 * `BudgetTracker` in context (or a budget on the fiber).
 *
 * @since 0.1.0
 * @category running
 * @example
 * const research = Agent.handle(researchTool, ({ topic }) =>
 *   Effect.map(Agent.delegate({ totalTokens: 2000 }, "research", { prompt: topic, tools: [search] }), (r) => r.text))
 */
export const delegate = <R = never>(
  limits: Budget.Input,
  label: string,
  options: Options<R>
): Effect.Effect<AgentResult, AgentError | LlmError.LlmError, LanguageModel.LanguageModel | BudgetTracker.BudgetTracker | R> =>
  BudgetTracker.delegate(limits, label, run(options))
