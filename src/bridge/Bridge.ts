/**
 * The bridge: runs bridge requests (`BridgeContract`) through the one configuration-to-stack
 * path, for every door that speaks the bridge contract: `llm-connect bridge` (one request on
 * stdin, or `--jsonl`), and the server's `POST /execute` and JSON-RPC `execute`.
 *
 * {@link make} takes a loaded configuration (flags > environment > file > defaults) and returns
 * a {@link Service} for the lifetime of its scope. A request's fields come first (request >
 * flags > environment > file): its `provider`, `model`, `systemPrompt`, `maxTokens`,
 * `temperature`, `api_key` and `budget` each override the configured value. Each request runs on
 * a stack built by `Stack.fromConfig` (observability and the usage ledger, request size, PII
 * guard, budget, retry, timeouts, limits, circuit breaker): one stack per distinct provider and
 * key (the request's `api_key`, else the configured one), built on its first request and kept
 * while in use and for `idleTimeToLive` after (an `RcMap`, at most `maxStacks` at once), and
 * within it one per model (`ModelFactory.forProvider`). Every stack of a service records into
 * one usage ledger.
 *
 * Budget lifetime: the configured budget and a request's `budget` apply per request: each
 * request gets a fresh tracker (made when the request starts, so a duration deadline counts
 * from then), set on the fiber as `BudgetTracker.CurrentBudget`; nothing is shared between
 * requests.
 *
 * Failures are documents (a `BridgeContract.BridgeError` holds one): `errorType` is the `LlmError`
 * reason, or `InvalidInput` for a request that could not be run as given (not JSON, no prompt,
 * an unknown provider, a missing key, a bad budget; configuration problems are `InvalidInput`).
 * No document, log line or error carries the request's `api_key`.
 *
 * @since 0.1.0
 */
import { Cause, Context, Duration, Effect, Equal, FileSystem, Hash, Layer, Path, RcMap, Redacted, Result, Scope, Stream } from "effect"
import { createHash } from "node:crypto"
import * as BudgetLanguageModel from "../budget/BudgetLanguageModel.ts"
import * as BudgetTracker from "../budget/BudgetTracker.ts"
import type * as LanguageModel from "../LanguageModel.ts"
import * as LlmConnectConfig from "../LlmConnectConfig.ts"
import * as LlmError from "../LlmError.ts"
import type * as LlmRequest from "../LlmRequest.ts"
import type * as LlmResponse from "../LlmResponse.ts"
import * as Message from "../Message.ts"
import * as ModelFactory from "../ModelFactory.ts"
import * as ObservabilityConfig from "../observability/ObservabilityConfig.ts"
import * as Redaction from "../observability/Redaction.ts"
import * as UsageLedger from "../observability/UsageLedger.ts"
import * as ProviderRegistry from "../ProviderRegistry.ts"
import * as AgentLookup from "../routing/AgentLookup.ts"
import * as Router from "../routing/Router.ts"
import * as RoutingStack from "../routing/RoutingStack.ts"
import * as Stack from "../Stack.ts"
import type * as StreamPart from "../StreamPart.ts"
import * as BridgeContract from "./BridgeContract.ts"

