import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Option, Stream } from "effect"
import * as LanguageModel from "../../src/LanguageModel.ts"
import * as LlmError from "../../src/LlmError.ts"
import * as LlmRequest from "../../src/LlmRequest.ts"
import * as Fallback from "../../src/resilience/Fallback.ts"
import * as AgentLookup from "../../src/routing/AgentLookup.ts"
import * as Router from "../../src/routing/Router.ts"
import * as RoutingStack from "../../src/routing/RoutingStack.ts"
import { agent, emptyEnv, loadYaml, makeFakes, routedStack } from "./support.ts"

const base = [
  "provider: alpha",
  "retry: { maxRetries: 0 }",
  "circuitBreaker: { failures: 1, cooldown: 10m }",
  "prices:",
  "  alpha/*: { inputPerMillion: 100, outputPerMillion: 200 }", // $0.1 / $0.2 per 1k
  "  beta/*: { inputPerMillion: 100, outputPerMillion: 1000 }", // output $1 per 1k
  "  keyed/*: { inputPerMillion: 1, outputPerMillion: 1 }",
  "  flaky/*: { inputPerMillion: 1, outputPerMillion: 1 }"
]

const triage = [
  ...base,
  "routes:",
  "  - taskType: triage",
  "    priority: 10",
  "    maxCostPer1k: 0.5",
  "    prefer:",
  "      - { provider: beta, model: beta-big }",
  "      - { provider: gamma, model: gamma-x }",
  "      - { agent: ghost }",
  "      - { agent: retired }",
  "      - { provider: keyed, model: keyed-1 }",
  "      - { provider: alpha, model: alpha-small }",
  "  - taskType: triage",
  "    priority: 20",
  "    active: false",
  "    prefer: [{ provider: beta, model: never-used }]",
  "  - taskType: triage",
  "    priority: 5",
  "    agent: helper",
  "  - taskType: \"*\"",
  "    priority: 0",
  "    prefer: [{ provider: gamma, model: gamma-default }]"
].join("\n")

const agents = [agent("retired", { active: false }), agent("helper", { provider: "beta", model: "beta-helper", systemPrompt: "You help." })]

const request = (taskType: string, prompt = "route me") =>
  LlmRequest.make({ prompt, metadata: { taskType } })

