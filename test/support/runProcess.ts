// Runs a command to completion as a real subprocess and collects what it printed.
// The environment is exactly `env` (nothing inherited), so no key or setting of the
// developer's shell leaks in; XDG_STATE_HOME, when `env` has none, is a temp directory of its
// own, so a CLI run (which records its calls in the state directory) never touches a real home.
import { NodeServices } from "@effect/platform-node"
import { Effect, FileSystem, Stream } from "effect"
import { ChildProcess } from "effect/process"
import { existsSync } from "node:fs"
import { fileURLToPath } from "node:url"

export const repoRoot = fileURLToPath(new URL("../../", import.meta.url))

/** The pinned Node 24 (devDependency "node"), else the Node running the tests. */
export const pinnedNode = ((path) => (existsSync(path) ? path : process.execPath))(
  fileURLToPath(new URL("../../node_modules/.bin/node", import.meta.url))
)

/**
 * Node's flag that resolves `llm-connect` (the package importing itself, as examples do) to
 * its sources instead of `dist/` (the `llm-connect-source` condition of package.json "exports").
 */
export const sourceCondition = "--conditions=llm-connect-source"

export interface ProcessResult {
  readonly stdout: string
  readonly stderr: string
  readonly exitCode: number
}

export const runProcess = (
  command: string,
  args: ReadonlyArray<string>,
  options: { readonly cwd: string; readonly env: Record<string, string> }
) =>
  Effect.gen(function*() {
    const env = options.env.XDG_STATE_HOME !== undefined ? options.env : {
      ...options.env,
      XDG_STATE_HOME: yield* Effect.orDie((yield* FileSystem.FileSystem).makeTempDirectoryScoped({ prefix: "llmc-state-" }))
    }
    const handle = yield* ChildProcess.make(command, args, { cwd: options.cwd, env, extendEnv: false })
    const [stdout, stderr, exitCode] = yield* Effect.all([
      handle.stdout.pipe(Stream.decodeText(), Stream.mkString),
      handle.stderr.pipe(Stream.decodeText(), Stream.mkString),
      handle.exitCode
    ], { concurrency: "unbounded" })
    return { stdout, stderr, exitCode: Number(exitCode) } satisfies ProcessResult
  }).pipe(Effect.scoped, Effect.provide(NodeServices.layer))
