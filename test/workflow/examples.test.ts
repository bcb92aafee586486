import { assert, describe, it } from "@effect/vitest"
import { readFileSync } from "node:fs"

// The spec's bar: a 3-step workflow in under 15 lines of user code, a synchronous run of it in
// under 10. Comments and blank lines do not count; imports do.
const codeLines = (file: string): number =>
  readFileSync(new URL(`../../examples/${file}`, import.meta.url), "utf8")
    .split("\n")
    .filter((line) => line.trim() !== "" && !line.trim().startsWith("//")).length

describe("workflow examples", () => {
  it("02-workflow-builder.ts: a 3-step workflow in under 15 lines", () => {
    const source = readFileSync(new URL("../../examples/02-workflow-builder.ts", import.meta.url), "utf8")
    assert.strictEqual(source.match(/\.prompt\(/g)?.length, 3)
    assert.isBelow(codeLines("02-workflow-builder.ts"), 15)
  })

  it("03-workflow-run.ts: a synchronous run of it in under 10 lines", () => {
    assert.isBelow(codeLines("03-workflow-run.ts"), 10)
  })
})