describe("Router selection and explain", () => {
  it.effect("skips each candidate with its reason code, in order, and chooses the first that fits", () => {
    const fakes = makeFakes()
    return Effect.gen(function*() {
      const trail = yield* Router.explain("triage")
      assert.deepStrictEqual(trail.chosen, { provider: "alpha", model: "alpha-small" })
      assert.deepStrictEqual(trail.skipped.map((skip) => [skip.provider, skip.model, skip.agent, skip.reason]), [
        ["beta", "beta-big", undefined, "over-max-cost"],
        ["gamma", "gamma-x", undefined, "unpriced"],
        [undefined, undefined, "ghost", "agent-unknown"],
        ["alpha", "alpha-agent", "retired", "agent-inactive"],
        ["keyed", "keyed-1", undefined, "no-key"]
      ])
      assert.include(trail.skipped[0]!.detail, "maxCostPer1k 0.5")
      assert.include(trail.skipped[4]!.detail, "keyed")
      // The whole evaluation: the fits after the chosen one form the fallback chain (the lower-priority agent).
      const evaluation = yield* Router.Router.use((router) => router.evaluate("triage"))
      assert.deepStrictEqual(evaluation.fits.map((fit) => fit.choice), [
        { provider: "alpha", model: "alpha-small" },
        { provider: "beta", model: "beta-helper", agent: "helper" }
      ])
      // Nothing was called to decide.
      assert.strictEqual(fakes.received.length, 0)
    }).pipe(Effect.provide(routedStack(fakes, triage, agents)))
  })

  it.effect("a call routed by metadata.taskType goes to the chosen candidate; an unknown task type takes the default route", () => {
    const fakes = makeFakes()
    return Effect.gen(function*() {
      const router = yield* Router.Router
      const response = yield* router.model.generate(request("triage"))
      assert.strictEqual(response.content, "alpha says hi")
      assert.strictEqual(response.model, "alpha-small")
      const other = yield* router.model.generate(request("anything-else"))
      assert.strictEqual(other.content, "gamma says hi")
      assert.deepStrictEqual(fakes.received.map((entry) => [entry.provider, entry.model]), [["alpha", "alpha-small"], ["gamma", "gamma-default"]])
      const trail = yield* router.explain("anything-else")
      assert.deepStrictEqual(trail.chosen, { provider: "gamma", model: "gamma-default" })
    }).pipe(Effect.provide(routedStack(fakes, triage, agents)))
  })

  it.effect("an agent candidate calls its model with its system prompt first and the agent tag", () => {
    const fakes = makeFakes()
    const yaml = [...base, "routes:", "  - { taskType: help, priority: 1, agent: helper }"].join("\n")
    return Effect.gen(function*() {
      const router = yield* Router.Router
      yield* router.model.generate(LlmRequest.make({ prompt: "hi", system: "Be brief.", metadata: { taskType: "help" } }))
      assert.deepStrictEqual(fakes.received.map((entry) => [entry.provider, entry.model, entry.system, entry.tags?.agent]), [
        ["beta", "beta-helper", "You help.\n\nBe brief.", "helper"]
      ])
    }).pipe(Effect.provide(routedStack(fakes, yaml, agents)))
  })

  it.effect("governance: an agent the lookup may not let propose fails PolicyDenied before its model is called", () => {
    const fakes = makeFakes()
    const yaml = [...base, "routes:", "  - { taskType: help, priority: 1, agent: helper }"].join("\n")
    const asked: Array<[string, string]> = []
    const lookup = Layer.succeed(AgentLookup.AgentLookup, {
      find: (slug) => Effect.succeed(Option.fromNullishOr(agents.find((candidate) => candidate.slug === slug))),
      mayPropose: (scope, slug) =>
        Effect.suspend(() => {
          asked.push([scope, slug])
          return Effect.fail(LlmError.make("governance", new LlmError.PolicyDenied({ description: `${slug} may not propose in ${scope}` })))
        })
    })
    return Effect.gen(function*() {
      const router = yield* Router.Router
      const error = yield* Effect.flip(router.model.generate(LlmRequest.make({ prompt: "hi", metadata: { taskType: "help", tags: { [Router.SCOPE_TAG]: "hub-1" } } })))
      assert.strictEqual(error.reason._tag, "PolicyDenied")
      assert.deepStrictEqual(asked, [["hub-1", "helper"]])
      assert.deepStrictEqual(fakes.received, [])
    }).pipe(Effect.provide(Layer.unwrap(
      Effect.gen(function*() {
        const resolved = yield* loadYaml(yaml)
        return yield* RoutingStack.fromConfig(resolved).pipe(Effect.provide(lookup))
      })
    ).pipe(Layer.provide(Layer.mergeAll(fakes.registry, NodeServices.layer, emptyEnv)))))
  })

  it.effect("a retryable failure moves the call to the next candidate; the open circuit is then skipped as circuit-open", () => {
    const fakes = makeFakes()
    const yaml = [
      ...base,
      "routes:",
      "  - taskType: triage",
      "    priority: 1",
      "    prefer: [{ provider: flaky, model: flaky-1 }, { provider: alpha, model: alpha-small }]"
    ].join("\n")
    return Effect.gen(function*() {
      const router = yield* Router.Router
      const before = yield* router.explain("triage")
      assert.deepStrictEqual(before.chosen, { provider: "flaky", model: "flaky-1" })
      const first = yield* router.model.generate(request("triage"))
      assert.strictEqual(first.content, "alpha says hi")
      assert.deepStrictEqual(Fallback.servedBy(first)?.failed, [{ candidate: "flaky/flaky-1", reason: "ServerError" }])
      const after = yield* router.explain("triage")
      assert.deepStrictEqual(after.chosen, { provider: "alpha", model: "alpha-small" })
      assert.deepStrictEqual(after.skipped.map((skip) => [skip.provider, skip.reason]), [["flaky", "circuit-open"]])
      yield* router.model.generate(request("triage"))
      // The open circuit kept the second call away from flaky.
      assert.strictEqual(fakes.count("flaky"), 1)
      assert.strictEqual(fakes.count("alpha"), 2)
    }).pipe(Effect.provide(routedStack(fakes, yaml)))
  })

  it.effect("a routed stream falls back past a failing candidate before anything was emitted", () => {
    const fakes = makeFakes()
    const yaml = [
      ...base,
      "routes:",
      "  - { taskType: t, priority: 1, prefer: [{ provider: flaky, model: flaky-1 }, { provider: alpha, model: alpha-small }] }"
    ].join("\n")
    return Effect.gen(function*() {
      const router = yield* Router.Router
      const parts = yield* Stream.runCollect(router.model.stream(request("t")))
      const text = parts.map((part) => part.type === "text-delta" ? part.text : "").join("")
      assert.strictEqual(text, "alpha says hi")
      assert.deepStrictEqual(fakes.received.map((entry) => entry.provider), ["flaky", "alpha"])
    }).pipe(Effect.provide(routedStack(fakes, yaml)))
  })

  it.effect("nothing fits: chosen null, and a call fails with Unavailable naming the skips, sending nothing", () => {
    const fakes = makeFakes()
    const yaml = [...base, "routes:", "  - { taskType: t, priority: 1, maxCostPer1k: 0.01, prefer: [{ provider: beta, model: b }] }"].join("\n")
    return Effect.gen(function*() {
      const router = yield* Router.Router
      const trail = yield* router.explain("t")
      assert.isNull(trail.chosen)
      assert.strictEqual(trail.skipped[0]?.reason, "over-max-cost")
      const error = yield* Effect.flip(router.model.generate(request("t")))
      assert.strictEqual(error.reason._tag, "Unavailable")
      assert.include(error.message, "beta/b over-max-cost")
      assert.strictEqual(fakes.received.length, 0)
    }).pipe(Effect.provide(routedStack(fakes, yaml)))
  })

  it.effect("an unknown task type with no default route is a Configuration error naming the known task types", () => {
    const fakes = makeFakes()
    const yaml = [...base, "routes:", "  - { taskType: triage, priority: 1, prefer: [{ provider: alpha, model: a }] }"].join("\n")
    return Effect.gen(function*() {
      const error = yield* Effect.flip(Router.explain("summarise"))
      assert.strictEqual(error.reason._tag, "Configuration")
      assert.include(error.message, "summarise")
      assert.include(error.message, "\"triage\"")
    }).pipe(Effect.provide(routedStack(fakes, yaml)))
  })

  it.effect("scopes: a scope's own rule first, else the default scope's", () => {
    const fakes = makeFakes()
    const yaml = [
      ...base,
      "routes:",
      "  - { taskType: t, priority: 1, prefer: [{ provider: alpha, model: a-default }] }",
      "  - { taskType: t, priority: 1, scope: hub-1, prefer: [{ provider: beta, model: b-hub }] }"
    ].join("\n")
    return Effect.gen(function*() {
      assert.deepStrictEqual((yield* Router.explain("t", "hub-1")).chosen, { provider: "beta", model: "b-hub" })
      assert.deepStrictEqual((yield* Router.explain("t", "hub-2")).chosen, { provider: "alpha", model: "a-default" })
      const response = yield* LanguageModel.generate(Router.forTask(request("t"), "t", "hub-1")).pipe(
        Effect.provide(Router.layerLanguageModel)
      )
      assert.strictEqual(response.content, "beta says hi")
    }).pipe(Effect.provide(routedStack(fakes, yaml)))
  })
})

