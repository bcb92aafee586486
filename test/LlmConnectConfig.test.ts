import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, FileSystem, Path, Redacted } from "effect"
import { readFileSync } from "node:fs"
import * as LlmConnectConfig from "../src/LlmConnectConfig.ts"
import type * as LlmError from "../src/LlmError.ts"

interface Setup {
  readonly env?: Record<string, string>
  readonly files?: Record<string, string>
  readonly flags?: Record<string, unknown>
  readonly configFile?: string
}

/** Loads the configuration in a fresh temp directory, with an explicit environment. */
const loadWith = (setup: Setup) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const dir = yield* Effect.orDie(fs.makeTempDirectoryScoped({ prefix: "llmc-config-" }))
    for (const [name, text] of Object.entries(setup.files ?? {})) {
      yield* Effect.orDie(fs.writeFileString(path.join(dir, name), text))
    }
    return yield* LlmConnectConfig.load({
      cwd: dir,
      ...(setup.flags !== undefined ? { flags: setup.flags } : {}),
      ...(setup.configFile !== undefined ? { configFile: setup.configFile } : {})
    }).pipe(Effect.provide(ConfigProvider.layer(ConfigProvider.fromUnknown(setup.env ?? {}))))
  }).pipe(Effect.provide(NodeServices.layer))

/** The Configuration reason of a failed load. */
const failWith = (setup: Setup) =>
  Effect.gen(function*() {
    const error: LlmError.LlmError = yield* Effect.flip(loadWith(setup))
    assert.strictEqual(error.reason._tag, "Configuration")
    if (error.reason._tag !== "Configuration") throw new Error("unreachable")
    return { reason: error.reason, message: error.message }
  })

