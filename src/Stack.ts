/**
 * The one place where a configuration becomes a model stack: the CLI, workflow steps and, later,
 * the bridge, the server and the Promise client all build their models here.
 *
 * A stack wraps one provider in these layers, outermost first:
 *
 *   Observability -> request size -> PII guard -> Budget -> graceful shutdown
 *     -> [Fallback over candidates ->] circuit breaker -> Retry + timeouts -> RateLimit -> Concurrency
 *     -> [per-attempt spans] -> provider
 *
 * Observability is outermost so that it sees every call, including those the guards blocked
 * and the budget refused; the guards sit outside the budget (a blocked call reserves nothing),
 * the size guard first (no other layer works on a request over `maxRequestBytes`, 4 MiB unless
 * configured);
 * the budget reserves once per logical call, outside retry and fallback. The budget layer is
 * always there: with no `budget` configured it passes calls through unless the fiber carries a
 * `BudgetTracker.CurrentBudget` (a workflow run's budget, a sub-agent's), which it then enforces
 * inside observability. The PII guard is present when `pii` is configured; observability unless
 * `enabled: false`; the circuit breaker per `Resilience`'s rules; per-attempt spans when
 * `observability.attempts` is on.
 *
 * {@link make} turns a {@link StackConfig} into a `ModelFactory`: the configured model, and a
 * `forProvider(target)` that builds (once per distinct target) the stack of another provider,
 * model, base URL or provider options with the same PII guard, observability, budget, retry,
 * limits and circuit breaker. Everything a configuration holds once is shared by all the
 * factory's stacks: the usage ledger, the root budget, the concurrency limits, the rate-limit
 * buckets and the circuits. {@link fromConfig} does the same from a loaded configuration
 * (`LlmConnectConfig.Resolved`): it checks the provider is registered, resolves keys before any
 * call, and gives each target its `providers.<name>` key, base URL and options.
 *
 * @since 0.1.0
 */
import { Context, Deferred, Duration, Effect, FileSystem, Layer, Path, Scope } from "effect"
import * as BudgetLanguageModel from "./budget/BudgetLanguageModel.ts"
import * as BudgetStore from "./budget/BudgetStore.ts"
import * as BudgetTracker from "./budget/BudgetTracker.ts"
import * as RedisBudgetStore from "./budget/RedisBudgetStore.ts"
import * as StoreConfig from "./budget/StoreConfig.ts"
import * as RedisStores from "./resilience/RedisStores.ts"
import * as LanguageModel from "./LanguageModel.ts"
import * as LlmConnectConfig from "./LlmConnectConfig.ts"
import * as LlmError from "./LlmError.ts"
import * as ModelFactory from "./ModelFactory.ts"
import * as Observability from "./observability/Observability.ts"
import * as ObservabilityConfig from "./observability/ObservabilityConfig.ts"
import * as UsageLedger from "./observability/UsageLedger.ts"
import * as PiiGuard from "./pii/PiiGuard.ts"
import * as PriceTable from "./pricing/PriceTable.ts"
import * as ProviderKeys from "./ProviderKeys.ts"
import * as ProviderRegistry from "./ProviderRegistry.ts"
import * as RequestSize from "./RequestSize.ts"
import * as CircuitBreaker from "./resilience/CircuitBreaker.ts"
import * as Fallback from "./resilience/Fallback.ts"
import * as GracefulShutdown from "./resilience/GracefulShutdown.ts"
import * as Resilience from "./resilience/Resilience.ts"
import * as ResilienceConfig from "./resilience/ResilienceConfig.ts"

/**
 * What the stack is built from.
 *
 * @since 0.1.0
 * @category models
 */
export interface StackConfig {
  /** The provider and its settings. */
  readonly provider: ProviderRegistry.CreateOptions
  /** Logs, spans, metrics and the usage ledger (on unless `enabled: false`). */
  readonly observability?: (Observability.Options & { readonly enabled?: boolean | undefined }) | undefined
  /** Budget limits, output cap, unknown-price policy and price overrides (on when present). */
  readonly budget?: BudgetLanguageModel.Config | undefined
  /** Price overrides for a budget set on the fiber when there is no `budget` (else `budget.prices`). */
  readonly prices?: PriceTable.PricesConfig | undefined
  /** Where the budget lives: `store.redis` shares it across processes (absent: this process's memory). */
  readonly store?: StoreConfig.StoreConfig | undefined
  /** Redact or block personal data in prompts before they are sent (off when absent). */
  readonly pii?: PiiGuard.Options | undefined
  /** The largest request accepted, in UTF-8 bytes of prompt text (default `RequestSize.DEFAULT_MAX_REQUEST_BYTES`, 4 MiB). */
  readonly maxRequestBytes?: number | undefined
  /** Retry, timeouts, limits, circuit breaker, and the fallback candidates (defaults when absent). */
  readonly resilience?:
    | (Resilience.Config & { readonly fallback?: ReadonlyArray<ProviderRegistry.CreateOptions> | undefined })
    | undefined
}

