/**
 * The Promise client, used as a program without Effect uses it: `createClient` with the YAML
 * configuration's shape, then Promises, async iteration and `AbortSignal`s, against the mock
 * provider and a fake OpenAI server on 127.0.0.1 (it sees the socket close when a call is
 * aborted or a stream is left).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as UsageLedger from "../../src/observability/UsageLedger.ts"
import type * as Client from "../../src/client/Client.ts"
import { createClient, LlmConnectError } from "../../src/index.ts"
import * as Workflow from "../../src/workflow/Workflow.ts"
import { awaitGone, isAlive } from "../providers/claude-code/ClaudeCodeHarness.ts"
import * as Fake from "../providers/openai/FakeOpenAiServer.ts"
import { completionBody } from "../providers/openai/fakeOpenAi.ts"

type FakeServer = Fake.FakeServer

/** Runs `body` with a fake OpenAI server, closed afterwards. */
const withServer = (handler: Fake.Handler, body: (fake: FakeServer) => Promise<void>): Promise<void> =>
  Effect.runPromise(Effect.scoped(Effect.flatMap(Fake.start(handler), (fake) => Effect.promise(() => body(fake)))))

const ok = (request: Fake.Recorded): Fake.Reply => ({ _tag: "Json", status: 200, body: completionBody(request as never) })

/** A client on the fake server: no retries (a failure is seen at once), no ledger. */
const openAi = (fake: FakeServer, extra: Record<string, unknown> = {}): Client.Client =>
  createClient({
    provider: "openai",
    model: "gpt-4o-mini",
    providers: { openai: { apiKey: "sk-test-client", baseUrl: `${fake.origin}/v1` } },
    retry: { maxRetries: 0 },
    ledger: false,
    ...extra
  } as Client.Options)

/** The rejection of a promise, which must be an `LlmConnectError`. */
const rejection = async (promise: Promise<unknown>): Promise<LlmConnectError> => {
  try {
    await promise
  } catch (error) {
    assert.instanceOf(error, LlmConnectError)
    assert.instanceOf(error, Error)
    return error as LlmConnectError
  }
  return assert.fail("expected the call to reject")
}

const thrown = (f: () => unknown): LlmConnectError => {
  try {
    f()
  } catch (error) {
    assert.instanceOf(error, LlmConnectError)
    return error as LlmConnectError
  }
  return assert.fail("expected a throw")
}

const waitFor = (effect: Effect.Effect<unknown>) => Effect.runPromise(Effect.timeout(effect, "20 seconds"))



describe("createClient", () => {
  it("throws a Configuration LlmConnectError synchronously for a bad option, with the CLI's message naming the option", () => {
    const error = thrown(() => createClient({ provider: "mock", budget: { costUsd: -1 } }))
    assert.strictEqual(error.reason, "Configuration")
    assert.strictEqual(error.setting, "budget.costUsd")
    assert.include(error.message, "invalid budget.costUsd = -1 (from the option budget.costUsd): expected a number of USD greater than 0")
    assert.include(error.fix, "{ budget: { costUsd: 0.50 } }")
    assert.isFalse(error.retryable)
  })

  it("refuses an unknown option with the list of known ones, a wrong type, and a non-object", () => {
    const unknown = thrown(() => createClient({ provder: "mock" } as never))
    assert.include(unknown.message, "unknown setting \"provder\"")
    assert.include(unknown.fix, "provider, model")
    const wrongType = thrown(() => createClient({ retry: { maxRetries: "x" } } as never))
    assert.strictEqual(wrongType.setting, "retry.maxRetries")
    assert.include(wrongType.fix, "{ retry: { maxRetries: 2 } }")
    const notObject = thrown(() => createClient("mock" as never))
    assert.strictEqual(notObject.setting, "options")
  })

  it("refuses an unknown provider and a missing key before any call (keys come from the environment or key files only)", () => {
    const unknown = thrown(() => createClient({ provider: "nope" }))
    assert.strictEqual(unknown.setting, "provider")
    assert.include(unknown.message, "unknown provider \"nope\"")
    const saved = { key: process.env.OPENAI_API_KEY, dir: process.env.LLM_CONNECT_KEY_DIR }
    delete process.env.OPENAI_API_KEY
    process.env.LLM_CONNECT_KEY_DIR = join(import.meta.dirname, "no-such-key-dir")
    try {
      const missing = thrown(() => createClient({ provider: "openai" }))
      assert.strictEqual(missing.setting, "providers.openai.apiKey")
      assert.include(missing.message, "OPENAI_API_KEY")
      process.env.OPENAI_API_KEY = "sk-from-env"
      assert.isFunction(createClient({ provider: "openai" }).generate)
    } finally {
      if (saved.key === undefined) delete process.env.OPENAI_API_KEY
      else process.env.OPENAI_API_KEY = saved.key
      if (saved.dir === undefined) delete process.env.LLM_CONNECT_KEY_DIR
      else process.env.LLM_CONNECT_KEY_DIR = saved.dir
    }
  })

  it("reads no LLM_CONNECT_* variable: only its options", async () => {
    process.env.LLM_CONNECT_PROVIDER = "nope"
    try {
      const llm = createClient({})
      const reply = await llm.generate("hi")
      assert.strictEqual(reply.provider, "mock")
      await llm.close()
    } finally {
      delete process.env.LLM_CONNECT_PROVIDER
    }
  })
})

