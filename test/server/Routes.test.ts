/**
 * Routing in serve: a model named `route:<taskType>` on the OpenAI-compatible door (official
 * `openai` client) and the Anthropic one, and the read-only `GET /v1/routes` and
 * `GET /v1/routes/explain`.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import OpenAI from "openai"
import * as RouteDocuments from "../../src/routing/RouteDocuments.ts"
import { makeFakes } from "../routing/support.ts"
import { post, request, withServe } from "./support.ts"

const yaml = [
  "ledger: false",
  "provider: alpha",
  "retry: { maxRetries: 0 }",
  "routes:",
  "  - taskType: triage",
  "    priority: 1",
  "    prefer: [{ provider: flaky, model: flaky-1 }, { provider: beta, model: beta-x }]",
  ""
].join("\n")

describe("serve: route:<taskType> models and /v1/routes", () => {
  it.live("the openai client's model route:triage goes through the route, falling back past a failing candidate", () => {
    const fakes = makeFakes()
    return withServe({ providers: fakes.providers, yaml }, ({ url }) =>
      Effect.gen(function*() {
        const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: "unused", maxRetries: 0 })
        const completion = yield* Effect.promise(() =>
          client.chat.completions.create({ model: "route:triage", messages: [{ role: "user", content: "sort ticket 7" }] })
        )
        assert.strictEqual(completion.choices[0]?.message.content, "beta says hi")
        assert.strictEqual(completion.model, "beta-x")
        assert.deepStrictEqual(fakes.received.map((entry) => [entry.provider, entry.model]), [["flaky", "flaky-1"], ["beta", "beta-x"]])
        const unknown = yield* Effect.promise(() =>
          client.chat.completions.create({ model: "route:nope", messages: [{ role: "user", content: "x" }] }).then(() => undefined, (error: unknown) => error)
        )
        assert.instanceOf(unknown, OpenAI.BadRequestError)
        assert.include((unknown as Error).message, "no route for task type \"nope\"")
        assert.strictEqual(fakes.received.length, 2)
      }))
  })

  it.live("the Anthropic door routes route:triage too", () => {
    const fakes = makeFakes()
    return withServe({ providers: fakes.providers, yaml }, ({ url }) =>
      Effect.gen(function*() {
        const reply = yield* post(`${url}/v1/messages`, { model: "route:triage", max_tokens: 50, messages: [{ role: "user", content: "hi" }] })
        assert.strictEqual(reply.status, 200, reply.text)
        const body = reply.json as { content: ReadonlyArray<{ text: string }> }
        assert.strictEqual(body.content[0]?.text, "beta says hi")
      }))
  })

  it.live("GET /v1/routes lists the rules; GET /v1/routes/explain gives the decision, 400 for an unknown task type", () => {
    const fakes = makeFakes()
    return withServe({ providers: fakes.providers, yaml }, ({ url }) =>
      Effect.gen(function*() {
        const listed = yield* request(`${url}/v1/routes`)
        assert.strictEqual(listed.status, 200)
        const routes = Schema.decodeUnknownSync(RouteDocuments.RoutesDocument)(listed.json)
        assert.deepStrictEqual(routes[0]?.prefer, [{ provider: "flaky", model: "flaky-1" }, { provider: "beta", model: "beta-x" }])
        const explained = yield* request(`${url}/v1/routes/explain?taskType=triage`)
        assert.strictEqual(explained.status, 200)
        const document = Schema.decodeUnknownSync(RouteDocuments.ExplanationDocument)(explained.json)
        assert.deepStrictEqual(document.chosen, { provider: "flaky", model: "flaky-1" })
        const unknown = yield* request(`${url}/v1/routes/explain?taskType=nope`)
        assert.strictEqual(unknown.status, 400)
        assert.strictEqual((unknown.json as { errorType: string }).errorType, "InvalidInput")
        const missing = yield* request(`${url}/v1/routes/explain`)
        assert.strictEqual(missing.status, 400)
        // Deciding calls nothing.
        assert.strictEqual(fakes.received.length, 0)
      }))
  })
})
