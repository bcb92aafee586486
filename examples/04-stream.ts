// A streamed call: print the answer as it arrives, then its usage from the finish part.
// Runs offline against the built-in mock provider (it streams its reply word by word):
// npm run example examples/04-stream.ts
// expect: This is the mock provider's answer to "Name three rivers in Europe"
// expect: tokens:
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Stream } from "effect"
import { LanguageModel, MockLanguageModel } from "llm-connect"

const program = LanguageModel.stream("Name three rivers in Europe").pipe(
  Stream.runForEach((part) => {
    switch (part.type) {
      case "text-delta": // text as it arrives
        return Effect.sync(() => void process.stdout.write(part.text))
      case "finish": // the last part: the whole response (content, usage, finish reason, cost)
        return Console.log(`\ntokens: ${part.response.usage.inputTokens} in, ${part.response.usage.outputTokens} out`)
      default: // tool-call-delta, and part types added later
        return Effect.void
    }
  })
)

program.pipe(Effect.provide(MockLanguageModel.layer({ latency: "20 millis" })), NodeRuntime.runMain)
