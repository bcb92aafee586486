/**
 * The provider kit (src/providers/ProviderKit.ts): defining a provider (typed options, the key
 * resolved once, captured services), the failure helpers every provider maps with, and the
 * lenient Schemas.
 */
import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Context, Duration, Effect, FileSystem, Path, Redacted, Schema } from "effect"
import * as LanguageModel from "../../src/LanguageModel.ts"
import * as LlmError from "../../src/LlmError.ts"
import * as LlmRequest from "../../src/LlmRequest.ts"
import * as Redaction from "../../src/observability/Redaction.ts"
import * as ProviderKit from "../../src/providers/ProviderKit.ts"
import * as ProviderRegistry from "../../src/ProviderRegistry.ts"
import * as Usage from "../../src/Usage.ts"

/** A service the provider names in `services`: captured when the registry is built. */
class Transport extends Context.Service<Transport, { readonly label: string }>()("test/ProviderKit/Transport") {}

const AcmeOptions = Schema.Struct({
  timeout: Schema.optionalKey(ProviderKit.Timeout),
  flavour: Schema.optionalKey(Schema.Literals(["plain", "fancy"]).annotate({ examples: ["fancy"] }))
})

interface Seen {
  readonly settings: ProviderKit.Settings<typeof AcmeOptions.Type, Redacted.Redacted<string>>
  readonly transport: string
}

const echo = (model: string): LanguageModel.Service =>
  LanguageModel.make({
    provider: "acme",
    defaultModel: model,
    generate: (request) =>
      Effect.succeed({
        content: "ok",
        model: request.model ?? model,
        provider: "acme",
        usage: Usage.make({ inputTokens: 1, outputTokens: 1 }),
        finishReason: "stop",
        latencyMs: 0
      })
  })

const acme = (seen: Array<Seen>) =>
  ProviderKit.define({
    name: "acme",
    description: "Acme's models",
    defaultModel: "acme-1",
    keyEnv: ["ACME_API_KEY"],
    requiresKey: true,
    defaultBaseUrl: "https://api.acme.example",
    options: AcmeOptions,
    services: [Transport],
    make: (settings) =>
      Effect.map(Effect.service(Transport), (transport) => {
        seen.push({ settings, transport: transport.label })
        return echo(settings.model)
      })
  })

const env = (variables: Record<string, string>) => ConfigProvider.layer(ConfigProvider.fromUnknown(variables))

/** The acme entry, built with the given transport and an empty environment (no key directory). */
const built = (seen: Array<Seen>, label = "built") =>
  acme(seen).pipe(
    Effect.provideService(Transport, { label }),
    Effect.provide(env({ ACME_API_KEY: "sk-at-build-time" })),
    Effect.provide(NodeServices.layer)
  )

const inTempDir = <A, E>(body: (dir: string) => Effect.Effect<A, E, FileSystem.FileSystem | Path.Path>) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const dir = yield* Effect.orDie(fs.makeTempDirectoryScoped({ prefix: "llmc-kit-" }))
    return yield* body(dir)
  }).pipe(Effect.provide(NodeServices.layer))

