/**
 * Workflow runs of llm-connect serve on real HTTP at 127.0.0.1:0, over a provider the test
 * steers: async start then poll, `?wait`, cancel mid-step (the call interrupted and charged,
 * the run cancelled, a second cancel 409), SSE events in order for a late subscriber, 404 and
 * 400 bodies, the run cap (503 + retry-after), JSON-RPC `workflow.run` / `workflow.status`,
 * virtual keys, eviction with the state read back from the journal, the drain, and the
 * start-up checks of the workflows folder.
 */
import { assert, describe, it } from "@effect/vitest"
import { NodeServices } from "@effect/platform-node"
import { Deferred, Effect, FileSystem, Redacted } from "effect"
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as LlmConnectConfig from "../../src/LlmConnectConfig.ts"
import * as NodeServe from "../../src/node/NodeServe.ts"
import * as ProviderRegistry from "../../src/ProviderRegistry.ts"
import * as Serve from "../../src/server/Serve.ts"
import * as VirtualKeys from "../../src/server/VirtualKeys.ts"
import type * as WorkflowRunDocument from "../../src/server/WorkflowRunDocument.ts"
import * as SqlStore from "../../src/store/SqlStore.ts"
import * as Fake from "../providers/openai/FakeOpenAiServer.ts"
import { post, request, steered, withServe } from "./support.ts"

const PAIR = `name: pair
description: two steps, one after the other
inputs:
  topic: { type: string }
steps:
  - id: first
    prompt: "About {{input.topic}}"
  - id: second
    needs: [first]
    prompt: "Again: {{steps.first.output}}"
`

// A config file with a workflows folder (and journal, ledger) in the test's directory.
const config = (
  options: { readonly runs?: string; readonly files?: Record<string, string>; readonly ledger?: boolean; readonly journal?: string } = {}
) =>
(dir: string) => {
  const folder = join(dir, "workflows")
  mkdirSync(folder, { recursive: true })
  for (const [name, text] of Object.entries(options.files ?? { "pair.yaml": PAIR })) writeFileSync(join(folder, name), text)
  return [
    "provider: steered",
    options.ledger === true ? `ledger: { path: ${join(dir, "usage.db")} }` : "ledger: false",
    "retry: { maxRetries: 0 }",
    "serve:",
    `  workflows: ${folder}`,
    "  runs:",
    `    journal: ${options.journal ?? join(dir, "runs")}`,
    ...(options.runs !== undefined ? [`    ${options.runs}`] : []),
    ""
  ].join("\n")
}

type Run = WorkflowRunDocument.RunDocument

const asRun = (json: unknown): Run => json as Run

const poll = (url: string, runId: string, headers: Record<string, string> = {}): Effect.Effect<Run> =>
  Effect.gen(function*() {
    for (;;) {
      const reply = yield* request(`${url}/v1/runs/${runId}`, { headers })
      const run = asRun(reply.json)
      if (run.status !== "running" && run.status !== "pending") return run
      yield* Effect.sleep("10 millis")
    }
  })

