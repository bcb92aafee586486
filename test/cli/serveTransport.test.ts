/**
 * `llm-connect serve` over an HTTP provider, on each of its transports (ADR 0059): the lean
 * `node:http` client (the default) and Effect's undici client (`LLM_CONNECT_SERVE_TRANSPORT=undici`).
 * A chat completion and a streamed one through the process, against a fake OpenAI server; the
 * calls share the provider connection, and the order of the headers on the wire says which client sent them.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as FakeOpenAi from "../providers/openai/FakeOpenAiServer.ts"
import { completionBody } from "../providers/openai/fakeOpenAi.ts"
import { post, request } from "../server/support.ts"
import * as ChildCli from "./childCli.ts"

const throughServe = (env: Record<string, string>) =>
  Effect.scoped(Effect.gen(function*() {
    const upstream = yield* FakeOpenAi.start((recorded) =>
      (recorded.body as { stream?: boolean }).stream === true
        ? FakeOpenAi.sse(FakeOpenAi.textStream({ texts: ["Hel", "lo"] }))
        : { _tag: "Json", body: completionBody(recorded as never) }
    )
    const dir = ChildCli.workspace({})
    const child = ChildCli.start(
      ["serve", "--port", "0", "--provider", "openai-compatible", "--base-url", `${upstream.origin}/v1`, "--model", "gpt-4o-mini", "--no-ledger"],
      dir,
      env
    )
    yield* Effect.addFinalizer(() => Effect.promise(() => {
      process.kill(child.pid, "SIGTERM")
      return child.exited
    }))
    const url = yield* ChildCli.listeningUrl(child)
    const messages = [{ role: "user", content: "Name a river" }]
    const chat = yield* post(`${url}/v1/chat/completions`, { model: "gpt-4o-mini", messages })
    assert.strictEqual(chat.status, 200)
    assert.strictEqual((chat.json as { choices: Array<{ message: { content: string } }> }).choices[0]!.message.content, "echo: Name a river")
    const streamed = yield* request(`${url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "gpt-4o-mini", messages, stream: true })
    })
    assert.strictEqual(streamed.status, 200)
    const contents = streamed.text.split("\n").filter((line) => line.startsWith("data: {"))
      .map((line) => (JSON.parse(line.slice(6)) as { choices: Array<{ delta: { content?: string } }> }).choices[0]?.delta.content ?? "")
    assert.strictEqual(contents.join(""), "Hello")
    assert.isTrue(streamed.text.trimEnd().endsWith("data: [DONE]"))
    // Which client sent the calls: node:http writes the request's own headers before `host`, undici `host` first.
    return { connections: yield* upstream.connections, firstHeaders: upstream.requests.map((recorded) => Object.keys(recorded.headers)[0]) }
  }))

describe("llm-connect serve's provider transport", () => {
  it.live("the default (lean node:http) and undici both answer chat and streamed chat, on one provider connection", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* throughServe({}), { connections: 1, firstHeaders: ["accept", "accept"] })
      assert.deepStrictEqual(yield* throughServe({ LLM_CONNECT_SERVE_TRANSPORT: "undici" }), { connections: 1, firstHeaders: ["host", "host"] })
    }), 60_000)
})
