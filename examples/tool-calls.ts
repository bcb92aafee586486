// Tools: declare one with a Schema, let the model call it, run it yourself, send the result back.
// Runs offline: the mock makes the scripted call, then answers. npm run example examples/tool-calls.ts
// (No loop here: the agent loop, with budget checkpoints, is its own module.)
// expect: tool call get_weather {"city":"Paris"} (id mock-call-1-0)
// expect: answer: It is 21°C in Paris.
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Schema } from "effect"
import { LanguageModel, Message, MockLanguageModel, Tool } from "llm-connect"

const weather = Tool.make("get_weather", {
  description: "The current temperature in a city, in °C",
  parameters: Schema.Struct({ city: Schema.String })
})

const runWeather = (args: { readonly city: string }) => Effect.succeed({ city: args.city, celsius: 21 })

const program = Effect.gen(function*() {
  const question = Message.user("What is the weather in Paris?")
  const first = yield* LanguageModel.generate({ messages: [question], tools: [weather] })
  const results: Array<Message.ToolResultPart> = []
  for (const call of first.toolCalls ?? []) {
    yield* Console.log(`tool call ${call.name} ${JSON.stringify(call.arguments)} (id ${call.id})`)
    const args = yield* Tool.decodeArguments(weather, call)
    results.push({ type: "tool-result", id: call.id, name: call.name, result: yield* runWeather(args) })
  }
  const answer = yield* LanguageModel.generate({
    messages: [question, Message.assistant(first.parts ?? []), Message.tool(results)],
    tools: [weather]
  })
  yield* Console.log(`answer: ${answer.content}`)
})

program.pipe(
  Effect.provide(MockLanguageModel.layer({
    reply: "It is 21°C in Paris.",
    toolCalls: [[{ name: "get_weather", arguments: { city: "Paris" } }], []]
  })),
  NodeRuntime.runMain
)
