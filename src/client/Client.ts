/**
 * The Promise client: llm-connect for code that does not write Effect.
 *
 * ```ts
 * import { createClient, LlmConnectError } from "llm-connect"
 * const llm = createClient({ provider: "openai", model: "gpt-4o-mini", budget: { costUsd: 0.5, deadline: "2m" } })
 * const reply = await llm.generate("Name three rivers", { signal })
 * for await (const part of llm.stream("Tell a story")) if (part.type === "text-delta") process.stdout.write(part.text)
 * await llm.close()
 * ```
 *
 * `createClient(options)` takes the YAML configuration's shape and nothing else: no flag, no
 * `LLM_CONNECT_*` variable, no config file (only the providers' key variables and key files are
 * read). The options are checked before it returns, with the CLI's messages: a bad option, an
 * unknown provider or a missing key throws an `LlmConnectError` (`reason: "Configuration"`) at
 * once. The model stack is built once per client, on its first call, by the same path as every
 * other front door (`RoutingStack.fromConfig`: `Stack.fromConfig` and its router, on Node's
 * transport) and kept in a `ManagedRuntime` until {@link Client.close}.
 *
 * Every call takes an `AbortSignal`: aborting interrupts the call's fiber, which cancels the
 * HTTP request or the subprocess and settles the budget's reservation, as any interruption
 * does; the call rejects with `LlmConnectError { reason: "Interrupted", cause: signal.reason }`.
 * Every failure is an `LlmConnectError` (see `ClientError`).
 *
 * Budgets: the client's `budget` (from its options) lasts as long as the client;
 * `generate(prompt, { budget })` runs that call under a child budget of it, and
 * `client.child({ budget })` gives a client whose every call is charged to a child budget
 * (`BudgetTracker.delegate`, for sub-agents). `usage()` answers with the budget's totals, or,
 * for a client without a budget, the usage of the calls that returned through it.
 *
 * @since 0.1.0
 */
import { ConfigProvider, Effect, Exit, Fiber, JsonSchema, Layer, ManagedRuntime, Schema, SchemaRepresentation, Stream } from "effect"
import * as Budget from "../budget/Budget.ts"
import * as BudgetTracker from "../budget/BudgetTracker.ts"
import * as DurationText from "../DurationText.ts"
import * as LanguageModel from "../LanguageModel.ts"
import type * as LlmConnectConfig from "../LlmConnectConfig.ts"
import * as LlmError from "../LlmError.ts"
import type * as LlmRequest from "../LlmRequest.ts"
import type * as LlmResponse from "../LlmResponse.ts"
import type * as Message from "../Message.ts"
import * as ModelFactory from "../ModelFactory.ts"
import * as ResponseFormat from "../ResponseFormat.ts"
import * as RoutingStack from "../routing/RoutingStack.ts"
import type * as StreamPart from "../StreamPart.ts"
import type * as Usage from "../Usage.ts"
import * as Workflow from "../workflow/Workflow.ts"
import type * as WorkflowDefinition from "../workflow/WorkflowDefinition.ts"
import * as WorkflowYaml from "../workflow/WorkflowYaml.ts"
import * as ClientError from "./ClientError.ts"
import * as Check from "./internal/check.ts"
import * as Iterate from "./internal/iterate.ts"

/**
 * What `createClient` takes: the YAML configuration's shape (`provider`, `model`, `budget`,
 * `retry`, `providers`, `ledger`...), as written in the file (durations as text, keys as strings).
 *
 * @since 0.1.0
 * @category models
 */
export type Options = LlmConnectConfig.Options

/**
 * Request settings a client applies to every call that does not set its own
 * ({@link Client.withOptions}, or per call).
 *
 * @since 0.1.0
 * @category models
 */
export type RequestOptions = Partial<Omit<LlmRequest.Fields, "responseFormat">>

/**
 * What every call takes besides its input: an `AbortSignal`, a budget for this call alone (a
 * child of the client's), and request settings.
 *
 * @since 0.1.0
 * @category models
 */
