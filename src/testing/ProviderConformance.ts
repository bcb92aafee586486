/**
 * The provider conformance suite: one call checks that a provider keeps the provider contract
 * (`contracts/core.md`), whoever wrote it.
 *
 * A plugin author describes a {@link Subject}: how to build a fresh model for each check (with
 * whatever fakes it talks to) and, optionally, how to make its next call fail with a given
 * {@link Fault} (a fake server answering 429, a dropped connection...). The suite then checks
 * that responses are well formed, usage is present and consistent, finish reasons are
 * normalised, `maxTokens` is honoured, scripted faults surface as `LlmError` with the right
 * reason, exactly one call is made per `generate` (no retries inside), interruption ends the
 * call and reaches the provider, and the API key appears in no response, error, log or span.
 *
 * Streams are checked too, whether the provider streams natively or `LanguageModel.make`
 * derives its stream from `generate`: parts, then exactly one `finish` part, the last, whose
 * content the text deltas add up to and whose usage is present (`stream`); each scripted fault
 * fails the stream with the right `LlmError` before any part (`stream-errors`); interrupting the
 * consumer ends the call and reaches the backend (`stream-interruption`).
 *
 * Use {@link run} for a {@link Report}, {@link assertConforms} to fail on any failed check, or
 * {@link register} to get one `@effect/vitest` test per check. The checks use real time
 * (providers do real I/O), so run them with `it.live`, not `it.effect`.
 *
 * @since 0.1.0
 */
import { Cause, Context, Duration, Effect, Fiber, Layer, Option, Schema } from "effect"
import type { Scope } from "effect"
import * as LanguageModel from "../LanguageModel.ts"
import * as LlmError from "../LlmError.ts"
import * as MockFault from "../providers/mock/MockFault.ts"
import * as MockLanguageModel from "../providers/mock/MockLanguageModel.ts"
import type * as ProviderRegistry from "../ProviderRegistry.ts"
import * as ConformanceHarness from "./ConformanceHarness.ts"
import * as Checks from "./internal/conformanceChecks.ts"

/**
 * A failure the suite knows how to provoke (see `ConformanceHarness`).
 *
 * @since 0.1.0
 * @category faults
 */
export type Fault = ConformanceHarness.Fault

/**
 * What a fault looks like on the wire, and the reason the provider must map it to.
 *
 * @since 0.1.0
 * @category faults
 */
export type FaultSpec = ConformanceHarness.FaultSpec

/**
 * Every fault, with what it looks like and what it must become.
 *
 * @since 0.1.0
 * @category faults
 */
export const faults = ConformanceHarness.faults

/**
 * Every fault, in a fixed order (for `Subject.faults` when a harness can provoke them all).
 *
 * @since 0.1.0
 * @category faults
 */
export const allFaults = ConformanceHarness.allFaults

/**
 * A model under test, with the hooks the suite uses to provoke and observe it.
 *
 * @since 0.1.0
 * @category models
 */
export type Harness = ConformanceHarness.Harness

/**
 * What the suite runs against.
 *
 * @since 0.1.0
 * @category models
 */
export interface Subject<E = never, R = never> {
  /** A name for reports and test titles. */
  readonly name: string
  /** Builds a fresh harness for one check; its scope closes when the check ends. */
  readonly make: Effect.Effect<Harness, E, R | Scope.Scope>
  /** The faults `Harness.provoke` can set up; the fault checks run for these only. */
  readonly faults?: ReadonlyArray<Fault> | undefined
  /** The API key the harness configured: checked never to appear in output. */
  readonly apiKey?: string | undefined
}

/**
 * Tuning for slow providers.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The most one check may take before it fails (default 20 seconds). */
  readonly checkTimeout?: Duration.Input | undefined
  /** How soon an interrupted call must end (default 2 seconds). */
  readonly interruptWithin?: Duration.Input | undefined
}

/**
 * The outcome of one check.
 *
 * @since 0.1.0
 * @category models
 */
export interface CheckResult {
  readonly id: string
  readonly title: string
  readonly status: "passed" | "failed" | "skipped"
  /** Why it failed or was skipped; empty when it passed. */
  readonly detail: string
}

