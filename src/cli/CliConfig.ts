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
import { Effect } from "effect"
import * as LlmConnectConfig from "../LlmConnectConfig.ts"
import * as ObservabilityConfig from "../observability/ObservabilityConfig.ts"

/**
 * A resolved configuration with the CLI's ledger default applied: when no source sets a ledger
 * path (or `ledger: false`), it is the state ledger file (its source `Default`).
 *
 * @since 0.1.0
 * @category defaults
 */
export const withDefaultLedger = (resolved: LlmConnectConfig.Resolved): Effect.Effect<LlmConnectConfig.Resolved> =>
  resolved.config.ledger === false || resolved.config.ledger?.path !== undefined
    ? Effect.succeed(resolved)
    : Effect.map(ObservabilityConfig.stateLedgerPath, (path) =>
      path === undefined ? resolved : {
        config: { ...resolved.config, ledger: { path } },
        sources: { ...resolved.sources, "ledger.path": { _tag: "Default" } }
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
  config.ledger !== undefined && config.ledger !== false && config.ledger.path !== undefined
    ? Effect.succeed(config.ledger.path)
    : ObservabilityConfig.stateLedgerPath