export interface CallOptions extends RequestOptions {
  /** Aborting it stops the call: it rejects with `reason: "Interrupted"`, `cause: signal.reason`. */
  readonly signal?: AbortSignal | undefined
  /** Limits for this call alone, inside the client's budget (e.g. `{ totalTokens: 2000 }`). */
  readonly budget?: Budget.Input | undefined
}

/**
 * The prompt: text, or a request (`{ prompt }` or `{ messages }` with any request field).
 *
 * @since 0.1.0
 * @category models
 */
export type Input = LlmRequest.Input

/**
 * What {@link Client.generateObject} takes: the conversation and the object's schema, an Effect
 * `Schema` (the object is typed by it) or a JSON Schema object (converted with Effect's JSON
 * Schema support, as `llm-connect prompt --schema` does).
 *
 * @since 0.1.0
 * @category models
 */
export type ObjectOptions<S> =
  & RequestOptions
  & Omit<CallOptions, "prompt" | "messages">
  & ({ readonly prompt: Message.Prompt } | { readonly messages: ReadonlyArray<Message.Message> })
  & {
    readonly schema: S
    /** The schema's name for the provider (default `output`). */
    readonly name?: string | undefined
    readonly description?: string | undefined
    readonly strict?: boolean | undefined
    /** More requests when the answer does not decode (default 1). */
    readonly repairAttempts?: number | undefined
  }

/**
 * An Effect Schema the client can decode with (no services needed).
 *
 * @since 0.1.0
 * @category models
 */
export type DecodableSchema = Schema.Top & { readonly DecodingServices: never }

/**
 * What {@link Client.runWorkflow} takes besides the workflow and its input.
 *
 * @since 0.1.0
 * @category models
 */
export interface WorkflowOptions {
  /** The run's client timeout: a duration (`"30s"`, `"5m"`) or milliseconds. */
  readonly timeout?: string | number | undefined
  readonly signal?: AbortSignal | undefined
  /** Limits for this run alone, inside the client's budget. */
  readonly budget?: Budget.Input | undefined
}

/**
 * What {@link Client.usage} answers: what was consumed, and the budget's state when the client
 * has one.
 *
 * @since 0.1.0
 * @category models
 */
export interface UsageTotals extends BudgetTracker.Amounts {
  /** The client's budget (absent without one: the figures are then the calls that returned). */
  readonly budget?: {
    readonly limits: Budget.Budget
    readonly reserved: BudgetTracker.Amounts
    readonly remaining: BudgetTracker.Snapshot["remaining"]
    readonly openReservations: number
    readonly deadline?: { readonly atMillis: number; readonly remainingMs: number } | undefined
  } | undefined
}

/**
 * The client.
 *
 * @since 0.1.0
 * @category models
 */
export interface Client {
  /** One call: the response (`content`, `usage`, `cost`...). */
  readonly generate: (input: Input, options?: CallOptions) => Promise<LlmResponse.LlmResponse>
  /**
   * One call, streamed: text deltas, tool-call deltas, then a `finish` part with the response.
   * Leaving the loop (`break`, `return`, a throw) cancels the call.
   */
  readonly stream: (input: Input, options?: CallOptions) => AsyncIterable<StreamPart.StreamPart>
  /** Structured output: the answer decoded with the schema (repaired once by default). */
  readonly generateObject: {
    <S extends DecodableSchema>(options: ObjectOptions<S>): Promise<LanguageModel.ObjectResponse<S["Type"]>>
    <A = unknown>(options: ObjectOptions<Readonly<Record<string, unknown>>>): Promise<LanguageModel.ObjectResponse<A>>
  }
  /** Runs a workflow (a `Workflow` built in code, or the path of a YAML file) and waits for it. */
  readonly runWorkflow: {
    <I, S>(workflow: Workflow.Workflow<I, S, ClientServices>, input: NoInfer<I>, options?: WorkflowOptions): Promise<Workflow.Result<S>>
    (path: string, input?: Readonly<Record<string, unknown>>, options?: WorkflowOptions): Promise<WorkflowDefinition.RunResult>
  }
  /** The totals of this client's budget (or of its calls, without one). */
  readonly usage: () => Promise<UsageTotals>
  /** A client sharing this one's stack whose calls are charged to a child budget of this one's. */
  readonly child: (options: { readonly budget: Budget.Input; readonly label?: string | undefined }) => Client
  /** A client sharing this one's stack with other request settings for every call. */
  readonly withOptions: (options: RequestOptions) => Client
  /**
   * Ends the client: calls in flight are interrupted, the ledger is flushed and closed, spans
   * end. Later calls reject (`reason: "Configuration"`, setting `client`). Closing any client
   * made from it (`child`, `withOptions`) closes them all.
   */
  readonly close: () => Promise<void>
}

