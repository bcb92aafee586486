/**
 * A `BudgetStore` in Redis, shared by every process that names the same Redis and prefix: the
 * budgets of several `serve` replicas, workers and CLI jobs are one budget.
 *
 * Each transition (create, reserve, settle, record a running total) is one Lua script, so it
 * checks and updates every dimension of every budget of the chain (a child, its parents, the
 * root) atomically on the server, in one round trip, on the server's clock. A reservation is a
 * lease: it expires `leaseTtl` after it was made (renewed every third of it while this process
 * holds it), and an expired lease is settled by the next script that runs: charged by the
 * budget's `chargeAbandoned` policy when its request was sent, released when it was not. A
 * commit is named by its reservation id: a second commit changes nothing, and a commit that comes
 * after its lease expired corrects the charge to the real usage.
 *
 * A root budget created with a name (`budget.id`) is shared: the first process stores its limits,
 * and a process that names it with other limits fails with a `Configuration` error (exit 2).
 * `window: "day"` keeps one figure per UTC day (the period in the key name). A root without a
 * name, and every child, is a budget of its own. Deadlines stay in this process (a relative
 * deadline is per process). Releasing a child (or an unnamed root) deletes its keys, at once or
 * with its last open lease; keys a process never released expire 7 days after their last use.
 *
 * The commit after an answer runs off the call's path (ADR 0030): the budget layer hands it to a
 * fiber of this store's scope, its command queued on the connection before the caller goes on,
 * and returns the answer at once; the lease keeps its whole reservation until the commit lands.
 * A lease is marked sent the same way, in a fiber of the store's scope with the store's services,
 * as the request goes out. The trackers' reads ({@link RedisStore.settled}) wait for this
 * process's commits and marks in flight, and closing the store's scope waits for them (up to
 * `timeout`) before the client is closed.
 *
 * When Redis cannot be reached or does not answer within `timeout`, calls fail closed
 * (`Unavailable`, naming the store, nothing sent), unless `onStoreError: "allow"`: then they are
 * admitted with a warning and counted in this process only. A settlement that cannot be written
 * is retried and, failing that, logged as unaccounted usage. The client reconnects by itself.
 *
 * @since 0.1.0
 */
import { createHash } from "node:crypto"
import { Duration, Effect, Fiber, HashMap, Layer, Schedule, Scope } from "effect"
import * as LlmError from "../LlmError.ts"
import * as Money from "../pricing/Money.ts"
import type * as Budget from "./Budget.ts"
import type * as BudgetState from "./BudgetState.ts"
import * as BudgetStore from "./BudgetStore.ts"
import * as Background from "./internal/background.ts"
import type * as Ledger from "./internal/ledger.ts"
import * as Scripts from "./internal/redisScripts.ts"

/**
 * How to reach Redis and how to behave when it cannot be reached.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** `redis://[user:password@]host:port[/db]`, `rediss://...`, or `unix:///path/to/redis.sock`. */
  readonly url: string
  /** Prefix of every key (default `{llm-connect}:`; its `{...}` hash tag keeps all keys on one cluster slot). */
  readonly prefix?: string | undefined
  /** How long a reservation lives unless renewed (default 10 minutes; the stack sets 2 x the call timeout). */
  readonly leaseTtl?: Duration.Input | undefined
  /** How long one script may take before the store counts as unavailable (default 2 seconds). */
  readonly timeout?: Duration.Input | undefined
  /** `"fail"` (default): refuse calls while the store is unavailable; `"allow"`: admit them with a warning. */
  readonly onStoreError?: "fail" | "allow" | undefined
  /** What an expired lease whose request was sent is charged (default `"reserved"`). */
  readonly chargeAbandoned?: Budget.ChargeAbandoned | undefined
}

/**
 * A Redis store: the `BudgetStore` operations, plus lease marking and inspection.
 *
 * @since 0.1.0
 * @category models
 */
