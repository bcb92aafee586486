/**
 * The Claude Code provider: each call runs the `claude` CLI once, as a plain model.
 *
 * `claude -p` is started with `effect/process` (no shell), in a fresh temporary working
 * directory that is removed afterwards, with no tools, no MCP servers, one turn and no saved
 * session (see `internal/invocation.ts` for the exact arguments). The prompt is written to its
 * stdin (never the caller's stdin); the system prompt goes through a file. Its result becomes an
 * `LlmResponse`: the text, the usage (cache reads and writes counted in `inputTokens`), and the
 * cost the CLI reports, kept as `cost: { usd, source: "provider" }`.
 *
 * Both paths are native. `generate` runs `--output-format json` and reads the one JSON result
 * the CLI prints at the end. `stream` runs `--output-format stream-json --verbose
 * --include-partial-messages` and reads its JSON Lines as they come (`internal/StreamReader.ts`):
 * each text delta of the model's answer (a `stream_event` line) goes out as a `text-delta` part at
 * once; the usage and the cost come from the final `result` line (never from the `assistant`
 * lines, which repeat the same usage); an error result fails the stream as it fails `generate`.
 * The finish part holds the same response `generate` would build from that result; should the
 * CLI's answer not continue the text already streamed (it lost its API stream and asked again
 * without streaming), the stream fails with `Network` instead of showing text twice.
 *
 * Claude Code runs its own API calls, so a USD budget cannot be enforced by counting tokens:
 * the remaining budget of the call (`CallContext.RemainingBudget`) is handed to the CLI as
 * `--max-budget-usd`. Parameters it has no flag for (temperature, topP, stop, maxTokens) are
 * named in a warning log line and in the response's `warnings`.
 *
 * Interrupting the call (for a stream, ending or interrupting its consumer), or its timeout
 * (which bounds the whole run, streamed or not), kills the CLI and every process it started (its
 * process group). The run is over when the CLI exits: its output pipes get a short grace
 * ({@link PIPE_GRACE}) to drain, not an unbounded wait for end-of-file, so a descendant that
 * keeps them open (and is then stopped with the group) cannot hold a finished call. At most
 * `maxResponseBytes` of output are read (default 32 MiB; on a stream this bounds every line
 * too); past it the CLI is stopped and the call fails with `ResponseMalformed` naming the cap.
 * The CLI's own retries are turned off (`CLAUDE_CODE_MAX_RETRIES=0`): retries belong to the
 * resilience layer. Failures are mapped in `internal/errors.ts`.
 *
 * @since 0.1.0
 */
import { Array as Arr, Clock, Duration, Effect, Fiber, FileSystem, Layer, Option, Path, Redacted, Result, Schema, Stream } from "effect"
import { ChildProcessSpawner } from "effect/process"
import * as CallContext from "../../CallContext.ts"
import * as LanguageModel from "../../LanguageModel.ts"
import type * as LlmError from "../../LlmError.ts"
import type { LlmRequest } from "../../LlmRequest.ts"
import type { LlmResponse } from "../../LlmResponse.ts"
import type { Provider } from "../../ProviderRegistry.ts"
import * as StreamPart from "../../StreamPart.ts"
import * as TextOnly from "../internal/content.ts"
import * as ProviderKit from "../ProviderKit.ts"
import * as Binary from "./internal/binary.ts"
import * as ClaudeCodeSchema from "./internal/ClaudeCodeSchema.ts"
import * as Errors from "./internal/errors.ts"
import * as Invocation from "./internal/invocation.ts"
import * as Mapping from "./internal/mapping.ts"
import * as Output from "./internal/output.ts"
import * as Run from "./internal/run.ts"
import * as StreamReader from "./internal/StreamReader.ts"

/**
 * The provider's registered name.
 *
 * @since 0.1.0
 * @category constants
 */
export const PROVIDER = Errors.PROVIDER

/**
 * The default model: Claude Code's alias for the latest Sonnet.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_MODEL = "sonnet"

/**
 * The environment variable naming the `claude` binary.
 *
 * @since 0.1.0
 * @category constants
 */
