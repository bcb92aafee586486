// The first call: ask a model one question and print the answer and its usage.
// Runs offline against the built-in mock provider: npm run example examples/01-first-call.ts
// expect: This is the mock provider's answer to "Name three rivers in Europe"
// expect: tokens:
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect } from "effect"
import { LanguageModel, MockLanguageModel } from "llm-connect"

const program = Effect.gen(function*() {
  const response = yield* LanguageModel.generate("Name three rivers in Europe")
  yield* Console.log(response.content)
  yield* Console.log(`tokens: ${response.usage.inputTokens} in, ${response.usage.outputTokens} out (${response.provider}/${response.model})`)
})

program.pipe(Effect.provide(MockLanguageModel.layer()), NodeRuntime.runMain)
