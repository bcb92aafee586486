/**
 * `llm-connect prompt <text>`: one call, the answer on stdout and a usage line on stderr (or,
 * with `--json`, exactly one JSON document on stdout: the `LlmResponse` or the error document).
 * With `--stream`, the answer is printed as it arrives (`promptStream.ts`); with `--stream
 * --json`, as JSON Lines ending with one `finish` line (the same `LlmResponse` document) or one
 * `error` line (the same error document).
 *
 * With `--tools FILE` the request declares tools and the model's tool calls are printed, one line
 * each (with `--json`, in `toolCalls`); no tool is executed.
 *
 * With `--schema FILE.json` the call asks for structured output (`LanguageModel.generateObject`
 * with the file's JSON Schema, converted by `SchemaFile`) and prints the decoded object as
 * pretty JSON (with `--json`, the response document with `object`, `requests` and
 * `totalUsage`); an answer that does not decode after `--repair-attempts` repairs exits 1
 * (`InvalidOutput`). `--schema` with `--stream` is refused (exit 2): the object is printed once
 * it is decoded, never in pieces.
 *
 * The flags come in groups (`../flags/*.ts`), each a record keyed by config path, so a new
 * capability adds its flags by spreading one more group into the config below and into
 * `ConfigFlags.overrides(...)`.
 *
 * @since 0.1.0
 */
import { Effect, Option } from "effect"
import { Argument, Command } from "effect/cli"
import * as LanguageModel from "../../LanguageModel.ts"
import * as LlmConnectConfig from "../../LlmConnectConfig.ts"
import * as LlmError from "../../LlmError.ts"
import * as Router from "../../routing/Router.ts"
import * as RoutingStack from "../../routing/RoutingStack.ts"
import * as Stack from "../../Stack.ts"
import * as CliConfig from "../CliConfig.ts"
import * as AgentFlags from "../flags/AgentFlags.ts"
import * as BudgetFlags from "../flags/BudgetFlags.ts"
import * as ConfigFlags from "../flags/ConfigFlags.ts"
import * as MockFlags from "../flags/MockFlags.ts"
import * as ModelFlags from "../flags/ModelFlags.ts"
import * as ObservabilityFlags from "../flags/ObservabilityFlags.ts"
import * as OutputFlags from "../flags/OutputFlags.ts"
import * as RequestSizeFlags from "../flags/RequestSizeFlags.ts"
import * as ResilienceFlags from "../flags/ResilienceFlags.ts"
import * as RoutingFlags from "../flags/RoutingFlags.ts"
import * as SchemaFlags from "../flags/SchemaFlags.ts"
import * as ToolFlags from "../flags/ToolFlags.ts"
import * as Output from "../Output.ts"
import * as PromptStream from "./promptStream.ts"
import * as SchemaFile from "../SchemaFile.ts"
import * as ToolsFile from "../ToolsFile.ts"

/**
 * The notice printed on stderr when the mock provider answers.
 *
 * @since 0.1.0
 * @category constants
 */
export const MOCK_NOTICE =
  "using the mock provider (offline, canned answers); pass --provider or set LLM_CONNECT_PROVIDER to call a real model"

