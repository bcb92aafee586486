/**
 * The `serve` section of the configuration file: where `llm-connect serve` listens and how it
 * protects itself, and the model router (`serve.models`: each exposed model name mapped to a
 * provider and model, each with its own stack, built once).
 *
 * ```yaml
 * serve:
 *   host: 127.0.0.1
 *   port: 9999
 *   maxInFlight: 256        # requests at once; beyond: 503 + retry-after
 *   requestTimeout: 10m     # per request, streams included
 *   drainTimeout: 30s       # on SIGTERM, how long calls in flight may take to finish
 *   keepAliveTimeout: 65s   # an idle client connection is kept this long (longer than clients' and load balancers' 60 s)
 *   maxConnections: 1024    # client connections at once; at the cap idle ones are closed, beyond it new ones refused
 *   models:
 *     fast: { provider: openai, model: gpt-4o-mini }
 *     local: { provider: openai-compatible, model: llama3, baseUrl: http://127.0.0.1:11434/v1 }
 *   workflows: ./workflows  # a folder of workflow YAML files, served at /v1/workflows/{name}/runs
 *   runs:
 *     maxInFlight: 16       # workflow runs at once; beyond: 503 + retry-after
 *     maxRetained: 1000     # finished runs kept in memory (oldest evicted first)
 *     retention: 1h         # a finished run is kept in memory this long
 *     journal: .llm-connect/runs  # where run journals are written (false: memory only)
 *     retain: { runs: 1000, age: 168h }  # finished runs' journals kept on disk (false: all, forever)
 * ```
 *
 * Flags (`--host`, `--port`, `--workflows`, `--keep-alive-timeout`) come over the file; the defaults are below. Virtual
 * keys (`serve.keys`) are a later section of the same key.
 *
 * @since 0.1.0
 */
import { Effect, Schema } from "effect"
import * as ConfigSection from "../ConfigSection.ts"
import * as DurationText from "../DurationText.ts"

/**
 * The address served unless `--host` or `serve.host` says otherwise (loopback: no keys needed).
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_HOST = "127.0.0.1"

/**
 * The port served unless `--port` or `serve.port` says otherwise.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_PORT = 9999

/**
 * The most requests in flight unless `serve.maxInFlight` says otherwise.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_MAX_IN_FLIGHT = 256

/**
 * The per-request timeout unless `serve.requestTimeout` says otherwise (10 minutes).
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_REQUEST_TIMEOUT_MS = 10 * 60_000

/**
 * How long calls in flight may take to finish after SIGTERM unless `serve.drainTimeout` says
 * otherwise (30 seconds).
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_DRAIN_TIMEOUT_MS = 30_000

/**
 * How long an idle client connection is kept open unless `serve.keepAliveTimeout` says otherwise
 * (65 seconds; Node's own default is 5 s). The side of a connection that closes it while idle
 * should be the client (or the load balancer in front): a server that closes first races the
 * client's next request on that connection, which then fails (`ECONNRESET`, or a 502 from a load
 * balancer), and after every quiet spell longer than the timeout each client opens its pool
 * again at the first burst. 65 s is longer than the common idle timeouts of what sits in front:
 * AWS load balancers (60 s), nginx's upstream keep-alive (60 s); Node's and undici's clients
 * follow the server's `Keep-Alive: timeout` hint. Clients that keep idle connections longer
 * without reading a hint (Go's 90 s) need a longer one (docs/serve.md; ADR 0054).
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_KEEP_ALIVE_TIMEOUT_MS = 65_000

/**
 * The longest `serve.keepAliveTimeout` accepted (1 hour): Node's timers cannot hold more than
 * about 24.8 days (a longer one fires at once), and an hour already outlasts any pool.
 *
 * @since 0.1.0
 * @category constants
 */
export const MAX_KEEP_ALIVE_TIMEOUT_MS = 3_600_000

/**
 * The most client connections at once unless `serve.maxConnections` says otherwise. What bounds
 * the connections kept idle (`serve.keepAliveTimeout`): at the cap serve closes its idle
 * connections (their clients reconnect), and beyond it (every connection busy) it refuses new
 * ones. An idle connection holds about 8 KB of serve's heap plus its socket's buffers; 1,024 is
 * four times `serve.maxInFlight`'s default.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_MAX_CONNECTIONS = 1024

/**
 * One exposed model: the provider and model (and optionally base URL) its stack is built for.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ModelRoute = Schema.Struct({
  provider: Schema.String.check(Schema.isNonEmpty()).annotate({ description: "The provider (see `llm-connect providers`)." }),
  model: Schema.optionalKey(Schema.String.check(Schema.isNonEmpty())).annotate({
    description: "The provider's model; the provider's default when absent."
  }),
  baseUrl: Schema.optionalKey(Schema.String.check(Schema.isNonEmpty())).annotate({
    description: "The provider's endpoint for this model, e.g. a local OpenAI-compatible server."
  })
}).annotate({ identifier: "ServeModelRoute", description: "The provider and model behind an exposed model name." })

/**
 * @since 0.1.0
 * @category models
 */
