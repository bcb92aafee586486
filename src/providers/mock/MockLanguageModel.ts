/**
 * The mock provider: deterministic, offline, and the embedded default when no provider is
 * configured.
 *
 * Replies are fixed text, an echo of the last user message, or a function of the request.
 * Usage is counted with the real tokenizer (so budgets behave as they would with a real model),
 * `maxTokens` truncates the reply (finish reason `length`) and `stop` sequences cut it. Latency
 * is a `Clock` sleep, so `TestClock` drives it. A fault script makes the next calls fail
 * (see `MockFault`). Every request is recorded for assertions.
 *
 * `stream` is native: the reply goes out in chunks ({@link chunksOf}: one per word, with the
 * whitespace after it; at most {@link MAX_CHUNKS}, longer replies grouped evenly), each after the
 * latency (per chunk when streaming, once for `generate`), then one `finish` part with the same
 * response `generate` gives. A scripted fault fails a stream before its first chunk, except
 * `cut:N`, which sends N chunks and then fails with `Network`.
 *
 * Tool calls are scripted (`toolCalls`, see `MockToolCalls`): a request that declares tools takes
 * the next turn of the script and is answered with its calls (finish reason `tool-calls`; in a
 * stream, one `tool-call-delta` per call after the text); a required or named tool choice with
 * nothing scripted gets a call with the simplest arguments the tool's JSON Schema accepts.
 * Tools that cannot be sent (a name twice, an undeclared named choice) fail with
 * `InvalidRequest`, as with every provider.
 *
 * Structured output (`responseFormat`): a configured reply (`reply`, `--mock-reply`, a
 * `TestModel` step) is returned as it is, so output that does not decode can be scripted; with
 * no reply the answer is the simplest object the schema accepts (`MockToolCalls.minimalValue`),
 * as JSON.
 *
 * @since 0.1.0
 */
import { type Clock, Context, Duration, Effect, Layer, Result, Schema, SchemaGetter, Stream } from "effect"
import * as DurationText from "../../DurationText.ts"
import * as LanguageModel from "../../LanguageModel.ts"
import * as LlmError from "../../LlmError.ts"
import * as LlmRequestModule from "../../LlmRequest.ts"
import type { LlmRequest } from "../../LlmRequest.ts"
import * as Message from "../../Message.ts"
import * as LlmResponseModule from "../../LlmResponse.ts"
import type { FinishReason, LlmResponse } from "../../LlmResponse.ts"
import type * as ResponseFormat from "../../ResponseFormat.ts"
import * as ToolCall from "../../ToolCall.ts"
import type { Provider } from "../../ProviderRegistry.ts"
import * as StreamPart from "../../StreamPart.ts"
import * as Tokenizer from "../../Tokenizer.ts"
import * as Usage from "../../Usage.ts"
import * as Checks from "../internal/content.ts"
import * as ProviderKit from "../ProviderKit.ts"
import type { MockFault } from "./MockFault.ts"
import * as MockFaultModule from "./MockFault.ts"
import * as MockToolCalls from "./MockToolCalls.ts"

/**
 * The provider's registered name.
 *
 * @since 0.1.0
 * @category constants
 */
export const PROVIDER = "mock"

/**
 * The default model name.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_MODEL = "mock-1"

/**
 * How the mock replies: `"echo"` repeats the last user message, any other string is returned
 * as is, a function computes the reply from the request.
 *
 * @since 0.1.0
 * @category models
 */
export type Reply = "echo" | (string & {}) | ((request: LlmRequest) => string)

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly reply?: Reply | undefined
  /** How long a call takes: `generate` waits it once, `stream` before each chunk. */
  readonly latency?: Duration.Input | undefined
  readonly faults?: ReadonlyArray<MockFault> | undefined
  readonly model?: string | undefined
  /**
   * Scripted tool calls: turns taken in order by requests that declare tools (see
   * `MockToolCalls`), or a function giving a request's calls (`TestModel` steps). The text beside
   * scripted calls is the reply when `reply` is a function, else none.
   */
  readonly toolCalls?:
    | MockToolCalls.Turns
    | ((request: LlmRequest) => ReadonlyArray<MockToolCalls.ScriptedCall> | undefined)
    | undefined
}

/**
 * Controls and inspects a mock model from a test.
 *
 * @since 0.1.0
 * @category models
 */
