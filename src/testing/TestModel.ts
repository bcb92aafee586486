/**
 * A scripted model for tests: each call takes the next step of a script, in order.
 *
 * A step is a reply (`"Paris"`), a reply after a delay (`{ reply: "Paris", delay: "2s" }`, on
 * the `Clock`, so `TestClock` drives it), a fault (`{ fault: "429:1s" }`, the mock's fault
 * syntax), tool calls (`{ toolCalls: [{ name: "get_weather", arguments: { city: "Paris" } }] }`:
 * the response's `toolCalls`, finish reason `tool-calls`; `rawArguments` scripts arguments that
 * do not parse) or a function of the request. A structured-output request
 * (`LanguageModel.generateObject`) gets the step's reply as it is, so a script of JSON texts
 * drives decoding, repairs and `InvalidOutput`. Built on the mock provider: usage is counted with the
 * real tokenizer, `maxTokens` and `stop` apply, and every request is recorded in the
 * `MockLanguageModel` control, which the layer also provides. When the script runs out, the
 * next call fails with `InvalidRequest` saying how many steps there were, unless `otherwise`
 * gives a reply for the rest.
 *
 * `generate` and `stream` take steps from the same script. A stream sends its reply in chunks
 * (one per word, as the mock does: `MockLanguageModel.chunksOf`), then the finish part; a fault
 * fails it before its first chunk, and `{ reply, cutAfter: N }` sends N chunks of the reply and
 * then fails with `Network` (a connection dropped mid-answer; `generate` fails with `Network`).
 *
 * @since 0.1.0
 */
import { Context, Duration, Effect, Layer, Ref, Result, Stream } from "effect"
import * as DurationText from "../DurationText.ts"
import * as LanguageModel from "../LanguageModel.ts"
import * as LlmError from "../LlmError.ts"
import type { LlmRequest } from "../LlmRequest.ts"
import * as Observability from "../observability/Observability.ts"
import * as UsageLedger from "../observability/UsageLedger.ts"
import * as MockFault from "../providers/mock/MockFault.ts"
import * as MockLanguageModel from "../providers/mock/MockLanguageModel.ts"
import type * as MockToolCalls from "../providers/mock/MockToolCalls.ts"

/**
 * One step of a script.
 *
 * @since 0.1.0
 * @category models
 */
export type Step =
  | string
  | ((request: LlmRequest) => string)
  | {
    readonly reply: string | ((request: LlmRequest) => string)
    readonly delay?: Delay | undefined
    /** A stream sends this many chunks of the reply, then fails with `Network`. */
    readonly cutAfter?: number | undefined
  }
  | { readonly fault: string; readonly delay?: Delay | undefined }
  | {
    /** The calls the model makes (`{ name, arguments?, id?, rawArguments? }`), finish reason `tool-calls`. */
    readonly toolCalls: ReadonlyArray<MockToolCalls.ScriptedCall>
    /** Text beside the calls (default none). */
    readonly reply?: string | ((request: LlmRequest) => string) | undefined
    readonly delay?: Delay | undefined
  }

/**
 * A delay: a project duration string (`"250ms"`, `"2s"`) or any Effect `Duration.Input`.
 *
 * @since 0.1.0
 * @category models
 */
export type Delay = Duration.Input | (string & {})

const toDuration = (delay: Delay): Duration.Duration => {
  if (typeof delay === "string") {
    const parsed = DurationText.parseMillis(delay)
    if (Result.isSuccess(parsed)) return Duration.millis(parsed.success)
  }
  return Duration.fromInputUnsafe(delay as Duration.Input)
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The model name reported (default `mock-1`). */
  readonly model?: string | undefined
  /** The reply once the script is used up (default: fail with `InvalidRequest`). */
  readonly otherwise?: MockLanguageModel.Reply | undefined
}

/**
 * Inspects a scripted model from a test.
 *
 * @since 0.1.0
 * @category models
 */
export interface Control {
  /** Steps not used yet. */
  readonly remaining: Effect.Effect<number>
  /** Appends steps to the script. */
  readonly push: (steps: ReadonlyArray<Step>) => Effect.Effect<void>
}

/**
 * The control service of a scripted model.
 *
 * @since 0.1.0
 * @category services
 */
export class TestModel extends Context.Service<TestModel, Control>()("llm-connect/TestModel") {}

const toFault = (token: string): MockFault.MockFault => {
  const parsed = MockFault.parse(token)
  if (Result.isFailure(parsed)) throw new Error(`TestModel: ${parsed.failure}`)
  return parsed.success
}

interface Planned {
  readonly reply?: string | ((request: LlmRequest) => string)
  readonly fault?: MockFault.MockFault
  readonly delay?: Duration.Duration
  readonly toolCalls?: ReadonlyArray<MockToolCalls.ScriptedCall>
}

