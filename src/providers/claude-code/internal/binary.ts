/**
 * Finding the `claude` binary as a call runs it: the `binaryPath` option, else
 * `$CLAUDE_CODE_PATH`, else `claude` on `PATH`. A call spawns that name (the system looks it up
 * on `PATH`); `llm-connect providers` reports where it is, without running it.
 *
 * @since 0.1.0
 */
import { Config, Effect, FileSystem, Option, Path } from "effect"

/**
 * The environment variable naming the `claude` binary.
 *
 * @since 0.1.0
 * @category constants
 */
export const PATH_ENV = "CLAUDE_CODE_PATH"

/**
 * The binary to run, and where that name came from.
 *
 * @since 0.1.0
 * @category accessors
 */
export const binaryName = (binaryPath: string | undefined) =>
  Effect.map(
    Effect.orElseSucceed(Config.option(Config.String(PATH_ENV)), () => Option.none<string>()),
    (fromEnv): { readonly name: string; readonly source: BinaryLookup["source"] } => {
      if (binaryPath !== undefined) return { name: binaryPath, source: "binaryPath" }
      const named = Option.getOrUndefined(Option.filter(fromEnv, (value) => value.trim() !== ""))
      return named !== undefined ? { name: named, source: PATH_ENV } : { name: "claude", source: "PATH" }
    }
  )

/**
 * Where the `claude` binary was looked for, and whether an executable file is there.
 *
 * @since 0.1.0
 * @category models
 */
export interface BinaryLookup {
  /** The name or path looked for. */
  readonly name: string
  /** Where that name came from: the `binaryPath` option, `CLAUDE_CODE_PATH`, or the default looked up on `PATH`. */
  readonly source: "binaryPath" | typeof PATH_ENV | "PATH"
  /** The executable found, if any. */
  readonly path?: string | undefined
}

/**
 * Looks for the `claude` binary as a call would run it (`binaryPath`, else `$CLAUDE_CODE_PATH`,
 * else `claude` on `PATH`), without running it: an executable file at that path, or in one of
 * `PATH`'s directories. `llm-connect providers` reports it.
 *
 * @since 0.1.0
 * @category accessors
 */
export const findBinary = (
  options: { readonly binaryPath?: string | undefined } = {}
): Effect.Effect<BinaryLookup, never, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const { name, source } = yield* binaryName(options.binaryPath)
    const executable = (candidate: string) =>
      Effect.match(fs.stat(candidate), {
        onFailure: () => false,
        onSuccess: (info) => info.type === "File" && (info.mode & 0o111) !== 0
      })
    const candidates = name.includes("/")
      ? [path.resolve(name)]
      : (yield* Effect.orElseSucceed(Config.String("PATH"), () => "")).split(":").filter((dir) => dir !== "")
        .map((dir) => path.join(dir, name))
    for (const candidate of candidates) {
      if (yield* executable(candidate)) return { name, source, path: candidate }
    }
    return { name, source }
  })

