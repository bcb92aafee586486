/**
 * The provider-neutral service every caller depends on.
 *
 * A provider is a Layer that *provides* `LanguageModel`; every cross-cutting concern (budget,
 * retry, limits, observability) is a Layer that *wraps* it: it requires a `LanguageModel` and
 * provides a new one. The service has two paths, `generate` (one whole response) and `stream`
 * (parts as they arrive, ending with the whole response), and both are always there:
 *
 * - a provider builds its service with {@link make}, which derives `stream` from `generate`
 *   (the whole answer as one text delta, then the finish part) when the provider has no native
 *   streaming yet;
 * - a wrapper builds its service with {@link wrap}, which makes it say what it does to each path:
 *   a `request` hook applies to both, and a wrapper that changes `generate` must also give
 *   `stream` (a hook, or `"unchanged"` to pass the inner stream through on purpose). So no
 *   wrapper can drop or bypass streams by forgetting them.
 *
 * `wrap` is in the spirit of the Vercel AI SDK's `transformParams` / `wrapGenerate` /
 * `wrapStream` middleware.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer, Schema, Stream } from "effect"
import type { LlmError } from "./LlmError.ts"
import * as LlmErrorModule from "./LlmError.ts"
import * as LlmRequest from "./LlmRequest.ts"
import type { LlmResponse } from "./LlmResponse.ts"
import * as Message from "./Message.ts"
import * as ResponseFormat from "./ResponseFormat.ts"
import * as StreamPart from "./StreamPart.ts"
import * as Usage from "./Usage.ts"

/**
 * A provider/model a service may call.
 *
 * @since 0.1.0
 * @category models
 */
export interface Target {
  readonly provider: string
  readonly model: string
}

/**
 * What a language model can do.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** The provider's registered name, e.g. `"openai"` or `"mock"`. */
  readonly provider: string
  /** The model used when a request names none. */
  readonly defaultModel: string
  /** Generates one response. Interrupting the fiber aborts the call. */
  readonly generate: (request: LlmRequest.LlmRequest) => Effect.Effect<LlmResponse, LlmError>
  /** Streams a response: deltas, then exactly one `finish` part. Interrupting aborts the call. */
  readonly stream: (request: LlmRequest.LlmRequest) => Stream.Stream<StreamPart.StreamPart, LlmError>
  /**
   * Every provider/model a call may end up on, when more than one (a fallback chain's
   * candidates): the budget above reserves at the dearest of them.
   */
  readonly candidates?: ReadonlyArray<Target> | undefined
}

/**
 * The `LanguageModel` service.
 *
 * @since 0.1.0
 * @category services
 */
export class LanguageModel extends Context.Service<LanguageModel, Service>()("llm-connect/LanguageModel") {}

/**
 * What a provider gives {@link make}: `stream` is optional until the provider streams natively.
 *
 * @since 0.1.0
 * @category models
 */
export interface MakeOptions {
  readonly provider: string
  readonly defaultModel: string
  readonly generate: Service["generate"]
  readonly stream?: Service["stream"] | undefined
  readonly candidates?: ReadonlyArray<Target> | undefined
}

/**
 * The stream of a model without native streaming: the whole response, as one text delta (none
 * when empty) and the finish part, once `generate` has answered.
 *
 * @since 0.1.0
 * @category constructors
 */
export const streamFromGenerate = (generate: Service["generate"]): Service["stream"] => (request) =>
  Stream.fromEffect(generate(request)).pipe(Stream.flatMap((response) => Stream.fromIterable(StreamPart.fromResponse(response))))

/**
 * Builds a service with both paths (`stream` derived from `generate` when not given).
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * LanguageModel.make({ provider: "echo", defaultModel: "echo-1", generate: (request) => ... })
 */
export const make = (options: MakeOptions): Service => ({
  provider: options.provider,
  defaultModel: options.defaultModel,
  generate: options.generate,
  stream: options.stream ?? streamFromGenerate(options.generate),
  ...(options.candidates !== undefined ? { candidates: options.candidates } : {})
})

/**
 * Rewrites a request before either path; may fail (e.g. a guard refusing it). A plain value is
 * used as is (no effect step on the hot path).
 *
 * @since 0.1.0
 * @category wrapping
 */
export type RequestHook = (request: LlmRequest.LlmRequest) => LlmRequest.LlmRequest | Effect.Effect<LlmRequest.LlmRequest, LlmError>

/**
 * Wraps the inner `generate`: receives the request and the inner call.
 *
 * @since 0.1.0
 * @category wrapping
 */
export type GenerateHook = (
  request: LlmRequest.LlmRequest,
  next: Service["generate"]
) => Effect.Effect<LlmResponse, LlmError>

/**
 * Wraps the inner `stream`: receives the request and the inner stream.
 *
 * @since 0.1.0
 * @category wrapping
 */
export type StreamHook = (
  request: LlmRequest.LlmRequest,
  next: Service["stream"]
) => Stream.Stream<StreamPart.StreamPart, LlmError>

