/**
 * `llm-connect serve` as a library: one configuration in, one running server out. It makes the
 * bridge (`Bridge.make`: the usage ledger, and a stack per provider and key built once through
 * the one configuration-to-stack path), the model router, every door's routes, and the HTTP
 * server core (`Server.make`), in the current scope.
 *
 * Doors: `BridgeRoutes` (`/execute`, `/rpc`), `OpenAiCompat` (`/v1/chat/completions`,
 * `/v1/models`), `AnthropicCompat` (`/v1/messages`, `/v1/messages/count_tokens`), `OpsRoutes`
 * (`/health`, `/ready`, `/metrics`, `/v1/usage`, `/openapi.json`), `WorkflowRoutes`
 * (`/v1/workflows/{name}/runs`, `/v1/runs/{id}`, its events; JSON-RPC `workflow.run` and
 * `workflow.status`) over the workflows of `serve.workflows` (`WorkflowRuns`, loaded and checked
 * at start: a bad file refuses to start). A later door passes its routes in
 * {@link Options.extraRoutes}; virtual keys plug in as {@link Options.authenticate}. With
 * `store.redis`, the keys' budgets and rpm/tpm limits live in Redis (`SharedStores`), so replicas
 * behind one load balancer hold each key to one budget and one rpm, and `/ready` checks that
 * Redis answers (`store`).
 *
 * @since 0.1.0
 */
import { Context, Duration, Effect, FileSystem, Layer, type Path, type Scope } from "effect"
import * as Bridge from "../bridge/Bridge.ts"
import type * as LlmConnectConfig from "../LlmConnectConfig.ts"
import type * as LlmError from "../LlmError.ts"
import * as ObservabilityConfig from "../observability/ObservabilityConfig.ts"
import * as UsageLedger from "../observability/UsageLedger.ts"
import type * as ProviderRegistry from "../ProviderRegistry.ts"
import * as Collective from "../routing/Collective.ts"
import * as ProposalStore from "../routing/ProposalStore.ts"
import * as AnthropicCompat from "./AnthropicCompat.ts"
import * as BridgeRoutes from "./BridgeRoutes.ts"
import type * as ModelRouter from "./ModelRouter.ts"
import * as OpenAiCompat from "./OpenAiCompat.ts"
import * as OpsRoutes from "./OpsRoutes.ts"
import * as RoutingRoutes from "./RoutingRoutes.ts"
import * as Server from "./Server.ts"
import * as ServeConfig from "./ServeConfig.ts"
import type * as VirtualKeys from "./VirtualKeys.ts"
import * as WorkflowRoutes from "./WorkflowRoutes.ts"
import * as WorkflowRuns from "./WorkflowRuns.ts"
import * as KeyAuth from "./KeyAuth.ts"
import * as FederationRoutes from "./FederationRoutes.ts"
import type * as SqlStore from "../store/SqlStore.ts"
import * as SharedStores from "./SharedStores.ts"

/**
 * What the caller decides beyond the configuration.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The platform's listener (on Node: `NodeServe.listen` from `llm-connect/node`). */
  readonly listen: Server.Listen
  /** Over `serve.host` (default 127.0.0.1). */
  readonly host?: string | undefined
  /** Over `serve.port` (default 9999; 0 picks a free port). */
  readonly port?: number | undefined
  readonly authenticate?: Server.Authenticate | undefined
  /**
   * The virtual keys (`VirtualKeys`); when it holds any and no `authenticate` is given, every
   * request must carry one and is held to its limits (`KeyAuth`).
   */
  readonly keys?: VirtualKeys.Service | undefined
  readonly accessLog?: ((line: Server.AccessLogLine) => Effect.Effect<void>) | undefined
  readonly extraRoutes?: ReadonlyArray<Server.Route> | undefined
  readonly bridge?: Bridge.Options | undefined
  /** The ledger's store: when given, the federation endpoints (`/v1/agents`, `/v1/delegations`) are served over it. */
  readonly federation?: SqlStore.Service | undefined
  /** Over `serve.workflows`: the folder of workflow files served. */
  readonly workflows?: string | undefined
  /** Over `serve.keepAliveTimeout` (ms): how long an idle client connection is kept open. */
  readonly keepAliveTimeoutMs?: number | undefined
}

/**
 * A running `serve`: the server, the bridge it runs on, and its settings.
 *
 * @since 0.1.0
 * @category models
 */
export interface Running {
  readonly server: Server.Server
  readonly bridge: Bridge.Service
  readonly settings: ServeConfig.ServeSettings
  /** The workflow runs (`drain` them on shutdown). */
  readonly runs: WorkflowRuns.Service
}

