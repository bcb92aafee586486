// A real PostgreSQL server for tests: a fresh cluster in a temp dir, reached only through a Unix
// socket in that dir (no TCP: `listen_addresses=''`), stopped and removed after.
//
// The binaries are found with `pg_config --bindir` (Debian keeps them off PATH, in
// /usr/lib/postgresql/<version>/bin). PostgreSQL refuses to run as root: as root, `initdb` and the
// server run as the `postgres` user (`runuser`) on a data dir it owns. The cluster has password
// authentication (scram-sha-256) so that tests can check that the password never leaks.
//
// When PostgreSQL is not installed, `postgresAvailable` is false and suites that need it are not
// run, with one loud line on stderr; with `LLM_CONNECT_REQUIRE_SERVICES=1` (CI) a missing
// PostgreSQL fails instead (`requirePostgres` throws).
import { execFileSync, spawnSync } from "node:child_process"
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

const bindir = ((): string | undefined => {
  try {
    const dir = execFileSync("pg_config", ["--bindir"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim()
    return existsSync(join(dir, "initdb")) && existsSync(join(dir, "pg_ctl")) ? dir : undefined
  } catch {
    return undefined
  }
})()

const required = process.env.LLM_CONNECT_REQUIRE_SERVICES === "1"

/** Whether a PostgreSQL server can be started here (or must be: then this is true and start fails loudly). */
export const postgresAvailable: boolean = bindir !== undefined || required

if (!postgresAvailable) {
  console.warn(
    "!!! PostgreSQL is not installed (no pg_config): the PostgreSQL tests are NOT RUN. " +
      "Install it (apt-get install -y postgresql) or set LLM_CONNECT_REQUIRE_SERVICES=1 to make this a failure."
  )
}

const root = process.getuid?.() === 0

// `runuser` lives in sbin, which a CI's PATH may lack (it did with PATH=/usr/bin:/bin).
const runuser = ["/usr/sbin/runuser", "/sbin/runuser"].find((path) => existsSync(path)) ?? "runuser"

// As root, run as `postgres`; otherwise as whoever runs the tests.
const run = (command: string, args: ReadonlyArray<string>) => {
  const [file, argv] = root ? [runuser, ["-u", "postgres", "--", command, ...args]] : [command, [...args]]
  const result = spawnSync(file, argv, { encoding: "utf8" })
  if (result.status !== 0) {
    const why = result.error !== undefined ? String(result.error) : `${result.stderr}${result.stdout}`
    throw new Error(`${command} ${args.join(" ")} failed (${result.status}): ${why}`)
  }
  return result.stdout
}

export interface PostgresServer {
  /** The superuser's password (the cluster uses scram-sha-256). */
  readonly password: string
  /** The socket's folder. */
  readonly socketDir: string
  /** A `postgres://` URL of database `postgres` through the socket, with the password. */
  readonly url: string
  /** The same URL for another database (create it with `createDatabase`). */
  readonly urlOf: (database: string) => string
  /** Creates a database and returns its URL. */
  readonly createDatabase: (name: string) => string
  /** Runs SQL with psql in a database and returns its unaligned, tuples-only output. */
  readonly psql: (database: string, sql: string) => string
  /** Stops the server (fast shutdown), keeping its data. */
  readonly stop: () => void
  /** Starts it again on the same data and socket. */
  readonly start: () => void
  /** Stops it and removes its files. */
  readonly destroy: () => void
}

/** Throws when PostgreSQL is needed but cannot be found. */
export const requirePostgres = (): string => {
  if (bindir === undefined) {
    throw new Error(
      "LLM_CONNECT_REQUIRE_SERVICES=1 but PostgreSQL is not installed (pg_config not found, or no initdb/pg_ctl in its bindir): apt-get install -y postgresql"
    )
  }
  return bindir
}

/** Starts a fresh cluster in a temp dir. */
export const startPostgres = (): PostgresServer => {
  const bin = requirePostgres()
  const dir = mkdtempSync(join(tmpdir(), "llmc-pg-"))
  // The server's user must reach the data and socket folders below the temp dir.
  chmodSync(dir, 0o755)
  const data = join(dir, "data")
  const socketDir = join(dir, "sock")
  mkdirSync(data, { mode: 0o700 })
  mkdirSync(socketDir, { mode: 0o755 })
  const password = `pw-${Math.random().toString(36).slice(2)}-secret`
  const pwfile = join(dir, "pwfile")
  writeFileSync(pwfile, `${password}\n`, { mode: 0o644 })
  if (root) {
    const ids = run("id", ["-u"]).trim()
    const gid = run("id", ["-g"]).trim()
    for (const path of [data, socketDir, pwfile]) chownSync(path, Number(ids), Number(gid))
  }
  run(join(bin, "initdb"), ["-D", data, "-U", "postgres", "-A", "scram-sha-256", `--pwfile=${pwfile}`, "-E", "UTF8", "--no-sync"])
  rmSync(pwfile)
  const log = join(dir, "server.log")
  if (root) {
    writeFileSync(log, "")
    chmodSync(log, 0o666)
  }
  const options = `-k ${socketDir} -c listen_addresses='' -c fsync=off -c synchronous_commit=off -c full_page_writes=off`
  const start = () => void run(join(bin, "pg_ctl"), ["-D", data, "-l", log, "-o", options, "-w", "-t", "60", "start"])
  const stop = () => void run(join(bin, "pg_ctl"), ["-D", data, "-m", "fast", "-w", "-t", "60", "stop"])
  start()
  const urlOf = (database: string) =>
    `postgres://postgres:${encodeURIComponent(password)}@localhost/${database}?host=${encodeURIComponent(socketDir)}`
  const psql = (database: string, sql: string): string => {
    const result = spawnSync(join(bin, "psql"), ["-h", socketDir, "-U", "postgres", "-d", database, "-tAX", "-v", "ON_ERROR_STOP=1", "-c", sql], {
      encoding: "utf8",
      env: { ...process.env, PGPASSWORD: password }
    })
    if (result.status !== 0) throw new Error(`psql failed: ${result.stderr}`)
    return result.stdout.trim()
  }
  let stopped = false
  return {
    password,
    socketDir,
    url: urlOf("postgres"),
    urlOf,
    createDatabase: (name) => {
      psql("postgres", `CREATE DATABASE "${name}"`)
      return urlOf(name)
    },
    psql,
    stop: () => {
      stop()
      stopped = true
    },
    start: () => {
      start()
      stopped = false
    },
    destroy: () => {
      try {
        if (!stopped) stop()
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    }
  }
}
