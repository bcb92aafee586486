import { assert, describe, it } from "@effect/vitest"
import { Cause, Runtime } from "effect"
import { CliError } from "effect/cli"
import * as ExitCode from "../../src/cli/ExitCode.ts"
import * as LlmError from "../../src/LlmError.ts"

const error = (reason: LlmError.LlmErrorReason) => LlmError.make("mock", reason)

describe("ExitCode", () => {
  it("maps configuration problems to 2, timeouts to 3, any other failed work to 1", () => {
    assert.strictEqual(ExitCode.fromError(error(new LlmError.Configuration({ description: "x", setting: "provider", fix: "y" }))), 2)
    assert.strictEqual(ExitCode.fromError(error(new LlmError.Timeout({ description: "t", scope: "call", attempts: 1, elapsedMs: 50 }))), 3)
    assert.strictEqual(ExitCode.fromError(error(new LlmError.ServerError({ description: "s", status: 500 }))), 1)
    assert.strictEqual(
      ExitCode.fromError(
        error(new LlmError.BudgetExceeded({ description: "b", dimension: "costUsd", limit: 1, consumed: 1, reserved: 0, requested: 1 }))
      ),
      1
    )
  })

  it("maps the reasons of this wave: Unsupported 2, InvalidOutput and PolicyDenied 1, Interrupted 130, Timeout of any scope 3", () => {
    assert.strictEqual(ExitCode.fromError(error(new LlmError.Unsupported({ description: "no tools", feature: "tool-calls" }))), 2)
    assert.strictEqual(ExitCode.fromError(error(new LlmError.InvalidOutput({ description: "not the schema" }))), 1)
    assert.strictEqual(ExitCode.fromError(error(new LlmError.PolicyDenied({ description: "denied" }))), 1)
    assert.strictEqual(ExitCode.fromError(error(new LlmError.Interrupted({ description: "interrupted" }))), 130)
    for (const scope of ["attempt", "call", "idle"] as const) {
      assert.strictEqual(ExitCode.fromError(error(new LlmError.Timeout({ description: "t", scope, attempts: 1, elapsedMs: 5 }))), 3)
    }
  })

  it("maps effect/cli's bad input (its own code is 1) to 2, and plain help to 0", () => {
    const bad = new CliError.ShowHelp({ commandPath: ["llm-connect"], errors: [new CliError.UnrecognizedOption({ option: "--x", suggestions: [] })] })
    assert.strictEqual(Runtime.getErrorExitCode(bad), 1)
    assert.strictEqual(ExitCode.fromError(bad), 2)
    assert.strictEqual(ExitCode.fromError(new CliError.ShowHelp({ commandPath: ["llm-connect"], errors: [] })), 0)
  })

  it("maps interruption to 130 and honours an error's own Runtime.errorExitCode", () => {
    assert.strictEqual(ExitCode.fromCause(Cause.interrupt(1)), 130)
    class BadWorkflowFile extends Error {
      override readonly [Runtime.errorExitCode] = 2
    }
    assert.strictEqual(ExitCode.fromCause(Cause.fail(new BadWorkflowFile("line 3"))), 2)
    assert.strictEqual(ExitCode.fromCause(Cause.fail(new Error("step failed"))), 1)
    assert.strictEqual(ExitCode.fromCause(Cause.die(new Error("bug"))), 1)
  })

  it("has one table with every code", () => {
    assert.deepStrictEqual(ExitCode.table.map(([code]) => code), [0, 1, 2, 3, 130])
  })
})
