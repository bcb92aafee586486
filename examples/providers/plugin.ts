// A provider plugin written with the provider kit: typed options (a bad one is refused with an
// example), the key resolved once (ACME_API_KEY, else the key file), one status table, the
// shared error builders. "acme" speaks a small JSON protocol: POST {baseUrl}/generate.
// With ACME_API_KEY (and ACME_BASE_URL) set it calls that server; without it, it says so and
// runs against the mock provider: npm run example examples/providers/plugin.ts
// expect: a bad option is refused: Configuration (acme): providers.acme.options.timeout
// expect: ACME_API_KEY is not set: using the mock provider instead
// expect: tokens:
import { NodeRuntime } from "@effect/platform-node"
import { Clock, Console, Duration, Effect, Layer, Redacted, Schema } from "effect"
import { HttpBody, HttpClient, HttpClientRequest } from "effect/http"
import {
  BuiltinProviders,
  LanguageModel,
  LlmError,
  LlmRequest,
  ProviderKit,
  ProviderRegistry,
  Tokenizer,
  Usage
} from "llm-connect"
import { NodeProviders } from "llm-connect/node"

// `providers.acme.options`: what a user may write under the provider in llm-connect.yaml.
const AcmeOptions = Schema.Struct({
  timeout: Schema.optionalKey(ProviderKit.Timeout),
  region: Schema.optionalKey(Schema.Literals(["eu", "us"]).annotate({ examples: ["eu"] }))
})

// Acme's answer, read leniently: only `text` is required, unknown fields are kept.
const AcmeReply = Schema.fromJsonString(ProviderKit.lenientStruct({
  text: Schema.String,
  usage: ProviderKit.optionalNullable(ProviderKit.lenientStruct({ input_tokens: Schema.Number, output_tokens: Schema.Number }))
}))

interface StatusContext {
  readonly status: number
  readonly said: string
  readonly retryAfterMs: number | undefined
}

// Acme's status -> reason table; the kit does the lookup (exact status, then 4xx/5xx, then orElse).
const reasonOf = ProviderKit.statusTable<StatusContext>({
  401: ({ said }) => new LlmError.Authentication({ description: `Acme refused the key${said}; check ACME_API_KEY` }),
  429: ({ retryAfterMs, said }) =>
    new LlmError.RateLimited({ description: `Acme rate-limited the call${said}`, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) }),
  "4xx": ({ said, status }) => new LlmError.InvalidRequest({ description: `Acme rejected the request (HTTP ${status})${said}` }),
  "5xx": ({ said, status }) => new LlmError.ServerError({ description: `Acme failed (HTTP ${status})${said}`, status }),
  orElse: ({ status }) => new LlmError.ResponseMalformed({ description: `unexpected HTTP status ${status}` })
})

const acme = ProviderKit.define({
  name: "acme",
  description: "Acme's models (a plugin)",
  defaultModel: "acme-small",
  keyEnv: ["ACME_API_KEY"],
  requiresKey: true,
  defaultBaseUrl: "https://api.acme.example/v1",
  options: AcmeOptions,
  services: [HttpClient.HttpClient],
  make: (settings) =>
    Effect.gen(function*() {
      const http = yield* HttpClient.HttpClient
      const baseUrl = settings.baseUrl ?? "https://api.acme.example/v1"
      const apiKey = Redacted.value(settings.apiKey)
      const timeout = settings.options.timeout ?? Duration.seconds(60)
      const headers = {
        authorization: `Bearer ${apiKey}`,
        ...(settings.options.region !== undefined ? { "x-acme-region": settings.options.region } : {})
      }
      const generate = (request: LlmRequest.LlmRequest) => {
        const model = request.model ?? settings.model
        const call: ProviderKit.CallInfo = { provider: "acme", model, baseUrl, apiKey }
        return Effect.gen(function*() {
          const started = yield* Clock.currentTimeMillis
          const body = { model, prompt: LlmRequest.promptText(request), max_tokens: request.maxTokens }
          const response = yield* http.execute(HttpClientRequest.post(`${baseUrl}/generate`, { headers, body: HttpBody.jsonUnsafe(body) }))
          const text = yield* response.text
          const finished = yield* Clock.currentTimeMillis
          if (response.status >= 300) {
            const said = text === "" ? "" : `: ${ProviderKit.scrub(text, apiKey)}`
            const retryAfterMs = ProviderKit.retryAfterMs(response.headers, finished)
            const reason = reasonOf(response.status, { status: response.status, said, retryAfterMs })
            return yield* Effect.fail(LlmError.make("acme", reason, { model, status: response.status }))
          }
          const reply = yield* Schema.decodeUnknownEffect(AcmeReply)(text).pipe(
            Effect.mapError(() => ProviderKit.malformed(call, "not an Acme reply"))
          )
          const usage = reply.usage !== undefined && reply.usage !== null
            ? Usage.make({ inputTokens: reply.usage.input_tokens, outputTokens: reply.usage.output_tokens })
            : Usage.make({
              inputTokens: Tokenizer.countRequest(request),
              outputTokens: Tokenizer.countText(reply.text),
              estimated: true
            })
          return {
            content: reply.text,
            model,
            provider: "acme",
            usage,
            finishReason: "stop" as const,
            latencyMs: finished - started
          }
        }).pipe(
          Effect.catchTag("HttpClientError", (error) =>
            Effect.fail(ProviderKit.connectionFailure(call, ProviderKit.errorCode(error.reason.cause)))),
          Effect.timeoutOrElse({
            duration: timeout,
            orElse: () => Effect.fail(ProviderKit.attemptTimeout(call, Duration.toMillis(timeout)))
          })
        )
      }
      return LanguageModel.make({ provider: "acme", defaultModel: settings.model, generate })
    })
})

// The plugin registered beside the built-in providers, all on Node's transport.
const registry = Layer.effect(
  ProviderRegistry.ProviderRegistry,
  Effect.gen(function*() {
    const builtins = yield* BuiltinProviders.make
    return yield* ProviderRegistry.make([...builtins, yield* acme])
  })
).pipe(Layer.provide(NodeProviders.platform))

const program = Effect.gen(function*() {
  const refused = yield* Effect.flip(
    ProviderRegistry.create({ provider: "acme", apiKey: Redacted.make("unused"), options: { timeout: "soon" } })
  )
  yield* Console.log(`a bad option is refused: ${refused.message}`)

  const key = process.env.ACME_API_KEY
  const baseUrl = process.env.ACME_BASE_URL
  if (key === undefined || key === "") yield* Console.log("ACME_API_KEY is not set: using the mock provider instead")
  // The key is not passed here: the kit finds it (ACME_API_KEY, else ~/.config/llm-connect/acme.key).
  const model = yield* ProviderRegistry.create(
    key !== undefined && key !== ""
      ? { provider: "acme", ...(baseUrl !== undefined ? { baseUrl } : {}), options: { timeout: "30s", region: "eu" } }
      : { provider: "mock" }
  )
  const response = yield* model.generate(LlmRequest.make({ prompt: "Name three rivers in Asia", maxTokens: 60 }))
  yield* Console.log(response.content)
  yield* Console.log(`tokens: ${response.usage.inputTokens} in, ${response.usage.outputTokens} out (${response.provider}/${response.model})`)
})

program.pipe(Effect.provide(registry), NodeRuntime.runMain)
