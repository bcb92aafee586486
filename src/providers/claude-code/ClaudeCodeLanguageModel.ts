/**
 * The Claude Code provider: each call runs the `claude` CLI once, as a plain model.
 *
 * `claude -p --output-format json` is started with `effect/process` (no shell), in a fresh
 * temporary working directory that is removed afterwards, with no tools, no MCP servers, one
 * turn and no saved session (see `internal/invocation.ts` for the exact arguments). The prompt
 * is written to its stdin (never the caller's stdin); the system prompt goes through a file.
 * Its JSON result becomes an `LlmResponse`: the text, the usage (cache reads and writes counted
 * in `inputTokens`), and the cost the CLI reports, kept as `cost: { usd, source: "provider" }`.
 *
 * Claude Code runs its own API calls, so a USD budget cannot be enforced by counting tokens:
 * the remaining budget of the call (`CallContext.RemainingBudget`) is handed to the CLI as
 * `--max-budget-usd`. Parameters it has no flag for (temperature, topP, stop, maxTokens) are
 * named in a warning log line and in the response's `warnings`.
 *
 * Interrupting the call, or its timeout, kills the CLI and every process it started (its
 * process group). The run is over when the CLI exits: its output pipes get a short grace
 * ({@link PIPE_GRACE}) to drain, not an unbounded wait for end-of-file, so a descendant that
 * keeps them open (and is then stopped with the group) cannot hold a finished call. At most
 * `maxResponseBytes` of output are read (default 32 MiB); past it the CLI is stopped and the
 * call fails with `ResponseMalformed` naming the cap. The CLI's own retries are turned off
 * (`CLAUDE_CODE_MAX_RETRIES=0`): retries belong to the resilience layer. Failures are mapped in
 * `internal/errors.ts`.
 *
 * @since 0.1.0
 */
import { Clock, Duration, Effect, Fiber, FileSystem, Layer, Option, Path, Redacted, Result, Schema, Stream } from "effect"
import { ChildProcess, ChildProcessSpawner } from "effect/process"
import * as CallContext from "../../CallContext.ts"
import * as LanguageModel from "../../LanguageModel.ts"
import type { LlmRequest } from "../../LlmRequest.ts"
import type { FinishReason, LlmResponse } from "../../LlmResponse.ts"
import type { Provider } from "../../ProviderRegistry.ts"
import * as Tokenizer from "../../Tokenizer.ts"
import * as Usage from "../../Usage.ts"
import * as TextOnly from "../internal/content.ts"
import * as ProviderKit from "../ProviderKit.ts"
import * as Binary from "./internal/binary.ts"
import * as ClaudeCodeSchema from "./internal/ClaudeCodeSchema.ts"
import * as Errors from "./internal/errors.ts"
import * as Invocation from "./internal/invocation.ts"
import * as Output from "./internal/output.ts"

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

// Only the start of stderr is quoted in errors (300 characters): the rest is read and dropped.
const MAX_STDERR_BYTES = 64 * 1024

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

const FINISH_REASONS: Readonly<Record<string, FinishReason>> = {
  end_turn: "stop",
  stop_sequence: "stop",
  max_tokens: "length",
  model_context_window_exceeded: "length",
  refusal: "content-filter",
  tool_use: "tool-calls",
  pause_turn: "other"
}

/** The model that did the work: the one with the most output in `modelUsage`. */
const servedModel = (result: ClaudeCodeSchema.ClaudeCodeResult): string | undefined => {
  let best: { readonly name: string; readonly output: number } | undefined
  for (const [name, entry] of Object.entries(result.modelUsage ?? {})) {
    const output = typeof entry === "object" && entry !== null &&
        typeof (entry as { outputTokens?: unknown }).outputTokens === "number"
      ? (entry as { outputTokens: number }).outputTokens
      : 0
    if (best === undefined || output > best.output) best = { name, output }
  }
  return best?.name
}