describe("Client", () => {
  it("generate: a plain response, with the configured defaults (system, maxTokens) and per-call settings", () =>
    withServer(ok, async (fake) => {
      const llm = openAi(fake, { system: "Be terse.", maxTokens: 64 })
      const reply = await llm.generate("Name three rivers")
      assert.strictEqual(reply.content, "echo: Name three rivers")
      assert.strictEqual(reply.usage.totalTokens, 28)
      const sent = fake.requests[0]!.body as { messages: Array<{ role: string; content: string }>; max_tokens?: number; max_completion_tokens?: number }
      assert.deepStrictEqual(sent.messages[0], { role: "system", content: "Be terse." })
      assert.strictEqual(sent.max_completion_tokens ?? sent.max_tokens, 64)
      await llm.generate({ prompt: "again" }, { temperature: 0.2, maxTokens: 10 })
      const second = fake.requests[1]!.body as { temperature: number; max_tokens?: number; max_completion_tokens?: number }
      assert.strictEqual(second.temperature, 0.2)
      assert.strictEqual(second.max_completion_tokens ?? second.max_tokens, 10)
      // The key is sent, never shown.
      assert.strictEqual(fake.requests[0]!.headers.authorization, "Bearer sk-test-client")
      await llm.close()
    }))

  it("stream: parts in order, the finish part last, usage counted", () =>
    withServer(() => Fake.sse(Fake.textStream({ texts: ["Once ", "upon ", "a time"] })), async (fake) => {
      const llm = openAi(fake)
      let text = ""
      let finish: unknown
      for await (const part of llm.stream("Tell a story")) {
        if (part.type === "text-delta") text += part.text
        if (part.type === "finish") finish = part.response.content
      }
      assert.strictEqual(text, "Once upon a time")
      assert.strictEqual(finish, "Once upon a time")
      assert.strictEqual((await llm.usage()).totalTokens, 28)
      await llm.close()
    }))

  it("stream: break cancels the call (the server sees the socket close) and settles the budget", () =>
    withServer(
      () => Fake.sse(Fake.textStream({ texts: Array.from({ length: 200 }, (_, i) => `w${i} `) }), { pauseMs: 20 }),
      async (fake) => {
        const llm = openAi(fake, { budget: { totalTokens: 100_000 } })
        let seen = 0
        for await (const part of llm.stream("Tell a long story")) {
          if (part.type === "text-delta") seen++
          if (seen === 3) break
        }
        assert.strictEqual(seen, 3)
        await waitFor(fake.abandoned)
        const usage = await llm.usage()
        assert.strictEqual(usage.budget?.openReservations, 0)
        assert.strictEqual(usage.budget?.reserved.totalTokens, 0)
        assert.isBelow(await Effect.runPromise(fake.chunksWritten), 200)
        await llm.close()
      }
    ))

  it("stream: a throw in the loop cancels the call too, and the error is the loop's", () =>
    withServer(
      () => Fake.sse(Fake.textStream({ texts: Array.from({ length: 200 }, (_, i) => `w${i} `) }), { pauseMs: 20 }),
      async (fake) => {
        const llm = openAi(fake)
        const mine = new Error("stop reading")
        let caught: unknown
        try {
          for await (const part of llm.stream("Tell a long story")) {
            if (part.type === "text-delta") throw mine
          }
        } catch (error) {
          caught = error
        }
        assert.strictEqual(caught, mine)
        await waitFor(fake.abandoned)
        await llm.close()
      }
    ))

  it("abort mid-call: the server sees the socket close, the reservation is settled, the call rejects Interrupted with the signal's reason", () =>
    withServer(() => ({ _tag: "Hang" }), async (fake) => {
      const llm = openAi(fake, { budget: { totalTokens: 100_000 } })
      const controller = new AbortController()
      const call = llm.generate("a long answer please", { signal: controller.signal })
      await waitFor(fake.nextRequest)
      const held = await llm.usage()
      assert.strictEqual(held.budget?.openReservations, 1)
      const why = new Error("user pressed stop")
      controller.abort(why)
      const error = await rejection(call)
      assert.strictEqual(error.reason, "Interrupted")
      assert.strictEqual(error.cause, why)
      await waitFor(fake.abandoned)
      const after = await llm.usage()
      assert.strictEqual(after.budget?.openReservations, 0)
      assert.strictEqual(after.budget?.reserved.totalTokens, 0)
      assert.strictEqual(fake.requests.length, 1)
      await llm.close()
    }))

  it("abort mid-call on Claude Code: the subprocess is stopped", async () => {
    const dir = mkdtempSync(join(tmpdir(), "llmc-client-claude-"))
    try {
      const binary = join(dir, "claude")
      const pidFile = join(dir, "pid")
      // A claude that says nothing and never ends (its pid is the sleep's, through exec).
      writeFileSync(binary, "#!/bin/sh\necho $$ > \"$CLAUDE_FAKE_PID\"\nexec sleep 120\n")
      chmodSync(binary, 0o755)
      const llm = createClient({
        provider: "claude-code",
        ledger: false,
        retry: { maxRetries: 0 },
        providers: { "claude-code": { options: { binaryPath: binary, env: { CLAUDE_FAKE_PID: pidFile } } } }
      })
      const controller = new AbortController()
      const call = llm.generate("a long task", { signal: controller.signal })
      const pid = await Effect.runPromise(Effect.gen(function*() {
        for (let waited = 0; waited < 20_000; waited += 50) {
          const text = existsSync(pidFile) ? readFileSync(pidFile, "utf8").trim() : ""
          if (text !== "") return Number(text)
          yield* Effect.sleep("50 millis")
        }
        return yield* Effect.die(new Error("the fake claude never started"))
      }))
      assert.isTrue(isAlive(pid))
      controller.abort("stop")
      const error = await rejection(call)
      assert.strictEqual(error.reason, "Interrupted")
      assert.isTrue(await Effect.runPromise(awaitGone(pid)), `the claude process ${pid} is still running`)
      await llm.close()
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it("abort mid-stream rejects the pending next() with Interrupted and closes the socket; an already aborted signal sends nothing", () =>
    withServer(
      () => Fake.sse(Fake.textStream({ texts: Array.from({ length: 200 }, (_, i) => `w${i} `) }), { pauseMs: 50 }),
      async (fake) => {
        const llm = openAi(fake)
        const controller = new AbortController()
        const iterator = llm.stream("story", { signal: controller.signal })[Symbol.asyncIterator]()
        const first = await iterator.next()
        assert.isFalse(first.done)
        controller.abort("enough")
        const error = await rejection(iterator.next())
        assert.strictEqual(error.reason, "Interrupted")
        assert.strictEqual(error.cause, "enough")
        await waitFor(fake.abandoned)

        const before = fake.requests.length
        const early = await rejection(llm.generate("never sent", { signal: controller.signal }))
        assert.strictEqual(early.reason, "Interrupted")
        assert.strictEqual(fake.requests.length, before)
        await llm.close()
      }
    ))

  it("every failure is an LlmConnectError with the reason's tag and fields: Authentication, RateLimited, ServerError, InvalidRequest, NotFound", () =>
    withServer(ok, async (fake) => {
      const llm = openAi(fake)
      const cases: ReadonlyArray<readonly [Fake.Reply, string, Partial<Record<keyof LlmConnectError, unknown>>]> = [
        [Fake.apiError(401, "bad key"), "Authentication", { status: 401, retryable: false }],
        [Fake.apiError(429, "slow down", {}, { "retry-after": "7" }), "RateLimited", { status: 429, retryable: true, retryAfterMs: 7000 }],
        [Fake.apiError(500, "oops"), "ServerError", { status: 500, retryable: true }],
        [Fake.apiError(400, "bad param", { param: "temperature" }), "InvalidRequest", { status: 400, retryable: false }],
        [Fake.apiError(404, "no such model"), "NotFound", { status: 404 }]
      ]
      for (const [reply, reason, fields] of cases) {
        fake.setHandler(() => reply)
        const error = await rejection(llm.generate("hi"))
        assert.strictEqual(error.reason, reason, error.message)
        assert.strictEqual(error.provider, "openai")
        for (const [key, value] of Object.entries(fields)) assert.strictEqual(error[key as keyof LlmConnectError], value, `${reason}.${key}`)
        assert.notInclude(error.message, "sk-test-client")
        assert.notInclude(JSON.stringify(error), "sk-test-client")
      }
      await llm.close()
    }))

  it("a budget refusal is BudgetExceeded with its dimension, limit and figures; nothing is sent", () =>
    withServer(ok, async (fake) => {
      const llm = openAi(fake, { budget: { inputTokens: 5 } })
      const error = await rejection(llm.generate("a prompt that is certainly longer than five tokens of input"))
      assert.strictEqual(error.reason, "BudgetExceeded")
      assert.strictEqual(error.dimension, "inputTokens")
      assert.strictEqual(error.limit, 5)
      assert.isAbove(error.requested!, 5)
      assert.strictEqual(fake.requests.length, 0)
      await llm.close()
    }))

  it("the mock's faults map too: Timeout, Network, ResponseMalformed, Unavailable", async () => {
    const llm = createClient({ provider: "mock", mock: { faults: ["timeout", "network", "malformed", "503"] }, retry: { maxRetries: 0 }, ledger: false })
    const reasons: Array<string> = []
    for (let i = 0; i < 4; i++) reasons.push((await rejection(llm.generate("hi"))).reason)
    assert.deepStrictEqual(reasons, ["Timeout", "Network", "ResponseMalformed", "Unavailable"])
    assert.strictEqual((await llm.generate("hi")).provider, "mock")
    await llm.close()
  })

  it("generate(prompt, { budget }) runs under a per-call child budget; the client's budget counts it too", () =>
    withServer(ok, async (fake) => {
      const llm = openAi(fake, { budget: { totalTokens: 100_000 } })
      const refused = await rejection(llm.generate("hello", { budget: { inputTokens: 2 } }))
      assert.strictEqual(refused.reason, "BudgetExceeded")
      assert.strictEqual(refused.dimension, "inputTokens")
      assert.strictEqual(fake.requests.length, 0)
      await llm.generate("hello", { budget: { totalTokens: 5_000 } })
      const usage = await llm.usage()
      assert.strictEqual(usage.totalTokens, 28)
      assert.strictEqual(usage.budget?.remaining.totalTokens, 100_000 - 28)
      // A bad per-call budget rejects, naming the limit.
      const bad = await rejection(llm.generate("hello", { budget: { totalTokens: -3 } }))
      assert.strictEqual(bad.reason, "Configuration")
      assert.strictEqual(bad.setting, "budget.totalTokens")
      await llm.close()
    }))

  it("child({ budget }): a sub-agent's budget inside the client's (BudgetTracker.delegate); a bad one throws at once", () =>
    withServer(ok, async (fake) => {
      const llm = openAi(fake, { budget: { totalTokens: 100_000 } })
      const agent = llm.child({ budget: { totalTokens: 60 }, label: "researcher" })
      await agent.generate("one")
      await agent.generate("two")
      const third = await rejection(agent.generate("three"))
      assert.strictEqual(third.reason, "BudgetExceeded")
      assert.strictEqual(third.dimension, "totalTokens")
      const child = await agent.usage()
      assert.strictEqual(child.totalTokens, 56)
      assert.deepStrictEqual(child.budget?.limits, { totalTokens: 60 })
      const parent = await llm.usage()
      assert.strictEqual(parent.totalTokens, 56)
      assert.strictEqual(fake.requests.length, 2)
      const bad = thrown(() => llm.child({ budget: {} }))
      assert.strictEqual(bad.reason, "Configuration")
      await llm.close()
    }))

  it("a client without a budget: usage() sums the calls that returned through it", async () => {
    const llm = createClient({ provider: "mock", ledger: false })
    const first = await llm.generate("one")
    const second = await llm.generate("two")
    const usage = await llm.usage()
    assert.strictEqual(usage.totalTokens, first.usage.totalTokens + second.usage.totalTokens)
    assert.isUndefined(usage.budget)
    await llm.close()
  })

  it("withOptions: other request settings for every call of the derived client, the same stack", () =>
    withServer(ok, async (fake) => {
      const llm = openAi(fake, { system: "base" })
      const french = llm.withOptions({ system: "Answer in French.", temperature: 0 })
      await french.generate("hi")
      await llm.generate("hi")
      const [a, b] = fake.requests.map((request) => request.body as { messages: Array<{ content: string }>; temperature?: number })
      assert.strictEqual(a!.messages[0]!.content, "Answer in French.")
      assert.strictEqual(a!.temperature, 0)
      assert.strictEqual(b!.messages[0]!.content, "base")
      await french.close()
      // Closing a derived client closes the one it came from.
      assert.strictEqual((await rejection(llm.generate("hi"))).reason, "Configuration")
    }))

  it("generateObject with an Effect Schema (typed) and with a JSON Schema object; an answer that never decodes is InvalidOutput", async () => {
    const llm = createClient({ provider: "mock", mock: { reply: "{\"city\":\"Paris\",\"population\":2100000}" }, ledger: false })
    const City = Schema.Struct({ city: Schema.String, population: Schema.Int })
    const typed = await llm.generateObject({ prompt: "Largest city of France?", schema: City })
    const city: string = typed.object.city
    assert.strictEqual(city, "Paris")
    const plain = await llm.generateObject<{ city: string }>({
      prompt: "Largest city of France?",
      schema: { type: "object", properties: { city: { type: "string" } }, required: ["city"] }
    })
    assert.strictEqual(plain.object.city, "Paris")
    const wrong = await rejection(llm.generateObject({ prompt: "?", schema: Schema.Struct({ country: Schema.String }), repairAttempts: 0 }))
    assert.strictEqual(wrong.reason, "InvalidOutput")
    assert.isArray(wrong.issues)
    const notSchema = await rejection(llm.generateObject({ prompt: "?", schema: 3 as never }))
    assert.strictEqual(notSchema.reason, "InvalidRequest")
    await llm.close()
  })

  it("runWorkflow: a YAML file and a Workflow built in code; a bad timeout and a step failure reject as LlmConnectError", async () => {
    const llm = createClient({ provider: "mock", ledger: false })
    const demo = join(import.meta.dirname, "..", "..", "examples", "workflows", "demo.yaml")
    const run = await llm.runWorkflow(demo, { topic: "rivers" }, { timeout: "30s" })
    assert.strictEqual(run.state, "completed")
    assert.sameMembers(Object.keys(run.outputs), ["outline", "draft_plain", "draft_vivid"])
    assert.isAbove(run.usage.totalTokens, 0)
    const coded = Workflow.make("greet", { name: Schema.String }).prompt("hello", ({ input }) => `Say hello to ${input.name}`)
    const result = await llm.runWorkflow(coded, { name: "Ada" })
    assert.include(result.outputs.hello, "Ada")
    const badTimeout = await rejection(llm.runWorkflow(demo, {}, { timeout: "soon" }))
    assert.strictEqual(badTimeout.reason, "InvalidRequest")
    assert.strictEqual(badTimeout.parameter, "timeout")
    const missing = await rejection(llm.runWorkflow(join(import.meta.dirname, "missing.yaml"), {}))
    assert.strictEqual(missing.reason.slice(0, 8), "Workflow")
    await llm.close()

    const failing = createClient({ provider: "mock", mock: { faults: ["auth"] }, retry: { maxRetries: 0 }, ledger: false })
    const stepFailed = await rejection(failing.runWorkflow(coded, { name: "Ada" }))
    assert.strictEqual(stepFailed.reason, "Authentication")
    assert.strictEqual(stepFailed.workflow, "greet")
    assert.strictEqual(stepFailed.step, "hello")
    await failing.close()
  })

  it("close() flushes the usage ledger: every call of the client is in the file afterwards", async () => {
    const dir = mkdtempSync(join(tmpdir(), "llmc-client-ledger-"))
    try {
      const path = join(dir, "usage.db")
      const llm = createClient({ provider: "mock", ledger: { path } })
      await llm.generate("one")
      await llm.generate("two")
      for await (const _ of llm.stream("three")) { /* read to the end */ }
      await llm.close()
      const entries = await Effect.runPromise(Effect.scoped(Effect.flatMap(UsageLedger.makeSqlite(path), (ledger) => ledger.entries())))
      assert.strictEqual(entries.length, 3)
      assert.deepStrictEqual(entries.map((entry) => entry.provider), ["mock", "mock", "mock"])
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it("close(): a call in flight is interrupted (its socket closes), later calls and streams reject clearly, close is idempotent", () =>
    withServer(() => ({ _tag: "Hang" }), async (fake) => {
      const llm = openAi(fake)
      const pending = llm.generate("never answered")
      await waitFor(fake.nextRequest)
      const closing = llm.close()
      const inFlight = await rejection(pending)
      assert.strictEqual(inFlight.reason, "Interrupted")
      await closing
      await waitFor(fake.abandoned)
      const later = await rejection(llm.generate("hi"))
      assert.strictEqual(later.reason, "Configuration")
      assert.strictEqual(later.setting, "client")
      assert.include(later.message, "closed")
      const streamed = await rejection(llm.stream("hi")[Symbol.asyncIterator]().next())
      assert.strictEqual(streamed.setting, "client")
      assert.strictEqual(llm.close(), closing)
      assert.strictEqual(fake.requests.length, 1)
    }))

  it("close() ends a stream that is being read: its connection closes, its next() rejects as closed", () =>
    withServer(
      () => Fake.sse(Fake.textStream({ texts: Array.from({ length: 200 }, (_, i) => `w${i} `) }), { pauseMs: 50 }),
      async (fake) => {
        const llm = openAi(fake)
        const iterator = llm.stream("story")[Symbol.asyncIterator]()
        assert.isFalse((await iterator.next()).done)
        await llm.close()
        await waitFor(fake.abandoned)
        const after = await rejection(iterator.next())
        assert.strictEqual(after.setting, "client")
      }
    ))
})
