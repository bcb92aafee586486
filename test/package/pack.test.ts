/**
 * The published package, as a user gets it: the working tree is copied to a temp dir, built
 * (`npm run build`) and packed (`npm pack`), and the tarball is installed into an empty project
 * (npm registry through the local cache). That project then imports it from JavaScript and
 * TypeScript, type-checks it, tries to reach its internals, and runs its CLI. The bin's Node
 * version check is run on an old Node when the machine has one.
 *
 * Building in a copy keeps the repo's own `dist/` untouched while other tests run.
 */
import { NodeServices } from "@effect/platform-node"
import { assert, layer } from "@effect/vitest"
import { Context, Effect, FileSystem, Layer } from "effect"
import { execFileSync } from "node:child_process"
import { existsSync, realpathSync } from "node:fs"
import { delimiter, join } from "node:path"
import { type ProcessResult, repoRoot, runProcess } from "../support/runProcess.ts"

/** Subprocesses (npm, tsc over every .d.ts of effect) are slow on a loaded 2-core machine. */
const slow = 180_000
const binDir = join(repoRoot, "node_modules", ".bin")
const tsc = join(binDir, "tsc")

/**
 * The environment of every subprocess: the pinned Node first on PATH, no llm-connect settings or
 * keys, and no XDG_STATE_HOME (`runProcess` gives each run a temp one: the installed CLI records
 * its calls there, never in a real home).
 */
const env: Record<string, string> = {
  ...Object.fromEntries(
    Object.entries(process.env).filter((entry): entry is [string, string] =>
      entry[1] !== undefined && !entry[0].startsWith("LLM_CONNECT_") && !/_API_KEY$/.test(entry[0]) &&
      entry[0] !== "XDG_STATE_HOME"
    )
  ),
  PATH: `${binDir}${delimiter}${process.env.PATH ?? ""}`
}

const run = (command: string, args: ReadonlyArray<string>, cwd: string) => runProcess(command, args, { cwd, env })

const runOk = (command: string, args: ReadonlyArray<string>, cwd: string) =>
  Effect.flatMap(run(command, args, cwd), (result) =>
    result.exitCode === 0
      ? Effect.succeed(result)
      : Effect.fail(new Error(`${command} ${args.join(" ")} exited ${result.exitCode}\n${result.stdout}\n${result.stderr}`)))

/** The copied repo, the files in the tarball, and the project it was installed into. */
class Installed extends Context.Service<Installed, {
  readonly repo: string
  readonly project: string
  readonly tarballFiles: ReadonlyArray<string>
}>()("test/package/Installed") {}

const InstalledLive = Layer.effect(
  Installed,
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const tmp = yield* fs.makeTempDirectoryScoped({ prefix: "llm-connect-pack-" })
    const repo = join(tmp, "repo")
    yield* fs.makeDirectory(repo)
    for (const entry of ["package.json", "tsconfig.json", "tsconfig.build.json", "README.md", "LICENSE", "bin", "src", "contracts"]) {
      if (yield* fs.exists(join(repoRoot, entry))) yield* fs.copy(join(repoRoot, entry), join(repo, entry))
    }
    yield* fs.symlink(join(repoRoot, "node_modules"), join(repo, "node_modules"))
    yield* runOk("npm", ["run", "build"], repo)
    const packed = yield* runOk("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", tmp], repo)
    const [info] = JSON.parse(packed.stdout) as ReadonlyArray<{ filename: string; files: ReadonlyArray<{ path: string }> }>
    const project = join(tmp, "project")
    yield* fs.makeDirectory(project)
    // The consumer's tree is pinned to our own lockfile (npm `overrides`), so the install does not
    // depend on what the registry published since, nor on the age of the npm cache.
    const lock = JSON.parse(yield* fs.readFileString(join(repoRoot, "package-lock.json"))) as {
      readonly packages: Readonly<Record<string, { readonly version?: string }>>
    }
    yield* fs.writeFileString(
      join(project, "package.json"),
      JSON.stringify({ name: "consumer", private: true, type: "module", overrides: lockedVersions(lock.packages) })
    )
    yield* runOk("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", join(tmp, info!.filename)], project)
    return { repo, project, tarballFiles: info!.files.map((file) => file.path) }
  })
).pipe(Layer.provide(NodeServices.layer))

