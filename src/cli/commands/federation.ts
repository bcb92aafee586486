/**
 * What the federation commands (`agents`, `delegate`, `prompt --agent`) share: the store they
 * open (the usage ledger's, as `keys` and `usage` read it: `--ledger`, `LLM_CONNECT_LEDGER`,
 * `ledger.path`, else the state ledger; a `postgres://` URL included), the services over it, and
 * how a record is printed.
 *
 * @since 0.1.0
 */
import { Data, Effect, FileSystem, Layer, Option, Runtime } from "effect"
import * as AgentPerformance from "../../federation/AgentPerformance.ts"
import * as AgentRegistry from "../../federation/AgentRegistry.ts"
import * as FederationContract from "../../federation/FederationContract.ts"
import * as Governance from "../../federation/Governance.ts"
import type * as LlmConnectConfig from "../../LlmConnectConfig.ts"
import * as LlmError from "../../LlmError.ts"
import * as FederationStore from "../../federation/FederationStore.ts"
import * as SqlStore from "../../store/SqlStore.ts"
import * as CliConfig from "../CliConfig.ts"
import * as Output from "../Output.ts"

/**
 * Opens the ledger's store of a loaded configuration, in the current scope.
 *
 * @since 0.1.0
 * @category stores
 */
export const openStore = (config: LlmConnectConfig.LlmConnectConfig) =>
  FederationStore.openLedgerStore(config, "no store for the agents")

/**
 * The store `serve` offers the federation endpoints over: the ledger's, unless recording is off
 * (`ledger: false`, `--no-ledger`) and no state file exists yet (then `undefined`: the endpoints
 * are not served and no file is created).
 *
 * @since 0.1.0
 * @category stores
 */
export const storeForServe = (config: LlmConnectConfig.LlmConnectConfig) =>
  Effect.gen(function*() {
    if (config.ledger === false) {
      const path = yield* CliConfig.ledgerToRead(config)
      if (path === undefined) return undefined
      const exists = path === ":memory:" ? false : yield* (yield* FileSystem.FileSystem).exists(path).pipe(Effect.orElseSucceed(() => false))
      if (!exists) return undefined
    }
    return yield* openStore(config)
  })

/**
 * The registry, governance and performance records over a store.
 *
 * @since 0.1.0
 * @category layers
 */
export const servicesLayer = (store: SqlStore.Service) =>
  Layer.mergeAll(AgentPerformance.layer, Governance.layer).pipe(
    Layer.provideMerge(AgentRegistry.layer),
    Layer.provideMerge(Layer.succeed(SqlStore.SqlStore, store))
  )

/**
 * An agent as a JSON document (`agents list --json` items, `agents show --json`, `/v1/agents`).
 *
 * @since 0.1.0
 * @category encoding
 */
export const agentDocument = FederationContract.agentDocument

/**
 * One line for an agent.
 *
 * @since 0.1.0
 * @category formatting
 */
export const agentLine = (agent: AgentRegistry.Agent): string =>
  `${agent.slug}\t${agent.provider}/${agent.model}\t${agent.trustLevel}\tv${agent.version}\t${agent.active ? "active" : "inactive"}` +
  (agent.capabilities.length > 0 ? `\t${agent.capabilities.join(",")}` : "")

/**
 * A command's end after it printed its own result of failed work (a failed delegation): the
 * message for the error line, exit code 1.
 *
 * @since 0.1.0
 * @category errors
 */
export class WorkFailed extends Data.TaggedError("WorkFailed")<{ readonly message: string }> {
  override get [Runtime.errorExitCode](): number {
    return 1
  }
}

/**
 * Prints the error document on stdout with `--json` (the one-line message goes to stderr in
 * `main.ts`); a {@link WorkFailed} has printed its document already.
 *
 * @since 0.1.0
 * @category output
 */
export const jsonErrors = (json: boolean) => <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.tapError(effect, (error) => json && LlmError.isLlmError(error) ? Output.json(LlmError.toDocument(error)) : Effect.void)

/**
 * An optional flag's value, or `undefined`.
 *
 * @since 0.1.0
 * @category conversions
 */
export const given = <A>(option: Option.Option<A>): A | undefined => Option.getOrUndefined(option)
