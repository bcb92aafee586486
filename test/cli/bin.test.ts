/**
 * The commands the project tells people to run work on any Node: the bin's hint in a clone that
 * is not built names `npm start -- <args>` (an npm script runs on the pinned Node 24, where
 * `node src/cli/bin.ts` crashed on the system Node 20), and that script runs whatever `node` comes
 * first on PATH.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { execFileSync } from "node:child_process"
import { copyFileSync, existsSync, mkdirSync, mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { delimiter, dirname, join } from "node:path"
import { pinnedNode, repoRoot, runProcess } from "../support/runProcess.ts"

const localBin = join(repoRoot, "node_modules", ".bin")
/** PATH without the project's own bin folder (where the pinned `node` is). */
const outsidePath = (process.env.PATH ?? "").split(delimiter).filter((dir) => dir !== "" && !dir.startsWith(localBin))
const npm = [...outsidePath, "/usr/local/bin", "/usr/bin"].map((dir) => join(dir, "npm")).find((path) => existsSync(path))
const nodeOnPath = [...outsidePath, "/usr/local/bin", "/usr/bin"].map((dir) => join(dir, "node")).find((path) => existsSync(path))
const nodeVersion = nodeOnPath === undefined ? "none" : execFileSync(nodeOnPath, ["--version"], { encoding: "utf8" }).trim()

describe("commands that work on any Node", () => {
  it.live("the bin of a clone that is not built says to run `npm start -- <args>`", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "llmc-bin-"))
      mkdirSync(join(dir, "bin"))
      copyFileSync(join(repoRoot, "bin", "llm-connect.js"), join(dir, "bin", "llm-connect.js"))
      const result = yield* runProcess(pinnedNode, [join(dir, "bin", "llm-connect.js"), "prompt", "hi"], { cwd: dir, env: {} })
      assert.strictEqual(result.exitCode, 2)
      assert.include(result.stderr, "npm start -- <args>")
      assert.notInclude(result.stderr, "node src/cli/bin.ts")
    }))

  it.live(`npm start runs the CLI on the pinned Node whatever node is first on PATH (${nodeOnPath ?? "no node"} ${nodeVersion})`, () =>
    Effect.gen(function*() {
      assert.isDefined(npm, "npm is on PATH (the tests are started by it)")
      const home = mkdtempSync(join(tmpdir(), "llmc-npm-"))
      const path = [...new Set([...(nodeOnPath !== undefined ? [dirname(nodeOnPath)] : []), ...outsidePath])].join(delimiter)
      const result = yield* runProcess(npm!, ["start", "--silent", "--", "prompt", "hi", "--no-ledger"], {
        cwd: repoRoot,
        env: { PATH: path, HOME: home, XDG_STATE_HOME: join(home, "state") }
      })
      assert.strictEqual(result.exitCode, 0, result.stderr)
      assert.include(result.stdout, "mock provider's answer to \"hi\"")
    }), 120_000)
})
