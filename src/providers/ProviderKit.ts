/**
 * The provider kit: everything a provider needs besides its own wire format, for the built-in
 * providers and for plugin authors alike.
 *
 * - **Defining a provider.** {@link define} turns a definition (name, key variables, an options
 *   Schema, `make`) into a registry `Provider`. It replaces the prologue every provider used to
 *   write: it captures the services the provider names (and `FileSystem`/`Path` for key files)
 *   when the registry is built, decodes `providers.<name>.options` with the provider's Schema (a
 *   bad option is a `Configuration` error naming the option, the provider and an example), and
 *   resolves the API key once (explicit, else the environment, else the key file:
 *   `ProviderKeys`). {@link defineOffline} does the same for a provider that needs neither
 *   services nor a key lookup (the mock).
 * - **Mapping failures.** {@link statusTable} builds the status -> reason table of a provider;
 *   {@link retryAfterMs} reads `retry-after-ms` and `retry-after` (seconds or an HTTP date);
 *   {@link errorCode} and {@link connectionFailure} read socket errors; {@link attemptTimeout},
 *   {@link malformed} and {@link contentFiltered} build the errors every provider raises;
 *   {@link scrub} removes secrets from provider text (the one scrubber, `Redaction.scrubText`).
 * - **Reading provider JSON leniently.** {@link lenientStruct} and {@link optionalNullable}
 *   require only what an adapter reads and keep every field they do not know.
 * - **Bounding what is read.** {@link readText} reads an HTTP body up to a cap,
 *   {@link limitFetchResponse} does the same for an SDK's `fetch`, and {@link responseTooLarge}
 *   is the error past it; {@link MaxResponseBytes} is the `maxResponseBytes` option (default
 *   {@link DEFAULT_MAX_RESPONSE_BYTES}, 32 MiB), so that no answer is taken whole into memory.
 *
 * @since 0.1.0
 */
import { Context, Duration, Effect, FileSystem, Path, type Redacted, Result, Schema } from "effect"
import type { HttpClientError, HttpClientResponse } from "effect/http"
import * as DurationText from "../DurationText.ts"
import type * as LanguageModel from "../LanguageModel.ts"
import * as LlmError from "../LlmError.ts"
import * as Redaction from "../observability/Redaction.ts"
import * as ProviderKeys from "../ProviderKeys.ts"
import type { Provider, ProviderConfig } from "../ProviderRegistry.ts"
import * as Options from "./internal/options.ts"
import * as ResponseLimit from "./internal/responseLimit.ts"

// -----------------------------------------------------------------------------
// Defining a provider
// -----------------------------------------------------------------------------

/**
 * What `make` receives: the settings of one model, read once by the kit.
 *
 * @since 0.1.0
 * @category models
 */
export interface Settings<OptionsType, Key = Redacted.Redacted<string> | undefined> {
  /** The provider's registered name. */
  readonly provider: string
  /** The model used when a request names none: the config's, else the provider's default. */
  readonly model: string
  /** The key, resolved once: explicit, else the environment, else the key file. */
  readonly apiKey: Key
  /** The config's base URL, else the definition's `defaultBaseUrl`. */
  readonly baseUrl: string | undefined
  /** `providers.<name>.options`, decoded with the provider's Schema. */
  readonly options: OptionsType
  /** The config as it was given (e.g. for the system prompt). */
  readonly config: ProviderConfig
}

/**
 * What every definition has: how the provider is listed, and its options Schema.
 *
 * @since 0.1.0
 * @category models
 */
export interface DefinitionBase<OptionsType> {
  readonly name: string
  readonly description: string
  readonly defaultModel: string
  /** Models known to the provider. */
  readonly models?: ReadonlyArray<string> | undefined
  /** When true, a model outside `models` is refused before any call. */
  readonly closedModelList?: boolean | undefined
  /** The base URL when the config gives none. */
  readonly defaultBaseUrl?: string | undefined
  /**
   * Decodes `providers.<name>.options` (absent options decode as `{}`). Annotate each option
   * with `examples` (on the side the user writes): the first one is quoted in the error of a bad
   * value and shown in the config file's JSON Schema.
   */
  readonly options: Schema.Decoder<OptionsType>
}

