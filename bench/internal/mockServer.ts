/**
 * A benchmark's mock server in a child process of its own (so that its CPU is not counted as the
 * client's): started with this Node, it prints its port on stdout once it listens.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { createInterface } from "node:readline"

/** Starts `script` (a path relative to `bench/`, e.g. `"./openai-mock-server.ts"`) with `args`; resolves once it printed its port. */
export const startMockServer = async (
  script: string,
  args: ReadonlyArray<string> = []
): Promise<{ readonly child: ChildProcess; readonly origin: string }> => {
  const child = spawn(process.execPath, [new URL(`../${script}`, import.meta.url).pathname, ...args], {
    stdio: ["ignore", "pipe", "inherit"]
  })
  const line = await new Promise<string>((resolve) => createInterface({ input: child.stdout! }).once("line", resolve))
  return { child, origin: `http://127.0.0.1:${line.trim()}` }
}