/**
 * The wrapping layers, innermost first. Each entry wraps the model produced by the previous.
 *
 * @since 0.1.0
 * @category models
 */
export type Wrapper = Layer.Layer<LanguageModel.LanguageModel, LlmError.LlmError, LanguageModel.LanguageModel>

/**
 * Stacks wrappers (innermost first) on top of a base model layer.
 *
 * @since 0.1.0
 * @category combinators
 */
export const stack = <E, R>(
  base: Layer.Layer<LanguageModel.LanguageModel, E, R>,
  wrappers: ReadonlyArray<Wrapper>
): Layer.Layer<LanguageModel.LanguageModel, E | LlmError.LlmError, R> =>
  wrappers.reduce<Layer.Layer<LanguageModel.LanguageModel, E | LlmError.LlmError, R>>(
    (inner, wrapper) => Layer.provide(wrapper, inner),
    base
  )

/**
 * How a factory turns a target into the options of the provider to create: its key, base URL
 * and options. {@link fromConfig} reads them from the configuration's `providers.<name>`.
 *
 * @since 0.1.0
 * @category models
 */
export type Resolve = (target: ModelFactory.Target) => Effect.Effect<ProviderRegistry.CreateOptions, LlmError.LlmError>

/**
 * The options of {@link make}.
 *
 * @since 0.1.0
 * @category models
 */
export interface MakeOptions {
  /** How targets become provider options (default: the target as it is, over the configured provider's own settings). */
  readonly resolve?: Resolve | undefined
  /** Whether a provider's key is found (default: always; {@link fromConfig} looks it up as `ProviderKeys` does). */
  readonly keyAvailable?: ((provider: string) => Effect.Effect<boolean>) | undefined
}

// What every stack of one configuration shares: built once per factory.
interface Shared {
  readonly resilience: Context.Context<Layer.Success<ReturnType<typeof Resilience.layerShared>>>
  readonly ledger: UsageLedger.Service | undefined
  readonly budget: BudgetTracker.Service | undefined
  readonly prices: PriceTable.Service
}

const ledgerOf = (options: StackConfig["observability"]) =>
  Effect.gen(function*() {
    if (options?.enabled === false || options?.ledger === false) return undefined
    const provided = yield* Effect.serviceOption(UsageLedger.UsageLedger)
    if (provided._tag === "Some") return provided.value
    const path = options?.ledgerPath
    return path !== undefined && path !== "" ? yield* UsageLedger.makeSqlite(path) : yield* UsageLedger.makeMemory()
  })

// The root budget, in the shared store when `store.redis` is set (leases live 2 x the call timeout,
// else 10 minutes), else in a memory store of its own.
const budgetOf = (budgetConfig: BudgetLanguageModel.Config, config: StackConfig, scope: Scope.Scope) =>
  Effect.gen(function*() {
    const named = budgetConfig.budget as { readonly id?: string | undefined; readonly window?: "day" | undefined }
    const options: BudgetTracker.Options = {
      ...BudgetLanguageModel.trackerOptions(budgetConfig),
      ...(named.id !== undefined ? { id: named.id } : {}),
      ...(named.window !== undefined ? { window: named.window } : {})
    }
    const redis = config.store?.redis
    if (redis === undefined) return yield* BudgetTracker.make(budgetConfig.budget, options)
    const timeoutMs = config.resilience?.timeoutMs
    const store = yield* RedisBudgetStore.make({
      url: redis.url,
      prefix: redis.prefix,
      leaseTtl: Duration.millis(timeoutMs !== undefined && timeoutMs > 0 ? 2 * timeoutMs : 600_000),
      timeout: Duration.millis(StoreConfig.timeoutMillis(config.store?.timeout) ?? 2_000),
      onStoreError: config.store?.onStoreError,
      chargeAbandoned: options.chargeAbandoned
    }).pipe(Scope.provide(scope))
    return yield* BudgetTracker.make(budgetConfig.budget, options).pipe(Effect.provideService(BudgetStore.BudgetStore, store))
  })