/** The version of every package installed at the top of our own tree (`node_modules/<name>`). */
const lockedVersions = (packages: Readonly<Record<string, { readonly version?: string }>>): Record<string, string> => {
  const versions: Record<string, string> = {}
  for (const [path, entry] of Object.entries(packages)) {
    const name = path.startsWith("node_modules/") ? path.slice("node_modules/".length) : undefined
    if (name === undefined || name.includes("/node_modules/") || entry.version === undefined) continue
    versions[name] = entry.version
  }
  return versions
}

/** Every `node` on PATH (and the usual places) older than 22.19, e.g. the system Node 20. */
const oldNodes = (): ReadonlyArray<{ path: string; version: string }> => {
  const dirs = [...(process.env.PATH ?? "").split(delimiter), "/usr/local/bin", "/usr/bin", "/bin"]
  const seen = new Set<string>()
  const found: Array<{ path: string; version: string }> = []
  for (const dir of dirs) {
    const candidate = join(dir, "node")
    if (dir === "" || !existsSync(candidate)) continue
    const real = realpathSync(candidate)
    if (seen.has(real)) continue
    seen.add(real)
    const version = execFileSync(candidate, ["--version"], { encoding: "utf8" }).trim()
    const [major, minor] = version.slice(1).split(".").map(Number)
    if (major! < 22 || (major === 22 && minor! < 19)) found.push({ path: candidate, version })
  }
  return found
}

const consumerJs = `import { Effect } from "effect"
import { LanguageModel, MockLanguageModel } from "llm-connect"
import { ProviderConformance } from "llm-connect/testing"
import * as LlmError from "llm-connect/LlmError"
const response = await Effect.runPromise(LanguageModel.generate("hi from js").pipe(Effect.provide(MockLanguageModel.layer())))
console.log(JSON.stringify({ content: response.content, total: response.usage.totalTokens, run: typeof ProviderConformance.run, make: typeof LlmError.make }))
`

const consumerTs = `import { Effect } from "effect"
import { createClient, LanguageModel, LlmConnectError, type LlmResponse, MockLanguageModel } from "llm-connect"
import { ProviderConformance } from "llm-connect/testing"
const program: Effect.Effect<LlmResponse.LlmResponse, unknown> = LanguageModel.generate("hi from ts").pipe(
  Effect.provide(MockLanguageModel.layer())
)
const response = await Effect.runPromise(program)
const report: ProviderConformance.Report = await Effect.runPromise(ProviderConformance.run(ProviderConformance.mockSubject()))
const tokens: number = response.usage.totalTokens
const llm = createClient({ provider: "mock", ledger: false, budget: { totalTokens: 1000 } })
const viaClient: LlmResponse.LlmResponse = await llm.generate("hi from the ts client", { maxTokens: 50 })
const reason: string | undefined = new LlmConnectError({ reason: "Unknown", message: "m", retryable: false }).reason
await llm.close()
console.log(JSON.stringify({ content: response.content, tokens, conforms: report.ok, client: viaClient.content, reason }))
`

const consumerTsconfig = (file: string) =>
  JSON.stringify({
    compilerOptions: {
      target: "ES2023",
      module: "NodeNext",
      moduleResolution: "NodeNext",
      strict: true,
      exactOptionalPropertyTypes: true,
      skipLibCheck: false,
      noEmit: true,
      types: ["node"]
    },
    files: [file]
  })

/**
 * The Promise client from plain JavaScript: generate and stream (left with `break`) on the mock,
 * a call aborted mid-request against a local server that sees its socket close (with the budget's
 * reservation settled), errors as `LlmConnectError` (instanceof), and a bad option thrown by
 * `createClient`. The same program as CommonJS (`require(esm)`) below.
 */
