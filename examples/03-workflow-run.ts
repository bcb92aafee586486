// Run the workflow of 02-workflow-builder.ts and wait for its result (the mock model: no key needed).
// expect: mock provider
import { Effect } from "effect"
import { MockLanguageModel, Workflow } from "llm-connect"
import { article } from "./02-workflow-builder.ts"

const result = await Workflow.run(article, { topic: "tides" }, { timeout: "30s" })
  .pipe(Effect.provide(MockLanguageModel.layer()), Effect.runPromise)
console.log(result.outputs.draft, "\n", result.outputs.summary, "\n", result.usage)