export const PATH_ENV: typeof Binary.PATH_ENV = Binary.PATH_ENV

/**
 * How to install the CLI (or point to it), as errors and `llm-connect providers` say it.
 *
 * @since 0.1.0
 * @category constants
 */
export const INSTALL_HINT: string = Errors.INSTALL_HINT

/**
 * How long one run may take before it is stopped, unless `timeout` says otherwise.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_TIMEOUT: Duration.Duration = Duration.minutes(10)

/**
 * How long the output pipes may stay open once the CLI has exited: what it wrote before exiting
 * is read in that time; a descendant holding the pipes open is not waited for.
 *
 * @since 0.1.0
 * @category constants
 */
export const PIPE_GRACE: Duration.Duration = Duration.seconds(1)

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The `claude` binary: a path, or a name looked up on PATH. Default: `$CLAUDE_CODE_PATH`, else `claude`. */
  readonly binaryPath?: string | undefined
  /** The model when a request names none (an alias such as `sonnet`, or a full model name). */
  readonly model?: string | undefined
  /** Given to the CLI as `ANTHROPIC_BASE_URL`. */
  readonly baseUrl?: string | undefined
  /** Given to the CLI as `ANTHROPIC_API_KEY`; without it the CLI uses its own login or the inherited variable. */
  readonly apiKey?: Redacted.Redacted<string> | undefined
  /** Extra environment for the CLI (it inherits the rest of ours, without other providers' keys). */
  readonly env?: Readonly<Record<string, string>> | undefined
  /** How long one run may take (default 10 minutes). */
  readonly timeout?: Duration.Input | undefined
  /** The most bytes of output read from one run (default `ProviderKit.DEFAULT_MAX_RESPONSE_BYTES`, 32 MiB). */
  readonly maxResponseBytes?: number | undefined
}

/**
 * What the provider needs from the platform: a process spawner and a file system.
 *
 * @since 0.1.0
 * @category models
 */
export type Services = ChildProcessSpawner.ChildProcessSpawner | FileSystem.FileSystem | Path.Path

/** Removed from the CLI's environment (it inherits the rest of ours). */
const OTHER_PROVIDER_KEYS: ReadonlyArray<string> = [
  "OPENAI_API_KEY",
  "OPENROUTER_API_KEY",
  "OPENAI_COMPATIBLE_API_KEY",
  "GEMINI_API_KEY",
  "GOOGLE_API_KEY"
]

/**
 * Turns a successful result into an `LlmResponse`. Usage is normalised once here:
 * `inputTokens` = `input_tokens` + cache reads + cache writes, `cachedInputTokens` = cache reads;
 * a result without usage is counted with the tokenizer and marked `estimated`.
 *
 * @since 0.1.0
 * @category mapping
 */
export const toResponse: (options: {
  readonly request: LlmRequest
  readonly model: string
  readonly result: ClaudeCodeSchema.ClaudeCodeResult
  readonly latencyMs: number
  readonly warnings: ReadonlyArray<string>
}) => LlmResponse = Mapping.toResponse

/**
 * Where the `claude` binary was looked for, and whether an executable file is there.
 *
 * @since 0.1.0
 * @category models
 */
export type BinaryLookup = Binary.BinaryLookup

/**
 * Looks for the `claude` binary as a call would run it (`binaryPath`, else `$CLAUDE_CODE_PATH`,
 * else `claude` on `PATH`), without running it: an executable file at that path, or in one of
 * `PATH`'s directories. `llm-connect providers` reports it.
 *
 * @since 0.1.0
 * @category accessors
 */
export const findBinary: (
  options?: { readonly binaryPath?: string | undefined }
) => Effect.Effect<BinaryLookup, never, FileSystem.FileSystem | Path.Path> = Binary.findBinary

