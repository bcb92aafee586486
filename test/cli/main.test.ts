import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, FileSystem, Path, Schema, Stream } from "effect"
import { ChildProcess } from "effect/process"
import { LlmResponse } from "../../src/LlmResponse.ts"
import { baseEnv, binScript, keyedScript, nodeBin, runCli } from "./runCli.ts"

const TIMEOUT = 120_000

/** A fresh working directory, with optional files in it. */
const tempDir = (files: Record<string, string> = {}) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const dir = yield* Effect.orDie(fs.makeTempDirectoryScoped({ prefix: "llmc-cli-" }))
    for (const [name, text] of Object.entries(files)) {
      yield* Effect.orDie(fs.makeDirectory(path.dirname(path.join(dir, name)), { recursive: true }))
      yield* Effect.orDie(fs.writeFileString(path.join(dir, name), text))
    }
    return dir
  }).pipe(Effect.provide(NodeServices.layer))

const lines = (text: string) => text.split("\n").filter((line) => line.trim() !== "")

describe("llm-connect prompt (subprocess)", () => {
  it.live("answers with the mock, usage and a mock notice on stderr, exit 0", () =>
    Effect.gen(function*() {
      const cwd = yield* tempDir()
      const run = yield* runCli(["prompt", "hello there"], { cwd, env: { OPENAI_API_KEY: "sk-not-used" } })
      assert.strictEqual(run.exitCode, 0)
      assert.include(run.stdout, "hello there")
      assert.include(run.stderr, "using the mock provider")
      assert.match(run.stderr, /usage: \d+ in \+ \d+ out = \d+ tokens \| model mock-1 \| provider mock \| \d+m?s/)
      assert.strictEqual(lines(run.stdout).length, 1)
    }), TIMEOUT)

  it.live("--json prints exactly one LlmResponse document", () =>
    Effect.gen(function*() {
      const cwd = yield* tempDir()
      const run = yield* runCli(["prompt", "hi", "--json", "--mock-reply", "pong", "--max-tokens", "5"], { cwd })
      assert.strictEqual(run.exitCode, 0)
      const document = Schema.decodeUnknownSync(LlmResponse)(JSON.parse(run.stdout))
      assert.strictEqual(document.content, "pong")
      assert.strictEqual(document.provider, "mock")
      assert.strictEqual(document.usage.totalTokens, document.usage.inputTokens + document.usage.outputTokens)
    }), TIMEOUT)

  it.live("environment and flags reach the call, flags first", () =>
    Effect.gen(function*() {
      const cwd = yield* tempDir({ "llm-connect.yaml": "mock:\n  reply: from the file\n" })
      const fromFile = yield* runCli(["prompt", "hi"], { cwd })
      assert.strictEqual(fromFile.stdout.trim(), "from the file")
      const fromEnv = yield* runCli(["prompt", "hi"], { cwd, env: { LLM_CONNECT_MOCK_REPLY: "from the env" } })
      assert.strictEqual(fromEnv.stdout.trim(), "from the env")
      const fromFlag = yield* runCli(["prompt", "hi", "--mock-reply", "from the flag"], {
        cwd,
        env: { LLM_CONNECT_MOCK_REPLY: "from the env" }
      })
      assert.strictEqual(fromFlag.stdout.trim(), "from the flag")
    }), TIMEOUT)

  it.live("a scripted provider failure exits 1; --json prints the error document", () =>
    Effect.gen(function*() {
      const cwd = yield* tempDir()
      const plain = yield* runCli(["prompt", "hi", "--mock-faults", "500", "--max-retries", "0"], { cwd })
      assert.strictEqual(plain.exitCode, 1)
      assert.strictEqual(plain.stdout, "")
      assert.include(plain.stderr, "llm-connect: error: ServerError")
      const json = yield* runCli(["prompt", "hi", "--mock-faults", "500", "--max-retries", "0", "--json"], { cwd })
      assert.strictEqual(json.exitCode, 1)
      const document = JSON.parse(json.stdout)
      assert.strictEqual(document.errorType, "ServerError")
      assert.strictEqual(document.status, 500)
      assert.strictEqual(document.retryable, true)
      assert.strictEqual(document.provider, "mock")
      assert.strictEqual(lines(json.stderr).filter((line) => line.includes("error:")).length, 1)
    }), TIMEOUT)

  it.live("an unknown flag exits 2 with the flag named, nothing on stdout", () =>
    Effect.gen(function*() {
      const cwd = yield* tempDir()
      const run = yield* runCli(["prompt", "hi", "--bogus"], { cwd })
      assert.strictEqual(run.exitCode, 2)
      assert.strictEqual(run.stdout, "")
      assert.include(run.stderr, "--bogus")
      assert.include(run.stderr, "llm-connect prompt --help")
      const json = yield* runCli(["prompt", "hi", "--bogus", "--json"], { cwd })
      assert.strictEqual(json.exitCode, 2)
      assert.strictEqual(JSON.parse(json.stdout).errorType, "Configuration")
    }), TIMEOUT)

  it.live("a missing argument or a bad flag value exits 2", () =>
    Effect.gen(function*() {
      const cwd = yield* tempDir()
      const missing = yield* runCli(["prompt"], { cwd })
      assert.strictEqual(missing.exitCode, 2)
      assert.include(missing.stderr, "text")
      const badValue = yield* runCli(["prompt", "hi", "--temperature", "7"], { cwd })
      assert.strictEqual(badValue.exitCode, 2)
      assert.include(badValue.stderr, "--temperature 0.7")
    }), TIMEOUT)

  it.live("an unknown provider exits 2 and lists the known ones", () =>
    Effect.gen(function*() {
      const cwd = yield* tempDir()
      const run = yield* runCli(["prompt", "hi", "--provider", "nosuch"], { cwd })
      assert.strictEqual(run.exitCode, 2)
      assert.include(run.stderr, "unknown provider \"nosuch\"")
      assert.include(run.stderr, "known providers: ")
      assert.include(run.stderr, "mock")
      assert.include(run.stderr, "(from --provider)")
    }), TIMEOUT)

  it.live("a missing key exits 2 before any call, naming the variable and the key file", () =>
    Effect.gen(function*() {
      const cwd = yield* tempDir()
      const run = yield* runCli(["prompt", "hi", "--provider", "keyed"], { cwd, script: keyedScript })
      assert.strictEqual(run.exitCode, 2)
      assert.include(run.stderr, "KEYED_API_KEY")
      assert.include(run.stderr, `${cwd}/keys/keyed.key`)
      assert.include(run.stderr, "providers.keyed.apiKey")
      const withKey = yield* runCli(["prompt", "hi"], {
        cwd,
        script: keyedScript,
        env: { LLM_CONNECT_PROVIDER: "keyed", KEYED_API_KEY: "secret-12345" }
      })
      assert.strictEqual(withKey.exitCode, 0)
      assert.include(withKey.stdout, "a key of 12 characters")
      assert.notInclude(withKey.stdout + withKey.stderr, "secret-12345")
      assert.notInclude(withKey.stderr, "mock provider")
    }), TIMEOUT)

  it.live("an invalid config file exits 2 naming the file and line", () =>
    Effect.gen(function*() {
      const cwd = yield* tempDir({ "team.yaml": "provider: mock\nmaxTokens: many\n" })
      const run = yield* runCli(["prompt", "hi", "--config", "team.yaml"], { cwd })
      assert.strictEqual(run.exitCode, 2)
      assert.include(run.stderr, "team.yaml line 2")
      assert.include(run.stderr, "maxTokens: 512")
      const unknown = yield* runCli(["prompt", "hi"], { cwd, env: { LLM_CONNECT_CONFIG: "other.yaml" } })
      assert.strictEqual(unknown.exitCode, 2)
      assert.include(unknown.stderr, "other.yaml (named by LLM_CONNECT_CONFIG)")
    }), TIMEOUT)

  it.live("--timeout bounds the call: exit 3, errorType Timeout with scope call", () =>
    Effect.gen(function*() {
      const cwd = yield* tempDir()
      const run = yield* runCli(["prompt", "hi", "--timeout", "50ms", "--mock-latency", "5s", "--json"], { cwd })
      assert.strictEqual(run.exitCode, 3)
      const document = JSON.parse(run.stdout)
      assert.strictEqual(document.errorType, "Timeout")
      assert.strictEqual(document.scope, "call")
      assert.include(run.stderr, "Timeout")
    }), TIMEOUT)

  it.live("SIGINT during a call exits 130", () =>
    Effect.gen(function*() {
      const cwd = yield* tempDir()
      const exitCode = yield* Effect.gen(function*() {
        const handle = yield* ChildProcess.make(nodeBin, [binScript, "prompt", "hi", "--mock-latency", "60s"], {
          cwd,
          env: baseEnv(cwd),
          extendEnv: false
        })
        // wait until the call is under way (the mock notice is printed just before it)
        yield* handle.stderr.pipe(
          Stream.decodeText(),
          Stream.takeUntil((chunk) => chunk.includes("mock provider")),
          Stream.runDrain
        )
        yield* handle.kill({ killSignal: "SIGINT" })
        return yield* handle.exitCode
      }).pipe(Effect.scoped, Effect.provide(NodeServices.layer))
      assert.strictEqual(Number(exitCode), 130)
    }), TIMEOUT)
})

