/**
 * What the provider conformance suite provokes and observes: the {@link Fault}s it knows how to
 * set up (and what each must become), and the {@link Harness} a plugin author gives it around
 * the model under test. `ProviderConformance` runs the checks over these; the checks themselves
 * live in `internal/` (`conformanceChecks.ts`, `streamChecks.ts`), so neither imports the other's
 * module in a circle.
 *
 * @since 0.1.0
 */
import type { Effect } from "effect"
import type * as LanguageModel from "../LanguageModel.ts"
import type * as LlmError from "../LlmError.ts"

/**
 * A failure the suite knows how to provoke, named after what the provider's backend does.
 *
 * @since 0.1.0
 * @category faults
 */
export type Fault =
  | "rate-limited"
  | "server-error"
  | "unavailable"
  | "authentication"
  | "invalid-request"
  | "network"
  | "malformed"
  | "hang"

/**
 * What a fault looks like on the wire, and the reason the provider must map it to.
 *
 * @since 0.1.0
 * @category faults
 */
export interface FaultSpec {
  /** What the backend does, for harness authors and failure messages. */
  readonly description: string
  /** The HTTP status a fake server answers with, when the fault is an HTTP answer. */
  readonly httpStatus?: number
  /** The `Retry-After` header (seconds) a fake server sends. */
  readonly retryAfterSeconds?: number
  /** The `LlmError` reason the provider must fail with (none for `hang`). */
  readonly expected?: LlmError.ReasonTag
  /** The same fault as a mock fault script token (`--mock-faults`). */
  readonly mockScript: string
}

/**
 * Every fault, with what it looks like and what it must become.
 *
 * @since 0.1.0
 * @category faults
 */
export const faults: { readonly [F in Fault]: FaultSpec } = {
  "rate-limited": {
    description: "HTTP 429 with Retry-After: 2",
    httpStatus: 429,
    retryAfterSeconds: 2,
    expected: "RateLimited",
    mockScript: "429:2s"
  },
  "server-error": { description: "HTTP 500", httpStatus: 500, expected: "ServerError", mockScript: "500" },
  "unavailable": { description: "HTTP 503", httpStatus: 503, expected: "Unavailable", mockScript: "503" },
  "authentication": { description: "HTTP 401", httpStatus: 401, expected: "Authentication", mockScript: "auth" },
  "invalid-request": { description: "HTTP 400", httpStatus: 400, expected: "InvalidRequest", mockScript: "400" },
  "network": { description: "the connection is reset before any answer", expected: "Network", mockScript: "network" },
  "malformed": {
    description: "HTTP 200 with a body that is not the provider's JSON",
    httpStatus: 200,
    expected: "ResponseMalformed",
    mockScript: "malformed"
  },
  "hang": { description: "the request is accepted and never answered", mockScript: "hang" }
}

/**
 * Every fault, in a fixed order (for `Subject.faults` when a harness can provoke them all).
 *
 * @since 0.1.0
 * @category faults
 */
export const allFaults: ReadonlyArray<Fault> = [
  "rate-limited",
  "server-error",
  "unavailable",
  "authentication",
  "invalid-request",
  "network",
  "malformed",
  "hang"
]

/**
 * A model under test, with the hooks the suite uses to provoke and observe it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Harness {
  readonly model: LanguageModel.Service
  /** Makes the next call fail with the fault (only faults listed in `Subject.faults` are asked). */
  readonly provoke?: ((fault: Fault) => Effect.Effect<void>) | undefined
  /** How many calls reached the provider's backend so far (fake server requests, plugin calls). */
  readonly calls?: Effect.Effect<number> | undefined
  /** How many in-flight calls the backend saw aborted so far, where that is observable. */
  readonly aborts?: Effect.Effect<number> | undefined
}