/**
 * The services a client's workflows may use: the configured model and the factory of others.
 *
 * @since 0.1.0
 * @category models
 */
export type ClientServices = LanguageModel.LanguageModel | ModelFactory.ModelFactory

// What every client made from one `createClient` shares.
interface Shared {
  readonly runtime: ManagedRuntime.ManagedRuntime<ClientServices | WorkflowServices, LlmError.LlmError>
  readonly inFlight: Set<Fiber.Fiber<unknown, unknown>>
  /** The streams being read: `close` ends them (their connections) too. */
  readonly streams: Set<() => Promise<void>>
  closed: Promise<void> | undefined
}

type WorkflowServices = Layer.Success<typeof import("../node/NodeProviders.ts").platform>

// One client's view: its request settings and how its calls find their budget.
interface View {
  readonly defaults: RequestOptions
  /** The budget this client's calls are charged to, when it is not the stack's own (a child's). */
  readonly tracker: Effect.Effect<BudgetTracker.Service, LlmError.LlmError, ClientServices> | undefined
  /** Whether calls are counted here: no budget, neither the stack's nor a child's. */
  readonly counts: boolean
  /** Without any budget: the running totals of calls that returned. */
  readonly totals: { inputTokens: number; outputTokens: number; totalTokens: number; costUsd: number }
}

const closedError = () =>
  ClientError.configuration(
    "client",
    "this client was closed; it makes no more calls",
    "create a new client with createClient(...) (close() ends a client and every client made from it)"
  )

const layerOf = (resolved: LlmConnectConfig.Resolved, environment: ConfigProvider.ConfigProvider) =>
  // Node's transport is loaded here, not imported by the module: the root entry does not load
  // @effect/platform-node until a client is used.
  Layer.unwrap(Effect.map(Effect.promise(() => import("../node/NodeProviders.ts")), (Node) =>
    // The configured stack with its router (a workflow step's taskType:).
    Layer.unwrap(RoutingStack.fromConfig(resolved)).pipe(
      Layer.provideMerge(Layer.merge(Node.layer, Node.platform))
    ))).pipe(Layer.provide(ConfigProvider.layer(environment)))

const requestDefaults = (config: LlmConnectConfig.LlmConnectConfig): RequestOptions => ({
  ...(config.system !== undefined ? { system: config.system } : {}),
  ...(config.maxTokens !== undefined ? { maxTokens: config.maxTokens } : {}),
  ...(config.temperature !== undefined ? { temperature: config.temperature } : {}),
  ...(config.timeoutMs !== undefined ? { timeoutMs: config.timeoutMs } : {})
})

const throwIfInvalidBudget = (budget: Budget.Input | undefined): void => {
  if (budget === undefined) return
  const checked = Budget.validate(budget)
  if (checked._tag === "Failure") throw ClientError.fromLlmError(checked.failure)
}

// The request of a call: the client's settings, then the input, then the call's own settings.
const requestOf = (defaults: RequestOptions, input: Input, options: CallOptions | undefined): LlmRequest.Input => {
  const base = typeof input === "string" ? { prompt: input } : input
  if (options === undefined) return Object.keys(defaults).length === 0 ? base : { ...defaults, ...base }
  const { budget: _budget, signal: _signal, ...fields } = options
  return { ...defaults, ...base, ...fields } as LlmRequest.Input
}