describe("POST /v1/workflows/{name}/runs", () => {
  it.live("202 with the run id, then GET /v1/runs/{id} until it succeeds: outputs, steps done, usage", () => {
    const fake = steered()
    return withServe({ providers: [fake.provider], yaml: config({ ledger: true }) }, ({ url, log, logged }) =>
      Effect.gen(function*() {
        const started = yield* post(`${url}/v1/workflows/pair/runs`, { input: { topic: "tides" } })
        assert.strictEqual(started.status, 202)
        const run = asRun(started.json)
        assert.match(run.runId, /^\d{8}-[0-9a-z]{6}$/)
        assert.strictEqual(run.workflow, "pair")
        assert.include(["pending", "running"], run.status)
        assert.strictEqual(started.headers.get("location"), `/v1/runs/${run.runId}`)
        const done = yield* poll(url, run.runId)
        assert.strictEqual(done.status, "succeeded")
        assert.deepStrictEqual(done.stepsDone, ["first", "second"])
        assert.deepStrictEqual(done.outputs, { first: "answer to 1 message(s)", second: "answer to 1 message(s)" })
        assert.strictEqual(done.usage.totalTokens, 30)
        assert.strictEqual(fake.seen.length, 2)
        assert.include(JSON.stringify(fake.seen[0]!.messages), "About tides")
        // The calls went through the stack's ledger, with the workflow, step and run id.
        const byStep = yield* request(`${url}/v1/usage?by=step`)
        const groups = (byStep.json as { groups: ReadonlyArray<{ key: string; calls: number; totalTokens: number }> }).groups
        assert.deepStrictEqual(groups.map((group) => [group.key, group.calls, group.totalTokens]).sort(), [["first", 1, 15], ["second", 1, 15]])
        // Every request has its access-log line.
        yield* logged(3)
        assert.strictEqual(log[0]!.path, `/v1/workflows/pair/runs`)
        assert.strictEqual(log[0]!.status, 202)
      }))
  })

  it.live("?wait: 200 with the final state when it ends in time, else 202 with the current state", () => {
    const fake = steered()
    return withServe({ providers: [fake.provider], yaml: config() }, ({ url }) =>
      Effect.gen(function*() {
        const quick = yield* post(`${url}/v1/workflows/pair/runs?wait=10s`, { input: { topic: "a" } })
        assert.strictEqual(quick.status, 200)
        assert.strictEqual(asRun(quick.json).status, "succeeded")

        fake.state.gate = yield* Deferred.make<void>()
        const slow = yield* post(`${url}/v1/workflows/pair/runs?wait=100ms`, { input: { topic: "b" } })
        assert.strictEqual(slow.status, 202)
        assert.strictEqual(asRun(slow.json).status, "running")
        yield* Deferred.succeed(fake.state.gate, undefined)
        assert.strictEqual((yield* poll(url, asRun(slow.json).runId)).status, "succeeded")

        const badWait = yield* post(`${url}/v1/workflows/pair/runs?wait=soon`, { input: { topic: "b" } })
        assert.strictEqual(badWait.status, 400)
        assert.strictEqual((badWait.json as { field: string }).field, "wait")
      }))
  })

  it.live("unknown workflow: 404 naming the served ones; bad bodies: 400 naming the field", () => {
    const fake = steered()
    return withServe({ providers: [fake.provider], yaml: config() }, ({ url }) =>
      Effect.gen(function*() {
        const unknown = yield* post(`${url}/v1/workflows/nonesuch/runs`, {})
        assert.strictEqual(unknown.status, 404)
        assert.strictEqual((unknown.json as { errorType: string }).errorType, "NotFound")
        assert.include((unknown.json as { fix: string }).fix, "pair")

        const cases: ReadonlyArray<readonly [unknown, string]> = [
          [{}, "input.topic"],
          [{ input: { topic: "x", colour: "red" } }, "input"],
          [{ input: "tides" }, "input"],
          [{ input: { topic: "x" }, budget: { totalTokens: -1 } }, "budget"],
          [{ input: { topic: "x" }, extra: 1 }, "extra"],
          [[1, 2], "body"]
        ]
        for (const [body, field] of cases) {
          const reply = yield* post(`${url}/v1/workflows/pair/runs`, body)
          assert.strictEqual(reply.status, 400, JSON.stringify(body))
          assert.strictEqual((reply.json as { errorType: string }).errorType, "InvalidInput")
          assert.strictEqual((reply.json as { field: string }).field, field, JSON.stringify(reply.json))
        }
        const notJson = yield* post(`${url}/v1/workflows/pair/runs`, "{nope")
        assert.strictEqual(notJson.status, 400)
        assert.strictEqual((yield* request(`${url}/v1/runs/20260101-aaaaaa`)).status, 404)
        assert.strictEqual((yield* request(`${url}/v1/runs/..%2F..%2Fetc`)).status, 404)
        assert.strictEqual(fake.seen.length, 0)
      }))
  })

  it.live("the request's budget holds for the whole run: the step that would pass it is refused before it is sent", () => {
    const fake = steered()
    return withServe({ providers: [fake.provider], yaml: config() }, ({ url }) =>
      Effect.gen(function*() {
        const reply = yield* post(`${url}/v1/workflows/pair/runs?wait=10s`, { input: { topic: "x" }, budget: { totalTokens: 20, defaultMaxTokens: 4 } })
        const run = asRun(reply.json)
        assert.strictEqual(run.status, "failed")
        assert.strictEqual(run.error?.errorType, "BudgetExceeded")
        assert.strictEqual(run.error?.step, "second")
        assert.deepStrictEqual(run.stepsDone, ["first"])
        assert.strictEqual(fake.seen.length, 1)
      }))
  })

  it.live("beyond serve.runs.maxInFlight: 503 with retry-after; a slot frees when a run ends", () => {
    const fake = steered()
    return withServe({ providers: [fake.provider], yaml: config({ runs: "maxInFlight: 1" }) }, ({ url }) =>
      Effect.gen(function*() {
        fake.state.gate = yield* Deferred.make<void>()
        const first = yield* post(`${url}/v1/workflows/pair/runs`, { input: { topic: "a" } })
        assert.strictEqual(first.status, 202)
        const second = yield* post(`${url}/v1/workflows/pair/runs`, { input: { topic: "b" } })
        assert.strictEqual(second.status, 503)
        assert.strictEqual(second.headers.get("retry-after"), "1")
        assert.include((second.json as { error: string }).error, "serve.runs.maxInFlight")
        yield* Deferred.succeed(fake.state.gate, undefined)
        yield* poll(url, asRun(first.json).runId)
        assert.strictEqual((yield* post(`${url}/v1/workflows/pair/runs?wait=10s`, { input: { topic: "c" } })).status, 200)
      }))
  })
})