describe("LlmConnectConfig precedence", () => {
  it.effect("defaults to the mock provider with nothing set", () =>
    Effect.gen(function*() {
      const { config, sources } = yield* loadWith({})
      assert.strictEqual(config.provider, "mock")
      assert.deepStrictEqual(sources.provider, { _tag: "Default" })
      assert.deepStrictEqual(config.mock.faults, [])
      assert.isUndefined(config.timeoutMs)
      assert.isUndefined(config.file)
    }))

  it.effect("reads ./llm-connect.yaml when present, with the line of each value", () =>
    Effect.gen(function*() {
      const { config, sources } = yield* loadWith({
        files: { "llm-connect.yaml": "# settings\nprovider: mock\nmodel: mock-2\nmaxTokens: 64\ntimeout: 1h\nmock:\n  reply: hi\n  latency: 250ms\n" }
      })
      assert.strictEqual(config.model, "mock-2")
      assert.strictEqual(config.maxTokens, 64)
      assert.strictEqual(config.timeoutMs, 3_600_000)
      assert.strictEqual(config.mock.reply, "hi")
      assert.strictEqual(config.mock.latencyMs, 250)
      assert.strictEqual(config.file, "llm-connect.yaml")
      assert.deepStrictEqual(sources.model, { _tag: "File", path: "llm-connect.yaml", line: 3 })
      assert.deepStrictEqual(sources["mock.latency"], { _tag: "File", path: "llm-connect.yaml", line: 8 })
    }))

  it.effect("the environment overrides the file", () =>
    Effect.gen(function*() {
      const { config, sources } = yield* loadWith({
        files: { "llm-connect.yaml": "provider: mock\nmodel: from-file\nmaxTokens: 64\n" },
        env: { LLM_CONNECT_MODEL: "from-env", LLM_CONNECT_MAX_TOKENS: "128", LLM_CONNECT_MOCK_FAULTS: "429, 500" }
      })
      assert.strictEqual(config.model, "from-env")
      assert.strictEqual(config.maxTokens, 128)
      assert.deepStrictEqual(config.mock.faults, ["429", "500"])
      assert.deepStrictEqual(sources.model, { _tag: "Env", variable: "LLM_CONNECT_MODEL" })
    }))

  it.effect("flags override the environment and the file", () =>
    Effect.gen(function*() {
      const { config, sources } = yield* loadWith({
        files: { "llm-connect.yaml": "model: from-file\ntemperature: 0.1\n" },
        env: { LLM_CONNECT_MODEL: "from-env", LLM_CONNECT_TEMPERATURE: "0.2" },
        flags: { model: "from-flag", temperature: 0.3, "mock.faults": "500,ok", "mock.latency": "5s" }
      })
      assert.strictEqual(config.model, "from-flag")
      assert.strictEqual(config.temperature, 0.3)
      assert.deepStrictEqual(config.mock.faults, ["500", "ok"])
      assert.strictEqual(config.mock.latencyMs, 5_000)
      assert.deepStrictEqual(sources.model, { _tag: "Flag", flag: "--model" })
      assert.deepStrictEqual(sources["mock.faults"], { _tag: "Flag", flag: "--mock-faults" })
    }))

  it.effect("an empty variable counts as unset", () =>
    Effect.gen(function*() {
      const { config } = yield* loadWith({ files: { "llm-connect.yaml": "model: from-file\n" }, env: { LLM_CONNECT_MODEL: "" } })
      assert.strictEqual(config.model, "from-file")
    }))

  it.effect("LLM_CONNECT_CONFIG names the file; --config wins over it", () =>
    Effect.gen(function*() {
      const files = { "a.yaml": "model: a\n", "b.yaml": "model: b\n", "llm-connect.yaml": "model: default-file\n" }
      const viaEnv = yield* loadWith({ files, env: { LLM_CONNECT_CONFIG: "a.yaml" } })
      assert.strictEqual(viaEnv.config.model, "a")
      const viaFlag = yield* loadWith({ files, env: { LLM_CONNECT_CONFIG: "a.yaml" }, configFile: "b.yaml" })
      assert.strictEqual(viaFlag.config.model, "b")
      assert.strictEqual(viaFlag.config.file, "b.yaml")
    }))

  it.effect("a key in the environment never selects a paid provider", () =>
    Effect.gen(function*() {
      const { config } = yield* loadWith({ env: { OPENAI_API_KEY: "sk-test-not-real", GEMINI_API_KEY: "g-test" } })
      assert.strictEqual(config.provider, "mock")
    }))

  it.effect("the provider comes from LLM_CONNECT_PROVIDER or the file", () =>
    Effect.gen(function*() {
      const fromEnv = yield* loadWith({ env: { LLM_CONNECT_PROVIDER: "openai" } })
      assert.strictEqual(fromEnv.config.provider, "openai")
      const fromFile = yield* loadWith({ files: { "llm-connect.yaml": "provider: gemini\n" } })
      assert.strictEqual(fromFile.config.provider, "gemini")
      assert.deepStrictEqual(fromFile.sources.provider, { _tag: "File", path: "llm-connect.yaml", line: 1 })
    }))

  it.effect("fault scripts may be a string or a list in the file", () =>
    Effect.gen(function*() {
      const asString = yield* loadWith({ files: { "llm-connect.yaml": "mock:\n  faults: \"429:2s,500\"\n" } })
      assert.deepStrictEqual(asString.config.mock.faults, ["429:2s", "500"])
      const asList = yield* loadWith({ files: { "llm-connect.yaml": "mock:\n  faults: [429, timeout]\n" } })
      assert.deepStrictEqual(asList.config.mock.faults, ["429", "timeout"])
      assert.deepStrictEqual(LlmConnectConfig.mockOptions(asList.config), { faults: ["429", "timeout"] })
    }))

  it.effect("provider sections: keys become Redacted, the model falls back to the section's", () =>
    Effect.gen(function*() {
      const { config } = yield* loadWith({
        files: { "llm-connect.yaml": "provider: openai\nproviders:\n  openai:\n    apiKey: sk-secret-123\n    model: gpt-4o-mini\n" }
      })
      const section = config.providers.openai!
      assert.isTrue(Redacted.isRedacted(section.apiKey))
      assert.strictEqual(Redacted.value(section.apiKey!), "sk-secret-123")
      assert.notInclude(JSON.stringify(config), "sk-secret-123")
      assert.strictEqual(LlmConnectConfig.modelFor(config), "gpt-4o-mini")
      assert.strictEqual(LlmConnectConfig.modelFor({ ...config, model: "gpt-4o" }), "gpt-4o")
    }))
})

