// Structured output: ask for an object of a Schema's shape and get it back decoded and typed.
// An answer that does not decode is repaired (one more request by default, budgeted like any
// other), then fails with InvalidOutput carrying the raw text and the decode issues.
// Runs offline on the mock: npm run example examples/structured-output.ts
// expect: Paris has 2100000 people (2 requests)
// expect: InvalidOutput: $.population: Expected number
// expect: simplest: {"city":"","population":0}
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Schema } from "effect"
import { LanguageModel, MockLanguageModel } from "llm-connect"

const City = Schema.Struct({
  city: Schema.String,
  population: Schema.Int
})

// The first answer has the population as text; the repair request (which carries that answer
// and what was wrong with it) gets a valid one.
const model = MockLanguageModel.layer({
  reply: (request) =>
    request.messages.length === 1
      ? "{\"city\":\"Paris\",\"population\":\"about two million\"}"
      : "{\"city\":\"Paris\",\"population\":2100000}"
})

const program = Effect.gen(function*() {
  const { object, responses } = yield* LanguageModel.generateObject({
    schema: City,
    name: "city",
    prompt: "The largest city of France and its population"
  })
  // object is { readonly city: string; readonly population: number }
  yield* Console.log(`${object.city} has ${object.population} people (${responses.length} requests)`)

  // With no repair allowed, the invalid answer is an InvalidOutput error.
  const failed = yield* Effect.flip(LanguageModel.generateObject({ schema: City, prompt: "again", repairAttempts: 0 }))
  if (failed.reason._tag === "InvalidOutput") {
    yield* Console.log(`InvalidOutput: ${failed.reason.issues?.join("; ")} (raw: ${failed.reason.raw})`)
  }
}).pipe(Effect.provide(model))

// The mock with no reply configured answers the simplest object the schema accepts.
const simplest = Effect.gen(function*() {
  const { object } = yield* LanguageModel.generateObject({ schema: City, prompt: "anything" })
  yield* Console.log(`simplest: ${JSON.stringify(object)}`)
}).pipe(Effect.provide(MockLanguageModel.layer()))

Effect.andThen(program, simplest).pipe(NodeRuntime.runMain)
