// Runs the CLI as a real subprocess (Node 24 from node_modules/.bin) with an explicit
// environment, so no real key or setting of the developer's shell leaks in.
import { NodeServices } from "@effect/platform-node"
import { Effect, Stream } from "effect"
import { ChildProcess } from "effect/process"
import { fileURLToPath } from "node:url"

export const repoRoot = fileURLToPath(new URL("../../", import.meta.url))
export const nodeBin = fileURLToPath(new URL("../../node_modules/.bin/node", import.meta.url))
export const binScript = fileURLToPath(new URL("../../src/cli/bin.ts", import.meta.url))
export const keyedScript = fileURLToPath(new URL("./fixtures/cliWithKeyedPlugin.ts", import.meta.url))

export interface CliRun {
  readonly stdout: string
  readonly stderr: string
  readonly exitCode: number
}

export interface RunOptions {
  /** Extra variables (the base environment is empty apart from HOME and the key dir). */
  readonly env?: Record<string, string>
  /** Working directory (a temp directory, so no ./llm-connect.yaml is picked up by accident). */
  readonly cwd: string
  /** The entry script; the real bin by default. */
  readonly script?: string
}

/** The controlled environment every run starts from. */
export const baseEnv = (cwd: string): Record<string, string> => ({
  HOME: cwd,
  LLM_CONNECT_KEY_DIR: `${cwd}/keys`,
  NO_COLOR: "1"
})

/** Runs `node <script> ...args` to completion. */
export const runCli = (args: ReadonlyArray<string>, options: RunOptions) =>
  Effect.gen(function*() {
    const handle = yield* ChildProcess.make(nodeBin, [options.script ?? binScript, ...args], {
      cwd: options.cwd,
      env: { ...baseEnv(options.cwd), ...options.env },
      extendEnv: false
    })
    const [stdout, stderr, exitCode] = yield* Effect.all([
      handle.stdout.pipe(Stream.decodeText(), Stream.mkString),
      handle.stderr.pipe(Stream.decodeText(), Stream.mkString),
      handle.exitCode
    ], { concurrency: "unbounded" })
    return { stdout, stderr, exitCode: Number(exitCode) } satisfies CliRun
  }).pipe(Effect.scoped, Effect.provide(NodeServices.layer))