describe("LlmConnectConfig built-in provider options", () => {
  it.effect("are validated at load with their provider's Schema, with the file line", () =>
    Effect.gen(function*() {
      const { reason } = yield* failWith({ files: { "llm-connect.yaml": "providers:\n  openai:\n    options:\n      timeout: 30 seconds\n" } })
      assert.strictEqual(reason.setting, "providers.openai.options.timeout")
      assert.include(reason.description, "llm-connect.yaml line 4")
    }))

  it.effect("are handed on as written (timeout: 30s, the documented form)", () =>
    Effect.gen(function*() {
      const { config } = yield* loadWith({
        files: { "llm-connect.yaml": "providers:\n  openai:\n    options:\n      timeout: 30s\n  my-plugin:\n    options: { anything: 1 }\n" }
      })
      assert.deepStrictEqual(config.providers.openai?.options, { timeout: "30s" })
      assert.deepStrictEqual(config.providers["my-plugin"]?.options, { anything: 1 })
    }))
})

describe("LlmConnectConfig validation messages", () => {
  it.effect("an unknown top-level key: its line and the known keys", () =>
    Effect.gen(function*() {
      const { reason } = yield* failWith({ files: { "llm-connect.yaml": "provider: mock\nbudgett: 3\n" } })
      assert.strictEqual(reason.setting, "budgett")
      assert.include(reason.description, "unknown setting \"budgett\" at llm-connect.yaml line 2")
      for (const key of ["provider", "model", "maxTokens", "timeout", "mock", "providers"]) assert.include(reason.fix, key)
    }))

  it.effect("an unknown key inside a section lists that section's keys", () =>
    Effect.gen(function*() {
      const { reason } = yield* failWith({ files: { "cfg.yaml": "providers:\n  openai:\n    apiKeyy: x\n" }, configFile: "cfg.yaml" })
      assert.strictEqual(reason.setting, "providers.openai.apiKeyy")
      assert.include(reason.description, "cfg.yaml line 3")
      assert.include(reason.fix, "apiKey, baseUrl, model, keyFile")
    }))

  it.effect("a bad value in the file: setting, file line and an example", () =>
    Effect.gen(function*() {
      const { message, reason } = yield* failWith({ files: { "llm-connect.yaml": "provider: mock\nmaxTokens: lots\n" } })
      assert.strictEqual(reason.setting, "maxTokens")
      assert.include(reason.description, "invalid maxTokens = \"lots\" (from llm-connect.yaml line 2)")
      assert.include(reason.description, "a whole number greater than 0")
      assert.include(reason.fix, "maxTokens: 512")
      assert.include(message, "Fix:")
    }))

  it.effect("a bad value in the environment names the variable and shows an example", () =>
    Effect.gen(function*() {
      const { reason } = yield* failWith({ env: { LLM_CONNECT_TEMPERATURE: "hot" } })
      assert.strictEqual(reason.setting, "temperature")
      assert.include(reason.description, "(from LLM_CONNECT_TEMPERATURE)")
      assert.include(reason.fix, "LLM_CONNECT_TEMPERATURE=0.7")
    }))

  it.effect("a bad flag value names the flag", () =>
    Effect.gen(function*() {
      const { reason } = yield* failWith({ flags: { temperature: 5 } })
      assert.include(reason.description, "invalid temperature = 5 (from --temperature): expected a number from 0 to 2")
      assert.include(reason.fix, "--temperature 0.7")
    }))

  it.effect("a bad duration says how durations are written", () =>
    Effect.gen(function*() {
      const { reason } = yield* failWith({ files: { "llm-connect.yaml": "timeout: 30 seconds\n" } })
      assert.strictEqual(reason.setting, "timeout")
      assert.include(reason.description, "llm-connect.yaml line 1")
      assert.include(reason.description, "500ms, 30s, 5m or 1h")
      assert.include(reason.fix, "timeout: 30s")
    }))

  it.effect("a zero timeout is refused", () =>
    Effect.gen(function*() {
      const { reason } = yield* failWith({ flags: { timeout: "0ms" } })
      assert.strictEqual(reason.setting, "timeout")
      assert.include(reason.description, "timeout must be longer than 0 (from --timeout)")
      assert.include(reason.fix, "--timeout 30s")
    }))

  it.effect("a bad fault token is named, with its source", () =>
    Effect.gen(function*() {
      const { reason } = yield* failWith({ files: { "llm-connect.yaml": "mock:\n  faults: [500, 418]\n" } })
      assert.strictEqual(reason.setting, "mock.faults")
      assert.include(reason.description, "\"418\"")
      assert.include(reason.description, "llm-connect.yaml line 2")
    }))

  it.effect("YAML syntax errors give the file and line", () =>
    Effect.gen(function*() {
      const { reason } = yield* failWith({ files: { "bad.yaml": "provider: mock\nmock: {reply: \"x\"\n" }, configFile: "bad.yaml" })
      assert.strictEqual(reason.setting, "config")
      assert.match(reason.description, /bad\.yaml line \d+ is not valid YAML/)
    }))

  it.effect("a missing --config file says which flag named it", () =>
    Effect.gen(function*() {
      const { reason } = yield* failWith({ configFile: "nowhere.yaml" })
      assert.include(reason.description, "nowhere.yaml (named by --config): no such file")
    }))

  it.effect("a file that is not a mapping is refused", () =>
    Effect.gen(function*() {
      const { reason } = yield* failWith({ files: { "llm-connect.yaml": "- provider\n- mock\n" } })
      assert.include(reason.description, "must be a mapping of settings")
    }))

  it.effect("several problems are reported together, in file order", () =>
    Effect.gen(function*() {
      const { reason } = yield* failWith({ files: { "llm-connect.yaml": "maxTokens: 0\nmodell: x\ntemperature: 9\n" } })
      assert.include(reason.description, "3 problems")
      const first = reason.description.indexOf("maxTokens")
      const second = reason.description.indexOf("modell")
      const third = reason.description.indexOf("temperature = 9")
      assert.isTrue(first >= 0 && first < second && second < third)
    }))

  it.effect("an empty file is the same as no file", () =>
    Effect.gen(function*() {
      const { config } = yield* loadWith({ files: { "llm-connect.yaml": "" } })
      assert.strictEqual(config.provider, "mock")
    }))

  it.effect("the example file in docs/configuration.md is valid", () =>
    Effect.gen(function*() {
      const docs = readFileSync(new URL("../docs/configuration.md", import.meta.url), "utf8")
      const example = /```yaml\n(# llm-connect\.yaml\n[\s\S]*?)```/.exec(docs)?.[1]
      assert.isDefined(example)
      const { config } = yield* loadWith({ files: { "llm-connect.yaml": example! } })
      assert.strictEqual(config.provider, "openai")
      assert.strictEqual(config.timeoutMs, 30_000)
      assert.deepStrictEqual(config.mock.faults, ["429:1s", "ok"])
    }))

  it("the file Schema is exported with every section", () => {
    assert.deepStrictEqual(Object.keys(LlmConnectConfig.sections).slice(0, 9), [
      "provider",
      "model",
      "system",
      "baseUrl",
      "maxTokens",
      "temperature",
      "timeout",
      "mock",
      "providers"
    ])
    assert.strictEqual(LlmConnectConfig.describeSource({ _tag: "File", path: "x.yaml", line: 4 }), "x.yaml line 4")
  })
})

