import { assert, describe, it } from "@effect/vitest"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { render } from "../scripts/barrel.ts"
import * as LlmConnect from "../src/index.ts"

describe("src/index.ts", () => {
  it("is the generated barrel (run `node scripts/barrel.ts write` when this fails)", () => {
    assert.strictEqual(readFileSync(join(import.meta.dirname, "..", "src", "index.ts"), "utf8"), render())
  })

  it("exposes the core modules as namespaces", () => {
    assert.isFunction(LlmConnect.LanguageModel.generate)
    assert.isFunction(LlmConnect.LlmError.make)
    assert.isFunction(LlmConnect.MockLanguageModel.layer)
  })

  it("exports the Promise client's two names by name (issue 19), the rest as namespaces", () => {
    assert.isFunction(LlmConnect.createClient)
    assert.isFunction(LlmConnect.LlmConnectError)
    assert.strictEqual(LlmConnect.LlmConnectError, LlmConnect.ClientError.LlmConnectError)
    assert.strictEqual(LlmConnect.createClient, LlmConnect.Client.createClient)
    const named = Object.keys(LlmConnect).filter((name) => /^[a-z]/.test(name))
    assert.deepStrictEqual(named.filter((name) => name !== "prices"), ["createClient"])
  })
})