export type ModelRoute = typeof ModelRoute.Type

const PositiveInt = Schema.Int.check(Schema.isGreaterThan(0))

/**
 * The most workflow runs in flight unless `serve.runs.maxInFlight` says otherwise.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_MAX_RUNS_IN_FLIGHT = 16

/**
 * The most finished workflow runs kept in memory unless `serve.runs.maxRetained` says otherwise.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_MAX_RETAINED_RUNS = 1000

/**
 * How long a finished run is kept in memory unless `serve.runs.retention` says otherwise (1 hour).
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_RUN_RETENTION_MS = 60 * 60_000

/**
 * Where run journals are written unless `serve.runs.journal` says otherwise (as `llm-connect run`).
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_RUN_JOURNAL = ".llm-connect/runs"

/**
 * How many finished runs' journals are kept on disk unless `serve.runs.retain.runs` says otherwise.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_RETAINED_JOURNALS = 1000

/**
 * How long a finished run's journal is kept on disk unless `serve.runs.retain.age` says otherwise
 * (7 days).
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_JOURNAL_AGE_MS = 7 * 24 * 60 * 60_000

/**
 * The `serve.runs.retain` key: which run journals stay on disk.
 *
 * @since 0.1.0
 * @category schemas
 */
export const RetainFile = Schema.Struct({
  runs: Schema.optionalKey(PositiveInt).annotate({
    description: `The journals of the most recent finished runs kept (default ${DEFAULT_RETAINED_JOURNALS}); older ones are deleted.`
  }),
  age: Schema.optionalKey(DurationText.DurationString).annotate({
    description: "A finished run's journal is deleted this long after the run ended (default 168h, 7 days)."
  })
}).annotate({ identifier: "ServeRunsRetain" })

/**
 * The `serve.runs` key: bounds on workflow runs and where their journals go.
 *
 * @since 0.1.0
 * @category schemas
 */
export const RunsFile = Schema.Struct({
  maxInFlight: Schema.optionalKey(PositiveInt).annotate({
    description: `Workflow runs at once (default ${DEFAULT_MAX_RUNS_IN_FLIGHT}); beyond it: 503 with retry-after.`
  }),
  maxRetained: Schema.optionalKey(PositiveInt).annotate({
    description: `Finished runs kept in memory (default ${DEFAULT_MAX_RETAINED_RUNS}); the oldest is evicted first.`
  }),
  retention: Schema.optionalKey(DurationText.DurationString).annotate({
    description: "How long a finished run is kept in memory (default 1h); after that it is read back from its journal."
  }),
  journal: Schema.optionalKey(Schema.Union([Schema.String.check(Schema.isNonEmpty()), Schema.Literal(false)])).annotate({
    description: `The folder of run journals (default ${DEFAULT_RUN_JOURNAL}); false keeps runs in memory only.`
  }),
  retain: Schema.optionalKey(Schema.Union([Schema.Literal(false), RetainFile])).annotate({
    description: "Which journals stay on disk: the last `runs` finished runs, each for `age` (defaults 1000 and 168h), " +
      "applied at start and after each run ends; a run in flight is never deleted. false keeps them all."
  })
}).annotate({ identifier: "ServeRunsConfig", description: "Bounds on the workflow runs of llm-connect serve." })

/**
 * The `serve` key of the file.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ServeFile = Schema.Struct({
  host: Schema.optionalKey(Schema.String.check(Schema.isNonEmpty())).annotate({
    description: `The address to listen on (default ${DEFAULT_HOST}).`
  }),
  port: Schema.optionalKey(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 65535 }))).annotate({
    description: `The port (default ${DEFAULT_PORT}; 0 picks a free one).`
  }),
  maxInFlight: Schema.optionalKey(PositiveInt).annotate({
    description: `The most requests at once (default ${DEFAULT_MAX_IN_FLIGHT}); beyond it: 503 with retry-after.`
  }),
  requestTimeout: Schema.optionalKey(DurationText.DurationString).annotate({
    description: "How long one request may take, a stream included (default 10m)."
  }),
  drainTimeout: Schema.optionalKey(DurationText.DurationString).annotate({
    description: "On SIGTERM, how long calls in flight may take to finish before they are stopped (default 30s)."
  }),
  keepAliveTimeout: Schema.optionalKey(DurationText.DurationString).annotate({
    description: "How long an idle client connection is kept open (default 65s, at most 1h): longer than the idle timeout " +
      "of the clients and load balancers in front, so that they close first."
  }),
  maxConnections: Schema.optionalKey(PositiveInt).annotate({
    description: `The most client connections at once (default ${DEFAULT_MAX_CONNECTIONS}); at the cap idle ones are closed, ` +
      "beyond it (all busy) new ones are refused."
  }),
  models: Schema.optionalKey(Schema.Record(Schema.String, ModelRoute)).annotate({
    description: "Exposed model names (the `model` of an OpenAI or Anthropic request), each to a provider and model."
  }),
  workflows: Schema.optionalKey(Schema.String.check(Schema.isNonEmpty())).annotate({
    description: "A folder of workflow YAML files (*.yaml, *.yml), each served at POST /v1/workflows/{name}/runs."
  }),
  runs: Schema.optionalKey(RunsFile)
}).annotate({ identifier: "ServeConfig", description: "llm-connect serve: address, limits and model routes." })

/**
 * The resolved `serve` settings (durations in milliseconds, defaults applied).
 *
 * @since 0.1.0
 * @category models
 */