describe("LlmConnectConfig ledger off words", () => {
  it.effect("LLM_CONNECT_LEDGER, --ledger, ledger.path and ledger: set to off/none/false (any case) mean no ledger", () =>
    Effect.gen(function*() {
      for (const word of ["off", "OFF", "none", "None", "false", " False "]) {
        assert.strictEqual((yield* loadWith({ env: { LLM_CONNECT_LEDGER: word } })).config.ledger, false, `env ${word}`)
        assert.strictEqual((yield* loadWith({ flags: { "ledger.path": word } })).config.ledger, false, `flag ${word}`)
        assert.strictEqual(
          (yield* loadWith({ files: { "llm-connect.yaml": `ledger:\n  path: "${word}"\n` } })).config.ledger,
          false,
          `ledger.path ${word}`
        )
        assert.strictEqual(
          (yield* loadWith({ files: { "llm-connect.yaml": `ledger: "${word}"\n` } })).config.ledger,
          false,
          `ledger: ${word}`
        )
      }
      // The variable wins over a file's postgres URL, as any path does.
      const overFile = yield* loadWith({
        env: { LLM_CONNECT_LEDGER: "off" },
        files: { "llm-connect.yaml": "ledger:\n  postgres:\n    url: postgres://u@127.0.0.1:1/db\n" }
      })
      assert.strictEqual(overFile.config.ledger, false)
    }))

  it.effect("any other value keeps its meaning: a path (also one that merely contains the words) or a URL", () =>
    Effect.gen(function*() {
      for (const location of ["offline.db", "./off", "none/usage.db", "postgres://u@127.0.0.1:1/db"]) {
        assert.deepStrictEqual((yield* loadWith({ env: { LLM_CONNECT_LEDGER: location } })).config.ledger, { path: location })
      }
      assert.deepStrictEqual(
        (yield* loadWith({ files: { "llm-connect.yaml": "ledger:\n  path: off.db\n" } })).config.ledger,
        { path: "off.db" }
      )
    }))

  it.effect("another word as the ledger key is refused, naming the accepted ones", () =>
    Effect.gen(function*() {
      const { message } = yield* failWith({ files: { "llm-connect.yaml": "ledger: disabled\n" } })
      assert.include(message, "llm-connect.yaml line 1")
      assert.include(message, "off, none or false")
    }))
})

