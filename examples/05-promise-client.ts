// The Promise client: llm-connect without writing Effect. The options are the YAML config's
// shape; every call takes an AbortSignal; every failure is an LlmConnectError.
// Runs offline against the built-in mock provider: npm run example examples/05-promise-client.ts
// expect: This is the mock provider's answer to "Name three rivers in Europe"
// expect: streamed 3 parts, then left the loop
// expect: aborted: Interrupted (the user stopped it)
// expect: refused: BudgetExceeded on inputTokens
// expect: bad option: invalid budget.costUsd = -1 (from the option budget.costUsd)
// expect: used so far: 
import { createClient, LlmConnectError } from "llm-connect"

const llm = createClient({
  provider: "mock",
  mock: { latency: "20ms" },
  maxTokens: 200,
  ledger: false,
  budget: { costUsd: 0.5, deadline: "2m" }
})

const reply = await llm.generate("Name three rivers in Europe")
console.log(reply.content)

// Leaving the loop cancels the call.
let parts = 0
for await (const part of llm.stream("Tell a long story about a river")) {
  if (part.type === "text-delta" && ++parts === 3) break
}
console.log(`streamed ${parts} parts, then left the loop`)

// Aborting cancels the request and releases the budget's reservation.
const controller = new AbortController()
setTimeout(() => controller.abort("the user stopped it"), 5)
try {
  await llm.generate("A slow question", { signal: controller.signal })
} catch (error) {
  if (error instanceof LlmConnectError) console.log(`aborted: ${error.reason} (${String(error.cause)})`)
}

// A sub-agent with its own budget inside the client's.
const researcher = llm.child({ budget: { inputTokens: 20 } })
try {
  for (let i = 0; i < 5; i++) await researcher.generate(`Research question ${i}`)
} catch (error) {
  if (error instanceof LlmConnectError && error.reason === "BudgetExceeded") console.log(`refused: ${error.reason} on ${error.dimension}`)
}

// A bad option throws at once, with the message the CLI prints.
try {
  createClient({ provider: "mock", budget: { costUsd: -1 } })
} catch (error) {
  if (error instanceof LlmConnectError) console.log(`bad option: ${error.description}`)
}

const usage = await llm.usage()
console.log(`used so far: ${usage.totalTokens} tokens, $${usage.costUsd.toFixed(6)} of $${usage.budget?.limits.costUsd}`)
await llm.close()
