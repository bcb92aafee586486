/**
 * `llm-connect bridge`, spawned as its consumer spawns it (a child process, the request on
 * stdin, the answer read from stdout), against the mock provider and against fake
 * OpenAI-compatible servers on 127.0.0.1:0.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, type Scope } from "effect"
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import * as FakeHttpServer from "../../providers/FakeHttpServer.ts"
import { completionBody, ok } from "../../providers/openai/fakeOpenAi.ts"
import { bridgeOnce, consumerRequest, startBridge, tempDir } from "../bridgeChild.ts"
import { runCli } from "../runCli.ts"

const once = (input: string, options: Parameters<typeof bridgeOnce>[1] = {}) => Effect.promise(() => bridgeOnce(input, options))

const onlyDocument = (stdout: string): Record<string, unknown> => {
  const lines = stdout.split("\n").filter((line) => line !== "")
  assert.strictEqual(lines.length, 1, `exactly one document on stdout, got: ${stdout}`)
  return JSON.parse(lines[0]!) as Record<string, unknown>
}

const openAi = (origin: string) => ["--provider", "openai", "--base-url", `${origin}/v1`]

describe("llm-connect bridge (one request on stdin)", () => {
  it.live("the consumer's exact request: the five fields on stdout, exit 0, nothing else on stdout", () =>
    Effect.gen(function*() {
      const run = yield* once(consumerRequest())
      assert.strictEqual(run.code, 0, run.stderr)
      const answer = onlyDocument(run.stdout)
      assert.deepStrictEqual(Object.keys(answer).sort(), ["content", "finishReason", "model", "tokensIn", "tokensOut"])
      assert.include(answer.content as string, "Name a river")
      assert.strictEqual(answer.model, "mock-1")
      assert.strictEqual(answer.finishReason, "stop")
      assert.isTrue((answer.tokensIn as number) > 0 && (answer.tokensOut as number) > 0)
    }))

  it.live("bad input exits 2 with errorType InvalidInput: not JSON, no prompt, an unknown provider", () =>
    Effect.gen(function*() {
      const cases = [
        { input: "this is not json", says: "not JSON" },
        { input: consumerRequest({ prompt: null }), says: "missing prompt" },
        { input: consumerRequest({ provider: "nosuch" }), says: "unknown provider" },
        { input: consumerRequest({ maxTokens: "many" }), says: "maxTokens" }
      ]
      for (const testCase of cases) {
        const run = yield* once(testCase.input)
        assert.strictEqual(run.code, 2, `${testCase.input}: ${run.stderr}`)
        const answer = onlyDocument(run.stdout)
        assert.strictEqual(answer.errorType, "InvalidInput")
        assert.include(answer.error as string, testCase.says)
        assert.isFalse("id" in answer)
      }
    }))

  it.live("a missing key exits 2 naming all three places: the request's api_key, the variable, the key file", () =>
    Effect.gen(function*() {
      const run = yield* once(consumerRequest({ provider: "openai", model: "gpt-4o-mini" }))
      assert.strictEqual(run.code, 2)
      const answer = onlyDocument(run.stdout)
      assert.strictEqual(answer.errorType, "InvalidInput")
      assert.include(answer.error as string, "\"api_key\"")
      assert.include(answer.error as string, "OPENAI_API_KEY")
      assert.include(answer.error as string, "key file")
    }))

  it.live("the request's api_key goes to the provider (over the environment's) and never to stdout or stderr", () =>
    Effect.gen(function*() {
      const fake = yield* FakeHttpServer.start((request) => ok(request))
      const key = "bridge-request-key-0042"
      const run = yield* once(consumerRequest({ provider: null, model: "gpt-4o-mini", api_key: key }), {
        args: openAi(fake.origin),
        env: { OPENAI_API_KEY: "env-key-should-lose", LLM_CONNECT_LOG_LEVEL: "debug" }
      })
      assert.strictEqual(run.code, 0, run.stderr)
      assert.deepStrictEqual(onlyDocument(run.stdout), {
        content: "echo: Name a river",
        model: "gpt-4o-mini",
        tokensIn: 21,
        tokensOut: 7,
        finishReason: "stop"
      })
      assert.strictEqual(fake.requests[0]!.headers.authorization, `Bearer ${key}`)
      const body = fake.requests[0]!.body as { max_completion_tokens?: number; max_tokens?: number; temperature: number }
      assert.strictEqual(body.temperature, 0.3)
      assert.notInclude(run.stdout + run.stderr, key)
    }))

  it.live("the key from the environment when the request has none; the flags' provider when the request's is null", () =>
    Effect.gen(function*() {
      const fake = yield* FakeHttpServer.start((request) => ok(request))
      const run = yield* once(consumerRequest({ provider: null, model: null }), {
        args: [...openAi(fake.origin), "--model", "gpt-flag-model"],
        env: { OPENAI_API_KEY: "env-key-1234567" }
      })
      assert.strictEqual(run.code, 0, run.stderr)
      assert.strictEqual(onlyDocument(run.stdout).model, "gpt-flag-model")
      assert.strictEqual(fake.requests[0]!.headers.authorization, "Bearer env-key-1234567")
    }))

  it.live("a provider failure exits 1 with its reason and fields; a 401 that quotes the key leaks it nowhere", () =>
    Effect.gen(function*() {
      const key = "quoted-secret-key-7777"
      const fake = yield* FakeHttpServer.start((request) =>
        request.headers.authorization === `Bearer ${key}`
          ? { status: 401, body: { error: { message: `Incorrect API key provided: ${key}`, code: "invalid_api_key" } } }
          : { status: 429, headers: { "retry-after": "7" }, body: { error: { message: "slow down", type: "rate_limit" } } }
      )
      const refused = yield* once(consumerRequest({ provider: "openai", api_key: key }), {
        args: ["--base-url", `${fake.origin}/v1`, "--provider", "openai"],
        env: { LLM_CONNECT_LOG_LEVEL: "debug" }
      })
      assert.strictEqual(refused.code, 1)
      assert.strictEqual(onlyDocument(refused.stdout).errorType, "Authentication")
      assert.notInclude(refused.stdout + refused.stderr, key)

      const limited = yield* once(consumerRequest({ provider: "openai", api_key: "another-key-1234" }), {
        args: [...openAi(fake.origin), "--max-retries", "0"]
      })
      assert.strictEqual(limited.code, 1)
      const answer = onlyDocument(limited.stdout)
      assert.strictEqual(answer.errorType, "RateLimited")
      assert.strictEqual(answer.retryAfterMs, 7000)
    }))

  it.live("a timeout is a failure: exit 1, errorType Timeout", () =>
    Effect.gen(function*() {
      const fake = yield* FakeHttpServer.start(() => ({ hang: true }))
      const run = yield* once(consumerRequest({ provider: "openai", api_key: "timeout-key-1234" }), {
        args: [...openAi(fake.origin), "--timeout", "300ms", "--max-retries", "0"]
      })
      assert.strictEqual(run.code, 1, run.stderr)
      assert.strictEqual(onlyDocument(run.stdout).errorType, "Timeout")
    }))

  it.live("a request's budget refuses the call before it is sent: exit 1, BudgetExceeded with its dimension", () =>
    Effect.gen(function*() {
      const fake = yield* FakeHttpServer.start((request) => ok(request))
      const run = yield* once(consumerRequest({ provider: "openai", api_key: "budget-key-1234", budget: { totalTokens: 20 } }), {
        args: openAi(fake.origin)
      })
      assert.strictEqual(run.code, 1)
      const answer = onlyDocument(run.stdout)
      assert.strictEqual(answer.errorType, "BudgetExceeded")
      assert.strictEqual(answer.dimension, "totalTokens")
      assert.strictEqual(fake.requests.length, 0)
    }))

  it.live("every call is recorded in the usage ledger, as prompt records its calls", () =>
    Effect.gen(function*() {
      const cwd = tempDir()
      assert.strictEqual((yield* once(consumerRequest(), { cwd })).code, 0)
      assert.strictEqual((yield* once(consumerRequest({ budget: { totalTokens: 5 } }), { cwd })).code, 1)
      const usage = yield* runCli(["usage", "--json"], { cwd })
      assert.strictEqual(usage.exitCode, 0, usage.stderr)
      const totals = (JSON.parse(usage.stdout) as { totals: { calls: number; errors: number } }).totals
      assert.strictEqual(totals.calls, 2)
      assert.strictEqual(totals.errors, 1)
    }))
})

// A fake OpenAI-compatible server that holds every reply until the test releases it.
interface HeldServer {
  readonly origin: string
  /** Prompts in the order they arrived. */
  readonly arrivals: Array<string>
  readonly arrived: (count: number) => Promise<void>
  readonly release: (prompt: string) => void
  /** Prompts whose connection the client closed before its reply. */
  readonly abandoned: Array<string>
  readonly abandonedOne: Promise<void>
}

