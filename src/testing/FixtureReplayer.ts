/**
 * Serves recorded exchanges from a fixture file: a deterministic, offline `LanguageModel`.
 *
 * Each call is matched to a recorded exchange by the stable hash of its normalised request
 * (see `Fixture.hash`), and gets the recorded response, or fails with the recorded error.
 * A request with no fixture fails with `InvalidRequest` naming the request's hash, the model
 * and the fixture file, and how to record it; the prompt itself is never echoed. The replayed
 * model reports the provider and default model of the recording.
 *
 * @since 0.1.0
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { Effect, Layer } from "effect"
import * as LanguageModel from "../LanguageModel.ts"
import * as LlmError from "../LlmError.ts"
import type { LlmRequest } from "../LlmRequest.ts"
import * as Fixture from "./Fixture.ts"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The fixture file written by `FixtureRecorder`. */
  readonly path: string
}

/**
 * A model that answers from a fixture file already read.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromFile = (file: Fixture.FixtureFile, path: string): LanguageModel.Service => {
  const byHash = new Map(file.exchanges.map((exchange) => [exchange.hash, exchange] as const))
  const generate = (request: LlmRequest) => {
    const hash = Fixture.hash(request, file.defaultModel)
    const exchange = byHash.get(hash)
    if (exchange === undefined) {
      const model = request.model ?? file.defaultModel
      return Effect.fail(
        LlmError.make(
          file.provider,
          new LlmError.InvalidRequest({
            description: `no fixture for request ${hash} (model ${model}, ${request.messages.length} message(s)) in ${path}; ` +
              `the request differs from every recorded one (${byHash.size} recorded). Record it by running the test ` +
              `once with FixtureRecorder.layer({ path: "${path}" }) over a real provider`
          }),
          { model }
        )
      )
    }
    if (exchange.response !== undefined) return Effect.succeed(exchange.response)
    if (exchange.error !== undefined) return Effect.fail(exchange.error)
    return Effect.die(`fixture ${hash} in ${path} has neither a response nor an error`)
  }
  return LanguageModel.make({ provider: file.provider, defaultModel: file.defaultModel, generate })
}

/**
 * Reads a fixture file and builds a model from it; a missing or invalid file is a
 * `Configuration` error naming it.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options) =>
  Effect.gen(function*() {
    const file = yield* Fixture.read(options.path)
    if (file === undefined) {
      return yield* Effect.fail(
        LlmError.make(
          "fixtures",
          new LlmError.Configuration({
            description: `the fixture file ${options.path} does not exist`,
            setting: `fixtures (${options.path})`,
            fix: `record it first: provide FixtureRecorder.layer({ path: "${options.path}" }) over a real provider and run once`
          })
        )
      )
    }
    return fromFile(file, options.path)
  })

/**
 * The replayer as a Layer providing `LanguageModel`.
 *
 * @since 0.1.0
 * @category layers
 * @example
 * program.pipe(Effect.provide(FixtureReplayer.layer({ path: "test/fixtures/llm/rivers.json" })))
 */
export const layer = (options: Options): Layer.Layer<LanguageModel.LanguageModel, LlmError.LlmError> =>
  Layer.effect(LanguageModel.LanguageModel, make(options)).pipe(Layer.provide(NodeFileSystem.layer))
