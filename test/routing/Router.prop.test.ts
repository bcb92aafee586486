/**
 * Selection as a property: for any list of candidates (random prices, keys, circuits, agents),
 * the chosen candidate is the first that fits, and every candidate before it is skipped with the
 * first reason that applies, in the documented order (agent-unknown, agent-inactive, unpriced /
 * over-max-cost, no-key, circuit-open).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Schema } from "effect"
import * as LanguageModel from "../../src/LanguageModel.ts"
import * as ModelFactory from "../../src/ModelFactory.ts"
import * as PriceTable from "../../src/pricing/PriceTable.ts"
import * as AgentLookup from "../../src/routing/AgentLookup.ts"
import * as Router from "../../src/routing/Router.ts"
import type * as RoutesConfig from "../../src/routing/RoutesConfig.ts"
import { agent } from "./support.ts"

const Candidate = Schema.Struct({
  kind: Schema.Literals(["model", "agent-active", "agent-inactive", "agent-unknown"]),
  // per 1k tokens, in thousandths of a dollar; absent: unpriced
  inputMilli: Schema.optionalKey(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 20 }))),
  outputMilli: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 20 })),
  key: Schema.Boolean,
  circuit: Schema.Literals(["Closed", "Open", "HalfOpen"])
})

const Scenario = Schema.Struct({
  candidates: Schema.Array(Candidate).check(Schema.isMinLength(1), Schema.isMaxLength(8)),
  maxMilli: Schema.optionalKey(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 20 }))),
  allowUnpriced: Schema.Boolean
})

type Candidate = typeof Candidate.Type

describe("Router selection (property)", () => {
  it.effect.prop("the first candidate that fits is chosen; each one before it is skipped with its first reason", [Scenario], ([scenario]) =>
    Effect.gen(function*() {
      const providerOf = (index: number) => `p${index}`
      const prices: Record<string, { readonly inputPerMillion: number; readonly outputPerMillion: number }> = {}
      const profiles: Array<AgentLookup.AgentProfile> = []
      const candidates: Array<RoutesConfig.Candidate> = scenario.candidates.map((candidate, index) => {
        if (candidate.inputMilli !== undefined) {
          prices[`${providerOf(index)}/m`] = { inputPerMillion: candidate.inputMilli, outputPerMillion: candidate.outputMilli }
        }
        if (candidate.kind === "model") return { _tag: "Model", provider: providerOf(index), model: "m" }
        if (candidate.kind !== "agent-unknown") {
          profiles.push(agent(`a${index}`, { provider: providerOf(index), model: "m", active: candidate.kind === "agent-active" }))
        }
        return { _tag: "Agent", agent: `a${index}` }
      })
      const byProvider = new Map(scenario.candidates.map((candidate, index) => [providerOf(index), candidate]))
      const unused = LanguageModel.make({ provider: "unused", defaultModel: "unused", generate: () => Effect.die("not called") })
      const factory: ModelFactory.Service = {
        model: unused,
        forProvider: () => Effect.succeed(unused),
        budget: undefined,
        availability: (target) =>
          Effect.succeed({ key: byProvider.get(target.provider)!.key, circuit: byProvider.get(target.provider)!.circuit })
      }
      const route: RoutesConfig.Route = {
        taskType: "t",
        priority: 1,
        scope: "default",
        candidates,
        maxCostPer1k: scenario.maxMilli === undefined ? undefined : scenario.maxMilli / 1000,
        allowUnpriced: scenario.allowUnpriced,
        active: true
      }
      const router = yield* Router.make([route], { prices: PriceTable.make(prices) }).pipe(
        Effect.provide(Layer.merge(Layer.succeed(ModelFactory.ModelFactory, factory), AgentLookup.layerFromList(profiles)))
      )
      const explanation = yield* router.explain("t")

      // The reference: the documented order of checks.
      const reasonOf = (candidate: Candidate): Router.SkipReason | undefined => {
        if (candidate.kind === "agent-unknown") return "agent-unknown"
        if (candidate.kind === "agent-inactive") return "agent-inactive"
        if (scenario.maxMilli !== undefined) {
          if (candidate.inputMilli === undefined) {
            if (!scenario.allowUnpriced) return "unpriced"
          } else if (candidate.inputMilli > scenario.maxMilli || candidate.outputMilli > scenario.maxMilli) {
            return "over-max-cost"
          }
        }
        if (!candidate.key) return "no-key"
        if (candidate.circuit !== "Closed") return "circuit-open"
        return undefined
      }
      const reasons = scenario.candidates.map(reasonOf)
      const first = reasons.findIndex((reason) => reason === undefined)
      const expectedSkipped = (first === -1 ? reasons : reasons.slice(0, first)) as ReadonlyArray<Router.SkipReason>
      assert.deepStrictEqual(explanation.skipped.map((skip) => skip.reason), expectedSkipped)
      if (first === -1) assert.isNull(explanation.chosen)
      else {
        assert.strictEqual(explanation.chosen?.provider, providerOf(first))
        assert.strictEqual(explanation.chosen?.agent, scenario.candidates[first]!.kind === "agent-active" ? `a${first}` : undefined)
      }
    }))
})
