/**
 * Helpers for running the real `claude` binary in tests: where the binary is, a wrapper script
 * that records what it was started with (pid, working directory, arguments, environment) before
 * it `exec`s the real binary, and a check that a process is gone.
 */
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { arch, platform, tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { Effect, type Scope } from "effect"

const root = resolve(import.meta.dirname, "../../..")

/**
 * The native binary installed by `npm ci`: the wrapper package's `bin/claude.exe` once its
 * install script has put the native binary there, else the platform package's own binary.
 */
export const claudeBinary = (): string => {
  const installed = join(root, "node_modules/@anthropic-ai/claude-code/bin/claude.exe")
  if (existsSync(installed) && statSync(installed).size > 1_000_000) return installed
  const platformBinary = join(root, `node_modules/@anthropic-ai/claude-code-${platform()}-${arch()}/claude`)
  if (existsSync(platformBinary)) return platformBinary
  throw new Error(`no claude binary under node_modules (looked at ${installed} and ${platformBinary}); run npm ci`)
}

export interface Wrapper {
  /** The wrapper script: give it as `binaryPath`. */
  readonly path: string
  /** A temporary HOME for the CLI (it writes its settings there). */
  readonly home: string
  /** The environment the wrapper and the CLI need (HOME, the log file, the real binary). */
  readonly env: Readonly<Record<string, string>>
  /** What the wrapper recorded, one entry per run. */
  readonly runs: () => ReadonlyArray<WrapperRun>
}

export interface WrapperRun {
  readonly pid: number
  readonly cwd: string
  readonly args: ReadonlyArray<string>
  readonly env: Readonly<Record<string, string>>
  /** The pid of a background child the wrapper started, when asked to. */
  readonly child?: number
}

const SCRIPT = `#!/bin/sh
log="$CLAUDE_WRAPPER_LOG"
{
  printf 'run %s\\n' "$$"
  printf 'cwd %s\\n' "$(pwd)"
  for a in "$@"; do printf 'arg %s\\n' "$a"; done
  env | grep -E '^(DISABLE_AUTOUPDATER|CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC|CLAUDE_CODE_MAX_RETRIES|ANTHROPIC_BASE_URL|OPENAI_API_KEY|GEMINI_API_KEY)=' | sed 's/^/env /'
} >> "$log"
if [ -n "$CLAUDE_WRAPPER_CHILD" ]; then
  sleep 300 </dev/null >/dev/null 2>&1 &
  printf 'child %s\\n' "$!" >> "$log"
fi
exec "$CLAUDE_REAL_BINARY" "$@"
`

const parseRuns = (text: string): ReadonlyArray<WrapperRun> => {
  const runs: Array<{ pid: number; cwd: string; args: Array<string>; env: Record<string, string>; child?: number }> = []
  for (const line of text.split("\n")) {
    const space = line.indexOf(" ")
    const tag = space === -1 ? line : line.slice(0, space)
    const value = space === -1 ? "" : line.slice(space + 1)
    const current = runs.at(-1)
    if (tag === "run") runs.push({ pid: Number(value), cwd: "", args: [], env: {} })
    else if (current === undefined) continue
    else if (tag === "cwd") current.cwd = value
    else if (tag === "arg") current.args.push(value)
    else if (tag === "child") current.child = Number(value)
    else if (tag === "env") {
      const eq = value.indexOf("=")
      current.env[value.slice(0, eq)] = value.slice(eq + 1)
    }
  }
  return runs
}

/** Makes a wrapper script and a temporary HOME, removed when the scope closes. */
export const makeWrapper = (options: { readonly spawnChild?: boolean } = {}): Effect.Effect<Wrapper, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const dir = mkdtempSync(join(tmpdir(), "llm-connect-claude-test-"))
      const path = join(dir, "claude-wrapper.sh")
      const log = join(dir, "wrapper.log")
      writeFileSync(path, SCRIPT)
      chmodSync(path, 0o755)
      writeFileSync(log, "")
      const env: Record<string, string> = {
        HOME: dir,
        ANTHROPIC_API_KEY: "test",
        CLAUDE_WRAPPER_LOG: log,
        CLAUDE_REAL_BINARY: claudeBinary(),
        ...(options.spawnChild === true ? { CLAUDE_WRAPPER_CHILD: "1" } : {})
      }
      return { dir, wrapper: { path, home: dir, env, runs: () => parseRuns(readFileSync(log, "utf8")) } }
    }),
    ({ dir }) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
  ).pipe(Effect.map(({ wrapper }) => wrapper))

/** Whether a process exists and is not a zombie waiting to be reaped. */
export const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z"
  } catch {
    return platform() !== "linux"
  }
}

/** Waits (real time, up to `timeoutMs`) until a process is gone; returns whether it is. */
export const awaitGone = (pid: number, timeoutMs = 10_000): Effect.Effect<boolean> =>
  Effect.gen(function*() {
    const step = 50
    for (let waited = 0; waited < timeoutMs; waited += step) {
      if (!isAlive(pid)) return true
      yield* Effect.sleep(`${step} millis`)
    }
    return !isAlive(pid)
  })
