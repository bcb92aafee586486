// A real `redis-server` for a test file: started on a Unix socket in a temp directory of its own
// (no TCP port: `--port 0`), with no persistence, and stopped after. Where the binary is absent
// the tests that need it skip with one loud line, unless LLM_CONNECT_REQUIRE_SERVICES=1 (set by
// `.ci/run`), where a missing binary fails them.
import { Effect } from "effect"
import { spawn, spawnSync, type ChildProcess } from "node:child_process"
import { existsSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { createClient } from "redis"
import { afterAll, beforeAll } from "vitest"

/** The `redis-server` binary on PATH (or /usr/bin, /usr/local/bin), if any. */
export const redisServerBinary: string | undefined = (() => {
  const found = spawnSync("sh", ["-c", "command -v redis-server"], { encoding: "utf8" })
  const path = found.status === 0 ? found.stdout.trim() : ""
  if (path !== "") return path
  for (const candidate of ["/usr/bin/redis-server", "/usr/local/bin/redis-server"]) {
    if (existsSync(candidate)) return candidate
  }
  return undefined
})()

const required = process.env.LLM_CONNECT_REQUIRE_SERVICES === "1"

/**
 * Whether the tests needing Redis run here. Absent binary: throws under
 * LLM_CONNECT_REQUIRE_SERVICES=1, else prints one loud line and returns false.
 */
export const redisAvailable = (file: string): boolean => {
  if (redisServerBinary !== undefined) return true
  if (required) {
    throw new Error(
      `redis-server is not installed and LLM_CONNECT_REQUIRE_SERVICES=1: install it (apt-get install -y redis-server) to run ${file}`
    )
  }
  console.warn(`\n!!! SKIPPED ${file}: redis-server is not installed (apt-get install -y redis-server); CI requires it\n`)
  return false
}

/** A running test server. */
export interface RedisServer {
  readonly dir: string
  readonly socket: string
  /** `redis+unix://` URL of the socket (node-redis reads `unix://` paths through `socket.path`). */
  readonly url: string
  /** Stops the server (SIGTERM) and waits for it to exit. */
  readonly stop: () => Promise<void>
  /** Starts it again on the same socket (data is gone: no persistence). */
  readonly start: () => Promise<void>
  /** Stops it for good and removes its directory. */
  readonly dispose: () => Promise<void>
}

const waitFor = async (check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> => {
  const started = Date.now()
  while (!check()) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/**
 * Starts a `redis-server` on a Unix socket in a new temp directory. `persistent`: an append-only
 * file written on every command (`appendfsync always`), so that a restart keeps what was acknowledged.
 */
export const startRedis = async (options: { readonly persistent?: boolean } = {}): Promise<RedisServer> => {
  const binary = redisServerBinary
  if (binary === undefined) throw new Error("redis-server is not installed")
  const dir = mkdtempSync(join(tmpdir(), "llmc-redis-"))
  const socket = join(dir, "redis.sock")
  let child: ChildProcess | undefined
  const start = async () => {
    const spawned = spawn(binary, [
      "--port", "0",
      "--unixsocket", socket,
      "--unixsocketperm", "700",
      "--save", "",
      ...(options.persistent === true ? ["--appendonly", "yes", "--appendfsync", "always"] : ["--appendonly", "no"]),
      "--dir", dir,
      "--logfile", join(dir, "redis.log")
    ], { stdio: "ignore" })
    child = spawned
    let exited = false
    spawned.once("exit", () => {
      exited = true
    })
    await waitFor(() => exited || existsSync(socket), `redis-server to listen on ${socket}`)
    if (exited) throw new Error(`redis-server exited at start (see ${join(dir, "redis.log")})`)
  }
  const stop = async () => {
    const running = child
    child = undefined
    if (running === undefined || running.exitCode !== null) return
    const exited = new Promise<void>((resolve) => running.once("exit", () => resolve()))
    running.kill("SIGTERM")
    await exited
    await waitFor(() => !existsSync(socket), "the socket to be removed").catch(() => rmSync(socket, { force: true }))
  }
  await start()
  return {
    dir,
    socket,
    url: `unix://${socket}`,
    stop,
    start,
    dispose: async () => {
      await stop()
      rmSync(dir, { recursive: true, force: true })
    }
  }
}

/**
 * The `redis-server` of a test file: `enabled` as {@link redisAvailable} says, started before the
 * file's tests where enabled and disposed after them. `server()` is the running server, inside a
 * test of a `describe.runIf(enabled)` block.
 */
export const redisForFile = (file: string): { readonly enabled: boolean; readonly server: () => RedisServer } => {
  const enabled = redisAvailable(file)
  let running: RedisServer | undefined
  beforeAll(async () => {
    if (enabled) running = await startRedis()
  })
  afterAll(async () => {
    await running?.dispose()
  })
  return {
    enabled,
    server: () => {
      if (running === undefined) throw new Error(`the redis-server of ${file} is not running: use server() inside a test of describe.runIf(enabled)`)
      return running
    }
  }
}

/** A plain client of the server at `socket`, connected (the caller closes it), to read and pause Redis beside a store. */
export const connectClient = async (socket: string) => {
  const client = createClient({ socket: { path: socket, tls: false } })
  await client.connect()
  return client
}

/** {@link connectClient}, closed with the scope. */
export const adminClient = (socket: string) =>
  Effect.acquireRelease(Effect.promise(() => connectClient(socket)), (client) => Effect.promise(() => client.close()))