/**
 * Every route of a bridge, in the order they are registered.
 *
 * @since 0.1.0
 * @category routes
 */
export const routes = (
  router: ModelRouter.ModelRouter,
  fs: FileSystem.FileSystem,
  runs?: { readonly runs: WorkflowRuns.Service; readonly requestTimeoutMs: number } | undefined,
  checks: Readonly<Record<string, Effect.Effect<string>>> = {},
  proposals?: ProposalStore.Service
): ReadonlyArray<Server.Route> => [
  ...BridgeRoutes.routes(router.bridge, runs === undefined ? {} : WorkflowRoutes.methods(runs.runs, runs.requestTimeoutMs)),
  ...OpenAiCompat.routes(router),
  ...AnthropicCompat.routes(router),
  ...OpsRoutes.routes(router.bridge, fs, checks),
  ...(runs === undefined ? [] : WorkflowRoutes.routes(runs.runs, runs.requestTimeoutMs)),
  ...RoutingRoutes.routes(router.bridge, proposals)
]

// With a shared store (`store.redis`), /ready asks Redis for a PONG (the store's timeout) on the
// connection of the keys' budget store; the answer names the store without its password.
const storeCheck = (shared: SharedStores.SharedStores | undefined): Readonly<Record<string, Effect.Effect<string>>> =>
  shared === undefined ? {} : {
    store: shared.budget.ping.pipe(
      Effect.as("ok"),
      Effect.catch(() => Effect.succeed(`cannot reach the ${shared.budget.where}`))
    )
  }

/**
 * Starts serving a loaded configuration in the current scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  resolved: LlmConnectConfig.Resolved,
  options: Options
): Effect.Effect<
  Running,
  LlmError.LlmError | Server.ServeError,
  ProviderRegistry.ProviderRegistry | FileSystem.FileSystem | Path.Path | Scope.Scope
> =>
  Effect.gen(function*() {
    const settings = resolved.config.serve
    const folder = options.workflows ?? settings.workflows
    const workflows: WorkflowRuns.Workflows = folder === undefined ? new Map() : yield* WorkflowRuns.load(folder)
    // A SQLite ledger writes from a thread of its own: its commits and WAL checkpoints never
    // stop the thread that answers requests (ADR 0053).
    const bridge = yield* Bridge.make(resolved, options.bridge).pipe(Effect.provideService(UsageLedger.WriteOffThread, true))
    const fs = yield* FileSystem.FileSystem
    const runs = yield* WorkflowRuns.make({ bridge, workflows, settings: settings.runs })
    const router: ModelRouter.ModelRouter = { bridge, models: settings.models }
    // Collective proposals are kept in the usage ledger's store (in memory when it records nothing).
    const proposals = Context.get(
      yield* Layer.build(Collective.storeLayer(ObservabilityConfig.ledgerLocation(resolved.config.ledger))),
      ProposalStore.ProposalStore
    )
    const keys = options.keys
    // With store.redis, keys' budgets and rpm/tpm are shared by every replica on that Redis.
    const shared = yield* SharedStores.make(resolved.config)
    const keyOptions: KeyAuth.Options = shared === undefined
      ? {}
      : { store: shared.budget, limiter: shared.limiter, onStoreError: shared.onStoreError, storeTimeout: Duration.millis(shared.timeoutMs) }
    const authenticate = options.authenticate ??
      (keys !== undefined && (yield* keys.count) > 0 ? (yield* KeyAuth.make(keys, keyOptions)).authenticate : undefined)
    const served = routes(router, fs, { runs, requestTimeoutMs: settings.requestTimeoutMs }, storeCheck(shared), proposals)
    const federation = options.federation === undefined ? [] : yield* FederationRoutes.routes(bridge, options.federation)
    const server = yield* Server.make([...served, ...federation, ...(options.extraRoutes ?? [])], {
      listen: options.listen,
      host: options.host ?? settings.host ?? ServeConfig.DEFAULT_HOST,
      port: options.port ?? settings.port ?? ServeConfig.DEFAULT_PORT,
      maxInFlight: settings.maxInFlight,
      requestTimeoutMs: settings.requestTimeoutMs,
      maxBodyBytes: bridge.maxDocumentBytes,
      connections: { keepAliveTimeoutMs: options.keepAliveTimeoutMs ?? settings.keepAliveTimeoutMs, maxConnections: settings.maxConnections },
      authenticate,
      accessLog: options.accessLog
    })
    return { server, bridge, settings, runs }
  })