const clientProgram = (load: string) => `${load}
const http = require_("node:http")
const out = {}
const llm = createClient({ provider: "mock", mock: { latency: "20ms" }, ledger: false })
out.generate = (await llm.generate("hi from the client")).content
let parts = 0
for await (const part of llm.stream("one two three four five six seven eight nine ten")) {
  if (part.type === "text-delta") parts++
  if (parts === 2) break
}
out.streamedBeforeBreak = parts
// The server never answers: it aborts the call once the request arrives, and sees the socket close.
const controller = new AbortController()
let socketClosed
const closed = new Promise((resolve) => { socketClosed = resolve })
const server = http.createServer((request) => {
  request.socket.on("close", () => socketClosed("socket closed"))
  controller.abort(new Error("stop"))
})
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve))
const origin = "http://127.0.0.1:" + server.address().port
const paid = createClient({
  provider: "openai", model: "gpt-4o-mini", ledger: false, retry: { maxRetries: 0 },
  providers: { openai: { apiKey: "sk-packed", baseUrl: origin + "/v1" } },
  budget: { totalTokens: 100000 }
})
try { await paid.generate("a long answer", { signal: controller.signal }) } catch (error) {
  out.abort = { instance: error instanceof LlmConnectError, reason: error.reason, cause: error.cause?.message }
}
out.server = await closed
const usage = await paid.usage()
out.open = usage.budget.openReservations
out.reserved = usage.budget.reserved.totalTokens
server.close()
const failing = createClient({ provider: "mock", mock: { faults: ["auth"] }, retry: { maxRetries: 0 }, ledger: false })
try { await failing.generate("hi") } catch (error) {
  out.error = { instance: error instanceof LlmConnectError, isError: error instanceof Error, reason: error.reason, retryable: error.retryable }
}
try { createClient({ provider: "mock", budget: { costUsd: -1 } }) } catch (error) {
  out.badConfig = { instance: error instanceof LlmConnectError, reason: error.reason, setting: error.setting }
}
await Promise.all([llm.close(), paid.close(), failing.close()])
console.log(JSON.stringify(out))
`

const clientMjs = clientProgram(`import { createClient, LlmConnectError } from "llm-connect"
import { createRequire } from "node:module"
const require_ = createRequire(import.meta.url)`)

// CommonJS: the package is ESM, loaded with require(esm) (Node >= 22.12); top-level await is
// not allowed in CommonJS, hence the async function.
const clientCjs = `const { createClient, LlmConnectError } = require("llm-connect")
const require_ = require
;(async () => {
${clientProgram("").replace(/^\n/, "")}
})().catch((error) => { console.error(error); process.exit(1) })
`

const expectClientRun = (stdout: string) => {
  const printed = JSON.parse(stdout) as Record<string, any>
  assert.include(printed.generate, "hi from the client")
  assert.strictEqual(printed.streamedBeforeBreak, 2)
  assert.deepStrictEqual(printed.abort, { instance: true, reason: "Interrupted", cause: "stop" })
  assert.strictEqual(printed.server, "socket closed")
  assert.strictEqual(printed.open, 0)
  assert.strictEqual(printed.reserved, 0)
  assert.deepStrictEqual(printed.error, { instance: true, isError: true, reason: "Authentication", retryable: false })
  assert.deepStrictEqual(printed.badConfig, { instance: true, reason: "Configuration", setting: "budget.costUsd" })
}

/** Tries to import one module from every `internal` folder of the installed dist/ (and the CLI). */
const internalProbe = `import { readdirSync, statSync } from "node:fs"
import { join, relative } from "node:path"
const dist = join(process.cwd(), "node_modules", "llm-connect", "dist")
const probes = ["cli/main"]
const walk = (dir) => {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name)
    if (!statSync(path).isDirectory()) continue
    if (name === "internal") {
      const file = readdirSync(path).find((f) => f.endsWith(".js"))
      if (file) probes.push(relative(dist, join(path, file.slice(0, -3))))
    } else walk(path)
  }
}
walk(dist)
const results = []
for (const probe of probes) {
  try { await import("llm-connect/" + probe); results.push([probe, "importable"]) }
  catch (error) { results.push([probe, error.code ?? String(error)]) }
}
console.log(JSON.stringify(results))
`