/**
 * The outcome of a run.
 *
 * @since 0.1.0
 * @category models
 */
export interface Report {
  readonly subject: string
  readonly results: ReadonlyArray<CheckResult>
  /** True when no check failed. */
  readonly ok: boolean
}

/**
 * A provider broke the contract. The message lists each failed check and what to fix.
 *
 * @since 0.1.0
 * @category errors
 */
export class ConformanceError extends Schema.TaggedError<ConformanceError>()("ConformanceError", {
  subject: Schema.String,
  message: Schema.String
}) {}

/**
 * The checks, in the order they run. Each has an id (`usage`, `no-retries`...) used in reports.
 *
 * @since 0.1.0
 * @category checks
 */
export const checks: ReadonlyArray<{ readonly id: string; readonly title: string }> = Checks.all

const applicable = (check: Checks.Check, subject: Subject<unknown, unknown>): string | undefined =>
  check.skipUnless(subject.faults ?? [], subject.apiKey)

const runCheck = <E, R>(
  check: Checks.Check,
  subject: Subject<E, R>,
  options: Options | undefined
): Effect.Effect<CheckResult, never, R> => {
  const base = { id: check.id, title: check.title }
  const skipped = applicable(check, subject)
  if (skipped !== undefined) return Effect.succeed({ ...base, status: "skipped", detail: skipped })
  const timeout = Duration.fromInputUnsafe(options?.checkTimeout ?? "20 seconds")
  const context: Checks.CheckContext = {
    faults: subject.faults ?? [],
    specs: faults,
    apiKey: subject.apiKey,
    interruptWithin: Duration.fromInputUnsafe(options?.interruptWithin ?? "2 seconds")
  }
  return subject.make.pipe(
    Effect.mapError((error): Checks.Failure => ({ message: `could not build the provider: ${describe(error)}` })),
    Effect.flatMap((harness) => check.run(harness, context)),
    Effect.scoped,
    (body) => bounded(body, timeout),
    Effect.matchCause({
      onSuccess: (): CheckResult => ({ ...base, status: "passed", detail: "" }),
      onFailure: (cause): CheckResult => {
        const failure = Cause.findErrorOption(cause)
        const detail = Option.isSome(failure)
          ? failure.value.message
          : `crashed: ${Cause.pretty(cause).split("\n").slice(0, 3).join(" ")}`
        return { ...base, status: "failed", detail }
      }
    })
  )
}

/**
 * Runs a check for at most `timeout`. The check runs on a detached fiber that is only awaited,
 * so that a provider stuck in an uninterruptible call fails its check on time instead of
 * holding the suite until the call ends (as `Effect.timeout`, which waits for the interrupted
 * fiber, would).
 */
const bounded = <R>(
  body: Effect.Effect<void, Checks.Failure, R>,
  timeout: Duration.Duration
): Effect.Effect<void, Checks.Failure, R> =>
  Effect.gen(function*() {
    const fiber = yield* Effect.forkDetach(body)
    const exit = yield* Effect.timeoutOption(Fiber.await(fiber), timeout)
    if (Option.isSome(exit)) return yield* exit.value
    yield* Effect.forkDetach(Fiber.interrupt(fiber))
    return yield* Effect.fail<Checks.Failure>({
      message: `did not finish within ${Duration.format(timeout)}: a call hung (is every call bounded and interruptible?)`
    })
  })

const describe = (error: unknown): string =>
  error instanceof Error ? error.message : typeof error === "string" ? error : JSON.stringify(error)

/**
 * Runs every check against the subject and reports each outcome.
 *
 * @since 0.1.0
 * @category running
 * @example
 * const report = yield* ProviderConformance.run(ProviderConformance.mockSubject())
 * console.log(ProviderConformance.formatReport(report))
 */
export const run = <E, R>(subject: Subject<E, R>, options?: Options): Effect.Effect<Report, never, R> =>
  Effect.map(Effect.forEach(Checks.all, (check) => runCheck(check, subject, options)), (results) => ({
    subject: subject.name,
    results,
    ok: results.every((result) => result.status !== "failed")
  }))

