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

/** A tree's modules (its own copy of effect and its `src/`), a runtime with its Node providers and a scope. */
export interface TreeModules {
  readonly effect: typeof import("effect")
  readonly Stack: typeof import("../../src/Stack.ts")
  readonly ProviderRegistry: typeof import("../../src/ProviderRegistry.ts")
  readonly LlmRequest: typeof import("../../src/LlmRequest.ts")
  readonly runtime: import("effect").ManagedRuntime.ManagedRuntime<import("../../src/ProviderRegistry.ts").ProviderRegistry, never>
  readonly scope: import("effect").Scope.Closeable
  /** Closes the scope, then the runtime. */
  readonly dispose: () => Promise<void>
}

/** Loads the tree at `dir` (also `bench/streaming-ab.ts`). */
export const loadModules = async (dir: string): Promise<TreeModules> => {
  const root = resolve(dir)
  const load = (path: string): Promise<unknown> => import(pathToFileURL(join(root, path)).href)
  const effect = (await load("node_modules/effect/dist/index.js")) as typeof import("effect")
  const Stack = (await load("src/Stack.ts")) as typeof import("../../src/Stack.ts")
  const NodeProviders = (await load("src/node/NodeProviders.ts")) as typeof import("../../src/node/NodeProviders.ts")
  const ProviderRegistry = (await load("src/ProviderRegistry.ts")) as typeof import("../../src/ProviderRegistry.ts")
  const LlmRequest = (await load("src/LlmRequest.ts")) as typeof import("../../src/LlmRequest.ts")
  const { Exit, ManagedRuntime, Scope } = effect
  const runtime = ManagedRuntime.make(NodeProviders.layer)
  const scope = await runtime.runPromise(Scope.make())
  const dispose = async () => {
    await runtime.runPromise(Scope.close(scope, Exit.void))
    await runtime.dispose()
  }
  return { effect, Stack, ProviderRegistry, LlmRequest, runtime, scope, dispose }
}

/** A tree's effect, its in-process bench provider and stack (`bench/internal/inProcess.ts`) and its `LlmRequest`. */
export interface InProcessModules {
  readonly effect: typeof import("effect")
  readonly inProcess: typeof import("./inProcess.ts")
  readonly LlmRequest: typeof import("../../src/LlmRequest.ts")
}

/** Loads the in-process bench modules of the tree at `dir` (`bench/stream-async-ab.ts`, `bench/stream-promotion.ts`). */
export const loadInProcessModules = async (dir: string): Promise<InProcessModules> => {
  const root = resolve(dir)
  const load = (path: string): Promise<unknown> => import(pathToFileURL(join(root, path)).href)
  return {
    effect: (await load("node_modules/effect/dist/index.js")) as typeof import("effect"),
    inProcess: (await load("bench/internal/inProcess.ts")) as typeof import("./inProcess.ts"),
    LlmRequest: (await load("src/LlmRequest.ts")) as typeof import("../../src/LlmRequest.ts")
  }
}

export const loadTree = async (dir: string, prompt: { readonly system: string; readonly user: string }): Promise<OtherTree> => {
  const { effect, Stack: StackOf, ProviderRegistry: RegistryOf, LlmRequest: RequestOf, runtime, scope, dispose } = await loadModules(dir)
  const { Effect, Scope } = effect
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
    dispose
  }
}