export interface Control {
  /** Every request received, oldest first (including ones that failed by script). */
  readonly calls: Effect.Effect<ReadonlyArray<LlmRequest>>
  /** Appends faults to the script. */
  readonly pushFaults: (faults: ReadonlyArray<MockFault>) => Effect.Effect<void>
  /** Faults not used yet. */
  readonly pendingFaults: Effect.Effect<ReadonlyArray<MockFault>>
}

/**
 * The control service of a mock model.
 *
 * @since 0.1.0
 * @category services
 */
export class MockLanguageModel extends Context.Service<MockLanguageModel, Control>()("llm-connect/MockLanguageModel") {}

/**
 * The default reply: a short deterministic answer naming the prompt.
 *
 * @since 0.1.0
 * @category replies
 */
export const defaultReply = (request: LlmRequest): string => {
  const last = lastUserText(request)
  const subject = last.length > 60 ? `${last.slice(0, 57)}...` : last
  return `This is the mock provider's answer to "${subject}". Set --provider to call a real model.`
}

const lastUserText = (request: LlmRequest): string => {
  for (let index = request.messages.length - 1; index >= 0; index--) {
    const message = request.messages[index]!
    if (message.role === "user") return Message.text(message)
  }
  const last = request.messages.at(-1)
  return last === undefined ? "" : Message.text(last)
}

// Structured output with no reply configured: the simplest object the schema accepts, as JSON.
const structuredReply = (format: ResponseFormat.ResponseFormat): string =>
  JSON.stringify(MockToolCalls.minimalValue(format.schema)) ?? "{}"

const replyText = (reply: Reply | undefined, request: LlmRequest): string => {
  if (reply === undefined) return defaultReply(request)
  if (reply === "echo") return lastUserText(request)
  if (typeof reply === "function") return reply(request)
  return reply
}

const applyLimits = (text: string, request: LlmRequest): { content: string; finishReason: FinishReason } => {
  let content = text
  let finishReason: FinishReason = "stop"
  for (const stop of request.stop ?? []) {
    const at = stop === "" ? -1 : content.indexOf(stop)
    if (at >= 0) content = content.slice(0, at)
  }
  // A BPE token is at least one UTF-8 byte: a reply no longer in bytes than the cap fits without
  // running the tokenizer (budgets set `maxTokens` on every call).
  if (request.maxTokens !== undefined && Buffer.byteLength(content, "utf8") > request.maxTokens) {
    const cut = Tokenizer.truncate(content, request.maxTokens)
    if (cut.truncated) {
      content = cut.text
      finishReason = "length"
    }
  }
  return { content, finishReason }
}

// Token counts by text, per mock instance: the same prompts and replies recur (benchmarks, tests,
// retries), and the tokenizer is by far the mock's largest cost. Bounded: cleared when full.
const tokenCounts = () => {
  const known = new Map<string, number>()
  const text = (value: string): number => {
    let found = known.get(value)
    if (found === undefined) {
      found = Tokenizer.countText(value)
      if (known.size >= 1_000) known.clear()
      known.set(value, found)
    }
    return found
  }
  // The same count as `Tokenizer.countRequest`, each text counted once. A request too long to
  // be counted exactly is counted by `countRequest` itself, whose texts share one exact allowance.
  const request = (value: LlmRequest): number => {
    let units = value.system?.length ?? 0
    for (const message of value.messages) units += Message.text(message).length
    const tools = LlmRequestModule.toolsText(value)
    units += tools.length
    if (units * 3 > Tokenizer.EXACT_LIMIT_BYTES) return Tokenizer.countRequest(value)
    let total = Tokenizer.REQUEST_FRAMING_TOKENS
    if (value.system !== undefined) total += Tokenizer.MESSAGE_FRAMING_TOKENS + text(value.system)
    for (const message of value.messages) total += Tokenizer.MESSAGE_FRAMING_TOKENS + text(Message.text(message))
    if (tools !== "") total += Tokenizer.MESSAGE_FRAMING_TOKENS + text(tools)
    return total
  }
  return { text, request }
}

/**
 * The most chunks a streamed reply is sent in.
 *
 * @since 0.1.0
 * @category constants
 */
export const MAX_CHUNKS = 64

const WORD_BOUNDARY = /(?<=\s)(?=\S)/