describe("DELETE /v1/runs/{id} and events", () => {
  it.live("cancel mid-step: the call is interrupted and charged, the run ends cancelled; a second cancel is 409", () => {
    const fake = steered()
    return withServe({ providers: [fake.provider], yaml: config({ ledger: true }) }, ({ url }) =>
      Effect.gen(function*() {
        fake.state.gate = yield* Deferred.make<void>()
        fake.state.started = yield* Deferred.make<void>()
        const started = asRun((yield* post(`${url}/v1/workflows/pair/runs`, { input: { topic: "a" } })).json)
        yield* Deferred.await(fake.state.started)
        const cancelled = yield* request(`${url}/v1/runs/${started.runId}`, { method: "DELETE" })
        assert.strictEqual(cancelled.status, 200)
        const run = asRun(cancelled.json)
        assert.strictEqual(run.status, "cancelled")
        assert.strictEqual(run.error?.errorType, "Cancelled")
        assert.deepStrictEqual(run.stepsDone, [])
        assert.strictEqual(fake.state.interrupted, 1)
        assert.strictEqual(asRun((yield* request(`${url}/v1/runs/${started.runId}`)).json).status, "cancelled")
        const again = yield* request(`${url}/v1/runs/${started.runId}`, { method: "DELETE" })
        assert.strictEqual(again.status, 409)
        assert.strictEqual((again.json as { errorType: string }).errorType, "Conflict")
        // The interrupted call has its ledger row (charged as every interrupted call is).
        const usage = yield* request(`${url}/v1/usage?by=outcome`)
        const groups = (usage.json as { groups: ReadonlyArray<{ key: string; calls: number }> }).groups
        assert.deepStrictEqual(groups.map((group) => [group.key, group.calls]), [["Interrupted", 1]])
      }))
  })

  it.live("cancel against a real HTTP upstream: the upstream sees the request abandoned; the ledger records the call", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.start(() => ({ _tag: "Hang" }))
      const yaml = (dir: string) =>
        config({ ledger: true })(dir).replace("provider: steered", `provider: openai-compatible\nbaseUrl: ${fake.origin}/v1\nmodel: up-model`)
      yield* withServe({ yaml }, ({ url }) =>
        Effect.gen(function*() {
          const started = asRun((yield* post(`${url}/v1/workflows/pair/runs`, { input: { topic: "a" } })).json)
          yield* fake.nextRequest
          const cancelled = yield* request(`${url}/v1/runs/${started.runId}`, { method: "DELETE" })
          assert.strictEqual(asRun(cancelled.json).status, "cancelled")
          yield* fake.abandoned.pipe(Effect.timeout("10 seconds"))
          assert.strictEqual(yield* fake.abandonedTotal, 1)
          assert.strictEqual(fake.requests.length, 1)
          const usage = yield* request(`${url}/v1/usage?by=outcome`)
          const groups = (usage.json as { groups: ReadonlyArray<{ key: string; calls: number }> }).groups
          assert.deepStrictEqual(groups.map((group) => [group.key, group.calls]), [["Interrupted", 1]])
        }))
    }).pipe(Effect.scoped))

  it.live("a late subscriber gets the events so far, then the live ones, in order; the stream ends with the run", () => {
    const fake = steered()
    return withServe({ providers: [fake.provider], yaml: config() }, ({ url }) =>
      Effect.gen(function*() {
        fake.state.gate = yield* Deferred.make<void>()
        fake.state.started = yield* Deferred.make<void>()
        const started = asRun((yield* post(`${url}/v1/workflows/pair/runs`, { input: { topic: "a" } })).json)
        yield* Deferred.await(fake.state.started)
        // Subscribed while the first step is held: the events so far arrive before the gate opens.
        const response = yield* Effect.promise(() => fetch(`${url}/v1/runs/${started.runId}/events`))
        const headers = response.headers
        const reader = response.body!.getReader()
        const decoder = new TextDecoder()
        let text = ""
        const readUntil = (done: (text: string) => boolean) =>
          Effect.promise(async () => {
            while (!done(text)) {
              const chunk = await reader.read()
              if (chunk.done) return
              text += decoder.decode(chunk.value, { stream: true })
            }
          })
        yield* readUntil((so) => so.includes("event: step.started"))
        assert.notInclude(text, "step.finished")
        yield* Deferred.succeed(fake.state.gate, undefined)
        yield* readUntil(() => false)
        assert.strictEqual(headers.get("content-type"), "text/event-stream")
        const events = text.split("\n\n").filter((block) => block !== "").map((block) => {
          const [eventLine, dataLine] = block.split("\n")
          return { event: eventLine!.slice("event: ".length), data: JSON.parse(dataLine!.slice("data: ".length)) as { type: string; step?: string } }
        })
        assert.deepStrictEqual(events.map((event) => `${event.event}${event.data.step !== undefined ? `:${event.data.step}` : ""}`), [
          "run.started",
          "step.started:first",
          "step.finished:first",
          "step.started:second",
          "step.finished:second",
          "run.finished"
        ])
        assert.isTrue(events.every((event) => event.event === event.data.type))
        assert.strictEqual((events.at(-1)!.data as unknown as { status: string }).status, "succeeded")
      }))
  })
})

