/**
 * Test kits for llm-connect users and plugin authors (`llm-connect/testing`).
 *
 * @since 0.1.0
 */

/**
 * The provider conformance suite.
 *
 * @since 0.1.0
 */
export * as ProviderConformance from "./ProviderConformance.ts"