/**
 * Builds a Claude Code model. The binary is `binaryPath`, else `$CLAUDE_CODE_PATH`, else
 * `claude` on PATH; a missing binary fails the first call with a Configuration error saying how
 * to install it.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}): Effect.Effect<LanguageModel.Service, never, Services> =>
  Effect.gen(function*() {
    const spawner = yield* ChildProcessSpawner.ChildProcessSpawner
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const binary = (yield* Binary.binaryName(options.binaryPath)).name
    const defaultModel = options.model ?? DEFAULT_MODEL
    const timeout = Duration.fromInputUnsafe(options.timeout ?? DEFAULT_TIMEOUT)
    const timeoutMs = Duration.toMillis(timeout)
    const maxResponseBytes = options.maxResponseBytes ?? ProviderKit.DEFAULT_MAX_RESPONSE_BYTES
    const apiKey = options.apiKey
    const context: Run.Context = {
      spawner,
      fs,
      path,
      binary,
      env: {
        // Other providers' keys are none of the CLI's business.
        ...Object.fromEntries(OTHER_PROVIDER_KEYS.map((name) => [name, undefined])),
        DISABLE_AUTOUPDATER: "1",
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
        CLAUDE_CODE_MAX_RETRIES: "0",
        ...(options.baseUrl !== undefined ? { ANTHROPIC_BASE_URL: options.baseUrl } : {}),
        ...(apiKey !== undefined ? { ANTHROPIC_API_KEY: apiKey } : {}),
        ...options.env
      }
    }

    /** What both paths check before starting the CLI: the call, the budget handed to it, the prompt. */
    const prepare = Effect.fnUntraced(function*(request: LlmRequest) {
      const model = request.model ?? defaultModel
      const call: Errors.CallInfo = { model, ...(apiKey !== undefined ? { apiKey: Redacted.value(apiKey) } : {}) }
      const fail = (failure: Errors.Failure) => Effect.fail(Errors.toLlmError(failure, call))
      yield* Effect.annotateCurrentSpan({ "llm.provider": PROVIDER, "llm.model": model })
      // Claude Code runs as a plain model (ADR 0008): tools and structured output are refused first.
      const noTools = TextOnly.noTools(PROVIDER, request, model) ?? TextOnly.noResponseFormat(PROVIDER, request, model)
      if (noTools !== undefined) return yield* Effect.fail(noTools)
      const warnings = Invocation.unsupportedParameters(request)
      if (warnings.length > 0) {
        yield* Effect.logWarning(`claude-code ignores parameters it cannot honour`, { warnings })
      }
      const remaining = (yield* CallContext.RemainingBudget)?.costUsd
      const maxBudgetUsd = remaining !== undefined ? Invocation.formatBudgetUsd(remaining) : undefined
      if (remaining !== undefined && maxBudgetUsd === undefined) {
        return yield* fail({ _tag: "NoBudgetLeft", remainingUsd: remaining })
      }
      const unsupported = TextOnly.nonText(PROVIDER, request, model)
      if (unsupported !== undefined) return yield* Effect.fail(unsupported)
      const rendered = Invocation.renderPrompt(request)
      if (rendered.prompt.trim() === "") return yield* fail({ _tag: "EmptyPrompt" })
      return { model, call, fail, warnings, remaining, maxBudgetUsd, rendered }
    })

    /** One run, in its own scope: the working directory and the process end with it. */
    const run = (model: string, rendered: Invocation.RenderedPrompt, maxBudgetUsd: string | undefined) =>
      Effect.gen(function*() {
        const started = yield* Run.start(context, { model, rendered, maxBudgetUsd, stream: false })
        const stdout = Output.collected()
        const tooMuch = Effect.fail<Errors.Failure>({ _tag: "OutputTooLarge", maxBytes: maxResponseBytes })
        const reading = yield* Effect.forkScoped(Effect.all([
          Output.collect(started.handle.stdout, stdout, maxResponseBytes, tooMuch),
          Fiber.join(started.stderrRead)
        ], { concurrency: 2, discard: true }))
        // The run ends when the process exits (or its output passes the cap), not when its pipes
        // close: a process it left behind may hold them open. They get a short grace to drain.
        const exit = yield* Effect.raceFirst(started.exit, Effect.andThen(Fiber.join(reading), Effect.never))
        yield* Effect.timeoutOption(Fiber.join(reading), PIPE_GRACE)
        return { stdout: Output.textOf(stdout), stderr: Output.textOf(started.stderr), exit }
      }).pipe(Effect.scoped)

    const generate = Effect.fn("ClaudeCodeLanguageModel.generate")(function*(request: LlmRequest) {
      const started = yield* Clock.currentTimeMillis
      const { fail, maxBudgetUsd, model, remaining, rendered, warnings } = yield* prepare(request)
      const outcome = yield* run(model, rendered, maxBudgetUsd).pipe(
        Effect.timeoutOption(timeout),
        Effect.catch((failure: Errors.Failure) => fail(failure))
      )
      const finished = yield* Clock.currentTimeMillis
      if (Option.isNone(outcome)) {
        return yield* fail({ _tag: "TimedOut", timeoutMs, elapsedMs: finished - started })
      }
      const { exit, stderr, stdout } = outcome.value
      const status = Run.exitStatus(exit)
      const parsed = ClaudeCodeSchema.parseOutput(stdout)
      if (Result.isFailure(parsed)) {
        return yield* fail({ _tag: "NoResult", ...status, stderr, printed: stdout.trim() !== "", detail: parsed.failure })
      }
      const result = parsed.success
      if (Mapping.failed(result, status.exitCode)) return yield* fail({ _tag: "ResultError", result, maxBudgetUsd: remaining })
      return toResponse({ request, model, result, latencyMs: finished - started, warnings })
    })

    const stream = (request: LlmRequest): Stream.Stream<StreamPart.StreamPart, LlmError.LlmError> =>
      Stream.unwrap(Effect.gen(function*() {
        const startedMs = yield* Clock.currentTimeMillis
        const { fail, maxBudgetUsd, model, remaining, rendered, warnings } = yield* prepare(request)
        const started = yield* Run.start(context, { model, rendered, maxBudgetUsd, stream: true }).pipe(
          Effect.catch((failure: Errors.Failure) => fail(failure))
        )
        // As for generate, the run ends when the CLI exits: its stdout gets a short grace to
        // drain, not an unbounded wait for a descendant to close it.
        const stdout = started.handle.stdout.pipe(Stream.interruptWhen(Effect.andThen(started.exit, Effect.sleep(PIPE_GRACE))))
        const complete = (
          reader: StreamReader.Reader,
          rest: Effect.Effect<void>
        ): Effect.Effect<Arr.NonEmptyReadonlyArray<StreamPart.StreamPart>, LlmError.LlmError> =>
          Effect.gen(function*() {
            // The exit status, stdout still read meanwhile (and no longer once the CLI exited).
            const status = Run.exitStatus(yield* Effect.raceFirst(started.exit, Effect.andThen(rest, started.exit)))
            const finished = yield* Clock.currentTimeMillis
            const read = reader.result()
            if (read === undefined || Result.isFailure(read)) {
              yield* Effect.timeoutOption(Fiber.join(started.stderrRead), PIPE_GRACE)
              return yield* fail({
                _tag: "NoResult",
                ...status,
                stderr: Output.textOf(started.stderr),
                printed: read !== undefined || reader.unreadable() > 0,
                detail: read !== undefined
                  ? read.failure
                  : reader.unreadable() > 0
                  ? `the claude CLI printed ${reader.unreadable()} lines that are not JSON and no result`
                  : "the claude CLI printed no result"
              })
            }
            const result = read.success
            if (Mapping.failed(result, status.exitCode)) return yield* fail({ _tag: "ResultError", result, maxBudgetUsd: remaining })
            const response = toResponse({ request, model, result, latencyMs: finished - startedMs, warnings })
            // The answer must continue what was sent: the rest (if the CLI printed fewer deltas
            // than its answer) goes out before the finish part.
            const streamed = reader.streamed()
            if (!response.content.startsWith(streamed)) {
              return yield* fail({ _tag: "StreamRestarted", result, streamedChars: streamed.length })
            }
            const finish = StreamPart.finish(response)
            return response.content.length > streamed.length
              ? Arr.make(StreamPart.textDelta(response.content.slice(streamed.length)), finish)
              : Arr.of<StreamPart.StreamPart>(finish)
          })
        return StreamReader.parts(stdout, maxResponseBytes, complete, fail)
      })).pipe(
        // The whole run is bounded by the timeout, as for generate.
        Stream.interruptWhen(Effect.gen(function*() {
          const startedMs = yield* Clock.currentTimeMillis
          yield* Effect.sleep(timeout)
          const elapsedMs = (yield* Clock.currentTimeMillis) - startedMs
          const model = request.model ?? defaultModel
          return yield* Effect.fail(Errors.toLlmError({ _tag: "TimedOut", timeoutMs, elapsedMs }, { model }))
        })),
        Stream.withSpan("ClaudeCodeLanguageModel.stream")
      )

    return LanguageModel.make({ provider: PROVIDER, defaultModel, generate, stream })
  })