describe("JSON-RPC workflow.run and workflow.status", () => {
  it.live("run with wait, status by runId; an unknown workflow is -32000 NotFound, bad params -32602", () => {
    const fake = steered()
    return withServe({ providers: [fake.provider], yaml: config() }, ({ url }) =>
      Effect.gen(function*() {
        const reply = yield* post(`${url}/rpc`, [
          { jsonrpc: "2.0", id: 1, method: "workflow.run", params: { name: "pair", input: { topic: "x" }, wait: "10s" } },
          { jsonrpc: "2.0", id: 2, method: "workflow.run", params: { name: "nonesuch" } },
          { jsonrpc: "2.0", id: 3, method: "workflow.run", params: { name: "pair", input: {} } },
          { jsonrpc: "2.0", id: 4, method: "workflow.status", params: {} }
        ])
        assert.strictEqual(reply.status, 200)
        const answers = reply.json as ReadonlyArray<{ id: number; result?: Run; error?: { code: number; data: { errorType: string; field?: string } } }>
        const run = answers[0]!.result!
        assert.strictEqual(run.status, "succeeded")
        assert.strictEqual(answers[1]!.error!.code, -32000)
        assert.strictEqual(answers[1]!.error!.data.errorType, "NotFound")
        assert.strictEqual(answers[2]!.error!.code, -32602)
        assert.strictEqual(answers[2]!.error!.data.field, "input.topic")
        assert.strictEqual(answers[3]!.error!.code, -32602)

        const status = yield* post(`${url}/rpc`, { jsonrpc: "2.0", id: 5, method: "workflow.status", params: { runId: run.runId } })
        const result = (status.json as { result: Run }).result
        assert.strictEqual(result.status, "succeeded")
        assert.deepStrictEqual(result.outputs, run.outputs)
        const missing = yield* post(`${url}/rpc`, { jsonrpc: "2.0", id: 6, method: "workflow.status", params: { runId: "20260101-aaaaaa" } })
        assert.strictEqual((missing.json as { error: { data: { errorType: string } } }).error.data.errorType, "NotFound")
      }))
  })
})

