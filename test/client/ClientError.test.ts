/**
 * Every failure a client call can end with becomes one `LlmConnectError`: each `LlmError` reason
 * (its tag as `reason`, its fields on the error), workflow failures, defects and interruptions.
 */
import { assert, describe, it } from "@effect/vitest"
import { Cause } from "effect"
import * as ClientError from "../../src/client/ClientError.ts"
import { LlmConnectError } from "../../src/index.ts"
import * as LlmError from "../../src/LlmError.ts"
import * as WorkflowError from "../../src/workflow/WorkflowError.ts"

const description = "what happened"

/** One row per reason of `LlmError.LlmErrorReason`, with the fields it must carry over. */
const reasons: ReadonlyArray<readonly [LlmError.LlmErrorReason, Record<string, unknown>, boolean]> = [
  [new LlmError.Authentication({ description }), {}, false],
  [new LlmError.PermissionDenied({ description }), {}, false],
  [new LlmError.InvalidRequest({ description, parameter: "temperature" }), { parameter: "temperature" }, false],
  [new LlmError.NotFound({ description, model: "gpt-9" }), { model: "gpt-9" }, false],
  [new LlmError.RateLimited({ description, retryAfterMs: 2000 }), { retryAfterMs: 2000 }, true],
  [new LlmError.Timeout({ description, scope: "call", attempts: 3, elapsedMs: 1500 }), { scope: "call", attempts: 3, elapsedMs: 1500 }, false],
  [new LlmError.ServerError({ description, status: 418 }), { status: 418 }, true],
  [new LlmError.Network({ description }), {}, true],
  [new LlmError.ContentFiltered({ description }), {}, false],
  [new LlmError.ResponseMalformed({ description }), {}, false],
  [new LlmError.Configuration({ description, setting: "budget.costUsd", fix: "set it" }), { setting: "budget.costUsd", fix: "set it" }, false],
  [new LlmError.Unavailable({ description }), {}, true],
  [
    new LlmError.BudgetExceeded({ description, dimension: "costUsd", limit: 0.5, consumed: 0.4, reserved: 0.05, requested: 0.2 }),
    { dimension: "costUsd", limit: 0.5, consumed: 0.4, reserved: 0.05, requested: 0.2 },
    false
  ],
  [new LlmError.CircuitOpen({ description, untilMs: 1_700_000_000_000 }), { untilMs: 1_700_000_000_000 }, false],
  [new LlmError.Unsupported({ description, feature: "tools" }), { feature: "tools" }, false],
  [new LlmError.InvalidOutput({ description, raw: "{", issues: ["not JSON"] }), { raw: "{", issues: ["not JSON"] }, false],
  [new LlmError.PolicyDenied({ description }), {}, false],
  [new LlmError.Interrupted({ description }), {}, false],
  [new LlmError.Unknown({ description }), {}, false]
]

describe("LlmConnectError", () => {
  it("covers every LlmError reason", () => {
    const tags = LlmError.LlmErrorReason.members.map((member) => member.fields._tag.schema.literal)
    assert.sameMembers(reasons.map(([reason]) => reason._tag), [...tags])
  })

  it.each(reasons)("maps %s: the tag as reason, its fields, retryable, provider, status", (reason, fields, retryable) => {
    const error = ClientError.fromCause(
      Cause.fail(LlmError.make("openai", reason, { model: "gpt-4o-mini", status: 418, requestId: "req_1" }))
    )
    assert.instanceOf(error, LlmConnectError)
    assert.instanceOf(error, Error)
    assert.strictEqual(error.name, "LlmConnectError")
    assert.strictEqual(error.reason, reason._tag)
    assert.strictEqual(error.retryable, retryable)
    assert.strictEqual(error.provider, "openai")
    assert.strictEqual(error.status, 418)
    assert.strictEqual(error.requestId, "req_1")
    assert.strictEqual(error.description, description)
    for (const [key, value] of Object.entries(fields)) assert.deepStrictEqual(error[key as keyof LlmConnectError], value, key)
    assert.include(error.message, reason._tag)
    // A plain object: JSON shows the fields, not an Effect Cause.
    const json = JSON.parse(JSON.stringify(error)) as Record<string, unknown>
    assert.strictEqual(json.reason, reason._tag)
    assert.notProperty(json, "_tag")
  })

  it("a defect is Unknown naming it; an interruption is Interrupted; an aborted signal's reason is the cause", () => {
    const defect = ClientError.fromCause(Cause.die(new TypeError("x is not a function")))
    assert.strictEqual(defect.reason, "Unknown")
    assert.include(defect.message, "TypeError: x is not a function")
    assert.instanceOf(defect.cause, TypeError)
    const interrupted = ClientError.fromCause(Cause.interrupt())
    assert.strictEqual(interrupted.reason, "Interrupted")
    const controller = new AbortController()
    controller.abort("user stop")
    const aborted = ClientError.fromCause(Cause.interrupt(), controller.signal)
    assert.strictEqual(aborted.reason, "Interrupted")
    assert.strictEqual(aborted.cause, "user stop")
    const other = ClientError.fromCause(Cause.fail("plain"))
    assert.strictEqual(other.reason, "Unknown")
  })

  it("a failed workflow step is the step's reason with workflow, step and run; other workflow failures are Workflow<Reason>", () => {
    const cause = LlmError.make("mock", new LlmError.RateLimited({ description: "slow down" }))
    const step = ClientError.fromCause(Cause.fail(
      WorkflowError.make("article", new WorkflowError.StepFailed({ step: "outline", attempt: 2, cause }), "run-1")
    ))
    assert.strictEqual(step.reason, "RateLimited")
    assert.strictEqual(step.workflow, "article")
    assert.strictEqual(step.step, "outline")
    assert.strictEqual(step.runId, "run-1")
    assert.isTrue(step.retryable)
    const invalid = ClientError.fromCause(Cause.fail(WorkflowError.invalid("article", [{ message: "input topic: missing", path: "input.topic" }])))
    assert.strictEqual(invalid.reason, "WorkflowInvalid")
    assert.deepStrictEqual(invalid.issues?.length, 1)
    const notFound = ClientError.fromCause(Cause.fail(WorkflowError.make("?", new WorkflowError.NotFound({ description: "no such file" }))))
    assert.strictEqual(notFound.reason, "WorkflowNotFound")
  })

  it("scrubs secrets from messages", () => {
    const error = ClientError.fromLlmError(
      LlmError.make("openai", new LlmError.Network({ description: "cannot reach https://user:hunter2@proxy.example/v1 with Bearer sk-abcdefghijklmnopqrstuvwxyz123456" }))
    )
    assert.notInclude(error.message, "hunter2")
    assert.notInclude(error.message, "sk-abcdefghijklmnopqrstuvwxyz123456")
  })
})