/**
 * The `prompt` command.
 *
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make(
  "prompt",
  {
    text: Argument.String("text").pipe(Argument.withDescription("the prompt")),
    model: ModelFlags.flags,
    mock: MockFlags.flags,
    budget: BudgetFlags.flags,
    resilience: ResilienceFlags.flags,
    ledger: ObservabilityFlags.recording,
    requestSize: RequestSizeFlags.flags,
    config: ConfigFlags.config,
    tools: ToolFlags.flags,
    schema: SchemaFlags.schema,
    structured: SchemaFlags.settings,
    json: OutputFlags.json,
    stream: OutputFlags.stream,
    agent: AgentFlags.agent,
    taskType: RoutingFlags.taskType,
    scope: RoutingFlags.scope
  },
  Effect.fn("cli.prompt")(function*(input) {
    if (Option.isSome(input.agent) && Option.isSome(input.taskType)) {
      return yield* Effect.fail(LlmError.make("config", new LlmError.Configuration({
        description: "--agent and --task-type both choose the model: give one",
        setting: "agent",
        fix: "call through an agent (--agent SLUG) or through a route (--task-type TYPE), not both"
      })))
    }
    const viaAgent = yield* AgentFlags.resolve({
      agent: input.agent,
      provider: input.model.provider,
      model: input.model.model,
      ledger: input.ledger["ledger.path"],
      config: input.config
    })
    const resolved = yield* CliConfig.load({
      flags: ConfigFlags.overrides(
        viaAgent.overrides,
        input.model,
        input.mock,
        input.budget,
        input.resilience,
        input.requestSize,
        input.structured,
        ObservabilityFlags.overrides(input.ledger)
      ),
      configFile: ConfigFlags.configFile(input.config)
    })
    const { config } = resolved
    const declared = yield* ToolsFile.load({
      file: Option.getOrUndefined(input.tools.tools),
      choice: Option.getOrUndefined(input.tools.toolChoice)
    })
    const schemaFile = Option.getOrUndefined(input.schema)
    if (schemaFile !== undefined && input.stream) {
      return yield* Effect.fail(LlmError.make("config", new LlmError.Configuration({
        description: "--schema cannot be combined with --stream: the object is printed once it is decoded",
        setting: "schema",
        fix: "drop --stream (or drop --schema to stream the text)"
      })))
    }
    const structured = schemaFile === undefined ? undefined : yield* SchemaFile.load(schemaFile)
    // --task-type: the call goes through the router (routes: choose the provider, model or agent).
    const taskType = Option.getOrUndefined(input.taskType)
    const layer = taskType === undefined ? yield* Stack.fromConfig(resolved) : yield* RoutingStack.routedFromConfig(resolved)
    // Routed, the provider is the route's choice: no notice about the configured one.
    if (taskType === undefined && config.provider === "mock") yield* Output.notice(MOCK_NOTICE)
    else if (taskType === undefined) {
      const ignored = Object.entries(resolved.sources)
        .filter(([key, source]) => key.startsWith("mock.") && (source._tag === "Flag" || source._tag === "Env"))
        .map(([, source]) => LlmConnectConfig.describeSource(source))
      if (ignored.length > 0) {
        yield* Output.notice(`${ignored.join(", ")}: only the mock provider reads these; ignored with ${config.provider}`)
      }
    }
    const request = {
      prompt: input.text,
      ...(config.system !== undefined ? { system: config.system } : {}),
      ...(config.maxTokens !== undefined ? { maxTokens: config.maxTokens } : {}),
      ...(config.temperature !== undefined ? { temperature: config.temperature } : {}),
      ...(config.timeoutMs !== undefined ? { timeoutMs: config.timeoutMs } : {}),
      ...AgentFlags.metadata(viaAgent.agent),
      ...(taskType !== undefined && viaAgent.agent === undefined ? { metadata: { taskType, tags: { [Router.SCOPE_TAG]: input.scope } } } : {}),
      ...declared.request
    }
    // The call timeout is the stack's (Retry/Timeout layers, from request.timeoutMs): one
    // timer, and its error counts the attempts really made.
    if (input.stream) {
      const streamed = yield* Effect.provide(
        PromptStream.print(LanguageModel.stream(request), { json: input.json, provider: config.provider }),
        layer
      )
      if (!input.json) yield* Output.notice(Output.usageLine(streamed))
      return
    }
    if (structured !== undefined) {
      const result = yield* Effect.provide(
        LanguageModel.generateObject({
          ...request,
          schema: structured.schema,
          jsonSchema: structured.jsonSchema,
          name: structured.name,
          repairAttempts: config.repairAttempts
        }),
        layer
      )
      if (input.json) {
        const document: SchemaFile.ObjectDocument = {
          ...result.response,
          object: result.object,
          requests: result.responses.length,
          totalUsage: result.usage
        }
        yield* Output.json(document)
      } else {
        yield* Output.result(JSON.stringify(result.object, null, 2))
        const line = Output.usageLine(result.response)
        yield* Output.notice(result.responses.length === 1 ? line : `${line} (last of ${result.responses.length} requests; ${result.usage.totalTokens} tokens in all)`)
      }
      return
    }
    const response = yield* Effect.provide(LanguageModel.generate(request), layer)
    if (input.json) {
      yield* Output.json(response)
    } else {
      if (response.content !== "" || response.toolCalls === undefined) yield* Output.result(response.content)
      // The model's tool calls, one line each; none is executed.
      for (const call of response.toolCalls ?? []) yield* Output.result(ToolsFile.callLine(call, declared.tools.get(call.name)))
      yield* Output.notice(Output.usageLine(response))
    }
  }, (effect, input) =>
    effect.pipe(
      Effect.tapError((error) =>
        !input.json
          ? Effect.void
          : input.stream
          ? PromptStream.printError(error)
          : Output.json(LlmError.toDocument(error))
      ),
      Output.reportInterrupt(input.json && input.stream ? "lines" : input.json)
    ))
).pipe(
  Command.withDescription("Send one prompt and print the answer (usage on stderr)"),
  Command.withExamples([
    { command: "llm-connect prompt \"Name three rivers\"", description: "ask the mock provider (no key needed)" },
    { command: "llm-connect prompt \"Hi\" --provider openai --model gpt-4o-mini --json", description: "one JSON document" },
    { command: "llm-connect prompt \"Tell a story\" --stream", description: "print the answer as it arrives" },
    { command: "llm-connect prompt \"Hi\" --stream --json", description: "JSON Lines: text-delta lines, then one finish line" },
    { command: "llm-connect prompt \"Hi\" --mock-faults 500 --max-retries 0", description: "see how a provider failure looks (exit 1)" },
    { command: "llm-connect prompt \"Weather in Paris?\" --tools tools.yaml --tool-choice required", description: "print the model's tool calls (none is run)" },
    { command: "llm-connect prompt \"The largest city of France\" --schema city.json", description: "structured output: print the decoded object" },
    { command: "llm-connect prompt \"Sort this ticket\" --agent triage", description: "call through a registered agent" },
    { command: "llm-connect prompt \"Sort this ticket\" --task-type triage", description: "call through the route of a task type (routes: in the config)" }
  ])
)