describe("keys, retention, drain", () => {
  it.live("with virtual keys: 401 without one; a run is its key's (another key gets 404)", () => {
    const fake = steered()
    return Effect.gen(function*() {
      const store = yield* SqlStore.make(":memory:")
      const keys = yield* VirtualKeys.make(store)
      const a = Redacted.value((yield* keys.create("team-a", { per: "total", maxTokens: 1000 })).key)
      const b = Redacted.value((yield* keys.create("team-b", { per: "total" })).key)
      yield* withServe({ providers: [fake.provider], keys, yaml: config() }, ({ url, log, logged }) =>
        Effect.gen(function*() {
          assert.strictEqual((yield* post(`${url}/v1/workflows/pair/runs`, { input: { topic: "x" } })).status, 401)
          const started = yield* post(`${url}/v1/workflows/pair/runs?wait=10s`, { input: { topic: "x" } }, { authorization: `Bearer ${a}` })
          assert.strictEqual(started.status, 200)
          const run = asRun(started.json)
          assert.strictEqual((yield* request(`${url}/v1/runs/${run.runId}`, { headers: { "x-api-key": a } })).status, 200)
          assert.strictEqual((yield* request(`${url}/v1/runs/${run.runId}`, { headers: { "x-api-key": b } })).status, 404)
          yield* logged(4)
          assert.strictEqual(log[1]!.key, "team-a")
          assert.isFalse(JSON.stringify(log).includes(a))
        }))
    }).pipe(Effect.scoped)
  })

  it.live("a run's budget is a child of its key's: over the key's budget the step fails BudgetExceeded", () => {
    const fake = steered()
    return Effect.gen(function*() {
      const store = yield* SqlStore.make(":memory:")
      const keys = yield* VirtualKeys.make(store)
      // Each call is 15 tokens: the key's 20 hold the first step, refuse the second.
      const a = Redacted.value((yield* keys.create("team-a", { per: "total", maxTokens: 20 })).key)
      yield* withServe({ providers: [fake.provider], keys, yaml: config() }, ({ url }) =>
        Effect.gen(function*() {
          const reply = yield* post(`${url}/v1/workflows/pair/runs?wait=10s`, { input: { topic: "x" }, budget: { defaultMaxTokens: 4 } }, {
            authorization: `Bearer ${a}`
          })
          const run = asRun(reply.json)
          assert.strictEqual(run.status, "failed", JSON.stringify(run))
          assert.strictEqual(run.error?.errorType, "BudgetExceeded")
          assert.deepStrictEqual(run.stepsDone, ["first"])
          assert.strictEqual(fake.seen.length, 1)
        }))
    }).pipe(Effect.scoped)
  })

  it.live("a run's tokens count toward its key's tpm when it ends", () => {
    const fake = steered()
    return Effect.gen(function*() {
      const store = yield* SqlStore.make(":memory:")
      const keys = yield* VirtualKeys.make(store)
      const a = Redacted.value((yield* keys.create("team-a", { per: "total", tpm: 20 })).key)
      yield* withServe({ providers: [fake.provider], keys, yaml: config() }, ({ url }) =>
        Effect.gen(function*() {
          const run = yield* post(`${url}/v1/workflows/pair/runs?wait=10s`, { input: { topic: "x" } }, { authorization: `Bearer ${a}` })
          assert.strictEqual(asRun(run.json).usage.totalTokens, 30)
          const next = yield* post(`${url}/v1/workflows/pair/runs`, { input: { topic: "y" } }, { authorization: `Bearer ${a}` })
          assert.strictEqual(next.status, 429)
          assert.include((next.json as { error: string }).error, "tpm")
        }))
    }).pipe(Effect.scoped)
  })

  it.live("past serve.runs.maxRetained the oldest finished run is evicted and read back from its journal", () => {
    const fake = steered()
    return withServe({ providers: [fake.provider], yaml: config({ runs: "maxRetained: 1" }) }, ({ url }) =>
      Effect.gen(function*() {
        const first = asRun((yield* post(`${url}/v1/workflows/pair/runs?wait=10s`, { input: { topic: "a" } })).json)
        yield* post(`${url}/v1/workflows/pair/runs?wait=10s`, { input: { topic: "b" } })
        const stored = asRun((yield* request(`${url}/v1/runs/${first.runId}`)).json)
        assert.strictEqual(stored.stored, true)
        assert.strictEqual(stored.status, "succeeded")
        assert.deepStrictEqual(stored.outputs, first.outputs)
        assert.strictEqual(stored.usage.totalTokens, 30)
        const events = yield* request(`${url}/v1/runs/${first.runId}/events`)
        assert.include(events.text, "event: run.finished")
      }))
  })

  it.live("past serve.runs.retention a finished run leaves memory and is read back from its journal", () => {
    const fake = steered()
    return withServe({ providers: [fake.provider], yaml: config({ runs: "retention: 50ms" }) }, ({ url }) =>
      Effect.gen(function*() {
        const run = asRun((yield* post(`${url}/v1/workflows/pair/runs?wait=10s`, { input: { topic: "a" } })).json)
        assert.strictEqual(run.status, "succeeded")
        // Real time (real sockets): the run finished at least this long ago afterwards.
        yield* Effect.sleep("60 millis")
        const stored = asRun((yield* request(`${url}/v1/runs/${run.runId}`)).json)
        assert.strictEqual(stored.stored, true)
        assert.deepStrictEqual(stored.stepsDone, ["first", "second"])
      }))
  })

  it.live("drain: waits for runs in flight up to the timeout, then cancels them (journaled as cancelled)", () => {
    const fake = steered()
    return withServe({ providers: [fake.provider], yaml: config() }, ({ running, url }) =>
      Effect.gen(function*() {
        fake.state.gate = yield* Deferred.make<void>()
        fake.state.started = yield* Deferred.make<void>()
        const started = asRun((yield* post(`${url}/v1/workflows/pair/runs`, { input: { topic: "a" } })).json)
        yield* Deferred.await(fake.state.started)
        assert.strictEqual(yield* running.runs.inFlight, 1)
        const cancelled = yield* running.runs.drain(50)
        assert.strictEqual(cancelled, 1)
        assert.strictEqual(fake.state.interrupted, 1)
        const run = asRun((yield* request(`${url}/v1/runs/${started.runId}`)).json)
        assert.strictEqual(run.status, "cancelled")
        assert.include(run.error?.error ?? "", "shut down")
        assert.strictEqual(yield* running.runs.inFlight, 0)
        // After the drain began no run starts (e.g. from a JSON-RPC batch already being read).
        const late = yield* post(`${url}/v1/workflows/pair/runs`, { input: { topic: "b" } })
        assert.strictEqual(late.status, 503)
        assert.include((late.json as { error: string }).error, "shutting down")
      }))
  })
})

