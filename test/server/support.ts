// Serve.make in process on 127.0.0.1:0 over a test registry, and a small fetch helper.
import { NodeServices } from "@effect/platform-node"
import { ConfigProvider, Deferred, Effect, FileSystem, Layer, Path } from "effect"
import * as LanguageModel from "../../src/LanguageModel.ts"
import * as LlmConnectConfig from "../../src/LlmConnectConfig.ts"
import type * as LlmError from "../../src/LlmError.ts"
import type * as LlmRequest from "../../src/LlmRequest.ts"
import * as BuiltinProviders from "../../src/providers/BuiltinProviders.ts"
import * as NodeProviders from "../../src/node/NodeProviders.ts"
import * as NodeServe from "../../src/node/NodeServe.ts"
import * as ProviderRegistry from "../../src/ProviderRegistry.ts"
import * as Serve from "../../src/server/Serve.ts"
import type * as Server from "../../src/server/Server.ts"
import type * as VirtualKeys from "../../src/server/VirtualKeys.ts"
import type * as SqlStore from "../../src/store/SqlStore.ts"
import * as StreamPart from "../../src/StreamPart.ts"

// A provider the test steers: a gate to hold calls, an error to fail with, what it saw, and
// which calls were interrupted.
export const steered = () => {
  const seen: Array<LlmRequest.LlmRequest> = []
  const state = {
    gate: undefined as Deferred.Deferred<void> | undefined,
    started: undefined as Deferred.Deferred<void> | undefined,
    failWith: undefined as LlmError.LlmError | undefined,
    interrupted: 0
  }
  const answer = (request: LlmRequest.LlmRequest, model: string) => ({
    content: `answer to ${request.messages.length} message(s)`,
    model: request.model ?? model,
    provider: "steered",
    usage: { inputTokens: 11, outputTokens: 4, totalTokens: 15 },
    finishReason: "stop" as const,
    latencyMs: 1
  })
  const provider: ProviderRegistry.Provider = {
    name: "steered",
    description: "a provider steered by the test",
    defaultModel: "steer-1",
    keyEnv: [],
    requiresKey: false,
    make: (config) =>
      Effect.sync(() => {
        const generate = (request: LlmRequest.LlmRequest) =>
          Effect.gen(function*() {
            seen.push(request)
            if (state.started !== undefined) yield* Deferred.succeed(state.started, undefined)
            if (state.gate !== undefined) yield* Deferred.await(state.gate)
            if (state.failWith !== undefined) return yield* Effect.fail(state.failWith)
            return answer(request, config.model ?? "steer-1")
          }).pipe(Effect.onInterrupt(() => Effect.sync(() => void state.interrupted++)))
        return LanguageModel.make({ provider: "steered", defaultModel: config.model ?? "steer-1", generate })
      })
  }
  return { provider, seen, state }
}

export interface Started {
  readonly running: Serve.Running
  readonly url: string
  readonly log: ReadonlyArray<Server.AccessLogLine>
  /** Waits until the access log has at least `count` lines (each is written after its response). */
  readonly logged: (count: number) => Effect.Effect<void>
}

export const withServe = <A, E>(
  options: {
    /** The config file; a function gets the temporary directory it is written in. */
    readonly yaml?: string | ((dir: string) => string)
    readonly flags?: Record<string, unknown>
    readonly providers?: ReadonlyArray<ProviderRegistry.Provider>
    readonly keys?: VirtualKeys.Service
    readonly federation?: SqlStore.Service
  },
  use: (started: Started) => Effect.Effect<A, E>
) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const dir = yield* Effect.orDie(fs.makeTempDirectoryScoped({ prefix: "llmc-serve-" }))
    yield* Effect.orDie(fs.writeFileString(path.join(dir, "llm-connect.yaml"), typeof options.yaml === "function" ? options.yaml(dir) : options.yaml ?? "ledger: false\n"))
    const resolved = yield* Effect.orDie(LlmConnectConfig.load({ cwd: dir, flags: options.flags ?? {} }))
    const log: Array<Server.AccessLogLine> = []
    let waiters: Array<() => void> = []
    const running = yield* Effect.orDie(Serve.make(resolved, {
      listen: NodeServe.listen,
      port: 0,
      ...(options.keys !== undefined ? { keys: options.keys } : {}),
      ...(options.federation !== undefined ? { federation: options.federation } : {}),
      accessLog: (line) =>
        Effect.sync(() => {
          log.push(line)
          const woken = waiters
          waiters = []
          for (const wake of woken) wake()
        })
    }))
    const logged = (count: number): Effect.Effect<void> =>
      Effect.callback<void>((resume) => {
        const check = () => {
          if (log.length >= count) resume(Effect.void)
          else waiters.push(check)
        }
        check()
      })
    return yield* use({ running, url: running.server.url, log, logged })
  }).pipe(
    Effect.scoped,
    Effect.provide(ConfigProvider.layer(ConfigProvider.fromUnknown({ LLM_CONNECT_KEY_DIR: "/nonexistent-keys" }))),
    Effect.provide(
      Layer.mergeAll(
        Layer.effect(
          ProviderRegistry.ProviderRegistry,
          Effect.flatMap(BuiltinProviders.make, (builtins) => ProviderRegistry.make([...builtins, ...(options.providers ?? [])]))
        ).pipe(Layer.provide(NodeProviders.platform)),
        NodeServices.layer
      )
    )
  )

export interface Reply {
  readonly status: number
  readonly headers: Headers
  readonly text: string
  readonly json: unknown
}

export const request = (url: string, init: RequestInit = {}): Effect.Effect<Reply> =>
  Effect.promise(async () => {
    const response = await fetch(url, init)
    const text = await response.text()
    let json: unknown = undefined
    try {
      json = JSON.parse(text)
    } catch {
      // not JSON
    }
    return { status: response.status, headers: response.headers, text, json }
  })

export const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  request(url, { method: "POST", body: typeof body === "string" ? body : JSON.stringify(body), headers: { "content-type": "application/json", ...headers } })

export { StreamPart }