/**
 * A report as text, one line per check.
 *
 * @since 0.1.0
 * @category formatting
 */
export const formatReport = (report: Report): string =>
  [
    `provider conformance: ${report.subject}: ${report.ok ? "conforms" : "DOES NOT CONFORM"}`,
    ...report.results.map((result) =>
      `  ${result.status.padEnd(7)} ${result.id}: ${result.title}${result.detail === "" ? "" : ` (${result.detail})`}`
    )
  ].join("\n")

/**
 * Runs every check and fails with a {@link ConformanceError} naming each failed one.
 *
 * @since 0.1.0
 * @category running
 */
export const assertConforms = <E, R>(
  subject: Subject<E, R>,
  options?: Options
): Effect.Effect<Report, ConformanceError, R> =>
  Effect.flatMap(run(subject, options), (report) =>
    report.ok
      ? Effect.succeed(report)
      : Effect.fail(new ConformanceError({ subject: subject.name, message: formatReport(report) })))

/**
 * The part of `@effect/vitest`'s `it` that {@link register} uses (so this module does not
 * depend on vitest).
 *
 * @since 0.1.0
 * @category vitest
 */
export interface Registrar<R = never> {
  readonly live: <A, E>(name: string, self: () => Effect.Effect<A, E, R | Scope.Scope>, timeout?: number) => void
}

/**
 * Registers one `it.live` test per applicable check. Call it inside a `describe`.
 *
 * @since 0.1.0
 * @category vitest
 * @example
 * import { describe, it } from "@effect/vitest"
 * describe("my provider", () => ProviderConformance.register(it, mySubject))
 */
export const register = <E, R>(it: Registrar<R>, subject: Subject<E, R>, options?: Options): void => {
  const timeoutMs = Duration.toMillis(Duration.fromInputUnsafe(options?.checkTimeout ?? "20 seconds")) + 10_000
  for (const check of Checks.all) {
    if (applicable(check, subject) !== undefined) continue
    it.live(`conforms: ${check.id}: ${check.title}`, () =>
      Effect.flatMap(runCheck(check, subject, options), (result) =>
        result.status === "failed"
          ? Effect.fail(new ConformanceError({ subject: subject.name, message: `${check.id}: ${result.detail}` }))
          : Effect.void), timeoutMs)
  }
}

/**
 * A harness from any Layer providing `LanguageModel` (hooks such as `provoke` are up to you).
 *
 * @since 0.1.0
 * @category harnesses
 */
export const harnessFromLayer = <E, R>(
  layer: Layer.Layer<LanguageModel.LanguageModel, E, R>,
  hooks: Omit<Harness, "model"> = {}
): Effect.Effect<Harness, E, R | Scope.Scope> =>
  Effect.map(Layer.build(layer), (context) => ({ ...hooks, model: Context.get(context, LanguageModel.LanguageModel) }))

/**
 * A harness from a registry {@link ProviderRegistry.Provider} and its config.
 *
 * @since 0.1.0
 * @category harnesses
 */
export const harnessFromProvider = (
  provider: ProviderRegistry.Provider,
  config: ProviderRegistry.ProviderConfig,
  hooks: Omit<Harness, "model"> = {}
): Effect.Effect<Harness, LlmError.LlmError> =>
  Effect.map(provider.make(config), (model) => ({ ...hooks, model }))

/**
 * The mock provider as a subject: every fault is provoked through its fault script. The
 * reference for harness authors.
 *
 * @since 0.1.0
 * @category harnesses
 */
export const mockSubject = (options: MockLanguageModel.Options = {}): Subject => ({
  name: MockLanguageModel.PROVIDER,
  faults: allFaults,
  make: Effect.map(MockLanguageModel.make(options), ({ control, model }) => ({
    model,
    provoke: (fault: Fault) =>
      Effect.flatMap(Effect.orDie(Effect.fromResult(MockFault.parseScript(faults[fault].mockScript))), control.pushFaults),
    calls: Effect.map(control.calls, (calls) => calls.length)
  }))
})