const heldServer = (): Effect.Effect<HeldServer, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(() =>
      new Promise<HeldServer & { readonly close: () => Promise<void> }>((resolve) => {
        const arrivals: Array<string> = []
        const abandoned: Array<string> = []
        const pending = new Map<string, () => void>()
        let waiters: Array<() => void> = []
        let onAbandon: () => void = () => undefined
        const abandonedOne = new Promise<void>((done) => (onAbandon = done))
        const server = createServer((request: IncomingMessage, response: ServerResponse) => {
          const chunks: Array<Buffer> = []
          request.on("data", (chunk: Buffer) => chunks.push(chunk))
          request.on("end", () => {
            const rawBody = Buffer.concat(chunks).toString("utf8")
            const recorded = { method: request.method ?? "", url: request.url ?? "", headers: {}, body: JSON.parse(rawBody) as unknown, rawBody }
            const prompt = (recorded.body as { messages: Array<{ content: string }> }).messages.at(-1)!.content
            let answered = false
            response.on("close", () => {
              if (!answered) {
                abandoned.push(prompt)
                onAbandon()
              }
            })
            pending.set(prompt, () => {
              answered = true
              response.writeHead(200, { "content-type": "application/json" })
              response.end(JSON.stringify(completionBody(recorded)))
            })
            arrivals.push(prompt)
            const woken = waiters
            waiters = []
            for (const wake of woken) wake()
          })
        })
        server.listen(0, "127.0.0.1", () => {
          const { port } = server.address() as AddressInfo
          const arrived = (count: number): Promise<void> =>
            arrivals.length >= count
              ? Promise.resolve()
              : new Promise<void>((wake) => waiters.push(() => void arrived(count).then(wake)))
          resolve({
            origin: `http://127.0.0.1:${port}`,
            arrivals,
            arrived,
            release: (prompt) => pending.get(prompt)!(),
            abandoned,
            abandonedOne,
            close: () =>
              new Promise<void>((closed) => {
                server.closeAllConnections()
                server.close(() => closed())
              })
          })
        })
      })
    ),
    (server) => Effect.promise(() => server.close())
  )