/**
 * Imports the installed package's root, makes a mock call, then opens a SQLite ledger: on a Node
 * without `node:sqlite` the import and the call work, and the ledger is refused with the bin's
 * one-line message.
 */
const oldNodeConsumer = `import { Effect } from "effect"
import { LanguageModel, MockLanguageModel, UsageLedger } from "llm-connect"
const response = await Effect.runPromise(LanguageModel.generate("hi from an old node").pipe(Effect.provide(MockLanguageModel.layer())))
const exit = await Effect.runPromise(Effect.exit(Effect.scoped(UsageLedger.makeSqlite("usage.db"))))
console.log(JSON.stringify({
  content: response.content,
  ledger: exit._tag,
  message: exit._tag === "Failure" ? exit.cause.reasons[0].error.message : undefined
}))
`

/** Makes `node:sqlite` unresolvable, as on Node 20 (for the Node the tests run on). */
const blockSqlite = `import { registerHooks } from "node:module"
registerHooks({
  resolve(specifier, context, nextResolve) {
    if (specifier === "node:sqlite") {
      const error = new Error("No such built-in module: node:sqlite")
      error.code = "ERR_UNKNOWN_BUILTIN_MODULE"
      throw error
    }
    return nextResolve(specifier, context)
  }
})
`

const machineOldNodes = oldNodes()
const oldNodeNote = machineOldNodes.length === 0
  ? "no Node < 22.19 on this machine: only the simulated old version runs"
  : `also on ${machineOldNodes.map((old) => `${old.path} ${old.version}`).join(", ")}`