const withJournalDir = <A, E, R>(body: (journal: string) => Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => mkdtempSync(join(tmpdir(), "llmc-journals-"))),
    body,
    (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
  )

const journalIds = (journal: string): ReadonlyArray<string> =>
  readdirSync(journal).filter((name) => name.endsWith(".jsonl")).map((name) => name.slice(0, -".jsonl".length)).sort()

describe("a failed run's error, from memory and from its journal", () => {
  it.live("GET /v1/runs/{id} names the failed step, its attempt and typed error; the same after eviction and after a restart", () => {
    const fake = steered()
    const budget = { totalTokens: 20, defaultMaxTokens: 4 }
    return withJournalDir((journal) =>
      Effect.gen(function*() {
        const live = yield* withServe({ providers: [fake.provider], yaml: config({ journal, runs: "maxRetained: 1" }) }, ({ url }) =>
          Effect.gen(function*() {
            const failed = asRun((yield* post(`${url}/v1/workflows/pair/runs?wait=10s`, { input: { topic: "secret-topic" }, budget })).json)
            assert.strictEqual(failed.status, "failed")
            assert.deepStrictEqual(
              { step: failed.error?.step, attempt: failed.error?.attempt, errorType: failed.error?.errorType },
              { step: "second", attempt: 1, errorType: "BudgetExceeded" }
            )
            // Evicted by the next run: read back from its journal, with the same error.
            yield* post(`${url}/v1/workflows/pair/runs?wait=10s`, { input: { topic: "b" } })
            const stored = asRun((yield* request(`${url}/v1/runs/${failed.runId}`)).json)
            assert.strictEqual(stored.stored, true)
            assert.deepStrictEqual(stored.error, failed.error)
            return failed
          }))
        // A new server over the same journal folder (a restart).
        yield* withServe({ providers: [fake.provider], yaml: config({ journal }) }, ({ url }) =>
          Effect.gen(function*() {
            const reply = yield* request(`${url}/v1/runs/${live.runId}`)
            assert.strictEqual(reply.status, 200)
            const stored = asRun(reply.json)
            assert.strictEqual(stored.stored, true)
            assert.strictEqual(stored.status, "failed")
            assert.deepStrictEqual(stored.error, live.error)
            assert.include(stored.error?.error ?? "", "second")
            assert.notInclude(reply.text, "secret-topic")
            assert.deepStrictEqual(stored.stepsDone, ["first"])
            assert.deepStrictEqual(Object.keys(stored.outputs), ["first"])
            const failedStep = stored.steps.find((step) => step.id === "second")
            assert.strictEqual(failedStep?.state, "failed")
            assert.strictEqual(failedStep?.attempts, 1)
            assert.strictEqual(failedStep?.error, live.error?.error)
            const events = yield* request(`${url}/v1/runs/${live.runId}/events`)
            assert.include(events.text, "BudgetExceeded")
          }))
      })
    )
  })
})