const compatible = (origin: string) => ["--provider", "openai-compatible", "--base-url", `${origin}/v1`, "--max-retries", "0"]
const line = (id: unknown, prompt: string) => `${JSON.stringify({ id, provider: null, model: "m", systemPrompt: null, prompt, maxTokens: 50, temperature: null })}\n`

describe("llm-connect bridge --jsonl", () => {
  it.live("one answer per line with its id; a bad line gets id null and the bridge goes on; EOF exits 0", () =>
    Effect.gen(function*() {
      const child = startBridge(["--jsonl"], tempDir())
      child.write(`${consumerRequest({ id: 1 })}\nnot json at all\n\n${consumerRequest({ id: "two", prompt: "Name a sea" })}\n`)
      child.write(`${JSON.stringify({ id: 3, provider: "mock", prompt: null })}\n${consumerRequest({ id: 4, provider: "nosuch" })}`)
      child.end()
      const code = yield* Effect.promise(() => child.exited)
      assert.strictEqual(code, 0, child.stderr())
      const answers = child.answers()
      assert.strictEqual(answers.length, 5)
      const byId = new Map(answers.map((answer) => [answer.id, answer]))
      assert.include(byId.get(1)!.content as string, "Name a river")
      assert.include(byId.get("two")!.content as string, "Name a sea")
      assert.strictEqual(byId.get(null)!.errorType, "InvalidInput")
      assert.include(byId.get(null)!.error as string, "not JSON")
      assert.strictEqual(byId.get(3)!.errorType, "InvalidInput")
      assert.strictEqual(byId.get(4)!.errorType, "InvalidInput")
    }))

  it.live("a line over the size limit is refused unread (id null) and the next line is answered", () =>
    Effect.gen(function*() {
      const child = startBridge(["--jsonl", "--max-request-bytes", "1000"], tempDir())
      child.write(`${consumerRequest({ id: "big", prompt: "x".repeat(200_000) })}\n${consumerRequest({ id: "small" })}\n`)
      child.end()
      assert.strictEqual(yield* Effect.promise(() => child.exited), 0)
      const answers = child.answers()
      assert.strictEqual(answers.length, 2)
      assert.deepStrictEqual(answers.map((answer) => answer.id), [null, "small"])
      assert.strictEqual(answers[0]!.errorType, "InvalidInput")
      assert.strictEqual(answers[0]!.setting, "maxRequestBytes")
    }))

  it.live("answers as they finish, at most --concurrency at once (reading pauses), and EOF drains what is in flight", () =>
    Effect.gen(function*() {
      const server = yield* heldServer()
      const child = startBridge(["--jsonl", "--concurrency", "2", ...compatible(server.origin)], tempDir())
      child.write(line("a", "first") + line("b", "second") + line("c", "third"))
      child.end()
      yield* Effect.promise(() => server.arrived(2))
      assert.deepStrictEqual([...server.arrivals].sort(), ["first", "second"])
      // The later request finishes first and is answered first.
      const [held, released] = server.arrivals as [string, string]
      server.release(released)
      const firstAnswer = yield* Effect.promise(() => child.waitForAnswer(() => true))
      assert.strictEqual(firstAnswer.content, `echo: ${released}`)
      // The third is sent only once a permit is free.
      yield* Effect.promise(() => server.arrived(3))
      assert.strictEqual(server.arrivals[2], "third")
      server.release("third")
      server.release(held)
      assert.strictEqual(yield* Effect.promise(() => child.exited), 0, child.stderr())
      const answers = child.answers()
      assert.strictEqual(answers.length, 3)
      assert.deepStrictEqual(new Set(answers.map((answer) => answer.id)), new Set(["a", "b", "c"]))
      assert.strictEqual(answers[0]!.content, `echo: ${released}`)
    }))

  it.live("SIGTERM interrupts the calls in flight: each is answered Interrupted with its id, the provider call is aborted, the ledger has it, exit 130", () =>
    Effect.gen(function*() {
      const server = yield* heldServer()
      const cwd = tempDir()
      const child = startBridge(["--jsonl", ...compatible(server.origin)], cwd)
      child.write(line(41, "held"))
      yield* Effect.promise(() => server.arrived(1))
      child.signal("SIGTERM")
      assert.strictEqual(yield* Effect.promise(() => child.exited), 130)
      yield* Effect.promise(() => server.abandonedOne)
      assert.deepStrictEqual(server.abandoned, ["held"])
      const answers = child.answers()
      assert.strictEqual(answers.length, 1)
      assert.strictEqual(answers[0]!.id, 41)
      assert.strictEqual(answers[0]!.errorType, "Interrupted")
      const usage = yield* runCli(["usage", "--json"], { cwd })
      assert.strictEqual((JSON.parse(usage.stdout) as { totals: { calls: number } }).totals.calls, 1)
    }))

  it.live("without --jsonl, SIGTERM during the call prints the Interrupted answer and aborts the provider call (exit 130)", () =>
    Effect.gen(function*() {
      const server = yield* heldServer()
      const child = startBridge(compatible(server.origin), tempDir())
      child.write(consumerRequest({ provider: null, prompt: "held alone" }))
      child.end()
      yield* Effect.promise(() => server.arrived(1))
      child.signal("SIGTERM")
      assert.strictEqual(yield* Effect.promise(() => child.exited), 130)
      yield* Effect.promise(() => server.abandonedOne)
      const answers = child.answers()
      assert.strictEqual(answers.length, 1)
      assert.strictEqual(answers[0]!.errorType, "Interrupted")
      assert.isFalse("id" in answers[0]!)
    }))
})