/**
 * The bridge of one configuration.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** Runs a decoded request; fails with the failure document. */
  readonly execute: (request: BridgeContract.BridgeRequest) => Effect.Effect<BridgeContract.BridgeResponse, BridgeContract.BridgeError>
  /** Decodes a parsed JSON value and runs it: always an answer (the `id` echoed when given). */
  readonly answer: (input: unknown) => Effect.Effect<BridgeContract.BridgeAnswer>
  /** Parses a JSON text and runs it: always an answer (`id: null` when the text is not a request). */
  readonly answerText: (text: string) => Effect.Effect<BridgeContract.BridgeAnswer>
  /** The largest request document accepted, in bytes (a door refuses longer input unread). */
  readonly maxDocumentBytes: number
  /**
   * The model of a target on its provider-and-key stack, held until the caller's scope closes,
   * with the target's per-request budget (a fresh tracker) around every call: the server's
   * OpenAI- and Anthropic-compatible doors run `generate` and `stream` through it.
   */
  readonly modelFor: (target: Target) => Effect.Effect<BoundModel, LlmError.LlmError, Scope.Scope>
  /**
   * The stack of a provider and key (its `LanguageModel` and `ModelFactory`, no budget of its
   * own), held until the caller's scope closes: a workflow run's steps call through it.
   */
  readonly stackFor: (
    target: Pick<Target, "provider" | "apiKey">
  ) => Effect.Effect<Context.Context<LanguageModel.LanguageModel | ModelFactory.ModelFactory>, LlmError.LlmError, Scope.Scope>
  /**
   * The tracker of one request's budget (its `budget` over the configured one), made now: a child
   * of `BudgetTracker.CurrentBudget` on the fiber when there is one (a virtual key's), that parent
   * itself when the request sets no limit, `undefined` when nothing limits the request. A budget
   * made for the request is closed (it leaves the budget store) when the caller's scope closes.
   */
  readonly requestBudget: (
    budget: BridgeContract.RequestBudget | undefined
  ) => Effect.Effect<BudgetTracker.Service | undefined, LlmError.LlmError, Scope.Scope>
  /** The usage ledger every stack records into (`undefined` when recording is off). */
  readonly ledger: UsageLedger.Service | undefined
  /**
   * The `Router` of the configured provider's stack (its `routes:`), held until the caller's
   * scope closes: what a `route:<taskType>` model, `GET /v1/routes` and the collective use.
   */
  readonly router: Effect.Effect<Router.Service, LlmError.LlmError, Scope.Scope>
  /** The configuration the service was made with. */
  readonly config: LlmConnectConfig.LlmConnectConfig
}

/**
 * Which model a door wants: a provider (else the configured one), a model (else the configured
 * or the provider's default), a base URL, the caller's own key, and the request's budget over
 * the configured one.
 *
 * @since 0.1.0
 * @category models
 */
export interface Target {
  readonly provider?: string | undefined
  readonly model?: string | undefined
  readonly baseUrl?: string | undefined
  readonly apiKey?: string | undefined
  readonly budget?: BridgeContract.RequestBudget | undefined
  /** Route by this task type (`routes:`) instead of naming a model (serve's `route:<taskType>`). */
  readonly taskType?: string | undefined
}

/**
 * A model bound to its stack: `generate` and `stream` need nothing more, and each call runs under
 * a fresh per-request budget tracker when a budget applies.
 *
 * @since 0.1.0
 * @category models
 */
export interface BoundModel {
  /** The provider's registered name. */
  readonly provider: string
  /** The model used when a request names none. */
  readonly defaultModel: string
  readonly generate: (request: LlmRequest.LlmRequest) => Effect.Effect<LlmResponse.LlmResponse, LlmError.LlmError>
  readonly stream: (request: LlmRequest.LlmRequest) => Stream.Stream<StreamPart.StreamPart, LlmError.LlmError>
}

/**
 * Room for a request's other fields above `maxRequestBytes` (which counts prompt text only).
 *
 * @since 0.1.0
 * @category constants
 */
export const ENVELOPE_BYTES = 64 * 1024

/**
 * The largest request document a configuration accepts: its `maxRequestBytes` (4 MiB unless
 * configured) plus {@link ENVELOPE_BYTES}.
 *
 * @since 0.1.0
 * @category constants
 */
export const maxDocumentBytes = (config: LlmConnectConfig.LlmConnectConfig): number => config.maxRequestBytes + ENVELOPE_BYTES

// Every string of a document with the secret replaced (the request's own key: the shared
// scrubber catches key-shaped strings, this catches any shape).
const withoutSecret = <A>(value: A, secret: string | undefined): A => {
  if (secret === undefined || secret.length < 4) return value
  const scrub = (item: unknown): unknown => {
    if (typeof item === "string") return item.includes(secret) ? Redaction.scrubText(item, [secret]) : item
    if (Array.isArray(item)) return item.map(scrub)
    if (item !== null && typeof item === "object") {
      return Object.fromEntries(Object.entries(item).map(([key, field]) => [key, scrub(field)]))
    }
    return item
  }
  return scrub(value) as A
}

// -----------------------------------------------------------------------------
// Running
// -----------------------------------------------------------------------------

/**
 * The response document of an `LlmResponse`.
 *
 * @since 0.1.0
 * @category conversions
 */
export const toResponse = (response: LlmResponse.LlmResponse): BridgeContract.BridgeResponse => ({
  content: response.content,
  model: response.model,
  tokensIn: response.usage.inputTokens,
  tokensOut: response.usage.outputTokens,
  finishReason: response.finishReason
})