layer(InstalledLive, { timeout: "5 minutes", excludeTestServices: true })("the packed package", (it) => {
  it.effect("npm run build emits JavaScript with .js imports, and .d.ts files", () =>
    Effect.gen(function*() {
      const { repo } = yield* Installed
      const fs = yield* FileSystem.FileSystem
      const index = yield* fs.readFileString(join(repo, "dist", "index.js"))
      assert.match(index, /from "\.\/LanguageModel\.js"/)
      assert.isTrue(yield* fs.exists(join(repo, "dist", "index.d.ts")))
      assert.isTrue(yield* fs.exists(join(repo, "dist", "cli", "bin.js")))
      const js = (yield* fs.readDirectory(join(repo, "dist"), { recursive: true })).filter((file) => file.endsWith(".js"))
      for (const file of js) {
        const text = yield* fs.readFileString(join(repo, "dist", file))
        assert.notMatch(text, /from "\.{1,2}\/[^"]*\.ts"/, `dist/${file} still imports a .ts file`)
      }
    }).pipe(Effect.provide(NodeServices.layer)), slow)

  it.effect("the tarball ships bin, dist (JS + types), src and contracts, and no tests", () =>
    Effect.gen(function*() {
      const { tarballFiles } = yield* Installed
      for (const file of ["bin/llm-connect.js", "dist/index.js", "dist/index.d.ts", "dist/testing/index.js", "contracts/error.schema.json"]) {
        assert.include(tarballFiles, file)
      }
      const unwanted = tarballFiles.filter((file) => /^(test|examples|bench|scripts|\.ci)\/|\.test\.[jt]s$/.test(file))
      assert.deepStrictEqual(unwanted, [])
    }), slow)

  it.effect("the consumer shares one copy of effect with the package (a peer dependency at our pinned version)", () =>
    Effect.gen(function*() {
      const { project } = yield* Installed
      const fs = yield* FileSystem.FileSystem
      const ours = JSON.parse(yield* fs.readFileString(join(repoRoot, "package.json"))) as {
        readonly peerDependencies: Readonly<Record<string, string>>
      }
      const installed = JSON.parse(yield* fs.readFileString(join(project, "node_modules", "effect", "package.json"))) as {
        readonly version: string
      }
      assert.strictEqual(installed.version, ours.peerDependencies.effect)
      assert.isFalse(yield* fs.exists(join(project, "node_modules", "llm-connect", "node_modules", "effect")))
    }).pipe(Effect.provide(NodeServices.layer)), slow)

  it.effect("imports from JavaScript (.mjs)", () =>
    Effect.gen(function*() {
      const { project } = yield* Installed
      const fs = yield* FileSystem.FileSystem
      yield* fs.writeFileString(join(project, "use.mjs"), consumerJs)
      const result = yield* runOk("node", ["use.mjs"], project)
      const printed = JSON.parse(result.stdout)
      assert.include(printed.content, "mock provider's answer to \"hi from js\"")
      assert.isAbove(printed.total, 0)
      assert.deepStrictEqual([printed.run, printed.make], ["function", "function"])
    }).pipe(Effect.provide(NodeServices.layer)), slow)

  it.effect("the Promise client from a plain .mjs: generate, stream with break, abort mid-call, LlmConnectError, bad config", () =>
    Effect.gen(function*() {
      const { project } = yield* Installed
      const fs = yield* FileSystem.FileSystem
      yield* fs.writeFileString(join(project, "client.mjs"), clientMjs)
      expectClientRun((yield* runOk("node", ["client.mjs"], project)).stdout)
    }).pipe(Effect.provide(NodeServices.layer)), slow)

  it.effect("the Promise client from CommonJS (require(esm))", () =>
    Effect.gen(function*() {
      const { project } = yield* Installed
      const fs = yield* FileSystem.FileSystem
      yield* fs.writeFileString(join(project, "client.cjs"), clientCjs)
      expectClientRun((yield* runOk("node", ["client.cjs"], project)).stdout)
    }).pipe(Effect.provide(NodeServices.layer)), slow)

  it.effect("imports from TypeScript: runs with type stripping and type-checks with tsc", () =>
    Effect.gen(function*() {
      const { project } = yield* Installed
      const fs = yield* FileSystem.FileSystem
      yield* fs.writeFileString(join(project, "use.ts"), consumerTs)
      const result = yield* runOk("node", ["use.ts"], project)
      const printed = JSON.parse(result.stdout)
      assert.include(printed.content, "hi from ts")
      assert.isTrue(printed.conforms)
      assert.include(printed.client, "hi from the ts client")
      assert.strictEqual(printed.reason, "Unknown")
      yield* fs.writeFileString(join(project, "tsconfig.json"), consumerTsconfig("use.ts"))
      yield* runOk(tsc, ["-p", "tsconfig.json"], project)
      // The types are real, not `any`: a wrong use is an error.
      yield* fs.writeFileString(join(project, "wrong.ts"), "import { LanguageModel } from \"llm-connect\"\nexport const n: number = LanguageModel.generate\n")
      yield* fs.writeFileString(join(project, "tsconfig.wrong.json"), consumerTsconfig("wrong.ts"))
      const wrong = yield* run(tsc, ["-p", "tsconfig.wrong.json"], project)
      assert.notStrictEqual(wrong.exitCode, 0, wrong.stdout)
      assert.include(wrong.stdout, "is not assignable to type 'number'")
    }).pipe(Effect.provide(NodeServices.layer)), slow)

  it.effect("internal modules and the CLI's modules are not importable", () =>
    Effect.gen(function*() {
      const { project } = yield* Installed
      const fs = yield* FileSystem.FileSystem
      yield* fs.writeFileString(join(project, "probe.mjs"), internalProbe)
      const result = yield* runOk("node", ["probe.mjs"], project)
      const probes = JSON.parse(result.stdout) as ReadonlyArray<[string, string]>
      assert.isTrue(probes.some(([path]) => path.startsWith("internal/")), result.stdout)
      for (const [path, outcome] of probes) {
        const folder = path.slice(0, path.lastIndexOf("/"))
        assert.strictEqual(
          outcome,
          "ERR_PACKAGE_PATH_NOT_EXPORTED",
          `llm-connect/${path} can be imported: add "./${folder}/*": null to "exports" in package.json`
        )
      }
    }).pipe(Effect.provide(NodeServices.layer)), slow)

  it.effect("the installed CLI answers a prompt with the mock", () =>
    Effect.gen(function*() {
      const { project } = yield* Installed
      const result = yield* run(join(project, "node_modules", ".bin", "llm-connect"), ["prompt", "hi"], project)
      assert.strictEqual(result.exitCode, 0, result.stderr)
      assert.include(result.stdout, "mock provider's answer to \"hi\"")
    }).pipe(Effect.provide(NodeServices.layer)), slow)

  it.effect(`imported on a Node without node:sqlite, the package makes a mock call; a ledger says which Node it needs (${oldNodeNote})`, () =>
    Effect.gen(function*() {
      const { project } = yield* Installed
      const fs = yield* FileSystem.FileSystem
      yield* fs.writeFileString(join(project, "old-node-consumer.mjs"), oldNodeConsumer)
      yield* fs.writeFileString(join(project, "block-sqlite.mjs"), blockSqlite)
      const expectWorks = (result: ProcessResult, version: string) => {
        assert.strictEqual(result.exitCode, 0, result.stderr)
        const printed = JSON.parse(result.stdout) as { content: string; ledger: string; message?: string }
        assert.include(printed.content, "mock provider's answer to \"hi from an old node\"")
        assert.strictEqual(printed.ledger, "Failure")
        assert.include(printed.message, `llm-connect needs Node.js >= 22.19 but this is ${version}`)
      }
      // Simulated: the pinned Node with node:sqlite made unresolvable.
      const simulated = yield* run("node", ["--import", "./block-sqlite.mjs", "old-node-consumer.mjs"], project)
      expectWorks(simulated, (yield* run("node", ["--version"], project)).stdout.trim())
      // And on a real old Node, when this machine has one (the system Node 20 here).
      for (const old of machineOldNodes) expectWorks(yield* run(old.path, ["old-node-consumer.mjs"], project), old.version)
    }).pipe(Effect.provide(NodeServices.layer)), slow)

  it.effect(`on a Node older than 22.19 the bin prints one line saying what to install and exits 2 (${oldNodeNote})`, () =>
    Effect.gen(function*() {
      const { project } = yield* Installed
      const bin = join(project, "node_modules", "llm-connect", "bin", "llm-connect.js")
      const expectOneLine = (result: ProcessResult, version: string) => {
        assert.strictEqual(result.exitCode, 2)
        assert.strictEqual(result.stdout, "")
        const lines = result.stderr.trimEnd().split("\n")
        assert.strictEqual(lines.length, 1, result.stderr)
        assert.include(lines[0], "llm-connect needs Node.js >= 22.19")
        assert.include(lines[0], `this is ${version}`)
        assert.include(lines[0], "nvm install 24")
      }
      // The version check itself, on the pinned Node with process.versions.node made old.
      const fake = join(project, "old-node.mjs")
      const fs = yield* FileSystem.FileSystem
      yield* fs.writeFileString(
        fake,
        "Object.defineProperty(process, 'versions', { value: { ...process.versions, node: '22.18.0' } })\n" +
          "Object.defineProperty(process, 'version', { value: 'v22.18.0' })\n"
      )
      expectOneLine(yield* run("node", ["--import", fake, bin, "prompt", "hi"], project), "v22.18.0")
      // And on a real old Node, when this machine has one (the system Node 20 here).
      for (const old of machineOldNodes) expectOneLine(yield* run(old.path, [bin, "prompt", "hi"], project), old.version)
    }).pipe(Effect.provide(NodeServices.layer)), slow)
})
