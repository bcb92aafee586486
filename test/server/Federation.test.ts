// The federation endpoints of serve on 127.0.0.1:0 over a SQLite store: agents CRUD, a delegation
// run on the configured stack (the mock provider), its record and provenance, and the errors.
import { assert, describe, it } from "@effect/vitest"
import { Effect, Redacted, Schema } from "effect"
import * as AgentRegistry from "../../src/federation/AgentRegistry.ts"
import * as FederationContract from "../../src/federation/FederationContract.ts"
import * as Governance from "../../src/federation/Governance.ts"
import * as VirtualKeys from "../../src/server/VirtualKeys.ts"
import * as SqlStore from "../../src/store/SqlStore.ts"
import { post, request, withServe } from "./support.ts"

const put = (url: string, body: unknown) =>
  request(url, { method: "PUT", body: JSON.stringify(body), headers: { "content-type": "application/json" } })

describe("serve: /v1/agents and /v1/delegations", () => {
  it.live("CRUD of agents, a delegation with its record and tree, and clear errors", () =>
    Effect.gen(function*() {
      const store = yield* SqlStore.make(":memory:")
      yield* withServe({ yaml: "ledger: false\nprovider: mock\n", federation: store }, ({ url }) =>
        Effect.gen(function*() {
          const created = yield* post(`${url}/v1/agents`, { slug: "lead", name: "Lead", provider: "mock", model: "mock-1" })
          assert.strictEqual(created.status, 201)
          assert.deepInclude(Schema.decodeUnknownSync(FederationContract.AgentDocument)(created.json), { slug: "lead", version: 1 })
          const helper = yield* post(`${url}/v1/agents`, {
            slug: "helper",
            name: "Helper",
            provider: "mock",
            model: "mock-1",
            systemPrompt: "you help",
            trustLevel: "elevated"
          })
          assert.strictEqual(helper.status, 201)
          const duplicate = yield* post(`${url}/v1/agents`, { slug: "lead", name: "Again", provider: "mock", model: "mock-1" })
          assert.strictEqual(duplicate.status, 400)
          assert.strictEqual((duplicate.json as { errorType: string }).errorType, "InvalidInput")
          const badTrust = yield* post(`${url}/v1/agents`, { slug: "x", name: "X", provider: "mock", model: "m", trustLevel: "root" })
          assert.strictEqual(badTrust.status, 400)
          const badBody = yield* post(`${url}/v1/agents`, { slug: "x" })
          assert.strictEqual(badBody.status, 400)

          const updated = yield* put(`${url}/v1/agents/helper`, { model: "mock-2" })
          assert.strictEqual(updated.status, 200)
          assert.deepInclude(updated.json as object, { model: "mock-2", version: 2 })
          assert.strictEqual((yield* request(`${url}/v1/agents/nobody`)).status, 404)
          assert.strictEqual((yield* put(`${url}/v1/agents/nobody`, { model: "x" })).status, 404)

          const delegated = yield* post(`${url}/v1/delegations`, { from: "lead", to: "helper", task: "find sources", tokenBudget: 2000 })
          assert.strictEqual(delegated.status, 201)
          const record = Schema.decodeUnknownSync(FederationContract.DelegationDocument)(delegated.json)
          assert.strictEqual(record.status, "completed")
          assert.isAbove(record.tokensUsed, 0)
          const child = yield* post(`${url}/v1/delegations`, { from: "helper", to: "lead", task: "back", tokenBudget: 100, parentId: record.id })
          assert.strictEqual(child.status, 400)
          assert.include((child.json as { error: string }).error, "cycle")
          const got = yield* request(`${url}/v1/delegations/${record.id}`)
          assert.deepStrictEqual(got.json, delegated.json)
          const tree = yield* request(`${url}/v1/delegations/${record.id}/tree`)
          const provenance = Schema.decodeUnknownSync(FederationContract.ProvenanceDocument)(tree.json)
          assert.deepStrictEqual([provenance.ancestors.length, provenance.tree.delegation.id, provenance.tree.children.length], [0, record.id, 0])
          assert.strictEqual((yield* request(`${url}/v1/delegations/dlg-none`)).status, 404)

          const off = yield* request(`${url}/v1/agents/helper`, { method: "DELETE" })
          assert.deepInclude(off.json as object, { active: false, version: 3 })
          const list = yield* request(`${url}/v1/agents`)
          const agents = Schema.decodeUnknownSync(FederationContract.AgentList)(list.json)
          assert.deepStrictEqual(agents.map((agent) => [agent.slug, agent.active]), [["helper", false], ["lead", true]])
          const inactive = yield* post(`${url}/v1/delegations`, { from: "lead", to: "helper", task: "t", tokenBudget: 100 })
          assert.strictEqual(inactive.status, 400)
          // governance: lead may not delegate in hub-1 (403, audited)
          yield* post(`${url}/v1/agents`, { slug: "other", name: "Other", provider: "mock", model: "mock-1" })
          const governance = yield* Governance.make(store)
          yield* governance.addPolicy({ scope: "hub-1", agent: "lead", artifactType: "*", allowedActions: ["read"] })
          const denied = yield* post(`${url}/v1/delegations`, { from: "lead", to: "other", scope: "hub-1", task: "t", tokenBudget: 100 })
          assert.strictEqual(denied.status, 403)
          assert.strictEqual((denied.json as { errorType: string }).errorType, "PolicyDenied")
          assert.strictEqual((yield* governance.audit(0)).total, 1)

          const spec = (yield* request(`${url}/openapi.json`)).json as { paths: Record<string, unknown> }
          assert.includeMembers(Object.keys(spec.paths), ["/v1/agents", "/v1/agents/{slug}", "/v1/delegations", "/v1/delegations/{id}/tree"])
        }))
    }).pipe(Effect.scoped), { timeout: 60_000 })
})