describe("ProviderKit.define", () => {
  it.effect("decodes the options with the provider's Schema and gives make one set of settings", () =>
    inTempDir((dir) =>
      Effect.gen(function*() {
        const seen: Array<Seen> = []
        const entry = yield* built(seen)
        assert.deepStrictEqual([entry.name, entry.keyEnv, entry.requiresKey, entry.defaultModel], ["acme", ["ACME_API_KEY"], true, "acme-1"])
        const model = yield* entry.make({ options: { timeout: "30s", flavour: "fancy" } }).pipe(
          Effect.provide(env({ ACME_API_KEY: "sk-from-env", LLM_CONNECT_KEY_DIR: dir }))
        )
        const response = yield* model.generate(LlmRequest.make("hi"))
        assert.strictEqual(response.model, "acme-1")
        const { settings, transport } = seen[0]!
        assert.strictEqual(transport, "built")
        assert.strictEqual(Redacted.value(settings.apiKey), "sk-from-env")
        assert.strictEqual(settings.baseUrl, "https://api.acme.example")
        assert.strictEqual(settings.model, "acme-1")
        assert.strictEqual(settings.options.flavour, "fancy")
        assert.strictEqual(Duration.toMillis(settings.options.timeout!), 30_000)
      })))

  it.effect("a bad option is a Configuration error naming the option, the provider and an example; make is not called", () =>
    Effect.gen(function*() {
      const seen: Array<Seen> = []
      const entry = yield* built(seen)
      const error = yield* Effect.flip(entry.make({ apiKey: Redacted.make("sk-explicit"), options: { flavour: "odd" } }))
      assert.strictEqual(error.provider, "acme")
      assert.strictEqual(error.reason._tag, "Configuration")
      const reason = error.reason as LlmError.Configuration
      assert.strictEqual(reason.setting, "providers.acme.options.flavour")
      assert.include(reason.description, "providers.acme.options.flavour")
      assert.strictEqual(reason.fix, "write it as e.g. providers.acme.options.flavour: fancy")
      const timeout = yield* Effect.flip(entry.make({ apiKey: Redacted.make("sk-explicit"), options: { timeout: "30 seconds" } }))
      assert.include(timeout.message, "providers.acme.options.timeout: 30s")
      assert.lengthOf(seen, 0)
    }))

  it.effect("the key, resolved once: explicit, else the environment, else config.keyFile; none is a Configuration error", () =>
    inTempDir((dir) =>
      Effect.gen(function*() {
        const fs = yield* FileSystem.FileSystem
        const path = yield* Path.Path
        const keyFile = path.join(dir, "acme.txt")
        yield* Effect.orDie(fs.writeFileString(keyFile, "sk-from-file\n"))
        const seen: Array<Seen> = []
        const entry = yield* built(seen)
        const keyOf = (config: ProviderRegistry.ProviderConfig, variables: Record<string, string>) =>
          Effect.map(entry.make(config).pipe(Effect.provide(env({ LLM_CONNECT_KEY_DIR: dir, ...variables }))), () =>
            Redacted.value(seen.at(-1)!.settings.apiKey))
        assert.strictEqual(yield* keyOf({ apiKey: Redacted.make("sk-explicit"), keyFile }, { ACME_API_KEY: "sk-env" }), "sk-explicit")
        assert.strictEqual(yield* keyOf({ keyFile }, { ACME_API_KEY: "sk-env" }), "sk-env")
        assert.strictEqual(yield* keyOf({ keyFile }, {}), "sk-from-file")
        const missing = yield* Effect.flip(keyOf({}, {}))
        assert.strictEqual(missing.reason._tag, "Configuration")
        assert.include(missing.message, "ACME_API_KEY")
        assert.include(missing.message, "acme.key")
        assert.lengthOf(seen, 3)
      })))

  it.effect("only the listed services are captured: the caller's environment applies when a model is built", () =>
    inTempDir((dir) =>
      Effect.gen(function*() {
        const seen: Array<Seen> = []
        const entry = yield* built(seen, "from the registry")
        // No Transport here, and another environment than at build time.
        yield* entry.make({}).pipe(Effect.provide(env({ ACME_API_KEY: "sk-at-create-time", LLM_CONNECT_KEY_DIR: dir })))
        assert.strictEqual(seen[0]!.transport, "from the registry")
        assert.strictEqual(Redacted.value(seen[0]!.settings.apiKey), "sk-at-create-time")
      })))

  it.effect("through the registry: model and system prompt defaults still apply", () =>
    Effect.gen(function*() {
      const seen: Array<Seen> = []
      const registry = yield* ProviderRegistry.make([yield* built(seen)])
      const model = yield* registry.create({ provider: "acme", model: "acme-2", apiKey: Redacted.make("sk-explicit") })
      assert.strictEqual(model.defaultModel, "acme-2")
      assert.strictEqual((yield* model.generate(LlmRequest.make("hi"))).model, "acme-2")
      assert.strictEqual(seen[0]!.settings.model, "acme-2")
    }))
})

