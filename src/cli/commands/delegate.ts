/**
 * `llm-connect delegate --from S --to S --token-budget N [--scope SCOPE] [--parent ID] "task"`:
 * one agent delegates a task to another (`Delegation`): governance's `delegate` checked for the
 * delegating agent, the receiving agent run through the configured stack (its provider and
 * model, the configuration's keys, budget, retry and ledger) under a child budget of N tokens
 * (of the configured budget, when there is one), and the record kept in the ledger's store.
 *
 * Prints the answer on stdout and the record's id, status and tokens on stderr; with `--json`,
 * the delegation record (`contracts/delegation.schema.json`). A delegation that ran and failed
 * prints its record too and exits 1; a refusal (unknown agent, a cycle, a budget larger than
 * the parent's, bad flags) exits 2 and records nothing; a governance denial exits 1 (audited).
 *
 * @since 0.1.0
 */
import { Effect, Layer, Option } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import * as AgentModels from "../../federation/AgentModels.ts"
import * as Stack from "../../Stack.ts"
import * as CliConfig from "../CliConfig.ts"
import * as BudgetFlags from "../flags/BudgetFlags.ts"
import * as ConfigFlags from "../flags/ConfigFlags.ts"
import * as MockFlags from "../flags/MockFlags.ts"
import * as ObservabilityFlags from "../flags/ObservabilityFlags.ts"
import * as OutputFlags from "../flags/OutputFlags.ts"
import * as ResilienceFlags from "../flags/ResilienceFlags.ts"
import * as Output from "../Output.ts"
import * as Federation from "./federation.ts"

/**
 * The `delegate` command.
 *
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make(
  "delegate",
  {
    task: Argument.String("task").pipe(Argument.withDescription("the task, as text")),
    from: Flag.String("from").pipe(Flag.withMetavar("SLUG"), Flag.withDescription("the delegating agent")),
    to: Flag.String("to").pipe(Flag.withMetavar("SLUG"), Flag.withDescription("the receiving agent")),
    tokenBudget: Flag.Int("token-budget").pipe(Flag.withMetavar("N"), Flag.withDescription("the tokens the receiving agent may use")),
    scope: Flag.String("scope").pipe(Flag.withMetavar("SCOPE"), Flag.withDescription("the tenant (default: default)"), Flag.withDefault("default")),
    parent: Flag.String("parent").pipe(Flag.withMetavar("ID"), Flag.withDescription("the delegation this one is part of"), Flag.optional),
    artifactType: Flag.String("artifact-type").pipe(
      Flag.withMetavar("TYPE"),
      Flag.withDescription("the artifact type governance checks (default: task)"),
      Flag.optional
    ),
    mock: MockFlags.flags,
    budget: BudgetFlags.flags,
    resilience: ResilienceFlags.flags,
    ledger: ObservabilityFlags.recording,
    config: ConfigFlags.config,
    json: OutputFlags.json
  },
  Effect.fn("cli.delegate")(function*(input) {
    // The delegation engine (and the agent loop it runs) loads when the command runs.
    const Delegation = yield* Effect.promise(() => import("../../federation/Delegation.ts"))
    yield* Effect.scoped(Effect.gen(function*() {
      const resolved = yield* CliConfig.load({
        flags: ConfigFlags.overrides(input.mock, input.budget, input.resilience, ObservabilityFlags.overrides(input.ledger)),
        configFile: ConfigFlags.configFile(input.config)
      })
      const stack = yield* Stack.fromConfig(resolved)
      const store = yield* Federation.openStore(resolved.config)
      const layer = Delegation.layer.pipe(
        Layer.provideMerge(AgentModels.layerFactory),
        Layer.provideMerge(Federation.servicesLayer(store)),
        Layer.provideMerge(stack)
      )
      const record = yield* Effect.provide(
        Delegation.Delegation.use((delegation) =>
          delegation.delegate({
            from: input.from,
            to: input.to,
            task: input.task,
            tokenBudget: input.tokenBudget,
            scope: input.scope,
            parentId: Option.getOrUndefined(input.parent),
            artifactType: Option.getOrUndefined(input.artifactType)
          })
        ),
        layer
      )
      if (input.json) yield* Output.json(Delegation.toDocument(record))
      else if (record.result !== undefined) yield* Output.result(record.result)
      const line = `delegation ${record.id} ${record.from} -> ${record.to}: ${record.status}, ${record.tokensUsed} of ${record.tokenBudget} tokens`
      if (record.status !== "completed") {
        return yield* Effect.fail(new Federation.WorkFailed({ message: `${line}: ${record.error ?? "no answer"}` }))
      }
      yield* Output.notice(line)
    }))
  }, (effect, input) => effect.pipe(Federation.jsonErrors(input.json), Output.reportInterrupt(input.json)))
).pipe(
  Command.withDescription("Delegate a task from one agent to another under a token budget"),
  Command.withExamples([
    { command: "llm-connect delegate --from lead --to researcher --token-budget 2000 \"Find three sources\" --json", description: "the delegation record" }
  ])
)