const makeShared = (config: StackConfig): Effect.Effect<Shared, LlmError.LlmError, Scope.Scope> =>
  Effect.gen(function*() {
    const scope = yield* Scope.Scope
    // With store.redis, rate-limit buckets and circuits are shared through Redis too.
    const redis = config.store?.redis
    const sharedLayer = redis === undefined
      ? Resilience.layerShared(config.resilience ?? {})
      : Resilience.layerShared(config.resilience ?? {}).pipe(
        Layer.provide(RedisStores.layer({ url: redis.url, prefix: redis.prefix, onStoreError: config.store?.onStoreError }))
      )
    const resilience = yield* Layer.buildWithScope(sharedLayer, scope)
    const ledger = yield* ledgerOf(config.observability)
    const budgetConfig = config.budget
    const budget = budgetConfig === undefined
      ? undefined
      : yield* budgetOf(budgetConfig, config, scope)
    return {
      resilience,
      ledger,
      budget,
      prices: PriceTable.make(budgetConfig?.prices ?? config.prices ?? {})
    }
  })

// Provider, attempt wrappers, concurrency, rate limit, retry, breaker (per candidate), the
// fallback chain, graceful shutdown: `Resilience.layer`, on services shared by the whole factory.
const resilient = (
  provider: ProviderRegistry.CreateOptions,
  config: Resilience.Config,
  fallback: ReadonlyArray<ProviderRegistry.CreateOptions>
): Resilience.CandidateLayer => {
  const chained: Resilience.Config = { ...config, breakerByDefault: true }
  const base = fallback.length === 0
    ? Resilience.candidate(provider, config)
    : Fallback.layer([
      { layer: Resilience.candidate(provider, chained) },
      ...fallback.map((options) => ({ layer: Resilience.candidate(options, chained), model: options.model }))
    ])
  return Layer.provide(GracefulShutdown.layer, base)
}

const modelLayer = (
  config: StackConfig,
  shared: Shared,
  provider: ProviderRegistry.CreateOptions,
  fallback: ReadonlyArray<ProviderRegistry.CreateOptions>,
  chained = false
): Layer.Layer<LanguageModel.LanguageModel, LlmError.LlmError, ProviderRegistry.ProviderRegistry> => {
  // Per-attempt spans sit right above the provider, inside the resilient base (below retry).
  const attemptWrappers = config.observability?.attempts === true ? [Observability.layerAttempts] : []
  // A candidate of a chain run above the stack (a route) has a circuit breaker, as a fallback candidate does.
  const base = resilient(provider, { ...config.resilience, attemptWrappers, ...(chained ? { breakerByDefault: true } : {}) }, fallback)
  // Innermost first: budget, PII guard, request size, observability.
  const wrappers: Array<Wrapper> = [
    // Budget: outside retry and fallback (one reservation per logical call), inside observability;
    // the fiber's CurrentBudget (a workflow run's) when set, else the configuration's, else none.
    LanguageModel.layerWrap((inner) => Effect.succeed(BudgetLanguageModel.wrap(shared.budget, shared.prices)(inner)))
  ]
  // PII guard: outside the budget (a blocked call reserves nothing), inside observability (seen).
  if (config.pii !== undefined) wrappers.push(PiiGuard.layer(config.pii))
  // Request size: outside the PII guard and the budget (nothing scanned, counted or reserved).
  wrappers.push(RequestSize.layer(config.maxRequestBytes))
  // Observability: outermost, so that it sees blocked calls, budget refusals and calls that failed after retries.
  if (config.observability?.enabled !== false) wrappers.push(Observability.layer(config.observability ?? {}))
  const model = stack(base, wrappers).pipe(Layer.provide(Layer.succeedContext(shared.resilience)))
  // Observability finds the shared ledger in context (it makes its own only when there is none).
  return shared.ledger === undefined ? model : Layer.provide(model, Layer.succeed(UsageLedger.UsageLedger, shared.ledger))
}

const keyOf = (target: ModelFactory.Target): string =>
  JSON.stringify([target.provider, target.model ?? null, target.baseUrl ?? null, target.options ?? null, target.chained === true])

const isEmpty = (options: Readonly<Record<string, unknown>> | undefined): boolean =>
  options === undefined || Object.keys(options).length === 0

