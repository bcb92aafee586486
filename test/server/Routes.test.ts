/**
 * Routing in serve: a model named `route:<taskType>` on the OpenAI-compatible door (official
 * `openai` client) and the Anthropic one, and the read-only `GET /v1/routes` and
 * `GET /v1/routes/explain`.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import OpenAI from "openai"
import type { LlmRequest } from "../../src/LlmRequest.ts"
import * as AgentLookup from "../../src/routing/AgentLookup.ts"
import * as Collective from "../../src/routing/Collective.ts"
import * as RouteDocuments from "../../src/routing/RouteDocuments.ts"
import { agent, makeFakes } from "../routing/support.ts"
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
        const models = yield* request(`${url}/v1/models`)
        assert.deepStrictEqual((models.json as { data: ReadonlyArray<{ id: string }> }).data.map((model) => model.id), ["alpha", "route:triage"])
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

  it.live("POST /v1/collective runs a proposal over the routed agents; a bad body or unknown task type is a 400", () => {
    const fakes = makeFakes()
    for (const provider of ["alpha", "beta"]) {
      fakes.answers.set(provider, (sent: LlmRequest) => ({
        content: sent.responseFormat !== undefined
          ? JSON.stringify({ recommendation: provider === "alpha" ? "ship" : "wait", rationale: "r", confidence: 0.5 })
          : `synthesis by ${provider}`,
        usage: { inputTokens: 10, outputTokens: 5 }
      }))
    }
    const agents = AgentLookup.layerFromList([agent("lead", { provider: "alpha" }), agent("second", { provider: "beta" })])
    const withAgents = `${yaml}  - { taskType: review, priority: 1, prefer: [{ agent: lead }, { agent: second }] }\n`
    return withServe({ providers: fakes.providers, yaml: withAgents }, ({ url }) =>
      Effect.gen(function*() {
        const reply = yield* post(`${url}/v1/collective`, { taskType: "review", prompt: "Ship?" })
        assert.strictEqual(reply.status, 200, reply.text)
        const document = Schema.decodeUnknownSync(Collective.ProposalDocument)(reply.json)
        assert.strictEqual(document.consensusStatus, "divergent")
        assert.deepStrictEqual(document.contributions.map((c) => c.recommendation), ["ship", "wait"])
        assert.strictEqual(document.finalContent, "synthesis by alpha")
        const bad = yield* post(`${url}/v1/collective`, { prompt: "no task type" })
        assert.strictEqual(bad.status, 400)
        const unknown = yield* post(`${url}/v1/collective`, { taskType: "nope", prompt: "x" })
        assert.strictEqual(unknown.status, 400)
        assert.strictEqual(fakes.received.length, 3)
      })).pipe(Effect.provide(agents))
  })

  it.live("a served workflow's taskType: step goes through the route (POST /v1/workflows/{name}/runs)", () => {
    const fakes = makeFakes()
    const withWorkflows = (dir: string) => {
      const folder = join(dir, "workflows")
      mkdirSync(folder, { recursive: true })
      writeFileSync(join(folder, "sort.yaml"), "name: sort\nsteps:\n  - { id: sort, prompt: \"sort it\", taskType: triage }\n")
      return `${yaml}serve:\n  workflows: ${folder}\n  runs:\n    journal: ${join(dir, "runs")}\n`
    }
    return withServe({ providers: fakes.providers, yaml: withWorkflows }, ({ url }) =>
      Effect.gen(function*() {
        const reply = yield* post(`${url}/v1/workflows/sort/runs?wait=10s`, { input: {} })
        assert.strictEqual(reply.status, 200, reply.text)
        const run = reply.json as { status: string; outputs: Record<string, unknown> }
        assert.strictEqual(run.status, "succeeded")
        assert.strictEqual(run.outputs.sort, "beta says hi")
        assert.deepStrictEqual(fakes.received.map((entry) => entry.provider), ["flaky", "beta"])
      }))
  })
})