describe("routes: validation", () => {
  const refused = (lines: ReadonlyArray<string>) =>
    Effect.flip(loadYaml([...base, "routes:", ...lines].join("\n"))).pipe(Effect.provide(Layer.mergeAll(NodeServices.layer, emptyEnv)))

  it.effect("a duplicate (scope, taskType, priority) names both rules", () =>
    Effect.gen(function*() {
      const error = yield* refused([
        "  - { taskType: t, priority: 1, prefer: [{ provider: alpha, model: a }] }",
        "  - { taskType: t, priority: 1, agent: x }"
      ])
      assert.strictEqual(error.reason._tag, "Configuration")
      assert.include(error.message, "routes rules 1 and 2")
      assert.include(error.message, "priority 1")
    }))

  it.effect("the same priority in another scope is fine", () =>
    Effect.gen(function*() {
      const resolved = yield* loadYaml([
        ...base,
        "routes:",
        "  - { taskType: t, priority: 1, prefer: [{ provider: alpha, model: a }] }",
        "  - { taskType: t, priority: 1, scope: other, agent: x }"
      ].join("\n"))
      assert.deepStrictEqual(resolved.config.routes.map((route) => [route.scope, route.candidates]), [
        ["default", [{ _tag: "Model", provider: "alpha", model: "a" }]],
        ["other", [{ _tag: "Agent", agent: "x" }]]
      ])
    }).pipe(Effect.provide(Layer.mergeAll(NodeServices.layer, emptyEnv))))

  it.effect("a rule with both agent and prefer, or neither, is refused with the fix", () =>
    Effect.gen(function*() {
      const both = yield* refused(["  - { taskType: t, priority: 1, agent: x, prefer: [{ provider: alpha, model: a }] }"])
      assert.include(both.message, "names both agent: and prefer:")
      const neither = yield* refused(["  - { taskType: t, priority: 1 }"])
      assert.include(neither.message, "names no candidate")
    }))

  it.effect("a bad candidate, priority or limit is refused by the schema", () =>
    Effect.gen(function*() {
      for (
        const line of [
          "  - { taskType: t, priority: 1, prefer: [{ provider: alpha }] }",
          "  - { taskType: t, priority: 1.5, agent: x }",
          "  - { taskType: t, priority: 1, agent: x, maxCostPer1k: -1 }",
          "  - { taskType: \"\", priority: 1, agent: x }",
          "  - { taskType: t, priority: 1, agent: x, colour: blue }"
        ]
      ) {
        const error = yield* refused([line])
        assert.strictEqual(error.reason._tag, "Configuration", line)
        assert.include(error.message, "routes", line)
      }
    }))

  it.effect("a rule naming an unregistered provider is refused when the stack is built", () => {
    const fakes = makeFakes()
    return Effect.gen(function*() {
      const resolved = yield* loadYaml([...base, "routes:", "  - { taskType: t, priority: 1, prefer: [{ provider: nope, model: a }] }"].join("\n"))
      const error = yield* Effect.flip(RoutingStack.fromConfig(resolved))
      assert.strictEqual(error.reason._tag, "Configuration")
      assert.include(error.message, "\"nope\"")
    }).pipe(Effect.provide(Layer.mergeAll(fakes.registry, NodeServices.layer, emptyEnv)))
  })
})