/**
 * The chunks a reply is streamed in: one per word, with the whitespace after it (leading
 * whitespace stays with the first word), so that they join back to the reply; past
 * {@link MAX_CHUNKS} words, consecutive words are grouped evenly. Deterministic. An empty reply
 * has no chunks.
 *
 * @since 0.1.0
 * @category replies
 * @example
 * MockLanguageModel.chunksOf("The Nile is long.") // ["The ", "Nile ", "is ", "long."]
 */
export const chunksOf = (text: string): ReadonlyArray<string> => {
  if (text === "") return []
  const words = text.split(WORD_BOUNDARY)
  // Leading whitespace goes with the first word.
  if (words.length > 1 && words[0]!.trim() === "") words.splice(0, 2, words[0]! + words[1]!)
  if (words.length <= MAX_CHUNKS) return words
  const size = Math.ceil(words.length / MAX_CHUNKS)
  const chunks: Array<string> = []
  for (let index = 0; index < words.length; index += size) chunks.push(words.slice(index, index + size).join(""))
  return chunks
}

const faultError = (fault: MockFault, model: string) => MockFaultModule.toFailure(fault, PROVIDER, model)

const cutError = (model: string, sent: number) => MockFaultModule.cutFailure(PROVIDER, model, sent)

/**
 * Builds a mock model and its control.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}): Effect.Effect<{ readonly model: LanguageModel.Service; readonly control: Control }> =>
  Effect.sync(() => {
    // Append-only and owned by this instance: a push is atomic on the JS thread, and copying an
    // immutable list on every call made long runs quadratic. The fault script and the call
    // counter are plain instance state for the same reason: every update is one synchronous step.
    const recorded: Array<LlmRequest> = []
    const faults: Array<MockFault> = [...(options.faults ?? [])]
    let counter = 0
    const latency = Duration.fromInputUnsafe(options.latency ?? 0)
    const sleeps = Duration.isGreaterThan(latency, Duration.zero)
    const defaultModel = options.model ?? DEFAULT_MODEL
    const count = tokenCounts()

    // The default reply by prompt, so that a recurring prompt gets the same string (and its
    // token count is found without hashing a new string).
    const defaultReplies = new Map<string, string>()
    const reply = (request: LlmRequest): string => {
      if (options.reply !== undefined) return replyText(options.reply, request)
      const last = lastUserText(request)
      let found = defaultReplies.get(last)
      if (found === undefined) {
        found = defaultReply(request)
        if (defaultReplies.size >= 1_000) defaultReplies.clear()
        defaultReplies.set(last, found)
      }
      return found
    }

    const turns: Array<ReadonlyArray<MockToolCalls.ScriptedCall>> = Array.isArray(options.toolCalls) ? [...options.toolCalls] : []

    // The calls a request is answered with: none, or the scripted (or forced) ones; an error for
    // a scripted call to a tool the request does not declare.
    const callsFor = (request: LlmRequest, id: number, model: string): ReadonlyArray<ToolCall.ToolCall> | LlmError.LlmError => {
      const script = options.toolCalls
      let turn: ReadonlyArray<MockToolCalls.ScriptedCall> | undefined
      if (typeof script === "function") turn = script(request)
      else if ((request.tools?.length ?? 0) > 0 && request.toolChoice !== "none") {
        turn = turns.length > 0 ? turns.shift() : undefined
        if (turn === undefined || turn.length === 0) {
          const forced = turn === undefined ? MockToolCalls.forcedCall(request) : undefined
          turn = forced === undefined ? undefined : [forced]
        }
        const missing = turn === undefined ? undefined : MockToolCalls.undeclared(turn, request)
        if (missing !== undefined) {
          return LlmError.make(PROVIDER, new LlmError.InvalidRequest({ description: missing, parameter: "tools" }), { model })
        }
      }
      return turn === undefined || turn.length === 0 ? [] : MockToolCalls.toToolCalls(turn, id)
    }

    const respondWith = (
      request: LlmRequest,
      limited: { readonly content: string; readonly finishReason: FinishReason },
      model: string,
      id: number,
      started: number,
      clock: Clock.Clock,
      calls: ReadonlyArray<ToolCall.ToolCall> = []
    ): LlmResponse => {
      if (calls.length === 0) {
        return {
          content: limited.content,
          model,
          provider: PROVIDER,
          usage: Usage.make({ inputTokens: count.request(request), outputTokens: count.text(limited.content) }),
          finishReason: limited.finishReason,
          rawFinishReason: limited.finishReason,
          latencyMs: clock.currentTimeMillisUnsafe() - started,
          requestId: `mock-${id}`
        }
      }
      let output = limited.content
      for (const call of calls) output += call.name + ToolCall.argumentsText(call)
      const warnings = calls.filter(ToolCall.isUnparsed).map((call) => ToolCall.unparsedWarning(call, "tool-calls"))
      return {
        ...LlmResponseModule.withToolCalls(limited.content, calls, "tool-calls"),
        model,
        provider: PROVIDER,
        usage: Usage.make({ inputTokens: count.request(request), outputTokens: count.text(output) }),
        rawFinishReason: "tool-calls",
        latencyMs: clock.currentTimeMillisUnsafe() - started,
        requestId: `mock-${id}`,
        ...(warnings.length > 0 ? { warnings } : {})
      }
    }

    // The answer: its text (limited) and its tool calls, or the error it fails with.
    const answer = (request: LlmRequest, id: number, model: string) => {
      const invalid = Checks.invalidTools(PROVIDER, request, model)
      if (invalid !== undefined) return invalid
      const calls = callsFor(request, id, model)
      if (!Array.isArray(calls)) return calls as LlmError.LlmError
      const text = calls.length > 0 && typeof options.reply !== "function"
        ? ""
        : request.responseFormat !== undefined && options.reply === undefined
        ? structuredReply(request.responseFormat)
        : reply(request)
      return { limited: applyLimits(text, request), calls: calls as ReadonlyArray<ToolCall.ToolCall> }
    }

    const respond = (request: LlmRequest, model: string, id: number, started: number, clock: Clock.Clock) => {
      const answered = answer(request, id, model)
      return "limited" in answered
        ? Effect.succeed(respondWith(request, answered.limited, model, id, started, clock, answered.calls))
        : Effect.fail(answered)
    }

    // Plain combinators rather than a generator: the mock is the baseline of every benchmark.
    const generate = (request: LlmRequest): Effect.Effect<LlmResponse, LlmError.LlmError> =>
      Effect.clockWith((clock) => {
        const started = clock.currentTimeMillisUnsafe()
        recorded.push(request)
        const id = ++counter
        const fault = faults.length === 0 ? undefined : faults.shift()
        const model = request.model ?? defaultModel
        const outcome = fault !== undefined && fault._tag !== "Ok"
          ? faultError(fault, model)
          : Effect.suspend(() => respond(request, model, id, started, clock))
        return sleeps ? Effect.andThen(Effect.sleep(latency), outcome) : outcome
      })

    // The reply in chunks, each after the latency; then the finish part, or the cut's failure.
    const stream = (request: LlmRequest): Stream.Stream<StreamPart.StreamPart, LlmError.LlmError> =>
      Stream.unwrap(Effect.clockWith((clock) => {
        const started = clock.currentTimeMillisUnsafe()
        recorded.push(request)
        const id = ++counter
        const fault = faults.length === 0 ? undefined : faults.shift()
        const model = request.model ?? defaultModel
        if (fault !== undefined && fault._tag !== "Ok" && fault._tag !== "Cut") {
          const failure = faultError(fault, model)
          return Effect.succeed(Stream.fromEffect(sleeps ? Effect.andThen(Effect.sleep(latency), failure) : failure))
        }
        const answered = answer(request, id, model)
        if (!("limited" in answered)) return Effect.succeed(Stream.fail(answered))
        const { calls, limited } = answered
        const all = chunksOf(limited.content)
        const chunks = fault?._tag === "Cut" ? all.slice(0, fault.chunks) : all
        const last: Effect.Effect<StreamPart.StreamPart, LlmError.LlmError> = fault?._tag === "Cut"
          ? Effect.fail(cutError(model, chunks.length))
          : Effect.sync(() => StreamPart.finish(respondWith(request, limited, model, id, started, clock, calls)))
        const deltas: Array<StreamPart.StreamPart> = chunks.map(StreamPart.textDelta)
        if (fault?._tag !== "Cut") {
          calls.forEach((call, index) =>
            deltas.push({ type: "tool-call-delta", index, id: call.id, name: call.name, argumentsDelta: ToolCall.argumentsText(call) })
          )
        }
        if (!sleeps) return Effect.succeed(Stream.concat(Stream.fromIterable(deltas), Stream.fromEffect(last)))
        // Latency per chunk; an answer with no chunk still takes it once.
        const paced = Stream.mapEffect(Stream.fromIterable(deltas), (delta) => Effect.as(Effect.sleep(latency), delta))
        return Effect.succeed(Stream.concat(
          paced,
          Stream.fromEffect(deltas.length === 0 ? Effect.andThen(Effect.sleep(latency), last) : last)
        ))
      }))

    return {
      model: LanguageModel.make({ provider: PROVIDER, defaultModel, generate, stream }),
      control: {
        calls: Effect.sync(() => recorded.slice()),
        pushFaults: (more) => Effect.sync(() => void faults.push(...more)),
        pendingFaults: Effect.sync(() => faults.slice())
      }
    }
  })

/**
 * A Layer providing a mock `LanguageModel` and its `MockLanguageModel` control.
 *
 * @since 0.1.0
 * @category layers
 * @example
 * program.pipe(Effect.provide(MockLanguageModel.layer({ reply: "hello" })))
 */