/**
 * The `LlmRequest` of a bridge request: its fields over the configuration's `system`,
 * `maxTokens`, `temperature` and `timeout`.
 *
 * @since 0.1.0
 * @category conversions
 */
export const toLlmRequest = (
  request: BridgeContract.BridgeRequest,
  config: LlmConnectConfig.LlmConnectConfig
): LlmRequest.LlmRequest => {
  const system = request.systemPrompt ?? config.system
  const maxTokens = request.maxTokens ?? config.maxTokens
  const temperature = request.temperature ?? config.temperature
  return {
    messages: request.messages ?? Message.fromPrompt(request.prompt ?? ""),
    ...(system !== undefined && system !== null ? { system } : {}),
    ...(maxTokens !== undefined && maxTokens !== null ? { maxTokens } : {}),
    ...(temperature !== undefined && temperature !== null ? { temperature } : {}),
    ...(config.timeoutMs !== undefined ? { timeoutMs: config.timeoutMs } : {})
  }
}

/**
 * The budget of one request: each key of its `budget` over the configured one; `undefined`
 * when neither sets a limit.
 *
 * @since 0.1.0
 * @category conversions
 */
export const budgetOf = (
  request: BridgeContract.BridgeRequest,
  config: LlmConnectConfig.LlmConnectConfig
): BudgetLanguageModel.Config | undefined => {
  const own = request.budget ?? {}
  const merged: Record<string, unknown> = { ...config.budget }
  for (const [key, value] of Object.entries(own)) if (value !== null && value !== undefined) merged[key] = value
  const { defaultMaxTokens, onUnknownPrice, chargeAbandoned, ...limits } = merged as BridgeContract.RequestBudget
  const hasLimit = Object.values(limits).some((value) => value !== undefined && value !== null)
  if (!hasLimit) return undefined
  return {
    budget: limits as BudgetLanguageModel.Config["budget"],
    ...(typeof defaultMaxTokens === "number" ? { defaultMaxTokens } : {}),
    ...(typeof onUnknownPrice === "string" ? { onUnknownPrice } : {}),
    ...(typeof chargeAbandoned === "string" ? { chargeAbandoned } : {})
  }
}

// The configuration a provider's stack is built from: that provider as the configured one
// (the top-level model, base URL and fallback chain only when it already was), the request's
// key as its explicit key, and no budget (budgets are per request, set on the fiber).
const configFor = (
  resolved: LlmConnectConfig.Resolved,
  provider: string,
  apiKey: Redacted.Redacted<string> | undefined
): LlmConnectConfig.Resolved => {
  const { budget: _budget, model, baseUrl, fallback, ...rest } = resolved.config
  const same = provider === resolved.config.provider
  const settings = rest.providers[provider] ?? {}
  const config: LlmConnectConfig.LlmConnectConfig = {
    ...rest,
    provider,
    ...(same && model !== undefined ? { model } : {}),
    ...(same && baseUrl !== undefined ? { baseUrl } : {}),
    ...(same && fallback !== undefined ? { fallback } : {}),
    providers: apiKey === undefined ? rest.providers : { ...rest.providers, [provider]: { ...settings, apiKey } }
  }
  const { provider: _source, ...sources } = resolved.sources
  return { config, sources: same ? resolved.sources : { ...sources, provider: { _tag: "Default" } } }
}

type StackContext = Context.Context<LanguageModel.LanguageModel | ModelFactory.ModelFactory>

// Which stack a request runs on: its provider and key. Keys are told apart by their SHA-256
// digest (never compared or hashed as text); the key itself travels Redacted to the build.
class StackKey implements Equal.Equal {
  readonly id: string
  readonly provider: string
  readonly apiKey: Redacted.Redacted<string> | undefined
  constructor(provider: string, apiKey: Redacted.Redacted<string> | undefined) {
    this.provider = provider
    this.apiKey = apiKey
    const digest = apiKey === undefined ? "" : createHash("sha256").update(Redacted.value(apiKey)).digest("hex")
    this.id = `${provider}\u0000${digest}`
  }
  [Equal.symbol](that: unknown): boolean {
    return that instanceof StackKey && that.id === this.id
  }
  [Hash.symbol](): number {
    return Hash.string(this.id)
  }
}

