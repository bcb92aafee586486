// A multi-agent run under one budget: a planner, four researchers working in parallel (each with
// its own child budget inside the run's), and a writer. Every call goes through one budget
// layer; the run can never spend more than its limits, whatever runs at once.
// Runs offline against the mock provider: npm run example examples/budget-multi-agent.ts
// expect: planner: 4 topics
// expect: researcher rivers: 6 notes, then stopped by the budget (totalTokens, limit 250)
// expect: writer: Summary of 24 notes
// expect: reserved now: 0 tokens, 0 calls in flight
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Exit, Layer } from "effect"
import { BudgetLanguageModel, BudgetTracker, LanguageModel, Message, MockLanguageModel } from "llm-connect"
import type { LlmRequest } from "llm-connect/LlmRequest"

const topics = ["rivers", "mountains", "forests", "deserts"]

// The mock answers like each agent would (a real provider goes here instead).
const reply = (request: LlmRequest): string => {
  const last = request.messages.at(-1)
  const prompt = last === undefined ? "" : Message.text(last)
  if (prompt.startsWith("Plan")) return topics.join(", ")
  if (prompt.startsWith("Write")) return `Summary of ${prompt.split("\n").length - 1} notes: the world is varied.`
  return `A note on ${prompt.slice(9)}: it covers a large part of the Earth and shapes the climate and the life around it.`
}

// One root budget for the whole run: 1,500 tokens, one cent, one minute.
const Model = BudgetLanguageModel.layer.pipe(
  Layer.provide(MockLanguageModel.layer({ reply })),
  Layer.provideMerge(BudgetTracker.layer({ totalTokens: 1_500, costUsd: 0.01, deadline: "1m" }))
)

// A researcher keeps taking notes until its own budget refuses the next call.
const researcher = (topic: string) =>
  BudgetTracker.delegate(
    { totalTokens: 250 },
    topic,
    Effect.gen(function*() {
      const notes: Array<string> = []
      while (true) {
        const exit = yield* Effect.exit(LanguageModel.generate({ prompt: `Research ${topic}`, maxTokens: 80 }))
        if (Exit.isFailure(exit)) {
          const failure = exit.cause.reasons.find((reason) => reason._tag === "Fail")
          const reason = failure?._tag === "Fail" ? failure.error.reason : undefined
          const why = reason?._tag === "BudgetExceeded" ? `the budget (${reason.dimension}, limit ${reason.limit})` : "an error"
          yield* Console.log(`researcher ${topic}: ${notes.length} notes, then stopped by ${why}`)
          return notes
        }
        notes.push(exit.value.content)
        yield* BudgetTracker.checkpoint(`${topic} note ${notes.length}`)
      }
    })
  )

const program = Effect.gen(function*() {
  const plan = yield* LanguageModel.generate({ prompt: "Plan the research", maxTokens: 40 })
  yield* Console.log(`planner: ${plan.content.split(", ").length} topics`)
  const notes = (yield* Effect.all(topics.map(researcher), { concurrency: "unbounded" })).flat()
  const summary = yield* LanguageModel.generate({ prompt: `Write a summary\n${notes.join("\n")}`, maxTokens: 60 })
  yield* Console.log(`writer: ${summary.content}`)
  yield* BudgetTracker.checkpoint("done")

  const root = yield* BudgetTracker.snapshot
  yield* Console.log(
    `run: ${root.consumed.totalTokens} of 1500 tokens, $${root.consumed.costUsd.toFixed(6)} of $0.01, ` +
      `${Math.round((root.deadline?.remainingMs ?? 0) / 1000)}s of 60s left`
  )
  yield* Console.log(`reserved now: ${root.reserved.totalTokens} tokens, ${root.openReservations} calls in flight`)
})

program.pipe(Effect.provide(Model), NodeRuntime.runMain)
