/**
 * Starting one run of the `claude` CLI, for either path: a fresh temporary working directory
 * holding the system prompt, the process started there (no shell) with the prompt on its stdin,
 * and its stderr read in the background (the start of it is quoted in errors; the rest is
 * dropped, so the CLI never blocks on a full pipe). Everything lives in the caller's scope:
 * closing it stops the CLI and every process it started (its process group: SIGTERM, then
 * SIGKILL after 2 seconds) and removes the directory.
 *
 * @since 0.1.0
 * @internal
 */
import { Effect, type Fiber, type FileSystem, type Path, type PlatformError, type Redacted, Result, type Scope, Stream } from "effect"
import { ChildProcess, type ChildProcessSpawner } from "effect/process"
import type * as Errors from "./errors.ts"
import * as Invocation from "./invocation.ts"
import * as Output from "./output.ts"

// Only the start of stderr is quoted in errors (300 characters): the rest is read and dropped.
const MAX_STDERR_BYTES = 64 * 1024

/**
 * What a run needs from the provider: the platform, the binary and its environment.
 *
 * @since 0.1.0
 * @category models
 */
export interface Context {
  readonly spawner: ChildProcessSpawner.ChildProcessSpawner["Service"]
  readonly fs: FileSystem.FileSystem
  readonly path: Path.Path
  readonly binary: string
  readonly env: Readonly<Record<string, string | Redacted.Redacted<string> | undefined>>
}

/**
 * A started run.
 *
 * @since 0.1.0
 * @category models
 */
export interface Started {
  readonly handle: ChildProcessSpawner.ChildProcessHandle
  /** Its stderr so far (at most 64 KiB). */
  readonly stderr: Output.Collected
  /** The background read of stderr; it ends when the pipe closes. */
  readonly stderrRead: Fiber.Fiber<void>
  /** Waits for the exit: the code, or the failure (a signal) that ended it. */
  readonly exit: Effect.Effect<Result.Result<ChildProcessSpawner.ExitCode, PlatformError.PlatformError>>
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
 * Starts a run in the current scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const start = (
  context: Context,
  input: {
    readonly model: string
    readonly rendered: Invocation.RenderedPrompt
    readonly maxBudgetUsd: string | undefined
    readonly stream: boolean
  }
): Effect.Effect<Started, Errors.Failure, Scope.Scope> =>
  Effect.gen(function*() {
    const { binary, fs, path, spawner } = context
    const workspace = yield* fs.makeTempDirectoryScoped({ prefix: "llm-connect-claude-" }).pipe(
      Effect.tap((dir) => fs.writeFileString(path.join(dir, "system-prompt.txt"), input.rendered.system)),
      Effect.mapError((error): Errors.Failure => ({ _tag: "WorkspaceFailed", message: error.message }))
    )
    const args = Invocation.buildArgs({
      model: input.model,
      systemPromptFile: path.join(workspace, "system-prompt.txt"),
      maxBudgetUsd: input.maxBudgetUsd,
      stream: input.stream
    })
    const handle = yield* spawner.spawn(
      ChildProcess.make(binary, args, {
        cwd: workspace,
        env: context.env,
        extendEnv: true,
        stdin: Stream.make(input.rendered.prompt).pipe(Stream.encodeText),
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
    const stderr = Output.collected()
    const stderrRead = yield* Effect.forkScoped(Output.collect(handle.stderr, stderr, MAX_STDERR_BYTES, Effect.void))
    return { handle, stderr, stderrRead, exit: Effect.result(handle.exitCode) }
  })

/**
 * How a run ended, as errors report it: the exit code, or the signal that killed it, or why
 * neither is known (e.g. the prompt could not be written).
 *
 * @since 0.1.0
 * @category accessors
 */
export const exitStatus = (
  exit: Result.Result<ChildProcessSpawner.ExitCode, PlatformError.PlatformError>
): { readonly exitCode: number | undefined; readonly signal?: string; readonly abnormal?: string } => {
  if (Result.isSuccess(exit)) return { exitCode: Number(exit.success) }
  const signal = /signal: '?(\w+)/.exec(exit.failure.message)?.[1]
  return signal !== undefined ? { exitCode: undefined, signal } : { exitCode: undefined, abnormal: exit.failure.message }
}