export interface ServeSettings {
  readonly host: string | undefined
  readonly port: number | undefined
  readonly maxInFlight: number
  readonly requestTimeoutMs: number
  readonly drainTimeoutMs: number
  /** How long an idle client connection is kept open, ms. */
  readonly keepAliveTimeoutMs: number
  /** The most client connections at once. */
  readonly maxConnections: number
  readonly models: Readonly<Record<string, ModelRoute>>
  /** The folder of workflow files, when workflows are served. */
  readonly workflows: string | undefined
  readonly runs: RunSettings
}

/**
 * The resolved `serve.runs` settings.
 *
 * @since 0.1.0
 * @category models
 */
export interface RunSettings {
  readonly maxInFlight: number
  readonly maxRetained: number
  readonly retentionMs: number
  /** The journal folder, or `false` (memory only). */
  readonly journal: string | false
  /** Which finished runs' journals stay on disk, or `false` (all of them). */
  readonly retain: RetainSettings | false
}

/**
 * The resolved `serve.runs.retain` settings: a finished run's journal is deleted once it is not
 * among the last `runs` finished, or `ageMs` after it ended.
 *
 * @since 0.1.0
 * @category models
 */
export interface RetainSettings {
  readonly runs: number
  readonly ageMs: number
}

/**
 * What is wrong with a keep-alive timeout, or `undefined` when it is accepted: more than 0 and at
 * most {@link MAX_KEEP_ALIVE_TIMEOUT_MS} (the file's key and `--keep-alive-timeout` alike).
 *
 * @since 0.1.0
 * @category validation
 */
export const keepAliveTimeoutProblem = (millis: number): string | undefined =>
  millis <= 0
    ? "the keep-alive timeout must be longer than 0 (0 would keep idle connections forever)"
    : millis > MAX_KEEP_ALIVE_TIMEOUT_MS
    ? `the keep-alive timeout is ${DurationText.formatMillis(millis)}; it must be at most 1h (write e.g. 65s or 2m)`
    : undefined

/**
 * The configuration section: the top-level `serve` key.
 *
 * @since 0.1.0
 * @category config
 */
export const section = ConfigSection.make({
  name: "serve",
  fields: { serve: Schema.optionalKey(ServeFile) },
  finish: ({ serve }, finishing) =>
    Effect.gen(function*() {
      const requestTimeoutMs = yield* ConfigSection.millis(finishing, "serve.requestTimeout", serve?.requestTimeout, { positive: true })
      const drainTimeoutMs = yield* ConfigSection.millis(finishing, "serve.drainTimeout", serve?.drainTimeout, { positive: false })
      const keepAliveTimeoutMs = yield* ConfigSection.millis(finishing, "serve.keepAliveTimeout", serve?.keepAliveTimeout, { positive: true })
      const keepAliveProblem = keepAliveTimeoutMs === undefined ? undefined : keepAliveTimeoutProblem(keepAliveTimeoutMs)
      if (keepAliveProblem !== undefined) return yield* Effect.fail(finishing.invalid("serve.keepAliveTimeout", `serve.keepAliveTimeout: ${keepAliveProblem}`))
      const retentionMs = yield* ConfigSection.millis(finishing, "serve.runs.retention", serve?.runs?.retention, { positive: true })
      const retain = serve?.runs?.retain
      const ageMs = retain === false || retain === undefined
        ? undefined
        : yield* ConfigSection.millis(finishing, "serve.runs.retain.age", retain.age, { positive: true })
      const settings: ServeSettings = {
        host: serve?.host,
        port: serve?.port,
        maxInFlight: serve?.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT,
        requestTimeoutMs: requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
        drainTimeoutMs: drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS,
        keepAliveTimeoutMs: keepAliveTimeoutMs ?? DEFAULT_KEEP_ALIVE_TIMEOUT_MS,
        maxConnections: serve?.maxConnections ?? DEFAULT_MAX_CONNECTIONS,
        models: serve?.models ?? {},
        workflows: serve?.workflows,
        runs: {
          maxInFlight: serve?.runs?.maxInFlight ?? DEFAULT_MAX_RUNS_IN_FLIGHT,
          maxRetained: serve?.runs?.maxRetained ?? DEFAULT_MAX_RETAINED_RUNS,
          retentionMs: retentionMs ?? DEFAULT_RUN_RETENTION_MS,
          journal: serve?.runs?.journal ?? DEFAULT_RUN_JOURNAL,
          retain: retain === false
            ? false
            : { runs: retain?.runs ?? DEFAULT_RETAINED_JOURNALS, ageMs: ageMs ?? DEFAULT_JOURNAL_AGE_MS }
        }
      }
      return { serve: settings }
    })
})
