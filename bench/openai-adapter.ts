/**
 * Client CPU per call and calls/s of the OpenAI-protocol transport: raw `fetch`, the `openai`
 * SDK (maxRetries 0) and llm-connect's OpenAI adapter (Effect `HttpClient` on
 * `NodeHttpClient.layerUndici`), against a local mock with 0 ms latency, at 1 and 100 calls in
 * flight. The mock runs in a child process so that only the client's CPU is counted
 * (`process.cpuUsage()` deltas). Clients are interleaved within each repetition and the
 * figures are medians over repetitions; ratios are against the SDK measured in the same run.
 *
 *   node bench/openai-adapter.ts [--reps 7] [--calls 2000]
 */
import { NodeHttpClient } from "@effect/platform-node"
import { Effect, ManagedRuntime, Redacted } from "effect"
import * as LlmRequest from "../src/LlmRequest.ts"
import * as OpenAiLanguageModel from "../src/providers/openai/OpenAiLanguageModel.ts"
import { argument, median } from "./internal/stats.ts"
import { pool } from "./internal/load.ts"
import { startMockServer } from "./internal/mockServer.ts"
import { sdkChat } from "./internal/openAiSdk.ts"

const REPS = argument("reps", 7)
const CALLS = argument("calls", 2000)
const CONCURRENCIES = [1, 100]

interface Client {
  readonly name: string
  /** Runs `calls` calls, `concurrency` in flight; checks the reply once. */
  readonly run: (calls: number, concurrency: number) => Promise<void>
}

const main = async () => {
  const { origin, child } = await startMockServer("./openai-mock-server.ts")
  const baseUrl = `${origin}/v1`
  const body = { model: "gpt-4o-mini", messages: [{ role: "user" as const, content: "Name the longest river in Africa." }] }
  const expected = "The Nile is the longest river in Africa."
  const check = (content: unknown) => {
    if (content !== expected) throw new Error(`unexpected reply: ${String(content)}`)
  }

  const fetchClient: Client = {
    name: "raw fetch",
    run: (calls, concurrency) =>
      pool(calls, concurrency, async () => {
        const response = await fetch(`${baseUrl}/chat/completions`, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: "Bearer test" },
          body: JSON.stringify(body)
        })
        const json = (await response.json()) as { choices: Array<{ message: { content: string } }> }
        check(json.choices[0]!.message.content)
      })
  }

  const sdkClient: Client = { name: "openai SDK", run: sdkChat(baseUrl, body, check) }

  const runtime = ManagedRuntime.make(NodeHttpClient.layerUndici)
  const model = await runtime.runPromise(OpenAiLanguageModel.make({
    provider: "openai",
    baseUrl,
    apiKey: Redacted.make("test"),
    defaultModel: "gpt-4o-mini",
    maxTokensField: "max_completion_tokens"
  }))
  const request = LlmRequest.make(body.messages[0]!.content)
  const oursClient: Client = {
    name: "llm-connect adapter",
    run: (calls, concurrency) =>
      runtime.runPromise(
        Effect.forEach(
          Array.from({ length: calls }),
          () => Effect.map(model.generate(request), (response) => check(response.content)),
          { concurrency, discard: true }
        )
      )
  }

  const clients = [fetchClient, sdkClient, oursClient]
  console.log(`node ${process.version}, ${CALLS} calls per measurement, ${REPS} repetitions, mock in a child process`)
  for (const concurrency of CONCURRENCIES) {
    for (const client of clients) await client.run(Math.min(500, CALLS), concurrency) // warm-up
    const cpu = new Map<string, Array<number>>()
    const rate = new Map<string, Array<number>>()
    for (let rep = 0; rep < REPS; rep++) {
      for (const client of clients) {
        const startCpu = process.cpuUsage()
        const startTime = performance.now()
        await client.run(CALLS, concurrency)
        const elapsed = performance.now() - startTime
        const used = process.cpuUsage(startCpu)
        cpu.set(client.name, [...(cpu.get(client.name) ?? []), (used.user + used.system) / CALLS])
        rate.set(client.name, [...(rate.get(client.name) ?? []), CALLS / (elapsed / 1000)])
      }
    }
    const sdkCpu = median(cpu.get(sdkClient.name)!)
    console.log(`\nconcurrency ${concurrency}`)
    console.log("client                 CPU us/call   x SDK   calls/s")
    for (const client of clients) {
      const perCall = median(cpu.get(client.name)!)
      console.log(
        `${client.name.padEnd(22)} ${perCall.toFixed(1).padStart(11)}   ${(perCall / sdkCpu).toFixed(2).padStart(5)}   ${
          median(rate.get(client.name)!).toFixed(0).padStart(7)
        }`
      )
    }
  }
  await runtime.dispose()
  child.kill("SIGTERM")
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