export const layer = (options: Options = {}): Layer.Layer<LanguageModel.LanguageModel | MockLanguageModel> =>
  Layer.effectContext(
    Effect.map(make(options), ({ control, model }) =>
      Context.make(LanguageModel.LanguageModel, model).pipe(Context.add(MockLanguageModel, control)))
  )

/**
 * `providers.mock.options` (and the YAML `mock:` section, which the config passes here):
 * `reply` (a fixed text, or `echo`), `latency` (`50ms`, `1s`, or milliseconds; per chunk when
 * streaming) and `faults` (a fault script, see `MockFault`), decoded into the mock's {@link Options}.
 *
 * @since 0.1.0
 * @category options
 */
export const ProviderOptions = Schema.Struct({
  reply: Schema.optionalKey(Schema.String.annotate({ examples: ["echo"] })).annotate({
    description: "A fixed reply, or \"echo\" to repeat the last user message."
  }),
  latency: Schema.optionalKey(
    DurationText.DurationFromText.pipe(
      Schema.annotateEncoded({ description: "How long each call takes (each chunk, when streaming)." })
    )
  ),
  faults: Schema.optionalKey(
    MockFaultModule.Script.pipe(Schema.annotateEncoded({ description: "The next calls fail with these faults." }))
  ),
  toolCalls: Schema.optionalKey(
    MockToolCalls.Script.pipe(
      Schema.decodeTo(Schema.Array(Schema.Array(MockToolCalls.ScriptedCall)), {
        decode: SchemaGetter.transform(MockToolCalls.toTurns),
        encode: SchemaGetter.transform((turns) => turns)
      })
    ).annotate({ description: "Scripted tool calls: turns taken by requests that declare tools (see MockToolCalls)." })
  )
})