describe("ProviderKit.defineOffline", () => {
  const entry = ProviderKit.defineOffline({
    name: "local",
    description: "An in-process model",
    defaultModel: "local-1",
    options: Schema.Struct({ reply: Schema.optionalKey(Schema.String) }),
    make: (settings) =>
      Effect.succeed(LanguageModel.make({
        provider: "local",
        defaultModel: settings.model,
        generate: () =>
          Effect.succeed({
            content: `${settings.options.reply ?? "-"} / key ${settings.apiKey === undefined ? "none" : "given"}`,
            model: settings.model,
            provider: "local",
            usage: Usage.make({ inputTokens: 1, outputTokens: 1 }),
            finishReason: "stop",
            latencyMs: 0
          })
      }))
  })

  it.effect("a plain entry: no services, no key lookup, options decoded", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual([entry.keyEnv, entry.requiresKey], [[], false])
      const model = yield* entry.make({ options: { reply: "hello" } })
      assert.strictEqual((yield* model.generate(LlmRequest.make("x"))).content, "hello / key none")
      const keyed = yield* entry.make({ apiKey: Redacted.make("k-1234") })
      assert.strictEqual((yield* keyed.generate(LlmRequest.make("x"))).content, "- / key given")
      const bad = yield* Effect.flip(entry.make({ options: { reply: 42 } }))
      assert.strictEqual((bad.reason as LlmError.Configuration).setting, "providers.local.options.reply")
    }))
})

