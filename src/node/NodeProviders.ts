/**
 * The built-in providers on Node's platform: `BuiltinProviders.layer` with Node's transport.
 *
 * Kept out of the root entry (`llm-connect`) so that importing the library does not load
 * `@effect/platform-node`; import it from `llm-connect/node`.
 *
 * @since 0.1.0
 */
import * as NodeChildProcessSpawner from "@effect/platform-node/NodeChildProcessSpawner"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodePath from "@effect/platform-node/NodePath"
import { Layer } from "effect"
import type { HttpClient } from "effect/http"
import * as BuiltinProviders from "../providers/BuiltinProviders.ts"

/**
 * What the built-in providers need, on Node, with the given HTTP client: the process spawner for
 * Claude Code, and the Node file system and path for key files (`llm-connect serve` passes an
 * undici client with its own keep-alive, `NodeServe.platform`).
 *
 * @since 0.1.0
 * @category layers
 */
export const platformWith = <E, R>(httpClient: Layer.Layer<HttpClient.HttpClient, E, R>) =>
  Layer.mergeAll(
    httpClient,
    NodeChildProcessSpawner.layer.pipe(Layer.provide([NodeFileSystem.layer, NodePath.layer])),
    NodeFileSystem.layer,
    NodePath.layer
  )

/**
 * What the built-in providers need, on Node: `NodeHttpClient.layerUndici` (the least client CPU
 * per call, see docs/performance.md), the process spawner for Claude Code, and the Node file
 * system and path for key files.
 *
 * @since 0.1.0
 * @category layers
 */
export const platform = platformWith(NodeHttpClient.layerUndici)

/**
 * A `ProviderRegistry` holding every built-in provider, on Node's transport.
 *
 * @since 0.1.0
 * @category layers
 * @example
 * program.pipe(Effect.provide(NodeProviders.layer)) // ProviderRegistry.create({ provider: "openai" }) inside
 */
export const layer = BuiltinProviders.layer.pipe(Layer.provide(platform))