/**
 * The key `make` receives: a `Redacted` when the provider requires one, else perhaps none.
 *
 * @since 0.1.0
 * @category models
 */
export type KeyFor<RequiresKey extends boolean> = RequiresKey extends true ? Redacted.Redacted<string>
  : Redacted.Redacted<string> | undefined

/**
 * A provider for {@link define}: the key variables, whether a key is required, the services
 * captured when the registry is built, and `make`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Definition<OptionsType, RequiresKey extends boolean, R> extends DefinitionBase<OptionsType> {
  /** Environment variables read for the key, in order. */
  readonly keyEnv: ReadonlyArray<string>
  /** Whether a call needs a key: without one, `make` is never called and the error names where to put it. */
  readonly requiresKey: RequiresKey
  /** Builds the model; it may use the services listed in `services`, and `FileSystem`/`Path`. */
  readonly make: (
    settings: Settings<OptionsType, KeyFor<RequiresKey>>
  ) => Effect.Effect<LanguageModel.Service, LlmError.LlmError, R>
}

/**
 * A provider for {@link defineOffline}: no key lookup (the key is the config's, if any) and no
 * services.
 *
 * @since 0.1.0
 * @category models
 */
export interface OfflineDefinition<OptionsType> extends DefinitionBase<OptionsType> {
  readonly make: (settings: Settings<OptionsType>) => Effect.Effect<LanguageModel.Service, LlmError.LlmError>
}

const platform = [FileSystem.FileSystem, Path.Path] as const

// Programs written before `ProviderConfig.keyFile` passed the key file in `options.keyFile`.
const keyFileOf = (config: ProviderConfig): string | undefined => {
  if (config.keyFile !== undefined) return config.keyFile
  const legacy = config.options?.keyFile
  return typeof legacy === "string" ? legacy : undefined
}

/**
 * Defines a provider: an Effect that captures the listed `services` (and `FileSystem`/`Path`,
 * for key files) of its context and gives the registry entry. Each `create` then decodes the
 * options, resolves the key once and calls `make` with those services. Only the listed services
 * are captured, so the caller's own references (config provider, tracer, log level) still apply
 * when a model is built and called.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * const provider = ProviderKit.define({
 *   name: "acme", description: "Acme's models", defaultModel: "acme-1",
 *   keyEnv: ["ACME_API_KEY"], requiresKey: true, defaultBaseUrl: "https://api.acme.example",
 *   options: Schema.Struct({ timeout: Schema.optionalKey(ProviderKit.Timeout) }),
 *   services: [HttpClient.HttpClient],
 *   make: (settings) => AcmeLanguageModel.make(settings)
 * })
 * // registry: ProviderRegistry.make([yield* provider])
 */
export const define = <
  OptionsType,
  const RequiresKey extends boolean,
  const Services extends ReadonlyArray<Context.Key<any, any>> = readonly []
>(
  definition: Definition<
    OptionsType,
    RequiresKey,
    Context.Service.Identifier<Services[number]> | FileSystem.FileSystem | Path.Path
  > & {
    /** The services `make` uses (e.g. `[HttpClient.HttpClient]`), captured when the registry is built. */
    readonly services?: Services | undefined
  }
): Effect.Effect<Provider, never, Context.Service.Identifier<Services[number]> | FileSystem.FileSystem | Path.Path> =>
  Effect.map(
    Effect.context<Context.Service.Identifier<Services[number]> | FileSystem.FileSystem | Path.Path>(),
    (context) => {
      // `pick` keeps what its keys name: the platform services and the listed ones.
      const keys: ReadonlyArray<Context.Key<any, any>> = [...platform, ...(definition.services ?? [])]
      const captured = Context.pick(...keys)(context) as Context.Context<
        Context.Service.Identifier<Services[number]> | FileSystem.FileSystem | Path.Path
      >
      const entry: Provider = {
        ...listing(definition),
        keyEnv: definition.keyEnv,
        requiresKey: definition.requiresKey,
        make: (config) =>
          Effect.gen(function*() {
            const options = yield* Effect.fromResult(
              Options.decode(definition.name, definition.options, config.options)
            )
            const found = yield* ProviderKeys.resolve({
              provider: entry,
              explicit: config.apiKey,
              keyFile: keyFileOf(config)
            })
            // `resolve` fails when a required key is missing, so `found` is there when required.
            const key = found?.key as KeyFor<RequiresKey>
            return yield* definition.make(settings(definition, config, options, key))
          }).pipe(Effect.provideContext(captured))
      }
      return entry
    }
  )