describe("ProviderKit failure helpers", () => {
  const reasonOf = ProviderKit.statusTable<{ readonly status: number }>({
    404: () => new LlmError.NotFound({ description: "exact" }),
    429: () => new LlmError.RateLimited({ description: "exact" }),
    "4xx": () => new LlmError.InvalidRequest({ description: "4xx" }),
    "5xx": ({ status }) => new LlmError.ServerError({ description: "5xx", status }),
    orElse: () => new LlmError.ResponseMalformed({ description: "else" })
  })

  it.each([
    [404, "NotFound"],
    [429, "RateLimited"],
    [400, "InvalidRequest"],
    [499, "InvalidRequest"],
    [500, "ServerError"],
    [503, "ServerError"],
    [600, "ServerError"],
    [302, "ResponseMalformed"]
  ] as const)("statusTable: %i -> %s (exact row, then its family, then orElse)", (status, reason) => {
    assert.strictEqual(reasonOf(status, { status })._tag, reason)
  })

  const NOW = Date.parse("2026-01-01T00:00:00Z")
  it.each([
    ["retry-after seconds", { "retry-after": "3" }, 3000],
    ["retry-after fraction", { "retry-after": "1.5" }, 1500],
    ["retry-after-ms wins", { "retry-after-ms": "250", "retry-after": "3" }, 250],
    ["retry-after HTTP date", { "retry-after": new Date(NOW + 7000).toUTCString() }, 7000],
    ["a date in the past", { "retry-after": new Date(NOW - 7000).toUTCString() }, 0],
    ["garbage", { "retry-after": "soon" }, undefined],
    ["negative", { "retry-after": "-1" }, undefined],
    ["none", {}, undefined]
  ] as const)("retryAfterMs: %s", (_name, headers, expected) => {
    assert.strictEqual(ProviderKit.retryAfterMs(headers, NOW), expected)
    assert.strictEqual(ProviderKit.retryAfterMs(new Headers(headers), NOW), expected)
  })

  it("scrub: the key, key shapes and bearer tokens go; whitespace is folded; long text is cut", () => {
    const key = "acme-live-0123456789"
    const text = `bad key ${key}\n  (sent as Bearer ${key}); also sk-proj-****1234 and Bearer abcdefgh12345678`
    const scrubbed = ProviderKit.scrub(text, key)
    assert.notInclude(scrubbed, key)
    assert.notInclude(scrubbed, "sk-proj-****1234")
    assert.notInclude(scrubbed, "abcdefgh12345678")
    assert.notInclude(scrubbed, "\n")
    assert.include(scrubbed, Redaction.PLACEHOLDER)
    const long = ProviderKit.scrub("x ".repeat(400))
    assert.strictEqual(long.length, 303)
    assert.isTrue(long.endsWith("..."))
  })

  it("scrub reads only the head of a huge body: a 10 MB key-shaped run is scrubbed, not thrown on", () => {
    // A 10 MB `sk-...` run overflowed the key rule's backtrack stack (a RangeError out of the mapping).
    const huge = ProviderKit.scrub(`error: sk-proj-${"a".repeat(10_000_000)} was refused`)
    assert.strictEqual(huge, "error:...")
    const unbroken = ProviderKit.scrub(`sk-proj-${"a".repeat(10_000_000)}`)
    assert.strictEqual(unbroken, `${Redaction.PLACEHOLDER}...`)
    // The head is cut at whitespace, so a key at its end is never cut in two and stays recognisable.
    const padded = ProviderKit.scrub(`${"x ".repeat(32_760)}AIza${"B".repeat(35)} ${"y ".repeat(1_000)}`)
    assert.notInclude(padded, "AIza")
    assert.isTrue(padded.endsWith("..."))
  })

  it("errorCode finds the code on an error, its causes or the first of its errors", () => {
    assert.strictEqual(ProviderKit.errorCode(Object.assign(new TypeError("fetch failed"), { cause: { code: "ECONNRESET" } })), "ECONNRESET")
    assert.strictEqual(ProviderKit.errorCode(new AggregateError([Object.assign(new Error("x"), { code: "ECONNREFUSED" })])), "ECONNREFUSED")
    assert.isUndefined(ProviderKit.errorCode(new Error("plain")))
  })

  const call: ProviderKit.CallInfo = { provider: "acme", model: "acme-1", baseUrl: "http://127.0.0.1:1" }

  it.each([
    ["ECONNREFUSED", "Network", "connection refused"],
    ["ENOTFOUND", "Network", "could not be resolved"],
    ["UND_ERR_SOCKET", "Network", "UND_ERR_SOCKET"],
    ["UND_ERR_BODY_TIMEOUT", "Timeout", "timed out"]
  ] as const)("connectionFailure: %s -> %s, retryable", (code, reason, text) => {
    const error = ProviderKit.connectionFailure(call, code)
    assert.strictEqual(error.reason._tag, reason)
    assert.isTrue(error.isRetryable)
    assert.include(error.message, text)
    assert.isTrue(ProviderKit.isConnectionCode(code))
  })

  it("connectionFailure marks a failure before any connection as not sent (the budget releases it), not a lost one", () => {
    for (const code of ["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH", "UND_ERR_CONNECT_TIMEOUT"]) {
      assert.strictEqual(ProviderKit.connectionFailure(call, code).sent, false, code)
    }
    for (const code of ["ECONNRESET", "EPIPE", "UND_ERR_SOCKET", "UND_ERR_HEADERS_TIMEOUT", undefined]) {
      assert.isUndefined(ProviderKit.connectionFailure(call, code).sent, String(code))
    }
    // not part of the error document
    assert.notProperty(LlmError.toDocument(ProviderKit.connectionFailure(call, "ECONNREFUSED")), "sent")
  })

  it("the error builders carry the provider, the model and what to do", () => {
    const timeout = ProviderKit.attemptTimeout(call, 1500)
    assert.strictEqual(timeout.reason._tag === "Timeout" && timeout.reason.scope, "attempt")
    assert.strictEqual(timeout.reason._tag === "Timeout" && timeout.reason.elapsedMs, 1500)
    assert.isTrue(timeout.isRetryable)
    const malformed = ProviderKit.malformed(call, "not JSON", "req-1")
    assert.deepStrictEqual([malformed.reason._tag, malformed.requestId, malformed.model], ["ResponseMalformed", "req-1", "acme-1"])
    assert.isFalse(malformed.isRetryable)
    const filtered = ProviderKit.contentFiltered(call, "blocked", undefined)
    assert.deepStrictEqual([filtered.reason._tag, filtered.provider], ["ContentFiltered", "acme"])
  })
})

describe("ProviderKit lenient Schemas", () => {
  const Usage = ProviderKit.lenientStruct({
    prompt_tokens: ProviderKit.optionalNullable(Schema.Number),
    completion_tokens: ProviderKit.optionalNullable(Schema.Number)
  })

  it("require only what is read, accept null or absence, and keep unknown fields", () => {
    const decode = Schema.decodeUnknownSync(Usage)
    assert.deepStrictEqual(decode({ prompt_tokens: 3, completion_tokens: null, cost: 0.1 }), {
      prompt_tokens: 3,
      completion_tokens: null,
      cost: 0.1
    })
    assert.deepStrictEqual(decode({}), {})
    assert.throws(() => decode({ prompt_tokens: "three" }))
  })
})
