/**
 * Client CPU per streamed call against a local OpenAI-compatible mock
 * (bench/openai-sse-mock-server.ts, in a child process so that only the client's CPU is counted)
 * answering three content chunks and the usage chunk with 0 ms latency:
 *
 * - our OpenAI-protocol adapter: its streamed call beside its own non-streamed (JSON) call;
 * - our whole default stack (`Stack.make`: observability, request size, budget with a token
 *   limit, retry, rate limit, concurrency limits, all set never to make a call wait) over the same
 *   adapter: streamed and non-streamed;
 * - the `openai` SDK's `stream: true`;
 * - the per-chunk cost: the same streamed call with an answer of 51 content chunks instead of 3,
 *   `(CPU at 51 - CPU at 3) / 48`, for the adapter alone and through the whole stack;
 * - a breakdown: the per-call and per-chunk CPU of the stack built up one layer at a time.
 *
 * Vercel AI SDK's `streamText` (named by issue 14) is not installed in this repository and is not
 * added for the benchmark; it is not measured.
 *
 * Each streamed call reads every delta (the text is put together, as a consumer printing it would)
 * and its usage. Clients are interleaved within each repetition (a different one first each time),
 * after a warm-up; CPU per call is a `process.cpuUsage()` delta (user + system) over a batch. On a
 * machine shared with other work the absolute figures drift by tens of percent from one batch to
 * the next, so the ratios are computed within each repetition (batches run back to back) and their
 * median is reported, beside the medians of the absolute figures. Goals (issue 14): our streamed
 * call at most 1.2x our non-streamed call and at most 0.5x the SDK's streamed call; the per-chunk
 * cost through the whole stack at most 5 µs.
 *
 *   node bench/streaming.ts [--reps 21] [--calls 500] [--only adapter|N] [--concurrency 1|100] [--breakdown-only] [--breakdown-reps N]
 *
 * `--only adapter` runs the adapter's rows alone (generate, stream, stream 51 chunks; no SDK, no
 * stack, no breakdown), e.g. under `node --cpu-prof`; `--concurrency N` runs one concurrency.
 * `--only N` runs the main section's client N alone (0 adapter generate, 1 adapter stream, 2 SDK
 * stream, 3 stack generate, 4 stack stream, 5 and 6 the 51-chunk streams), for a CPU profile.
 */
import { NodeHttpClient } from "@effect/platform-node"
import { Effect, Layer, ManagedRuntime, Redacted, Stream } from "effect"
import * as LanguageModel from "../src/LanguageModel.ts"
import * as LlmRequest from "../src/LlmRequest.ts"
import * as NodeProviders from "../src/node/NodeProviders.ts"
import * as OpenAiCompatibleLanguageModel from "../src/providers/openai-compatible/OpenAiCompatibleLanguageModel.ts"
import * as Stack from "../src/Stack.ts"
import type * as StreamPart from "../src/StreamPart.ts"
import { bytesAllocated } from "./internal/allocation.ts"
import { answer, basePath } from "./internal/sseAnswer.ts"
import { argument, median } from "./internal/stats.ts"
import { startMockServer } from "./internal/mockServer.ts"
import { sdkChatStream } from "./internal/openAiSdk.ts"

const REPS = argument("reps", 21)
const CALLS = argument("calls", 500)
/** `--only adapter`: the adapter's rows alone (for profiling it). */
const ADAPTER_ONLY = process.argv.includes("--only") && process.argv[process.argv.indexOf("--only") + 1] === "adapter"
const CONCURRENCIES = process.argv.includes("--concurrency") ? [argument("concurrency", 1)] : [1, 100]
/** The chunk count of the per-chunk scenario (against the main scenario's 3). */
const MANY = 51
const WARMUP_REPS = 2
/** `--only N`: the client at index N of the main section alone (for a profile), no ratios, no breakdown. */
const ONLY = argument("only", -1)
/** `--breakdown-only`: the layer-by-layer breakdown alone (`--breakdown-reps` rounds, default reps / 2). */
const BREAKDOWN_ONLY = process.argv.includes("--breakdown-only")