// A model that uses `model` when a request names none.
const withModel = (service: LanguageModel.Service, model: string): LanguageModel.Service =>
  LanguageModel.wrap(service, {
    request: (request) => (request.model === undefined ? { ...request, model } : request)
  }, { defaultModel: model })

const defaultResolve = (config: StackConfig): Resolve => (target) => {
  const own = target.provider === config.provider.provider ? config.provider : { provider: target.provider }
  const options = target.options === undefined ? own.options : { ...own.options, ...target.options }
  return Effect.succeed({
    ...own,
    ...(target.model !== undefined ? { model: target.model } : {}),
    ...(target.baseUrl !== undefined ? { baseUrl: target.baseUrl } : {}),
    ...(options !== undefined ? { options } : {})
  })
}

/**
 * Builds the factory a configuration describes, in the current scope: the configured model and,
 * on demand, the stacks of other targets with the same configuration.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  config: StackConfig,
  options: MakeOptions = {}
): Effect.Effect<ModelFactory.Service, LlmError.LlmError, ProviderRegistry.ProviderRegistry | Scope.Scope> =>
  Effect.gen(function*() {
    const scope = yield* Scope.Scope
    const context = yield* Effect.context<ProviderRegistry.ProviderRegistry>()
    const shared = yield* makeShared(config)
    const build = (
      provider: ProviderRegistry.CreateOptions,
      fallback: ReadonlyArray<ProviderRegistry.CreateOptions>,
      chained = false
    ) =>
      Effect.map(
        Layer.buildWithScope(modelLayer(config, shared, provider, fallback, chained), scope),
        (built) => Context.get(built, LanguageModel.LanguageModel)
      )
    const model = yield* build(config.provider, config.resilience?.fallback ?? [])
    const resolve = options.resolve ?? defaultResolve(config)
    const mainProvider = config.provider.provider

    const create = (target: ModelFactory.Target): Effect.Effect<LanguageModel.Service, LlmError.LlmError> => {
      // The configured provider with only another model: the configured stack (its fallback
      // chain included), with that model when a request names none.
      if (target.provider === mainProvider && target.baseUrl === undefined && isEmpty(target.options) && target.chained !== true) {
        return Effect.succeed(target.model === undefined ? model : withModel(model, target.model))
      }
      // Another provider, base URL or options: its own stack, without the configured fallback chain.
      return Effect.provideContext(Effect.flatMap(resolve(target), (provider) => build(provider, [], target.chained === true)), context)
    }

    // Once per distinct target. The build runs in its own fiber in the factory's scope, so a
    // caller interrupted while waiting leaves it to finish for the others; a failed build is
    // forgotten (the next ask tries again).
    const cache = new Map<string, Deferred.Deferred<LanguageModel.Service, LlmError.LlmError>>()
    const forProvider = (target: ModelFactory.Target): Effect.Effect<LanguageModel.Service, LlmError.LlmError> =>
      Effect.suspend(() => {
        const key = keyOf(target)
        const existing = cache.get(key)
        if (existing !== undefined) return Deferred.await(existing)
        const deferred = Deferred.makeUnsafe<LanguageModel.Service, LlmError.LlmError>()
        cache.set(key, deferred)
        const started = Effect.map(Effect.forkIn(create(target), scope), (fiber) => {
          fiber.addObserver((exit) => {
            if (exit._tag === "Failure") cache.delete(key)
            Deferred.doneUnsafe(deferred, exit)
          })
        })
        return Effect.andThen(Effect.uninterruptible(started), Deferred.await(deferred))
      })

    // Read-only: the key is looked up, the circuit read from the shared store (keyed as the
    // candidate's breaker keys it: provider, base URL, model).
    const keyAvailable = options.keyAvailable ?? (() => Effect.succeed(true))
    const availability = (target: ModelFactory.Target): Effect.Effect<ModelFactory.Availability> =>
      Effect.gen(function*() {
        const key = yield* keyAvailable(target.provider)
        if (!key) return { key, circuit: "Closed" as const }
        const resolved = yield* Effect.option(resolve(target))
        const baseUrl = resolved._tag === "Some" ? resolved.value.baseUrl : target.baseUrl
        const model = target.model ?? (resolved._tag === "Some" ? resolved.value.model : undefined)
        if (model === undefined) return { key, circuit: "Closed" as const }
        const circuit = yield* CircuitBreaker.state({ provider: target.provider, model, baseUrl }).pipe(
          Effect.provideContext(shared.resilience)
        )
        return { key, circuit }
      })

    return { model, forProvider, budget: shared.budget, availability, prices: shared.prices }
  })

/**
 * The factory of a configuration as a Layer, with its configured model as the `LanguageModel`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerFactory = (
  config: StackConfig,
  options: MakeOptions = {}
): Layer.Layer<LanguageModel.LanguageModel | ModelFactory.ModelFactory, LlmError.LlmError, ProviderRegistry.ProviderRegistry> =>
  Layer.effectContext(
    Effect.map(make(config, options), (factory) =>
      Context.make(ModelFactory.ModelFactory, factory).pipe(Context.add(LanguageModel.LanguageModel, factory.model)))
  )

/**
 * Builds the `LanguageModel` a configuration describes (the factory's configured model).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  config: StackConfig
): Layer.Layer<LanguageModel.LanguageModel, LlmError.LlmError, ProviderRegistry.ProviderRegistry> =>
  Layer.effect(LanguageModel.LanguageModel, Effect.map(make(config), (factory) => factory.model))

/**
 * A model from the `ModelFactory` in context: another provider, model, base URL or provider
 * options, with the configuration's guard, observability, budget and resilience.
 *
 * @since 0.1.0
 * @category accessors
 * @example
 * const writer = yield* Stack.forProvider({ provider: "openai", model: "gpt-4o-mini" })
 */