describe("llm-connect providers (subprocess)", () => {
  it.live("lists each provider with its default model and key status, never the key", () =>
    Effect.gen(function*() {
      const cwd = yield* tempDir()
      const run = yield* runCli(["providers"], { cwd, script: keyedScript })
      assert.strictEqual(run.exitCode, 0)
      assert.match(run.stdout, /\* mock\s+mock-1\s+not-needed/)
      assert.match(run.stdout, /keyed\s+keyed-1\s+missing\s+KEYED_API_KEY/)
      const json = yield* runCli(["providers", "--json"], {
        cwd,
        script: keyedScript,
        env: { KEYED_API_KEY: "secret-abcdef" }
      })
      assert.strictEqual(json.exitCode, 0)
      assert.notInclude(json.stdout, "secret-abcdef")
      const document = JSON.parse(json.stdout)
      assert.strictEqual(document.selected, "mock")
      const keyed = document.providers.find((row: { name: string }) => row.name === "keyed")
      assert.deepInclude(keyed, { key: "found", keySource: "KEYED_API_KEY", defaultModel: "keyed-1" })
    }), TIMEOUT)

  it.live("finds a key file in LLM_CONNECT_KEY_DIR", () =>
    Effect.gen(function*() {
      const cwd = yield* tempDir({ "keys/keyed.key": "secret-from-file\n" })
      const run = yield* runCli(["providers", "--json"], { cwd, script: keyedScript })
      assert.notInclude(run.stdout, "secret-from-file")
      const keyed = JSON.parse(run.stdout).providers.find((row: { name: string }) => row.name === "keyed")
      assert.strictEqual(keyed.keySource, `${cwd}/keys/keyed.key`)
    }), TIMEOUT)

  it.live("--version and --help exit 0; an unknown subcommand exits 2", () =>
    Effect.gen(function*() {
      const cwd = yield* tempDir()
      const version = yield* runCli(["--version"], { cwd })
      assert.strictEqual(version.exitCode, 0)
      assert.include(version.stdout, "0.1.0")
      const help = yield* runCli(["prompt", "--help"], { cwd })
      assert.strictEqual(help.exitCode, 0)
      assert.include(help.stdout, "--mock-faults")
      const unknown = yield* runCli(["promt", "hi"], { cwd })
      assert.strictEqual(unknown.exitCode, 2)
      assert.include(unknown.stderr, "promt")
    }), TIMEOUT)
})
