// Runs the CLI as a real subprocess (Node 24 from node_modules/.bin) with an explicit
// environment, so no real key or setting of the developer's shell leaks in.
import { fileURLToPath } from "node:url"
import { type ProcessResult, runProcess } from "../support/runProcess.ts"

export { repoRoot } from "../support/runProcess.ts"
export const nodeBin = fileURLToPath(new URL("../../node_modules/.bin/node", import.meta.url))
export const binScript = fileURLToPath(new URL("../../src/cli/bin.ts", import.meta.url))
export const keyedScript = fileURLToPath(new URL("./fixtures/cliWithKeyedPlugin.ts", import.meta.url))

export type CliRun = ProcessResult

export interface RunOptions {
  /** Extra variables (the base environment is empty apart from HOME and the key dir). */
  readonly env?: Record<string, string>
  /** Working directory (a temp directory, so no ./llm-connect.yaml is picked up by accident). */
  readonly cwd: string
  /** The entry script; the real bin by default. */
  readonly script?: string
}

/**
 * The controlled environment every run starts from: HOME and XDG_STATE_HOME inside the temp
 * directory, so the CLI's default usage ledger never touches a real home.
 */
export const baseEnv = (cwd: string): Record<string, string> => ({
  HOME: cwd,
  XDG_STATE_HOME: `${cwd}/state`,
  LLM_CONNECT_KEY_DIR: `${cwd}/keys`,
  NO_COLOR: "1"
})

/** Runs `node <script> ...args` to completion. */
export const runCli = (args: ReadonlyArray<string>, options: RunOptions) =>
  runProcess(nodeBin, [options.script ?? binScript, ...args], {
    cwd: options.cwd,
    env: { ...baseEnv(options.cwd), ...options.env }
  })