const addUsage = (totals: View["totals"], usage: Usage.Usage, cost: number | undefined): void => {
  totals.inputTokens += usage.inputTokens
  totals.outputTokens += usage.outputTokens
  totals.totalTokens += usage.totalTokens
  totals.costUsd += cost ?? 0
}

const zeroAmounts = (): View["totals"] => ({ inputTokens: 0, outputTokens: 0, totalTokens: 0, costUsd: 0 })

const rootTracker: Effect.Effect<BudgetTracker.Service | undefined, never, ClientServices> = ModelFactory.ModelFactory.use(
  (factory) => Effect.succeed(factory.budget)
)

// A budget under `parent` (the client's, else none: then a budget of its own).
const childOf = (
  parent: View["tracker"],
  limits: Budget.Input,
  label: string
): Effect.Effect<BudgetTracker.Service, LlmError.LlmError, ClientServices> =>
  Effect.flatMap(parent ?? rootTracker, (tracker) =>
    tracker === undefined ? BudgetTracker.make(limits, { label }) : tracker.child(limits, label))

const jsonSchemaCodec = (jsonSchema: Readonly<Record<string, unknown>>): Schema.Codec<unknown, unknown> => {
  const problem = ResponseFormat.check({ type: "json", schema: jsonSchema as Record<string, unknown> })
  if (problem !== undefined) {
    throw ClientError.fromLlmError(
      LlmError.make("client", new LlmError.InvalidRequest({ description: problem, parameter: "schema" }))
    )
  }
  try {
    return SchemaRepresentation.fromJsonSchemaDocument(
      JsonSchema.fromSchemaDraft2020_12(jsonSchema as JsonSchema.JsonSchema),
      { patterns: "apply" }
    ) as Schema.Codec<unknown, unknown>
  } catch (error) {
    throw ClientError.fromLlmError(LlmError.make(
      "client",
      new LlmError.InvalidRequest({
        description: `the schema uses JSON Schema that Effect cannot express: ${error instanceof Error ? error.message : String(error)}`,
        parameter: "schema"
      })
    ))
  }
}