/**
 * What a wrapper does: a `request` hook alone (applied to both paths), or hooks for both paths,
 * each a function or `"unchanged"` (the inner path passed through, on purpose).
 *
 * @since 0.1.0
 * @category wrapping
 */
export type Wrapper =
  | { readonly request: RequestHook; readonly generate?: never; readonly stream?: never }
  | {
    readonly request?: RequestHook | undefined
    readonly generate: GenerateHook | "unchanged"
    readonly stream: StreamHook | "unchanged"
  }

const withRequest = <A>(hook: RequestHook, next: (request: LlmRequest.LlmRequest) => A, lift: (effect: Effect.Effect<A, LlmError>) => A) =>
(request: LlmRequest.LlmRequest): A => {
  const rewritten = hook(request)
  return Effect.isEffect(rewritten) ? lift(Effect.map(rewritten, next)) : next(rewritten)
}

/**
 * Wraps a model: the building block of every middleware layer (budget, retry, observability...).
 * Fields of the inner service other than the two paths (its provider, default model and
 * candidates) are kept unless `overrides` replaces them.
 *
 * @since 0.1.0
 * @category wrapping
 * @example
 * LanguageModel.wrap(inner, {
 *   generate: (request, next) => Effect.tap(next(request), () => Effect.log("answered")),
 *   stream: "unchanged"
 * })
 */
export const wrap = (
  inner: Service,
  wrapper: Wrapper,
  overrides?: { readonly provider?: string | undefined; readonly defaultModel?: string | undefined }
): Service => {
  const generateHook = wrapper.generate
  const streamHook = wrapper.stream
  let generate: Service["generate"] = generateHook === undefined || generateHook === "unchanged"
    ? inner.generate
    : (request) => generateHook(request, inner.generate)
  let stream: Service["stream"] = streamHook === undefined || streamHook === "unchanged"
    ? inner.stream
    : (request) => streamHook(request, inner.stream)
  const requestHook = wrapper.request
  if (requestHook !== undefined) {
    generate = withRequest(requestHook, generate, (effect) => Effect.flatten(effect))
    stream = withRequest(requestHook, stream, (effect) => Stream.unwrap(effect))
  }
  return {
    ...inner,
    ...(overrides?.provider !== undefined ? { provider: overrides.provider } : {}),
    ...(overrides?.defaultModel !== undefined ? { defaultModel: overrides.defaultModel } : {}),
    generate,
    stream
  }
}

/**
 * Generates a response with the `LanguageModel` in context. Accepts a plain prompt string or a
 * request.
 *
 * @since 0.1.0
 * @category accessors
 * @example
 * const reply = yield* LanguageModel.generate("Name three rivers")
 */
export const generate = (input: LlmRequest.Input): Effect.Effect<LlmResponse, LlmError, LanguageModel> =>
  LanguageModel.use((model) => model.generate(LlmRequest.make(input)))

/**
 * Streams a response with the `LanguageModel` in context.
 *
 * @since 0.1.0
 * @category accessors
 * @example
 * LanguageModel.stream("Tell a story").pipe(Stream.runForEach((part) => ...))
 */
export const stream = (input: LlmRequest.Input): Stream.Stream<StreamPart.StreamPart, LlmError, LanguageModel> =>
  Stream.unwrap(LanguageModel.use((model) => Effect.succeed(model.stream(LlmRequest.make(input)))))

/**
 * Builds a Layer that wraps the `LanguageModel` below it. `wrap` may use services of its own
 * (a `BudgetTracker`, a `Semaphore`...), which become requirements of the layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerWrap = <E, R>(
  wrap: (inner: Service) => Effect.Effect<Service, E, R>
): Layer.Layer<LanguageModel, E, LanguageModel | R> =>
  Layer.fresh(Layer.effect(LanguageModel, LanguageModel.use(wrap)))

/**
 * What {@link generateObject} takes: the Schema of the object, the conversation (`prompt` or
 * `messages`) and any other request field, plus how to ask and how often to repair.
 *
 * @since 0.1.0
 * @category models
 */
export type GenerateObjectOptions<S extends Schema.Top> = Omit<LlmRequest.Fields, "responseFormat"> & {
  /** The Schema the answer is decoded with; its root must be an object (`Schema.Struct`). */
  readonly schema: S
  /** The schema's name for the provider (default `output`). */
  readonly name?: string | undefined
  /** What the object is, for the model. */
  readonly description?: string | undefined
  /** OpenAI protocol: strict schema adherence (default: when the schema allows it). */
  readonly strict?: boolean | undefined
  /**
   * The JSON Schema sent, when it should not be generated from `schema` (e.g. a `--schema` file,
   * whose own text is what the provider should see).
   */
  readonly jsonSchema?: Record<string, unknown> | undefined
  /**
   * How many more requests to make when the answer does not decode (default
   * {@link DEFAULT_REPAIR_ATTEMPTS}, at most `ResponseFormat.MAX_REPAIR_ATTEMPTS`). Each repair is
   * a whole call through the stack (reserved and counted by the budget) that sends back the
   * invalid answer and what was wrong with it.
   */
  readonly repairAttempts?: number | undefined
} & ({ readonly prompt: Message.Prompt } | { readonly messages: ReadonlyArray<Message.Message> })

