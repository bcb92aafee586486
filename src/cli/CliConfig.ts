/**
 * How the CLI loads its configuration: `LlmConnectConfig.load` (flags > environment > file >
 * defaults) plus the defaults that belong to the command line rather than to the library.
 *
 * The one such default today is the usage ledger: a program that configures none keeps its
 * ledger in memory, but the CLI records every call in the user's state directory
 * (`ObservabilityConfig.stateLedgerPath`: `$XDG_STATE_HOME/llm-connect/usage.db`, else
 * `~/.local/state/llm-connect/usage.db`), the file `llm-connect usage` reads, so that a
 * newcomer's first `usage` shows the calls they made. `ledger: false` in the file or
 * `--no-ledger` records nothing.
 *
 * @since 0.1.0
 */
import { Effect, FileSystem, Path } from "effect"
import * as LlmConnectConfig from "../LlmConnectConfig.ts"
import * as ObservabilityConfig from "../observability/ObservabilityConfig.ts"
import * as Output from "./Output.ts"

/**
 * A resolved configuration with the CLI's ledger default applied: when no source sets a ledger
 * path (or `ledger: false`), it is the state ledger file (its source `Default`). A state
 * directory that cannot be written (a read-only home) records nothing, with a notice: a default
 * must not stop the call (a ledger the user chose does: exit 2).
 *
 * @since 0.1.0
 * @category defaults
 */
export const withDefaultLedger = (
  resolved: LlmConnectConfig.Resolved
): Effect.Effect<LlmConnectConfig.Resolved, never, FileSystem.FileSystem | Path.Path> =>
  resolved.config.ledger === false || ObservabilityConfig.ledgerLocation(resolved.config.ledger) !== undefined
    ? Effect.succeed(resolved)
    : Effect.gen(function*() {
      const path = yield* ObservabilityConfig.stateLedgerPath
      if (path === undefined) return resolved
      const fs = yield* FileSystem.FileSystem
      const directory = (yield* Path.Path).dirname(path)
      const writable = yield* fs.makeDirectory(directory, { recursive: true }).pipe(
        Effect.andThen(fs.access(directory, { writable: true })),
        Effect.as(true),
        Effect.catch((error) =>
          Effect.as(
            Output.notice(
              `calls are not recorded: cannot write the usage ledger's folder ${directory} (${error.message}); ` +
                "give one with --ledger FILE or LLM_CONNECT_LEDGER, or pass --no-ledger"
            ),
            false
          )
        )
      )
      return {
        config: { ...resolved.config, ledger: writable ? { path } : false },
        sources: { ...resolved.sources, "ledger.path": { _tag: "Default" } }
      }
    })

/**
 * Loads the configuration as every CLI command does: {@link withDefaultLedger} applied.
 *
 * @since 0.1.0
 * @category loading
 */
export const load = (options: LlmConnectConfig.LoadOptions) =>
  Effect.flatMap(LlmConnectConfig.load(options), withDefaultLedger)

/**
 * The ledger file `llm-connect usage` reads: the configured one, else the state ledger file
 * (also when recording is off: earlier calls may be there).
 *
 * @since 0.1.0
 * @category defaults
 */
export const ledgerToRead = (config: LlmConnectConfig.LlmConnectConfig): Effect.Effect<string | undefined> =>
  ObservabilityConfig.ledgerLocation(config.ledger) !== undefined
    ? Effect.succeed(ObservabilityConfig.ledgerLocation(config.ledger))
    : ObservabilityConfig.stateLedgerPath