/**
 * A Layer providing a Claude Code `LanguageModel`.
 *
 * @since 0.1.0
 * @category layers
 * @example
 * program.pipe(Effect.provide(ClaudeCodeLanguageModel.layer({ model: "haiku" })), Effect.provide(NodeServices.layer))
 */
export const layer = (options: Options = {}): Layer.Layer<LanguageModel.LanguageModel, never, Services> =>
  Layer.effect(LanguageModel.LanguageModel, make(options))

/**
 * `providers.claude-code.options`: `binaryPath` (the `claude` binary), `timeout` (one run, `30s`,
 * `5m` or milliseconds; default 10 minutes), `env` (extra environment variables for the CLI) and
 * `maxResponseBytes` (the most output read from one run; default 32 MiB).
 *
 * @since 0.1.0
 * @category options
 */
export const ProviderOptions = Schema.Struct({
  binaryPath: Schema.optionalKey(
    Schema.String.check(Schema.isPattern(/\S/, { message: "expected the path of the claude binary, not a blank" }))
      .annotate({ examples: ["/usr/local/bin/claude"] })
  ).annotate({ description: "The claude binary (default: $CLAUDE_CODE_PATH, else claude on PATH)." }),
  timeout: Schema.optionalKey(
    ProviderKit.Timeout.pipe(Schema.annotateEncoded({ description: "How long one run may take (default 10m)." }))
  ),
  env: Schema.optionalKey(
    Schema.Record(Schema.String, Schema.String).annotate({ examples: [{ CLAUDE_CONFIG_DIR: "/srv/claude" }] })
  ).annotate({ description: "Extra environment variables for the CLI." }),
  maxResponseBytes: Schema.optionalKey(ProviderKit.MaxResponseBytes)
})

