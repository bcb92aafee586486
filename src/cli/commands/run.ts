/**
 * `llm-connect run <file.yaml> [--input key=value]... [--timeout D] [--json]` and
 * `llm-connect run --resume <id>`: run a YAML workflow and wait for it.
 *
 * Stdout is the result: each step's output and the usage totals (with `--json`, one JSON
 * document: the run, or the error document). Progress goes to stderr, one line per step event
 * (state, time, tokens): readable lines on a terminal, JSON lines otherwise. The run id is
 * printed at the start and in the result; every finished step is journaled under
 * `.llm-connect/runs/<id>.jsonl`, so `--resume <id>` continues a killed run without running a
 * finished step again (a step that was in flight runs again), with the provider, model, base URL,
 * request settings and budget it started with (`runSettings.ts`). A run that stops early prints
 * the output of its finished steps. The model flags (`--system`, `--max-tokens`, `--temperature`
 * as defaults for steps that set none), `--max-retries`, `--attempt-timeout`, the budget, mock and
 * ledger flags are `prompt`'s. Exit codes: 0 completed, 1 failed, 2 invalid workflow, inputs,
 * journal or resume, 3 timeout, 130 cancelled or interrupted.
 *
 * Ctrl-C cancels gracefully: the steps in flight finish, no new one starts. `NodeRuntime` would
 * interrupt at once, so while a run is going this command takes over SIGINT; a second Ctrl-C
 * hands it back and interrupts.
 *
 * @since 0.1.0
 */
import { Data, Effect, Runtime } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import * as Journal from "../../workflow/Journal.ts"
import type * as WorkflowError from "../../workflow/WorkflowError.ts"
import * as ExitCode from "../ExitCode.ts"
import * as BudgetFlags from "../flags/BudgetFlags.ts"
import * as ConfigFlags from "../flags/ConfigFlags.ts"
import * as MockFlags from "../flags/MockFlags.ts"
import * as ModelFlags from "../flags/ModelFlags.ts"
import * as ObservabilityFlags from "../flags/ObservabilityFlags.ts"
import * as OutputFlags from "../flags/OutputFlags.ts"
import * as RequestSizeFlags from "../flags/RequestSizeFlags.ts"
import * as ResilienceFlags from "../flags/ResilienceFlags.ts"

/**
 * The failure the command ends with once it has reported a workflow error itself: a short
 * message for `main.ts`'s error line, and the exit code.
 *
 * @since 0.1.0
 * @category errors
 */
export class WorkflowExit extends Data.TaggedError("WorkflowExit")<{ readonly message: string; readonly code: number }> {
  override get [Runtime.errorExitCode](): number {
    return this.code
  }
}

/**
 * The exit code of a workflow error: 2 invalid workflow, inputs or journal; 1 a failed step;
 * 3 timeout; 130 cancelled.
 *
 * @since 0.1.0
 * @category mapping
 */
export const exitCode = (error: WorkflowError.WorkflowError): number => {
  switch (error.reason._tag) {
    case "Invalid":
    case "NotFound":
    case "Journal":
      return ExitCode.Usage
    case "StepFailed": {
      // Refused before the step's call was paid (2), or stopped from outside (130); a step's own
      // timeout is the step failing (1): the run's client timeout is `Timeout` below.
      const tag = error.reason.cause.reason._tag
      return tag === "Configuration" || tag === "Unsupported"
        ? ExitCode.Usage
        : tag === "Interrupted"
        ? ExitCode.Interrupted
        : ExitCode.WorkFailed
    }
    case "Timeout":
      return ExitCode.TimedOut
    case "Cancelled":
      return ExitCode.Interrupted
  }
}

/**
 * The flags of `run`.
 *
 * @since 0.1.0
 * @category flags
 */
export const flags = {
  file: Argument.String("file").pipe(Argument.withDescription("the workflow (YAML)"), Argument.optional),
  inputs: Flag.String("input").pipe(
    Flag.withMetavar("KEY=VALUE"),
    Flag.withDescription("a workflow input (repeat for several)"),
    Flag.atLeast(0)
  ),
  timeout: Flag.String("timeout").pipe(
    Flag.withMetavar("DURATION"),
    Flag.withDescription("stop the run after this long, e.g. 2m (exit code 3; the state so far is printed)"),
    Flag.optional
  ),
  resume: Flag.String("resume").pipe(
    Flag.withMetavar("RUN_ID"),
    Flag.withDescription(
      "continue a run that was stopped, with the provider, model, base URL and budget it started with: finished steps are not run again"
    ),
    Flag.optional
  ),
  journal: Flag.String("journal-dir").pipe(
    Flag.withMetavar("DIR"),
    Flag.withDescription(`where run journals are kept (default ${Journal.DEFAULT_DIRECTORY})`),
    Flag.withDefault(Journal.DEFAULT_DIRECTORY)
  ),
  // `--timeout` is the run's own (above), not the model group's per-call timeout.
  model: {
    provider: ModelFlags.flags.provider,
    model: ModelFlags.flags.model,
    baseUrl: ModelFlags.flags.baseUrl,
    system: ModelFlags.flags.system,
    maxTokens: ModelFlags.flags.maxTokens,
    temperature: ModelFlags.flags.temperature
  },
  mock: MockFlags.flags,
  budget: BudgetFlags.flags,
  resilience: ResilienceFlags.flags,
  ledger: ObservabilityFlags.recording,
  requestSize: RequestSizeFlags.flags,
  config: ConfigFlags.config,
  json: OutputFlags.json
} as const

/**
 * What the `run` command is given (its flags and argument, parsed).
 *
 * @since 0.1.0
 * @category models
 */
export type Flags = Command.Command.Config.Infer<typeof flags>

/**
 * The `run` command. Its handler (the workflow engine, the journal, progress) is loaded only
 * when `run` runs (`handlers/run.ts`), so other commands start without it.
 *
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make(
  "run",
  flags,
  (flags) => Effect.flatMap(Effect.promise(() => import("./handlers/run.ts")), (handler) => handler.run(flags))
).pipe(
  Command.withDescription("Run a YAML workflow and print each step's output (progress on stderr)"),
  Command.withExamples([
    { command: "llm-connect run examples/workflows/demo.yaml", description: "the demo, on the mock provider (no key needed)" },
    { command: "llm-connect run article.yaml --input topic=tides --timeout 5m --json", description: "one JSON document" },
    { command: "llm-connect run --resume 20261125-k3x9q2", description: "continue a stopped run, as it started" }
  ])
)
