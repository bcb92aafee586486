/**
 * What running a workflow costs.
 *
 * 1. Concurrency: 100 concurrent 3-step workflows (outline -> draft -> title) against 1, on the
 *    in-process mock provider with 50 ms latency. A 3-step chain takes 150 ms of model time, so
 *    100 runs at once should take as long as 1; the overhead is `t(100) / t(1) - 1`. The same
 *    100 chains as bare `generate` calls (no workflow) are measured too, as a baseline.
 * 2. Framework cost per step: the same workflow with 0 ms latency, many runs in a row, against
 *    the same three `generate` calls made directly; the difference per step, in microseconds.
 *
 * Each figure is the median over repetitions; variants are interleaved within a repetition so
 * that load from other processes hits them alike.
 *
 *   node bench/workflow.ts [--reps 15] [--runs 2000]
 */
import { Effect, type Layer, ManagedRuntime, Schema } from "effect"
import * as LanguageModel from "../src/LanguageModel.ts"
import * as MockLanguageModel from "../src/providers/mock/MockLanguageModel.ts"
import * as Workflow from "../src/workflow/Workflow.ts"
import { argument, loadAverage, median, time } from "./internal/stats.ts"

const REPS = Math.max(15, argument("reps", 15))
const RUNS = argument("runs", 2000)
const CONCURRENT = 100

const article = Workflow.make("article", { topic: Schema.String })
  .prompt("outline", ({ input }) => `Outline an article about ${input.topic}`, { maxTokens: 64 })
  .prompt("draft", ({ steps }) => `Write it from: ${steps.outline}`, { needs: ["outline"], maxTokens: 64 })
  .prompt("title", ({ steps }) => `A title for: ${steps.draft}`, { needs: ["draft"], maxTokens: 64 })

const bareChain = (topic: string) =>
  Effect.gen(function*() {
    const outline = yield* LanguageModel.generate({ prompt: `Outline an article about ${topic}`, maxTokens: 64 })
    const draft = yield* LanguageModel.generate({ prompt: `Write it from: ${outline.content}`, maxTokens: 64 })
    return yield* LanguageModel.generate({ prompt: `A title for: ${draft.content}`, maxTokens: 64 })
  })

const many = <A, E, R>(count: number, one: (index: number) => Effect.Effect<A, E, R>) =>
  Effect.forEach(Array.from({ length: count }, (_, index) => index), one, { concurrency: "unbounded", discard: true })

const inRow = <A, E, R>(count: number, one: (index: number) => Effect.Effect<A, E, R>) =>
  Effect.forEach(Array.from({ length: count }, (_, index) => index), one, { discard: true })

// The mock records every request in an array it copies on each call, so each measured batch
// gets a fresh mock (built outside the timing): otherwise the recording, not the workflow,
// dominates long runs.
const slowMock = () => ManagedRuntime.make(MockLanguageModel.layer({ reply: "echo", latency: "50 millis" }) as Layer.Layer<LanguageModel.LanguageModel>)
const fastMock = () => ManagedRuntime.make(MockLanguageModel.layer({ reply: "echo" }) as Layer.Layer<LanguageModel.LanguageModel>)

/** Wall time of `effect` on a fresh runtime. */
const timed = async (
  runtime: () => ManagedRuntime.ManagedRuntime<LanguageModel.LanguageModel, never>,
  effect: Effect.Effect<unknown, unknown, LanguageModel.LanguageModel>
): Promise<{ readonly wallMs: number; readonly cpuMs: number }> => {
  const rt = runtime()
  await rt.runPromise(Effect.void)
  const cpu = process.cpuUsage()
  const wallMs = await time(() => rt.runPromise(effect))
  const used = process.cpuUsage(cpu)
  await rt.dispose()
  return { wallMs, cpuMs: (used.user + used.system) / 1000 }
}

const main = async () => {
  const one = Workflow.run(article, { topic: "tides" })
  const hundred = many(CONCURRENT, (index) => Workflow.run(article, { topic: `topic ${index}` }))
  const hundredBare = many(CONCURRENT, (index) => bareChain(`topic ${index}`))
  const wfInRow = inRow(RUNS, (index) => Workflow.run(article, { topic: `topic ${index}` }))
  const bareInRow = inRow(RUNS, (index) => bareChain(`topic ${index}`))

  // Warm up the JIT and the tokenizer.
  for (let i = 0; i < 3; i++) {
    await timed(slowMock, one)
    await timed(slowMock, hundred)
    await timed(slowMock, hundredBare)
    await timed(fastMock, inRow(300, () => Workflow.run(article, { topic: "warm" })))
    await timed(fastMock, inRow(300, () => bareChain("warm")))
  }

  const samples = {
    one: [] as Array<number>,
    hundred: [] as Array<number>,
    hundredBare: [] as Array<number>,
    wfCpu: [] as Array<number>,
    bareCpu: [] as Array<number>
  }
  for (let rep = 0; rep < REPS; rep++) {
    samples.one.push((await timed(slowMock, one)).wallMs)
    samples.hundred.push((await timed(slowMock, hundred)).wallMs)
    samples.hundredBare.push((await timed(slowMock, hundredBare)).wallMs)
    samples.wfCpu.push((await timed(fastMock, wfInRow)).cpuMs)
    samples.bareCpu.push((await timed(fastMock, bareInRow)).cpuMs)
  }
  const t1 = median(samples.one)
  const t100 = median(samples.hundred)
  const t100Bare = median(samples.hundredBare)
  const wfStepUs = (median(samples.wfCpu) * 1000) / (RUNS * 3)
  const bareCallUs = (median(samples.bareCpu) * 1000) / (RUNS * 3)
  const percent = (ratio: number) => `${(ratio * 100).toFixed(2)} %`

  console.log(`workflow benchmark (median of ${REPS} repetitions; Node ${process.version}; load average ${loadAverage()})`)
  console.log(`  1 workflow (3 chained steps x 50 ms mock)   ${t1.toFixed(1)} ms`)
  console.log(`  ${CONCURRENT} concurrent workflows                  ${t100.toFixed(1)} ms   overhead vs 1: ${percent(t100 / t1 - 1)}`)
  console.log(`  ${CONCURRENT} concurrent bare chains (no workflow)  ${t100Bare.toFixed(1)} ms   overhead vs 1: ${percent(t100Bare / t1 - 1)}`)
  console.log(`  workflow layer's share at ${CONCURRENT}: (workflows - bare) / 1 workflow = ${percent((t100 - t100Bare) / t1)}`)
  console.log(`  CPU per step, 0 ms mock (${RUNS} runs x 3 steps): workflow step ${wfStepUs.toFixed(1)} µs, bare call ${bareCallUs.toFixed(1)} µs`)
  console.log(`  framework cost per step: ${(wfStepUs - bareCallUs).toFixed(1)} µs CPU`)
}

main()
