// Fake providers for the routing tests: plugins that record every request they receive (so a
// test can count what each provider was sent) and answer from a script, and the routed stack of
// a YAML configuration over them (no network, no key from the developer's environment).
import { NodeServices } from "@effect/platform-node"
import { ConfigProvider, Effect, FileSystem, Layer, Path } from "effect"
import * as LlmConnectConfig from "../../src/LlmConnectConfig.ts"
import * as LlmError from "../../src/LlmError.ts"
import type { LlmRequest } from "../../src/LlmRequest.ts"
import * as NodeProviders from "../../src/node/NodeProviders.ts"
import * as ProviderRegistry from "../../src/ProviderRegistry.ts"
import * as AgentLookup from "../../src/routing/AgentLookup.ts"
import * as RoutingStack from "../../src/routing/RoutingStack.ts"

export interface Received {
  readonly provider: string
  readonly model: string | undefined
  readonly system: string | undefined
  readonly tags: Readonly<Record<string, string>> | undefined
  readonly prompt: string
}

export type Answer = (request: LlmRequest) => ProviderRegistry.PluginResponse

export interface Fakes {
  readonly received: Array<Received>
  readonly count: (provider: string) => number
  /** Answers of a provider, replaced by a test (default: `<provider> says hi`). */
  readonly answers: Map<string, Answer>
  readonly registry: Layer.Layer<ProviderRegistry.ProviderRegistry>
  /** The fake providers themselves (for a registry built elsewhere, e.g. serve's). */
  readonly providers: ReadonlyArray<ProviderRegistry.Provider>
  /**
   * Provider `held` answers only once this many of its requests are waiting together (then all
   * of them); 1 (the default) answers each at once. Proves calls were in flight concurrently.
   */
  readonly holdUntil: (count: number) => void
  /** Answers every held request now (and each later one at once). */
  readonly release: () => void
}

export const serverError = (provider: string) =>
  LlmError.make(provider, new LlmError.ServerError({ description: "the fake is down", status: 503 }))

const textOf = (request: LlmRequest): string =>
  request.messages.map((message) => typeof message.content === "string" ? message.content : "").join("\n")

/** Fake providers `alpha`, `beta`, `gamma`, `flaky` (always 503) and `keyed` (needs KEYED_API_KEY). */
export const makeFakes = (): Fakes => {
  const received: Array<Received> = []
  const answers = new Map<string, Answer>()
  const plugin = (name: string, extra: Partial<ProviderRegistry.PluginInfo> = {}) =>
    ProviderRegistry.fromSync({ name, defaultModel: `${name}-1`, ...extra }, (request) => {
      received.push({ provider: name, model: request.model, system: request.system, tags: request.metadata?.tags, prompt: textOf(request) })
      if (name === "flaky") throw serverError(name)
      const answer = answers.get(name)
      return answer !== undefined
        ? answer(request)
        : { content: `${name} says hi`, usage: { inputTokens: 10, outputTokens: 5 } }
    })
  // `held`: a Promise plugin whose answers wait until `threshold` requests are waiting.
  let threshold = 1
  let waiting: Array<() => void> = []
  const held = ProviderRegistry.fromPromise({ name: "held", defaultModel: "held-1" }, (request) =>
    new Promise<ProviderRegistry.PluginResponse>((resolve) => {
      received.push({ provider: "held", model: request.model, system: request.system, tags: request.metadata?.tags, prompt: textOf(request) })
      const answer = answers.get("held")
      waiting.push(() => resolve(answer !== undefined ? answer(request) : { content: "held says hi", usage: { inputTokens: 10, outputTokens: 5 } }))
      if (waiting.length >= threshold) {
        const all = waiting
        waiting = []
        threshold = 1
        for (const release of all) release()
      }
    }))
  const plugins = [
    held,
    plugin("alpha"),
    plugin("beta"),
    plugin("gamma"),
    plugin("flaky"),
    plugin("keyed", { keyEnv: ["KEYED_API_KEY"], requiresKey: true })
  ]
  const registry = Layer.effect(
    ProviderRegistry.ProviderRegistry,
    Effect.gen(function*() {
      const builtins = yield* ProviderRegistry.ProviderRegistry
      for (const provider of plugins) yield* builtins.register(provider)
      return builtins
    })
  ).pipe(Layer.provide(NodeProviders.layer))
  return {
    received,
    answers,
    count: (provider) => received.filter((entry) => entry.provider === provider).length,
    registry,
    providers: plugins,
    holdUntil: (count) => {
      threshold = count
    },
    release: () => {
      threshold = 1
      const all = waiting
      waiting = []
      for (const done of all) done()
    }
  }
}

/** Loads a configuration from YAML in a temp directory, with an empty environment. */
export const loadYaml = (yaml: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const dir = yield* Effect.orDie(fs.makeTempDirectoryScoped({ prefix: "llmc-routes-" }))
    yield* Effect.orDie(fs.writeFileString(path.join(dir, "llm-connect.yaml"), yaml))
    return yield* LlmConnectConfig.load({ cwd: dir })
  })

export const emptyEnv = ConfigProvider.layer(ConfigProvider.fromUnknown({ HOME: "/nonexistent-home-for-tests" }))

export const agent = (slug: string, overrides: Partial<AgentLookup.AgentProfile> = {}): AgentLookup.AgentProfile => ({
  slug,
  name: slug,
  provider: "alpha",
  model: "alpha-agent",
  systemPrompt: `You are ${slug}.`,
  trustLevel: "advisory",
  capabilities: [],
  active: true,
  version: 1,
  ...overrides
})

/**
 * The routed stack (Router + configured LanguageModel + ModelFactory) of a YAML configuration
 * over the fakes, with the given agents.
 */
export const routedStack = (fakes: Fakes, yaml: string, agents: ReadonlyArray<AgentLookup.AgentProfile> = []) =>
  Layer.unwrap(
    Effect.gen(function*() {
      const resolved = yield* loadYaml(yaml)
      return yield* RoutingStack.fromConfig(resolved).pipe(Effect.provide(AgentLookup.layerFromList(agents)))
    })
  ).pipe(Layer.provide(Layer.mergeAll(fakes.registry, NodeServices.layer, emptyEnv)))