/**
 * The decoded {@link ProviderOptions}.
 *
 * @since 0.1.0
 * @category options
 */
export type ProviderOptions = typeof ProviderOptions.Type

/**
 * Claude Code as a registry {@link Provider} (`ProviderKit.define`), capturing the process
 * spawner and file system of the context. Settings: `model`, `baseUrl` (as
 * `ANTHROPIC_BASE_URL`), `apiKey` (as `ANTHROPIC_API_KEY`, optional: the CLI's own login works
 * too), and {@link ProviderOptions}.
 *
 * @since 0.1.0
 * @category providers
 */
export const provider: Effect.Effect<Provider, never, Services> = ProviderKit.define({
  name: PROVIDER,
  description: "Claude Code CLI run as a plain model (uses its own login or ANTHROPIC_API_KEY)",
  defaultModel: DEFAULT_MODEL,
  models: ["sonnet", "opus", "haiku"],
  closedModelList: false,
  keyEnv: ["ANTHROPIC_API_KEY"],
  requiresKey: false,
  options: ProviderOptions,
  services: [ChildProcessSpawner.ChildProcessSpawner],
  make: ({ apiKey, config, options }) =>
    make({
      ...options,
      ...(config.model !== undefined ? { model: config.model } : {}),
      ...(config.baseUrl !== undefined ? { baseUrl: config.baseUrl } : {}),
      ...(apiKey !== undefined ? { apiKey } : {})
    })
})
