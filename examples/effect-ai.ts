// effect/ai programs on llm-connect's stack: a Chat whose Toolkit handler runs for the tool call
// our provider returns, under our budget; the budget's refusal arrives as an AiError.
// Runs offline on the mock: npm run example examples/effect-ai.ts
// expect: tool get_time -> 12:00 Paris
// expect: answer: It is noon.
// expect: over budget: QuotaExhaustedError (llm-connect: BudgetExceeded on totalTokens)
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Layer, Schema } from "effect"
import * as Chat from "effect/ai/Chat"
import * as LanguageModel from "effect/ai/LanguageModel"
import * as Tool from "effect/ai/Tool"
import * as Toolkit from "effect/ai/Toolkit"
import { EffectAi } from "llm-connect"
import { NodeProviders } from "llm-connect/node"

const GetTime = Tool.make("get_time", {
  description: "The time now in a city",
  parameters: Schema.Struct({ zone: Schema.String }),
  success: Schema.String
})
const tools = Toolkit.make(GetTime)
const handlers = tools.toLayer({ get_time: ({ zone }) => Effect.succeed(`12:00 ${zone}`) })

// The mock answers the first request that declares tools with a call to get_time, then text.
const stack = EffectAi.layerLanguageModel({
  provider: {
    provider: "mock",
    options: { reply: "It is noon.", toolCalls: [[{ name: "get_time", arguments: { zone: "Paris" } }], []] }
  },
  budget: { budget: { totalTokens: 400 } }
}).pipe(Layer.provide(NodeProviders.layer))

const program = Effect.gen(function*() {
  const toolkit = yield* tools
  const chat = yield* Chat.empty
  const first = yield* chat.generateText({ prompt: "What time is it in Paris?", toolkit })
  for (const result of first.toolResults) {
    yield* Console.log(`tool ${result.name} -> ${result.result}`)
  }
  const second = yield* chat.generateText({ prompt: "Thanks", toolkit })
  yield* Console.log(`answer: ${second.text}`)

  const refused = yield* Effect.flip(LanguageModel.generateText({ prompt: "a very long prompt ".repeat(200) }))
  const document = refused.reason._tag === "QuotaExhaustedError"
    ? refused.reason.metadata["llm-connect"] as { errorType: string; dimension: string }
    : undefined
  yield* Console.log(`over budget: ${refused.reason._tag} (llm-connect: ${document?.errorType} on ${document?.dimension})`)
}).pipe(
  // Settings effect/ai's options have no field for, for every call of the program.
  EffectAi.withCallOptions({ maxTokens: 50 }),
  Effect.provide(Layer.merge(stack, handlers))
)

program.pipe(NodeRuntime.runMain)