/**
 * Turns a successful JSON result into an `LlmResponse`. Usage is normalised once here:
 * `inputTokens` = `input_tokens` + cache reads + cache writes, `cachedInputTokens` = cache reads;
 * a result without usage is counted with the tokenizer and marked `estimated`.
 *
 * @since 0.1.0
 * @category mapping
 */
export const toResponse = (options: {
  readonly request: LlmRequest
  readonly model: string
  readonly result: ClaudeCodeSchema.ClaudeCodeResult
  readonly latencyMs: number
  readonly warnings: ReadonlyArray<string>
}): LlmResponse => {
  const { result } = options
  const content = result.result ?? ""
  const usage = ClaudeCodeSchema.usageOf(result) ??
    Usage.make({
      inputTokens: Tokenizer.countRequest(options.request),
      outputTokens: Tokenizer.countText(content),
      estimated: true
    })
  const rawFinishReason = result.stop_reason ?? undefined
  const metadata: Record<string, unknown> = {
    ...(result.session_id != null ? { sessionId: result.session_id } : {}),
    ...(result.num_turns != null ? { numTurns: result.num_turns } : {}),
    ...(result.duration_api_ms != null ? { durationApiMs: result.duration_api_ms } : {})
  }
  return {
    content,
    model: servedModel(result) ?? options.model,
    provider: PROVIDER,
    usage,
    finishReason: rawFinishReason !== undefined ? FINISH_REASONS[rawFinishReason] ?? "other" : "stop",
    ...(rawFinishReason !== undefined ? { rawFinishReason } : {}),
    latencyMs: options.latencyMs,
    ...(result.session_id != null ? { requestId: result.session_id } : {}),
    ...(result.total_cost_usd != null ? { cost: { usd: result.total_cost_usd, source: "provider" as const } } : {}),
    ...(options.warnings.length > 0 ? { warnings: options.warnings } : {}),
    ...(Object.keys(metadata).length > 0 ? { metadata } : {})
  }
}