const make = (shared: Shared, view: View): Client => {
  const { runtime } = shared

  // Runs one call: rejects at once when closed or already aborted; its fiber is known to
  // `close` while it runs; a success is counted (`count`, for a client without a budget), a
  // failure mapped. Plain JavaScript around one `runPromiseExit`: this is the facade's whole cost.
  const run = <A>(
    effect: Effect.Effect<A, unknown, ClientServices | WorkflowServices>,
    signal: AbortSignal | undefined,
    count?: (value: A) => void
  ): Promise<A> => {
    if (shared.closed !== undefined) return Promise.reject(closedError())
    if (signal?.aborted === true) return Promise.reject(ClientError.aborted(signal))
    let fiber: Fiber.Fiber<unknown, unknown> | undefined
    return runtime.runPromiseExit(effect, {
      signal,
      onFiberStart: (started) => {
        fiber = started
        shared.inFlight.add(started)
      }
    }).then((exit) => {
      if (fiber !== undefined) shared.inFlight.delete(fiber)
      if (Exit.isFailure(exit)) throw ClientError.fromCause(exit.cause, signal)
      if (count !== undefined && view.counts) count(exit.value)
      return exit.value
    })
  }

  // What a stream's iterator needs of the client: its runtime, whether it is closed, its registries.
  const host: Iterate.Host<ClientServices | WorkflowServices> = {
    runtime,
    closedError: () => (shared.closed !== undefined ? closedError() : undefined),
    streams: shared.streams,
    inFlight: shared.inFlight
  }

  // The call under its budget: the call's own (a child of the client's), else the client's when
  // it is a child, else the stack's (nothing to set).
  // A call's own budget is closed when the call ends, however it ends: it leaves the store.
  const budgeted = <A, E, R>(effect: Effect.Effect<A, E, R>, budget: Budget.Input | undefined, label: string) =>
    budget !== undefined
      ? Effect.acquireUseRelease(
        childOf(view.tracker, budget, label),
        (tracker) => BudgetTracker.withTracker(tracker)(effect),
        (tracker) => tracker.close
      )
      : view.tracker !== undefined
      ? Effect.flatMap(view.tracker, (tracker) => BudgetTracker.withTracker(tracker)(effect))
      : effect

  const countResponse = (response: LlmResponse.LlmResponse) => addUsage(view.totals, response.usage, response.cost?.usd)

  const generate = (input: Input, options?: CallOptions) =>
    run(
      budgeted(LanguageModel.generate(requestOf(view.defaults, input, options)), options?.budget, "call"),
      options?.signal,
      countResponse
    )

  const stream = (input: Input, options?: CallOptions): AsyncIterable<StreamPart.StreamPart> => ({
    [Symbol.asyncIterator]: () => {
      const request = requestOf(view.defaults, input, options)
      const parts = LanguageModel.stream(request).pipe(
        Stream.tap((part) =>
          Effect.sync(() => {
            if (part.type === "finish" && view.counts) countResponse(part.response)
          })
        )
      )
      const streamed = options?.budget !== undefined || view.tracker !== undefined
        ? Stream.unwrap(
          Effect.map(
            // The call's own budget lives as long as the stream (closed when it ends or is abandoned).
            options?.budget !== undefined
              ? Effect.acquireRelease(childOf(view.tracker, options.budget, "call"), (tracker) => tracker.close)
              : view.tracker!,
            (tracker) => Stream.provideService(parts, BudgetTracker.CurrentBudget, tracker)
          )
        )
        : parts
      return Iterate.iterate(host, streamed, options?.signal)
    }
  })

  const generateObject = (options: ObjectOptions<unknown>): Promise<LanguageModel.ObjectResponse<unknown>> => {
    try {
      const { budget, schema, signal, ...rest } = options
      const isSchema = Schema.isSchema(schema)
      if (!isSchema && (typeof schema !== "object" || schema === null || Array.isArray(schema))) {
        throw ClientError.fromLlmError(LlmError.make(
          "client",
          new LlmError.InvalidRequest({
            description: "generateObject needs a schema: an Effect Schema or a JSON Schema object",
            parameter: "schema"
          })
        ))
      }
      const codec = isSchema ? (schema as DecodableSchema) : jsonSchemaCodec(schema as Readonly<Record<string, unknown>>)
      const fields = { ...view.defaults, ...rest } as Omit<LanguageModel.GenerateObjectOptions<DecodableSchema>, "schema">
      const call: Effect.Effect<LanguageModel.ObjectResponse<unknown>, LlmError.LlmError, ClientServices> = LanguageModel.generateObject({
        ...fields,
        schema: codec,
        ...(isSchema ? {} : { jsonSchema: schema as Record<string, unknown> })
      } as LanguageModel.GenerateObjectOptions<DecodableSchema>)
      return run(budgeted(call, budget, "call"), signal, (result) =>
        addUsage(view.totals, result.usage, result.responses.reduce((sum, response) => sum + (response.cost?.usd ?? 0), 0)))
    } catch (error) {
      return Promise.reject(error)
    }
  }

  const runWorkflow = (
    workflow: Workflow.Workflow<unknown, unknown, ClientServices> | string,
    input: unknown = {},
    options: WorkflowOptions = {}
  ): Promise<WorkflowDefinition.RunResult | Workflow.Result<unknown>> => {
    let timeoutMs: number | undefined
    if (typeof options.timeout === "number") timeoutMs = options.timeout
    else if (typeof options.timeout === "string") {
      const parsed = DurationText.parseMillis(options.timeout)
      if (parsed._tag === "Failure") {
        return Promise.reject(ClientError.fromLlmError(LlmError.make(
          "client",
          new LlmError.InvalidRequest({ description: `timeout: ${parsed.failure}`, parameter: "timeout" })
        )))
      }
      timeoutMs = parsed.success
    }
    if (timeoutMs !== undefined && !(Number.isFinite(timeoutMs) && timeoutMs > 0)) {
      return Promise.reject(ClientError.fromLlmError(LlmError.make(
        "client",
        new LlmError.InvalidRequest({ description: `timeout must be a positive duration, got ${timeoutMs}`, parameter: "timeout" })
      )))
    }
    const started: Effect.Effect<Omit<WorkflowDefinition.RunResult, "outputs">, unknown, ClientServices | WorkflowServices> =
      typeof workflow === "string"
        ? WorkflowYaml.runFile(workflow, input as Readonly<Record<string, unknown>>, { timeoutMs })
        : Workflow.run(workflow, input, { ...(timeoutMs !== undefined ? { timeout: timeoutMs } : {}) })
    return run(budgeted(started, options.budget, "workflow"), options.signal, (result) =>
      addUsage(view.totals, result.usage, undefined)) as Promise<WorkflowDefinition.RunResult>
  }

  const usage = (): Promise<UsageTotals> =>
    run(
      Effect.map(view.tracker ?? rootTracker, (tracker): Effect.Effect<UsageTotals> =>
        tracker === undefined
          ? Effect.succeed({ ...view.totals })
          : Effect.map(tracker.snapshot, (snapshot) => ({
            ...snapshot.consumed,
            budget: {
              limits: snapshot.limits,
              reserved: snapshot.reserved,
              remaining: snapshot.remaining,
              openReservations: snapshot.openReservations,
              ...(snapshot.deadline !== undefined ? { deadline: snapshot.deadline } : {})
            }
          }))).pipe(Effect.flatten),
      undefined
    )

  const child = (options: { readonly budget: Budget.Input; readonly label?: string | undefined }): Client => {
    throwIfInvalidBudget(options.budget)
    // Made once, on the child's first call, then shared by all its calls.
    const tracker = Effect.runSync(Effect.cached(childOf(view.tracker, options.budget, options.label ?? "child")))
    return make(shared, { defaults: view.defaults, tracker, counts: false, totals: zeroAmounts() })
  }

  const withOptions = (options: RequestOptions): Client =>
    make(shared, { ...view, defaults: { ...view.defaults, ...options } })

  const close = (): Promise<void> => {
    if (shared.closed === undefined) {
      const fibers = [...shared.inFlight]
      const streams = [...shared.streams]
      shared.closed = Promise.all([
        ...fibers.map((fiber) => Effect.runPromise(Fiber.interrupt(fiber))),
        ...streams.map((end) => end())
      ]).then(() => runtime.dispose())
    }
    return shared.closed
  }

  return {
    generate,
    stream,
    generateObject: generateObject as Client["generateObject"],
    runWorkflow: runWorkflow as Client["runWorkflow"],
    usage,
    child,
    withOptions,
    close
  }
}

/**
 * Creates a client from options in the YAML configuration's shape. Throws an
 * `LlmConnectError` (`reason: "Configuration"`, with `setting` and `fix`) when an option is
 * invalid, the provider unknown or its key missing; nothing is called until the first method.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * const llm = createClient({ provider: "mock", budget: { totalTokens: 10_000 } })
 * const reply = await llm.generate("Hi")
 */
export const createClient = (options: Options = {}): Client => {
  // The environment as it is now (Effect's default provider keeps the first one it read).
  const environment = ConfigProvider.fromEnv()
  const checked = Check.check(options, environment)
  if (Exit.isFailure(checked)) throw ClientError.fromCause(checked.cause)
  const resolved = checked.value
  const shared: Shared = {
    runtime: ManagedRuntime.make(layerOf(resolved, environment)),
    inFlight: new Set(),
    streams: new Set(),
    closed: undefined
  }
  return make(shared, {
    defaults: requestDefaults(resolved.config),
    tracker: undefined,
    counts: resolved.config.budget === undefined,
    totals: zeroAmounts()
  })
}
