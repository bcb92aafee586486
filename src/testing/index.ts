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
export * as ConformanceHarness from "./ConformanceHarness.ts"

/**
 * A scripted model: replies, delays and faults, one step per call.
 *
 * @since 0.1.0
 */
export * as TestModel from "./TestModel.ts"

/**
 * Records real exchanges to a fixture file, secrets scrubbed.
 *
 * @since 0.1.0
 */
export * as FixtureRecorder from "./FixtureRecorder.ts"

/**
 * Replays a fixture file deterministically; fails clearly on an unknown request.
 *
 * @since 0.1.0
 */
export * as FixtureReplayer from "./FixtureReplayer.ts"

/**
 * The fixture file format and the request hash.
 *
 * @since 0.1.0
 */
export * as Fixture from "./Fixture.ts"

/**
 * Assertions on calls made, usage and budget refusals.
 *
 * @since 0.1.0
 */
export * as TestAssertions from "./TestAssertions.ts"