/**
 * Defines a provider that needs no services and looks up no key (the key is the config's own
 * `apiKey`, if any): a plain registry entry, e.g. an offline or in-process model. Its options
 * are decoded as for {@link define}.
 *
 * @since 0.1.0
 * @category constructors
 */
export const defineOffline = <OptionsType>(definition: OfflineDefinition<OptionsType>): Provider => ({
  ...listing(definition),
  keyEnv: [],
  requiresKey: false,
  make: (config) =>
    Result.match(Options.decode(definition.name, definition.options, config.options), {
      onFailure: Effect.fail,
      onSuccess: (options) => definition.make(settings(definition, config, options, config.apiKey))
    })
})

const listing = (definition: DefinitionBase<unknown>) => ({
  name: definition.name,
  description: definition.description,
  defaultModel: definition.defaultModel,
  ...(definition.models !== undefined ? { models: definition.models } : {}),
  ...(definition.closedModelList !== undefined ? { closedModelList: definition.closedModelList } : {})
})

const settings = <OptionsType, Key>(
  definition: DefinitionBase<OptionsType>,
  config: ProviderConfig,
  options: OptionsType,
  apiKey: Key
): Settings<OptionsType, Key> => ({
  provider: definition.name,
  model: config.model ?? definition.defaultModel,
  apiKey,
  baseUrl: config.baseUrl ?? definition.defaultBaseUrl,
  options,
  config
})

/**
 * Decodes a provider's options with its Schema (absent options decode as `{}`), failing with
 * `LlmError` reason `Configuration` that names the option, the provider and an example.
 * {@link define} does this for you.
 *
 * @since 0.1.0
 * @category options
 */
export const decodeOptions = <OptionsType>(
  provider: string,
  schema: Schema.Decoder<OptionsType>,
  raw: unknown
): Effect.Effect<OptionsType, LlmError.LlmError> => Effect.fromResult(Options.decode(provider, schema, raw))

/**
 * The per-attempt `timeout` option: a duration (`500ms`, `30s`, `2m`, `1h`; see `DurationText`)
 * or a number of milliseconds, more than zero.
 *
 * @since 0.1.0
 * @category options
 */
export const Timeout = DurationText.DurationFromText.check(
  Schema.makeFilter((duration: Duration.Duration) =>
    Duration.isGreaterThan(duration, Duration.zero) || "expected a duration of more than 0, e.g. 30s"
  )
)

// -----------------------------------------------------------------------------
// Mapping failures
// -----------------------------------------------------------------------------

/**
 * What is known about the call that failed.
 *
 * @since 0.1.0
 * @category errors
 */
export interface CallInfo {
  readonly provider: string
  readonly model: string
  /** The base URL as messages show it: credentials redacted (`BaseUrl.endpoint(...).shown`, `Redaction.redactUrl`). */
  readonly baseUrl: string
  /** The key, only to scrub it out of provider messages. */
  readonly apiKey?: string | undefined
}

const MAX_PROVIDER_TEXT = 300

// The most of a provider's text that is scrubbed: only its first 300 characters are quoted, and
// a body can be megabytes (scrubbing all of it was wasted work on the call path).
const MAX_SCRUBBED_TEXT = 64 * 1024

const isSpaceCode = (code: number): boolean => code === 32 || (code >= 9 && code <= 13)

// The head of a long text, cut at its last whitespace so that no secret is cut in two (a key
// never holds whitespace): a cut secret might no longer look like one.
const headOf = (text: string): string => {
  if (text.length <= MAX_SCRUBBED_TEXT) return text
  for (let index = MAX_SCRUBBED_TEXT; index > 0; index--) {
    if (isSpaceCode(text.charCodeAt(index))) return text.slice(0, index)
  }
  return text.slice(0, MAX_SCRUBBED_TEXT)
}