export interface RedisStore extends BudgetStore.Service {
  /**
   * Marks reservation `id`'s request as sent: when its lease expires it is charged, not released.
   * Never fails: a mark that cannot be written is logged as a warning.
   */
  readonly markSent: (reservationId: string) => Effect.Effect<void>
  /** Renews now the leases this process holds (runs on its own every third of the TTL). */
  readonly renewLeases: Effect.Effect<number>
  /** Named budget `name` as stored (limits, current period's figures, open leases), or `undefined`. */
  readonly show: (name: string) => Effect.Effect<Shown | undefined, LlmError.LlmError>
  /** Deletes named budget `name` (its limits and every period); whether it existed. */
  readonly reset: (name: string) => Effect.Effect<boolean, LlmError.LlmError>
  /** Asks Redis for a `PONG` (within the store's timeout); fails with `Unavailable` naming the store. */
  readonly ping: Effect.Effect<void, LlmError.LlmError>
  /** The URL without its password, as errors name the store. */
  readonly where: string
  /**
   * Completes once every commit (and lease marking) this process started in the background
   * before it has ended (written, or retried and logged as unaccounted usage): what this process
   * reads after it includes its own calls.
   */
  readonly settled: Effect.Effect<void>
}

/**
 * A named budget as `llm-connect budget show` prints it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Shown {
  readonly name: string
  /** The node holding the figures now (`n:<name>`, or `n:<name>:d<day>` under `window: day`). */
  readonly node: string
  readonly definition: Readonly<Record<string, string>>
  readonly figures: Readonly<Record<string, string>>
  /** Open leases in the whole store, and how many of them had expired before this look. */
  readonly openLeases: number
  readonly expiredLeases: number
  /** The server's clock (epoch milliseconds). */
  readonly serverNow: number
}

const defaultPrefix = "{llm-connect}:"

/**
 * The URL without its password (`redis://user:***@host`).
 *
 * @since 0.1.0
 * @category utils
 */
export const redactUrl = (url: string): string => url.replace(/\/\/([^:@/]*):[^@/]*@/, "//$1:***@")

type Reply = ReadonlyArray<string>

const limitText = (value: number | null): string => (value === null ? "" : `${value}`)
const figure = (text: string | undefined): number => Number(text ?? "0")
const nullable = (text: string | undefined): number | null => (text === undefined || text === "" ? null : Number(text))

interface LocalNode {
  readonly parent: string | null
  readonly startedAt: number
  readonly deadlineAt: number | null
  readonly label: string
  /** Children of it still known here, and whether it was released (forgotten when both are done). */
  children: number
  released: boolean
}