export const forProvider = (
  target: ModelFactory.Target
): Effect.Effect<LanguageModel.Service, LlmError.LlmError, ModelFactory.ModelFactory> =>
  ModelFactory.ModelFactory.use((factory) => factory.forProvider(target))

// -----------------------------------------------------------------------------
// From a loaded configuration
// -----------------------------------------------------------------------------

const providerOptions = (
  name: string,
  config: LlmConnectConfig.LlmConnectConfig,
  settings: LlmConnectConfig.ProviderSettings
): Readonly<Record<string, unknown>> | undefined => {
  const options = name === "mock" ? { ...settings.options, ...LlmConnectConfig.mockOptions(config) } : settings.options
  return options !== undefined && Object.keys(options).length > 0 ? options : undefined
}

/**
 * The provider options of a target under a configuration: the provider must be registered; its
 * key (explicit, environment or key file) is resolved now, so a missing one fails before any
 * call; model, base URL and options come from the target, else from `providers.<name>` (and,
 * for the configured provider, the top-level `model` and `baseUrl`; for the mock, `mock:`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const targetOptions = Effect.fn("Stack.targetOptions")(function*(
  config: LlmConnectConfig.LlmConnectConfig,
  target: ModelFactory.Target
) {
  const provider = yield* ProviderRegistry.ProviderRegistry.use((registry) => registry.get(target.provider))
  const settings = config.providers[provider.name] ?? {}
  const configured = provider.name === config.provider
  const found = yield* ProviderKeys.resolve({ provider, explicit: settings.apiKey, keyFile: settings.keyFile })
  const model = target.model ?? (configured ? LlmConnectConfig.modelFor(config) : settings.model)
  const baseUrl = target.baseUrl ?? (configured ? config.baseUrl ?? settings.baseUrl : settings.baseUrl)
  const own = providerOptions(provider.name, config, settings)
  const options = target.options === undefined ? own : { ...own, ...target.options }
  const created: ProviderRegistry.CreateOptions = {
    provider: provider.name,
    ...(model !== undefined ? { model } : {}),
    ...(found !== undefined ? { apiKey: found.key } : {}),
    ...(baseUrl !== undefined ? { baseUrl } : {}),
    ...(options !== undefined && Object.keys(options).length > 0 ? { options } : {})
  }
  return created
})

/**
 * The `fallback:` candidates of a configuration, each with its provider's key and settings.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fallbackCandidates = (config: LlmConnectConfig.LlmConnectConfig) =>
  Effect.forEach(config.fallback ?? [], (entry) =>
    Effect.gen(function*() {
      const provider = yield* ProviderRegistry.ProviderRegistry.use((registry) => registry.get(entry.provider))
      const own = config.providers[provider.name] ?? {}
      const found = yield* ProviderKeys.resolve({ provider, explicit: own.apiKey, keyFile: own.keyFile })
      const model = entry.model ?? own.model
      const baseUrl = entry.baseUrl ?? own.baseUrl
      const options = providerOptions(provider.name, config, own)
      const candidate: ProviderRegistry.CreateOptions = {
        provider: provider.name,
        ...(model !== undefined ? { model } : {}),
        ...(found !== undefined ? { apiKey: found.key } : {}),
        ...(baseUrl !== undefined ? { baseUrl } : {}),
        ...(options !== undefined ? { options } : {})
      }
      return candidate
    }))

/**
 * The {@link StackConfig} of a resolved configuration: checks the provider is registered
 * (naming where its name came from), resolves its key and the fallback candidates' keys, and
 * passes the mock its settings.
 *
 * @since 0.1.0
 * @category constructors
 */