describe("LlmConnectConfig hardening: refused at load, with the setting and its source", () => {
  it.effect("--max-retries is capped at 10", () =>
    Effect.gen(function*() {
      const { message, reason } = yield* failWith({ flags: { "retry.maxRetries": 100_000 } })
      assert.strictEqual(reason.setting, "retry.maxRetries")
      assert.include(message, "--max-retries")
      assert.include(message, "from 0 to 10")
      const ten = yield* loadWith({ flags: { "retry.maxRetries": 10 } })
      assert.strictEqual(ten.config.retry?.maxRetries, 10)
      const file = yield* failWith({ files: { "llm-connect.yaml": "retry:\n  maxAttempts: 500\n" } })
      assert.include(file.message, "llm-connect.yaml line 2")
    }))

  it.effect("a base URL that is not http(s) names its file and line, never the URL's credentials", () =>
    Effect.gen(function*() {
      const { message, reason } = yield* failWith({
        files: { "llm-connect.yaml": "provider: openai\nproviders:\n  openai:\n    baseUrl: ftp://u:pw-secret@files.example/v1\n" }
      })
      assert.strictEqual(reason.setting, "providers.openai.baseUrl")
      assert.include(message, "llm-connect.yaml line 4")
      assert.include(message, "http:// or https://")
      assert.notInclude(message, "pw-secret")
      const env = yield* failWith({ env: { LLM_CONNECT_BASE_URL: "localhost:11434/v1" } })
      assert.include(env.message, "LLM_CONNECT_BASE_URL")
      const fallback = yield* failWith({ files: { "llm-connect.yaml": "fallback:\n  - provider: openai\n    baseUrl: file:///tmp/x\n" } })
      assert.include(fallback.message, "line 3")
    }))

  it.effect("a YAML alias bomb is a Configuration error with its file and line, in bounded time", () =>
    Effect.gen(function*() {
      const levels = ["a: &a [x, x, x, x, x, x, x, x, x]"]
      for (const name of ["b", "c", "d", "e", "f", "g", "h", "i"]) {
        const previous = levels.at(-1)!.charAt(0)
        levels.push(`${name}: &${name} [${Array.from({ length: 9 }, () => `*${previous}`).join(", ")}]`)
      }
      const { message, reason } = yield* failWith({ files: { "llm-connect.yaml": `provider: mock\n${levels.join("\n")}\n` } })
      assert.strictEqual(reason.setting, "config")
      assert.include(message, "llm-connect.yaml line 7")
      assert.include(message, "aliases expand to more than 100000 values")
    }))

  it.live("a budget deadline already past is refused at load (exit 2), naming its source", () =>
    Effect.gen(function*() {
      const flag = yield* failWith({ flags: { "budget.deadline": "2020-01-01T00:00:00Z" } })
      assert.strictEqual(flag.reason.setting, "budget.deadline")
      assert.include(flag.message, "already past")
      assert.include(flag.message, "--deadline")
      const file = yield* failWith({ files: { "llm-connect.yaml": "budget:\n  deadline: 2001-09-09T01:46:40Z\n" } })
      assert.include(file.message, "llm-connect.yaml line 2")
      const future = yield* loadWith({ flags: { "budget.deadline": "2999-01-01T00:00:00Z" } })
      assert.strictEqual(future.config.budget?.deadline, "2999-01-01T00:00:00Z")
    }))
})

