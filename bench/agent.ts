/**
 * What the agent loop costs per step beyond the model calls themselves.
 *
 * One run is three steps on the in-process mock (0 ms latency): the model asks for two tools,
 * then two again, then answers; the tools return at once. `Agent.run` (tool decoding with the
 * Schema, concurrent tools, per-step usage and timings, budget checkpoints when a tracker is
 * in context, conversation metadata) is measured against a hand-written loop over the bare
 * `LanguageModel` doing the same calls and building the same messages, without the bookkeeping.
 * The difference per step, in microseconds of CPU, is the framework's cost (goal: at most 20).
 * A third variant runs `Agent.run` with a budget (the budget layer and a tracker in context):
 * its difference against the same hand-written loop under the same budget layer is the cost of
 * the loop's checkpoints.
 *
 * Each figure is the median over repetitions; variants are interleaved within a repetition so
 * that load from other processes hits them alike.
 *
 *   node bench/agent.ts [--reps 15] [--runs 1000]
 */
import { Effect, Layer, ManagedRuntime, Schema } from "effect"
import * as Agent from "../src/agent/Agent.ts"
import * as BudgetLanguageModel from "../src/budget/BudgetLanguageModel.ts"
import * as BudgetTracker from "../src/budget/BudgetTracker.ts"
import * as LanguageModel from "../src/LanguageModel.ts"
import type { LlmRequest } from "../src/LlmRequest.ts"
import * as LlmResponse from "../src/LlmResponse.ts"
import * as Message from "../src/Message.ts"
import * as MockLanguageModel from "../src/providers/mock/MockLanguageModel.ts"
import * as Tool from "../src/Tool.ts"
import { argument, loadAverage, median } from "./internal/stats.ts"

const REPS = Math.max(15, argument("reps", 15))
const RUNS = argument("runs", 1000)
const STEPS = 3

const lookup = Tool.make("lookup", { description: "Looks a key up", parameters: Schema.Struct({ key: Schema.String }) })
const lookupHandler = Agent.handle(lookup, ({ key }) => Effect.succeed({ key, value: 42 }))

const turns = (request: LlmRequest) => {
  let count = 0
  for (const message of request.messages) if (message.role === "assistant") count++
  return count
}
const toolCalls = (request: LlmRequest) =>
  turns(request) < STEPS - 1 ? [{ name: "lookup", arguments: { key: "a" } }, { name: "lookup", arguments: { key: "b" } }] : undefined

const agentRun = Agent.run({ tools: [lookupHandler], prompt: "Look up a and b, twice", maxSteps: 5 })

// The same conversation by hand: no decoding with the Schema, no step records, no checkpoints.
const handLoop = Effect.gen(function*() {
  const model = yield* LanguageModel.LanguageModel
  const messages: Array<Message.Message> = [Message.user("Look up a and b, twice")]
  const tools = [lookup.definition]
  for (let step = 0; step < 5; step++) {
    const response = yield* model.generate({ messages: [...messages], tools })
    const calls = LlmResponse.toolCallsOf(response)
    if (calls.length === 0) return response.content
    messages.push(Message.assistant(LlmResponse.partsOf(response)))
    const results = yield* Effect.forEach(calls, (call) =>
      Effect.succeed<Message.ToolResultPart>({
        type: "tool-result",
        id: call.id,
        name: call.name,
        result: { key: (call.arguments as { readonly key: string }).key, value: 42 }
      }), { concurrency: 4 })
    messages.push(Message.tool(results))
  }
  return ""
})

const inRow = <A, E, R>(count: number, one: Effect.Effect<A, E, R>) =>
  Effect.forEach(Array.from({ length: count }, (_, index) => index), () => one, { discard: true })

