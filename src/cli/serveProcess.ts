/**
 * `llm-connect serve` in a Node process with a smaller young generation (ADR 0042).
 *
 * Serve's requests leave about 8 KB each that survive V8's young-generation collections
 * (scavenges) until a full collection, most of it from the HTTP client (undici), so a scavenge's
 * pause grows with the young generation's size: on Node 24 (no pointer compression) V8 lets a
 * semi-space grow to 64 MB, and serve's scavenges paused the event loop for 10-48 ms each under
 * load. With `--max-semi-space-size=16` they take about a quarter of that, at the same total
 * (docs/performance.md, Serve, stop 26). V8 sizes the young generation when the process starts
 * (`v8.setFlagsFromString` afterwards has no effect, measured), so the CLI's `serve` runs itself
 * again as a child process with the flag: stdio shared, SIGINT / SIGTERM / SIGHUP passed on, the
 * child's exit code (or signal) made the parent's, and a child whose parent is gone (killed
 * outright) drains and exits as on SIGTERM.
 *
 * The child also gets V8 flags for its full collections (ADR 0044, {@link V8_FLAGS}): no memory
 * reducer, and an old generation allowed to double before the next full collection.
 *
 * Not done when the user chose a size (`--max-semi-space-size` in the node flags or in
 * `NODE_OPTIONS`; `NODE_OPTIONS=--max-semi-space-size=0` keeps V8's default in one process),
 * under a debugger (`--inspect...`), nor for any other subcommand.
 *
 * With a flag whose output is per process (`--cpu-prof`, `--heap-prof`, `--prof`, `--trace-gc`...:
 * {@link writesPerProcessOutput}), a parent would write its own (small, useless) profile or trace
 * beside the server's, and a signal meant for a snapshot or report would reach the parent. V8
 * starts those when the process starts and nothing stops them afterwards (a profile is written
 * even by `process.reallyExit`), so the process is instead replaced in place by serve's
 * (`process.execve`: same pid, same stdio, no exit handlers run, so no profile of the launcher),
 * started with the same flags plus {@link V8_FLAGS}: one process, one profile, the server's. Where
 * `process.execve` is missing (Windows) serve runs as a child as above.
 *
 * @since 0.1.0
 */
import { spawn } from "node:child_process"

/**
 * The semi-space size serve's process gets, MB.
 *
 * @since 0.1.0
 * @category constants
 */
export const SEMI_SPACE_MB = 16

/**
 * The old generation's growing factor in serve's process, percent: V8 lets the old generation
 * reach (1 + this / 100) times what the last full collection kept before it starts the next one.
 * V8's own factor was about 1.1 in serve (6-8 MB of headroom over 62-70 MB kept, at about 8 KB
 * surviving per request: a full collection every 1,000 or so requests); at 100 the headroom is
 * about 60 MB, and with the collection serve runs when idle (ADR 0044) no full collection fell in
 * the measured windows (docs/performance.md, Serve, stop 27).
 *
 * @since 0.1.0
 * @category constants
 */
export const HEAP_GROWING_PERCENT = 100

/**
 * The V8 flags serve's process gets: the semi-space size; no allocation-site pretenuring (V8
 * pretenures the allocation site of Effect's context overlays, and some of undici's, in some
 * runs: their objects are then born old and keep every young object they point to alive until a
 * full collection; without it serve's scavenges promote about half as much per request, 11.9 ->
 * 6.4 KB measured in the same session; ADR 0042, amendment, and ADR 0040); no memory reducer
 * (ADR 0039; `NodeServe.listen` turning it off at run time left it running after a full
 * collection: it is set up with the heap) and the old generation's growing factor (ADR 0044).
 *
 * @since 0.1.0
 * @category constants
 */
export const V8_FLAGS: ReadonlyArray<string> = [
  `--max-semi-space-size=${SEMI_SPACE_MB}`,
  "--no-allocation-site-pretenuring",
  "--no-memory-reducer",
  `--heap-growing-percent=${HEAP_GROWING_PERCENT}`
]

// Set in the child's environment: it is serve's own process (never re-run again).
const CHILD = "LLM_CONNECT_SERVE_PROCESS"
const SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const

const choosesYoungGeneration = (flag: string): boolean =>
  flag.startsWith("--max-semi-space-size") || flag.startsWith("--max_semi_space_size") ||
  flag.startsWith("--semi-space-growth-factor") || flag.startsWith("--min-semi-space-size")
// Under a debugger (`--inspect`, `--inspect-brk`...) the process being debugged must be serve's
// (a child would also try to open the inspector's port).
const keepsOneProcess = (flag: string): boolean => choosesYoungGeneration(flag) || flag.startsWith("--inspect")
// The node flags the user gave: on the command line and in `NODE_OPTIONS`.
const usersFlags = (execArgv: ReadonlyArray<string>, env: Readonly<Record<string, string | undefined>>): ReadonlyArray<string> => [
  ...execArgv,
  ...(env.NODE_OPTIONS ?? "").split(/\s+/)
]
// A V8 flag's name: without `--`, `no-` and a value, `_` as `-` (`--no-memory_reducer` -> `memory-reducer`).
const nameOf = (flag: string): string => flag.replace(/^--/, "").replace(/^no-/, "").split("=")[0]!.replaceAll("_", "-")