const check = (content: unknown, usage: unknown, chunks = 3) => {
  if (content !== answer(chunks)) throw new Error(`unexpected reply: ${String(content)}`)
  if (usage === undefined || usage === null) throw new Error("no usage")
}

interface Read {
  readonly text: string
  readonly finish: StreamPart.Finish | undefined
}

const emptyRead = (): Read => ({ text: "", finish: undefined })

/** What a consumer printing the answer does with each part: the text put together, the finish kept. */
const readPart = (read: Read, part: StreamPart.StreamPart): Read =>
  part.type === "text-delta"
    ? { text: read.text + part.text, finish: read.finish }
    : part.type === "finish"
    ? { text: read.text, finish: part }
    : read

interface Client {
  readonly name: string
  readonly run: (calls: number, concurrency: number) => Promise<void>
}

/** `calls` calls of `one`, `concurrency` at a time, in a runtime. */
const effectClient = <R, E>(
  name: string,
  runtime: ManagedRuntime.ManagedRuntime<R, E>,
  one: Effect.Effect<void, unknown, R>
): Client => ({
  name,
  run: (calls, concurrency) => runtime.runPromise(Effect.forEach(Array.from({ length: calls }), () => one, { concurrency, discard: true }))
})

/**
 * A streamed call read to its end: the text put together, the finish part's usage checked. Each
 * call asks the model anew (`Effect.suspend`), as a caller does: before stop 31 the effect was built
 * once per row and rerun, so the adapter's rows made their wire request once while the stack's
 * layers asked the adapter per call (helper A, stop 31: 4.4 KB per stream of the difference).
 */
const streamed = (model: LanguageModel.Service, request: LlmRequest.LlmRequest, chunks: number) =>
  Effect.suspend(() =>
    Effect.map(
      Stream.runFold(model.stream(request), emptyRead, readPart),
      (read) => check(read.text, read.finish?.response.usage, chunks)
    )
  )

const generated = (model: LanguageModel.Service, request: LlmRequest.LlmRequest) =>
  Effect.suspend(() => Effect.map(model.generate(request), (response) => check(response.content, response.usage)))

/** The whole default stack over the openai-compatible adapter, with limits set never to make a call wait. */
const wholeStack = (baseUrl: string): Stack.StackConfig => ({
  provider: { provider: "openai-compatible", baseUrl, model: "gpt-4o-mini" },
  budget: { budget: { totalTokens: 1_000_000_000_000 } },
  resilience: { limits: { concurrency: 1_000, providerConcurrency: 1_000, rpm: 100_000_000 } }
})

/**
 * The stack built up one layer at a time (streamed calls at concurrency 1, 3 and 51 chunks), beside
 * the adapter alone: the CPU per call and per chunk of each, so that a per-call or per-chunk cost
 * can be traced to its layer. Interleaved: every round measures every step (a different one first
 * each round), and the cost of a step over the adapter and over the step before it are medians of
 * the per-round differences (paired), which survive a loaded machine better than the medians
 * alone. Also the bytes allocated per 3-chunk call (V8's sampling heap profiler,
 * `internal/allocation.ts`), over the adapter's.
 */