describe("serve: a delegation under a virtual key", () => {
  it.live("the key's budget is the delegation's parent: a budget larger than the key's still stops at the key's", () =>
    Effect.gen(function*() {
      const store = yield* SqlStore.make(":memory:")
      const keys = yield* VirtualKeys.make(store)
      const key = Redacted.value((yield* keys.create("team-a", { per: "total", maxTokens: 40 })).key)
      const registry = yield* AgentRegistry.make(store)
      yield* registry.add({ slug: "lead", name: "Lead", provider: "mock", model: "mock-1" })
      yield* registry.add({ slug: "helper", name: "Helper", provider: "mock", model: "mock-1" })
      yield* withServe({ yaml: "ledger: false\nprovider: mock\n", federation: store, keys }, ({ url }) =>
        Effect.gen(function*() {
          const as = { authorization: `Bearer ${key}` }
          assert.strictEqual((yield* post(`${url}/v1/delegations`, { from: "lead", to: "helper", task: "t", tokenBudget: 5_000 })).status, 401)
          const first = yield* post(`${url}/v1/delegations`, { from: "lead", to: "helper", task: "hi", tokenBudget: 5_000 }, as)
          assert.strictEqual(first.status, 201)
          const record = Schema.decodeUnknownSync(FederationContract.DelegationDocument)(first.json)
          // the key's 40 tokens, not the delegation's 5,000, bound what its calls may reserve
          assert.strictEqual(record.status, "completed")
          assert.isAtMost(record.tokensUsed, 40)
          // more delegations on the same key: what they all used stays within the key's 40 tokens,
          // and once nothing is left the next one fails on the key's budget
          const records = [record]
          for (let index = 0; index < 6 && records.at(-1)!.status === "completed"; index++) {
            const next = yield* post(`${url}/v1/delegations`, { from: "lead", to: "helper", task: `hi ${index}`, tokenBudget: 5_000 }, as)
            records.push(Schema.decodeUnknownSync(FederationContract.DelegationDocument)(next.json))
          }
          assert.strictEqual(records.at(-1)!.status, "failed")
          assert.include(records.at(-1)!.error ?? "", "BudgetExceeded")
          assert.isAtMost(records.reduce((sum, each) => sum + each.tokensUsed, 0), 40)
        }))
    }).pipe(Effect.scoped), { timeout: 60_000 })
})