/**
 * Makes a provider's text fit for an error message: secrets removed (the given key, anything
 * key-shaped, bearer tokens: `Redaction.scrubText`), whitespace folded, cut at 300 characters.
 * Only the first 64 KiB of a longer text are read.
 *
 * @since 0.1.0
 * @category errors
 * @example
 * ProviderKit.scrub("Incorrect API key provided: sk-proj-****1234") // "Incorrect API key provided: <redacted>"
 */
export const scrub = (text: string, apiKey?: string): string => {
  const head = headOf(text)
  const out = Redaction.scrubText(head, apiKey === undefined ? undefined : [apiKey]).replace(/\s+/g, " ").trim()
  return out.length > MAX_PROVIDER_TEXT || head.length < text.length ? `${out.slice(0, MAX_PROVIDER_TEXT)}...` : out
}

/**
 * One row of a status table: the reason for a status, from what the provider knows (its
 * parsed error body, the scrubbed message, the retry hint...).
 *
 * @since 0.1.0
 * @category errors
 */
export type StatusRow<Context> = (context: Context) => LlmError.LlmErrorReason

/**
 * A status table: rows for exact statuses, `"4xx"` (400 to 499) and `"5xx"` (500 and above)
 * for the rest of each family, and `orElse` for anything else.
 *
 * @since 0.1.0
 * @category errors
 */
export type StatusRows<Context> = {
  readonly [status: number]: StatusRow<Context>
  readonly "4xx"?: StatusRow<Context> | undefined
  readonly "5xx"?: StatusRow<Context> | undefined
  readonly orElse: StatusRow<Context>
}

/**
 * Builds a provider's status -> reason mapping from a table: an exact row wins, then the
 * family row, then `orElse`.
 *
 * @since 0.1.0
 * @category errors
 * @example
 * const reasonOf = ProviderKit.statusTable<{ said: string }>({
 *   401: ({ said }) => new LlmError.Authentication({ description: `the key was refused${said}` }),
 *   429: ({ said }) => new LlmError.RateLimited({ description: `rate limited${said}` }),
 *   "5xx": ({ said }) => new LlmError.ServerError({ description: `the provider failed${said}`, status: 500 }),
 *   orElse: ({ said }) => new LlmError.InvalidRequest({ description: `rejected${said}` })
 * })
 */
export const statusTable = <Context>(rows: StatusRows<Context>) =>
(status: number, context: Context): LlmError.LlmErrorReason => {
  const row = rows[status] ?? (status >= 500 ? rows["5xx"] : status >= 400 ? rows["4xx"] : undefined) ?? rows.orElse
  return row(context)
}

/**
 * A `Timeout` reason for one attempt (retryable): the provider's own timeout (`elapsedMs` 0
 * when unknown) or ours.
 *
 * @since 0.1.0
 * @category errors
 */
export const timeoutReason = (description: string, elapsedMs = 0): LlmError.Timeout =>
  new LlmError.Timeout({ description, scope: "attempt", attempts: 1, elapsedMs })

/**
 * The headers a retry hint is read from: a plain record (lower-case names) or a fetch `Headers`.
 *
 * @since 0.1.0
 * @category errors
 */
export type HeaderSource =
  | Readonly<Record<string, string | undefined>>
  | { readonly get: (name: string) => string | null }

const hasGet = (headers: HeaderSource): headers is { readonly get: (name: string) => string | null } =>
  typeof headers.get === "function"

const header = (headers: HeaderSource, name: string): string | undefined => {
  if (hasGet(headers)) return headers.get(name) ?? undefined
  const value = headers[name]
  return typeof value === "string" ? value : undefined
}

/**
 * The provider's retry hint in milliseconds: `retry-after-ms`, then `retry-after` (seconds, or
 * an HTTP date read against `nowMs`, the current time from `Clock`).
 *
 * @since 0.1.0
 * @category errors
 */