const breakdown = async (origin: string, request: LlmRequest.LlmRequest) => {
  const limits = { concurrency: 1_000, providerConcurrency: 1_000, rpm: 100_000_000 }
  const provider = (url: string) => ({ provider: "openai-compatible", baseUrl: url, model: "gpt-4o-mini" })
  const steps: ReadonlyArray<readonly [string, ((url: string) => Stack.StackConfig) | undefined]> = [
    ["adapter alone", undefined],
    ["request size only (no retry)", (url) => ({ provider: provider(url), observability: { enabled: false }, resilience: { retry: { maxRetries: 0 } } })],
    ["+ retry (defaults)", (url) => ({ provider: provider(url), observability: { enabled: false } })],
    ["+ rate limit and concurrency", (url) => ({ provider: provider(url), observability: { enabled: false }, resilience: { limits } })],
    ["+ budget (a token limit)", (url) => ({
      provider: provider(url),
      observability: { enabled: false },
      budget: { budget: { totalTokens: 1_000_000_000_000 } },
      resilience: { limits }
    })],
    ["+ observability = whole stack", wholeStack]
  ]
  const adapterRuntime = ManagedRuntime.make(NodeHttpClient.layerUndici)
  // A client of streamed calls of `chunks` chunks through a step (its own runtime, or the adapter's).
  const clientOf = async (name: string, config: ((url: string) => Stack.StackConfig) | undefined, chunks: number) => {
    const url = `${origin}${basePath(chunks)}`
    if (config === undefined) {
      const model = await adapterRuntime.runPromise(
        OpenAiCompatibleLanguageModel.make({ baseUrl: url, apiKey: Redacted.make("test"), defaultModel: "gpt-4o-mini" })
      )
      return { client: effectClient(name, adapterRuntime, streamed(model, request, chunks)), dispose: () => Promise.resolve() }
    }
    const runtime = ManagedRuntime.make(Stack.layer(config(url)).pipe(Layer.provide(NodeProviders.layer)))
    const model = await runtime.runPromise(LanguageModel.LanguageModel.use(Effect.succeed))
    return { client: effectClient(name, runtime, streamed(model, request, chunks)), dispose: () => runtime.dispose() }
  }
  const built = await Promise.all(steps.map(async ([name, config]) => {
    const few = await clientOf(name, config, 3)
    const many = await clientOf(name, config, MANY)
    return {
      name,
      few: few.client,
      many: many.client,
      dispose: () => Promise.all([few.dispose(), many.dispose()]),
      cpuFew: [] as Array<number>,
      cpuMany: [] as Array<number>,
      bytes: Number.NaN
    }
  }))
  const calls = Math.min(CALLS, 300)
  const cpuOf = async (client: Client) => {
    const start = process.cpuUsage()
    await client.run(calls, 1)
    const used = process.cpuUsage(start)
    return (used.user + used.system) / calls
  }
  const rounds = argument("breakdown-reps", Math.ceil(REPS / 2))
  for (let rep = 0; rep < WARMUP_REPS + rounds; rep++) {
    // A different step first in each round, so that none always runs after the same one.
    for (let index = 0; index < built.length; index++) {
      const step = built[(index + rep) % built.length]!
      const few = await cpuOf(step.few)
      const many = await cpuOf(step.many)
      if (rep >= WARMUP_REPS) {
        step.cpuFew.push(few)
        step.cpuMany.push(many)
      }
    }
  }
  const BYTES_CALLS = 200
  for (const step of built) step.bytes = (await bytesAllocated(() => step.few.run(BYTES_CALLS, 1))) / BYTES_CALLS
  console.log(
    `\nbreakdown: the stack built up one layer at a time, streamed calls at concurrency 1 (${calls} calls per measurement, ${rounds} interleaved rounds; paired: medians of the per-round differences)`
  )
  console.log("stack                              CPU us/call (3 chunks)   (51 chunks)   us per chunk   over adapter (paired)   this step (paired)   KB/call   KB over adapter")
  const adapter = built[0]!
  const paired = (a: ReadonlyArray<number>, b: ReadonlyArray<number>) => median(a.map((value, round) => value - b[round]!))
  built.forEach((step, index) => {
    const few = median(step.cpuFew)
    const many = median(step.cpuMany)
    const previous = built[Math.max(0, index - 1)]!
    console.log(
      `${step.name.padEnd(34)} ${few.toFixed(0).padStart(22)} ${many.toFixed(0).padStart(13)} ${((many - few) / (MANY - 3)).toFixed(1).padStart(14)} ${
        paired(step.cpuFew, adapter.cpuFew).toFixed(1).padStart(23)
      } ${paired(step.cpuFew, previous.cpuFew).toFixed(1).padStart(20)} ${(step.bytes / 1024).toFixed(1).padStart(9)} ${
        ((step.bytes - adapter.bytes) / 1024).toFixed(1).padStart(17)
      }`
    )
  })
  for (const step of built) await step.dispose()
  await adapterRuntime.dispose()
}