// A fresh mock per measured batch (built outside the timing): the mock records every request.
const mock = () => MockLanguageModel.layer({ reply: "a and b are 42", toolCalls }) as Layer.Layer<LanguageModel.LanguageModel>
const bare = () => ManagedRuntime.make(mock())
const budgeted = () =>
  ManagedRuntime.make(
    BudgetLanguageModel.layer.pipe(
      Layer.provideMerge(mock()),
      Layer.provideMerge(BudgetTracker.layer({ totalTokens: 1e12 }))
    ) as Layer.Layer<LanguageModel.LanguageModel | BudgetTracker.BudgetTracker, never>
  )

// The same budget layer with its own tracker, not in context: the loop has nothing to check, so
// the difference against `budgeted` is the cost of the loop's checkpoints.
const budgetedUnseen = () =>
  ManagedRuntime.make(
    BudgetLanguageModel.layerConfig({ budget: { totalTokens: 1e12 } }).pipe(Layer.provideMerge(mock())) as Layer.Layer<
      LanguageModel.LanguageModel,
      never
    >
  )

const cpuOf = async <R>(
  runtime: () => ManagedRuntime.ManagedRuntime<R, never>,
  effect: Effect.Effect<unknown, unknown, R>
): Promise<number> => {
  const rt = runtime()
  await rt.runPromise(Effect.void)
  const cpu = process.cpuUsage()
  await rt.runPromise(effect)
  const used = process.cpuUsage(cpu)
  await rt.dispose()
  return (used.user + used.system) / 1000
}

const main = async () => {
  for (let i = 0; i < 3; i++) {
    await cpuOf(bare, inRow(300, agentRun))
    await cpuOf(bare, inRow(300, handLoop))
    await cpuOf(budgeted, inRow(300, agentRun))
    await cpuOf(budgeted, inRow(300, handLoop))
    await cpuOf(budgetedUnseen, inRow(300, agentRun))
  }
  const samples = { agent: [] as Array<number>, hand: [] as Array<number>, agentBudget: [] as Array<number>, handBudget: [] as Array<number>, agentUnseen: [] as Array<number> }
  for (let rep = 0; rep < REPS; rep++) {
    samples.agent.push(await cpuOf(bare, inRow(RUNS, agentRun)))
    samples.hand.push(await cpuOf(bare, inRow(RUNS, handLoop)))
    samples.agentBudget.push(await cpuOf(budgeted, inRow(RUNS, agentRun)))
    samples.handBudget.push(await cpuOf(budgeted, inRow(RUNS, handLoop)))
    samples.agentUnseen.push(await cpuOf(budgetedUnseen, inRow(RUNS, agentRun)))
  }
  const perStep = (values: ReadonlyArray<number>) => (median(values) * 1000) / (RUNS * STEPS)
  const agent = perStep(samples.agent)
  const hand = perStep(samples.hand)
  const agentBudget = perStep(samples.agentBudget)
  const handBudget = perStep(samples.handBudget)
  const agentUnseen = perStep(samples.agentUnseen)
  console.log(`agent loop benchmark (median of ${REPS} repetitions; Node ${process.version}; load average ${loadAverage()})`)
  console.log(`  ${RUNS} runs x ${STEPS} steps (2 tool calls in each of the first two), 0 ms mock`)
  console.log(`  CPU per step, no budget:   Agent.run ${agent.toFixed(1)} µs, hand-written loop ${hand.toFixed(1)} µs`)
  console.log(`  framework cost per step:   ${(agent - hand).toFixed(1)} µs CPU (goal <= 20)`)
  console.log(`  CPU per step, with budget: Agent.run ${agentBudget.toFixed(1)} µs, hand-written loop ${handBudget.toFixed(1)} µs`)
  console.log(`  framework cost per step:   ${(agentBudget - handBudget).toFixed(1)} µs CPU (checkpoints included)`)
  console.log(`  of which checkpoints:      ${(agentBudget - agentUnseen).toFixed(1)} µs CPU (Agent.run with the tracker out of its sight: ${agentUnseen.toFixed(1)} µs)`)
}

main()