/**
 * How long a provider-and-key stack nobody uses is kept, unless {@link Options} says otherwise.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_IDLE_TIME_TO_LIVE: Duration.Input = "10 minutes"

/**
 * How many provider-and-key stacks may exist at once, unless {@link Options} says otherwise.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_MAX_STACKS = 256

/**
 * The bridge's own settings.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** How long an unused provider-and-key stack is kept before it is closed (default 10 minutes). */
  readonly idleTimeToLive?: Duration.Input | undefined
  /** The most provider-and-key stacks at once (default 256); a request beyond fails with `Unavailable`. */
  readonly maxStacks?: number | undefined
}

/**
 * Makes the bridge of a loaded configuration, in the current scope: the usage ledger now, each
 * stack on its first request.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * const bridge = yield* Bridge.make(yield* LlmConnectConfig.load())
 * const answer = yield* bridge.answer({ provider: "mock", model: null, systemPrompt: null, prompt: "Hi" })
 */
export const make = (
  resolved: LlmConnectConfig.Resolved,
  options: Options = {}
): Effect.Effect<Service, LlmError.LlmError, ProviderRegistry.ProviderRegistry | FileSystem.FileSystem | Path.Path | Scope.Scope> =>
  Effect.gen(function*() {
    const { config } = resolved
    const outer = yield* Effect.context<ProviderRegistry.ProviderRegistry | FileSystem.FileSystem | Path.Path>()
    const registry = Context.get(outer, ProviderRegistry.ProviderRegistry)

    // One ledger for every stack (Stack takes the ledger it finds in context).
    const observability = ObservabilityConfig.observabilityOptions(config)
    const ledger = observability.ledger === false
      ? undefined
      : observability.ledgerPath !== undefined
      ? yield* UsageLedger.makeSqlite(observability.ledgerPath)
      : yield* UsageLedger.makeMemory()
    const buildContext = ledger === undefined ? outer : Context.add(outer, UsageLedger.UsageLedger, ledger)

    // One stack per provider and key, built on its first request and kept while requests use
    // it and for `idleTimeToLive` after (then closed: memory stays bounded by the keys in
    // use). A failed build is forgotten, so the next request tries again (e.g. once the key
    // file exists).
    const maxStacks = options.maxStacks ?? DEFAULT_MAX_STACKS
    const stacks = yield* RcMap.make({
      lookup: (key: StackKey) =>
        Effect.flatMap(Scope.Scope, (stackScope) =>
          Stack.fromConfig(configFor(resolved, key.provider, key.apiKey)).pipe(
            Effect.flatMap((layer) => Layer.buildWithScope(layer, stackScope)),
            Effect.provideContext(buildContext)
          )),
      idleTimeToLive: options.idleTimeToLive ?? DEFAULT_IDLE_TIME_TO_LIVE,
      capacity: maxStacks
    })
    const stackFor = (key: StackKey): Effect.Effect<StackContext, LlmError.LlmError, Scope.Scope> =>
      // One failure handler (a frame per lookup, not two; stop 31): the entry forgotten, the
      // capacity refusal told as `Unavailable`.
      Effect.catch(RcMap.get(stacks, key), (error) =>
        Effect.andThen(
          RcMap.invalidate(stacks, key),
          Cause.isExceededCapacityError(error)
            ? Effect.fail(
              LlmError.make(
                key.provider,
                new LlmError.Unavailable({
                  description: `more than ${maxStacks} provider and key combinations are in use at once; retry when some are idle`
                })
              )
            )
            : Effect.fail(error)
        ))

    // Routing: rules checked now (an unknown provider in routes: fails the start), agents from
    // the one place front doors get them, a router per stack (over its factory).
    yield* RoutingStack.checkProviders(resolved)
    const agents = Context.get(
      yield* Layer.build(yield* RoutingStack.agentLookup(resolved)),
      AgentLookup.AgentLookup
    )
    const routers = new WeakMap<ModelFactory.Service, Router.Service>()
    const routerOf = (factory: ModelFactory.Service): Effect.Effect<Router.Service> => {
      const known = routers.get(factory)
      if (known !== undefined) return Effect.succeed(known)
      return Router.make(config.routes).pipe(
        Effect.provideService(ModelFactory.ModelFactory, factory),
        Effect.provideService(AgentLookup.AgentLookup, agents),
        Effect.tap((made) => Effect.sync(() => routers.set(factory, made)))
      )
    }
    const router: Effect.Effect<Router.Service, LlmError.LlmError, Scope.Scope> = Effect.gen(function*() {
      const provider = yield* registry.get(config.provider)
      const context = yield* stackFor(new StackKey(provider.name, undefined))
      return yield* routerOf(Context.get(context, ModelFactory.ModelFactory))
    })

    // Under a parent budget on the fiber (a virtual key's, set by serve), the request's budget
    // is a child of it, so the key's totals hold across concurrent requests. A budget made for the
    // request is closed with the request's scope (it leaves the store; the key's totals stay).
    const requestBudget = (
      requestLimits: BridgeContract.RequestBudget | undefined
    ): Effect.Effect<BudgetTracker.Service | undefined, LlmError.LlmError, Scope.Scope> => {
      const budget = budgetOf({ ...(requestLimits !== undefined ? { budget: requestLimits } : {}) }, config)
      return Effect.flatMap(
        BudgetTracker.CurrentBudget,
        (parent) =>
          parent !== undefined
            // Without a per-request budget the calls are charged to the key's budget itself.
            ? (budget === undefined ? Effect.succeed(parent) : parent.scopedChild(budget.budget, "request"))
            : budget === undefined
            ? Effect.succeed(undefined)
            : Effect.acquireRelease(BudgetTracker.make(budget.budget, BudgetLanguageModel.trackerOptions(budget)), (tracker) => tracker.close)
      )
    }

    const stackOf = (target: Pick<Target, "provider" | "apiKey">) =>
      Effect.gen(function*() {
        const provider = yield* registry.get(target.provider ?? config.provider)
        return yield* stackFor(new StackKey(provider.name, target.apiKey === undefined ? undefined : Redacted.make(target.apiKey)))
      })

    // The model of a target, resolved once per stack (the stack's context is the key, so a stack
    // rebuilt after its idle time gets its own entries): a request pays a map lookup instead of
    // the factory's target key and cache wait (or the router's task wrapper) each time.
    const resolvedModels = new WeakMap<StackContext, Map<string, LanguageModel.Service>>()
    const modelKeyOf = (target: Target): string =>
      target.taskType !== undefined
        ? `task\u0000${target.taskType}`
        : `model\u0000${target.model ?? ""}\u0000${target.baseUrl ?? "\u0000"}\u0000${target.model === undefined ? 0 : 1}`
    const resolveModel = (
      context: StackContext,
      provider: string,
      target: Target,
      key: string
    ): Effect.Effect<LanguageModel.Service, LlmError.LlmError> => {
      // (A model already resolved is taken by `modelFor` itself.)
      let models = resolvedModels.get(context)
      const factory = Context.get(context, ModelFactory.ModelFactory)
      const made = target.taskType !== undefined
        ? Effect.map(routerOf(factory), (router) => Router.taskModel(router, target.taskType!))
        : factory.forProvider({
          provider,
          ...(target.model !== undefined ? { model: target.model } : {}),
          ...(target.baseUrl !== undefined ? { baseUrl: target.baseUrl } : {})
        })
      return Effect.tap(made, (model) =>
        Effect.sync(() => {
          if (models === undefined) {
            models = new Map()
            resolvedModels.set(context, models)
          }
          // Bounded by the distinct models and base URLs asked of this stack (as the factory's own cache).
          models.set(key, model)
        }))
    }
    // The key of a provider's stack on the configured key, made once per provider (no digest, no allocation per request).
    const keysWithoutApiKey = new Map<string, StackKey>()
    const stackKeyOf = (provider: string, apiKey: string | undefined): StackKey => {
      if (apiKey !== undefined) return new StackKey(provider, Redacted.make(apiKey))
      let key = keysWithoutApiKey.get(provider)
      if (key === undefined) {
        key = new StackKey(provider, undefined)
        keysWithoutApiKey.set(provider, key)
      }
      return key
    }
    // Without a request budget, the configured one (computed once: the configuration does not change).
    const configuredBudget = budgetOf({}, config)

    // A chain rather than a generator, and a model already resolved for the stack taken in the
    // stack's step (stop 31: fewer effect steps per request).
    const modelFor = (target: Target): Effect.Effect<BoundModel, LlmError.LlmError, Scope.Scope> =>
      Effect.flatMap(registry.get(target.provider ?? config.provider), (provider) =>
        Effect.flatMap(stackFor(stackKeyOf(provider.name, target.apiKey)), (context) => {
          const key = modelKeyOf(target)
          const known = resolvedModels.get(context)?.get(key)
          return known !== undefined
            ? Effect.succeed(bound(target, context, known))
            : Effect.map(resolveModel(context, provider.name, target, key), (model) => bound(target, context, model))
        }))
    const bound = (target: Target, context: StackContext, model: LanguageModel.Service): BoundModel => {
      // A fresh tracker per call, made when it starts: a duration deadline counts from then.
      const requestTracker = Effect.suspend(() => requestBudget(target.budget))
      // Nothing limits a call but, at most, the parent budget already on the fiber (a virtual
      // key's): no scope to open and close per call.
      const unlimited = target.budget === undefined && configuredBudget === undefined
      return {
        provider: model.provider,
        defaultModel: model.defaultModel,
        generate: unlimited
          ? (request) =>
            Effect.flatMap(BudgetTracker.CurrentBudget, (parent) =>
              Effect.provideContext(
                parent === undefined ? model.generate(request) : BudgetTracker.withTracker(parent)(model.generate(request)),
                context
              ))
          : (request) =>
            Effect.scoped(Effect.flatMap(requestTracker, (tracker) =>
              Effect.provideContext(
                tracker === undefined ? model.generate(request) : BudgetTracker.withTracker(tracker)(model.generate(request)),
                context
              ))),
        stream: (request) =>
          Stream.unwrap(
            Effect.map(
              requestTracker,
              (tracker) =>
                tracker === undefined
                  ? model.stream(request)
                  : Stream.provideService(model.stream(request), BudgetTracker.CurrentBudget, tracker)
            )
          ).pipe(Stream.provideContext(context))
      } satisfies BoundModel
    }

    const execute = (request: BridgeContract.BridgeRequest): Effect.Effect<BridgeContract.BridgeResponse, BridgeContract.BridgeError> => {
      const apiKey = request.api_key ?? undefined
      const run = Effect.gen(function*() {
        const model = yield* modelFor({
          ...(request.provider !== undefined && request.provider !== null ? { provider: request.provider } : {}),
          ...(request.model !== undefined && request.model !== null ? { model: request.model } : {}),
          ...(apiKey !== undefined ? { apiKey } : {}),
          ...(request.budget !== undefined && request.budget !== null ? { budget: request.budget } : {})
        })
        return toResponse(yield* model.generate(toLlmRequest(request, config)))
      })
      // The request holds its stack until it ends.
      return Effect.scoped(run).pipe(
        Effect.mapError((error) => withoutSecret(BridgeContract.fromLlmError(error), apiKey)),
        Effect.catchDefect((defect) =>
          Effect.fail(
            withoutSecret(
              BridgeContract.fromLlmError(
                LlmError.make("bridge", new LlmError.Unknown({ description: `unexpected failure: ${String(defect)}` }))
              ),
              apiKey
            )
          )
        )
      )
    }

    const failureWithId = (document: BridgeContract.BridgeFailure, id: BridgeContract.RequestId | null | undefined) =>
      id === undefined ? document : { id, ...document }

    const answerOf = (
      decoded: Result.Result<BridgeContract.BridgeRequest, BridgeContract.BridgeError>,
      id: BridgeContract.RequestId | null
    ): Effect.Effect<BridgeContract.BridgeAnswer> => {
      if (Result.isFailure(decoded)) return Effect.succeed(failureWithId(decoded.failure.document, id))
      const given = decoded.success.id ?? undefined
      return execute(decoded.success).pipe(
        Effect.map((response): BridgeContract.BridgeAnswer => given === undefined ? response : { id: given, ...response }),
        Effect.catch((error) => Effect.succeed(failureWithId(error.document, given)))
      )
    }

    const answer = (input: unknown): Effect.Effect<BridgeContract.BridgeAnswer> => {
      const id = BridgeContract.idOf(input)
      return answerOf(BridgeContract.decode(input), id)
    }

    const answerText = (text: string): Effect.Effect<BridgeContract.BridgeAnswer> => {
      const value = BridgeContract.parseJson(text)
      return Result.isFailure(value) ? Effect.succeed(failureWithId(value.failure.document, null)) : answer(value.success)
    }

    return {
      execute,
      answer,
      answerText,
      maxDocumentBytes: maxDocumentBytes(config),
      modelFor,
      stackFor: stackOf,
      requestBudget,
      ledger,
      config,
      router
    } satisfies Service
  })
