/**
 * Runs every `examples/*.ts` as a subprocess on the pinned Node (type stripping), with no
 * provider key in the environment, so each example must work against the mock.
 *
 * An example states what it prints with `// expect: <text>` comment lines; each text must
 * appear in its stdout. Every example must exit 0 and print no error on stderr.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { pinnedNode, repoRoot, runProcess, sourceCondition } from "./support/runProcess.ts"

const examplesDir = join(repoRoot, "examples")

const examples = readdirSync(examplesDir).filter((file) => file.endsWith(".ts")).sort()

/** Only what a process needs to run: no provider keys, no LLM_CONNECT_* settings. */
const cleanEnv: Record<string, string> = Object.fromEntries(
  ["PATH", "HOME", "TMPDIR", "LANG"].flatMap((name) => {
    const value = process.env[name]
    return value === undefined ? [] : [[name, value]]
  })
)

const expectations = (file: string): ReadonlyArray<string> =>
  readFileSync(join(examplesDir, file), "utf8")
    .split("\n")
    .flatMap((line) => {
      const match = /^\/\/ expect: (.+)$/.exec(line.trim())
      return match === null ? [] : [match[1]!]
    })

const runExample = (file: string) => runProcess(pinnedNode, [sourceCondition, join(examplesDir, file)], { cwd: repoRoot, env: cleanEnv })

describe("examples/", () => {
  it("holds the first-call example", () => {
    assert.include(examples, "01-first-call.ts")
  })

  for (const file of examples) {
    it.live(`${file} runs against the mock and prints what it promises`, () =>
      Effect.gen(function*() {
        const { exitCode, stderr, stdout } = yield* runExample(file)
        assert.strictEqual(exitCode, 0, `${file} exited ${exitCode}\nstderr: ${stderr}`)
        assert.notMatch(stderr, /Error|at .+\.ts:\d+/, `${file} printed an error on stderr`)
        for (const text of expectations(file)) assert.include(stdout, text, `${file} should print: ${text}`)
      }), 120_000)
  }

  it.live("01-first-call.ts prints the mock's answer and the usage", () =>
    Effect.gen(function*() {
      const { stdout } = yield* runExample("01-first-call.ts")
      const lines = stdout.trim().split("\n")
      assert.strictEqual(lines.length, 2)
      assert.include(lines[0]!, "Name three rivers in Europe")
      assert.match(lines[1]!, /^tokens: [1-9]\d* in, [1-9]\d* out \(mock\/mock-1\)$/)
    }), 120_000)
})
