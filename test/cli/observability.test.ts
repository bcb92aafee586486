/**
 * The CLI exports spans to an OTLP collector when OTEL_EXPORTER_OTLP_ENDPOINT is set, and
 * writes JSON log lines at the level LLM_CONNECT_LOG_LEVEL asks for; neither holds the key or
 * the prompt.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as FakeHttpServer from "../providers/FakeHttpServer.ts"
import { runCli } from "./runCli.ts"

const withTempDir = <A, E, R>(body: (dir: string) => Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => mkdtempSync(join(tmpdir(), "cli-obs-"))),
    body,
    (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
  )

const MARKER = "CLI-PROMPT-MARKER-3c1d"

describe("CLI observability", () => {
  it.live("prompt exports its call span over OTLP and logs JSON lines at debug, without the prompt", () =>
    withTempDir((cwd) =>
      Effect.gen(function*() {
        const collector = yield* FakeHttpServer.start(() => ({ status: 200, body: {} }))
        const run = yield* runCli(["prompt", `Tell me about ${MARKER}`, "--json"], {
          cwd,
          env: {
            OTEL_EXPORTER_OTLP_ENDPOINT: collector.origin,
            OTEL_SERVICE_NAME: "cli-test",
            LLM_CONNECT_LOG_LEVEL: "debug"
          }
        })
        expect(run.exitCode).toBe(0)
        const traces = collector.requests.filter((request) => request.url === "/v1/traces")
        expect(traces.length).toBeGreaterThan(0)
        const body = traces.map((request) => request.rawBody).join("\n")
        expect(body).toContain("\"chat mock-1\"")
        expect(body).toContain("gen_ai.usage.output_tokens")
        expect(body).toContain("cli-test")
        const logLines = run.stderr.split("\n").filter((line) => line.startsWith("{"))
        const callLine = logLines.map((line) => JSON.parse(line) as { message: unknown; annotations: Record<string, unknown> })
          .find((line) => JSON.stringify(line.message).includes("llm call succeeded"))
        expect(callLine?.annotations).toMatchObject({ provider: "mock", model: "mock-1" })
        for (const request of collector.requests) expect(request.rawBody).not.toContain(MARKER)
        for (const line of logLines) expect(line).not.toContain(MARKER)
      })
    ), 120_000)

  it.live("LLM_CONNECT_PII=block refuses a prompt with personal data (exit 1, kinds named); redact replaces it", () =>
    withTempDir((cwd) =>
      Effect.gen(function*() {
        const prompt = "Reply to ada@example.com about card 4111 1111 1111 1111"
        const blocked = yield* runCli(["prompt", prompt, "--json"], { cwd, env: { LLM_CONNECT_PII: "block" } })
        expect(blocked.exitCode).toBe(1)
        const error = JSON.parse(blocked.stdout) as { errorType: string; error: string }
        expect(error.errorType).toBe("InvalidRequest")
        expect(error.error).toContain("email")
        expect(error.error).toContain("creditCard")
        expect(blocked.stdout + blocked.stderr).not.toContain("ada@example.com")
        const redacted = yield* runCli(["prompt", prompt, "--mock-reply", "echo"], { cwd, env: { LLM_CONNECT_PII: "redact" } })
        expect(redacted.exitCode).toBe(0)
        expect(redacted.stdout.trim()).toBe("Reply to [REDACTED:email] about card [REDACTED:creditCard]")
      })
    ), 120_000)
})