describe("LlmConnectConfig.fromOptions (the Promise client's options)", () => {
  const fromOptions = (options: unknown, env: Record<string, string> = {}) =>
    LlmConnectConfig.fromOptions(options).pipe(
      Effect.provide(ConfigProvider.layer(ConfigProvider.fromUnknown(env))),
      Effect.provide(NodeServices.layer)
    )

  it.effect("resolves the file's shape from one object, each value's source the option", () =>
    Effect.gen(function*() {
      const { config, sources } = yield* fromOptions({
        provider: "openai",
        model: "gpt-4o-mini",
        timeout: "30s",
        budget: { costUsd: 0.5, deadline: "2m" },
        providers: { openai: { apiKey: "sk-options" } }
      })
      assert.strictEqual(config.provider, "openai")
      assert.strictEqual(config.timeoutMs, 30_000)
      assert.strictEqual(config.budget?.costUsd, 0.5)
      assert.strictEqual(Redacted.value(config.providers.openai!.apiKey!), "sk-options")
      assert.deepStrictEqual(sources["budget.costUsd"], { _tag: "Option", path: "budget.costUsd" })
      assert.strictEqual(LlmConnectConfig.describeSource(sources.provider!), "the option provider")
    }))

  it.effect("reads no variable and no file: LLM_CONNECT_* and the default file are ignored", () =>
    Effect.gen(function*() {
      const { config, sources } = yield* fromOptions({}, { LLM_CONNECT_PROVIDER: "openai", LLM_CONNECT_CONFIG: "/nope.yaml" })
      assert.strictEqual(config.provider, "mock")
      assert.deepStrictEqual(sources.provider, { _tag: "Default" })
      assert.isUndefined(config.file)
    }))

  it.effect("refuses with the loader's messages, naming the option and a good value in the object's shape", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(fromOptions({ budget: { totalTokens: 0 }, retry: { maxRetries: 99 } }))
      assert.strictEqual(error.reason._tag, "Configuration")
      assert.include(error.message, "2 problems")
      assert.include(error.message, "(from the option budget.totalTokens)")
      assert.include(error.message, "{ budget: { totalTokens: 24000 } }")
      assert.include(error.message, "{ retry: { maxRetries: 2 } }")
      const text = yield* Effect.flip(fromOptions({ provider: 3 }))
      assert.include(text.message, "(from the option provider)")
      assert.include(text.message, "{ provider: \"mock\" }")
      const notObject = yield* Effect.flip(fromOptions([1, 2]))
      assert.include(notObject.message, "the options must be an object of settings")
    }))
})