/**
 * The decoded {@link ProviderOptions}.
 *
 * @since 0.1.0
 * @category options
 */
export type ProviderOptions = typeof ProviderOptions.Type

/**
 * Reads the mock's settings from a provider config's `options`
 * (`reply`, `latency` as a duration string or milliseconds, `faults` as a script).
 *
 * @since 0.1.0
 * @category config
 */
export const optionsFromConfig = (
  raw: Readonly<Record<string, unknown>> | undefined
): Result.Result<Options, string> =>
  Result.mapError(
    Schema.decodeUnknownResult(ProviderOptions)(raw ?? {}),
    (error) => error.message.split("\n")[0]!
  )

/**
 * The mock as a registry {@link Provider} (`ProviderKit.defineOffline`): no key, no services.
 * Its settings come from `config.options` ({@link ProviderOptions}).
 *
 * @since 0.1.0
 * @category providers
 */
export const provider: Provider = ProviderKit.defineOffline({
  name: PROVIDER,
  description: "Deterministic offline model (the default when no provider is configured)",
  defaultModel: DEFAULT_MODEL,
  models: [DEFAULT_MODEL],
  closedModelList: false,
  options: ProviderOptions,
  make: ({ model, options }) => Effect.map(make({ ...options, model }), (built) => built.model)
})
