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
})