/** The errno-style code of a failed spawn. */
const spawnCode = (error: { readonly reason: { readonly _tag: string; readonly cause?: unknown } }): string => {
  const cause = error.reason.cause
  if (typeof cause === "object" && cause !== null && typeof (cause as { code?: unknown }).code === "string") {
    return (cause as { code: string }).code
  }
  return error.reason._tag === "NotFound" ? "ENOENT" : error.reason._tag === "PermissionDenied" ? "EACCES" : error.reason._tag
}

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
    const maxResponseBytes = options.maxResponseBytes ?? ProviderKit.DEFAULT_MAX_RESPONSE_BYTES
    const apiKey = options.apiKey
    const env: Record<string, string | Redacted.Redacted<string> | undefined> = {
      // Other providers' keys are none of the CLI's business.
      ...Object.fromEntries(OTHER_PROVIDER_KEYS.map((name) => [name, undefined])),
      DISABLE_AUTOUPDATER: "1",
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
      CLAUDE_CODE_MAX_RETRIES: "0",
      ...(options.baseUrl !== undefined ? { ANTHROPIC_BASE_URL: options.baseUrl } : {}),
      ...(apiKey !== undefined ? { ANTHROPIC_API_KEY: apiKey } : {}),
      ...options.env
    }

    /** One run, in its own scope: the working directory and the process end with it. */
    const run = (model: string, rendered: Invocation.RenderedPrompt, maxBudgetUsd: string | undefined) =>
      Effect.gen(function*() {
        const workspace = yield* fs.makeTempDirectoryScoped({ prefix: "llm-connect-claude-" }).pipe(
          Effect.tap((dir) => fs.writeFileString(path.join(dir, "system-prompt.txt"), rendered.system)),
          Effect.mapError((error): Errors.Failure => ({ _tag: "WorkspaceFailed", message: error.message }))
        )
        const args = Invocation.buildArgs({
          model,
          systemPromptFile: path.join(workspace, "system-prompt.txt"),
          maxBudgetUsd
        })
        const handle = yield* spawner.spawn(
          ChildProcess.make(binary, args, {
            cwd: workspace,
            env,
            extendEnv: true,
            stdin: Stream.make(rendered.prompt).pipe(Stream.encodeText),
            killSignal: "SIGTERM",
            forceKillAfter: "2 seconds"
          })
        ).pipe(
          Effect.mapError((error): Errors.Failure => ({
            _tag: "SpawnFailed",
            binary,
            code: spawnCode(error),
            message: error.message
          }))
        )
        yield* Effect.annotateCurrentSpan("claude_code.pid", handle.pid)
        const stdout = Output.collected()
        const stderr = Output.collected()
        const tooMuch = Effect.fail<Errors.Failure>({ _tag: "OutputTooLarge", maxBytes: maxResponseBytes })
        const reading = yield* Effect.forkScoped(Effect.all([
          Output.collect(handle.stdout, stdout, maxResponseBytes, tooMuch),
          Output.collect(handle.stderr, stderr, MAX_STDERR_BYTES, Effect.void)
        ], { concurrency: 2, discard: true }))
        // The run ends when the process exits (or its output passes the cap), not when its pipes
        // close: a process it left behind may hold them open. They get a short grace to drain.
        const exit = yield* Effect.raceFirst(
          Effect.result(handle.exitCode),
          Effect.andThen(Fiber.join(reading), Effect.never)
        )
        yield* Effect.timeoutOption(Fiber.join(reading), PIPE_GRACE)
        return { stdout: Output.textOf(stdout), stderr: Output.textOf(stderr), exit }
      }).pipe(Effect.scoped)

    const generate = Effect.fn("ClaudeCodeLanguageModel.generate")(function*(request: LlmRequest) {
      const started = yield* Clock.currentTimeMillis
      const model = request.model ?? defaultModel
      const call: Errors.CallInfo = { model, ...(apiKey !== undefined ? { apiKey: Redacted.value(apiKey) } : {}) }
      const fail = (failure: Errors.Failure) => Effect.fail(Errors.toLlmError(failure, call))
      yield* Effect.annotateCurrentSpan({ "llm.provider": PROVIDER, "llm.model": model })

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
      const outcome = yield* run(model, rendered, maxBudgetUsd).pipe(
        Effect.timeoutOption(timeout),
        Effect.catch((failure: Errors.Failure) => fail(failure))
      )
      const finished = yield* Clock.currentTimeMillis
      if (Option.isNone(outcome)) {
        return yield* fail({ _tag: "TimedOut", timeoutMs: Duration.toMillis(timeout), elapsedMs: finished - started })
      }
      const { exit, stderr, stdout } = outcome.value
      const exitCode = Result.isSuccess(exit) ? Number(exit.success) : undefined
      const signal = Result.isFailure(exit) ? /signal: '?(\w+)/.exec(exit.failure.message)?.[1] : undefined
      const abnormal = Result.isFailure(exit) && signal === undefined ? exit.failure.message : undefined
      const parsed = ClaudeCodeSchema.parseOutput(stdout)
      if (Result.isFailure(parsed)) {
        return yield* fail({
          _tag: "NoResult",
          exitCode,
          ...(signal !== undefined ? { signal } : {}),
          ...(abnormal !== undefined ? { abnormal } : {}),
          stderr,
          printed: stdout.trim() !== "",
          detail: parsed.failure
        })
      }
      const result = parsed.success
      if (result.is_error === true || (result.subtype != null && result.subtype !== "success") || exitCode !== 0) {
        return yield* fail({ _tag: "ResultError", result, maxBudgetUsd: remaining })
      }
      return toResponse({ request, model, result, latencyMs: finished - started, warnings })
    })

    return LanguageModel.make({ provider: PROVIDER, defaultModel, generate })
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
