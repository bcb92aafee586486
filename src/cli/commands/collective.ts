/**
 * `llm-connect collective --task-type T "prompt"`: every active agent routed for the task type
 * answers (concurrently, each a structured `{ recommendation, rationale, confidence }`), the
 * highest-priority one synthesises, and the proposal is stored beside the usage ledger
 * (`Collective`). Prints the final content (with `--json`, one `CollectiveProposal` document:
 * `{ id, consensusStatus, contributions, finalContent, ... }`). A failed proposal (fewer than a
 * majority answered, or the synthesis failed) prints its document and exits 1; a task type with
 * no route, or no active agent, exits 2. `--max-total-tokens` / `--max-cost-usd` hold the whole
 * proposal.
 *
 * @since 0.1.0
 */
import { Effect, Layer, Option } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import * as LlmError from "../../LlmError.ts"
import * as ObservabilityConfig from "../../observability/ObservabilityConfig.ts"
import * as Collective from "../../routing/Collective.ts"
import * as RoutingStack from "../../routing/RoutingStack.ts"
import * as CliConfig from "../CliConfig.ts"
import * as BudgetFlags from "../flags/BudgetFlags.ts"
import * as ConfigFlags from "../flags/ConfigFlags.ts"
import * as MockFlags from "../flags/MockFlags.ts"
import * as ObservabilityFlags from "../flags/ObservabilityFlags.ts"
import * as OutputFlags from "../flags/OutputFlags.ts"
import * as RoutingFlags from "../flags/RoutingFlags.ts"
import * as Output from "../Output.ts"

/**
 * The `collective` command.
 *
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make(
  "collective",
  {
    prompt: Argument.String("prompt").pipe(Argument.withDescription("the task every agent answers")),
    taskType: Flag.String("task-type").pipe(
      Flag.withMetavar("TYPE"),
      Flag.withDescription("the task type whose routed agents take part (routes: in the config file)")
    ),
    scope: RoutingFlags.scope,
    concurrency: Flag.Int("concurrency").pipe(
      Flag.withMetavar("N"),
      Flag.withDescription(`agents asked at once (default ${Collective.DEFAULT_CONCURRENCY}, at most ${Collective.MAX_AGENTS})`),
      Flag.optional
    ),
    mock: MockFlags.flags,
    budget: BudgetFlags.flags,
    ledger: ObservabilityFlags.recording,
    config: ConfigFlags.config,
    json: OutputFlags.json
  },
  Effect.fn("cli.collective")(function*(input) {
    const concurrency = Option.getOrUndefined(input.concurrency)
    if (concurrency !== undefined && (concurrency < 1 || concurrency > Collective.MAX_AGENTS)) {
      return yield* Effect.fail(LlmError.make("cli", new LlmError.Configuration({
        description: `--concurrency is ${concurrency}; it must be from 1 to ${Collective.MAX_AGENTS}`,
        setting: "--concurrency",
        fix: `pass e.g. --concurrency ${Collective.DEFAULT_CONCURRENCY}`
      })))
    }
    const resolved = yield* CliConfig.load({
      flags: ConfigFlags.overrides(input.mock, input.budget, ObservabilityFlags.overrides(input.ledger)),
      configFile: ConfigFlags.configFile(input.config)
    })
    const stack = yield* RoutingStack.fromConfig(resolved)
    // Proposals live in the usage ledger's store (none recorded: in memory, for this run only).
    const store = Collective.storeLayer(ObservabilityConfig.ledgerLocation(resolved.config.ledger))
    const layer = Collective.layer({ concurrency }).pipe(Layer.provide(Layer.merge(stack, store)))
    const proposal = yield* Effect.provide(
      Collective.run({ taskType: input.taskType, prompt: input.prompt, scope: input.scope }),
      layer
    )
    const document = Collective.toDocument(proposal)
    if (input.json) yield* Output.json(document)
    else {
      for (const contribution of document.contributions) {
        yield* Output.notice(
          contribution.status === "answered"
            ? `${contribution.agent} (${contribution.model}): ${contribution.recommendation ?? ""} (confidence ${contribution.confidence ?? "?"}, ${contribution.tokensIn} in + ${contribution.tokensOut} out)`
            : `${contribution.agent} (${contribution.model}): failed: ${contribution.error ?? ""}`
        )
      }
      yield* Output.notice(`proposal ${document.id}: ${document.consensusStatus}${document.synthesizedBy !== null ? `, synthesised by ${document.synthesizedBy}` : ""}`)
      if (document.finalContent !== null) yield* Output.result(document.finalContent)
    }
    if (proposal.consensusStatus === "failed") return yield* Effect.fail(Collective.failedError(proposal))
  }, Effect.scoped, (effect, input) =>
    effect.pipe(Effect.tapError((error) =>
      input.json && !(error.reason._tag === "Unavailable" && error.provider === "collective")
        ? Output.json(LlmError.toDocument(error))
        : Effect.void
    )))
).pipe(
  Command.withDescription("Ask every agent routed for a task type, then synthesise their answers (a collective proposal)"),
  Command.withExamples([
    { command: "llm-connect collective --task-type review \"Ship on Friday?\" --json", description: "one CollectiveProposal document" }
  ])
)