export const retryAfterMs = (headers: HeaderSource, nowMs: number): number | undefined => {
  const ms = header(headers, "retry-after-ms")
  if (ms !== undefined && ms.trim() !== "" && Number.isFinite(Number(ms)) && Number(ms) >= 0) {
    return Math.round(Number(ms))
  }
  const after = header(headers, "retry-after")
  if (after !== undefined && after.trim() !== "") {
    const seconds = Number(after)
    if (Number.isFinite(seconds) && seconds >= 0) return Math.round(seconds * 1000)
    // An HTTP date names its day and month; a bare number that is not a delay (`-1`) is not one.
    const date = /[a-z]/i.test(after) ? Date.parse(after) : Number.NaN
    if (!Number.isNaN(date)) return Math.max(0, date - nowMs)
  }
  return undefined
}

/**
 * The first error code (`ECONNREFUSED`, `UND_ERR_SOCKET`...) found on an error or its causes.
 *
 * @since 0.1.0
 * @category errors
 */
export const errorCode = (error: unknown): string | undefined => {
  let current: unknown = error
  for (let depth = 0; depth < 6 && typeof current === "object" && current !== null; depth++) {
    const code = (current as { code?: unknown }).code
    if (typeof code === "string") return code
    const errors = (current as { errors?: unknown }).errors
    if (Array.isArray(errors) && errors.length > 0) {
      const inner = errorCode(errors[0])
      if (inner !== undefined) return inner
    }
    current = (current as { cause?: unknown }).cause
  }
  return undefined
}

const NETWORK_CODES: ReadonlySet<string> = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "UND_ERR_SOCKET",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_CLOSED"
])

const TIMEOUT_CODES: ReadonlySet<string> = new Set(["UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT"])

// Failures before a connection existed: the request cannot have reached the provider.
const NOT_SENT_CODES: ReadonlySet<string> = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "UND_ERR_CONNECT_TIMEOUT"
])

/**
 * Whether an error code is a failed connection (refused, reset, DNS...) or a socket timeout:
 * a failure of the network, not of the response.
 *
 * @since 0.1.0
 * @category errors
 */
export const isConnectionCode = (code: string | undefined): boolean =>
  code !== undefined && (NETWORK_CODES.has(code) || TIMEOUT_CODES.has(code))

/**
 * A failure before any response: `Timeout` for the socket's header or body timeout, else
 * `Network`, saying what to check (both retryable). A failure before a connection existed
 * (refused, DNS, unreachable, connect timeout) is marked `sent: false`: the budget releases
 * such an attempt instead of charging it as abandoned.
 *
 * @since 0.1.0
 * @category errors
 */
export const connectionFailure = (call: CallInfo, code: string | undefined): LlmError.LlmError => {
  const extra = { model: call.model, ...(code !== undefined && NOT_SENT_CODES.has(code) ? { sent: false } : {}) }
  if (code !== undefined && TIMEOUT_CODES.has(code)) {
    return LlmError.make(call.provider, timeoutReason(`the connection to ${call.baseUrl} timed out (${code})`), extra)
  }
  const what = code === "ECONNREFUSED"
    ? `nothing is listening at ${call.baseUrl} (connection refused); check the base URL or start the server`
    : code === "ENOTFOUND" || code === "EAI_AGAIN"
    ? `the host of ${call.baseUrl} could not be resolved (${code}); check the base URL and the network`
    : `the connection to ${call.baseUrl} failed${code !== undefined ? ` (${code})` : ""}`
  return LlmError.make(call.provider, new LlmError.Network({ description: what }), extra)
}

/**
 * Our own per-attempt timeout ran out before the provider answered (retryable).
 *
 * @since 0.1.0
 * @category errors
 */
export const attemptTimeout = (call: CallInfo, elapsedMs: number): LlmError.LlmError =>
  LlmError.make(
    call.provider,
    timeoutReason(
      `no response from ${call.baseUrl} within ${elapsedMs}ms; raise the provider timeout or use a faster model`,
      elapsedMs
    ),
    { model: call.model }
  )

/**
 * A response we cannot use (not JSON, or not the expected shape).
 *
 * @since 0.1.0
 * @category errors
 */
