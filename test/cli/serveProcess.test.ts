/**
 * `llm-connect serve` in a process of its own with a smaller young generation (ADR 0042): when it
 * is re-run, the child's flag, the exit code and signals passed through, and a child whose parent
 * was killed outright draining and exiting.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as UsageLedger from "../../src/observability/UsageLedger.ts"
import * as ServeProcess from "../../src/cli/serveProcess.ts"
import * as ChildCli from "./childCli.ts"
import { post } from "../server/support.ts"

const sleep = (ms: number) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, ms)))

// Linux: the processes a process started, and their command lines.
const childrenOf = (pid: number): Array<number> =>
  readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter((field) => field !== "").map(Number)
const commandLine = (pid: number): Array<string> => readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter((arg) => arg !== "")
const alive = (pid: number): boolean => existsSync(`/proc/${pid}`) && !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, "utf8"))
// Whether something still answers on the server's address.
const answers = (url: string): Effect.Effect<boolean> =>
  Effect.promise(() => fetch(`${url}/health`).then(() => true, () => false))
const linux = existsSync(`/proc/${process.pid}/task/${process.pid}/children`)

describe("serve's own process", () => {
  it("only serve, once, and not when the user chose a young-generation size or runs a debugger", () => {
    assert.isTrue(ServeProcess.wantsOwnProcess(["serve", "--port", "0"], [], {}))
    assert.isFalse(ServeProcess.wantsOwnProcess(["prompt", "hi"], [], {}))
    assert.isFalse(ServeProcess.wantsOwnProcess(["bridge"], [], {}))
    assert.isFalse(ServeProcess.wantsOwnProcess([], [], {}))
    // The re-run process itself.
    assert.isFalse(ServeProcess.wantsOwnProcess(["serve"], [], { LLM_CONNECT_SERVE_PROCESS: "1" }))
    // The user's choice, in node's flags or NODE_OPTIONS (0 = V8's default, one process).
    assert.isFalse(ServeProcess.wantsOwnProcess(["serve"], ["--max-semi-space-size=32"], {}))
    assert.deepStrictEqual(ServeProcess.childFlags([], {}), ServeProcess.V8_FLAGS)
    // A V8 flag of ours the user set (either form, either place) is left to the user's value.
    const without = (name: string) => ServeProcess.V8_FLAGS.filter((flag) => !flag.includes(name))
    assert.deepStrictEqual(ServeProcess.childFlags(["--allocation-site-pretenuring"], {}), without("pretenuring"))
    assert.deepStrictEqual(ServeProcess.childFlags([], { NODE_OPTIONS: "--no-allocation-site-pretenuring" }), without("pretenuring"))
    assert.deepStrictEqual(ServeProcess.childFlags(["--memory_reducer"], {}), without("memory-reducer"))
    assert.deepStrictEqual(ServeProcess.childFlags([], { NODE_OPTIONS: "--heap-growing-percent=30" }), without("heap-growing-percent"))
    assert.include(ServeProcess.V8_FLAGS, "--no-memory-reducer")
    assert.include(ServeProcess.V8_FLAGS, `--heap-growing-percent=${ServeProcess.HEAP_GROWING_PERCENT}`)
    assert.isFalse(ServeProcess.wantsOwnProcess(["serve"], [], { NODE_OPTIONS: "--enable-source-maps --max-semi-space-size=0" }))
    assert.isTrue(ServeProcess.wantsOwnProcess(["serve"], ["--cpu-prof"], { NODE_OPTIONS: "--enable-source-maps" }))
    // Under a debugger the debugged process stays serve's.
    assert.isFalse(ServeProcess.wantsOwnProcess(["serve"], ["--inspect-brk=0"], {}))
    assert.isFalse(ServeProcess.wantsOwnProcess(["serve"], [], { NODE_OPTIONS: "--inspect" }))
  })

  it("a profiling or tracing flag (command line or NODE_OPTIONS): serve replaces this process, with its V8 flags, instead of a child beside it", () => {
    for (const flag of ["--cpu-prof", "--cpu-prof-dir=/tmp/p", "--cpu_prof", "--heap-prof", "--prof", "--perf-basic-prof", "--perf-prof", "--trace-gc", "--trace-gc-verbose", "--trace-events-enabled", "--trace-event-categories=v8", "--heapsnapshot-signal=SIGUSR2", "--report-on-signal"]) {
      assert.isTrue(ServeProcess.writesPerProcessOutput(flag), flag)
    }
    for (const flag of ["--enable-source-maps", "--import=./preload.js", "--max-old-space-size=512", "--profile", "--prof-process", "--trace-warnings", "--trace-deprecation", "--cpu-profile", ""]) {
      assert.isFalse(ServeProcess.writesPerProcessOutput(flag), flag)
    }
    const script = "/app/bin/llm-connect.js"
    // Command line: the flag is passed again, after it serve's V8 flags, the script and the CLI's arguments.
    assert.deepStrictEqual(ServeProcess.launch(["serve", "--port", "0"], ["--cpu-prof", "--cpu-prof-dir=.prof"], {}, script, true), {
      how: "in-place",
      args: ["--cpu-prof", "--cpu-prof-dir=.prof", ...ServeProcess.V8_FLAGS, script, "serve", "--port", "0"]
    })
    // NODE_OPTIONS: read from the environment by the replacing process, not repeated on its command line.
    assert.deepStrictEqual(ServeProcess.launch(["serve"], [], { NODE_OPTIONS: "--enable-source-maps --heap-prof" }, script, true), {
      how: "in-place",
      args: [...ServeProcess.V8_FLAGS, script, "serve"]
    })
    // Nothing per process: a child, as before; nor where the process cannot be replaced (Windows).
    assert.deepStrictEqual(ServeProcess.launch(["serve"], ["--import=./x.js"], { NODE_OPTIONS: "--enable-source-maps" }, script, true), {
      how: "child",
      args: ["--import=./x.js", ...ServeProcess.V8_FLAGS, script, "serve"]
    })
    assert.strictEqual(ServeProcess.launch(["serve"], ["--cpu-prof"], {}, script, false).how, "child")
    // A pretenuring flag of the user's still wins in place.
    assert.deepStrictEqual(ServeProcess.launch(["serve"], ["--prof", "--allocation-site-pretenuring"], {}, script, true).args, [
      "--prof",
      "--allocation-site-pretenuring",
      ...ServeProcess.V8_FLAGS.filter((flag) => !flag.includes("pretenuring")),
      script,
      "serve"
    ])
  })

  it("serve's process removes the profiles its launcher wrote as it was replaced (same pid), and nothing else", () => {
    const dir = mkdtempSync(join(tmpdir(), "llm-connect-profiles-"))
    const cpu = join(dir, "cpu")
    mkdirSync(cpu)
    const names = {
      launcherCpu: "CPU.20261207.152354.4242.0.001.cpuprofile",
      otherPid: "CPU.20261207.152354.4243.0.001.cpuprofile",
      launcherHeap: "Heap.20261207.152354.4242.0.001.heapprofile",
      named: "mine.cpuprofile"
    }
    writeFileSync(join(cpu, names.launcherCpu), "{}")
    writeFileSync(join(cpu, names.otherPid), "{}")
    writeFileSync(join(cpu, names.named), "{}")
    writeFileSync(join(dir, names.launcherHeap), "{}")
    const flags = ["--cpu-prof", `--cpu-prof-dir=${cpu}`, "--heap-prof"]
    // Not a process that replaced its launcher: nothing removed.
    assert.deepStrictEqual(ServeProcess.removeLauncherProfiles(flags, {}, 4242, dir), [])
    const removed = ServeProcess.removeLauncherProfiles(flags, { LLM_CONNECT_SERVE_IN_PLACE: "1" }, 4242, dir)
    assert.sameMembers([...removed], [join(cpu, names.launcherCpu), join(dir, names.launcherHeap)])
    assert.sameMembers(readdirSync(cpu), [names.otherPid, names.named])
    assert.deepStrictEqual(readdirSync(dir).filter((name) => name.endsWith(".heapprofile")), [])
  })

  it.live("NODE_OPTIONS=--cpu-prof: one process (serve's, with its V8 flags) and one CPU profile, written on SIGTERM", () =>
    Effect.gen(function*() {
      const dir = ChildCli.workspace({})
      const profiles = join(dir, "prof")
      const child = ChildCli.start(["serve", "--port", "0", "--provider", "mock", "--no-ledger"], dir, {
        NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${profiles}`
      })
      const url = yield* ChildCli.listeningUrl(child)
      if (linux) {
        assert.deepStrictEqual(childrenOf(child.pid), [])
        assert.include(commandLine(child.pid), `--max-semi-space-size=${ServeProcess.SEMI_SPACE_MB}`)
        assert.include(commandLine(child.pid), "--no-allocation-site-pretenuring")
        assert.include(commandLine(child.pid), "serve")
      }
      const answer = yield* post(`${url}/execute`, { prompt: "one call", systemPrompt: null })
      assert.strictEqual(answer.status, 200)
      process.kill(child.pid, "SIGTERM")
      assert.strictEqual(yield* Effect.promise(() => child.exited), 0)
      const written = readdirSync(profiles).filter((name) => name.endsWith(".cpuprofile"))
      assert.lengthOf(written, 1)
      assert.include(written[0]!, `.${child.pid}.`)
    }), 60_000)

  it.live("node --heap-prof on the command line: one process and one heap profile, written on SIGTERM", () =>
    Effect.gen(function*() {
      const dir = ChildCli.workspace({})
      const profiles = join(dir, "prof")
      const child = ChildCli.start(["serve", "--port", "0", "--provider", "mock", "--no-ledger"], dir, {}, ["--heap-prof", `--heap-prof-dir=${profiles}`])
      const url = yield* ChildCli.listeningUrl(child)
      if (linux) {
        assert.deepStrictEqual(childrenOf(child.pid), [])
        assert.includeMembers(commandLine(child.pid), ["--heap-prof", `--heap-prof-dir=${profiles}`, ...ServeProcess.V8_FLAGS, "serve"])
      }
      assert.strictEqual((yield* post(`${url}/execute`, { prompt: "one call", systemPrompt: null })).status, 200)
      process.kill(child.pid, "SIGTERM")
      assert.strictEqual(yield* Effect.promise(() => child.exited), 0)
      assert.lengthOf(readdirSync(profiles).filter((name) => name.endsWith(".heapprofile")), 1)
    }), 60_000)

  it.live("serve runs with --max-semi-space-size; killed outright, its parent leaves no server behind: the child drains, writes its ledger rows and exits", () =>
    Effect.gen(function*() {
      const dir = ChildCli.workspace({})
      const ledger = join(dir, "usage.db")
      const child = ChildCli.start(["serve", "--port", "0", "--provider", "mock", "--ledger", ledger], dir)
      const url = yield* ChildCli.listeningUrl(child)
      // Linux: the child's command line (elsewhere the port below is what is checked).
      const server = linux ? childrenOf(child.pid)[0] : undefined
      if (linux) {
        assert.isDefined(server)
        assert.include(commandLine(server!), `--max-semi-space-size=${ServeProcess.SEMI_SPACE_MB}`)
        assert.include(commandLine(server!), "--no-allocation-site-pretenuring")
        assert.include(commandLine(server!), "--no-memory-reducer")
        assert.include(commandLine(server!), `--heap-growing-percent=${ServeProcess.HEAP_GROWING_PERCENT}`)
        assert.include(commandLine(server!), "serve")
      }
      const answer = yield* post(`${url}/execute`, { prompt: "one call", systemPrompt: null })
      assert.strictEqual(answer.status, 200)
      process.kill(child.pid, "SIGKILL")
      assert.strictEqual(yield* Effect.promise(() => child.exited), 137)
      // The server stops: its port refuses connections, and (Linux) its process is gone.
      let waited = 0
      while ((yield* answers(url)) || (server !== undefined && alive(server))) {
        assert.isBelow(waited, 20_000, "serve is still running after its parent was killed")
        yield* sleep(50)
        waited += 50
      }
      const entries = yield* Effect.scoped(Effect.flatMap(UsageLedger.makeSqlite(ledger), (opened) => opened.entries()))
      assert.strictEqual(entries.filter((entry) => entry.outcome === "ok").length, 1)
    }), 60_000)

  it.live("NODE_OPTIONS=--max-semi-space-size=0: serve runs in the one process (no child)", () =>
    Effect.gen(function*() {
      const dir = ChildCli.workspace({})
      const child = ChildCli.start(["serve", "--port", "0", "--provider", "mock", "--no-ledger"], dir, { NODE_OPTIONS: "--max-semi-space-size=0" })
      yield* ChildCli.listeningUrl(child)
      if (linux) assert.deepStrictEqual(childrenOf(child.pid), [])
      process.kill(child.pid, "SIGTERM")
      assert.strictEqual(yield* Effect.promise(() => child.exited), 0)
    }), 60_000)
})