// Node and V8 flags whose output belongs to one process: profiles and logs written at exit or from
// the start, per-process traces, and signals that make the process dump something.
const PER_PROCESS_OUTPUT: ReadonlyArray<RegExp> = [
  /^--(cpu|heap)-prof(-|=|$)/,
  /^--prof(=|$)/,
  /^--perf-(basic-)?prof(-|=|$)/,
  /^--trace-events?-/,
  /^--trace-gc(-|=|$)/,
  /^--heapsnapshot-signal(=|$)/,
  /^--report-on-signal(=|$)/
]

/**
 * Whether a node flag makes a process write output of its own (a CPU or heap profile, V8's log,
 * a perf map, trace events, GC traces) or dump something on a signal: output that only the
 * server's process should produce. Underscores are read as dashes, as node and V8 read them.
 *
 * @since 0.1.0
 * @category process
 */
export const writesPerProcessOutput = (flag: string): boolean => {
  const equals = flag.indexOf("=")
  const name = (equals < 0 ? flag : flag.slice(0, equals)).replaceAll("_", "-") + (equals < 0 ? "" : flag.slice(equals))
  return PER_PROCESS_OUTPUT.some((pattern) => pattern.test(name))
}

/**
 * The flags of {@link V8_FLAGS} serve's process is started with: all of them, except those the
 * user set themselves (the same flag, or its `--no-` form, in the node flags or `NODE_OPTIONS`).
 *
 * @since 0.1.0
 * @category process
 */
export const childFlags = (execArgv: ReadonlyArray<string>, env: Readonly<Record<string, string | undefined>>): ReadonlyArray<string> => {
  const set = new Set(usersFlags(execArgv, env).filter((flag) => flag.startsWith("--")).map(nameOf))
  return V8_FLAGS.filter((flag) => !set.has(nameOf(flag)))
}

/**
 * Whether this invocation runs serve again with {@link SEMI_SPACE_MB}: `serve` is the subcommand,
 * this is not already the re-run process, the user set no young-generation size and no debugger.
 *
 * @since 0.1.0
 * @category process
 */
export const wantsOwnProcess = (
  argv: ReadonlyArray<string>,
  execArgv: ReadonlyArray<string>,
  env: Readonly<Record<string, string | undefined>>
): boolean =>
  argv[0] === "serve" &&
  env[CHILD] === undefined &&
  !usersFlags(execArgv, env).some(keepsOneProcess)

/**
 * How serve's process is started: `in-place` (this process replaced by it, one process) when
 * the user's node flags (command line or `NODE_OPTIONS`) write per-process output
 * ({@link writesPerProcessOutput}) and the process can be replaced, else `child`. `args` are
 * node's arguments after the executable: the user's command-line flags, {@link childFlags}, the
 * script and the CLI's arguments (`NODE_OPTIONS` reaches the process through its environment).
 *
 * @since 0.1.0
 * @category process
 */
export const launch = (
  argv: ReadonlyArray<string>,
  execArgv: ReadonlyArray<string>,
  env: Readonly<Record<string, string | undefined>>,
  script: string,
  canReplace: boolean
): { readonly how: "in-place" | "child"; readonly args: ReadonlyArray<string> } => ({
  how: canReplace && usersFlags(execArgv, env).some(writesPerProcessOutput) ? "in-place" : "child",
  args: [...execArgv, ...childFlags(execArgv, env), script, ...argv]
})

/**
 * Runs serve in a process with the young generation's size set: this process replaced by it when
 * the user profiles or traces (see {@link launch}), else a child process whose end (exit code, or
 * the signal that stopped it) is made this process's end.
 *
 * @since 0.1.0
 * @category process
 */
export const runInOwnProcess = (argv: ReadonlyArray<string>): void => {
  const env = { ...process.env, [CHILD]: "1" }
  const plan = launch(argv, process.execArgv, process.env, process.argv[1]!, process.execve !== undefined)
  if (plan.how === "in-place" && process.execve !== undefined) {
    try {
      // Returns only when the process could not be replaced: then serve runs as a child.
      process.execve(process.execPath, [process.execPath, ...plan.args], env)
    } catch (error) {
      process.stderr.write(`llm-connect serve: could not replace this process (${error instanceof Error ? error.message : String(error)}); serve runs as a child process\n`)
    }
  }
  const child = spawn(process.execPath, plan.args, {
    stdio: ["inherit", "inherit", "inherit", "ipc"],
    env
  })
  const forward = (signal: NodeJS.Signals) => () => void child.kill(signal)
  const handlers = SIGNALS.map((signal) => [signal, forward(signal)] as const)
  for (const [signal, handler] of handlers) process.on(signal, handler)
  child.once("error", (error) => {
    process.stderr.write(`llm-connect serve: could not start its process (${error.message}); set NODE_OPTIONS=--max-semi-space-size=0 to run it in this one\n`)
    process.exit(1)
  })
  child.once("exit", (code, signal) => {
    for (const [name, handler] of handlers) process.removeListener(name, handler)
    if (signal !== null) process.kill(process.pid, signal)
    else process.exit(code ?? 1)
  })
}

/**
 * In serve's own process: when the parent is gone (killed outright, so it could not pass a
 * signal on), stop as on SIGTERM (drain, flush the ledger, exit). Does nothing in any other process.
 *
 * @since 0.1.0
 * @category process
 */
export const followParent = (): void => {
  if (process.env[CHILD] === undefined || process.channel === undefined) return
  process.channel.unref()
  process.once("disconnect", () => void process.kill(process.pid, "SIGTERM"))
}