export const malformed = (call: CallInfo, detail: string, requestId?: string | undefined): LlmError.LlmError =>
  LlmError.make(
    call.provider,
    new LlmError.ResponseMalformed({ description: `unreadable response from ${call.baseUrl}: ${detail}` }),
    { model: call.model, requestId }
  )

/**
 * The model answered, but the content was filtered and nothing usable came back.
 *
 * @since 0.1.0
 * @category errors
 */
export const contentFiltered = (call: CallInfo, detail: string, requestId?: string | undefined): LlmError.LlmError =>
  LlmError.make(call.provider, new LlmError.ContentFiltered({ description: detail }), { model: call.model, requestId })

// -----------------------------------------------------------------------------
// Reading provider JSON leniently
// -----------------------------------------------------------------------------

const Rest = [Schema.Record(Schema.String, Schema.Unknown)] as const

/**
 * A field a provider may leave out or send as `null`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const optionalNullable = <S extends Schema.Top>(schema: S) => Schema.optionalKey(Schema.NullOr(schema))

/**
 * A struct that requires only the given fields and keeps every other field the provider sends
 * (a provider's extras survive decoding).
 *
 * @since 0.1.0
 * @category schemas
 * @example
 * const Usage = ProviderKit.lenientStruct({ prompt_tokens: ProviderKit.optionalNullable(Schema.Number) })
 */
export const lenientStruct = <const Fields extends Schema.Struct.Fields>(fields: Fields) =>
  Schema.StructWithRest(Schema.Struct(fields), Rest)

// -----------------------------------------------------------------------------
// Bounding what is read
// -----------------------------------------------------------------------------

/**
 * The most bytes of one response a provider reads unless `maxResponseBytes` says otherwise:
 * 32 MiB, far above any chat answer, far below what would exhaust memory.
 *
 * @since 0.1.0
 * @category limits
 */
export const DEFAULT_MAX_RESPONSE_BYTES = 32 * 1024 * 1024

/**
 * The `maxResponseBytes` provider option: the most bytes of one response read, a whole number
 * above zero (default {@link DEFAULT_MAX_RESPONSE_BYTES}).
 *
 * @since 0.1.0
 * @category limits
 */
export const MaxResponseBytes = Schema.Int.check(Schema.isGreaterThan(0)).annotate({
  description: `The most bytes of one response read (default ${DEFAULT_MAX_RESPONSE_BYTES}, 32 MiB); a larger one fails with ResponseMalformed.`,
  examples: [67_108_864]
})

/**
 * A response larger than the cap: `ResponseMalformed` (not retryable: the same request would get
 * the same answer), naming the cap and the option that raises it.
 *
 * @since 0.1.0
 * @category limits
 */
export const responseTooLarge: (
  call: ResponseLimit.Call,
  maxBytes: number,
  options?: { readonly what?: string | undefined; readonly requestId?: string | undefined }
) => LlmError.LlmError = ResponseLimit.responseTooLarge

/**
 * Reads an HTTP response's body as text, at most `maxBytes` of it. A body that declares a
 * length within the cap is read as is (the transport stops at that length); any other is read
 * chunk by chunk and, as soon as it passes the cap, the read fails with
 * {@link responseTooLarge} and the connection is closed, so a huge body is never held whole.
 *
 * @since 0.1.0
 * @category limits
 */
export const readText: (
  response: HttpClientResponse.HttpClientResponse,
  call: ResponseLimit.Call,
  maxBytes: number
) => Effect.Effect<string, LlmError.LlmError | HttpClientError.HttpClientError> = ResponseLimit.readText

/**
 * Caps the body of a fetch `Response` (for SDKs that take a `fetch`): a body that declares a
 * length over `maxBytes` is cancelled at once, any other fails its reader as soon as it passes
 * the cap; either way `onTooLarge` is called first, so the caller can tell this failure from the
 * SDK's own and raise {@link responseTooLarge}.
 *
 * @since 0.1.0
 * @category limits
 */
export const limitFetchResponse: (response: Response, maxBytes: number, onTooLarge: () => void) => Response =
  ResponseLimit.limitFetchResponse