export const stackConfig = Effect.fn("Stack.stackConfig")(function*(resolved: LlmConnectConfig.Resolved) {
  const { config, sources } = resolved
  const source = sources.provider
  const provider = yield* targetOptions(config, { provider: config.provider }).pipe(
    Effect.mapError((error) =>
      error.reason._tag === "Configuration" && error.reason.setting === "provider" && source !== undefined &&
        source._tag !== "Default"
        ? LlmError.make(
          error.provider,
          new LlmError.Configuration({
            ...error.reason,
            description: `${error.reason.description} (from ${LlmConnectConfig.describeSource(source)})`
          })
        )
        : error
    )
  )
  const options: StackConfig = {
    provider,
    ...(config.budget !== undefined ? { budget: { budget: config.budget, prices: config.prices } } : {}),
    ...(config.prices !== undefined ? { prices: config.prices } : {}),
    ...(config.store !== undefined ? { store: config.store } : {}),
    observability: ObservabilityConfig.observabilityOptions(config),
    ...(config.pii !== undefined ? { pii: config.pii } : {}),
    maxRequestBytes: config.maxRequestBytes,
    resilience: {
      retry: config.retry,
      attemptTimeout: ResilienceConfig.attemptTimeoutOf(config),
      timeoutMs: config.timeoutMs,
      ...(config.streamIdleTimeout !== undefined ? { streamIdleTimeout: config.streamIdleTimeout } : {}),
      limits: config.limits,
      circuitBreaker: config.circuitBreaker,
      fallback: yield* fallbackCandidates(config)
    }
  }
  return options
})

/**
 * The model stack of a loaded configuration, for any front door: resolves it now (an unknown
 * provider or a missing key fails here, before any call) and returns a Layer with no
 * requirements that provides the configured `LanguageModel` and the `ModelFactory` every other
 * model (a workflow step's own `provider:`) comes from, plus the configured logger and the OTLP
 * exporter. `Layer.unwrap(Stack.fromConfig(resolved))` when a Layer is wanted directly.
 *
 * @since 0.1.0
 * @category layers
 * @example
 * const resolved = yield* LlmConnectConfig.load()
 * const stack = yield* Stack.fromConfig(resolved)
 * const reply = yield* LanguageModel.generate("Hi").pipe(Effect.provide(stack))
 */
export const fromConfig = (
  resolved: LlmConnectConfig.Resolved
): Effect.Effect<
  Layer.Layer<LanguageModel.LanguageModel | ModelFactory.ModelFactory, LlmError.LlmError>,
  LlmError.LlmError,
  ProviderRegistry.ProviderRegistry | FileSystem.FileSystem | Path.Path
> =>
  Effect.gen(function*() {
    const context = yield* Effect.context<ProviderRegistry.ProviderRegistry | FileSystem.FileSystem | Path.Path>()
    const config = yield* stackConfig(resolved)
    const resolve: Resolve = (target) => Effect.provideContext(targetOptions(resolved.config, target), context)
    const keyAvailable = (name: string): Effect.Effect<boolean> =>
      Effect.provideContext(
        Effect.gen(function*() {
          const provider = yield* Effect.option(ProviderRegistry.ProviderRegistry.use((registry) => registry.get(name)))
          if (provider._tag === "None") return false
          const settings = resolved.config.providers[provider.value.name] ?? {}
          const found = yield* ProviderKeys.find({ provider: provider.value, explicit: settings.apiKey, keyFile: settings.keyFile })
          return ProviderKeys.isFound(found) || found._tag !== "Missing"
        }),
        context
      )
    return layerFactory(config, { resolve, keyAvailable }).pipe(
      Layer.provide(Layer.succeedContext(Context.pick(ProviderRegistry.ProviderRegistry)(context))),
      Layer.merge(ObservabilityConfig.loggingLayer(resolved.config)),
      Layer.merge(ObservabilityConfig.exportLayer)
    )
  })