const main = async () => {
  const { origin, child } = await startMockServer("./openai-sse-mock-server.ts")
  const baseUrl = `${origin}${basePath(3)}`
  const manyUrl = `${origin}${basePath(MANY)}`
  const prompt = "Name the longest river in Africa."

  const runtime = ManagedRuntime.make(NodeHttpClient.layerUndici)
  const adapter = (url: string) =>
    runtime.runPromise(OpenAiCompatibleLanguageModel.make({ baseUrl: url, apiKey: Redacted.make("test"), defaultModel: "gpt-4o-mini" }))
  const model = await adapter(baseUrl)
  const manyModel = await adapter(manyUrl)
  // Each stack in a runtime of its own, which holds its resources (ledger, limits) until disposed.
  const stackRuntime = (url: string) => ManagedRuntime.make(Stack.layer(wholeStack(url)).pipe(Layer.provide(NodeProviders.layer)))
  const stackRuntimes = [stackRuntime(baseUrl), stackRuntime(manyUrl)] as const
  const [stack, manyStack] = await Promise.all(stackRuntimes.map((stackRuntime) => stackRuntime.runPromise(LanguageModel.LanguageModel.use(Effect.succeed))))
  const request = LlmRequest.make(prompt)

  const oursGenerate = effectClient("adapter, generate (JSON)", runtime, generated(model, request))
  const oursStream = effectClient("adapter, stream (SSE)", runtime, streamed(model, request, 3))
  const oursStreamMany = effectClient(`adapter, stream ${MANY} chunks`, runtime, streamed(manyModel, request, MANY))
  const stackGenerate = effectClient("whole stack, generate", stackRuntimes[0], generated(stack!, request))
  const stackStream = effectClient("whole stack, stream", stackRuntimes[0], streamed(stack!, request, 3))
  const stackStreamMany = effectClient(`whole stack, stream ${MANY} ch.`, stackRuntimes[1], streamed(manyStack!, request, MANY))

  const sdkStream: Client = {
    name: "openai SDK, stream: true",
    run: sdkChatStream(baseUrl, { model: "gpt-4o-mini", messages: [{ role: "user", content: prompt }] }, (text, usage) => check(text, usage))
  }

  const clients = ADAPTER_ONLY
    ? [oursGenerate, oursStream, oursStreamMany]
    : [oursGenerate, oursStream, sdkStream, stackGenerate, stackStream, oursStreamMany, stackStreamMany]
  const has = (client: Client) => clients.includes(client)
  if (ONLY >= 0) {
    // One client alone, for a profile (`node --cpu-prof bench/streaming.ts --only 4`).
    const client = clients[ONLY]!
    for (const concurrency of CONCURRENCIES) {
      await client.run(Math.min(500, CALLS), concurrency)
      const cpu: Array<number> = []
      for (let rep = 0; rep < REPS; rep++) {
        const start = process.cpuUsage()
        await client.run(CALLS, concurrency)
        const used = process.cpuUsage(start)
        cpu.push((used.user + used.system) / CALLS)
      }
      console.log(`only ${client.name}, concurrency ${concurrency}: ${median(cpu).toFixed(1)} CPU us/call (median of ${REPS} x ${CALLS})`)
    }
    await runtime.dispose()
    for (const stackRuntime of stackRuntimes) await stackRuntime.dispose()
    child.kill("SIGTERM")
    return
  }
  if (BREAKDOWN_ONLY) {
    await runtime.dispose()
    for (const stackRuntime of stackRuntimes) await stackRuntime.dispose()
    await breakdown(origin, request)
    child.kill("SIGTERM")
    return
  }
  console.log(`node ${process.version}, ${CALLS} calls per measurement, ${REPS} repetitions, mock in a child process`)
  console.log(`each streamed call: 3 content chunks (or ${MANY}) + the usage chunk + [DONE]`)
  for (const concurrency of CONCURRENCIES) {
    for (const client of clients) await client.run(Math.min(500, CALLS), concurrency) // warm-up
    const cpu = new Map<string, Array<number>>()
    const ratios = new Map<string, Array<number>>()
    const push = (map: Map<string, Array<number>>, key: string, value: number) => map.set(key, [...(map.get(key) ?? []), value])
    for (let rep = 0; rep < REPS; rep++) {
      const perCall = new Map<string, number>()
      // A different client goes first in each repetition, so that none always runs after the same one.
      for (let index = 0; index < clients.length; index++) {
        const client = clients[(index + rep) % clients.length]!
        const start = process.cpuUsage()
        await client.run(CALLS, concurrency)
        const used = process.cpuUsage(start)
        perCall.set(client.name, (used.user + used.system) / CALLS)
      }
      const of = (client: Client) => perCall.get(client.name)!
      for (const client of clients) push(cpu, client.name, of(client))
      push(ratios, "adapter stream / adapter generate", of(oursStream) / of(oursGenerate))
      if (has(sdkStream)) push(ratios, "adapter stream / SDK stream", of(oursStream) / of(sdkStream))
      if (has(stackStream)) {
        push(ratios, "stack stream / stack generate", of(stackStream) / of(stackGenerate))
        push(ratios, "stack stream / adapter generate", of(stackStream) / of(oursGenerate))
        push(ratios, "stack stream / SDK stream", of(stackStream) / of(sdkStream))
      }
      push(ratios, "per chunk, adapter (µs)", (of(oursStreamMany) - of(oursStream)) / (MANY - 3))
      if (has(stackStream)) {
        push(ratios, "per chunk, whole stack (µs)", (of(stackStreamMany) - of(stackStream)) / (MANY - 3))
        push(ratios, "per chunk, the layers alone (µs)", (of(stackStreamMany) - of(stackStream) - of(oursStreamMany) + of(oursStream)) / (MANY - 3))
      }
    }
    console.log(`\nconcurrency ${concurrency}`)
    console.log("client                        CPU us/call (median)")
    for (const client of clients) console.log(`${client.name.padEnd(29)} ${median(cpu.get(client.name)!).toFixed(1).padStart(20)}`)
    console.log("ratio (median of the per-repetition ratios)")
    for (const [name, values] of ratios) console.log(`${name.padEnd(36)} ${median(values).toFixed(2).padStart(8)}`)
    const goal = (name: string, limit: number, unit: string) => {
      const value = median(ratios.get(name)!)
      return `${name} ${value.toFixed(2)}${unit} (<= ${limit}${unit}) ${value <= limit ? "met" : "NOT met"}`
    }
    if (ADAPTER_ONLY) console.log(`goals: ${goal("adapter stream / adapter generate", 1.2, "x")}`)
    else {
      console.log(`goals: ${goal("adapter stream / adapter generate", 1.2, "x")}; ${goal("stack stream / stack generate", 1.2, "x")}; ${
        goal("adapter stream / SDK stream", 0.5, "x")
      }; ${goal("stack stream / SDK stream", 0.5, "x")}; ${goal("per chunk, whole stack (µs)", 5, "")}`)
    }
  }
  await runtime.dispose()
  for (const stackRuntime of stackRuntimes) await stackRuntime.dispose()
  if (!ADAPTER_ONLY) await breakdown(origin, request)
  child.kill("SIGTERM")
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