const plan = (step: Step): Planned => {
  if (typeof step === "string" || typeof step === "function") return { reply: step }
  const delay = step.delay === undefined ? {} : { delay: toDuration(step.delay) }
  if ("fault" in step) return { fault: toFault(step.fault), ...delay }
  if ("toolCalls" in step) return { toolCalls: step.toolCalls, reply: step.reply ?? "", ...delay }
  if (step.cutAfter === undefined) return { reply: step.reply, ...delay }
  if (!Number.isInteger(step.cutAfter) || step.cutAfter < 0) {
    throw new Error(`TestModel: cutAfter must be a whole number of chunks, got ${step.cutAfter}`)
  }
  return { reply: step.reply, fault: { _tag: "Cut", chunks: step.cutAfter }, ...delay }
}

/**
 * Builds a scripted model, its control and the underlying mock's control. Throws on a fault
 * token it cannot parse (a mistake in the test itself).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (script: ReadonlyArray<Step>, options: Options = {}) =>
  Effect.gen(function*() {
    const planned = script.map(plan)
    const steps = yield* Ref.make<ReadonlyArray<Planned>>(planned)
    const used = yield* Ref.make(0)
    // Each request's scripted reply, looked up by identity, so concurrent calls do not mix.
    const replies = new WeakMap<LlmRequest, string>()
    const toolCalls = new WeakMap<LlmRequest, ReadonlyArray<MockToolCalls.ScriptedCall>>()
    const mock = yield* MockLanguageModel.make({
      ...(options.model !== undefined ? { model: options.model } : {}),
      reply: (request) => replies.get(request) ?? "",
      toolCalls: (request) => toolCalls.get(request)
    })
    const exhausted = (count: number, request: LlmRequest) =>
      LlmError.make(
        MockLanguageModel.PROVIDER,
        new LlmError.InvalidRequest({
          description: `the TestModel script has no step left for call ${count + 1} (it had ${count} steps); ` +
            `add steps, or give "otherwise" for the calls after the script`
        }),
        { model: request.model ?? mock.model.defaultModel }
      )
    // Takes the next step: the model that answers it and the request it answers (the mock's own
    // copy, whose reply and fault the step has set).
    const next = (request: LlmRequest) =>
      Effect.gen(function*() {
        const step = yield* Ref.modify(steps, (all) => [all[0], all.slice(1)] as const)
        const count = yield* Ref.getAndUpdate(used, (n) => n + 1)
        if (step === undefined) {
          if (options.otherwise === undefined) return yield* Effect.fail(exhausted(count, request))
          const rest = yield* MockLanguageModel.make({ reply: options.otherwise, model: mock.model.defaultModel })
          return { model: rest.model, request }
        }
        if (step.delay !== undefined) yield* Effect.sleep(step.delay)
        const own = { ...request }
        if (step.reply !== undefined) replies.set(own, typeof step.reply === "function" ? step.reply(request) : step.reply)
        if (step.toolCalls !== undefined) toolCalls.set(own, step.toolCalls)
        if (step.fault !== undefined) yield* mock.control.pushFaults([step.fault])
        return { model: mock.model, request: own }
      })
    const generate = (request: LlmRequest) => Effect.flatMap(next(request), (taken) => taken.model.generate(taken.request))
    const stream = (request: LlmRequest) => Stream.unwrap(Effect.map(next(request), (taken) => taken.model.stream(taken.request)))
    const control: Control = {
      remaining: Effect.map(Ref.get(steps), (all) => all.length),
      push: (more) => Ref.update(steps, (all) => [...all, ...more.map(plan)])
    }
    return { model: { ...mock.model, generate, stream } satisfies LanguageModel.Service, control, mock: mock.control }
  })

/**
 * A scripted model as a Layer: `LanguageModel`, `TestModel` and `MockLanguageModel` (the
 * requests received).
 *
 * @since 0.1.0
 * @category layers
 * @example
 * TestModel.layer(["Paris", { fault: "429" }, { reply: "Rome", delay: "1s" }, { reply: "Once upon a time", cutAfter: 2 }])
 */
export const layer = (
  script: ReadonlyArray<Step>,
  options: Options = {}
): Layer.Layer<LanguageModel.LanguageModel | TestModel | MockLanguageModel.MockLanguageModel> =>
  Layer.effectContext(
    Effect.map(make(script, options), ({ control, mock, model }) =>
      Context.make(LanguageModel.LanguageModel, model).pipe(
        Context.add(TestModel, control),
        Context.add(MockLanguageModel.MockLanguageModel, mock)
      ))
  )

/**
 * {@link layer} with the observability layer on top and an in-memory `UsageLedger`, for tests
 * that assert on usage and calls (see `TestAssertions`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerObserved = (
  script: ReadonlyArray<Step>,
  options: Options & { readonly observability?: Observability.Options | undefined } = {}
): Layer.Layer<
  LanguageModel.LanguageModel | TestModel | MockLanguageModel.MockLanguageModel | UsageLedger.UsageLedger,
  LlmError.LlmError
> =>
  Observability.layer(options.observability ?? {}).pipe(
    Layer.provideMerge(Layer.mergeAll(layer(script, options), UsageLedger.layerMemory()))
  )
