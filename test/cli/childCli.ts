// The CLI as a child process the test can signal (SIGINT, SIGTERM, SIGKILL) while it runs, and
// follow through its JSON progress lines on stderr.
import { Effect } from "effect"
import { spawn } from "node:child_process"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { baseEnv, binScript, nodeBin } from "./runCli.ts"

export interface Child {
  readonly pid: number
  readonly stdout: () => string
  readonly stderr: () => string
  readonly exited: Promise<number>
  /** Resolves when a stderr JSON line satisfies the predicate. */
  readonly waitFor: (predicate: (event: Record<string, unknown>) => boolean) => Promise<Record<string, unknown>>
}

// `nodeFlags`: node's own flags, before the CLI's script.
export const start = (args: ReadonlyArray<string>, cwd: string, env: Record<string, string> = {}, nodeFlags: ReadonlyArray<string> = []): Child => {
  const child = spawn(nodeBin, [...nodeFlags, binScript, ...args], { cwd, env: { ...baseEnv(cwd), ...env }, stdio: ["ignore", "pipe", "pipe"] })
  let stdout = ""
  let stderr = ""
  const waiters: Array<{ predicate: (event: Record<string, unknown>) => boolean; resolve: (event: Record<string, unknown>) => void }> = []
  child.stdout.on("data", (chunk) => (stdout += String(chunk)))
  child.stderr.on("data", (chunk) => {
    stderr += String(chunk)
    for (const event of events(stderr)) {
      for (const waiter of [...waiters]) {
        if (waiter.predicate(event)) {
          waiters.splice(waiters.indexOf(waiter), 1)
          waiter.resolve(event)
        }
      }
    }
  })
  const exited = new Promise<number>((resolve) => child.on("close", (code, signal) => resolve(code ?? (signal === "SIGKILL" ? 137 : -1))))
  return {
    pid: child.pid!,
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    // An event already written counts: two events can arrive in one chunk, and a waiter added
    // after that chunk would otherwise wait for the next one (which may never come).
    waitFor: (predicate) =>
      new Promise((resolve) => {
        const written = events(stderr).find(predicate)
        if (written !== undefined) resolve(written)
        else waiters.push({ predicate, resolve })
      })
  }
}

/** The first line `serve` writes on stdout (`listening on http://HOST:PORT`); dies if serve exits first. */
export const listeningLine = (child: Child): Effect.Effect<string> =>
  Effect.gen(function*() {
    while (!child.stdout().includes("\n")) {
      if (yield* Effect.promise(() => Promise.race([child.exited.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 25))]))) {
        return yield* Effect.die(new Error(`serve exited early: ${child.stderr()}`))
      }
    }
    return child.stdout().split("\n")[0]!
  })

/** The URL `serve` listens on, from its first line. */
export const listeningUrl = (child: Child): Effect.Effect<string> =>
  Effect.map(listeningLine(child), (line) => line.slice("listening on ".length))

export const events = (stderr: string): Array<Record<string, unknown>> =>
  stderr.split("\n").flatMap((line) => {
    if (!line.startsWith("{")) return []
    try {
      return [JSON.parse(line) as Record<string, unknown>]
    } catch {
      return []
    }
  })

export const run = (args: ReadonlyArray<string>, cwd: string, env: Record<string, string> = {}) =>
  Effect.promise(async () => {
    const child = start(args, cwd, env)
    const code = await child.exited
    return { code, stdout: child.stdout(), stderr: child.stderr() }
  })

export const workspace = (files: Record<string, string>): string => {
  const dir = mkdtempSync(join(tmpdir(), "llmc-run-"))
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text)
  return dir
}

