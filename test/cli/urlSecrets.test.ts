/**
 * Credentials in a base URL (`?key=...`, Google's usual query parameter, or `user:password@`)
 * never reach any output of the CLI: the `--json` error document, the stderr error line, the
 * debug log lines and the spans exported over OTLP (including Effect's own HTTP client spans).
 * And such a gateway works: the request path is joined before the query.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as FakeHttpServer from "../providers/FakeHttpServer.ts"
import { ok } from "../providers/openai/fakeOpenAi.ts"
import { runCli } from "./runCli.ts"

const tempDir = () => mkdtempSync(join(tmpdir(), "llmc-cli-url-"))

const QUERY_SECRET = "QKEYsecret4d1f9"
const PASSWORD = "PWsecret7a2c0"

const withCredentials = (origin: string) => origin.replace("http://", `http://gw-user:${PASSWORD}@`) + `/v1?key=${QUERY_SECRET}&alt=json`

describe("credentials in a base URL", () => {
  it.live("never appear in the --json error, the stderr line, the debug log or the OTLP export", () =>
    Effect.gen(function*() {
      const provider = yield* FakeHttpServer.start(() => ({ status: 404, body: { error: { message: "no such model" } } }))
      const collector = yield* FakeHttpServer.start(() => ({ status: 200, body: {} }))
      const run = yield* runCli(
        ["prompt", "--json", "--provider", "openai-compatible", "--base-url", withCredentials(provider.origin), "hi"],
        { cwd: tempDir(), env: { LLM_CONNECT_LOG_LEVEL: "debug", OTEL_EXPORTER_OTLP_ENDPOINT: collector.origin } }
      )
      assert.strictEqual(run.exitCode, 1, run.stderr)
      // The call was made, with the key where the gateway expects it.
      assert.strictEqual(provider.requests[0]!.url, `/v1/chat/completions?key=${QUERY_SECRET}&alt=json`)
      const document = JSON.parse(run.stdout) as { errorType: string; error: string }
      assert.strictEqual(document.errorType, "NotFound")
      assert.include(document.error, "/v1?key=<redacted>&alt=json")
      assert.include(run.stderr, "llm-connect: error: NotFound")
      assert.include(run.stderr, "\"level\":\"DEBUG\"")
      const exported = collector.requests.filter((request) => request.url === "/v1/traces").map((request) => request.rawBody).join("\n")
      assert.include(exported, "url.full")
      assert.include(exported, "url.query")
      for (const [name, text] of [["stdout", run.stdout], ["stderr", run.stderr], ["OTLP", exported]] as const) {
        assert.notInclude(text, QUERY_SECRET, name)
        assert.notInclude(text, PASSWORD, name)
      }
    }), 120_000)

  it.live("a refused connection names the base URL without its credentials", () =>
    Effect.gen(function*() {
      const closed = yield* Effect.scoped(Effect.map(FakeHttpServer.start(() => ({})), (server) => server.origin))
      const run = yield* runCli(
        ["prompt", "--json", "--max-retries", "0", "--provider", "openai-compatible", "--base-url", withCredentials(closed), "hi"],
        { cwd: tempDir() }
      )
      assert.strictEqual(run.exitCode, 1, run.stderr)
      assert.strictEqual((JSON.parse(run.stdout) as { errorType: string }).errorType, "Network")
      assert.include(run.stderr, "?key=<redacted>")
      assert.notInclude(run.stdout + run.stderr, QUERY_SECRET)
      assert.notInclude(run.stdout + run.stderr, PASSWORD)
    }), 120_000)

  it.live("a gateway with a query string in its base URL answers (the path goes before the query)", () =>
    Effect.gen(function*() {
      const provider = yield* FakeHttpServer.start((request) => ok(request))
      const run = yield* runCli(
        ["prompt", "--provider", "openai-compatible", "--base-url", `${provider.origin}/v1/?key=${QUERY_SECRET}`, "Name a river"],
        { cwd: tempDir() }
      )
      assert.strictEqual(run.exitCode, 0, run.stderr)
      assert.strictEqual(run.stdout.trim(), "echo: Name a river")
      assert.strictEqual(provider.requests[0]!.url, `/v1/chat/completions?key=${QUERY_SECRET}`)
    }), 120_000)

  it.live("--base-url ftp://... is a Configuration error (exit 2) before any call", () =>
    Effect.gen(function*() {
      const run = yield* runCli(
        ["prompt", "--json", "--provider", "openai-compatible", "--base-url", `ftp://files.example/v1?key=${QUERY_SECRET}`, "hi"],
        { cwd: tempDir() }
      )
      assert.strictEqual(run.exitCode, 2, run.stderr)
      const document = JSON.parse(run.stdout) as { errorType: string; setting: string; error: string }
      assert.strictEqual(document.errorType, "Configuration")
      assert.strictEqual(document.setting, "baseUrl")
      assert.include(document.error, "--base-url")
      assert.include(document.error, "http://")
      assert.notInclude(run.stdout + run.stderr, QUERY_SECRET)
    }), 120_000)
})