/**
 * Connects to Redis (reconnecting by itself for as long as the scope lives) and returns the store.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<RedisStore, never, Scope.Scope> =>
  Effect.gen(function*() {
    const prefix = options.prefix ?? defaultPrefix
    const where = `redis budget store ${redactUrl(options.url)}`
    const ttlMs = Duration.toMillis(Duration.fromInputUnsafe(options.leaseTtl ?? "10 minutes"))
    const timeout = Duration.fromInputUnsafe(options.timeout ?? "2 seconds")
    const failOpen = options.onStoreError === "allow"
    const chargeAbandoned = options.chargeAbandoned ?? "reserved"
    const unix = options.url.startsWith("unix://") ? options.url.slice("unix://".length) : undefined
    // node-redis loads when a store connects, not with every program that could use one.
    const { createClient, TimeoutError } = yield* Effect.promise(() => import("redis"))
    const client = createClient({
      ...(unix !== undefined ? {} : { url: options.url }),
      socket: {
        ...(unix !== undefined ? { path: unix, tls: false as const } : {}),
        // Reconnect forever, at most a second apart: the store recovers without a restart.
        reconnectStrategy: (retries: number) => Math.min(50 * (retries + 1), 1000)
      },
      // A command sent while disconnected fails at once (fail closed) instead of waiting.
      disableOfflineQueue: true,
      // node-redis's own command timeout (5 s by default) follows ours.
      commandOptions: { timeout: Duration.toMillis(timeout) }
    })
    let lastError = ""
    client.on("error", (error: unknown) => {
      lastError = error instanceof Error ? error.message : String(error)
    })
    // The first connection is awaited up to `timeout`, then goes on in the background: a store that
    // is down at start-up fails calls (or admits them under onStoreError: allow) until it comes up.
    const connecting = client.connect().then(() => undefined, () => undefined)
    yield* Effect.addFinalizer(() => Effect.sync(() => {
      if (client.isOpen) client.destroy()
    }).pipe(Effect.ignore))
    yield* Effect.promise(() => connecting).pipe(Effect.timeoutOrElse({ duration: timeout, orElse: () => Effect.void }))

    // Commits off the call's path (ADR 0030) run in a scope of this store's own, closed after the
    // finalizer below has waited for them and before the client is closed (finalizers run in
    // reverse order): a CLI run that ends right after its answer still writes its commit.
    const settling = yield* Scope.fork(yield* Effect.scope)
    // The store's own services (its logger, its tracer), for the work it starts from plain code.
    const services = yield* Effect.context<never>()
    const pending = new Set<Fiber.Fiber<void>>()
    let closing = false
    const settled: Effect.Effect<void> = Effect.suspend(() =>
      pending.size === 0 ? Effect.void : Effect.asVoid(Fiber.awaitAll(Array.from(pending)))
    )
    yield* Effect.addFinalizer(() =>
      Effect.suspend(() => {
        closing = true
        // Bounded by the store's timeout; a commit still unwritten then is interrupted, and its
        // settle logs it as unaccounted usage (never dropped silently).
        return settled.pipe(Effect.timeoutOrElse({ duration: timeout, orElse: () => Effect.void }))
      })
    )
    const start = (settle: Effect.Effect<void>): Effect.Effect<void> =>
      closing
        ? settle
        : Effect.map(Effect.forkIn(settle, settling, { startImmediately: true, uninterruptible: false }), (fiber) => {
          if (fiber.pollUnsafe() === undefined) {
            pending.add(fiber)
            fiber.addObserver(() => pending.delete(fiber))
          }
        })

    // The SHA1 of each script this store has run: EVAL caches a script on the server, so later
    // calls send its SHA. A script's first run is an EVAL sent at once (no SCRIPT LOAD round trip
    // first), so commands reach Redis in the order they were issued: a commit started in the
    // background (ADR 0030) is evaluated before the caller's next reserve even on its first use.
    const shas = new Map<string, string>()
    const noAnswer = new Error("no answer")
    // Each script is bounded by `timeout` with one plain timer beside its promise, not a timer fiber
    // racing it (`Effect.timeoutOrElse` forked a fiber per script, on the call's path: about a sixth of
    // the client's CPU per call). node-redis's `commandOptions.timeout` does not do it: it only bounds
    // a command's wait to be written, and drops its timer once the command is on the socket.
    const timeoutMs = Duration.toMillis(timeout)
    const bounded = <A>(promise: Promise<A>): Promise<A> =>
      new Promise<A>((resolve, reject) => {
        const timer = setTimeout(() => reject(noAnswer), timeoutMs)
        promise.then((value) => {
          clearTimeout(timer)
          resolve(value)
        }, (error: unknown) => {
          clearTimeout(timer)
          reject(error)
        })
      })
    const evaluate = async (script: string, args: ReadonlyArray<string>): Promise<unknown> => {
      const argv = [prefix, ...args]
      const sha = shas.get(script)
      if (sha !== undefined) {
        try {
          return await client.evalSha(sha, { arguments: argv })
        } catch (error) {
          // Redis restarted (its script cache empty): run the script itself again.
          if (!(error instanceof Error) || !error.message.startsWith("NOSCRIPT")) throw error
        }
      }
      const reply = await client.eval(script, { arguments: argv })
      shas.set(script, createHash("sha1").update(script).digest("hex"))
      return reply
    }
    const run = (script: string, args: ReadonlyArray<string>): Effect.Effect<unknown, LlmError.LlmError> =>
      Effect.tryPromise({
        try: () => bounded(evaluate(script, args)),
        catch: (error) =>
          unavailable(
            script,
            error === noAnswer || error instanceof TimeoutError
              ? `no answer within ${Duration.format(timeout)}`
              : error instanceof Error
              ? (error.message !== "" ? error.message : error.name)
              : String(error)
          )
      })

    // What the failure means for the call depends on the step: a reserve that fails refuses the
    // call; a settle that fails leaves usage to write (retried, then logged as unaccounted).
    const consequence = (script: string): string =>
      script === Scripts.reserve || script === Scripts.create
        ? `so the call was refused before it was sent; check that Redis is up, or set store.onStoreError: allow to admit calls ` +
          `without the shared budget while it is down`
        : script === Scripts.settle
        ? `so the call's usage is not written yet: it is retried, and logged as unaccounted usage if it cannot be written; check that Redis is up`
        : `check that Redis is up`

    const unavailable = (script: string, why: string) =>
      LlmError.make("budget-store", new LlmError.Unavailable({
        description: `the ${where} is unavailable (${why}${lastError !== "" && lastError !== why ? `; last error: ${lastError}` : ""}), ` +
          consequence(script)
      }), { sent: false })

    const list = (script: string, args: ReadonlyArray<string>) => Effect.map(run(script, args), (reply) => reply as Reply)

    const locals = new Map<string, LocalNode>()
    // Leases this process holds (renewed), and reservations admitted locally while the store was down.
    const held = new Set<string>()
    const offline = new Set<string>()
    let offlineSequence = 0

    const localChain = (id: string): Array<LocalNode> => {
      const out: Array<LocalNode> = []
      let current: string | null = id
      while (current !== null) {
        const node = locals.get(current)
        if (node === undefined) break
        out.push(node)
        current = node.parent
      }
      return out
    }

    const deadlineRefusal = (id: string, now: number): Ledger.Refused | undefined => {
      let earliest: LocalNode | undefined
      for (const node of localChain(id)) {
        if (node.deadlineAt !== null && (earliest === undefined || node.deadlineAt < earliest.deadlineAt!)) earliest = node
      }
      if (earliest === undefined || now < earliest.deadlineAt!) return undefined
      return {
        _tag: "Refused",
        dimension: "deadline",
        limit: earliest.deadlineAt! - earliest.startedAt,
        consumed: now - earliest.startedAt,
        reserved: 0,
        requested: 0,
        label: earliest.label,
        overshoot: undefined
      }
    }

    const deadlineOf = (id: string): number | undefined => {
      let at: number | undefined
      for (const node of localChain(id)) {
        if (node.deadlineAt !== null && (at === undefined || node.deadlineAt < at)) at = node.deadlineAt
      }
      return at
    }

    const admitOffline = <A>(error: LlmError.LlmError, fallback: () => A): Effect.Effect<A, LlmError.LlmError> =>
      failOpen
        ? Effect.as(Effect.logWarning(`${error.message}; admitted under store.onStoreError: allow, counted in this process only`), fallback())
        : Effect.fail(error)

    const create: BudgetStore.Service["create"] = (budget) => {
      const kind = budget.name !== undefined ? "named" : budget.parent !== null ? "child" : "anon"
      const args = [
        kind,
        budget.name ?? "",
        budget.parent ?? "",
        budget.label,
        limitText(budget.limits.inputTokens),
        limitText(budget.limits.outputTokens),
        limitText(budget.limits.totalTokens),
        limitText(budget.limits.costNanos),
        budget.window ?? "none"
      ]
      const remember = (id: string) => {
        locals.set(id, { parent: budget.parent, startedAt: budget.startedAt, deadlineAt: budget.deadlineAt, label: budget.label, children: 0, released: false })
        const parent = budget.parent === null ? undefined : locals.get(budget.parent)
        if (parent !== undefined) parent.children++
        return id
      }
      return Effect.flatMap(
        list(Scripts.create, args).pipe(
          Effect.catch((error) => admitOffline(error, () => ["created", `local:${++offlineSequence}`] as Reply))
        ),
        (reply): Effect.Effect<string | Ledger.Missing, LlmError.LlmError> => {
          if (reply[0] === "created") return Effect.succeed(remember(reply[1]!))
          if (reply[0] === "missing") return Effect.succeed({ _tag: "Missing", budgetId: reply[1]! })
          const stored = `inputTokens ${reply[1] || "none"}, outputTokens ${reply[2] || "none"}, totalTokens ${reply[3] || "none"}, ` +
            `costUsd ${reply[4] ? Money.toUsd(Number(reply[4])) : "none"}, window ${reply[5]}`
          const asked = `inputTokens ${args[4] || "none"}, outputTokens ${args[5] || "none"}, totalTokens ${args[6] || "none"}, ` +
            `costUsd ${args[7] ? Money.toUsd(Number(args[7])) : "none"}, window ${args[8]}`
          return Effect.fail(LlmError.make("budget-store", new LlmError.Configuration({
            description: `budget.id "${budget.name}" is already stored in the ${where} with other limits (${stored}); ` +
              `this process names it with ${asked}`,
            setting: "budget.id",
            fix: `give this budget another budget.id, use the stored limits, or run \`llm-connect budget reset ${budget.name}\` ` +
              `to drop the stored budget (its figures too)`
          })))
        }
      )
    }

    const reserve: BudgetStore.Service["reserve"] = (budgetId, ask) => {
      const late = deadlineRefusal(budgetId, ask.now)
      if (late !== undefined) return Effect.succeed(late)
      const args = [
        budgetId,
        `${ask.inputTokens}`,
        ask.maxTokens === undefined ? "" : `${ask.maxTokens}`,
        `${ask.defaultMaxTokens}`,
        ask.price === undefined ? "" : `${Money.picoPerToken(ask.price.inputPerMillion)}`,
        ask.price === undefined ? "" : `${Money.picoPerToken(ask.price.outputPerMillion)}`,
        ask.provider,
        ask.model,
        `${ttlMs}`,
        chargeAbandoned,
        "0"
      ]
      const offlineGrant = (): Reply => {
        const id = `local:r${++offlineSequence}`
        offline.add(id)
        const output = ask.maxTokens ?? ask.defaultMaxTokens
        return ["granted", id, `${ask.inputTokens}`, `${output}`, `${ask.inputTokens + output}`, "0", `${output}`, "0", "", "", "", ""]
      }
      return Effect.map(
        budgetId.startsWith("local:")
          ? Effect.succeed(offlineGrant())
          : list(Scripts.reserve, args).pipe(Effect.catch((error) => admitOffline(error, offlineGrant))),
        (reply): BudgetStore.Granted | BudgetStore.Refused | BudgetStore.Missing => {
          const tag = reply[0]
          if (tag === "granted") {
            const id = reply[1]!
            if (!id.startsWith("local:")) held.add(id)
            const remaining: { inputTokens?: number; outputTokens?: number; totalTokens?: number; costUsd?: number } = {}
            if (reply[8]) remaining.inputTokens = Number(reply[8])
            if (reply[9]) remaining.outputTokens = Number(reply[9])
            if (reply[10]) remaining.totalTokens = Number(reply[10])
            if (reply[11]) remaining.costUsd = Money.toUsd(Number(reply[11]))
            return {
              _tag: "Granted",
              id,
              amounts: { inputTokens: figure(reply[2]), outputTokens: figure(reply[3]), totalTokens: figure(reply[4]), costNanos: figure(reply[5]) },
              maxTokens: reply[6] === "" ? undefined : Number(reply[6]),
              remaining,
              deadlineAt: deadlineOf(budgetId)
            }
          }
          if (tag === "missing") return { _tag: "Missing", budgetId: reply[1]! }
          const dimension = reply[1] as BudgetState.AmountDimension
          const pending = reply[7]
          return {
            _tag: "Refused",
            dimension: dimension === "costNanos" ? "costUsd" : dimension,
            limit: figure(reply[2]),
            consumed: figure(reply[3]),
            reserved: figure(reply[4]),
            requested: figure(reply[5]),
            label: reply[6]!,
            overshoot: pending ? (JSON.parse(pending) as BudgetState.Overshoot) : undefined
          }
        }
      )
    }

    // A settlement is retried (the store may be restarting), then logged as unaccounted usage:
    // never dropped silently. Retries stop at about 10 seconds.
    const settleRetry = { schedule: Schedule.exponential("50 millis", 2), times: 8 }

    const settle: BudgetStore.Service["settle"] = (reservationId, actual) => {
      held.delete(reservationId)
      if (reservationId.startsWith("local:")) {
        offline.delete(reservationId)
        return actual === undefined
          ? Effect.succeed([])
          : Effect.as(Effect.logWarning(`unaccounted usage (admitted while the ${where} was unavailable): ${JSON.stringify(actual.amounts)}`), [])
      }
      const args = actual === undefined
        ? [reservationId, "release", "0", "0", "0", "0", "", "0"]
        : [
          reservationId,
          "commit",
          `${Math.round(actual.amounts.inputTokens)}`,
          `${Math.round(actual.amounts.outputTokens)}`,
          `${Math.round(actual.amounts.totalTokens)}`,
          `${Math.round(actual.amounts.costNanos)}`,
          actual.conversationId ?? "",
          actual.cumulative === true ? "1" : "0"
        ]
      const notWritten = (why: string) =>
        actual === undefined
          ? Effect.logWarning(`could not release reservation ${reservationId} in the ${where} (${why}); its lease expires by itself`)
          : Effect.logError(
            `unaccounted usage: the commit of reservation ${reservationId} could not be written to the ${where} ` +
              `(${why}): ${JSON.stringify(actual.amounts)}; its lease is charged by chargeAbandoned when it expires`
          )
      return list(Scripts.settle, args).pipe(
        Effect.retry(settleRetry),
        // An overshoot is rare: a reply of one element is the common case, read without a copy.
        Effect.map((reply) => reply.length === 1 ? [] : reply.slice(1).map((text) => JSON.parse(text) as BudgetState.Overshoot)),
        Effect.catch((error) => Effect.as(notWritten(error.message), [])),
        // Interrupted (the store closing with this commit still unwritten after its wait): logged too.
        Effect.onInterrupt(() => notWritten("not confirmed before the store closed"))
      )
    }

    const recordCumulative: BudgetStore.Service["recordCumulative"] = (budgetId, conversationId, cumulative) =>
      list(Scripts.cumulative, [
        budgetId,
        conversationId,
        `${cumulative.amounts.inputTokens}`,
        `${cumulative.amounts.outputTokens}`,
        `${cumulative.amounts.totalTokens}`,
        `${cumulative.amounts.costNanos}`,
        cumulative.provider,
        cumulative.model
      ]).pipe(
        Effect.retry(settleRetry),
        Effect.map((reply): ReadonlyArray<BudgetState.Overshoot> | Ledger.Missing =>
          reply[0] === "missing"
            ? { _tag: "Missing", budgetId }
            : reply.slice(1).map((text) => JSON.parse(text) as BudgetState.Overshoot)
        ),
        Effect.catch((error) =>
          Effect.as(
            Effect.logError(`unaccounted usage: a running total of ${budgetId} could not be written to the ${where} (${error.message}): ${JSON.stringify(cumulative.amounts)}`),
            []
          )
        )
      )

    const readChain = (budgetId: string) =>
      Effect.map(list(Scripts.chain, [budgetId]), (reply): Array<BudgetState.Node> => {
        const nodes: Array<BudgetState.Node> = []
        for (let at = 0; at + 18 <= reply.length; at += 18) {
          const field = (offset: number) => reply[at + offset]
          const local = locals.get(field(0)!)
          nodes.push({
            id: field(0)!,
            parent: field(2) === "" ? null : field(2)!,
            label: field(3)!,
            limits: { inputTokens: nullable(field(4)), outputTokens: nullable(field(5)), totalTokens: nullable(field(6)), costNanos: nullable(field(7)) },
            startedAt: local?.startedAt ?? 0,
            deadlineAt: local?.deadlineAt ?? null,
            consumed: { inputTokens: figure(field(8)), outputTokens: figure(field(9)), totalTokens: figure(field(10)), costNanos: figure(field(11)) },
            reserved: { inputTokens: figure(field(12)), outputTokens: figure(field(13)), totalTokens: figure(field(14)), costNanos: figure(field(15)) },
            open: figure(field(16)),
            conversations: HashMap.empty(),
            overshoots: [],
            pending: null,
            children: 0,
            closing: false
          })
        }
        return nodes
      })

    const localNodes = (budgetId: string): Array<BudgetState.Node> =>
      localChain(budgetId).map((node, index) => ({
        id: index === 0 ? budgetId : `local:${index}`,
        parent: node.parent,
        label: node.label,
        limits: { inputTokens: null, outputTokens: null, totalTokens: null, costNanos: null },
        startedAt: node.startedAt,
        deadlineAt: node.deadlineAt,
        consumed: { inputTokens: 0, outputTokens: 0, totalTokens: 0, costNanos: 0 },
        reserved: { inputTokens: 0, outputTokens: 0, totalTokens: 0, costNanos: 0 },
        open: 0,
        conversations: HashMap.empty(),
        overshoots: [],
        pending: null,
        children: 0,
        closing: false
      }))

    const chain: BudgetStore.Service["chain"] = (budgetId) =>
      budgetId.startsWith("local:")
        ? Effect.succeed(localNodes(budgetId))
        : readChain(budgetId).pipe(Effect.catch(() => Effect.succeed(localNodes(budgetId))))

    const check: BudgetStore.Service["check"] = (budgetId, now) => {
      const late = deadlineRefusal(budgetId, now)
      if (late !== undefined) return Effect.succeed(late)
      if (budgetId.startsWith("local:")) return Effect.succeed(undefined)
      return readChain(budgetId).pipe(
        Effect.map((nodes): Ledger.Refused | Ledger.Missing | undefined => {
          if (nodes.length === 0) return { _tag: "Missing", budgetId }
          for (const node of nodes) {
            for (const dimension of ["inputTokens", "outputTokens", "totalTokens", "costNanos"] as const) {
              const limit = node.limits[dimension]
              if (limit !== null && node.consumed[dimension] > limit) {
                return {
                  _tag: "Refused",
                  dimension: dimension === "costNanos" ? "costUsd" : dimension,
                  limit,
                  consumed: node.consumed[dimension],
                  reserved: node.reserved[dimension],
                  requested: 0,
                  label: node.label,
                  overshoot: undefined
                }
              }
            }
          }
          return undefined
        }),
        Effect.catch((error) => admitOffline(error, () => undefined))
      )
    }

    // What this process knows of a budget (its deadline, its label) is forgotten once it is released
    // and has no child left here: the process keeps the budgets in use, not every one it made.
    const forget = (id: string) => {
      let current: string | null = id
      while (current !== null) {
        const node = locals.get(current)
        if (node === undefined || !node.released || node.children > 0) return
        locals.delete(current)
        current = node.parent
        const parent = current === null ? undefined : locals.get(current)
        if (parent !== undefined) parent.children--
      }
    }

    const release: BudgetStore.Service["release"] = (budgetId) => {
      const node = locals.get(budgetId)
      if (node !== undefined && !node.released) {
        node.released = true
        forget(budgetId)
      }
      if (budgetId.startsWith("local:")) return Effect.succeed(node === undefined ? "unknown" : "removed")
      // One attempt, no retry: it runs as a call or request ends, and keys left by a failure expire.
      return run(Scripts.release, [budgetId]).pipe(
        Effect.map((reply) => reply as BudgetStore.Released),
        Effect.catch((error) =>
          Effect.as(
            Effect.logWarning(`could not release budget ${budgetId} in the ${where} (${error.message}); its keys expire by themselves`),
            "unknown" as const
          )
        )
      )
    }

    const size = Effect.sync(() => locals.size)

    const renewLeases = Effect.suspend(() =>
      held.size === 0
        ? Effect.succeed(0)
        : Effect.map(run(Scripts.renew, [`${ttlMs}`, ...held]), (count) => Number(count))
    ).pipe(Effect.catch(() => Effect.succeed(0)))
    yield* Effect.forkScoped(Effect.repeat(renewLeases, Schedule.spaced(Duration.millis(Math.max(1, Math.floor(ttlMs / 3))))))

    // A mark that cannot be written leaves the lease unsent: should this process die before the
    // call's settle, the lease would be released instead of charged. Said, not swallowed.
    const markSent = (reservationId: string) =>
      reservationId.startsWith("local:") ? Effect.void : run(Scripts.markSent, [reservationId]).pipe(
        Effect.asVoid,
        Effect.catch((error) =>
          Effect.logWarning(
            `could not mark reservation ${reservationId} as sent (${error.message}); ` +
              `if this process stops before the call is settled, its lease is released when it expires, not charged`
          )
        )
      )
    // The budget layer marks a lease from plain code (the request going out): the mark starts at
    // once (its command queued before this returns) in a fiber with the store's services, kept in
    // `pending` like a commit so that closing the store waits for it; one finalizer of the settling
    // scope interrupts those still running when it closes (cheaper than a finalizer per mark).
    yield* Scope.addFinalizer(settling, Effect.suspend(() => pending.size === 0 ? Effect.void : Fiber.interruptAll(Array.from(pending))))
    const runInStore = Effect.runForkWith(services)
    const markLater = (reservationId: string): void => {
      if (reservationId.startsWith("local:")) return
      const fiber = runInStore(markSent(reservationId))
      if (fiber.pollUnsafe() === undefined) {
        pending.add(fiber)
        fiber.addObserver(() => pending.delete(fiber))
      }
    }

    const show = (name: string) =>
      Effect.map(list(Scripts.show, [name]), (reply): Shown | undefined => {
        if (reply[0] !== "found") return undefined
        const record = (text: string): Record<string, string> => {
          const flat = JSON.parse(text) as Array<string>
          const out: Record<string, string> = {}
          for (let index = 0; index + 1 < flat.length; index += 2) out[flat[index]!] = flat[index + 1]!
          return out
        }
        return {
          name,
          node: reply[1]!,
          definition: record(reply[2]!),
          figures: record(reply[3]!),
          openLeases: figure(reply[4]),
          expiredLeases: figure(reply[5]),
          serverNow: figure(reply[6])
        }
      })

    const reset = (name: string) => Effect.map(run(Scripts.reset, [name]), (existed) => Number(existed) > 0)

    const noPong = (why: string) =>
      LlmError.make("budget-store", new LlmError.Unavailable({
        description: `the ${where} does not answer PING (${why}${lastError !== "" && lastError !== why ? `; last error: ${lastError}` : ""})`
      }), { sent: false })
    const ping = Effect.tryPromise({
      try: () => client.ping(),
      catch: (error) => noPong(error instanceof Error ? (error.message !== "" ? error.message : error.name) : String(error))
    }).pipe(
      Effect.timeoutOrElse({ duration: timeout, orElse: () => Effect.fail(noPong(`no answer within ${Duration.format(timeout)}`)) }),
      Effect.asVoid
    )

    const store: RedisStore = { create, reserve, settle, recordCumulative, check, chain, release, size, markSent, renewLeases, show, reset, ping, where, settled }
    Background.register(store, { start, settled, markSent: markLater })
    return store
  })

/**
 * The Redis store as the `BudgetStore` of the budgets built below.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<BudgetStore.BudgetStore> =>
  Layer.effect(BudgetStore.BudgetStore, make(options))
