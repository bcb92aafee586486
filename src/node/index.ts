/**
 * llm-connect on Node (`llm-connect/node`): the parts wired to `@effect/platform-node`, kept
 * out of the root entry so that it stays platform-neutral.
 *
 * @since 0.1.0
 */

/**
 * The built-in providers on Node's transport (undici, the process spawner, the file system).
 *
 * @since 0.1.0
 */
export * as NodeProviders from "./NodeProviders.ts"
export * as NodeServe from "./NodeServe.ts"
