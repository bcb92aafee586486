/**
 * `llm-connect routes list` and `llm-connect routes explain TASK`: the routing rules of the
 * configuration (`routes:`), and the decision for a task type.
 *
 * `explain` builds the stack as a call would (keys looked up, circuits read from the
 * configuration's store, agents from the registry) but calls nothing. It prints the chosen
 * candidate and the candidates skipped before it with their reason code (with `--json`, one
 * `RouteExplanation` document). Nothing fits: `chosen: null`, exit 1. A task type no rule serves
 * (and no default route `taskType: "*"`): exit 2.
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import { Argument, Command } from "effect/cli"
import * as LlmConnectConfig from "../../LlmConnectConfig.ts"
import * as LlmError from "../../LlmError.ts"
import * as RouteDocuments from "../../routing/RouteDocuments.ts"
import * as Router from "../../routing/Router.ts"
import * as RoutingStack from "../../routing/RoutingStack.ts"
import * as ConfigFlags from "../flags/ConfigFlags.ts"
import * as OutputFlags from "../flags/OutputFlags.ts"
import * as RoutingFlags from "../flags/RoutingFlags.ts"
import * as Output from "../Output.ts"

const jsonErrors = (json: boolean) => <A, R>(effect: Effect.Effect<A, LlmError.LlmError, R>) =>
  Effect.tapError(effect, (error) => json ? Output.json(LlmError.toDocument(error)) : Effect.void)

const candidateText = (candidate: { readonly provider?: string | undefined; readonly model?: string | undefined; readonly agent?: string | undefined }) =>
  candidate.agent !== undefined
    ? `agent ${candidate.agent}${candidate.provider !== undefined ? ` (${candidate.provider}/${candidate.model})` : ""}`
    : `${candidate.provider}/${candidate.model}`

const list = Command.make(
  "list",
  { config: ConfigFlags.config, json: OutputFlags.json },
  Effect.fn("cli.routes.list")(function*(input) {
    const { config } = yield* LlmConnectConfig.load({ configFile: ConfigFlags.configFile(input.config) })
    const documents = config.routes.map(RouteDocuments.routeDocument)
    if (input.json) return yield* Output.json(documents)
    if (documents.length === 0) return yield* Output.notice("no routes: are configured; add rules under routes: in the config file")
    for (const route of documents) {
      const limit = route.maxCostPer1k !== undefined ? ` maxCostPer1k ${route.maxCostPer1k}${route.allowUnpriced ? " (unpriced allowed)" : ""}` : ""
      yield* Output.result(
        `${route.scope}  ${route.taskType}  priority ${route.priority}${route.active ? "" : " (inactive)"}${limit}: ` +
          route.prefer.map((entry) => "agent" in entry ? `agent ${entry.agent}` : `${entry.provider}/${entry.model}`).join(" > ")
      )
    }
  }, (effect, input) => jsonErrors(input.json)(effect))
).pipe(Command.withDescription("List the routing rules of the config file (routes:), inactive ones too"))

const explain = Command.make(
  "explain",
  {
    config: ConfigFlags.config,
    json: OutputFlags.json,
    scope: RoutingFlags.scope,
    taskType: Argument.String("task-type").pipe(Argument.withDescription("the task type to route"))
  },
  Effect.fn("cli.routes.explain")(function*(input) {
    const resolved = yield* LlmConnectConfig.load({ configFile: ConfigFlags.configFile(input.config) })
    const layer = yield* RoutingStack.fromConfig(resolved)
    const explanation = yield* Effect.provide(Router.explain(input.taskType, input.scope), layer)
    const document = RouteDocuments.explanationDocument(explanation)
    if (input.json) yield* Output.json(document)
    else {
      for (const skip of document.skipped) yield* Output.result(`skipped ${candidateText(skip)}: ${skip.reason} (${skip.detail})`)
      yield* Output.result(document.chosen === null ? "chosen: none" : `chosen: ${candidateText(document.chosen)}`)
    }
    // Nothing fits: the work (routing) failed, exit 1; the document is already printed.
    if (document.chosen === null) return yield* Effect.fail(Router.nothingFits(explanation))
  }, Effect.scoped, (effect, input) =>
    effect.pipe(Effect.tapError((error) =>
      input.json && error.reason._tag !== "Unavailable" ? Output.json(LlmError.toDocument(error)) : Effect.void
    )))
).pipe(
  Command.withDescription("Explain which candidate serves a task type and why the others were skipped (exit 1 when none fits)"),
  Command.withExamples([
    { command: "llm-connect routes explain triage --json", description: "the decision trail as one JSON document" },
    { command: "llm-connect routes explain triage --scope hub-42", description: "the rules of another scope" }
  ])
)

/**
 * The `routes` command (`list`, `explain`).
 *
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make("routes").pipe(
  Command.withDescription("Routing rules (routes: in the config file): list them, explain a decision"),
  Command.withSubcommands([list, explain])
)
