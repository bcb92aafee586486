/**
 * Another source tree's stack in the same process, for an A/B interleaved in one run
 * (`bench/stack-http.ts --ab <tree>`): the tree's own `src/` and its own copy of effect (from its
 * `node_modules`, e.g. `git worktree add --detach /tmp/base <commit>` with node_modules linked in),
 * in a runtime of its own, so that its variants run in the same rounds, against the same mock and
 * in the same process as this tree's.
 */
import { join, resolve } from "node:path"
import { pathToFileURL } from "node:url"
import type * as LanguageModel from "../../src/LanguageModel.ts"
import type * as ProviderRegistry from "../../src/ProviderRegistry.ts"
import type * as Stack from "../../src/Stack.ts"

/** A variant's stack (`undefined`: the bare provider). */
export type StackOptions = Omit<Stack.StackConfig, "provider"> | undefined

/** The tree's models and a runner of their calls. */
export interface OtherTree {
  readonly model: (provider: ProviderRegistry.CreateOptions, options: StackOptions) => Promise<LanguageModel.Service>
  readonly run: (model: LanguageModel.Service, calls: number, concurrency: number) => Promise<void>
  readonly dispose: () => Promise<void>
}

export const loadTree = async (dir: string, prompt: { readonly system: string; readonly user: string }): Promise<OtherTree> => {
  const root = resolve(dir)
  const load = (path: string): Promise<unknown> => import(pathToFileURL(join(root, path)).href)
  const effect = (await load("node_modules/effect/dist/index.js")) as typeof import("effect")
  const StackOf = (await load("src/Stack.ts")) as typeof import("../../src/Stack.ts")
  const NodeProvidersOf = (await load("src/node/NodeProviders.ts")) as typeof import("../../src/node/NodeProviders.ts")
  const RegistryOf = (await load("src/ProviderRegistry.ts")) as typeof import("../../src/ProviderRegistry.ts")
  const RequestOf = (await load("src/LlmRequest.ts")) as typeof import("../../src/LlmRequest.ts")
  const { Effect, ManagedRuntime, Scope, Exit } = effect
  const runtime = ManagedRuntime.make(NodeProvidersOf.layer)
  const scope = await runtime.runPromise(Scope.make())
  const request = RequestOf.make({ system: prompt.system, messages: [{ role: "user", content: prompt.user }] })
  return {
    model: (provider, options) =>
      runtime.runPromise(
        (options === undefined
          ? RegistryOf.create(provider)
          : Effect.map(StackOf.make({ provider, ...options }), (factory) => factory.model)).pipe(
            Effect.provideService(Scope.Scope, scope),
            Effect.orDie
          )
      ),
    run: (model, calls, concurrency) =>
      runtime.runPromise(Effect.forEach(Array.from({ length: calls }), () => model.generate(request), { concurrency, discard: true })),
    dispose: async () => {
      await runtime.runPromise(Scope.close(scope, Exit.void))
      await runtime.dispose()
    }
  }
}