describe("serve.runs.retain: journals on disk", () => {
  it.live("keeps the last N finished runs' journals; an older run is then 404", () => {
    const fake = steered()
    return withJournalDir((journal) =>
      withServe({ providers: [fake.provider], yaml: config({ journal, runs: "retain: { runs: 2 }\n    maxRetained: 1" }) }, ({ url }) =>
        Effect.gen(function*() {
          const ids: Array<string> = []
          for (const topic of ["a", "b", "c", "d"]) {
            ids.push(asRun((yield* post(`${url}/v1/workflows/pair/runs?wait=10s`, { input: { topic } })).json).runId)
          }
          assert.deepStrictEqual(journalIds(journal), [...ids.slice(2)].sort())
          assert.strictEqual((yield* request(`${url}/v1/runs/${ids[0]}`)).status, 404)
          assert.strictEqual(asRun((yield* request(`${url}/v1/runs/${ids[2]}`)).json).stored, true)
        }))
    )
  })

  it.live("at start: deletes journals past the age or the count, keeps the rest and other files", () =>
    withJournalDir((journal) =>
      Effect.gen(function*() {
        const now = Date.now()
        const day = 24 * 60 * 60_000
        const write = (runId: string, lines: ReadonlyArray<object>) =>
          writeFileSync(join(journal, `${runId}.jsonl`), lines.map((line) => `${JSON.stringify(line)}\n`).join(""))
        const start = (runId: string, at: number) => ({
          type: "start",
          runId,
          workflow: "pair",
          input: {},
          settings: { via: "serve", owner: "anonymous" },
          at
        })
        // Ended 8 days ago: past the default 7d.
        write("20260101-old000", [start("20260101-old000", now - 8 * day), { type: "end", state: "completed", at: now - 8 * day }])
        // Ended an hour ago: kept.
        write("20260101-new000", [start("20260101-new000", now - 3_600_000), { type: "end", state: "completed", at: now - 3_600_000 }])
        // No end entry (stopped with its process), last written 8 days ago: deleted by age.
        write("20260101-stale0", [start("20260101-stale0", now - 8 * day)])
        utimesSync(join(journal, "20260101-stale0.jsonl"), (now - 8 * day) / 1000, (now - 8 * day) / 1000)
        // No end entry, written just now (perhaps in flight on another replica): kept.
        write("20260101-fresh0", [start("20260101-fresh0", now)])
        writeFileSync(join(journal, "notes.txt"), "not a journal")
        const fake = steered()
        yield* withServe({ providers: [fake.provider], yaml: config({ journal }) }, ({ url }) =>
          Effect.gen(function*() {
            assert.deepStrictEqual(journalIds(journal), ["20260101-fresh0", "20260101-new000"])
            assert.isTrue(existsSync(join(journal, "notes.txt")))
            assert.strictEqual(asRun((yield* request(`${url}/v1/runs/20260101-new000`)).json).status, "succeeded")
          }))
        // A count of 1 at start keeps the most recent finished one (and the unfinished one).
        write("20260101-newer0", [start("20260101-newer0", now - 60_000), { type: "end", state: "completed", at: now - 60_000 }])
        yield* withServe({ providers: [fake.provider], yaml: config({ journal, runs: "retain: { runs: 1, age: 720h }" }) }, () =>
          Effect.sync(() => assert.deepStrictEqual(journalIds(journal), ["20260101-fresh0", "20260101-newer0"])))
      })
    ))

  it.live("a run in flight is never deleted, however many runs end meanwhile; retain: false keeps every journal", () => {
    const base = steered()
    return withJournalDir((journal) =>
      Effect.gen(function*() {
        // Only the run about "held" waits at the gate; the others answer at once.
        const gate = yield* Deferred.make<void>()
        const heldStarted = yield* Deferred.make<void>()
        const provider: ProviderRegistry.Provider = {
          ...base.provider,
          make: (settings) =>
            Effect.map(base.provider.make(settings), (model) => ({
              ...model,
              generate: (call) =>
                JSON.stringify(call.messages).includes("held")
                  ? Deferred.succeed(heldStarted, undefined).pipe(Effect.andThen(Deferred.await(gate)), Effect.andThen(model.generate(call)))
                  : model.generate(call)
            }))
        }
        yield* withServe({ providers: [provider], yaml: config({ journal, runs: "retain: { runs: 1 }" }) }, ({ running, url }) =>
          Effect.gen(function*() {
            const held = asRun((yield* post(`${url}/v1/workflows/pair/runs`, { input: { topic: "held" } })).json)
            yield* Deferred.await(heldStarted)
            assert.deepStrictEqual(journalIds(journal), [held.runId])
            const ended: Array<string> = []
            for (const topic of ["a", "b", "c"]) {
              ended.push(asRun((yield* post(`${url}/v1/workflows/pair/runs?wait=10s`, { input: { topic } })).json).runId)
            }
            assert.deepStrictEqual(journalIds(journal), [held.runId, ended[2]!].sort())
            yield* Deferred.succeed(gate, undefined)
            // Awaits the run's end as ?wait does (after its journal's retention was applied).
            const done = yield* Effect.orDie(running.runs.wait(held.runId, "anonymous", 10_000))
            assert.isTrue(done.done)
            assert.strictEqual(done.run.status, "succeeded")
            // It ended last: it is now the one kept.
            assert.deepStrictEqual(journalIds(journal), [held.runId])
          }))
        yield* withServe({ providers: [base.provider], yaml: config({ journal, runs: "retain: false" }) }, ({ url }) =>
          Effect.gen(function*() {
            for (const topic of ["x", "y"]) yield* post(`${url}/v1/workflows/pair/runs?wait=10s`, { input: { topic } })
            assert.strictEqual(journalIds(journal).length, 3)
          }))
      })
    )
  })
})

