/**
 * The `llm-connect` command line: the root command, its subcommands, and the one place where a
 * run's outcome becomes an exit code (see `ExitCode.ts`).
 *
 * Subcommands are listed in {@link subcommands}; a new one is added there. Every failure is
 * rendered here once: a one-line message on stderr (`llm-connect: error: ...`); commands with
 * `--json` print the error document on stdout themselves (`prompt --stream --json`: the `error`
 * line of its JSON Lines). Bad usage (unknown flag, missing
 * argument) prints the parse errors on stderr and a hint to `--help`, never help text on stdout.
 *
 * @since 0.1.0
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeServices from "@effect/platform-node/NodeServices"
import { Cause, Console, Effect, Exit, Layer } from "effect"
import type { Runtime } from "effect"
import { CliError, CliOutput, Command } from "effect/cli"
import * as LlmError from "../LlmError.ts"
import type * as ProviderRegistry from "../ProviderRegistry.ts"
import * as NodeProviders from "../node/NodeProviders.ts"
import * as Bridge from "./commands/bridge.ts"
import * as BudgetCommand from "./commands/budget.ts"
import * as Prompt from "./commands/prompt.ts"
import * as Providers from "./commands/providers.ts"
import * as Usage from "./commands/usage.ts"
import * as Run from "./commands/run.ts"
import * as Serve from "./commands/serve.ts"
import * as Keys from "./commands/keys.ts"
import * as Agents from "./commands/agents.ts"
import * as Delegate from "./commands/delegate.ts"
import * as Routes from "./commands/routes.ts"
import * as CollectiveCommand from "./commands/collective.ts"
import * as Mcp from "./commands/mcp.ts"
import * as CliLogger from "./CliLogger.ts"
import * as ExitCode from "./ExitCode.ts"
import * as Output from "./Output.ts"
import * as StreamEvents from "./StreamEvents.ts"

/**
 * The CLI's version.
 *
 * @since 0.1.0
 * @category constants
 */
export const VERSION = "0.1.0"

/**
 * Every subcommand. Add new ones (e.g. `run`, `usage`) here.
 *
 * @since 0.1.0
 * @category commands
 */
export const subcommands = [Prompt.command, Providers.command, Run.command, Usage.command, Bridge.command, Serve.command, Keys.command, BudgetCommand.command, Mcp.command, Agents.command, Delegate.command, Routes.command, CollectiveCommand.command] as const

/**
 * The root command `llm-connect`.
 *
 * @since 0.1.0
 * @category commands
 */
export const root = Command.make("llm-connect").pipe(
  Command.withDescription(
    "Call language models safely. Exit codes: 0 success, 1 the work failed, 2 bad usage/config/input, 3 timeout, 130 interrupted."
  ),
  Command.withSubcommands(subcommands)
)

const wantsJson = (argv: ReadonlyArray<string>): boolean => argv.includes("--json")

/** `prompt --stream --json` prints JSON Lines: its failure is one `error` line. */
const wantsJsonLines = (argv: ReadonlyArray<string>): boolean => wantsJson(argv) && argv.includes("--stream")

/** Parse errors go to stderr with a pointer to `--help`; stdout stays clean for `--json`. */
const presenter = (argv: ReadonlyArray<string>): CliOutput.Presenter => ({
  present: (event) =>
    event._tag === "InvalidInvocation"
      ? Effect.gen(function*() {
        for (const error of event.errors) yield* Output.errorLine(error.message)
        yield* Output.notice(`run "${event.commandPath.join(" ")} --help" for usage`)
        if (wantsJson(argv)) {
          const first = event.errors[0]
          const document = LlmError.toDocument(
            LlmError.make(
              "cli",
              new LlmError.Configuration({
                description: first?.message ?? "bad usage",
                setting: "arguments",
                fix: `run "${event.commandPath.join(" ")} --help" for usage`
              })
            )
          )
          yield* wantsJsonLines(argv) ? Console.log(StreamEvents.errorLine(document)) : Output.json(document)
        }
      })
      : CliOutput.defaultPresenter.present(event)
})

/**
 * Runs the CLI with the given arguments (without the `node` and script path) and returns the
 * exit code. Failures are rendered here; only interruption escapes.
 *
 * @since 0.1.0
 * @category running
 */
export const run = (argv: ReadonlyArray<string>) =>
  Command.runWith(root, { version: VERSION })(argv).pipe(
    Effect.provideService(CliOutput.Presenter, presenter(argv)),
    Effect.as(ExitCode.Success),
    Effect.catchCause((cause) => {
      if (Cause.hasInterruptsOnly(cause)) return Effect.failCause(cause)
      const error = Cause.squash(cause)
      const code = ExitCode.fromCause(cause)
      // effect/cli has already shown help or parse errors for its own errors
      if (CliError.isCliError(error)) return Effect.succeed(code)
      return Effect.as(Output.errorLine(Output.failureMessage(error)), code)
    })
  )

/**
 * Maps how the program ended to the process exit code (the program's own result on success).
 *
 * @since 0.1.0
 * @category running
 */
export const teardown: Runtime.Teardown = (exit, onExit) => {
  if (Exit.isSuccess(exit)) return onExit(typeof exit.value === "number" ? exit.value : ExitCode.Success)
  return onExit(ExitCode.fromCause(exit.cause))
}

/**
 * Runs the CLI as a process: `NodeRuntime`, `NodeServices.layer` and the given provider registry
 * (the built-in one by default). Sets the exit code and handles SIGINT/SIGTERM (130).
 *
 * @since 0.1.0
 * @category running
 */
export const main = (
  argv: ReadonlyArray<string>,
  registry: Layer.Layer<ProviderRegistry.ProviderRegistry> = NodeProviders.layer
): void =>
  run(argv).pipe(
    // Log lines (e.g. a retry warning) go to stderr, one line each: stdout holds only the answer or --json.
    Effect.provide(Layer.mergeAll(NodeServices.layer, registry, CliLogger.layer)),
    NodeRuntime.runMain({ teardown, disableErrorReporting: true })
  )
