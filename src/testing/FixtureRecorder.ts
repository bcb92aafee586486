/**
 * Records real exchanges to a fixture file, for replay in tests.
 *
 * Wrap any `LanguageModel` (a real provider, usually) with {@link layer}: every call goes
 * through unchanged, and its request with its response (or error) is saved to the fixture
 * file, secrets scrubbed (keys, `Authorization` headers, anything key-shaped). The file is
 * rewritten after each call, so an interrupted session keeps what it recorded; exchanges already
 * in the file are kept, and a request recorded again replaces its old exchange.
 *
 * @since 0.1.0
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { Cause, Effect, Exit, FileSystem, Layer, Option, Ref, Stream } from "effect"
import * as LanguageModel from "../LanguageModel.ts"
import type * as LlmError from "../LlmError.ts"
import type { LlmRequest } from "../LlmRequest.ts"
import type { LlmResponse } from "../LlmResponse.ts"
import * as Fixture from "./Fixture.ts"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The fixture file, e.g. `test/fixtures/llm/summarise.json`. */
  readonly path: string
}

/**
 * Wraps a model so that every exchange is written to the fixture file.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (inner: LanguageModel.Service, options: Options) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const existing = yield* Fixture.read(options.path)
    const state = yield* Ref.make<ReadonlyArray<Fixture.Exchange>>(existing?.exchanges ?? [])
    const save = (exchange: Fixture.Exchange) =>
      Ref.updateAndGet(state, (all) => [...all.filter((old) => old.hash !== exchange.hash), exchange]).pipe(
        Effect.flatMap((exchanges) =>
          Fixture.write(options.path, { version: 1, provider: inner.provider, defaultModel: inner.defaultModel, exchanges })
        ),
        Effect.provideService(FileSystem.FileSystem, fs),
        Effect.orDie
      )
    const saveError = (request: LlmRequest, cause: Cause.Cause<LlmError.LlmError>) => {
      const error = Option.getOrUndefined(Cause.findErrorOption(cause))
      return error === undefined
        ? Effect.void
        : save({ hash: Fixture.hash(request, inner.defaultModel), request: Fixture.normalise(request, inner.defaultModel), error })
    }
    const saveResponse = (request: LlmRequest, response: LlmResponse) =>
      save({ hash: Fixture.hash(request, inner.defaultModel), request: Fixture.normalise(request, inner.defaultModel), response })
    // A streamed exchange is recorded from its finish part (replayed, it streams as one chunk).
    return LanguageModel.wrap(inner, {
      generate: (request, next) =>
        next(request).pipe(
          Effect.onExit((exit) => Exit.isSuccess(exit) ? saveResponse(request, exit.value) : saveError(request, exit.cause))
        ),
      stream: (request, next) =>
        next(request).pipe(
          Stream.tap((part) => part.type === "finish" ? saveResponse(request, part.response) : Effect.void),
          Stream.onExit((exit) => Exit.isFailure(exit) ? saveError(request, exit.cause) : Effect.void)
        )
    })
  })

/**
 * The recorder as a Layer wrapping the `LanguageModel` below it.
 *
 * @since 0.1.0
 * @category layers
 * @example
 * const recording = FixtureRecorder.layer({ path: "test/fixtures/llm/rivers.json" }).pipe(
 *   Layer.provide(OpenAiLanguageModel.layer({ ... })))
 */
export const layer = (options: Options): Layer.Layer<LanguageModel.LanguageModel, LlmError.LlmError, LanguageModel.LanguageModel> =>
  Layer.effect(
    LanguageModel.LanguageModel,
    Effect.gen(function*() {
      return yield* make(yield* LanguageModel.LanguageModel, options)
    })
  ).pipe(Layer.provide(NodeFileSystem.layer))