describe("the workflows folder at start-up", () => {
  const start = (files: Record<string, string>) =>
    Effect.gen(function*() {
      const fake = steered()
      const dir = yield* (yield* FileSystem.FileSystem).makeTempDirectoryScoped({ prefix: "llmc-wf-" })
      writeFileSync(join(dir, "llm-connect.yaml"), config({ files })(dir))
      const resolved = yield* LlmConnectConfig.load({ cwd: dir, flags: {} })
      return yield* Effect.flip(Serve.make(resolved, { listen: NodeServe.listen, port: 0 }).pipe(
        Effect.provideServiceEffect(ProviderRegistry.ProviderRegistry, ProviderRegistry.make([fake.provider]))
      ))
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer))

  it.live("a bad file refuses to start naming the file and the problem; so does a duplicate name", () =>
    Effect.gen(function*() {
      const bad = yield* start({ "broken.yaml": "name: broken\nsteps:\n  - id: a\n    prompt: \"{{steps.nope.output}}\"\n" })
      assert.strictEqual(bad._tag === "LlmError" ? bad.reason._tag : bad._tag, "Configuration")
      assert.include(bad.message, "broken.yaml")
      assert.include(bad.message, "nope")
      const twice = yield* start({ "a.yaml": PAIR, "b.yaml": PAIR })
      assert.include(twice.message, "both have the name \"pair\"")
    }))
})
