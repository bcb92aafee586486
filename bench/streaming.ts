/**
 * Client CPU per streamed call of the OpenAI-protocol adapter, beside the `openai` SDK's
 * `stream: true` and our own non-streamed call, against a local mock (bench/openai-sse-mock-server.ts,
 * in a child process so that only the client's CPU is counted) answering three content chunks and
 * the usage chunk with 0 ms latency. Each streamed call reads every delta (the text is put
 * together, as a consumer printing it would) and its usage. Clients are interleaved within each
 * repetition, after a warm-up; CPU per call is a `process.cpuUsage()` delta (user + system) over a
 * batch. On a machine shared with other work the absolute figures drift by tens of percent from
 * one batch to the next, so the ratios are computed within each repetition (batches run back to
 * back) and their median is reported, beside the medians of the absolute figures. Goals (issue 14):
 * our streamed call at most 1.2x our non-streamed call, at most 0.5x the SDK's streamed call.
 *
 *   node bench/streaming.ts [--reps 21] [--calls 500]
 */
import { NodeHttpClient } from "@effect/platform-node"
import { spawn } from "node:child_process"
import { createInterface } from "node:readline"
import { Effect, ManagedRuntime, Redacted, Stream } from "effect"
import OpenAI from "openai"
import * as LlmRequest from "../src/LlmRequest.ts"
import * as OpenAiCompatibleLanguageModel from "../src/providers/openai-compatible/OpenAiCompatibleLanguageModel.ts"
import type * as StreamPart from "../src/StreamPart.ts"
import { argument, median } from "./internal/stats.ts"

const REPS = argument("reps", 21)
const CALLS = argument("calls", 500)
const CONCURRENCIES = [1, 100]
const EXPECTED = "The Nile is the longest river in Africa."

const startServer = async () => {
  const child = spawn(process.execPath, [new URL("./openai-sse-mock-server.ts", import.meta.url).pathname], {
    stdio: ["ignore", "pipe", "inherit"]
  })
  const line = await new Promise<string>((resolve) => createInterface({ input: child.stdout! }).once("line", resolve))
  return { child, baseUrl: `http://127.0.0.1:${line.trim()}/v1` }
}

/** Runs `calls` calls of `one`, `concurrency` at a time (a pool of workers). */
const pool = async (calls: number, concurrency: number, one: () => Promise<unknown>) => {
  let next = 0
  const worker = async () => {
    while (next < calls) {
      next++
      await one()
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
}

const check = (content: unknown, usage: unknown) => {
  if (content !== EXPECTED) throw new Error(`unexpected reply: ${String(content)}`)
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

const main = async () => {
  const { baseUrl, child } = await startServer()
  const prompt = "Name the longest river in Africa."

  const runtime = ManagedRuntime.make(NodeHttpClient.layerUndici)
  const model = await runtime.runPromise(OpenAiCompatibleLanguageModel.make({
    baseUrl,
    apiKey: Redacted.make("test"),
    defaultModel: "gpt-4o-mini"
  }))
  const request = LlmRequest.make(prompt)

  const oursGenerate: Client = {
    name: "ours, generate (JSON)",
    run: (calls, concurrency) =>
      runtime.runPromise(Effect.forEach(
        Array.from({ length: calls }),
        () => Effect.map(model.generate(request), (response) => check(response.content, response.usage)),
        { concurrency, discard: true }
      ))
  }

  const oursStream: Client = {
    name: "ours, stream (SSE)",
    run: (calls, concurrency) =>
      runtime.runPromise(Effect.forEach(
        Array.from({ length: calls }),
        () =>
          Effect.map(
            Stream.runFold(model.stream(request), emptyRead, readPart),
            (read) => check(read.text, read.finish?.response.usage)
          ),
        { concurrency, discard: true }
      ))
  }

  const sdk = new OpenAI({ baseURL: baseUrl, apiKey: "test", maxRetries: 0 })
  const sdkStream: Client = {
    name: "openai SDK, stream: true",
    run: (calls, concurrency) =>
      pool(calls, concurrency, async () => {
        const stream = await sdk.chat.completions.create({
          model: "gpt-4o-mini",
          messages: [{ role: "user", content: prompt }],
          stream: true,
          stream_options: { include_usage: true }
        })
        let text = ""
        let usage: unknown
        for await (const chunk of stream) {
          text += chunk.choices[0]?.delta.content ?? ""
          if (chunk.usage !== undefined && chunk.usage !== null) usage = chunk.usage
        }
        check(text, usage)
      })
  }

  const clients = [oursGenerate, oursStream, sdkStream]
  console.log(`node ${process.version}, ${CALLS} calls per measurement, ${REPS} repetitions, mock in a child process`)
  console.log("each streamed call: 3 content chunks + the usage chunk + [DONE]")
  for (const concurrency of CONCURRENCIES) {
    for (const client of clients) await client.run(Math.min(500, CALLS), concurrency) // warm-up
    const cpu = new Map<string, Array<number>>()
    const versusGenerate = new Map<string, Array<number>>()
    const versusSdk = new Map<string, Array<number>>()
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
      for (const client of clients) {
        const value = perCall.get(client.name)!
        cpu.set(client.name, [...(cpu.get(client.name) ?? []), value])
        versusGenerate.set(client.name, [...(versusGenerate.get(client.name) ?? []), value / perCall.get(oursGenerate.name)!])
        versusSdk.set(client.name, [...(versusSdk.get(client.name) ?? []), value / perCall.get(sdkStream.name)!])
      }
    }
    console.log(`\nconcurrency ${concurrency}`)
    console.log("client                      CPU us/call (median)   x ours generate   x SDK stream")
    for (const client of clients) {
      console.log(
        `${client.name.padEnd(27)} ${median(cpu.get(client.name)!).toFixed(1).padStart(20)}   ${
          median(versusGenerate.get(client.name)!).toFixed(2).padStart(15)
        }   ${median(versusSdk.get(client.name)!).toFixed(2).padStart(12)}`
      )
    }
    const toGenerate = median(versusGenerate.get(oursStream.name)!)
    const toSdk = median(versusSdk.get(oursStream.name)!)
    console.log(
      `goals: stream <= 1.2x generate: ${toGenerate.toFixed(2)}x ${toGenerate <= 1.2 ? "met" : "NOT met"}; ` +
        `stream <= 0.5x SDK stream: ${toSdk.toFixed(2)}x ${toSdk <= 0.5 ? "met" : "NOT met"}`
    )
  }
  await runtime.dispose()
  child.kill("SIGTERM")
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
