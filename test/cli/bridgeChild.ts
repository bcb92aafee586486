// `llm-connect bridge` as its consumer runs it: a child process fed on stdin, read on stdout.
import { spawn } from "node:child_process"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { baseEnv, binScript, nodeBin } from "./runCli.ts"

export interface BridgeChild {
  readonly pid: number
  readonly write: (text: string) => void
  readonly end: () => void
  readonly signal: (signal: NodeJS.Signals) => void
  readonly stdout: () => string
  readonly stderr: () => string
  /** The JSON lines printed on stdout so far. */
  readonly answers: () => Array<Record<string, unknown>>
  /** Resolves with the first stdout answer that satisfies the predicate (now or later). */
  readonly waitForAnswer: (predicate: (answer: Record<string, unknown>) => boolean) => Promise<Record<string, unknown>>
  readonly exited: Promise<number>
}

export const tempDir = (): string => mkdtempSync(join(tmpdir(), "llmc-bridge-cli-"))

const parseLines = (text: string): Array<Record<string, unknown>> =>
  text.split("\n").filter((line) => line.trim() !== "").map((line) => JSON.parse(line) as Record<string, unknown>)

export const startBridge = (args: ReadonlyArray<string>, cwd: string, env: Record<string, string> = {}): BridgeChild => {
  const child = spawn(nodeBin, [binScript, "bridge", ...args], { cwd, env: { ...baseEnv(cwd), ...env }, stdio: ["pipe", "pipe", "pipe"] })
  let stdout = ""
  let stderr = ""
  const waiters: Array<{ predicate: (answer: Record<string, unknown>) => boolean; resolve: (answer: Record<string, unknown>) => void }> = []
  const complete = () => {
    const lines = stdout.endsWith("\n") ? parseLines(stdout) : parseLines(stdout.slice(0, stdout.lastIndexOf("\n") + 1))
    for (const waiter of [...waiters]) {
      const found = lines.find(waiter.predicate)
      if (found !== undefined) {
        waiters.splice(waiters.indexOf(waiter), 1)
        waiter.resolve(found)
      }
    }
  }
  child.stdout.on("data", (chunk) => {
    stdout += String(chunk)
    complete()
  })
  child.stderr.on("data", (chunk) => (stderr += String(chunk)))
  // A consumer that stopped reading (or a bridge that exited) must not crash the test with EPIPE.
  child.stdin.on("error", () => undefined)
  const exited = new Promise<number>((resolve) => child.on("close", (code, signal) => resolve(code ?? (signal === "SIGKILL" ? 137 : -1))))
  return {
    pid: child.pid!,
    write: (text) => void child.stdin.write(text),
    end: () => void child.stdin.end(),
    signal: (signal) => void child.kill(signal),
    stdout: () => stdout,
    stderr: () => stderr,
    answers: () => parseLines(stdout),
    waitForAnswer: (predicate) =>
      new Promise((resolve) => {
        waiters.push({ predicate, resolve })
        complete()
      }),
    exited
  }
}

/** Writes `input` on stdin, closes it, and waits for the exit: one request, one answer. */
export const bridgeOnce = async (
  input: string,
  options: { readonly args?: ReadonlyArray<string>; readonly env?: Record<string, string>; readonly cwd?: string } = {}
) => {
  const child = startBridge(options.args ?? [], options.cwd ?? tempDir(), options.env ?? {})
  child.write(input)
  child.end()
  const code = await child.exited
  return { code, stdout: child.stdout(), stderr: child.stderr() }
}

/** The consumer's request, field for field (systemPrompt null), with overrides. */
export const consumerRequest = (fields: Record<string, unknown> = {}): string =>
  JSON.stringify({
    provider: "mock",
    model: "mock-1",
    systemPrompt: null,
    prompt: "Name a river",
    maxTokens: 200,
    temperature: 0.3,
    ...fields
  })
