// Claude Code as a plain model: each call runs `claude -p --output-format json` once (no tools,
// one turn, a temporary working directory), and the cost it reports comes back in response.cost.
// With ANTHROPIC_API_KEY set and the claude binary found ($CLAUDE_CODE_PATH, else `claude` on
// PATH) it calls Claude; otherwise it says why and runs against the mock provider:
//   npm run example examples/providers/claude-code.ts
// expect: using the mock provider instead
// expect: tokens:
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Console, Duration, Effect, Option, Redacted } from "effect"
import { ChildProcess, ChildProcessSpawner } from "effect/process"
import { CallContext, ClaudeCodeLanguageModel, LanguageModel, MockLanguageModel } from "llm-connect"

const key = process.env.ANTHROPIC_API_KEY
const binary = process.env.CLAUDE_CODE_PATH || "claude"

/** The CLI's version, if the binary runs. */
const claudeVersion = Effect.gen(function*() {
  const spawner = yield* ChildProcessSpawner.ChildProcessSpawner
  return (yield* spawner.string(ChildProcess.make(binary, ["--version"], { stdin: "ignore" }))).trim()
}).pipe(Effect.timeout("20 seconds"), Effect.option)

const program = Effect.gen(function*() {
  const version = yield* claudeVersion
  const ready = key !== undefined && key !== "" && Option.isSome(version)
  if (!ready) {
    const why = Option.isNone(version) ? `the claude binary ("${binary}") was not found` : "ANTHROPIC_API_KEY is not set"
    yield* Console.log(`${why}: using the mock provider instead`)
  } else {
    yield* Console.log(`using Claude Code ${version.value}`)
  }
  const model = ready
    ? ClaudeCodeLanguageModel.layer({ apiKey: Redacted.make(key!), model: "haiku", timeout: Duration.minutes(2) })
    : MockLanguageModel.layer()

  const response = yield* LanguageModel.generate({
    system: "Answer in one line.",
    prompt: "Name three rivers in Africa",
    temperature: 0.2 // Claude Code cannot honour this: it is named in response.warnings
  }).pipe(
    // Claude Code spends on its own: the remaining USD budget is handed to it as --max-budget-usd.
    Effect.provideService(CallContext.RemainingBudget, { costUsd: 0.05 }),
    Effect.provide(model)
  )
  yield* Console.log(response.content)
  yield* Console.log(`tokens: ${response.usage.inputTokens} in, ${response.usage.outputTokens} out (${response.provider}/${response.model})`)
  if (response.cost !== undefined) yield* Console.log(`cost: $${response.cost.usd} (${response.cost.source})`)
  for (const warning of response.warnings ?? []) yield* Console.log(`warning: ${warning}`)
})

program.pipe(Effect.provide(NodeServices.layer), NodeRuntime.runMain)