/**
 * The repair attempts of a {@link generateObject} call that sets none: one, so at most two
 * requests.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_REPAIR_ATTEMPTS = 1

/**
 * What {@link generateObject} gives: the decoded object, the response it came from, every
 * response of the call (the first, then each repair's) and their usage summed.
 *
 * @since 0.1.0
 * @category models
 */
export interface ObjectResponse<A> {
  readonly object: A
  /** The response the object was read from (the last one). */
  readonly response: LlmResponse
  /** Every response, in order: more than one when the answer needed repairing. */
  readonly responses: ReadonlyArray<LlmResponse>
  /** The usage of all the responses together. */
  readonly usage: Usage.Usage
}

const invalidRepairAttempts = (provider: string, value: number): LlmError =>
  LlmErrorModule.make(
    provider,
    new LlmErrorModule.InvalidRequest({
      description: `repairAttempts must be a whole number from 0 to ${ResponseFormat.MAX_REPAIR_ATTEMPTS}, got ${value}`,
      parameter: "repairAttempts"
    })
  )

/**
 * Asks for structured output and decodes it with the Schema: the value, typed. The request
 * carries a `responseFormat` (the Schema's JSON Schema, see `ResponseFormat`), which each provider
 * maps to its own structured output. An answer that is not JSON or does not decode gets
 * `repairAttempts` more requests (default 1), each sending back the answer and its decode issues
 * and each going through the whole stack (so the budget reserves and counts it); after the last,
 * the call fails with `InvalidOutput` carrying the raw text and the issues (both bounded).
 *
 * @since 0.1.0
 * @category accessors
 * @example
 * const { object } = yield* LanguageModel.generateObject({
 *   schema: Schema.Struct({ city: Schema.String, population: Schema.Int }),
 *   prompt: "The largest city of France, as JSON"
 * })
 */
export const generateObject = <S extends Schema.Top>(
  options: GenerateObjectOptions<S>
): Effect.Effect<ObjectResponse<S["Type"]>, LlmError, LanguageModel | S["DecodingServices"]> =>
  Effect.gen(function*() {
    const model = yield* LanguageModel
    const { description, jsonSchema, name, repairAttempts, schema, strict, ...fields } = options
    const attempts = repairAttempts ?? DEFAULT_REPAIR_ATTEMPTS
    if (!Number.isInteger(attempts) || attempts < 0 || attempts > ResponseFormat.MAX_REPAIR_ATTEMPTS) {
      return yield* Effect.fail(invalidRepairAttempts(model.provider, attempts))
    }
    const generated = ResponseFormat.fromSchema(schema, { name, description, strict })
    const format: ResponseFormat.ResponseFormat = jsonSchema === undefined ? generated : { ...generated, schema: jsonSchema }
    const problem = ResponseFormat.check(format)
    if (problem !== undefined) {
      return yield* Effect.fail(LlmErrorModule.make(
        model.provider,
        new LlmErrorModule.InvalidRequest({ description: problem, parameter: "schema" })
      ))
    }
    const base = LlmRequest.make({ ...fields, responseFormat: format } as LlmRequest.Input)
    const decode = Schema.decodeUnknownEffect(schema)
    const responses: Array<LlmResponse> = []
    let messages = base.messages
    for (let attempt = 0;; attempt++) {
      const response = yield* model.generate(attempt === 0 ? base : { ...base, messages })
      responses.push(response)
      const parsed = ResponseFormat.parseJson(response.content)
      let issues: ReadonlyArray<string>
      if (parsed.ok) {
        const decoded = yield* Effect.result(decode(parsed.value, { errors: "all" }))
        if (decoded._tag === "Success") {
          return {
            object: decoded.success,
            response,
            responses,
            usage: responses.reduce((sum, each) => Usage.add(sum, each.usage), Usage.empty)
          }
        }
        issues = ResponseFormat.issuesOf(decoded.failure)
      } else {
        issues = [parsed.issue]
      }
      if (attempt >= attempts) {
        return yield* Effect.fail(LlmErrorModule.make(
          response.provider,
          new LlmErrorModule.InvalidOutput({
            description: `the answer does not match the requested schema (${ResponseFormat.nameOf(format)}) after ` +
              `${responses.length} request(s): ${issues[0] ?? "no issue reported"}` +
              (issues.length > 1 ? ` (and ${issues.length - 1} more)` : ""),
            raw: ResponseFormat.boundRaw(response.content),
            issues
          }),
          { model: response.model, ...(response.requestId !== undefined ? { requestId: response.requestId } : {}) }
        ))
      }
      messages = [
        ...messages,
        Message.assistant(ResponseFormat.boundRaw(response.content)),
        Message.user(ResponseFormat.repairPrompt(format, issues))
      ]
    }
  })
